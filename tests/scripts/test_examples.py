"""Each example of scripts/experiments/ end to end against the simulated microscope, shortened by
its parameters: the Z-LUT sweep and recording first (the others need its LUTs), then the
force–extension ramp, the hat curve and the constant-force run that pauses itself when a bead
is lost."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import wait_for

from magscope_app.recording import open_recording

from .conftest import outputs

pytestmark = pytest.mark.timeout(180)

EXAMPLES = Path(__file__).resolve().parents[2] / "scripts" / "experiments"


def run_example(scope, name: str, **params):
    run = scope.scripts.start(EXAMPLES / name, params)
    events: list = []
    final = run.wait(150, on_event=events.append)
    assert final.state == "completed", (final, outputs(events, "stderr"), final.traceback)
    return final, outputs(events)


def table(lines: list[str], header: str) -> list[list[float]]:
    """The rows of numbers printed after ``header``."""
    start = lines.index(header) + 1
    return [[float(v) for v in line.split()] for line in lines[start:]]


@pytest.fixture(scope="module")
def calibrated(sim, tmp_path_factory):
    """zlut_then_record.py run once: beads found, LUTs in use (and its output)."""
    import magscope_app

    folder = tmp_path_factory.mktemp("zlut_then_record")
    with magscope_app.connect(sim["instance"], timeout=30) as scope:
        final, lines = run_example(
            scope, "zlut_then_record.py", folder=str(folder), seconds=1.0,
            start=-600.0, stop=600.0, step=100.0, per_plane=5,
        )  # fmt: skip
        scope.beads.classify(seconds=2.0)
    return {"folder": folder, "lines": lines, "final": final}


def test_zlut_then_record(calibrated, scope):
    lines, folder = calibrated["lines"], calibrated["folder"]
    assert re.fullmatch(r"found and added \d+ beads", lines[0])
    assert any(line.startswith("Z-LUT sweep complete") for line in lines)
    assert (folder / "zlut.h5").is_file()
    with open_recording(folder / "after-zlut.h5") as rec:
        assert rec.stop_reason == "completed"
        z = rec.tracks()["z_nm"]
        assert len(z) > 0 and np.isfinite(z).mean() > 0.9  # tracked in z with the new LUTs
    assert scope.status().motors["magnet_height"].position == pytest.approx(1.0, abs=0.01)


def test_force_extension_ramp(calibrated, scope, tmp_path):
    _, lines = run_example(
        scope, "force_extension_ramp.py", folder=str(tmp_path), heights=[4.0, 1.0],
        seconds=1.5, settle=0.5,
    )  # fmt: skip
    rows = table(lines, "height_mm  mean_extension_nm  beads")
    assert [r[0] for r in rows] == [4.0, 1.0]
    assert all(r[2] >= 2 for r in rows)  # tethered beads measured
    assert rows[1][1] > rows[0][1] + 50  # more force (~15 pN vs ~0.7 pN), longer tether (~130 nm)
    for step, height in enumerate([4, 1]):
        with open_recording(tmp_path / f"fe-{step:02d}-{height}mm.h5") as rec:
            assert rec.stop_reason == "completed" and len(rec.track_rows()) > 0


def test_rotation_extension(calibrated, scope, tmp_path):
    _, lines = run_example(
        scope, "rotation_extension.py", height=3.0, turns=[0, 6, -6], seconds=1.0, settle=0.3,
        folder=str(tmp_path),
    )  # fmt: skip
    rows = table(lines, "turns  mean_z_nm  beads")
    assert [r[0] for r in rows] == [0, 6, -6] and all(np.isfinite(r[1]) for r in rows)
    assert scope.rotation.position == pytest.approx(0.0, abs=0.01)  # back where it started
    with open_recording(tmp_path / "hat.h5") as rec:
        turns = rec.motor("magnet_rotation")["position"]
        assert turns.max() == pytest.approx(6.0, abs=0.01)
        assert turns.min() == pytest.approx(-6.0, abs=0.01)


def test_constant_force_pauses_itself_when_beads_are_lost(calibrated, scope, tmp_path):
    bead = scope.beads.list()[0]
    run = scope.scripts.start(
        EXAMPLES / "constant_force.py",
        {"folder": str(tmp_path), "height": 1.5, "seconds": 6.0, "check_every": 1.0,
         "max_lost": 0.1},
    )  # fmt: skip
    wait_for(lambda: any(line.startswith("recording") for line in run.status().output_tail))
    scope.beads.move(bead["id"], 110.0, 225.0)  # its ROI on an empty spot: the bead is lost
    status = wait_for(lambda: (s := run.status()).state == "paused" and s, timeout=60)
    assert any(f"beads lost: [{bead['id']}]" in line for line in status.output_tail)
    assert scope.call("record_status")["running"]  # the recording goes on meanwhile
    scope.beads.move(bead["id"], bead["x"], bead["y"])  # the operator fixes it
    scope.scripts.resume()
    final = run.wait(60)
    assert final.state == "completed", final.traceback
    assert "resumed" in final.output_tail
    with open_recording(tmp_path / "constant-force.h5") as rec:
        assert rec.stop_reason == "completed"
        log = [text for _, _, _, text in rec.log()]
    assert any("paused" in text for text in log) and any("beads lost" in text for text in log)
