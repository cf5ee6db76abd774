"""One simulated daemon shared by the client tests of a module (starting one costs seconds).

It has a focus stage and a magnet height, small event queues and a short stuck-client deadline
(``[daemon] client_queue_events = 256``, ``client_stuck_s = 2``), tracking workers and beads on
every simulated bead's anchor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _daemon_process import DaemonProcess, daemon_folders, run_instance, wait_for
from magscope_app.hardware.config import create_device

import magscope_app
from magscope_app.config import load_daemon_config

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

[simulation]
n_beads = 4
n_reference_beads = 1
seed = 1

[daemon]
video_stacks = 32
images_per_stack = 2
client_queue_events = 256
client_stuck_s = 2
"""

QUEUE_EVENTS = 256
STUCK_S = 2


@pytest.fixture(scope="module")
def client_env(tmp_path_factory):
    """Runtime and state folders for the module's daemon (and daemons started by connect)."""
    state = tmp_path_factory.mktemp("state")
    with daemon_folders(state) as runtime:
        yield {"runtime": runtime, "state": state, "tmp": tmp_path_factory.mktemp("client")}


def unique_instance() -> str:
    """An instance name the suite's shared-memory leak check recognises as this run's."""
    return run_instance("client")


def write_config(folder: Path) -> Path:
    path = folder / "client.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def sim(client_env):
    """A running daemon with tracked beads: ``{"instance", "daemon", "beads", "config"}``."""
    instance = unique_instance()
    config = write_config(client_env["tmp"])
    daemon = DaemonProcess(instance, client_env["tmp"], "--config", str(config))
    try:
        daemon.wait_ready()
        camera = create_device(load_daemon_config(config).camera, instance=None)
        try:
            layout = camera.bead_layout()
        finally:
            camera.close()
        anchors = np.column_stack([layout["anchor_x_px"], layout["anchor_y_px"]])
        with magscope_app.connect(instance, timeout=30) as scope:
            wait_for(lambda: scope.status()["tracking"]["workers_running"] == 2)
            wait_for(lambda: all(m.time is not None for m in scope.status().motors.values()))
            ids = scope.beads.add(anchors.tolist())
        yield {"instance": instance, "daemon": daemon, "beads": ids, "anchors": anchors}
    finally:
        daemon.stop()


@pytest.fixture
def scope(sim):
    with magscope_app.connect(sim["instance"], timeout=30) as s:
        yield s
