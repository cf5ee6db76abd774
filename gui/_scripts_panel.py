"""Scripts panel: open an experiment script, set its parameters, run, pause, resume, abort, and
follow its state, progress and output.

The daemon runs the script in its own process (one at a time); this panel only sends
``script_start`` / ``script_pause`` / ``script_resume`` / ``script_abort`` and shows what the
``script`` events (output lines and a failure's traceback, progress, state changes) and
``status['scripts']`` (state, progress; the output tail when the client cannot subscribe) say.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ._bridge import Bridge
from ._events import DaemonEvents

#: States of a script that has not ended yet.
ACTIVE = ("starting", "running", "pausing", "paused", "aborting")
#: Output lines kept in the panel.
MAX_LINES = 5000
_STATE_COLOURS = {"running": "#2a2", "paused": "#c80", "pausing": "#c80", "failed": "#d33",
                  "aborted": "#d33", "killed": "#d33", "aborting": "#d33"}  # fmt: skip


def main_parameters(source: str) -> dict[str, str]:
    """Keyword parameters of ``main(scope, ...)`` in a script's ``source``, in order, each with
    its default as JSON text ("" when it has none, its source text when it is not a literal).
    Empty when the source has no top-level ``main`` (SyntaxError when it does not parse)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            args = node.args
            positional = [*args.posonlyargs, *args.args][1:]  # the first one is the scope
            defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
            pairs = [*zip(positional, defaults + list(args.defaults), strict=False),
                     *zip(args.kwonlyargs, args.kw_defaults, strict=True)]  # fmt: skip
            return {arg.arg: _default_text(default) for arg, default in pairs}
    return {}


def _default_text(node: ast.expr | None) -> str:
    if node is None:
        return ""
    try:
        return json.dumps(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError):  # not a literal, or not JSON (a set, bytes)
        return ast.unparse(node)


def parse_parameters(rows: list[tuple[str, str]]) -> dict[str, Any]:
    """``{key: value}`` from (key, text) rows, as ``magscope-app run --param``: a value is JSON
    when it parses, else the text itself. Rows without a key or a value are left out; a key
    that is not a Python name raises ValueError naming it."""
    params: dict[str, Any] = {}
    for key, text in rows:
        key, text = key.strip(), text.strip()
        if not key or not text:
            continue
        if not key.isidentifier():
            raise ValueError(f"parameter {key!r} is not a Python name")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


class ScriptsPanel(QWidget):
    """Runs one script at a time in the daemon and shows its state, progress and output."""

    def __init__(self, bridge: Bridge, events: DaemonEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bridge, self._events = bridge, events
        self.script: dict[str, Any] = {"state": "idle"}  # status['scripts'] as last seen
        self.path = QLineEdit()
        self.path.setPlaceholderText("script file (.py with main(scope, **params))")
        self.path.editingFinished.connect(lambda: self.open_script(self.path.text()))
        browse = QPushButton("Open…")
        browse.clicked.connect(self._browse)
        files = QHBoxLayout()
        files.addWidget(self.path, 1)
        files.addWidget(browse)
        self.params = QTableWidget(0, 2)
        self.params.setHorizontalHeaderLabels(["parameter", "value (JSON or text)"])
        self.params.verticalHeader().hide()
        self.params.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents
        )
        self.params.horizontalHeader().setStretchLastSection(True)
        self.params.setMaximumHeight(150)
        add, remove = QPushButton("+"), QPushButton("−")
        for button in (add, remove):
            button.setMaximumWidth(30)
        add.setToolTip("Add a parameter")
        remove.setToolTip("Remove the selected parameter")
        add.clicked.connect(lambda: self.add_parameter("", ""))
        remove.clicked.connect(lambda: self.params.removeRow(self.params.currentRow()))
        self.run_button = QPushButton("Run")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.abort_button = QPushButton("Abort")
        self.run_button.clicked.connect(self.run)
        self.pause_button.clicked.connect(lambda: self._command("script_pause"))
        self.resume_button.clicked.connect(lambda: self._command("script_resume"))
        self.abort_button.clicked.connect(lambda: self._command("script_abort"))
        self.pause_button.setToolTip("Hold the script at its next call to the daemon")
        self.abort_button.setToolTip("Stop its motors, sweep and recording; kill it 2 s later")
        buttons = QHBoxLayout()
        for button in (add, remove):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.run_button, self.pause_button, self.resume_button, self.abort_button):
            buttons.addWidget(button)
        self.state = QLabel("no script has run")
        self.state.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("")
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setMaximumBlockCount(MAX_LINES)
        self.output.setFont(QFont("monospace", 9))
        self.output.setPlaceholderText("the script's output appears here")
        layout = QVBoxLayout(self)
        layout.addLayout(files)
        layout.addWidget(self.params)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.state)
        layout.addWidget(self.progress)
        layout.addWidget(self.output, 1)
        self._show_state()
        events.status.connect(self._on_status)
        events.daemon_event.connect(self._on_event)

    # -- script and parameters ---------------------------------------------------------------------
    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Experiment script", self.path.text(),
                                              "Python script (*.py)")  # fmt: skip
        if path:
            self.open_script(path)

    def open_script(self, path: str) -> None:
        """Use the script file ``path``; its ``main`` parameters fill the table (values the
        user typed for parameters of the same name are kept)."""
        self.path.setText(path)
        if not path:
            return
        try:
            found = main_parameters(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError) as exc:
            self._say(f"cannot read {path}: {exc}", error=True)
            return
        typed = dict(self.parameter_rows())
        self.params.setRowCount(0)
        for key, default in found.items():
            self.add_parameter(key, typed.get(key) or default)
        self._say(f"{Path(path).name}: main takes {', '.join(found) or 'no parameters'}")

    def add_parameter(self, key: str, value: str) -> None:
        row = self.params.rowCount()
        self.params.insertRow(row)
        self.params.setItem(row, 0, QTableWidgetItem(key))
        self.params.setItem(row, 1, QTableWidgetItem(value))

    def parameter_rows(self) -> list[tuple[str, str]]:
        def text(row: int, col: int) -> str:
            item = self.params.item(row, col)
            return item.text() if item is not None else ""

        return [(text(r, 0), text(r, 1)) for r in range(self.params.rowCount())]

    # -- commands ----------------------------------------------------------------------------------
    def run(self) -> None:
        """Start the script with the parameters of the table."""
        path = self.path.text().strip()
        if not path:
            self._say("open a script first", error=True)
            return
        try:
            params = parse_parameters(self.parameter_rows())
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self.output.clear()
        self.progress.setValue(0)
        self.progress.setFormat("")
        self._say(f"starting {Path(path).name}…")
        self._bridge.call("script_start", on_result=self._started, on_error=self._refused,
                          path=str(Path(path).absolute()), params=params)  # fmt: skip

    def _command(self, command: str) -> None:
        self._bridge.call(command, on_result=self._on_script, on_error=self._refused)

    def _started(self, result: dict[str, Any]) -> None:
        self._say("")
        if result.get("id") != self.script.get("id"):  # no event of this run has come yet
            self._on_script({"state": "starting", **result})
        self._events.refresh()

    def _refused(self, code: str, message: str) -> None:
        self._say(message, error=True)

    # -- state -------------------------------------------------------------------------------------
    def _on_status(self, status: dict[str, Any]) -> None:
        script = status.get("scripts")
        if isinstance(script, dict):
            self._on_script(script)
            if not self._events.subscribed:  # no output events: show the status' tail
                text = "\n".join(script.get("output_tail", ()))  # (with the traceback)
                if text != self.output.toPlainText():
                    self.output.setPlainText(text)

    def _on_script(self, script: dict[str, Any]) -> None:
        """A ``script_status``-like dict: update the state and progress."""
        if script.get("id") is not None and script.get("id") != self.script.get("id"):
            self.script = {}  # another run
        self.script.update({k: v for k, v in script.items() if v is not None or k == "progress"})
        progress = script.get("progress")
        if progress is not None:
            self._set_progress(float(progress), str(script.get("progress_text") or ""))
        self._show_state()

    def _on_event(self, topic: str, payload: dict[str, Any]) -> None:
        if topic != "script":
            return
        if "output" in payload:
            stream = payload.get("stream", "stdout")
            text = str(payload["output"])
            if stream == "stdout":
                self.output.appendPlainText(text)
            else:  # stderr (warnings) in orange, the traceback of a failure in red
                colour = "#d33" if stream == "traceback" else "#c80"
                self.output.appendHtml(f"<pre style='color:{colour}'>{_escape(text)}</pre>")
        if "progress" in payload:
            self._set_progress(float(payload["progress"]), str(payload.get("text") or ""))
        if "state" in payload:
            self._on_script({k: v for k, v in payload.items() if k not in ("stream", "output")})

    def _set_progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(1000 * min(max(fraction, 0.0), 1.0)))
        self.progress.setFormat(f"{100 * fraction:.0f} %" + (f" — {text}" if text else ""))

    def _show_state(self) -> None:
        state = self.script.get("state", "idle")
        active = state in ACTIVE
        self.run_button.setEnabled(not active)
        self.pause_button.setEnabled(state in ("starting", "running"))
        self.resume_button.setEnabled(state in ("pausing", "paused"))
        self.abort_button.setEnabled(active)
        if state == "idle":
            return
        colour = _STATE_COLOURS.get(state, "")
        text = f"<b style='color:{colour}'>{state}</b>" if colour else f"<b>{state}</b>"
        details = [f"script {self.script.get('id')} {self.script.get('name') or ''}".rstrip()]
        if self.script.get("elapsed_s") is not None:
            details.append(f"{self.script['elapsed_s']:.0f} s")
        if self.script.get("exit_code") is not None and not active:
            details.append(f"exit status {self.script['exit_code']}")
        if self.script.get("error") and not active:
            details.append(_escape(str(self.script["error"])))
        self.state.setText(f"{text} — {', '.join(details)}")

    def summary(self) -> str:
        """One line for the status bar: the script's name, state and progress ('' when idle)."""
        state = self.script.get("state", "idle")
        if state == "idle":
            return ""
        progress = self.script.get("progress")
        percent = f" {100 * progress:.0f} %" if progress is not None and state in ACTIVE else ""
        return f"script {self.script.get('name') or self.script.get('id')}: {state}{percent}"

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(f"<span style='color:#d33'>{_escape(text)}</span>" if error
                           else _escape(text))  # fmt: skip


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
