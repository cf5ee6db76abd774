"""Z-LUT calibration: ``magscope-app zlut …``.

* ``zlut sweep --start NM --stop NM --step NM --per-plane N [--settle S] [--no-wait]``: record
  per-bead LUTs by stepping the focus; prints the daemon's warnings (e.g. beads that move more
  than the plane step), a line per plane done (the client's sweep handle) and the outcome with its
  plain-words hints; exit 1 unless the sweep completes;
* ``zlut status`` / ``zlut cancel`` (the outcome and hints once the sweep has ended);
* ``zlut show``: the quality report of the LUTs in use (with the hints);
* ``zlut save FILE`` / ``zlut load FILE [--bead N | --one-for-all N]``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..client import SweepProgress
from ._common import Failure, scope, show


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``zlut`` and its actions to the ``magscope-app`` parser."""
    zlut = sub.add_parser(
        "zlut", parents=[common], help="Z-LUT calibration (focus sweep, files, quality)"
    )
    actions = zlut.add_subparsers(dest="zlut_command", required=True, metavar="ACTION")

    p = actions.add_parser("sweep", parents=[common], help="record Z-LUTs by stepping the focus")
    p.add_argument("--start", type=float, required=True, help="first focus position, nm")
    p.add_argument("--stop", type=float, required=True, help="last focus position, nm")
    p.add_argument("--step", type=float, required=True, help="focus step, nm")
    p.add_argument("--per-plane", type=int, required=True, help="profiles per bead and plane")
    p.add_argument("--settle", type=float, default=0.1, help="settle time after a move, s")
    p.add_argument("--no-wait", action="store_true", help="return once the sweep has started")
    p.set_defaults(func=_cmd_sweep)

    p = actions.add_parser("status", parents=[common], help="progress of the sweep")
    p.set_defaults(func=_cmd_status)
    p = actions.add_parser("cancel", parents=[common], help="cancel the running sweep")
    p.set_defaults(func=_cmd_cancel)
    p = actions.add_parser("show", parents=[common], help="quality report of the Z-LUTs in use")
    p.set_defaults(func=_cmd_show)

    p = actions.add_parser("save", parents=[common], help="save the Z-LUTs to an HDF5 file")
    p.add_argument("path")
    p.set_defaults(func=_cmd_save)

    p = actions.add_parser("load", parents=[common], help="load Z-LUTs (HDF5 or MagScope text)")
    p.add_argument("path")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--bead", type=int, help="MagScope text LUT: apply to this bead only")
    which.add_argument("--one-for-all", type=int, help="apply this bead's LUT to every bead")
    p.set_defaults(func=_cmd_load)


def _format_progress(p: SweepProgress) -> str:
    return f"{p.state}: plane {p.plane} of {p.planes or '?'}, {p.profiles} profiles" + (
        "" if p.eta_s is None else f", {p.eta_s:.0f} s left"
    )


def _cmd_sweep(args: argparse.Namespace) -> int:
    with scope(args) as s:
        sweep = s.zlut.sweep(args.start, args.stop, args.step, args.per_plane, settle=args.settle)
        if args.no_wait:
            started = {"planes": sweep.planes, "beads": sweep.beads, "warnings": sweep.warnings}
            show(args, started, _started_text(sweep.planes, sweep.beads, sweep.warnings))
            return 0
        if not args.json:
            print(_started_text(sweep.planes, sweep.beads, sweep.warnings), flush=True)
        for progress in sweep.updates():
            if not args.json:
                print(_format_progress(progress), flush=True)
        final = s.zlut.status() if args.json else sweep.progress  # status: warnings and hints
    if final.state == "failed":
        raise Failure(f"Z-LUT sweep failed: {final.message}")
    show(args, final.raw, final.message or "")
    return 0 if final.state == "complete" else 1


def _started_text(planes: int, beads: list[int], warnings: list[str]) -> str:
    return "\n".join([f"sweep started: {planes} planes, beads {beads}",
                      *(f"warning: {w}" for w in warnings)])  # fmt: skip


def _show_progress(args: argparse.Namespace, progress: SweepProgress) -> None:
    """The progress line, then the warnings while it runs and the outcome once it has ended."""
    raw = progress.raw
    lines = [_format_progress(progress)]
    if progress.state == "running":
        lines += [f"warning: {w}" for w in raw.get("warnings", [])]
    if progress.message:
        lines.append(progress.message)
    show(args, raw, "\n".join(lines))


def _cmd_status(args: argparse.Namespace) -> int:
    with scope(args) as s:
        _show_progress(args, s.zlut.status())
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with scope(args) as s:
        _show_progress(args, s.zlut.cancel())
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    with scope(args) as s:
        report = s.zlut.show()
    show(args, report, report["text"])
    return 0


def _cmd_save(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.zlut.save(args.path)
    show(args, result, f"saved Z-LUTs of beads {result['beads']} to {result['path']}")
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.zlut.load(args.path, bead=args.bead, one_for_all=args.one_for_all)
    target = "every bead" if result["default"] else f"beads {result['beads']}"
    show(args, result, f"loaded Z-LUTs from {result['path']} for {target}")
    return 0
