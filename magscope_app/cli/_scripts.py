"""``magscope-app run SCRIPT.py`` and ``magscope-app script status|pause|resume|abort``.

``run`` starts the script in the daemon (which owns it: other clients see, pause and abort it),
prints its output live (stdout lines to stdout; stderr, progress and state changes to stderr),
aborts it on Ctrl-C (a second Ctrl-C leaves without waiting) and exits with a status that says
how it ended (:data:`EXIT_STATUS`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from ..client import (
    CommandFailed,
    DaemonNotRunning,
    Event,
    InvalidArgument,
    Scope,
    ScriptStatus,
    connect,
)

#: Exit status of ``run``: how the script ended, or why it did not start.
EXIT_STATUS = {
    "completed": 0,  # main returned
    "failed": 1,  # main raised (traceback printed) or the script exited with an error status
    "bad_usage": 2,  # bad command line, script file or parameters
    "aborted": 3,  # aborted (Ctrl-C, `script abort`, another client) and ended within 2 s
    "killed": 4,  # aborted and killed because it had not ended 2 s later
    "not_started": 5,  # no daemon (see --simulate), another script running, daemon lost
}
#: Exit status of a script process whose main does not take the given parameters.
RUNNER_BAD_SCRIPT = 2


def parse_params(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value is read as JSON when it is JSON (``3``, ``[1, 2]``,
    ``true``), else kept as text. ValueError naming a malformed pair."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--param {item!r}: expected KEY=VALUE with KEY a Python name")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def format_script_status(s: ScriptStatus) -> str:
    """One or a few lines about the current or last script."""
    if s.id is None:
        return "no script has run"
    line = f"script {s.id} {s.name}: {s.state}"
    if s.elapsed_s is not None:
        line += f" ({s.elapsed_s:.1f} s"
        line += f", pid {s.pid})" if not s.done else f", exit status {s.exit_code})"
    if s.progress is not None:
        line += f", progress {100 * s.progress:.0f} % {s.progress_text}".rstrip()
    lines = [line, f"  path {s.path}, params {json.dumps(s.params)}"]
    if s.error:
        lines.append(f"  error: {s.error}")
    return "\n".join(lines)


def _print_event(event: Event) -> None:
    payload = event.payload
    if "output" in payload:
        out = sys.stdout if payload.get("stream") == "stdout" else sys.stderr
        print(payload["output"], file=out, flush=True)
    elif "progress" in payload:
        text = f"[{100 * payload['progress']:3.0f} %] {payload.get('text', '')}"
        print(text.rstrip(), file=sys.stderr, flush=True)
    elif payload.get("state") not in (None, "running"):
        print(f"script {payload['id']}: {payload['state']}", file=sys.stderr, flush=True)


def _connect(args: argparse.Namespace) -> tuple[Scope, bool]:
    """The scope, and whether this command started its daemon (``--simulate``)."""
    try:
        return connect(args.instance), False
    except DaemonNotRunning:
        if not args.simulate:
            raise
    print(f"starting a daemon {args.instance!r} (simulated microscope unless --config names "
          "hardware)", file=sys.stderr)  # fmt: skip
    return connect(args.instance, start=True, config=args.config), True


def _cmd_run(args: argparse.Namespace) -> int:
    script = Path(args.script).expanduser().absolute()
    try:
        params = parse_params(args.param)
    except ValueError as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return EXIT_STATUS["bad_usage"]
    if args.config is not None and not args.simulate:
        print("magscope-app: --config goes with --simulate", file=sys.stderr)
        return EXIT_STATUS["bad_usage"]
    if not script.is_file():
        print(f"magscope-app: no script file {script}", file=sys.stderr)
        return EXIT_STATUS["bad_usage"]
    try:
        scope, started_daemon = _connect(args)
    except DaemonNotRunning as exc:
        print(f"magscope-app: {exc} (--simulate starts a simulated one)", file=sys.stderr)
        return EXIT_STATUS["not_started"]
    try:
        return _run(scope, script, params)
    finally:
        if started_daemon:
            print(f"stopping the daemon {args.instance!r} this command started", file=sys.stderr)
            scope.shutdown()
        scope.close()


def _run(scope: Scope, script: Path, params: dict[str, Any]) -> int:
    try:
        run = scope.scripts.start(script, params)
    except InvalidArgument as exc:
        print(f"magscope-app: {exc.message}", file=sys.stderr)
        return EXIT_STATUS["bad_usage"]
    except CommandFailed as exc:
        print(f"magscope-app: {exc.message}", file=sys.stderr)
        return EXIT_STATUS["not_started"]
    print(f"script {run.id} {run.name} started (Ctrl-C aborts it)", file=sys.stderr, flush=True)
    try:
        try:
            final = run.wait(on_event=_print_event)
        except KeyboardInterrupt:
            print("aborting the script (Ctrl-C again: leave without waiting)", file=sys.stderr)
            with contextlib.suppress(CommandFailed):  # it ended meanwhile
                run.abort()
            final = run.wait(on_event=_print_event)
    except KeyboardInterrupt:
        return EXIT_STATUS["aborted"]
    except DaemonNotRunning as exc:
        print(f"magscope-app: {exc}", file=sys.stderr)
        return EXIT_STATUS["not_started"]
    print(f"script {final.id} {final.name} {final.state} after {final.elapsed_s:.1f} s "
          f"(exit status {final.exit_code})", file=sys.stderr)  # fmt: skip
    if final.state == "failed" and final.exit_code == RUNNER_BAD_SCRIPT:
        return EXIT_STATUS["bad_usage"]
    return EXIT_STATUS[final.state]


def _cmd_script(args: argparse.Namespace) -> int:
    with connect(args.instance) as scope:
        action = {
            "status": scope.scripts.status,
            "pause": scope.scripts.pause,
            "resume": scope.scripts.resume,
            "abort": lambda: scope.scripts.abort(wait=True, timeout=args.timeout),
        }[args.script_command]
        status = action()
    print(json.dumps(status.raw, indent=2) if args.json else format_script_status(status))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``run`` and ``script`` to the ``magscope-app`` parser."""
    p = sub.add_parser(
        "run",
        parents=[common],
        help="run an experiment script (a file with main(scope, **params)) in the daemon",
        epilog="exit status: "
        + ", ".join(f"{code} {name.replace('_', ' ')}" for name, code in EXIT_STATUS.items()),
    )
    p.add_argument("script", metavar="SCRIPT.py", help="the script file")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of main (VALUE read as JSON when it is JSON); repeatable",
    )
    p.add_argument(
        "--simulate", action="store_true", help="start a simulated daemon when none runs"
    )
    p.add_argument("--config", type=Path, help="with --simulate: the daemon's config file")
    p.set_defaults(func=_cmd_run)

    script = sub.add_parser(
        "script", parents=[common], help="status, pause, resume or abort the running script"
    )
    actions = script.add_subparsers(dest="script_command", required=True, metavar="ACTION")
    for name, text in (
        ("status", "show the running (or last) script"),
        ("pause", "hold the script at its next call to the daemon"),
        ("resume", "let the paused script go on"),
        ("abort", "abort it: motors stopped, sweep cancelled, its recording ended"),
    ):
        p = actions.add_parser(name, parents=[common], help=text)
        if name == "abort":
            p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")
        p.set_defaults(func=_cmd_script)
