"""XY-lock and live drift correction against the simulated microscope (issue 13 §1, §2).

The simulated sample drifts sideways at 200 nm/s in x and −150 nm/s in y (2 and 1.5 px/s): in
12 s a bead would travel 24 px from the centre of its 64 px ROI. With the XY-lock the ROIs
follow and every bead stays centred and tracked. The reference beads (the stuck ones, from
classification) measure the drift: a tethered bead wrongly made a reference is rejected and
reported; the recording holds ``/drift`` and the reference ids, and the tethered beads' tracks
less the drift (in the file and from ``scope.tracks.latest(corrected=True)``) no longer drift.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _daemon_process import wait_for

from magscope_app import connect
from magscope_app.buffers.layouts import TrackFlags
from magscope_app.recording import open_recording
from magscope_app.recording.checksum import verify

from ._sim import start_with_beads, write_config

pytestmark = pytest.mark.timeout(150)

VX, VY = 200.0, -150.0  # nm/s


def _slope(t: np.ndarray, v: np.ndarray) -> float:
    good = np.isfinite(v)
    return float(np.polyfit(t[good] - t[good][0], v[good], 1)[0])


def test_xylock_follows_and_drift_is_corrected(start_daemon, instance_name, tmp_path):
    config = write_config(
        tmp_path,
        f"drift_velocity_nm_per_s = [{VX}, {VY}, 0.0]\nedge_margin_px = 90.0",
        size=384,
    )
    _daemon, scope, ids, is_reference = start_with_beads(
        start_daemon, instance_name, config, connect
    )
    with scope:
        stuck = [b for b, r in zip(ids, is_reference, strict=True) if r]
        tethered = [b for b, r in zip(ids, is_reference, strict=True) if not r]
        start = {b["id"]: (b["x"], b["y"]) for b in scope.call("beads")["beads"]}
        assert scope.locks.xylock(True)["on"]

        # A tethered bead among the references is rejected, in status and as an event.
        with scope.events("locks", timeout=20) as events:
            scope.locks.set_references([*stuck, tethered[0]])
            for event in events:
                if tethered[0] in event.payload.get("rejected", []):
                    break
            else:
                pytest.fail("no locks event rejected the tethered reference bead")
        status = scope.locks.status()
        assert status["drift"]["rejected"] == [tethered[0]]
        assert status["drift"]["used"] == stuck

        # The suggestion: the beads classified stuck.
        time.sleep(2.5)  # tracks with z (the LUT was just loaded) to classify from
        scope.call("classify_beads", seconds=2.0)
        chosen = scope.locks.references(auto=True)
        assert chosen["reference"] == stuck and chosen["suggested"] == stuck

        record = scope.record(tmp_path, name="drift.h5")
        time.sleep(10.0)
        corrected = scope.tracks.latest(3.0, corrected=True)
        raw = scope.tracks.latest(3.0)
        record.stop()
        wait_for(lambda: not scope.call("record_status")["running"], timeout=20)

        # XY-lock: ROIs followed the drift, every bead centred and tracked cleanly.
        beads = {b["id"]: b for b in scope.call("beads")["beads"]}
        newest = scope.tracks.latest(0.5)
        for bead in ids:
            b = beads[bead]
            moved = (b["x"] - start[bead][0], b["y"] - start[bead][1])
            assert moved[0] > 12 and moved[1] < -9, f"bead {bead}: ROI moved {moved} px"
            rows = newest[newest["bead"] == bead]
            assert len(rows) > 5
            bad = rows["flags"] & int(TrackFlags.AT_EDGE | TrackFlags.FIT_FAILED)
            assert not bad.any(), f"bead {bead} lost"
            offset = np.hypot(rows["x_px"] - b["x"], rows["y_px"] - b["y"])
            # within the threshold (1 px) plus the drift between two moves (0.25 s, 0.6 px)
            assert np.median(offset) < 2.0, f"bead {bead} {np.median(offset):.2f} px off centre"
            assert b["kind"] == ("stuck" if bead in stuck else b["kind"])  # kept its kind
        assert scope.locks.status()["xylock"]["moves"] >= 10 * len(ids)

        # Live corrected tracks of a tethered bead do not drift; raw ones do.
        for bead in tethered:
            r, c = raw[raw["bead"] == bead], corrected[corrected["bead"] == bead]
            assert _slope(r["time"], r["x_nm"]) == pytest.approx(VX, rel=0.25)
            assert abs(_slope(c["time"], c["x_nm"])) < 0.1 * VX
            assert abs(_slope(c["time"], c["y_nm"])) < 0.1 * abs(VY)

    assert verify(tmp_path / "drift.h5").ok  # /drift is in the checksum like every table
    with open_recording(tmp_path / "drift.h5") as r:
        drift = r.drift()
        references = r.drift_references()
        tracks = {b: r.tracks(b) for b in tethered}
    assert len(drift["frame"]) > 300 and np.all(np.diff(drift["frame"]) > 0)
    assert np.all(drift["n_used"][drift["n_used"] > 0] == len(stuck))
    assert references and references[0]["reference"] == stuck
    assert references[0]["used"] == stuck
    assert _slope(drift["time"], drift["dx_nm"]) == pytest.approx(VX, rel=0.1)
    for bead, track in tracks.items():
        frames = np.minimum(
            np.searchsorted(drift["frame"], track["frame"]), len(drift["frame"]) - 1
        )
        ok = drift["frame"][frames] == track["frame"]
        assert ok.mean() > 0.95, f"bead {bead}: frames without drift"
        x = track["x_nm"][ok] - drift["dx_nm"][frames[ok]]
        assert _slope(track["time"], track["x_nm"]) == pytest.approx(VX, rel=0.1), "raw stays raw"
        assert abs(_slope(track["time"][ok], x)) < 0.05 * VX
