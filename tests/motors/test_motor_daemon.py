"""Motors through the real daemon: telemetry, moves, limits, settings, stop, home, CLI, restart."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from magscope_app.buffers.layouts import MOTOR_COLUMNS
from magscope_app.control import CommandError, connect

from ._helpers import (
    attach_telemetry,
    cli,
    config_with_magnets,
    wait_for,
    wait_motors_running,
    wait_stopped,
    worker,
)

pytestmark = pytest.mark.timeout(120)

TIME, POSITION, TARGET, MOVING = range(len(MOTOR_COLUMNS))


@pytest.fixture
def motor_daemon(start_daemon, instance_name, small_sim_config, tmp_path):
    """A running daemon with a focus stage and a magnet height (at home, 20 mm)."""
    daemon = start_daemon(
        instance_name, "--config", str(config_with_magnets(small_sim_config, tmp_path))
    )
    daemon.wait_ready()
    with connect(instance_name) as client:
        status = wait_motors_running(client, "focus", "magnet_height")
    daemon.worker_pids |= {w["pid"] for w in status["workers"] if w["pid"]}
    return daemon


def test_telemetry_rate_and_a_move_reaching_its_target(motor_daemon, instance_name):
    telemetry = attach_telemetry(instance_name, "magnet_height")
    try:
        assert telemetry.shape[1] == len(MOTOR_COLUMNS)
        with connect(instance_name) as client:
            accepted = client.call("move", motor="magnet_height", position=14.0)  # 3 s at 2 mm/s
            assert accepted["target"] == 14.0 and accepted["unit"] == "mm"
            time.sleep(2.5)
            rows = telemetry.peek_sorted()
            during = rows[rows[:, TIME] >= accepted["time"]]
            assert len(during) >= 10, during
            # Rate from the rows' own timestamps, so a loaded machine cannot fake a pass/fail.
            rate = (len(during) - 1) / (during[-1, TIME] - during[0, TIME])
            assert rate >= 20.0, f"telemetry at {rate:.1f} Hz while moving"
            assert np.all(np.diff(during[:, TIME]) > 0)
            assert np.all(during[:, TARGET] == 14.0)
            assert during[:, MOVING].any()
            assert np.all(np.diff(during[:, POSITION]) <= 0)  # heading down from 20 mm
            final = wait_stopped(client, "magnet_height", accepted["time"])
            assert final["position"] == pytest.approx(14.0)
            assert final["target"] == 14.0 and final["unit"] == "mm"
            status = client.status()["motors"]
            assert status["magnet_height"]["position"] == pytest.approx(14.0)
            assert status["focus"]["unit"] == "nm" and status["focus"]["error"] is None
            names = [b["name"] for b in client.describe()["buffers"]]
            assert {"Motor_focus", "Motor_magnet_height"} <= set(names)
    finally:
        telemetry.close()


def test_refused_commands_change_nothing(motor_daemon, instance_name):
    with connect(instance_name) as client:
        before = client.call("motor_state", motor="magnet_height")
        with pytest.raises(CommandError) as err:
            client.call("move", motor="magnet_height", position=25.0)
        assert err.value.code == "invalid_argument" and err.value.reason == "limit"
        assert "upper limit 20 mm" in err.value.message
        with pytest.raises(CommandError) as err:
            client.call("move_by", motor="magnet_height", delta=-19.9)  # 0.1 mm < 0.3 mm
        assert "lower limit 0.3 mm" in err.value.message
        with pytest.raises(CommandError) as err:
            client.call("move", motor="magnet", position=1.0)
        assert err.value.code == "invalid_argument"
        assert "'magnet'" in err.value.message and "focus, magnet_height" in err.value.message
        with pytest.raises(CommandError) as err:
            client.call("move", motor="focus", position="high")
        assert err.value.code == "invalid_argument"
        with pytest.raises(CommandError) as err:
            client.call("get_setting", device="laser", name="power")
        assert "camera, focus, magnet_height" in err.value.message
        # Nothing moved: newer telemetry shows the same target, at rest.
        after = wait_for(
            lambda: (
                (s := client.call("motor_state", motor="magnet_height"))["time"]
                > before["time"] + 0.2
                and s
            )
        )
        assert after["target"] == before["target"] == 20.0
        assert after["position"] == pytest.approx(20.0) and not after["moving"]
        assert all(w["restarts"] == 0 for w in client.status()["workers"])


def test_settings_stop_and_home(motor_daemon, instance_name):
    with connect(instance_name) as client:
        assert client.call("set_setting", device="magnet_height", name="speed", value=0.5) == 0.5
        assert client.call("get_setting", device="magnet_height", name="speed") == 0.5
        with pytest.raises(CommandError) as err:
            client.call("set_setting", device="magnet_height", name="speed", value=-1.0)
        assert "minimum" in err.value.message
        with pytest.raises(CommandError) as err:
            client.call("set_setting", device="magnet_height", name="upper_limit", value=30.0)
        assert "read-only" in err.value.message
        with pytest.raises(CommandError) as err:
            client.call("get_setting", device="focus", name="colour")
        assert "no setting 'colour'" in err.value.message
        assert client.call("get_setting", device="camera", name="width") == 256
        with pytest.raises(CommandError) as err:
            client.call("set_setting", device="camera", name="width", value=128)
        assert "fixed while the daemon runs" in err.value.message
        assert client.call("set_setting", device="camera", name="exposure", value=4.0) == 4.0

        devices = {d["name"]: d for d in client.call("devices")["devices"]}
        assert set(devices) == {"camera", "focus", "magnet_height"}
        magnet = devices["magnet_height"]
        assert magnet["kind"] == "linear_motor" and magnet["driver"] == "simulated.magnet_height"
        settings = {s["name"]: s for s in magnet["settings"]}
        assert settings["speed"]["value"] == 0.5 and settings["speed"]["unit"] == "mm/s"
        assert settings["upper_limit"]["value"] == 20.0 and settings["upper_limit"]["read_only"]
        assert {s["name"]: s["value"] for s in devices["camera"]["settings"]}["exposure"] == 4.0

        moving = client.call("move", motor="magnet_height", position=10.0)  # 20 s at 0.5 mm/s
        wait_for(lambda: client.call("motor_state", motor="magnet_height")["position"] < 19.9)
        stopped = client.call("stop_motor", motor="magnet_height")
        assert not stopped["moving"]
        assert 10.0 < stopped["position"] < 19.9
        assert stopped["target"] == pytest.approx(stopped["position"])
        at_rest = wait_stopped(client, "magnet_height", stopped["time"])
        assert at_rest["position"] == pytest.approx(stopped["position"])
        assert moving["time"] < stopped["time"]

        client.call("set_setting", device="magnet_height", name="speed", value=20.0)
        homing = client.call("home", motor="magnet_height")
        assert homing["target"] == 20.0  # home_position of the simulated magnet height
        assert wait_stopped(client, "magnet_height", homing["time"])["position"] == 20.0

        client.call("move", motor="focus", position=1000.0)
        every = client.call("stop_motors")
        assert set(every) == {"focus", "magnet_height"}
        assert not any(state["moving"] for state in every.values())


def test_cli_hardware_and_move(motor_daemon, instance_name):
    listing = cli(instance_name, "hardware")
    assert listing.returncode == 0, listing.stderr
    assert "magnet_height: linear_motor (driver simulated.magnet_height)" in listing.stdout
    assert "upper_limit" in listing.stdout and "20 mm" in listing.stdout
    assert "camera: camera (driver simulated.camera)" in listing.stdout

    as_json = cli(instance_name, "hardware", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert {d["name"] for d in json.loads(as_json.stdout)} == {"camera", "focus", "magnet_height"}

    moved = cli(instance_name, "move", "magnet_height", "19", "--wait")
    assert moved.returncode == 0, moved.stderr
    assert "stopped at 19 mm" in moved.stdout
    relative = cli(instance_name, "move", "magnet_height", "-0.5", "--relative", "--wait")
    assert relative.returncode == 0, relative.stderr
    assert "stopped at 18.5 mm" in relative.stdout

    beyond = cli(instance_name, "move", "magnet_height", "25")
    assert beyond.returncode == 1
    assert "above the upper limit 20 mm" in beyond.stderr
    unknown = cli(instance_name, "move", "magnet", "1")
    assert unknown.returncode == 1 and "unknown motor 'magnet'" in unknown.stderr
    with connect(instance_name) as client:
        assert client.call("motor_state", motor="magnet_height")["target"] == 18.5


def test_killed_motor_worker_is_restarted_and_telemetry_continues(motor_daemon, instance_name):
    telemetry = attach_telemetry(instance_name, "magnet_height")
    try:
        with connect(instance_name) as client:
            client.call("set_setting", device="magnet_height", name="speed", value=20.0)
            done = client.call("move", motor="magnet_height", position=12.0)
            wait_stopped(client, "magnet_height", done["time"])
            old = worker(client.status(), "motor:magnet_height")
            os.kill(old["pid"], signal.SIGKILL)
            killed_at = time.time()
            new = wait_for(
                lambda: (
                    (w := worker(client.status(), "motor:magnet_height"))["restarts"] == 1
                    and w["state"] == "running"
                    and w
                )
            )
            motor_daemon.worker_pids.add(new["pid"])
            assert new["pid"] != old["pid"]
            # Fresh rows from the new worker; the axis is where it was (12 mm).
            wait_for(lambda: telemetry.peek_last(1)[0, TIME] > killed_at + 0.1)
            latest = telemetry.peek_last(1)[0]
            assert latest[POSITION] == pytest.approx(12.0)
            # And it still obeys.
            again = client.call("move", motor="magnet_height", position=13.0)
            assert wait_stopped(client, "magnet_height", again["time"])["position"] == 13.0
            assert worker(client.status(), "camera")["restarts"] == 0
    finally:
        telemetry.close()
