"""One simulated daemon per test module (starting one costs seconds), and helpers to run
scripts in it.

The microscope is small (256×256 px at 50 frames/s, 5 beads, one stuck) with a focus stage, a
magnet height (4 mm/s, so a move can be caught half-way) and a magnet rotation. Scripts are
written to the test's ``tmp_path``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from _daemon_process import DaemonProcess, daemon_folders, run_instance, wait_for

import magscope_app

CONFIG = """
[camera]
driver = "simulated.camera"
width = 256
height = 256
bits = 12
frame_rate = 50.0

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]    # mm; homes to 20 mm
speed = 4.0             # mm/s

[motors.magnet_rotation]
driver = "simulated.magnet_rotation"
limits = [-100.0, 100.0]
speed = 20.0            # turns/s

[simulation]
n_beads = 4
n_reference_beads = 1
seed = 1

[daemon]
video_stacks = 32
images_per_stack = 2
"""


@pytest.fixture(scope="module")
def scripts_env(tmp_path_factory):
    """Runtime and state folders for the module's daemon."""
    state = tmp_path_factory.mktemp("state")
    with daemon_folders(state) as runtime:
        yield {"runtime": runtime, "state": state, "tmp": tmp_path_factory.mktemp("scripts")}


@pytest.fixture(scope="module")
def sim(scripts_env):
    """A running daemon: ``{"instance", "daemon", "config"}`` (instance names are this test
    run's, so the suite's shared-memory leak check watches them)."""
    instance = run_instance("scripts")
    config = scripts_env["tmp"] / "scripts.toml"
    config.write_text(CONFIG)
    daemon = DaemonProcess(instance, scripts_env["tmp"], "--config", str(config))
    try:
        daemon.wait_ready()
        with magscope_app.connect(instance, timeout=30) as scope:
            wait_for(lambda: all(m.time is not None for m in scope.status().motors.values()))
        yield {"instance": instance, "daemon": daemon, "config": config}
    finally:
        daemon.stop()


@pytest.fixture
def scope(sim):
    with magscope_app.connect(sim["instance"], timeout=30) as s:
        yield s
    # every test leaves the daemon without a running script
    with magscope_app.connect(sim["instance"], timeout=30) as s:
        status = s.scripts.status()
        if not status.done and status.id is not None:
            s.scripts.abort(wait=True)


@pytest.fixture
def write_script(tmp_path):
    """``write_script(source, name="script.py") -> Path``: a script file in ``tmp_path``."""

    def write(source: str, name: str = "script.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        return path

    return write


def outputs(events, stream: str = "stdout") -> list[str]:
    """The output lines of ``stream`` among collected ``script`` events."""
    return [e.payload["output"] for e in events if e.payload.get("stream") == stream]
