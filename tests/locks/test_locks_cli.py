"""The lock commands from the CLI and their refusals (small simulated microscope, no LUT)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from _daemon_process import wait_for

from magscope_app.control import CommandError, connect

pytestmark = pytest.mark.timeout(120)


def _cli(instance: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magscope_app", "lock", *args, "--instance", instance],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_lock_cli_and_refusals(start_daemon, instance_name, small_sim_config):
    daemon = start_daemon(instance_name, "--config", str(small_sim_config))
    daemon.wait_ready()
    with connect(instance_name, timeout=30) as client:
        wait_for(lambda: client.status()["tracking"]["workers_running"] >= 1, timeout=60)
        ids = client.call("add_beads", rois=[[64, 64], [160, 128], [100, 200]])["ids"]

        for args, words in [
            ({"ids": [7]}, "no beads with ids [7]"),
            ({"ids": ["a"]}, "must be integers"),
        ]:
            with pytest.raises(CommandError, match=words.replace("[", r"\[").replace("]", r"\]")):
                client.call("set_reference_beads", **args)
        with pytest.raises(CommandError, match="no bead is classified stuck"):
            client.call("reference_beads", auto=True)
        client.call("set_reference_beads", ids=ids[:2])
        with pytest.raises(CommandError, match="kp must be in"):
            client.call("zlock", on=True, kp=0.0)
        assert client.call("locks")["zlock"]["on"] is False  # a refused lock changes nothing

    shown = _cli(instance_name, "refs")
    assert shown.returncode == 0 and f"reference beads {ids[:2]}" in shown.stdout
    assert _cli(instance_name, "refs", "none").returncode == 0
    refused = _cli(instance_name, "z", "on", "--target", "100")
    assert refused.returncode == 1 and "no reference beads" in refused.stderr
    assert _cli(instance_name, "refs", str(ids[2])).returncode == 0
    assert "XY-lock on" in _cli(instance_name, "xy", "on", "--threshold", "2").stdout
    status = json.loads(_cli(instance_name, "status", "--json").stdout)
    assert status["reference"] == [ids[2]]
    assert status["xylock"] == {"on": True, "mode": "roi", "threshold_px": 2.0, "error_nm": None,
                                "moves": status["xylock"]["moves"], "reason": None}  # fmt: skip
    text = _cli(instance_name).stdout
    assert "XY-lock: on" in text and "Z-lock: off" in text
    assert _cli(instance_name, "xy", "maybe").returncode == 2  # bad usage
    with connect(instance_name, timeout=30) as client:
        # The Z-lock pauses while a Z-LUT sweep moves the focus (and freezes the ROIs).
        assert client.call("zlock", on=True)["state"] == "acquiring"  # no LUT: no z yet
        client.call("zlut_sweep", start=-100.0, stop=100.0, step=50.0, per_plane=2)
        wait_for(lambda: client.call("locks")["zlock"]["state"] == "paused", timeout=20)
        assert client.call("locks")["zlock"]["corrections"] == 0
        wait_for(lambda: client.call("zlut_status")["state"] != "running", timeout=60)
        assert client.call("zlock", on=False)["on"] is False
        # removing a reference bead drops it from the references
        client.call("remove_beads", ids=[ids[2]])
        assert client.call("reference_beads")["reference"] == []
