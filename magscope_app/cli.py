"""The ``magscope-app`` command (also ``python -m magscope_app``): a thin layer over the library.

Every subcommand takes ``--instance NAME`` so several daemons can run side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .control import CommandError, DaemonNotRunning, connect
from .paths import validate_instance

#: Modules that add subcommands (``register(subparsers, common_parent_parser)``).
_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "magscope_app.cli_hardware",
    "magscope_app.cli_recording",
    "magscope_app.cli_scripts",
    "magscope_app.cli_tracking",
    "magscope_app.cli_zlut",
)


def _instance(value: str) -> str:
    try:
        return validate_instance(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_daemon(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_daemon_config
    from .manager import Daemon, InstanceBusy

    try:
        config = load_daemon_config(args.config, start_paused=args.paused)
    except ConfigError as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(Daemon(args.instance, config, tcp_port=args.tcp_port).run())
    except InstanceBusy as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return 1


def _format_duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_status(status: dict[str, Any]) -> str:
    """Human-readable status report."""
    cam = status["camera"]
    lines = [
        f"daemon {status['instance']!r} (pid {status['pid']}, version {status['version']}, "
        f"up {_format_duration(status['uptime_s'])}, "
        f"{'acquiring' if status['acquiring'] else 'paused'})",
        f"camera: {cam['frames_acquired']} frames acquired, {cam['frames_lost']} lost, "
        f"{cam['fps']:.1f} fps, buffer {100 * cam['buffer_level']:.0f} % full",
        "workers:",
    ]
    for w in status["workers"]:
        lines.append(
            f"  {w['name']:<16} pid {w['pid'] or '-':<8} {w['state']:<9} restarts {w['restarts']}"
            + (f"  ({w['last_error']})" if w["last_error"] else "")
        )
    lines.append("buffers:")
    for b in status["buffers"]:
        lines.append(f"  {b['name']:<20} {b['shm_name']:<36} {tuple(b['shape'])} {b['dtype']}")
    for fault in status["faults"]:
        lines.append(f"FAULT {fault['worker']}: {fault['message']}")
    return "\n".join(lines)


def _cmd_status(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        status = client.status()
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def _process_gone(pid: int) -> bool:
    """True if ``pid`` has exited (a zombie waiting for its parent counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _cmd_stop(args: argparse.Namespace) -> int:
    with connect(args.instance) as client:
        pid = client.status()["pid"]
        client.stop()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:  # wait for the daemon process to exit
        if _process_gone(pid):
            print(f"daemon {args.instance!r} stopped")
            return 0
        time.sleep(0.05)
    print(f"magscope-app: daemon {args.instance!r} still running after {args.timeout:g} s",
          file=sys.stderr)  # fmt: skip
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="magscope-app",
        description="Control daemon for magnetic-tweezers microscopes.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--instance", type=_instance, default="default", help="daemon instance name"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("daemon", parents=[common], help="run the daemon in the foreground")
    p.add_argument("--config", type=Path, help="hardware config (TOML); default: simulator")
    p.add_argument("--paused", action="store_true", help="start with acquisition paused")
    p.add_argument("--tcp-port", type=int, help="also listen on 127.0.0.1:PORT")
    p.set_defaults(func=_cmd_daemon)

    p = sub.add_parser("status", parents=[common], help="show the daemon's status")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("stop", parents=[common], help="stop the daemon")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the exit")
    p.set_defaults(func=_cmd_stop)

    # Subcommands of the daemon's parts, each in its own module: register(sub, common).
    for module in _SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except DaemonNotRunning as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return 1
    except CommandError as exc:
        print(f"magscope-app: {exc.message}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return 1
