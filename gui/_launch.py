"""Starting the window: ``magscope-app gui`` and ``magscope-app`` without a subcommand.

Nothing here imports Qt at module level: without a display ``magscope-app`` runs the daemon
headless and never loads Qt.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any


def has_display() -> bool:
    """True when Qt can show a window: an X11 or Wayland display, or an explicitly chosen
    non-interactive platform (``QT_QPA_PLATFORM=offscreen``, e.g. tests and screenshots)."""
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_window(
    instance: str,
    config: Path | None = None,
    *,
    attach: bool = False,
    daemon_args: list[str] | None = None,
) -> int:
    """Open the window on daemon ``instance``; start that daemon first (with ``config`` and
    further ``daemon_args`` such as ``--paused``) unless ``attach`` or one already runs.

    Returns the exit status (1 with a one-line message when the daemon cannot be reached or
    started)."""
    from PyQt6.QtWidgets import QApplication

    from magscope_app import DaemonNotRunning, connect

    from ._bridge import Bridge
    from ._daemon import DaemonStartError, OwnDaemon
    from ._events import DaemonEvents
    from ._window import MainWindow

    own: OwnDaemon | None = None
    try:
        if attach:
            client = connect(instance)
        else:
            try:  # a daemon of that name already runs: attach to it instead of failing
                client = connect(instance)
                print(f"magscope-app: daemon {instance!r} is already running; attaching to it",
                      file=sys.stderr)  # fmt: skip
            except DaemonNotRunning:
                own = OwnDaemon(instance, config, daemon_args)
                print(f"magscope-app: starting daemon {instance!r} "
                      f"({config or 'simulated microscope'})…", file=sys.stderr)  # fmt: skip
                own.start()
                client = own.connect()
    except (DaemonNotRunning, DaemonStartError) as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("magscope-app")
    bridge = Bridge(client, connect=lambda: connect(instance))
    events = DaemonEvents(bridge)
    window = MainWindow(bridge, events, instance=instance, own_daemon=own, daemon_config=config)
    _keep_going_on_errors(window)
    window.show()
    gc.freeze()  # what is built so far lives as long as the window: keep the collector's full
    # passes off it (one pass over it all holds the GUI thread for ~0.1 s)
    try:
        return app.exec()
    finally:
        window.shutdown()


def _keep_going_on_errors(window: Any) -> None:
    """Ctrl-C / SIGTERM close the window (stopping its own daemon) instead of killing the
    process; an exception in a slot is reported in the window instead of aborting (PyQt6's
    default), so a bug never leaves a daemon without its window."""
    import signal
    import traceback

    def close(*_: Any) -> None:
        window.close()

    def report(kind: type, value: BaseException, tb: Any) -> None:
        traceback.print_exception(kind, value, tb)
        window.notify("error", "window", f"{kind.__name__}: {value} (details on stderr)")

    signal.signal(signal.SIGINT, close)
    signal.signal(signal.SIGTERM, close)
    sys.excepthook = report


def main_default(argv: list[str]) -> int:
    """``magscope-app [--instance NAME] [--config FILE]``: the window with its own daemon on a
    desktop; without a display, the daemon headless in the foreground."""
    import argparse

    from magscope_app.paths import validate_instance

    parser = argparse.ArgumentParser(
        prog="magscope-app",
        description="Without a subcommand: open the window and start its daemon (simulated "
        "microscope unless --config names hardware; other options such as --paused go to the "
        "daemon); without a display, run the daemon headless. 'magscope-app --help' lists the "
        "subcommands.",
    )
    parser.add_argument("--instance", type=validate_instance, default="default")
    parser.add_argument("--config", type=Path)
    args, rest = parser.parse_known_args(argv)
    from magscope_app.cli import main

    if rest and not rest[0].startswith("-"):  # "magscope-app --instance X status": a subcommand
        return main([*rest, "--instance", args.instance])
    if has_display():
        return run_window(args.instance, args.config, daemon_args=rest)
    print("magscope-app: no display (DISPLAY/WAYLAND_DISPLAY unset): running the daemon "
          "headless; use the CLI or Python client to drive it", file=sys.stderr)  # fmt: skip

    daemon_args = ["daemon", "--instance", args.instance, *rest]
    if args.config is not None:
        daemon_args += ["--config", str(args.config)]
    return main(daemon_args)
