"""A real serial driver through the daemon: a Zaber stage (emulated on a pty) as magnet height."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from magscope_app.control import CommandError, connect

from ._helpers import cli, config_with_magnets, wait_motors_running, wait_stopped

sys.path.insert(0, str(Path(__file__).parents[1] / "hardware"))
from emulators.zaber import ZaberEmulator

pytestmark = pytest.mark.timeout(120)

MICROSTEP_MM = 1e-4  # 0.1 µm per microstep


@pytest.fixture
def emulator(tmp_path):
    """Set up before the daemon, torn down after it (fixture order)."""
    with ZaberEmulator(tmp_path / "zaber", speed=50_000.0) as emu:  # 5 mm/s
        yield emu


def test_zaber_magnet_height_through_the_daemon(
    emulator, start_daemon, instance_name, small_sim_config, tmp_path
):
    zaber = f"""
[motors.magnet_height]
driver = "zaber.linear"
port = "{emulator.path}"
limits = [0.0, 20.0]
microstep_mm = {MICROSTEP_MM}
timeout = 2.0
"""
    daemon = start_daemon(
        instance_name, "--config", str(config_with_magnets(small_sim_config, tmp_path, zaber))
    )
    daemon.wait_ready()
    try:
        with connect(instance_name) as client:
            wait_motors_running(client, "magnet_height")
            moving = client.call("move", motor="magnet_height", position=5.0)  # 1 s at 5 mm/s
            assert moving["target"] == pytest.approx(5.0) and moving["unit"] == "mm"
            assert "move abs 50000" in emulator.commands()
            done = wait_stopped(client, "magnet_height", moving["time"])
            assert done["position"] == pytest.approx(5.0)
            assert emulator.position() == 50000

            emulator.clear()
            with pytest.raises(CommandError) as err:
                client.call("move", motor="magnet_height", position=20.5)
            assert "above the upper limit 20 mm" in err.value.message
            assert not any(c.startswith("move") for c in emulator.commands())

            speed = client.call("set_setting", device="magnet_height", name="speed", value=2.0)
            assert speed == pytest.approx(2.0, rel=1e-3)
            devices = {d["name"]: d for d in client.call("devices")["devices"]}
            assert devices["magnet_height"]["driver"] == "zaber.linear"
            port = [s for s in devices["magnet_height"]["settings"] if s["name"] == "port"]
            assert port[0]["value"] == emulator.path

            # A device rejection is an error reply, not a dead worker.
            emulator.inject("reject", match="move", value="BADDATA")
            with pytest.raises(CommandError) as err:
                client.call("move", motor="magnet_height", position=6.0)
            assert "BADDATA" in err.value.message
            relative = cli(instance_name, "move", "magnet_height", "1", "--relative", "--wait")
            assert relative.returncode == 0, relative.stderr
            assert emulator.position() == 60000
            assert all(w["restarts"] == 0 for w in client.status()["workers"])
    finally:
        daemon.stop()  # release the port while the emulator still serves it
