"""The scripts panel: parameters read from the script, run, pause, resume, abort against a real
simulated daemon with the typed client (pushed ``script`` events), output and state shown."""

from __future__ import annotations

import textwrap

import pytest
from magscope_app.gui._scripts_panel import main_parameters, parse_parameters
from PyQt6.QtCore import Qt

import magscope_app
from magscope_app.control import connect

SCRIPT = textwrap.dedent(
    """
    import time

    def main(scope, label, steps=400, delay=0.05, *, extra=None):
        print(f"hello {label}", flush=True)
        for i in range(steps):
            scope.scripts.progress(i / steps, f"step {i}")
            time.sleep(delay)
        print("done")
    """
)
LEFT = Qt.MouseButton.LeftButton
FAILING = "def main(scope):\n    print('about to fail')\n    raise RuntimeError('bad sample')\n"


def test_main_parameters_and_their_defaults():
    assert main_parameters(SCRIPT) == {"label": "", "steps": "400", "delay": "0.05",
                                       "extra": "null"}  # fmt: skip
    source = "def main(scope, heights=(6.0, 4.0), name='x', when=time.time()):\n    pass\n"
    assert main_parameters(source) == {"heights": "[6.0, 4.0]", "name": '"x"',
                                       "when": "time.time()"}  # fmt: skip
    assert main_parameters("x = 1\n") == {}
    with pytest.raises(SyntaxError):
        main_parameters("def main(:\n")


def test_parameters_parse_as_json_else_text():
    rows = [("a", "3"), ("b", "[1, 2]"), ("c", "some text"), ("d", '"5"'), ("", "x"), ("e", "")]
    assert parse_parameters(rows) == {"a": 3, "b": [1, 2], "c": "some text", "d": "5"}
    with pytest.raises(ValueError, match="'not a name' is not a Python name"):
        parse_parameters([("not a name", "1")])


def _progress(panel) -> int:
    return panel.progress.value()


def test_script_run_paused_resumed_and_aborted_from_the_panel(
    sim_daemon, make_window, qtbot, tmp_path
):
    script = tmp_path / "slow.py"
    script.write_text(SCRIPT)
    window = make_window(sim_daemon.instance, connect=magscope_app.connect)
    assert window.events.subscribed
    panel = window.scripts_panel
    window.docks["Scripts"].raise_()
    panel.open_script(str(script))
    assert [key for key, _ in panel.parameter_rows()] == ["label", "steps", "delay", "extra"]
    panel.params.item(0, 1).setText("from the gui")
    qtbot.mouseClick(panel.run_button, LEFT)
    qtbot.waitUntil(lambda: "hello from the gui" in panel.output.toPlainText(), timeout=30_000)
    qtbot.waitUntil(lambda: _progress(panel) > 0, timeout=10_000)
    assert "running" in panel.state.text()
    assert not panel.run_button.isEnabled()

    qtbot.mouseClick(panel.pause_button, LEFT)
    qtbot.waitUntil(lambda: panel.script.get("state") == "paused", timeout=10_000)
    assert "paused" in panel.state.text() and panel.resume_button.isEnabled()
    qtbot.waitUntil(lambda: "paused" in window.script_state.text(), timeout=5_000)
    held = _progress(panel)
    qtbot.wait(600)
    assert _progress(panel) == held, "the script went on while paused"

    qtbot.mouseClick(panel.resume_button, LEFT)
    qtbot.waitUntil(lambda: _progress(panel) > held, timeout=10_000)
    assert panel.script.get("state") == "running"

    qtbot.mouseClick(panel.abort_button, LEFT)
    qtbot.waitUntil(lambda: panel.script.get("state") in ("aborted", "killed"), timeout=15_000)
    assert panel.run_button.isEnabled() and not panel.abort_button.isEnabled()
    qtbot.waitUntil(lambda: "aborted" in window.script_state.text(), timeout=5_000)
    with connect(sim_daemon.instance) as client:
        assert client.call("script_status")["state"] == "aborted"
    assert "done" not in panel.output.toPlainText()

    # the daemon is ready for the next script; a failure shows its traceback
    failing = tmp_path / "failing.py"
    failing.write_text(FAILING)
    panel.open_script(str(failing))
    assert panel.parameter_rows() == []
    qtbot.mouseClick(panel.run_button, LEFT)
    qtbot.waitUntil(lambda: panel.script.get("state") == "failed", timeout=30_000)
    qtbot.waitUntil(lambda: "RuntimeError: bad sample" in panel.output.toPlainText(),
                    timeout=5_000)  # fmt: skip
    qtbot.waitUntil(lambda: "about to fail" in panel.output.toPlainText(), timeout=5_000)
    assert panel.output.toPlainText().count("RuntimeError: bad sample") == 1
    assert "failed" in panel.state.text()


def test_bad_parameters_and_a_missing_file_are_refused(sim_daemon, make_window, qtbot, tmp_path):
    window = make_window(sim_daemon.instance)
    panel = window.scripts_panel
    panel.run()
    assert "open a script first" in panel.message.text()
    panel.path.setText(str(tmp_path / "missing.py"))
    panel.run()
    qtbot.waitUntil(lambda: "missing.py" in panel.message.text() and "color" in
                    panel.message.text(), timeout=10_000)  # fmt: skip
    panel.add_parameter("bad key", "1")
    panel.run()
    assert "'bad key' is not a Python name" in panel.message.text()
    # without pushed events (this client polls), the output and traceback come from the status
    assert not window.events.subscribed
    failing = tmp_path / "failing.py"
    failing.write_text(FAILING)
    panel.open_script(str(failing))
    panel.run()
    qtbot.waitUntil(lambda: panel.script.get("state") == "failed", timeout=30_000)
    qtbot.waitUntil(lambda: "about to fail" in panel.output.toPlainText(), timeout=10_000)
    assert panel.output.toPlainText().count("RuntimeError: bad sample") == 1
