"""The hardware: ``magscope-app hardware`` and ``magscope-app move``.

* ``hardware``: the configured camera and motors with their settings and values;
* ``move MOTOR VALUE [--relative] [--wait [--timeout S]]``: an absolute (or relative) move in the
  motor's unit; ``--wait`` returns once the motor has settled (the client's move handle).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import finite, format_value, scope, show


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``hardware`` and ``move`` to the ``magscope-app`` parser."""
    p = sub.add_parser("hardware", parents=[common], help="list the devices and their settings")
    p.set_defaults(func=_cmd_hardware)

    p = sub.add_parser("move", parents=[common], help="move a motor (absolute by default)")
    p.add_argument("motor", help="motor name, e.g. magnet_height (see 'hardware')")
    p.add_argument("value", type=finite, help="target (or step with --relative), motor unit")
    p.add_argument("--relative", action="store_true", help="move by VALUE from the target")
    p.add_argument("--wait", action="store_true", help="wait until the motor has stopped")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds --wait waits at most (default 120)"
    )
    p.set_defaults(func=_cmd_move)


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
            value = format_value(s.get("value"))
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


def _cmd_hardware(args: argparse.Namespace) -> int:
    with scope(args) as s:
        devices = s.devices()
    show(args, devices, format_devices(devices))
    return 0


# -- move ------------------------------------------------------------------------------------
def _cmd_move(args: argparse.Namespace) -> int:
    with scope(args) as s:
        motor = s.motors[args.motor]  # LookupError "unknown motor": exit 1
        handle = motor.move_by(args.value) if args.relative else motor.move_to(args.value)
        result: dict[str, Any] = {"motor": motor.name, "target": handle.target, "unit": motor.unit}
        if not args.json:
            print(f"{motor.name}: moving to {handle.target:.6g} {motor.unit}", flush=True)
        if args.wait:
            final = handle.wait(args.timeout)  # TimeoutError names where the motor is: exit 1
            result["final"] = final.raw
            if not args.json:
                print(f"{motor.name}: stopped at {format_value(final.position)} {motor.unit}")
    if args.json:
        show(args, result)
    return 0
