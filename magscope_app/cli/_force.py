"""Force calibration: ``magscope-app force …``.

* ``force calibrate --seconds S [--beads 0,1] [--axis x|y|xy] [--method spectrum|allan|both]
  [--drag free|stokes|faxen] [--surface-z NM]``: calibrate at the current magnet height; a line
  per bead (force ± 1σ, corner frequency, fc/fs, flag, extension); exit 1 if the action fails;
* ``force fit [--terms 1|2]``: fit force against magnet height from the calibration points;
* ``force set PN [--bead N]``: move the magnets to the height of a force;
* ``force ramp --from PN --to PN --rate PN_PER_S [--no-wait]``: a constant-rate force ramp
  (Ctrl-C cancels it);
* ``force status``: each bead's force now, the curves and the running or last action;
* ``force save [FILE]`` / ``force load [FILE]``: the curves (default: the Z-LUT file in use);
* ``force surface [--seconds S] [--beads 0,1] [--height MM] [--turns N]``: find each bead's
  surface z; ``force surface-set BEAD Z_NM``: set it by hand.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import finite, scope, show


def _ids(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bead ids must be integers like 0,2,5: {text!r}"
        ) from None


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``force`` and its actions to the ``magscope-app`` parser."""
    force = sub.add_parser(
        "force", parents=[common], help="force calibration, force curve, set and ramp the force"
    )
    actions = force.add_subparsers(dest="force_command", required=True, metavar="ACTION")

    p = actions.add_parser("calibrate", parents=[common], help="calibrate at this magnet height")
    p.add_argument("--seconds", type=finite, required=True, help="Brownian motion recorded, s")
    p.add_argument("--beads", type=_ids, help="bead ids, e.g. 0,2 (default: tethered beads)")
    p.add_argument("--axis", choices=("x", "y", "xy"), default="x", help="x: along the field")
    p.add_argument("--method", choices=("spectrum", "allan", "both"), default="spectrum")
    p.add_argument("--drag", choices=("free", "stokes", "faxen"), default="free")
    p.add_argument("--surface-z", type=finite, help="surface z for every bead, nm")
    p.set_defaults(func=_cmd_calibrate)

    p = actions.add_parser("fit", parents=[common], help="fit force against magnet height")
    p.add_argument("--terms", type=int, choices=(1, 2), default=2, help="exponentials")
    p.set_defaults(func=_cmd_fit)

    p = actions.add_parser("set", parents=[common], help="move the magnets to a force")
    p.add_argument("pN", type=finite, help="force, pN")
    p.add_argument("--bead", type=int, help="use this bead's curve (default: pooled)")
    p.set_defaults(func=_cmd_set)

    p = actions.add_parser("ramp", parents=[common], help="ramp the force at a constant rate")
    p.add_argument("--from", dest="from_pN", type=finite, required=True, help="pN")
    p.add_argument("--to", dest="to_pN", type=finite, required=True, help="pN")
    p.add_argument("--rate", type=finite, required=True, help="pN/s")
    p.add_argument("--bead", type=int, help="use this bead's curve (default: pooled)")
    p.add_argument("--no-wait", action="store_true", help="return once the ramp has started")
    p.set_defaults(func=_cmd_ramp)

    p = actions.add_parser("status", parents=[common], help="forces now, curves, last action")
    p.set_defaults(func=_cmd_status)
    for name, func, text in (("save", _cmd_save, "save"), ("load", _cmd_load, "load")):
        p = actions.add_parser(name, parents=[common], help=f"{text} the force curves")
        p.add_argument("path", nargs="?", help="HDF5 file (default: the Z-LUT file in use)")
        p.set_defaults(func=func)

    p = actions.add_parser("surface", parents=[common], help="find each bead's surface z")
    p.add_argument("--seconds", type=finite, default=3.0, help="watching time, s")
    p.add_argument("--beads", type=_ids, help="bead ids, e.g. 0,2 (default: tethered beads)")
    p.add_argument("--height", type=finite, help="magnet height, mm (default: upper limit)")
    p.add_argument("--turns", type=finite, help="magnet turns that coil the tethers")
    p.set_defaults(func=_cmd_surface)
    p = actions.add_parser("surface-set", parents=[common], help="set a bead's surface z")
    p.add_argument("bead", type=int)
    p.add_argument("z_nm", type=finite)
    p.set_defaults(func=_cmd_surface_set)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    with scope(args) as s:
        handle = s.force.calibrate(
            args.seconds, args.beads, axis=args.axis, method=args.method, drag=args.drag,
            surface_z=args.surface_z, wait=False,
        )  # fmt: skip
        result = handle.wait(progress=not args.json)
    lines = [f"magnets at {result['height_mm']:g} mm, axis {result['axis']}"]
    for b in result["beads"]:
        lines.append(
            f"bead {b['bead']}: {_number(b.get('force_pN'), '.4g')} ± "
            f"{_number(b.get('force_error_pN'), '.2g')} pN, fc {_number(b.get('corner_hz'), '.3g')}"
            f" Hz (fc/fs {_number(b.get('corner_over_frame_rate'), '.2f')}), extension "
            f"{_number(b.get('extension_nm'), '.0f')} nm" + (f"; {b['flag']}" if b["flag"] else "")
        )
    show(args, result, "\n".join(lines))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.force.fit_curve(args.terms)
    lines = []
    for name, curve in result["curves"].items():
        low, high = curve["force_range_pN"]
        h0, h1 = curve["height_range_mm"]
        lines.append(f"{name}: {low:.3g}–{high:.3g} pN over {h0:g}–{h1:g} mm")
    lines += [f"{name}: not fitted: {why}" for name, why in result["problems"].items()]
    show(args, result, "\n".join(lines))
    return 0


def _cmd_set(args: argparse.Namespace) -> int:
    with scope(args) as s:
        height = s.force.set(args.pN, args.bead)
    show(args, {"force_pN": args.pN, "height_mm": height},
         f"magnets to {height:.4f} mm for {args.pN:g} pN")  # fmt: skip
    return 0


def _cmd_ramp(args: argparse.Namespace) -> int:
    with scope(args) as s:
        handle = s.force.ramp(args.from_pN, args.to_pN, args.rate, args.bead)
        if args.no_wait:
            show(args, handle.progress, "ramp started")
            return 0
        try:
            result = handle.wait(progress=not args.json)
        except KeyboardInterrupt:
            handle.cancel()
            raise
    show(args, result, f"ramp done: {result['force_pN']:g} pN at {result['height_mm']:.4f} mm")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    with scope(args) as s:
        part = s.call("status")["force"]
    lines = [f"magnets at {_number(part['height_mm'], 'g')} mm; curves: {part['curves'] or 'none'}"]
    lines += [f"bead {b}: {f:.3g} pN" for b, f in part["forces_pN"].items()]
    if part.get("action"):
        lines.append(f"{part['action']}: {part['state']} {part.get('message') or ''}")
    show(args, part, "\n".join(lines))
    return 0


def _cmd_save(args: argparse.Namespace) -> int:
    with scope(args) as s:
        path = s.force.save(args.path)
    show(args, {"path": path}, f"saved the force curves to {path}")
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.force.load(args.path)
    show(args, result, f"loaded force curves {sorted(result['curves'])} from {result['path']}")
    return 0


def _cmd_surface(args: argparse.Namespace) -> int:
    with scope(args) as s:
        handle = s.force.find_surface(
            args.seconds, args.beads, height_mm=args.height, turns=args.turns, wait=False
        )
        result = handle.wait(progress=not args.json)
    lines = [f"bead {b}: surface at z = {z:.1f} nm" for b, z in result["surfaces"].items()]
    lines += [f"bead {b}: no z (no Z-LUT, or out of its range)" for b in result["missing"]]
    show(args, result, "\n".join(lines))
    return 0


def _cmd_surface_set(args: argparse.Namespace) -> int:
    with scope(args) as s:
        s.force.set_surface(args.bead, args.z_nm)
    show(args, {"bead": args.bead, "z_nm": args.z_nm}, f"bead {args.bead}: surface z set")
    return 0
