"""Recording: ``magscope-app record start|stop|status`` (daemon commands) and ``inspect`` /
``verify`` (file commands that need no daemon).

A file that cannot be read is named with the problem in plain words (no such file, a folder, not
an HDF5 file, truncated, left open by a crash, damaged), never with HDF5's internal error text.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..client import RecordingStatus
from ._common import Failure, scope, show

MODES = ("tracks", "roi_video", "full_video")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``record``, ``inspect`` and ``verify`` to the ``magscope-app`` parser."""
    record = sub.add_parser("record", parents=[common], help="start, stop or show a recording")
    actions = record.add_subparsers(dest="record_command", required=True, metavar="ACTION")

    p = actions.add_parser("start", parents=[common], help="start recording to FOLDER")
    p.add_argument("folder", metavar="FOLDER", help="folder of the new HDF5 file")
    p.add_argument("--name", help="file name (default rec-<date>-<time>.h5)")
    p.add_argument("--mode", choices=MODES, default="tracks", help="what to record")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop by itself after")
    p.set_defaults(func=_cmd_record_start)

    p = actions.add_parser("stop", parents=[common], help="stop the running recording")
    p.set_defaults(func=_cmd_record_stop)

    p = actions.add_parser("status", parents=[common], help="show the recording state")
    p.set_defaults(func=_cmd_record_status)

    p = sub.add_parser(
        "inspect", parents=[common], help="summarize a recording file (no daemon needed)"
    )
    p.add_argument("file", metavar="FILE", type=Path)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser(
        "verify", parents=[common], help="check a recording's checksum (exit 1 unless ok)"
    )
    p.add_argument("file", metavar="FILE", type=Path)
    p.set_defaults(func=_cmd_verify)


# -- record ----------------------------------------------------------------------------------
def format_record_status(s: RecordingStatus | dict[str, Any]) -> str:
    """Human-readable recording status (a :class:`RecordingStatus` or its dict)."""
    if isinstance(s, RecordingStatus):
        s = s.raw
    if not s.get("file"):
        head = "not recording (nothing recorded yet)"
    elif s["running"]:
        head = f"recording {s['file']} ({s['mode']}) for {s['elapsed_s']:.1f} s"
        if s.get("duration_s"):
            head += f" of {s['duration_s']:g} s"
    else:
        head = f"not recording; last file {s['file']} (stop reason {s.get('stop_reason') or '-'})"
    rows = s.get("rows") or {}
    lines = [
        head,
        f"size:   {s.get('size_bytes', 0) / 2**20:.2f} MiB",
        f"rows:   {rows.get('frames', 0)} frames ({s.get('frames_per_s', 0):.1f}/s), "
        f"{rows.get('tracks', 0)} track rows ({s.get('tracks_per_s', 0):.1f}/s), "
        f"{s.get('rows_lost', 0)} rows lost to buffer overflow"
        + (" (back-pressure!)" if s.get("back_pressure") else ""),
    ]
    if s.get("video"):
        v = s["video"]
        lines.append(
            f"video:  {v['frames']} frames, {v['rois']} ROI crops; video ring "
            f"{v['ring_fill']:.0%} full ({v['ring_fill_max']:.0%} at most)"
        )
    if s.get("last_error"):
        lines.append(f"ERROR:  {s['last_error']}")
    return "\n".join(lines)


def _cmd_record_start(args: argparse.Namespace) -> int:
    folder = Path(args.folder).expanduser().absolute()
    with scope(args) as s:
        rec = s.record(folder, mode=args.mode, name=args.name, duration=args.duration)
    result = {"file": str(rec.path), "mode": rec.mode, "duration_s": rec.duration_s}
    show(args, result, f"recording to {rec.path} ({rec.mode})")
    return 0


def _cmd_record_stop(args: argparse.Namespace) -> int:
    with scope(args) as s:
        status = s.stop_recording()
    show(args, status.raw, format_record_status(status))
    return 1 if status.last_error else 0


def _cmd_record_status(args: argparse.Namespace) -> int:
    with scope(args) as s:
        status = s.recording_status()
    show(args, status.raw, format_record_status(status))
    return 0


# -- files -----------------------------------------------------------------------------------
def _cmd_inspect(args: argparse.Namespace) -> int:
    from ..recording import inspect_summary, summarize

    path = _readable_recording(args.file)
    with _plain_file_errors(path):
        if args.json:
            show(args, summarize(path))
        else:
            print(inspect_summary(path))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ..recording import verify

    path = _readable_recording(args.file)
    with _plain_file_errors(path):
        result = verify(path)
    show(args, dataclasses.asdict(result) | {"ok": result.ok}, str(result))
    return 0 if result.ok else 1


def _readable_recording(path: Path) -> Path:
    """``path`` if it may be a recording file; Failure naming the problem if it cannot be."""
    if path.is_dir():
        files = sorted(p.name for p in path.glob("*.h5"))
        inside = f"; it holds {', '.join(files[:3])}" + (", …" if len(files) > 3 else "")
        raise Failure(f"{path} is a folder, not a recording file{inside if files else ''}")
    if not path.exists():
        raise Failure(f"{path}: no such file")
    try:
        with open(path, "rb") as file:
            head = file.read(8)
    except PermissionError:
        raise Failure(f"{path}: permission denied") from None
    except OSError as exc:
        raise Failure(f"{path} cannot be read: {exc.strerror or exc}") from None
    import h5py

    if not h5py.is_hdf5(path):  # the signature may also sit after a user block
        why = "the file is empty" if not head else "it is not an HDF5 file"
        raise Failure(f"{path} is not a recording: {why}")
    state = _superblock_state(path)
    if state is not None and not state.flags and state.file_size < state.stored_eof:
        # closed by its writer, yet shorter than it says: HDF5's SWMR mode would read it anyway
        raise Failure(_truncated(path, state))
    return path


def _superblock_state(path: Path) -> Any:
    """The HDF5 superblock's flags and sizes (None if it is not a version 2/3 superblock)."""
    from ..recording import _superblock

    try:
        return _superblock.inspect(path)
    except (OSError, ValueError):
        return None


def _truncated(path: Path, state: Any) -> str:
    return (
        f"{path} is truncated: {state.file_size:,} of {state.stored_eof:,} bytes "
        "(an interrupted copy, or the disk was full?)"
    )


@contextlib.contextmanager
def _plain_file_errors(path: Path) -> Iterator[None]:
    """Turn the recording library's and HDF5's errors about ``path`` into one plain Failure."""
    from ..recording import RecordingError

    try:
        yield
    except RecordingError as exc:
        if exc.__cause__ is None:  # the library's own words
            raise Failure(str(exc)) from None
        raise Failure(_why_unreadable(path)) from None
    except KeyError:  # HDF5 opened it, but a group or dataset of a recording is missing
        raise Failure(f"{path} is not a complete recording: a part of it is missing") from None
    except OSError:  # HDF5 cannot read a part of it
        raise Failure(_why_unreadable(path)) from None


def _why_unreadable(path: Path) -> str:
    """Plain words for an HDF5 file that HDF5 cannot open or read, from its superblock."""
    state = _superblock_state(path)
    if state is not None and state.file_size < state.stored_eof:
        return _truncated(path, state)
    if state is not None and state.flags:
        return (
            f"{path} was left open by a program that did not close it (a crash?); a daemon "
            "repairs it at start when it is in the daemon's [recording] folder"
        )
    return f"{path} is damaged: HDF5 cannot read it"
