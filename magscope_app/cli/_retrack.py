"""``magscope-app retrack``: re-track recorded video offline (no daemon needed).

One file runs in this process; several files, a folder, ``--scheduler`` or ``--workers`` run on
Dask (the optional ``dask`` extra). A text progress bar goes to stderr, one line per recording
to stdout (failures to stderr); the exit status is 1 if any recording failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

_BAR = 30


def parse_settings(items: list[str]) -> dict[str, int | float]:
    """``["k=v", ...]`` -> {k: number}; ValueError naming a malformed item."""
    values: dict[str, int | float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--settings {item!r}: expected NAME=VALUE")
        try:
            value: int | float = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"--settings {item!r}: {text!r} is not a number") from None
        values[key.strip()] = value
    return values


class ProgressBar:
    """A one-line text progress bar on a stream, redrawn at most every 0.2 s."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self._last = 0.0
        self._shown = False

    def __call__(self, p: Any) -> None:
        """Show ``p`` (an :class:`magscope_app.analysis.Progress`)."""
        now = time.monotonic()
        if p.frames_total == 0 or (now - self._last < 0.2 and p.frames_done < p.frames_total):
            return
        self._last = now
        fraction = p.frames_done / p.frames_total if p.frames_total else 1.0
        filled = round(_BAR * fraction)
        text = (
            f"\rretrack [{'#' * filled}{'.' * (_BAR - filled)}] {100 * fraction:3.0f}% "
            f"{p.frames_done}/{p.frames_total} frames, files {p.files_done}/{p.files_total}"
        )
        if p.files_failed:
            text += f" ({p.files_failed} failed)"
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def end(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()


def _cmd_retrack(args: argparse.Namespace) -> int:
    from ..analysis import RetrackError, find_recordings, retrack, retrack_many
    from ..recording import RecordingError

    bar = ProgressBar()
    try:
        try:
            settings = parse_settings(args.settings)
        except ValueError as exc:
            raise RetrackError(str(exc)) from None
        files = find_recordings(args.files)
        if not files:
            raise RetrackError(f"no recording found in {', '.join(map(str, args.files))}")
        on_dask = len(files) > 1 or any(Path(f).is_dir() for f in args.files)
        on_dask = on_dask or args.scheduler is not None or args.workers is not None
        try:
            if on_dask:
                outcomes = retrack_many(
                    files, args.zlut, settings, args.out, bar,
                    scheduler=args.scheduler, workers=args.workers, chunk_frames=args.chunk,
                )  # fmt: skip
            else:
                outcomes = [
                    retrack(files[0], args.zlut, settings, args.out, bar, chunk_frames=args.chunk)
                ]
        finally:
            bar.end()
    except (RetrackError, RecordingError) as exc:
        print(f"magscope-app retrack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("magscope-app retrack: interrupted (a re-run redoes the unfinished files)",
              file=sys.stderr)  # fmt: skip
        return 130
    for outcome in outcomes:
        if args.json:
            fields = ("status", "message", "frames", "beads", "group")
            record = {"path": str(outcome.path), "out": outcome.out and str(outcome.out)}
            print(json.dumps(record | {k: getattr(outcome, k) for k in fields}))
        else:
            print(outcome, file=sys.stderr if outcome.status == "failed" else sys.stdout)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``retrack`` to the ``magscope-app`` parser."""
    p = sub.add_parser(
        "retrack",
        parents=[common],
        help="re-track recorded video with new Z-LUTs or settings (no daemon needed)",
        description="Track the video of recordings again and write the tracks to "
        "<name>.retrack.h5 beside each (the recording is not changed). Several files or a "
        "folder run on Dask.",
    )
    p.add_argument("files", metavar="FILE", nargs="+", type=Path, help="recordings or folders")
    p.add_argument("--zlut", type=Path, metavar="LUT.h5", help="Z-LUT file (default: recorded)")
    p.add_argument(
        "--settings", nargs="+", action="extend", default=[], metavar="K=V",
        help="tracking settings to change, e.g. xy_iterations=6",
    )  # fmt: skip
    p.add_argument("--out", type=Path, help="output file (one recording) or folder (several)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--workers", type=_positive, help="workers of the local Dask cluster")
    p.add_argument("--chunk", type=_positive, metavar="FRAMES", help="frames per task")
    p.set_defaults(func=_cmd_retrack)
