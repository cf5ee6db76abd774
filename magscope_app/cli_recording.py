"""``magscope-app record start|stop|status`` (daemon commands) and ``inspect`` / ``verify`` (file
commands that need no daemon)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .control import connect

MODES = ("tracks", "roi_video", "full_video")


def format_record_status(s: dict[str, Any]) -> str:
    """Human-readable ``record_status``."""
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
    params: dict[str, Any] = {"folder": str(Path(args.folder).expanduser().absolute())}
    if args.name:
        params["name"] = args.name
    params["mode"] = args.mode
    if args.duration is not None:
        params["duration_s"] = args.duration
    with connect(args.instance) as client:
        result = client.call("record_start", **params)
    print(f"recording to {result['file']} ({result['mode']})")
    return 0


def _cmd_record_stop(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        status = client.call("record_stop")
    print(format_record_status(status))
    return 1 if status.get("last_error") else 0


def _cmd_record_status(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        status = client.call("record_status")
    print(json.dumps(status, indent=2) if args.json else format_record_status(status))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from .recording import RecordingError, inspect_summary

    try:
        print(inspect_summary(args.file))
    except RecordingError as e:
        print(f"magscope-app: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .recording import RecordingError, verify

    try:
        result = verify(args.file)
    except RecordingError as e:
        print(f"magscope-app: {e}", file=sys.stderr)
        return 1
    print(result)
    return 0 if result.ok else 1


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``record``, ``inspect`` and ``verify`` to the ``magscope-app`` parser."""
    record = sub.add_parser("record", help="start, stop or show a recording")
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
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(func=_cmd_record_status)

    p = sub.add_parser("inspect", help="summarize a recording file (no daemon needed)")
    p.add_argument("file", metavar="FILE", type=Path)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("verify", help="check a recording's checksum (exit 1 unless ok)")
    p.add_argument("file", metavar="FILE", type=Path)
    p.set_defaults(func=_cmd_verify)
