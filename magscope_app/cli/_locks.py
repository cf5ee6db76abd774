"""Drift and locks: ``magscope-app lock …``.

::

    magscope-app lock [status]                    reference beads, drift, XY- and Z-lock
    magscope-app lock refs [ID …] [--auto]        show or set the reference beads (--auto: the
                                                  beads classified stuck; "lock refs none" clears)
    magscope-app lock z on|off [--target NM] [--kp K] [--ki K] [--deadband NM] [--max-step NM]
                              [--max-excursion NM]
    magscope-app lock xy on|off [--threshold PX]
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import UsageError, finite, format_value, scope, show


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``lock`` with its actions to the ``magscope-app`` parser."""
    lock = sub.add_parser("lock", parents=[common], help="reference beads, drift, XY- and Z-lock")
    lock.set_defaults(func=_status)  # "lock" alone shows the status
    actions = lock.add_subparsers(dest="lock_command", metavar="ACTION")

    def action(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, parents=[common], help=text)
        p.set_defaults(func=func)
        return p

    action("status", _status, "reference beads, drift, XY- and Z-lock (the default)")
    p = action("refs", _refs, "show or set the reference beads")
    p.add_argument("ids", nargs="*", metavar="ID", help='bead ids ("none" clears)')
    p.add_argument("--auto", action="store_true", help="use the beads classified stuck")
    p = action("z", _z, "lock the focus on the reference beads' z, or release it")
    p.add_argument("state", choices=("on", "off"))
    p.add_argument("--target", type=finite, metavar="NM", help="mean z to hold (default: now)")
    p.add_argument("--kp", type=finite, help="proportional gain")
    p.add_argument("--ki", type=finite, help="integral gain, 1/s")
    p.add_argument("--deadband", type=finite, metavar="NM", help="no correction below")
    p.add_argument("--max-step", type=finite, metavar="NM", help="largest focus move")
    p.add_argument("--max-excursion", type=finite, metavar="NM",
                   help="let go beyond this focus travel")  # fmt: skip
    p = action("xy", _xy, "let every ROI follow its bead, or stop")
    p.add_argument("state", choices=("on", "off"))
    p.add_argument("--threshold", type=finite, metavar="PX", help="re-centre beyond (default 1)")


def _status(args: argparse.Namespace) -> int:
    with scope(args) as s:
        status = s.locks.status()
    show(args, status, status_text(status))
    return 0


def status_text(status: dict[str, Any]) -> str:
    """The ``locks`` status for people."""
    drift, z, xy = status["drift"], status["zlock"], status["xylock"]
    shift = ", ".join(f"{k[1]} {format_value(drift.get(k))}" for k in ("dx_nm", "dy_nm", "dz_nm"))
    lines = [
        f"reference beads: {status['reference'] or 'none'}  (used {drift['used']}, rejected "
        f"{drift['rejected']})",
        f"drift (nm): {shift}",
        f"Z-lock: {z['state']}" + ("  LOCKED" if z["locked"] else "")
        + (f"  target {format_value(z['target_nm'])} nm, error {format_value(z['error_nm'])} nm"
           if z["on"] else "")
        + (f"  ({z['reason']})" if z["reason"] else ""),
        (f"XY-lock: {'on' if xy['on'] else 'off'}  through the XY stage, {xy['moves']} stage "
         f"moves, error {xy['error_nm'] or '-'} nm" if xy.get("mode") == "stage" else
         f"XY-lock: {'on' if xy['on'] else 'off'}  threshold {xy['threshold_px']:g} px, "
         f"{xy['moves']} ROI moves")
        + (f"  ({xy['reason']})" if xy.get("reason") else ""),
    ]  # fmt: skip
    return "\n".join(lines)


def _refs(args: argparse.Namespace) -> int:
    if args.auto and args.ids:
        raise UsageError("lock refs: give bead ids or --auto, not both")
    with scope(args) as s:
        if args.auto:
            result = s.locks.references(auto=True)
        elif args.ids == ["none"]:
            result = s.locks.set_references([])
        elif args.ids:
            try:
                ids = [int(i) for i in args.ids]
            except ValueError:
                raise UsageError(f"lock refs: bead ids must be integers: {args.ids}") from None
            result = s.locks.set_references(ids)
        else:
            result = s.locks.references()
    text = (f"reference beads {result['reference'] or 'none'} (suggested: the stuck beads "
            f"{result['suggested']})")  # fmt: skip
    show(args, result, text)
    return 0


def _z(args: argparse.Namespace) -> int:
    given = {"kp": args.kp, "ki": args.ki, "deadband_nm": args.deadband,
             "max_step_nm": args.max_step, "max_excursion_nm": args.max_excursion}  # fmt: skip
    params = {k: v for k, v in given.items() if v is not None}
    with scope(args) as s:
        result = s.locks.zlock(args.state == "on", target_nm=args.target, **params)
    show(args, result, f"Z-lock {result['state']}")
    return 0


def _xy(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.locks.xylock(args.state == "on", threshold_px=args.threshold)
    show(args, result, f"XY-lock {'on' if result['on'] else 'off'}")
    return 0
