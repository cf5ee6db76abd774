"""Files of the recording service: target validation, names, the remembered state, recovery.

The service remembers in ``<state dir>/recording.json`` the last folder used and the file being
written (cleared when it is closed). At daemon start, that file and every ``*.h5`` in the
configured folder (``[recording] folder = "…"`` in the config) and the last used folder are
checked; a recording left open by a crashed daemon is repaired with ``recover()``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from ..config import DaemonConfig
from ..control.protocol import CommandError
from ..recording import RecordingError, needs_recovery, open_recording, recover

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


def configured_folder(config: DaemonConfig) -> Path | None:
    """``[recording] folder`` of the config file, if any."""
    section = config.hardware.other.get("recording")
    folder = section.get("folder") if isinstance(section, dict) else None
    return Path(folder).expanduser() if isinstance(folder, str) and folder else None


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
