"""Bead finding and stuck/tethered classification through the real daemon (20 simulated beads,
6 of them stuck), checked against the simulator's ground truth (``sim_truth``), and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import wait_for

from magscope_app.control import CommandError, connect

pytestmark = pytest.mark.timeout(240)

CONFIG = Path(__file__).with_name("bead_sim.toml")
ROI = 64


def _cli(instance: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "magscope_app", "beads", *args, "--instance", instance],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _nearest(x: float, y: float, truth: dict) -> tuple[int, float]:
    d = np.hypot(np.asarray(truth["x_px"]) - x, np.asarray(truth["y_px"]) - y)
    return int(d.argmin()), float(d.min())


def _check_against_truth(client, result: dict) -> None:
    """Recall and precision ≥ 98 % (beads with their ROI inside), error < 1 px."""
    truth = client.call("sim_truth", frame=result["frames"][0])
    found = result["candidates"] + [
        c for c in result["rejected"] if c["reason"] in ("overlaps candidate", "roi_outside_frame")
    ]
    matches = [_nearest(c["x"], c["y"], truth) for c in found]
    assert all(d < 1.0 for _, d in matches), matches
    matched = {i for i, _ in matches}
    size = 768
    inside = [
        i
        for i, (x, y) in enumerate(zip(truth["x_px"], truth["y_px"], strict=True))
        if ROI / 2 < x < size - 1 - ROI / 2 and ROI / 2 < y < size - 1 - ROI / 2
    ]
    assert len(set(inside) & matched) >= 0.98 * len(inside)


def test_find_add_classify_through_the_daemon_and_cli(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(CONFIG))
    daemon.wait_ready(timeout=120)
    with connect(instance_name, timeout=60) as client:
        wait_for(lambda: client.status()["tracking"]["workers_running"] == 2, timeout=120)
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > 10, timeout=120)
        with pytest.raises(CommandError, match="no beads"):
            client.call("classify_beads")
        with pytest.raises(CommandError, match="frames"):
            client.call("find_beads", frames=0)

        for focus in (600.0, 1600.0):  # in focus, and 1 µm away
            client.call("move", motor="focus", position=focus)
            wait_for(lambda f=focus: abs(client.call("sim_truth")["focus_nm"] - f) < 1e-6)
            result = client.call("find_beads", frames=1)
            assert "ids" not in result and client.call("beads")["beads"] == []
            _check_against_truth(client, result)

        added = client.call("find_beads", add=True, frames=3)
        assert len(added["frames"]) == 3
        ids = added["ids"]
        assert len(ids) == len(added["candidates"]) >= 12
        listed = client.call("beads")["beads"]
        assert [b["id"] for b in listed] == ids
        assert {b["kind"] for b in listed} == {"unknown"}
        # searching again finds the same beads, now already tracked: nothing is added
        again = client.call("find_beads", add=True)
        assert again["ids"] == [] and again["candidates"] == []
        assert sum(c["reason"].startswith("overlaps bead ") for c in again["rejected"]) >= len(ids)

        time.sleep(5.5)  # 5 s of tracks
        report = client.call("classify_beads", seconds=5.0)
        truth = client.call("sim_truth")
        listed = client.call("beads")["beads"]
        correct = 0
        for bead in listed:
            index, distance = _nearest(bead["x"], bead["y"], truth)
            assert distance < 40.0  # tethered beads wander; the beads are ≥ 90 px apart
            correct += bead["kind"] == ("stuck" if truth["is_reference"][index] else "tethered")
        assert correct >= 0.95 * len(listed)
        assert sorted(report["stuck"] + report["tethered"]) == ids
        assert len(report["stuck"]) >= 3  # 6 beads are stuck; some ROIs may overlap

        text = _cli(instance_name, "classify", "2")
        assert "stuck" in text and "tethered" in text
        assert "stuck" in _cli(instance_name, "list")
        found = json.loads(_cli(instance_name, "find", "--max", "2", "--json"))
        assert found["candidates"] == []  # every bead is tracked already
        client.call("clear_beads")
        found = json.loads(_cli(instance_name, "find", "--max", "2", "--add", "--json"))
        assert len(found["ids"]) == 2
        assert sum(c["reason"] == "beyond max 2" for c in found["rejected"]) >= 10
