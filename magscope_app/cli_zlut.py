"""CLI subcommands of the Z-LUT calibration: ``magscope-app zlut …``.

* ``zlut sweep --start NM --stop NM --step NM --per-plane N [--settle S] [--no-wait]``: record
  per-bead LUTs by stepping the focus; prints the daemon's warnings (e.g. beads that move more
  than the plane step), progress (4 times a second) until the sweep ends, then the outcome with
  its plain-words hints;
* ``zlut status`` / ``zlut cancel`` (the outcome and hints once the sweep has ended);
* ``zlut show``: the quality report of the LUTs in use (with the hints);
* ``zlut save FILE`` / ``zlut load FILE [--bead N | --one-for-all N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .control import connect

PROGRESS_INTERVAL_S = 0.25


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``zlut`` and its subcommands to the ``magscope-app`` parser."""
    zlut = sub.add_parser("zlut", help="Z-LUT calibration (focus sweep, files, quality)")
    actions = zlut.add_subparsers(dest="zlut_command", required=True, metavar="ACTION")

    p = actions.add_parser("sweep", parents=[common], help="record Z-LUTs by stepping the focus")
    p.add_argument("--start", type=float, required=True, help="first focus position, nm")
    p.add_argument("--stop", type=float, required=True, help="last focus position, nm")
    p.add_argument("--step", type=float, required=True, help="focus step, nm")
    p.add_argument("--per-plane", type=int, required=True, help="profiles per bead and plane")
    p.add_argument("--settle", type=float, default=0.1, help="settle time after a move, s")
    p.add_argument("--no-wait", action="store_true", help="return once the sweep has started")
    p.set_defaults(func=_cmd_sweep)

    for name, text in (
        ("status", "progress of the sweep"),
        ("cancel", "cancel the running sweep"),
        ("show", "quality report of the Z-LUTs in use"),
    ):
        p = actions.add_parser(name, parents=[common], help=text)
        p.add_argument("--json", action="store_true", help="machine-readable JSON")
        p.set_defaults(func=_cmd_simple, command=f"zlut_{name}")

    p = actions.add_parser("save", parents=[common], help="save the Z-LUTs to an HDF5 file")
    p.add_argument("path")
    p.set_defaults(func=_cmd_save)

    p = actions.add_parser("load", parents=[common], help="load Z-LUTs (HDF5 or MagScope text)")
    p.add_argument("path")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--bead", type=int, help="MagScope text LUT: apply to this bead only")
    which.add_argument("--one-for-all", type=int, help="apply this bead's LUT to every bead")
    p.set_defaults(func=_cmd_load)


def _format_progress(status: dict[str, Any]) -> str:
    eta = status.get("eta_s")
    return (
        f"{status['state']}: plane {status.get('plane', 0)} of {status.get('planes', '?')}, "
        f"{status.get('profiles', 0)} profiles"
        + (f", {eta:.0f} s left" if isinstance(eta, (int, float)) else "")
    )


def _cmd_sweep(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        started = client.call(
            "zlut_sweep", start=args.start, stop=args.stop, step=args.step,
            per_plane=args.per_plane, settle_s=args.settle,
        )  # fmt: skip
        print(f"sweep started: {started['planes']} planes, beads {started['beads']}")
        for warning in started.get("warnings", []):
            print(f"warning: {warning}", flush=True)
        if args.no_wait:
            return 0
        while True:
            status = client.call("zlut_status")
            print(_format_progress(status), flush=True)
            if status["state"] != "running":
                break
            time.sleep(PROGRESS_INTERVAL_S)
    if status.get("message"):
        print(status["message"])
    return 0 if status["state"] == "complete" else 1


def _cmd_simple(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        result = client.call(args.command)
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.command == "zlut_show":
        print(result["text"])
    else:
        print(_format_progress(result))
        if result.get("state") == "running":
            for warning in result.get("warnings", []):
                print(f"warning: {warning}")
        if result.get("message"):
            print(result["message"])
    return 0


def _cmd_save(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        result = client.call("zlut_save", path=args.path)
    print(f"saved Z-LUTs of beads {result['beads']} to {result['path']}")
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    extra = {
        k: v for k, v in (("bead", args.bead), ("one_for_all", args.one_for_all)) if v is not None
    }
    with connect(args.instance) as client:
        result = client.call("zlut_load", path=args.path, **extra)
    target = "every bead" if result["default"] else f"beads {result['beads']}"
    print(f"loaded Z-LUTs from {result['path']} for {target}", file=sys.stdout)
    return 0
