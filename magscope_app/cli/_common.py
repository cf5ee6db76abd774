"""What every subcommand shares: the exit statuses, the ``--instance``/``--json`` options, the
one-line errors, the connection to the daemon and printing a result.

Exit statuses of ``magscope-app``:

* 0 — done;
* 1 — the command failed or was refused (by the daemon, or a file that cannot be read);
* 2 — bad usage: the command line or a config file is wrong (nothing was asked of the daemon);
* 3 — no daemon of that instance is running (or the connection to it was lost);
* 130 — interrupted (Ctrl-C); the daemon carries on with what it was doing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, NoReturn

from ..client import Scope, connect
from ..paths import validate_instance

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_DAEMON = 3
EXIT_INTERRUPTED = 130

DEFAULT_INSTANCE = "default"
PROG = "magscope-app"


class Failure(Exception):
    """A command failed for a reason the user can act on: ``magscope-app: <message>``, exit 1."""


class UsageError(Failure):
    """The command line is wrong in a way argparse cannot see: exit 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, ``magscope-app: <problem> (see … --help)``,
    with exit status 2. Subcommand parsers inherit it (argparse makes them of the same class)."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix(PROG).strip()
        print(
            f"{PROG}: {where + ': ' if where else ''}{message} (see '{self.prog} --help')",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)


def instance_name(value: str) -> str:
    """argparse type of ``--instance``: a valid instance name."""
    try:
        return validate_instance(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def finite(text: str) -> float:
    """argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def common_options() -> argparse.ArgumentParser:
    """The parent parser of every level (``magscope-app``, each subcommand and sub-subcommand):
    ``--instance NAME`` and ``--json``, so they may be typed anywhere on the command line.

    Their defaults are SUPPRESS, so a level that does not see the option leaves the value given
    at another level alone (argparse copies a subparser's defaults over its parent's values);
    :func:`fill_defaults` sets the real defaults after parsing.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--instance",
        type=instance_name,
        default=argparse.SUPPRESS,
        metavar="NAME",
        help=f"daemon instance name (default: {DEFAULT_INSTANCE})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the result as JSON (for programs)",
    )
    return common


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Give ``--instance`` and ``--json`` their defaults where no level set them."""
    args.instance = getattr(args, "instance", DEFAULT_INSTANCE)
    args.json = getattr(args, "json", False)
    return args


def scope(args: argparse.Namespace) -> Scope:
    """The typed client of the daemon ``args.instance`` (DaemonNotRunning if none runs)."""
    return connect(args.instance)


def show(args: argparse.Namespace, result: Any, text: str | None = None) -> None:
    """Print ``text``, or ``result`` as JSON with ``--json`` (or when there is no text)."""
    print(json.dumps(result, indent=2, default=str) if args.json or text is None else text)


def format_value(value: Any) -> str:
    """A value for people: floats with 6 significant digits, None as ``-``."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)
