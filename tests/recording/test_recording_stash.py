"""The reorderer: frames released in order, by count or by window, nothing dropped."""

from __future__ import annotations

import numpy as np
import pytest

from magscope_app.recording._stash import TrackStash


def rows(frame: int, beads: range | list[int]) -> np.ndarray:
    return np.array([[frame * 0.01, frame, b, b, 0, 0, 0, 0, 0] for b in beads], dtype=float)


def frames_of(out: np.ndarray) -> list[int]:
    return [int(f) for f in out[:, 1]]


def test_window_releases_in_frame_order_and_sorts_beads():
    s = TrackStash(window=3)
    s.add(np.concatenate([rows(2, [1, 0]), rows(0, [1])]))
    s.add(rows(1, [0, 1]))
    s.add(rows(0, [0]))
    assert len(s.pop_ready()) == 0  # newest is 2 < 0 + 3
    s.add(rows(3, [0, 1]))
    out = s.pop_ready()  # 3 >= 0 + 3: frame 0 released, frame 1 not yet
    assert frames_of(out) == [0, 0]
    assert [int(b) for b in out[:, 2]] == [0, 1]
    s.add(rows(5, [0]))
    assert frames_of(s.pop_ready()) == [1, 1, 2, 2]
    rest = s.pop_all()
    assert frames_of(rest) == [3, 3, 5]
    assert s.pending_rows == 0 and s.late_rows == 0


def test_count_rule_releases_consecutive_complete_frames_only():
    s = TrackStash(window=10, beads_per_frame=2)
    for f in range(10):  # the first release needs the window
        s.add(rows(f, [0, 1]))
    assert len(s.pop_ready()) == 0
    s.add(rows(10, [0, 1]))  # frame 0 goes by the window, then 1..10 by count
    assert frames_of(s.pop_ready()) == [f for f in range(11) for _ in range(2)]
    s.add(rows(12, [0, 1]))  # frame 11 not here yet: 12 waits although complete
    assert len(s.pop_ready()) == 0
    s.add(rows(11, [1]))  # split frame: incomplete
    assert len(s.pop_ready()) == 0
    s.add(rows(11, [0]))
    assert frames_of(s.pop_ready()) == [11, 11, 12, 12]


def test_gap_in_frame_counter_released_by_window():
    s = TrackStash(window=4, beads_per_frame=1)
    for f in (0, 1, 2, 3, 4):
        s.add(rows(f, [0]))
    assert frames_of(s.pop_ready()) == [0, 1, 2, 3, 4]
    s.add(rows(6, [0]))  # frame 5 lost by the camera
    assert len(s.pop_ready()) == 0
    s.add(rows(10, [0]))
    assert frames_of(s.pop_ready()) == [6]


def test_late_rows_are_kept_and_counted():
    s = TrackStash(window=2)
    s.add(rows(0, [0]))
    s.add(rows(2, [0]))
    assert frames_of(s.pop_ready()) == [0]
    s.add(rows(0, [1]))  # late: frame 0 already written
    assert s.late_rows == 1
    out = s.pop_ready()
    assert frames_of(out) == [0] and out[0, 2] == 1
    assert frames_of(s.pop_all()) == [2]


def test_random_arrival_keeps_every_row():
    rng = np.random.default_rng(1)
    all_rows = np.concatenate([rows(f, range(7)) for f in range(300)])
    perm = all_rows[rng.permutation(len(all_rows))]
    s = TrackStash(window=1000, beads_per_frame=7)
    got = []
    for part in np.array_split(perm, 50):
        s.add(part)
        got.append(s.pop_ready())
    got.append(s.pop_all())
    out = np.concatenate(got)
    np.testing.assert_array_equal(out, all_rows)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        TrackStash().add(np.zeros((3, 4)))
    with pytest.raises(ValueError):
        TrackStash(window=0)
