"""Generate docs/commands.md, the reference page of every control command and event.

    python scripts/gen_docs.py           # rewrite docs/commands.md
    python scripts/gen_docs.py --check   # exit status 1 if the page is out of date

Everything comes from the code: the commands, their arguments (kind, unit, range, default) and
help from the daemon's CommandTable (built for the default simulated microscope, without
starting anything); the protocol version, error codes and event topics from
``magscope_app.control.protocol``; the errors a command can answer beyond argument validation
from the ``CommandError(...)`` raised in its handler and in the handler's own helper methods
(read from their source). ``tests/core/test_docs.py`` fails when the committed page differs.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[1] / "docs" / "commands.md"
#: Units read from a parameter's name when it declares none.
SUFFIX_UNITS = {"_nm": "nm", "_px": "px", "_mm": "mm", "_s": "s", "_ms": "ms", "_hz": "Hz"}
ERROR_CODES = {
    "unauthorized": "missing or wrong token (any command)",
    "bad_request": "not JSON, not an object, a line too long, or `args` not an object",
    "unknown_command": "no command of that name",
    "invalid_argument": "an argument of the wrong type, out of range, not among the choices, "
    "unknown or missing (nothing is changed)",
    "failed": "the command was valid but could not be carried out (the message says why)",
}


def command_table() -> Any:
    """The CommandTable of a daemon with the default config (folders in a temporary place)."""
    from magscope_app.config import load_daemon_config
    from magscope_app.manager import Daemon

    saved = {k: os.environ.get(k) for k in ("MAGSCOPE_APP_RUNTIME_DIR", "MAGSCOPE_APP_STATE_DIR")}
    with tempfile.TemporaryDirectory(prefix="msa-docs-") as tmp:
        os.environ.update(dict.fromkeys(saved, tmp))
        try:
            return Daemon("docs", load_daemon_config(None)).command_table()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def raised_errors(handler: Any, depth: int = 2) -> list[tuple[str, str]]:
    """(code, message template) of every ``CommandError(code, message)`` in ``handler``'s source
    and, ``depth`` levels down, in the methods of the same object it calls (``self.x(...)``)."""
    owner = getattr(handler, "__self__", None)
    function = getattr(handler, "__func__", handler)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return []
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name == "CommandError" and node.args and isinstance(node.args[0], ast.Constant):
            message = _template(node.args[1]) if len(node.args) > 1 else ""
            found.append((str(node.args[0].value), message))
        elif (
            depth > 0
            and owner is not None
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self"
        ):
            method = getattr(owner, node.func.attr, None)
            if inspect.ismethod(method):
                found += raised_errors(method, depth - 1)
    return list(dict.fromkeys(found))


def _template(node: ast.AST) -> str:
    """The text of a message argument; f-string expressions become ``{expression}``."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                assert isinstance(value, ast.FormattedValue)
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    return "{" + ast.unparse(node) + "}"


def _unit(param: Any) -> str:
    """The declared unit, else one read from the name (``settle_s``) or the help ("…, nm")."""
    if param.unit:
        return param.unit
    for suffix, unit in SUFFIX_UNITS.items():
        if param.name.endswith(suffix):
            return unit
    if "motor's unit" in param.help:
        return "motor's unit"
    found = re.search(r",\s*(nm|mm|px|s|ms|turns|pN|Hz)\b", param.help)
    return found.group(1) if found else ""


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _allowed(param: Any) -> str:
    if param.choices is not None:
        return ", ".join(f"`{c}`" for c in param.choices)
    bounds = []
    if param.minimum is not None:
        bounds.append(f"≥ {param.minimum:g}")
    if param.maximum is not None:
        bounds.append(f"≤ {param.maximum:g}")
    return ", ".join(bounds)


def render() -> str:
    """The whole page as Markdown."""
    from magscope_app.control import protocol

    table = command_table()
    version = getattr(protocol, "PROTOCOL_VERSION", None)
    topics: dict[str, str] = getattr(protocol, "TOPICS", None) or {}
    out = [
        "# Control commands and events",
        "",
        "<!-- Generated by scripts/gen_docs.py from the code; do not edit by hand. -->",
        "",
        f"Protocol version: **{version if version is not None else 'not versioned yet'}**. "
        "Requests and replies are JSON lines on the daemon's socket (see "
        "`magscope_app/control/protocol.py`):",
        "",
        '    {"id": 7, "token": "…", "command": "move", '
        '"args": {"motor": "focus", "position": 250.0}}',
        '    {"id": 7, "ok": true, "result": {…}}',
        '    {"id": 7, "ok": false, "error": {"code": "invalid_argument", "message": "…"}}',
        "",
        "## Error codes",
        "",
        *(f"- `{code}`: {text}" for code, text in ERROR_CODES.items()),
        "",
        "Every command validates its arguments first (kind, range, choices, unknown or missing "
        "arguments: `invalid_argument`, nothing changed). The errors listed under a command are "
        "those its handler raises itself; any command can also answer `failed` when a worker it "
        "needs is not running, does not answer in time, or refuses (the worker's text).",
        "",
        "## Commands",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    commands = table.commands()
    out += [f"| [`{c.name}`](#{c.name}) | {_cell(c.help)} |" for c in commands]
    for command in commands:
        out += ["", f"### {command.name}", "", _cell(command.help) or "(no description)", ""]
        if command.params:
            out += [
                "| argument | kind | unit | required | default | allowed | description |",
                "|---|---|---|---|---|---|---|",
            ]
            for p in command.params:
                default = "" if p.required or p.default is None else f"`{p.default!r}`"
                out.append(
                    f"| `{p.name}` | {p.kind} | {_cell(_unit(p))} | "
                    f"{'yes' if p.required else 'no'} | {_cell(default)} | "
                    f"{_cell(_allowed(p))} | {_cell(p.help)} |"
                )
        else:
            out.append("No arguments.")
        errors = raised_errors(command.handler)
        if errors:
            out += ["", "Errors:", ""]
            out += [f"- `{code}`: {_cell(message)}" for code, message in errors]
    out += [
        "",
        "## Events",
        "",
        "After `subscribe {topics}` the daemon pushes event lines "
        '`{"event": topic, "time": s, "payload": {…}}` on that connection.',
        "",
    ]
    if topics:
        out += ["| topic | payload |", "|---|---|"]
        out += [f"| `{t}` | {_cell(text)} |" for t, text in topics.items()]
    else:
        out.append("(no event topics are declared yet: `control.protocol.TOPICS`)")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the page is current")
    args = parser.parse_args(argv)
    page = render()
    if args.check:
        current = PAGE.read_text() if PAGE.exists() else ""
        if current != page:
            print(f"{PAGE} is out of date: run python scripts/gen_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
