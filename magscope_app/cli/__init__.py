"""The ``magscope-app`` command (also ``python -m magscope_app``): a thin layer over the typed
client (:func:`magscope_app.connect`) and the recording library.

``--instance NAME`` and ``--json`` may be typed at any level (``magscope-app --instance X record
start F``, ``magscope-app record --instance X start F``, ``magscope-app record start F --instance
X``). Errors are one line on stderr, ``magscope-app: <what is wrong>``; the exit statuses are in
:mod:`magscope_app.cli._common` (0 done, 1 failed, 2 bad usage, 3 no daemon, 130 interrupted).

Each group of subcommands lives in its own module with ``register(subparsers, common)``, where
``common`` is the parent parser to pass to every ``add_parser(..., parents=[common])``; add a new
module to :data:`SUBCOMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..config import ConfigError
from ..control.errors import DaemonNotRunning
from ..control.protocol import CommandError
from ..gui import _cli as _gui
from . import (
    _daemon,
    _force,
    _hardware,
    _locks,
    _recording,
    _retrack,
    _scripts,
    _tracking,
    _zlut,
)
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_DAEMON,
    EXIT_USAGE,
    PROG,
    Failure,
    Parser,
    UsageError,
    common_options,
    fill_defaults,
)
from ._daemon import format_status
from ._hardware import format_devices
from ._recording import format_record_status

__all__ = ["build_parser", "format_devices", "format_record_status", "format_status", "main"]

#: The modules that add subcommands, in the order of ``magscope-app --help``.
SUBCOMMAND_MODULES = (
    _daemon,
    _gui,
    _hardware,
    _locks,
    _recording,
    _retrack,
    _scripts,
    _tracking,
    _zlut,
    _force,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``magscope-app`` parser with every subcommand."""
    common = common_options()
    parser = Parser(
        prog=PROG,
        description="Control daemon for magnetic-tweezers microscopes.",
        epilog="exit status: 0 done, 1 failed, 2 bad usage, 3 no daemon running, 130 interrupted",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMAND_MODULES:
        module.register(sub, common)
    return parser


def run_without_a_command(argv: list[str]) -> int:
    """``magscope-app`` with no subcommand (options such as ``--instance``, ``--config`` or
    ``--paused`` allowed): the window with its own daemon on a desktop, the daemon headless in
    the foreground without a display (see ``magscope_app.gui._launch.main_default``)."""
    from ..gui._launch import main_default  # Qt is loaded only here, never by the subcommands

    return main_default(argv)


#: Launcher options that take a value (``magscope-app --instance rig1 --config rig.toml``).
_LAUNCH_VALUE_OPTIONS = ("--instance", "--config", "--tcp-port")


def _names_a_command(argv: list[str]) -> bool:
    """Whether ``argv`` holds a word other than options and their values (a subcommand, or a
    mistyped one that the parser then refuses), or asks for help."""
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return True
        if word in _LAUNCH_VALUE_OPTIONS and next(words, None) is None:
            return True  # a missing value: the parser says so
        elif not word.startswith("-"):
            return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not _names_a_command(argv):
        return run_without_a_command(argv)
    args = fill_defaults(parser.parse_args(argv))
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return _error("interrupted (the daemon carries on)", EXIT_INTERRUPTED)
    except DaemonNotRunning as exc:
        return _error(str(exc), EXIT_NO_DAEMON)
    except CommandError as exc:
        return _error(exc.message, EXIT_FAILED)
    except (UsageError, ConfigError) as exc:
        return _error(str(exc), EXIT_USAGE)
    except (Failure, TimeoutError) as exc:
        return _error(str(exc), EXIT_FAILED)
    except LookupError as exc:  # the client's "unknown motor", "no focus stage", …
        return _error(str(exc.args[0]) if exc.args else type(exc).__name__, EXIT_FAILED)


def _error(message: str, status: int) -> int:
    one_line = " ".join(line.strip() for line in message.strip().splitlines())
    print(f"{PROG}: {one_line}", file=sys.stderr)
    return status
