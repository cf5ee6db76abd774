"""ZLUTSweepDataset state machine and data; naming, stale segments, dtypes, foreign attach."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from magscope_app.buffers import (
    BufferOverflow,
    DatasetNotReadyError,
    MatrixBuffer,
    SweepState,
    ZLUTSweepDataset,
    int_to_uint_dtype,
    list_segments,
    remove_stale_segments,
    segment_name,
)

PARAMS = {"capacity": 6, "profile_length": 4, "n_steps": 3, "n_beads": 2, "profiles_per_bead": 1}


@pytest.fixture
def sweep(instance_name, locks, track):
    return track(ZLUTSweepDataset.create(locks=locks, instance=instance_name, **PARAMS))


def rows(beads, steps):
    k = len(beads)
    return {
        "bead_ids": np.array(beads),
        "step_indices": np.array(steps),
        "timestamps": np.arange(k, dtype=float),
        "motor_z_values": 100.0 * np.array(steps, dtype=float),
        "valid_flags": np.ones(k, bool),
        "profiles": np.outer(np.array(beads) * 10 + np.array(steps), np.ones(4)),
    }


def test_create_attach_write_peek_preview(sweep, instance_name, locks, track):
    assert sweep.state is SweepState.READY and sweep.get_count() == 0 and sweep.get_capacity() == 6
    assert sweep.describe()["segments"] == [
        f"msa-{instance_name}-ZLUTSweepDataset",
        f"msa-{instance_name}-ZLUTSweepDataset-info",
        f"msa-{instance_name}-ZLUTSweepDataset-meta",
    ]
    peer = track(ZLUTSweepDataset.attach(locks=locks, instance=instance_name))
    peer.set_state(SweepState.CAPTURING)
    assert sweep.state == ZLUTSweepDataset.STATE_CAPTURING
    peer.write(**rows([1, 0, 1], [2, 0, 0]))
    sweep.write(**rows([0], [1]))
    data = sweep.peek()
    assert data["bead_ids"].tolist() == [1, 0, 1, 0] and data["profiles"].shape == (4, 4)
    assert data["motor_z_values"].tolist() == [200.0, 0.0, 0.0, 100.0]
    preview = peer.read_preview()
    assert preview["selected_bead_id"] == 0 and preview["bead_ids"].tolist() == [0, 1]
    assert preview["step_indices"].tolist() == [0, 1] and preview["count"] == 4
    assert preview["state"] == "CAPTURING" and preview["n_steps"] == 3
    one = peer.read_preview(selected_bead_id=1)
    assert one["profiles"][:, 0].tolist() == [10.0, 12.0]
    with pytest.raises(BufferOverflow):
        sweep.write(**rows([0, 0, 0], [0, 1, 2]))  # 4 + 3 > 6: nothing stored
    assert sweep.get_count() == 4
    peer.set_state(SweepState.COMPLETE)
    with pytest.raises(DatasetNotReadyError, match="COMPLETE"):
        sweep.write(**rows([0], [0]))


def test_state_transitions_are_validated(sweep):
    with pytest.raises(ValueError, match="from READY to COMPLETE"):
        sweep.set_state(SweepState.COMPLETE)
    with pytest.raises(ValueError, match="unknown"):
        sweep.set_state(42)
    for state in (SweepState.CAPTURING, SweepState.FAILED, SweepState.DETACHING):
        sweep.set_state(state)
    with pytest.raises(ValueError, match="from DETACHING to READY"):
        sweep.set_state(SweepState.READY)
    assert sweep.state is SweepState.DETACHING


def test_attach_errors_and_destroy(instance_name, locks, track):
    with pytest.raises(FileNotFoundError, match=r"ZLUTSweepDataset-info.*does not exist"):
        ZLUTSweepDataset.attach(locks=locks, instance=instance_name)
    sweep = track(ZLUTSweepDataset.create(locks=locks, instance=instance_name, **PARAMS))
    peer = track(ZLUTSweepDataset.attach(locks=None, instance=instance_name))
    with pytest.raises(RuntimeError, match="only the creator"):
        peer.destroy()
    with pytest.raises(RuntimeError, match="without a lock"):
        peer.set_state(SweepState.CAPTURING)
    sweep._header[3] = SweepState.CREATING  # as seen while the owner is still creating it
    with pytest.raises(DatasetNotReadyError, match="CREATING"):
        ZLUTSweepDataset.attach(locks=locks, instance=instance_name)
    sweep.destroy()
    assert peer.state is SweepState.DESTROYED  # the peer's mapping survives the unlink
    assert list_segments(instance_name) == []
    sweep.destroy()  # idempotent


def test_attach_while_destroyed_is_not_ready(sweep, instance_name, locks):
    sweep._header[3] = SweepState.DESTROYED
    with pytest.raises(DatasetNotReadyError, match="DESTROYED"):
        ZLUTSweepDataset.attach(locks=locks, instance=instance_name)


@pytest.mark.parametrize("missing", list(PARAMS))
@pytest.mark.parametrize("value", [None, 0, -1])
def test_bad_create_parameters(instance_name, locks, missing, value):
    with pytest.raises(ValueError, match=missing):
        ZLUTSweepDataset.create(locks=locks, instance=instance_name, **{**PARAMS, missing: value})
    assert list_segments(instance_name) == []


def test_bad_writes(sweep):
    good = rows([0, 1], [0, 1])
    for key, bad in [
        ("timestamps", np.zeros(3)),
        ("profiles", np.zeros((2, 5))),
        ("bead_ids", np.array([0.5, 1.0])),
        ("step_indices", np.array([0, 3])),
    ]:
        with pytest.raises(ValueError, match=key):
            sweep.write(**{**good, key: bad})
    assert sweep.get_count() == 0


# -- naming, stale segments, dtypes ---------------------------------------------------------


def test_segment_names(instance_name):
    assert segment_name(instance_name, "VideoBuffer") == f"msa-{instance_name}-VideoBuffer"
    assert segment_name(instance_name, "m", "meta") == f"msa-{instance_name}-m-meta"
    with pytest.raises(ValueError, match="instance"):
        segment_name("", "m")


def test_remove_stale_segments_only_touches_its_instance(instance_name, locks, track):
    other = track(
        MatrixBuffer(create=True, locks=locks, name="m", shape=(2, 2), instance=instance_name + "o")
    )
    dead = MatrixBuffer(create=True, locks=locks, name="m", shape=(2, 2), instance=instance_name)
    names = dead.segments
    dead.close()  # the owner "died" without unlinking
    removed = remove_stale_segments(instance_name)
    assert sorted(removed) == sorted(names)
    assert list_segments(instance_name) == [] and len(other.segments) == 2
    assert set(other.segments) <= set(list_segments(instance_name + "o"))
    assert remove_stale_segments(instance_name) == []
    dead._unlinked = True  # its segments are gone: nothing left for the owner to unlink


def test_a_buffer_larger_than_dev_shm_is_refused_at_creation(instance_name, locks):
    """The memory is allocated when the buffer is made: no SIGBUS at a later write."""
    too_many_rows = shutil.disk_usage("/dev/shm").total // 8 + 1024
    with pytest.raises(OSError, match=f"msa-{instance_name}-m.*No space left") as info:
        MatrixBuffer(create=True, locks=locks, name="m", shape=(too_many_rows, 1),
                     instance=instance_name)  # fmt: skip
    assert info.value.errno == errno.ENOSPC
    assert list_segments(instance_name) == []


def test_context_manager_unlinks_for_owner(instance_name, locks):
    with MatrixBuffer(
        create=True, locks=locks, name="m", shape=(2, 2), instance=instance_name
    ) as m:
        m.write([1.0, 2.0])
        with MatrixBuffer(create=False, name="m", instance=instance_name) as viewer:
            assert viewer.peek_sorted().tolist() == [[1.0, 2.0]]
        assert viewer.closed and len(list_segments(instance_name)) == 2
    assert list_segments(instance_name) == []


@pytest.mark.parametrize(("bits", "dtype"), [(8, np.uint8), (16, np.uint16), (32, np.uint32),
                                             (64, np.uint64)])  # fmt: skip
def test_int_to_uint_dtype(bits, dtype):
    assert int_to_uint_dtype(bits) == np.dtype(dtype)


@pytest.mark.parametrize("bits", [0, 12, 24, -8, 8.0, "8", True])
def test_int_to_uint_dtype_refuses(bits):
    with pytest.raises(ValueError, match=f"got {bits!r}"):
        int_to_uint_dtype(bits)


def test_foreign_process_matrix_and_sweep_survive_its_exit(instance_name, locks, sweep, track):
    """Python 3.11 registers attached segments with the attaching process's resource tracker;
    a plain process must unregister them or they vanish when it exits."""
    matrix = track(
        MatrixBuffer(create=True, locks=locks, name="m", shape=(4, 2), instance=instance_name)
    )
    matrix.write([[1.0, 2.0]])
    code = textwrap.dedent(
        f"""
        from magscope_app.buffers import MatrixBuffer, ZLUTSweepDataset
        m = MatrixBuffer(create=False, name="m", instance={instance_name!r})
        z = ZLUTSweepDataset.attach(instance={instance_name!r})
        print(m.peek_sorted().tolist(), z.state.name)
        # exit without close() or unlink()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[[1.0, 2.0]] READY"
    assert "leaked" not in out.stderr, out.stderr
    assert set(matrix.segments + sweep.segments) <= set(list_segments(instance_name))
