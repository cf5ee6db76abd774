"""CLI subcommands of live tracking: ``beads`` and ``tracking``.

::

    magscope-app beads                       list the beads
    magscope-app beads add X Y [X Y …]       add beads centred at (X, Y) px
    magscope-app beads remove ID [ID …]      remove beads
    magscope-app beads move ID X Y           move a bead
    magscope-app beads clear                 remove every bead
    magscope-app beads find [--add] [--max N] [--min-distance PX] [--frames N] [--min-score S]
                                             detect beads on the newest frame(s)
    magscope-app beads classify [SECONDS]    stuck or tethered, from the last SECONDS of tracks
    magscope-app tracking                    tracking status (rate, latency, frames lost)
    magscope-app tracking settings [KEY=VALUE …]   show or change the tracking settings
    magscope-app tracking roi-size N         set the ROI side (even, 16…256 px)
    magscope-app tracking profile-bead [ID]  bead shown in the live profile (none: off)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .control import connect


def _print(result: Any, as_json: bool, text: str | None = None) -> None:
    print(json.dumps(result, indent=2) if as_json or text is None else text)


def _beads(args: argparse.Namespace) -> int:
    action, values = args.action, args.values
    with connect(args.instance) as client:
        if action == "list":
            result = client.call("beads")
            rows = [
                f"{b['id']:>5}  x {b['x']:8.2f}  y {b['y']:8.2f}  roi {b['roi']}  {b['kind']}"
                + ("  AT EDGE" if b["at_edge"] else "")
                for b in result["beads"]
            ]
            head = f"{len(result['beads'])} bead(s), ROI {result['roi_size']} px"
            _print(result, args.json, "\n".join([head, *rows]))
        elif action == "add":
            if not values or len(values) % 2:
                raise SystemExit("magscope-app beads add: give X Y pairs (pixels)")
            points = [[float(x), float(y)] for x, y in zip(values[::2], values[1::2], strict=True)]
            result = client.call("add_beads", rois=points)
            _print(result, args.json, f"added bead(s) {result['ids']}")
        elif action == "remove":
            result = client.call("remove_beads", ids=[int(v) for v in values])
            _print(result, args.json, f"removed bead(s) {result['removed']}")
        elif action == "move":
            if len(values) != 3:
                raise SystemExit("magscope-app beads move: give ID X Y")
            result = client.call(
                "move_bead", id=int(values[0]), x=float(values[1]), y=float(values[2])
            )
            _print(result, args.json, f"bead {result['id']} ROI {result['roi']}")
        elif action == "find":
            options = {"max": args.max, "min_distance": args.min_distance,
                       "frames": args.frames, "min_score": args.min_score}  # fmt: skip
            options = {k: v for k, v in options.items() if v is not None}
            result = client.call("find_beads", add=args.add, **options)
            _print(result, args.json, _found_text(result))
        elif action == "classify":
            if len(values) > 1:
                raise SystemExit("magscope-app beads classify: give at most SECONDS")
            result = client.call(
                "classify_beads", **({"seconds": float(values[0])} if values else {})
            )
            _print(result, args.json, _classified_text(result))
        else:  # clear
            result = client.call("clear_beads")
            _print(result, args.json, f"removed {result['removed']} bead(s)")
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


def _parse_setting(text: str) -> tuple[str, float | int]:
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"magscope-app tracking settings: expected KEY=VALUE, got {text!r}")
    number = float(value)
    return key, int(number) if number.is_integer() and "." not in value else number


def _tracking(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        if args.action == "status":
            s = client.status()["tracking"]
            lat = s["latency_ms"]
            latency = (
                f"latency median {lat['median']:.1f} ms, p99 {lat['p99']:.1f} ms"
                if lat["samples"]
                else "no latency samples yet"
            )
            text = (
                f"{s['workers_running']}/{s['workers']} workers, {s['beads']} beads, "
                f"{s['rois_per_s']:.0f} ROIs/s, {s['frames_tracked']} frames tracked, "
                f"{s['frames_lost']} lost to worker crashes, {latency}"
            )
            _print(s, args.json, text)
        elif args.action == "settings":
            changes = dict(_parse_setting(v) for v in args.values)
            call = ("set_tracking_settings", changes) if changes else ("tracking_settings", {})
            result = client.call(call[0], **call[1])
            _print(result, True)
        elif args.action == "roi-size":
            if len(args.values) != 1:
                raise SystemExit("magscope-app tracking roi-size: give one size (px)")
            result = client.call("set_roi_size", size=int(args.values[0]))
            _print(result, args.json, f"ROI size {result['roi_size']} px")
        else:  # profile-bead
            bead = {"id": int(args.values[0])} if args.values else {}
            result = client.call("select_profile_bead", **bead)
            _print(result, args.json, f"profile bead: {result['profile_bead']}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``beads`` and ``tracking`` to the ``magscope-app`` parser."""
    p = sub.add_parser("beads", parents=[common],
                       help="list, add, remove, move, clear, find or classify beads")  # fmt: skip
    actions = ["list", "add", "remove", "move", "clear", "find", "classify"]
    p.add_argument("action", nargs="?", default="list", choices=actions)
    p.add_argument(
        "values", nargs="*", help="X Y pairs (add), IDs (remove), ID X Y (move), SECONDS (classify)"
    )
    p.add_argument("--add", action="store_true", help="find: add the accepted candidates")
    p.add_argument("--max", type=int, help="find: accept at most N beads")
    p.add_argument("--min-distance", type=float, metavar="PX",
                   help="find: peaks closer than this are one bead")  # fmt: skip
    p.add_argument("--frames", type=int, help="find: search the mean of N newest frames")
    p.add_argument("--min-score", type=float, help="find: score threshold (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(func=_beads)

    p = sub.add_parser("tracking", parents=[common], help="tracking status and settings")
    p.add_argument("action", nargs="?", default="status",
                   choices=["status", "settings", "roi-size", "profile-bead"])  # fmt: skip
    p.add_argument("values", nargs="*", help="KEY=VALUE (settings), N (roi-size), ID")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(func=_tracking)
