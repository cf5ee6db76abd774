"""BeadRoiBuffer and LiveProfileBuffer."""

from __future__ import annotations

import numpy as np
import pytest

from magscope_app.buffers import (
    BeadRoiBuffer,
    BufferOverflow,
    LiveProfileBuffer,
    attach_from_description,
    list_segments,
)


@pytest.fixture
def rois(instance_name, locks, track):
    return track(BeadRoiBuffer(create=True, locks=locks, capacity=4, instance=instance_name))


def test_roi_lifecycle_and_version(rois, instance_name, track):
    assert rois.describe()["segments"] == [
        f"msa-{instance_name}-BeadRoiBuffer",
        f"msa-{instance_name}-BeadRoiBuffer-meta",
    ]
    ids, boxes = rois.get_beads()
    assert ids.shape == (0,) and boxes.shape == (0, 4) and rois.version == 0
    rois.add_beads({2: (10, 20, 30, 40), 0: (0, 5, 0, 5)})
    assert rois.version == 1 and rois.active_count == 2 and rois.max_id_plus_one == 3
    ids, boxes = rois.get_beads()
    assert ids.tolist() == [0, 2] and boxes.tolist() == [[0, 5, 0, 5], [10, 20, 30, 40]]
    assert boxes.dtype.kind == "i"
    viewer = track(attach_from_description(rois.describe()))  # lock-less reader
    assert viewer.get_beads()[0].tolist() == [0, 2] and viewer.version == 1
    with pytest.raises(RuntimeError, match="without a lock"):
        viewer.clear_beads()
    rois.update_beads({2: (11, 21, 31, 41)})
    assert rois.get_beads()[1][1].tolist() == [11, 21, 31, 41] and viewer.version == 2
    assert rois.get_next_available_bead_id() == 3
    rois.remove_beads([0])
    assert rois.get_beads()[0].tolist() == [2] and rois.version == 3
    assert rois.reorder_beads() == {2: 0}
    assert rois.get_beads()[0].tolist() == [0] and rois.max_id_plus_one == 1
    rois.replace_beads({1: (1, 2, 3, 4), 3: (5, 6, 7, 8)})
    assert rois.get_beads()[0].tolist() == [1, 3] and rois.get_next_available_bead_id() == 0
    rois.clear_beads()
    assert rois.active_count == 0 and rois.version == 6


def test_roi_errors_name_the_ids_and_change_nothing(rois):
    rois.add_beads({1: (0, 4, 0, 4)})
    version = rois.version
    with pytest.raises(ValueError, match=r"already exist: \[1\]"):
        rois.add_beads({1: (0, 4, 0, 4), 2: (0, 4, 0, 4)})
    with pytest.raises(ValueError, match=r"no beads with ids \[3\]"):
        rois.update_beads({3: (0, 4, 0, 4)})
    with pytest.raises(ValueError, match=r"no beads with ids \[2\]"):
        rois.remove_beads([1, 2])
    with pytest.raises(ValueError, match="bead id 4 is outside"):
        rois.add_beads({4: (0, 4, 0, 4)})
    with pytest.raises(ValueError, match="bead id -1 is outside"):
        rois.remove_beads(-1)
    with pytest.raises(ValueError, match="bead id must be an int"):
        rois.add_beads({"a": (0, 4, 0, 4)})
    for roi in [(4, 0, 0, 4), (0, 4, 3, 3), (-1, 4, 0, 4), (0, 4, 0), (0.5, 4, 0, 4), "abcd"]:
        with pytest.raises(ValueError, match="ROI of bead 2"):
            rois.add_beads({2: roi})
    assert rois.version == version and rois.get_beads()[0].tolist() == [1]


def test_roi_full_capacity(rois):
    rois.replace_beads({i: (0, 1, 0, 1) for i in range(4)})
    with pytest.raises(BufferOverflow):
        rois.get_next_available_bead_id()


@pytest.mark.parametrize("capacity", [None, 0, -3, 1.5])
def test_roi_bad_capacity(instance_name, locks, capacity):
    with pytest.raises(ValueError, match="capacity"):
        BeadRoiBuffer(create=True, locks=locks, capacity=capacity, instance=instance_name)
    assert list_segments(instance_name) == []


def test_roi_attach_missing(instance_name):
    with pytest.raises(FileNotFoundError, match=f"msa-{instance_name}-BeadRoiBuffer-meta"):
        BeadRoiBuffer(create=False, instance=instance_name)


def test_live_profile(instance_name, locks, track):
    live = track(
        LiveProfileBuffer(create=True, locks=locks, profile_capacity=5, instance=instance_name)
    )
    assert live.shape == (1, 8) and live.peek_profile() is None
    assert np.isnan(live.peek_unsorted()).all()
    live.write_profile(12.5, 3, np.array([1.0, 2.0, 3.0]))
    row = live.peek_unsorted()
    assert row.shape == (1, 8) and row[0, :6].tolist() == [12.5, 3, 3, 1, 2, 3]
    assert np.isnan(row[0, 6:]).all()
    viewer = track(attach_from_description(live.describe()))
    assert isinstance(viewer, LiveProfileBuffer) and viewer.profile_capacity == 5
    timestamp, bead, profile = viewer.peek_profile()
    assert (timestamp, bead, profile.tolist()) == (12.5, 3, [1, 2, 3])
    live.write_profile(13.0, 1, np.arange(5.0))  # the latest replaces the previous
    assert viewer.peek_profile()[1] == 1
    with pytest.raises(ValueError, match="at most 5"):
        live.write_profile(0.0, 0, np.zeros(6))
    with pytest.raises(ValueError, match="1-D"):
        live.write_profile(0.0, 0, np.zeros((2, 2)))
    live.clear()
    assert viewer.peek_profile() is None


def test_live_profile_bad_capacity(instance_name, locks):
    with pytest.raises(ValueError, match="profile_capacity"):
        LiveProfileBuffer(create=True, locks=locks, profile_capacity=0, instance=instance_name)
