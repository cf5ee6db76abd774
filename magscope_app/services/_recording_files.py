"""Files of the recording service: target validation, names, the ``[recording]`` config section,
the video ring's size, the remembered state, recovery.

``[recording]`` keys (all optional):

* ``folder`` (str): checked for recordings left open by a crash at daemon start;
* ``video_buffer_seconds`` (number > 0): the VideoBuffer ring holds at least this many seconds of
  frames at the camera's ``frame_rate`` (more than ``[daemon] video_stacks`` gives), so a video
  recording rides out this long a stall of the disk (1024x1024 16-bit frames at 100 frames/s
  take 200 MiB of shared memory per second);
* ``video_compression`` ("none", "lzf", "gzip" or "blosc-lz4"): lossless compression of the
  video chunks; lzf and gzip are read by any h5py, but compress a 1024x1024 frame at only ~100
  MB/s per core; "blosc-lz4" (~1 GB/s) needs the optional hdf5plugin package to write and read;
* ``test_video_write_delay_s`` (number >= 0, for tests): the recorder sleeps this long per video
  frame written, a disk slower than the stream.

The service remembers in ``<state dir>/recording.json`` the last folder used and the file being
written (cleared when it is closed). At daemon start, that file and every ``*.h5`` in the
configured folder (``[recording] folder = "…"`` in the config) and the last used folder are
checked; a recording left open by a crashed daemon is repaired with ``recover()``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import inspect
import json
import logging
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

from ..config import ConfigError, DaemonConfig
from ..control.protocol import CommandError
from ..hardware.registry import load_driver
from ..recording import RecordingError, needs_recovery, open_recording, recover
from ..recording._filters import PLUGIN_COMPRESSIONS, load_hdf5plugin
from ..recording.writer import VIDEO_COMPRESSIONS

log = logging.getLogger(__name__)

STATE_FILE = "recording.json"
SUFFIXES = (".h5", ".hdf5")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def target_path(folder: str, name: str | None) -> Path:
    """The new recording's path in ``folder``; CommandError("invalid_argument") explains why a
    folder or name cannot be used. A missing folder is fine if it can be created."""
    if "\x00" in folder:
        raise CommandError("invalid_argument", "record_start: the folder contains a NUL byte")
    try:
        base = Path(folder).expanduser()
    except RuntimeError as exc:  # ~user of an unknown user
        raise CommandError(
            "invalid_argument", f"record_start: cannot use {folder!r}: {exc}"
        ) from None
    if not base.is_absolute():
        raise CommandError("invalid_argument", f"record_start: folder must be absolute: {folder!r}")
    probe = base
    try:
        while not probe.exists():
            probe = probe.parent
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte
        raise CommandError(
            "invalid_argument", f"record_start: cannot use {folder!r}: {exc}"
        ) from None
    if not probe.is_dir():
        raise CommandError(
            "invalid_argument", f"record_start: cannot use {base}: {probe} is not a folder"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CommandError("invalid_argument", f"record_start: folder {probe} is not writable")
    if name is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = f"rec-{stamp}"
        n = 1
        while any((base / (name + s)).exists() for s in SUFFIXES):
            n += 1
            name = f"rec-{stamp}-{n}"
    if not _SAFE_NAME.fullmatch(name) or name.endswith("."):
        raise CommandError(
            "invalid_argument",
            f"record_start: unsafe file name {name!r}: use 1-128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (no folders)",
        )
    if not name.endswith(SUFFIXES):
        name += ".h5"
    path = base / name
    if path.exists():
        raise CommandError("invalid_argument", f"record_start: {path} exists already")
    return path


def config_json(config: DaemonConfig, instance: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, hardware description) of the daemon as JSON-able dicts."""
    settings = {
        "instance": instance,
        "config_file": config.source,
        "daemon": dataclasses.asdict(config.daemon),
        "start_paused": config.start_paused,
        "other_sections": config.hardware.other,
    }
    hardware = json.loads(json.dumps(dataclasses.asdict(config.hardware), default=str))
    return json.loads(json.dumps(settings, default=str)), hardware


@dataclasses.dataclass(frozen=True)
class RecordingSettings:
    """The validated ``[recording]`` section (see the module docstring)."""

    folder: Path | None = None
    video_buffer_seconds: float | None = None
    video_compression: str = "none"
    test_video_write_delay_s: float = 0.0

    @classmethod
    def from_config(cls, config: DaemonConfig) -> RecordingSettings:
        """Read and check ``[recording]``; ConfigError names the key and the problem."""
        source = config.source
        table = config.hardware.other.get("recording", {})
        if not isinstance(table, dict):
            raise ConfigError(source, "recording", f"must be a table, got {table!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        for key in table:
            if key not in known:
                raise ConfigError(
                    source, f"recording.{key}", f"unknown key (known: {', '.join(sorted(known))})"
                )
        folder = table.get("folder")
        if folder is not None and not isinstance(folder, str):
            raise ConfigError(source, "recording.folder", f"must be a text, got {folder!r}")
        compression = table.get("video_compression", "none")
        if compression not in VIDEO_COMPRESSIONS:
            raise ConfigError(
                source,
                "recording.video_compression",
                f"must be one of {', '.join(map(repr, VIDEO_COMPRESSIONS))}, got {compression!r}",
            )
        if compression in PLUGIN_COMPRESSIONS:
            try:
                load_hdf5plugin(f"video_compression = {compression!r}")
            except ImportError as e:
                raise ConfigError(source, "recording.video_compression", str(e)) from None
        seconds = table.get("video_buffer_seconds")
        if seconds is not None and not _number(seconds, above=0.0):
            raise ConfigError(
                source, "recording.video_buffer_seconds", f"must be a number > 0, got {seconds!r}"
            )
        delay = table.get("test_video_write_delay_s", 0.0)
        if not _number(delay, above=None):
            raise ConfigError(
                source,
                "recording.test_video_write_delay_s",
                f"must be a number >= 0, got {delay!r}",
            )
        return cls(
            folder=Path(folder).expanduser() if folder else None,
            video_buffer_seconds=None if seconds is None else float(seconds),
            video_compression=compression,
            test_video_write_delay_s=float(delay),
        )


def _number(value: Any, *, above: float | None) -> bool:
    """True for an int or float > ``above`` (None: >= 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return value > above if above is not None else value >= 0


def video_ring_stacks(config: DaemonConfig) -> int:
    """Stacks of the VideoBuffer ring: ``[daemon] video_stacks``, or more to hold
    ``[recording] video_buffer_seconds`` of frames. ConfigError if the ring would not fit in
    the free shared memory (/dev/shm) or the available memory."""
    daemon = config.daemon
    stacks = daemon.video_stacks
    settings = RecordingSettings.from_config(config)
    if settings.video_buffer_seconds is not None:
        rate = _frame_rate(config)
        stacks = max(
            stacks, math.ceil(settings.video_buffer_seconds * rate / daemon.images_per_stack)
        )
    geometry = config.camera_geometry()
    pixel_bytes = next(n for n in (1, 2, 4, 8) if geometry["bits"] <= 8 * n)  # as stored
    frame_bytes = geometry["width"] * geometry["height"] * pixel_bytes
    ring = stacks * daemon.images_per_stack * frame_bytes
    room = min(_free_shared_memory(), _available_memory())
    if ring > room * 0.8:
        raise ConfigError(
            config.source,
            "recording.video_buffer_seconds"
            if settings.video_buffer_seconds
            else "daemon.video_stacks",
            f"the video ring of {stacks * daemon.images_per_stack} frames needs "
            f"{ring / 2**30:.2f} GiB of shared memory; only {room / 2**30:.2f} GiB is free "
            "(/dev/shm and memory): use fewer seconds or stacks",
        )
    return stacks


def _frame_rate(config: DaemonConfig) -> float:
    spec = config.camera
    rate = spec.params.get("frame_rate")
    if rate is None:
        try:
            parameter = inspect.signature(load_driver(spec.driver)).parameters.get("frame_rate")
        except (LookupError, ImportError) as exc:
            raise ConfigError(spec.source, "camera.driver", str(exc)) from exc
        rate = getattr(parameter, "default", None)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
        raise ConfigError(
            config.source,
            "recording.video_buffer_seconds",
            "needs the camera's frame_rate ([camera] frame_rate = frames per second)",
        )
    return float(rate)


def _free_shared_memory() -> int:
    try:
        return shutil.disk_usage("/dev/shm").free
    except OSError:
        return 1 << 62


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 62


class RecordingState:
    """The remembered state file (``last_folder``, ``open_file``)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, **changes: Any) -> None:
        data = {**self.load(), **changes}
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError as e:
            log.warning("cannot remember the recording state in %s: %s", self.path, e)


def recover_leftovers(state: RecordingState, folders: list[Path]) -> list[str]:
    """Recover recordings left open; returns one line of text per file looked at that needed it
    (recovered, or why not)."""
    remembered = state.load()
    candidates: list[Path] = []
    if isinstance(remembered.get("open_file"), str):
        candidates.append(Path(remembered["open_file"]))
    if isinstance(remembered.get("last_folder"), str):
        folders = [*folders, Path(remembered["last_folder"])]
    for folder in folders:
        try:
            candidates += sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES)
        except OSError:
            continue
    notes: list[str] = []
    seen: set[Path] = set()
    for path in candidates:
        path = path.absolute()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        try:
            open_recording(path).close()  # not a recording of ours: leave it alone
        except RecordingError:
            continue
        try:
            if not needs_recovery(path):
                continue
            recover(path)
            notes.append(f"recovered recording {path} left open by a crashed daemon")
        except RecordingError as e:
            notes.append(f"could not recover {path}: {e.problem}")
    if remembered.get("open_file"):
        state.save(open_file=None)
    return notes
