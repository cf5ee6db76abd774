"""The daemon itself: ``magscope-app daemon`` (run it in the foreground), ``status``, ``stop``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from ..client import Status
from ._common import Failure, scope, show


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``daemon``, ``status`` and ``stop`` to the ``magscope-app`` parser."""
    p = sub.add_parser("daemon", parents=[common], help="run the daemon in the foreground")
    p.add_argument("--config", type=Path, help="hardware config (TOML); default: simulator")
    p.add_argument("--paused", action="store_true", help="start with acquisition paused")
    p.add_argument("--tcp-port", type=int, help="also listen on 127.0.0.1:PORT")
    p.set_defaults(func=_cmd_daemon)

    p = sub.add_parser("status", parents=[common], help="show the daemon's status")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("stop", parents=[common], help="stop the daemon")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the exit")
    p.set_defaults(func=_cmd_stop)


def _cmd_daemon(args: argparse.Namespace) -> int:
    from ..config import load_daemon_config
    from ..manager import Daemon, InstanceBusy

    config = load_daemon_config(args.config, start_paused=args.paused)  # ConfigError: exit 2
    try:
        return asyncio.run(Daemon(args.instance, config, tcp_port=args.tcp_port).run())
    except InstanceBusy as exc:
        raise Failure(str(exc)) from None


def _format_duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def format_status(status: Status | dict[str, Any]) -> str:
    """Human-readable status report (of a :class:`~magscope_app.client.Status` or its dict)."""
    if isinstance(status, Status):
        status = status.raw
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
    with scope(args) as s:
        status = s.status()
    show(args, status.raw, format_status(status))
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    with scope(args) as s:
        s.shutdown(timeout=args.timeout)  # TimeoutError if it is still running: exit 1
    show(args, {"instance": args.instance, "stopped": True}, f"daemon {args.instance!r} stopped")
    return 0
