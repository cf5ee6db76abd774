"""XY-lock through an XY stage on the simulated microscope (issue 13 §2: "the ROI follows;
through an XY stage when one is configured").

The simulated sample drifts sideways at 200 nm/s in x and −150 nm/s in y. With the simulated XY
stage configured (motors ``stage_x``/``stage_y``, which shift the whole simulated field) and the
lock on, the stage moves against the drift: every bead's true position in the image stays
where it was, the ROIs never move, and the stage travels as far as the sample drifted. At the
stage's soft limit the lock lets go and says why.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _daemon_process import wait_for

from magscope_app.cli._locks import status_text
from magscope_app.control import CommandError, connect

from ._sim import start_with_beads, write_config

pytestmark = pytest.mark.timeout(120)

VX, VY = 200.0, -150.0  # nm/s
STAGE = """
[motors.stage_x]
driver = "simulated.stage_x"
limits = [-2.0, 2.0]

[motors.stage_y]
driver = "simulated.stage_y"
limits = [-2.0, 2.0]
"""


def test_stage_holds_the_drifting_sample_in_place(start_daemon, instance_name, tmp_path):
    config = write_config(tmp_path, f"drift_velocity_nm_per_s = [{VX}, {VY}, 0.0]")
    config.write_text(config.read_text() + STAGE)
    _daemon, client, ids, is_reference = start_with_beads(
        start_daemon, instance_name, config, connect
    )
    with client:
        refs = [b for b, r in zip(ids, is_reference, strict=True) if r]
        with pytest.raises(CommandError, match="reference beads"):
            client.call("xylock", on=True)  # the stage needs reference beads to hold
        client.call("set_reference_beads", ids=refs)
        rois = {b["id"]: b["roi"] for b in client.call("beads")["beads"]}
        wait_for(lambda: client.call("locks")["drift"].get("n_used") == len(refs), timeout=20)
        status = client.call("xylock", on=True)
        assert status["on"] and status["mode"] == "stage"
        first = client.call("sim_truth")
        start = time.monotonic()
        xy = []  # the reference beads' true positions in the image (px)
        while time.monotonic() - start < 6.0:
            time.sleep(0.2)
            truth = client.call("sim_truth")
            xy.append([[truth["x_px"][ids.index(b)], truth["y_px"][ids.index(b)]] for b in refs])
        xy = np.array(xy)  # (samples, refs, 2)
        drifted = np.subtract(truth["drift_nm"][:2], first["drift_nm"][:2])
        assert np.hypot(*drifted) > 1000.0  # the sample moved > 10 px meanwhile …
        wander = np.hypot(*(xy - xy.mean(axis=0)).transpose(2, 0, 1))
        assert wander.max() < 0.5, wander.max()  # … its image stayed within half a pixel
        assert np.hypot(*(xy.mean(axis=0) - xy[0]).T).max() < 0.5  # where it was at lock-on
        moved = np.subtract(truth["stage_um"], first["stage_um"]) * 1000.0
        # the stage went against it, trailing by about one correction cycle (measure, move,
        # settle: ~0.3 s, so ~75 nm at this test's 250 nm/s; a lab's drift is a few nm/s)
        np.testing.assert_allclose(moved, -drifted, atol=100.0)
        locks = client.call("locks")["xylock"]
        assert locks["moves"] >= 5 and np.hypot(*locks["error_nm"]) < 150.0, locks
        assert {b["id"]: b["roi"] for b in client.call("beads")["beads"]} == rois  # ROIs stay

        # the stage reaches its soft limit (2 µm of x drift, 10 s) and the lock lets go
        wait_for(lambda: not client.call("locks")["xylock"]["on"], timeout=20)
        locks = client.call("locks")["xylock"]
        assert "limit" in locks["reason"] and "stage_" in locks["reason"], locks
        text = status_text(client.call("locks"))  # what `magscope-app lock status` prints
        assert "XY-lock: off  through the XY stage" in text and locks["reason"] in text
