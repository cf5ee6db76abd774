"""Live tracking: ``magscope-app beads …`` and ``magscope-app tracking …``.

::

    magscope-app beads [list]                list the beads
    magscope-app beads add X Y [X Y …]       add beads centred at (X, Y) px
    magscope-app beads remove ID [ID …]      remove beads
    magscope-app beads move ID X Y           move a bead
    magscope-app beads clear                 remove every bead
    magscope-app beads find [--add] [--max N] [--min-distance PX] [--frames N] [--min-score S]
                                             detect beads on the newest frame(s)
    magscope-app beads classify [SECONDS]    stuck or tethered, from the last SECONDS of tracks
    magscope-app tracking [status]           tracking status (rate, latency, frames lost)
    magscope-app tracking settings [KEY=VALUE …]   show or change the tracking settings
    magscope-app tracking roi-size N         set the ROI side (even, 16…256 px)
    magscope-app tracking profile-bead [ID]  bead shown in the live profile (none: off)
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import UsageError, finite, scope, show


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``beads`` and ``tracking`` with their actions to the ``magscope-app`` parser."""
    text = "list, add, remove, move, clear, find or classify beads"
    beads = sub.add_parser("beads", parents=[common], help=text)
    beads.set_defaults(func=_beads_list)  # "beads" alone lists them
    actions = beads.add_subparsers(dest="beads_command", metavar="ACTION")

    def action(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        """A sub-subcommand of the group whose ``actions`` are being added (beads, tracking)."""
        p = actions.add_parser(name, parents=[common], help=text)
        p.set_defaults(func=func)
        return p

    action("list", _beads_list, "list the beads (the default)")
    p = action("add", _beads_add, "add beads centred at X Y pairs (px)")
    p.add_argument("xy", nargs="+", type=finite, metavar="X Y", help="bead centres, pixels")
    p = action("remove", _beads_remove, "remove beads by id")
    p.add_argument("ids", nargs="+", type=int, metavar="ID")
    p = action("move", _beads_move, "move a bead's centre to X Y (px)")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("x", type=finite, metavar="X")
    p.add_argument("y", type=finite, metavar="Y")
    action("clear", _beads_clear, "remove every bead")
    p = action("find", _beads_find, "detect beads on the newest frame(s)")
    p.add_argument("--add", action="store_true", help="add the accepted candidates")
    p.add_argument("--max", type=int, help="accept at most N beads")
    p.add_argument("--min-distance", type=float, metavar="PX",
                   help="peaks closer than this are one bead")  # fmt: skip
    p.add_argument("--frames", type=int, help="search the mean of N newest frames")
    p.add_argument("--min-score", type=float, help="score threshold (default 10)")
    p = action("classify", _beads_classify, "stuck or tethered, from the last SECONDS of tracks")
    p.add_argument("seconds", nargs="?", type=finite, metavar="SECONDS")

    tracking = sub.add_parser("tracking", parents=[common], help="tracking status and settings")
    tracking.set_defaults(func=_tracking_status)  # "tracking" alone shows the status
    actions = tracking.add_subparsers(dest="tracking_command", metavar="ACTION")
    action("status", _tracking_status, "rate, latency, frames lost (the default)")
    p = action("settings", _tracking_settings, "show or change the tracking settings")
    p.add_argument("changes", nargs="*", type=_setting, metavar="KEY=VALUE")
    p = action("roi-size", _tracking_roi_size, "set the ROI side (even, px)")
    p.add_argument("size", type=int, metavar="N")
    p = action("profile-bead", _tracking_profile_bead, "bead shown in the live profile")
    p.add_argument("id", nargs="?", type=int, metavar="ID", help="none: no live profile")


# -- beads -----------------------------------------------------------------------------------
def _beads_list(args: argparse.Namespace) -> int:
    with scope(args) as s:
        beads, roi_size = s.beads.list(), s.beads.roi_size
    rows = [
        f"{b['id']:>5}  x {b['x']:8.2f}  y {b['y']:8.2f}  roi {b['roi']}  {b['kind']}"
        + ("  AT EDGE" if b["at_edge"] else "")
        for b in beads
    ]
    head = f"{len(beads)} bead(s), ROI {roi_size} px"
    show(args, {"beads": beads, "roi_size": roi_size}, "\n".join([head, *rows]))
    return 0


def _beads_add(args: argparse.Namespace) -> int:
    if len(args.xy) % 2:
        raise UsageError("beads add: give X Y pairs (pixels)")
    with scope(args) as s:
        ids = s.beads.add(list(zip(args.xy[::2], args.xy[1::2], strict=True)))
    show(args, {"ids": ids}, f"added bead(s) {ids}")
    return 0


def _beads_remove(args: argparse.Namespace) -> int:
    with scope(args) as s:
        removed = s.beads.remove(args.ids)
    show(args, {"removed": removed}, f"removed bead(s) {removed}")
    return 0


def _beads_move(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.beads.move(args.id, args.x, args.y)
    show(args, result, f"bead {result['id']} ROI {result['roi']}")
    return 0


def _beads_clear(args: argparse.Namespace) -> int:
    with scope(args) as s:
        removed = s.beads.clear()
    show(args, {"removed": removed}, f"removed {removed} bead(s)")
    return 0


def _beads_find(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.beads.find(add=args.add, max=args.max, min_distance=args.min_distance,
                              frames=args.frames, min_score=args.min_score)  # fmt: skip
    show(args, result, _found_text(result))
    return 0


def _beads_classify(args: argparse.Namespace) -> int:
    with scope(args) as s:
        result = s.beads.classify(args.seconds)
    show(args, result, _classified_text(result))
    return 0


def _found_text(result: dict[str, Any]) -> str:
    lines = [f"{len(result['candidates'])} candidate(s) on frame(s) {result['frames']}:"]
    lines += [
        f"  x {c['x']:8.2f}  y {c['y']:8.2f}  score {c['score']:8.1f}" for c in result["candidates"]
    ]
    if result["rejected"]:
        lines.append(f"{len(result['rejected'])} rejected:")
        lines += [
            f"  x {c['x']:8.2f}  y {c['y']:8.2f}  score {c['score']:8.1f}  {c['reason']}"
            for c in result["rejected"]
        ]
    if "ids" in result:
        lines.append(f"added bead(s) {result['ids']}")
    return "\n".join(lines)


def _classified_text(result: dict[str, Any]) -> str:
    def nm(value: float | None) -> str:
        return "   -" if value is None else f"{value:6.1f}"

    lines = [f"from the last {result['seconds']:g} s of tracks (rms about a linear trend):"]
    for b in result["beads"]:
        lines.append(
            f"{b['id']:>5}  {b['kind']:<8}  lateral {nm(b['lateral_nm'])} nm  "
            f"axial {nm(b['axial_nm'])} nm  ({b['samples']} samples)"
            + (f"  {b['reason']}" if "reason" in b else "")
        )
    return "\n".join(lines)


# -- tracking --------------------------------------------------------------------------------
def _setting(text: str) -> tuple[str, float | int]:
    """argparse type of ``tracking settings``: ``KEY=VALUE`` with a number (int if integral)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: not a number: {value!r}") from None
    return key, int(number) if number.is_integer() and "." not in value else number


def _tracking_status(args: argparse.Namespace) -> int:
    with scope(args) as s:
        status = s.tracking.status()
    lat = status["latency_ms"]
    latency = (
        f"latency median {lat['median']:.1f} ms, p99 {lat['p99']:.1f} ms"
        if lat["samples"]
        else "no latency samples yet"
    )
    text = (
        f"{status['workers_running']}/{status['workers']} workers, {status['beads']} beads, "
        f"{status['rois_per_s']:.0f} ROIs/s, {status['frames_tracked']} frames tracked, "
        f"{status['frames_lost']} lost to worker crashes, {latency}"
    )
    show(args, status, text)
    return 0


def _tracking_settings(args: argparse.Namespace) -> int:
    with scope(args) as s:
        changes = dict(args.changes)
        result = s.tracking.configure(**changes) if changes else s.tracking.settings()
    show(args, result)  # always JSON: a nested dict of settings and limits
    return 0


def _tracking_roi_size(args: argparse.Namespace) -> int:
    with scope(args) as s:
        s.beads.roi_size = args.size
        size = s.beads.roi_size
    show(args, {"roi_size": size}, f"ROI size {size} px")
    return 0


def _tracking_profile_bead(args: argparse.Namespace) -> int:
    with scope(args) as s:
        bead = s.tracking.select_profile_bead(args.id)
    show(args, {"profile_bead": bead}, f"profile bead: {bead}")
    return 0
