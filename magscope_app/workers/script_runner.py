"""The process of one experiment script, started by the daemon's script service::

    python -m magscope_app.workers.script_runner --instance NAME --id N --params JSON SCRIPT.py

It connects to the daemon, attaches its connection to run N (every call becomes a checkpoint),
loads SCRIPT.py (its folder goes first on ``sys.path``, as for ``python SCRIPT.py``) and calls
``main(scope, **params)``. Its stdout and stderr are piped to the daemon, which publishes them;
an exception's traceback goes to the daemon as ``script_output`` (stream ``traceback``).

Exit status: 0 ``main`` returned, 1 it raised (or the daemon was lost), 2 the script or its
parameters do not fit (no callable ``main``, a parameter ``main`` does not take), 3 aborted.
"""

from __future__ import annotations

import argparse
import inspect
import json
import runpy
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..client._scripts import ScriptAborted, attach

EXIT_COMPLETED, EXIT_FAILED, EXIT_BAD_SCRIPT, EXIT_ABORTED = 0, 1, 2, 3


class _NoMain(Exception):
    """The script defines no callable ``main``."""


def _load_main(path: Path) -> Any:
    """Run the script's module and return its ``main`` (_NoMain if it has none)."""
    sys.path.insert(0, str(path.parent))
    sys.argv = [str(path)]
    namespace = runpy.run_path(str(path), run_name="__magscope_script__")
    main = namespace.get("main")
    if not callable(main):
        raise _NoMain(f"{path.name} defines no main(scope, **params)")
    return main


def _traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the runner's own frame."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _report(scope: Any, text: str) -> None:
    """Send an error text to the daemon (to stderr if the daemon cannot be told)."""
    try:
        scope.call("script_output", text=text.rstrip(), stream="traceback")
    except (Exception, ScriptAborted):
        print(text, file=sys.stderr, end="")


def run(instance: str, script_id: int, path: Path, params: dict[str, Any]) -> int:
    """Run the script; returns the exit status (see the module docstring)."""
    try:
        scope = attach(instance, script_id)
    except ScriptAborted:
        return EXIT_ABORTED
    except Exception as exc:  # DaemonNotRunning, a refused attach
        print(f"script runner: cannot attach to daemon {instance!r}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    with scope:
        try:
            main = _load_main(path)
        except ScriptAborted:
            return EXIT_ABORTED
        except _NoMain as exc:
            _report(scope, str(exc))
            return EXIT_BAD_SCRIPT
        except BaseException as exc:  # an error while the module itself runs
            _report(scope, _traceback(exc))
            return EXIT_FAILED
        try:
            inspect.signature(main).bind(scope, **params)
        except TypeError as exc:
            _report(scope, f"{path.name}: main(scope, **params) does not fit the parameters: {exc}")
            return EXIT_BAD_SCRIPT
        try:
            main(scope, **params)
        except ScriptAborted:
            print("script aborted", file=sys.stderr)
            return EXIT_ABORTED
        except SystemExit as exc:  # sys.exit(): None is success, a text is an error message
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or EXIT_COMPLETED
            print(exc.code, file=sys.stderr)
            return EXIT_FAILED
        except BaseException as exc:
            _report(scope, _traceback(exc))
            return EXIT_FAILED
    return EXIT_COMPLETED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="script_runner", description=__doc__.split("\n")[0])
    parser.add_argument("--instance", required=True)
    parser.add_argument("--id", type=int, required=True)
    parser.add_argument("--params", default="{}", help="main's keyword arguments as JSON")
    parser.add_argument("script", type=Path)
    args = parser.parse_args(argv)
    return run(args.instance, args.id, args.script, json.loads(args.params))


if __name__ == "__main__":
    sys.exit(main())
