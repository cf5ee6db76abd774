"""The ``magscope-app gui`` subcommand (registered by :mod:`magscope_app.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "gui", parents=[common], help="open the window (starts a daemon unless --attach)"
    )
    p.add_argument(
        "--config", type=Path, help="hardware config (TOML) of the daemon it starts (or restarts)"
    )
    p.add_argument(
        "--attach", action="store_true", help="attach to a running daemon; leave it running"
    )
    p.set_defaults(func=_cmd_gui)


def _cmd_gui(args: argparse.Namespace) -> int:
    from ._launch import has_display, run_window

    if not has_display():
        print(
            "magscope-app: gui needs a display (set DISPLAY or WAYLAND_DISPLAY, or "
            "QT_QPA_PLATFORM=offscreen); 'magscope-app daemon' runs headless",
            file=sys.stderr,
        )
        return 2
    return run_window(args.instance, args.config, attach=args.attach)
