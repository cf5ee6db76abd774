"""One owner per state: acquisition belongs to the camera service (named holds), the bead ROI
set to the tracking service (named freezes); both are visible in status, and a user's pause or
resume that another hold overrides gets an answer saying so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from _daemon_process import wait_for

from magscope_app.config import load_daemon_config
from magscope_app.control import CommandError, connect
from magscope_app.services.base import DaemonContext
from magscope_app.services.camera import CameraService

SMALL = Path(__file__).parents[1] / "small_sim.toml"


def _camera(start_paused: bool = False) -> CameraService:
    config = load_daemon_config(SMALL, start_paused=start_paused)
    return CameraService(DaemonContext("unit", config))


def test_acquisition_runs_when_no_hold_is_left_or_one_keeps_it_running():
    camera = _camera()
    assert camera.acquiring and camera.holds == []
    camera.hold("script pause", "script")
    camera.hold("user", "user")
    assert not camera.acquiring
    camera.release("user")
    assert not camera.acquiring  # the script's hold is still there
    camera.hold("zlut sweep", "zlut", keep="running")
    assert camera.acquiring  # a sweep needs frames, whoever else holds
    camera.release("zlut sweep")
    camera.release("script pause")
    assert camera.acquiring and camera.holds == []
    assert camera.release("never held") is False
    with pytest.raises(ValueError, match="'paused' or 'running'"):
        camera.hold("odd", "test", keep="sideways")  # type: ignore[arg-type]
    assert _camera(start_paused=True).holds[0].name == "user"


def test_a_user_resume_under_another_hold_is_answered_plainly():
    camera = _camera()
    camera.hold("script pause", "script")
    reply = asyncio.run(camera._resume())
    assert reply["acquiring"] is False
    assert reply["message"] == "acquisition stays paused: held by 'script pause' (script)"
    assert reply["holds"] == [{"name": "script pause", "owner": "script", "keeps": "paused"}]


def test_pause_and_resume_during_a_sweep(start_daemon, instance_name):
    start_daemon(instance_name, "--config", str(SMALL)).wait_ready()
    with connect(instance_name, timeout=30) as client:
        wait_for(lambda: client.status()["tracking"]["workers_running"] == 2)
        assert client.status()["camera"]["holds"] == []  # the start-up hold is gone
        client.call("add_beads", rois=[[60.0, 60.0], [180.0, 180.0]])
        client.call("zlut_sweep", start=-2000.0, stop=2000.0, step=100.0, per_plane=20)
        wait_for(lambda: client.call("zlut_status")["plane"] >= 1)
        status = client.status()
        assert {"name": "zlut sweep", "owner": "zlut", "keeps": "running"} in status["camera"][
            "holds"
        ]
        assert status["tracking"]["frozen"] == [{"name": "zlut sweep", "owner": "zlut"}]
        with pytest.raises(CommandError, match=r"frozen by 'zlut sweep' \(zlut\)"):
            client.call("add_beads", rois=[[100.0, 100.0]])

        paused = client.call("pause")
        assert paused["acquiring"] is True
        assert "keeps running while held by 'zlut sweep' (zlut)" in paused["message"]
        client.call("zlut_cancel")
        status = client.status()
        assert status["acquiring"] is False  # the user's pause takes effect after the sweep
        assert status["camera"]["holds"] == [{"name": "user", "owner": "user", "keeps": "paused"}]
        assert status["tracking"]["frozen"] == []
        resumed = client.call("resume")
        assert resumed["acquiring"] is True and "message" not in resumed
        assert client.call("holds") == {"acquiring": True, "holds": []}


def test_simulator_commands_come_from_the_driver(start_daemon, instance_name, tmp_path):
    config = tmp_path / "pattern.toml"
    config.write_text(
        '[camera]\ndriver = "simulated.test_pattern"\nwidth = 64\nheight = 64\n'
        "frame_rate = 20.0\n[tracking]\nworkers = 0\npixel_size_nm = 100.0\n"
    )
    start_daemon(instance_name, "--config", str(SMALL)).wait_ready()
    other = instance_name + "p"
    start_daemon(other, "--config", str(config)).wait_ready()
    with connect(instance_name, timeout=30) as client, connect(other) as plain:
        (truth_help,) = [c for c in client.call("help") if c["name"] == "sim_truth"]
        assert [p["name"] for p in truth_help["params"]] == ["frame"]
        assert "sim_truth" not in [c["name"] for c in plain.call("help")]
        wait_for(lambda: client.status()["camera"]["latest_frame"] > 5)
        truth = client.call("sim_truth")
        newest = truth["frame"]
        assert len(truth["x_px"]) == 6 + 1 and truth["focus_nm"] is not None
        assert client.call("sim_truth", frame=newest - 2)["frame"] == newest - 2
        with pytest.raises(CommandError, match="not among the newest"):
            client.call("sim_truth", frame=newest + 10_000)
