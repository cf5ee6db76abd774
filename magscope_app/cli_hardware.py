"""CLI subcommands about the hardware: ``magscope-app hardware`` and ``magscope-app move``.

* ``hardware [--json]``: the configured camera and motors with their settings and values;
* ``move MOTOR VALUE [--relative] [--wait [--timeout S]]``: an absolute (or relative) move in the
  motor's unit; ``--wait`` polls the motor's state every 0.1 s until it stops or the deadline.

Errors (no daemon, unknown motor, a target outside the soft limits, ...) print one clear line to
stderr and exit with status 1 (handled in :func:`magscope_app.cli.main`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

from .control import connect

#: Interval (s) between motor_state polls of ``move --wait``.
WAIT_POLL_S = 0.1


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the subcommands to the ``magscope-app`` parser."""
    p = sub.add_parser("hardware", parents=[common], help="list the devices and their settings")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(func=_cmd_hardware)

    p = sub.add_parser("move", parents=[common], help="move a motor (absolute by default)")
    p.add_argument("motor", help="motor name, e.g. magnet_height (see 'hardware')")
    p.add_argument("value", type=_finite, help="target (or step with --relative), motor unit")
    p.add_argument("--relative", action="store_true", help="move by VALUE from the target")
    p.add_argument("--wait", action="store_true", help="wait until the motor has stopped")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds --wait waits at most (default 120)"
    )
    p.set_defaults(func=_cmd_move)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


# -- hardware --------------------------------------------------------------------------------
def format_devices(devices: list[dict[str, Any]]) -> str:
    """Human-readable list of devices and their settings."""
    lines: list[str] = []
    for device in devices:
        head = f"{device['name']}: {device.get('kind', '?')} (driver {device['driver']})"
        lines.append(head)
        if device.get("error"):
            lines.append(f"  unavailable: {device['error']}")
        for s in device.get("settings", []):
            value = _format_value(s.get("value"))
            unit = f" {s['unit']}" if s.get("unit") else ""
            notes = []
            if s.get("minimum") is not None or s.get("maximum") is not None:
                lo = "" if s.get("minimum") is None else f"{s['minimum']:g}"
                hi = "" if s.get("maximum") is None else f"{s['maximum']:g}"
                notes.append(f"range {lo}…{hi}")
            if s.get("choices"):
                notes.append("one of " + ", ".join(map(str, s["choices"])))
            if s.get("read_only"):
                notes.append("read-only")
            note = f"  ({'; '.join(notes)})" if notes else ""
            lines.append(f"  {s['name']:<18} {value}{unit}{note}")
    return "\n".join(lines)


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _cmd_hardware(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        devices = client.call("devices")["devices"]
    print(json.dumps(devices, indent=2) if args.json else format_devices(devices))
    return 0


# -- move ------------------------------------------------------------------------------------
def _cmd_move(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        if args.relative:
            state = client.call("move_by", motor=args.motor, delta=args.value)
        else:
            state = client.call("move", motor=args.motor, position=args.value)
        unit = state.get("unit", "")
        print(f"{args.motor}: moving to {state['target']:.6g} {unit}")
        if not args.wait:
            return 0
        deadline = time.monotonic() + args.timeout
        accepted = state["time"]  # telemetry older than the move's acceptance does not count
        while True:
            time.sleep(WAIT_POLL_S)
            state = client.call("motor_state", motor=args.motor)
            if state.get("moving") is False and (state.get("time") or 0.0) >= accepted:
                print(f"{args.motor}: stopped at {state['position']:.6g} {unit}")
                return 0
            if time.monotonic() >= deadline:
                print(
                    f"magscope-app: {args.motor} still moving after {args.timeout:g} s "
                    f"(at {_format_value(state.get('position'))} {unit})",
                    file=sys.stderr,
                )
                return 1
