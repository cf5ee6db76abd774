"""Shared helpers of the motor tests: a config with a magnet-height motor, waiting, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _daemon_process import wait_for  # re-exported for the motor tests

from magscope_app.buffers import MatrixBuffer
from magscope_app.control import Client

MAGNET_HEIGHT = """
[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]    # mm; homes to 20 mm
speed = 2.0             # mm/s
"""


def config_with_magnets(small_sim_config: Path, tmp_path: Path, extra: str = MAGNET_HEIGHT) -> Path:
    """The small simulated microscope (focus stage) plus ``extra`` TOML (a magnet height)."""
    text = small_sim_config.read_text().replace("[simulation]", extra + "\n[simulation]")
    path = tmp_path / "motors.toml"
    path.write_text(text)
    return path


def worker(status: dict, name: str) -> dict:
    (found,) = [w for w in status["workers"] if w["name"] == name]
    return found


def wait_motors_running(client: Client, *motors: str) -> dict:
    """Wait until every ``motor:<name>`` worker runs and has published telemetry."""

    def ready() -> dict | None:
        status = client.status()
        for motor in motors:
            if worker(status, f"motor:{motor}")["state"] != "running":
                return None
            if status["motors"][motor]["time"] is None:
                return None
        return status

    return wait_for(ready)


def wait_stopped(client: Client, motor: str, after: float, timeout: float = 20.0) -> dict:
    """Latest telemetry of ``motor`` once a row newer than ``after`` (s since the epoch) says it
    stopped."""
    return wait_for(
        lambda: (
            (s := client.call("motor_state", motor=motor))["time"] > after and not s["moving"] and s
        ),
        timeout,
    )


def attach_telemetry(instance: str, motor: str) -> MatrixBuffer:
    """A read-only (peek) handle on the telemetry buffer of ``motor``."""
    return MatrixBuffer(create=False, locks=None, instance=instance, name=f"Motor_{motor}")


def cli(instance: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magscope_app", *args, "--instance", instance],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
