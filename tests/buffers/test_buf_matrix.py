"""MatrixBuffer: ordering, wrap-around, overflow accounting, pocket views, writers in processes."""

from __future__ import annotations

import buffer_workers
import numpy as np
import pytest
from conftest import SPAWN, stop_process

from magscope_app.buffers import MatrixBuffer, attach_from_description, list_segments


def rows(first: int, count: int, columns: int = 3) -> np.ndarray:
    """Rows whose every value is the row's number."""
    return np.repeat(np.arange(first, first + count, dtype=float)[:, None], columns, axis=1)


@pytest.fixture
def matrix(instance_name, locks, track):
    return track(
        MatrixBuffer(create=True, locks=locks, name="m", shape=(5, 3), instance=instance_name)
    )


def test_names_describe_and_initial_nan(matrix, instance_name, track):
    d = matrix.describe()
    assert d["shm_name"] == f"msa-{instance_name}-m"
    assert d["segments"] == [f"msa-{instance_name}-m", f"msa-{instance_name}-m-meta"]
    assert d["shape"] == [5, 3] and d["dtype"] == "float64"
    assert np.isnan(matrix.peek_unsorted()).all()
    assert matrix.peek_sorted().shape == (0, 3) and matrix.read().shape == (0, 3)
    other = track(attach_from_description(d))
    assert isinstance(other, MatrixBuffer) and other.shape == (5, 3)


def test_write_read_in_order_with_wrap(matrix):
    matrix.write(rows(0, 3))
    assert matrix.unread_rows == 3 and matrix.total_rows_written == 3
    assert matrix.read()[:, 0].tolist() == [0, 1, 2]
    assert matrix.unread_rows == 0
    matrix.write(rows(3, 4))  # wraps: rows 3, 4 at the end, 5, 6 at the start
    out = matrix.read()
    assert out[:, 0].tolist() == [3, 4, 5, 6] and out.shape == (4, 3)
    out[:] = -1  # a copy
    assert matrix.peek_sorted()[:, 0].tolist() == [2, 3, 4, 5, 6]
    assert matrix.overwritten_rows == 0


def test_single_row_and_bad_shapes(matrix):
    matrix.write(np.array([1.0, 2.0, 3.0]))
    matrix.write([[4, 5, 6]])  # ints are converted
    assert matrix.read().tolist() == [[1, 2, 3], [4, 5, 6]]
    for bad in (np.zeros(2), np.zeros((2, 4)), np.zeros((1, 1, 3)), [["a", "b", "c"]]):
        with pytest.raises(ValueError, match="m: rows must"):
            matrix.write(bad)
    matrix.write(np.zeros((0, 3)))  # nothing
    assert matrix.total_rows_written == 2


def test_overflow_is_counted(matrix):
    matrix.write(rows(0, 4))
    matrix.write(rows(4, 3))  # 7 unread rows in a ring of 5: the 2 oldest are lost
    assert matrix.overwritten_rows == 2 and matrix.unread_rows == 5
    assert matrix.read()[:, 0].tolist() == [2, 3, 4, 5, 6]
    matrix.write(rows(7, 12))  # longer than the ring: only the last 5 stay
    assert matrix.overwritten_rows == 2 + 7 and matrix.total_rows_written == 19
    assert matrix.read()[:, 0].tolist() == [14, 15, 16, 17, 18]
    matrix.write(rows(19, 5))  # exactly full after a read: nothing lost
    assert matrix.overwritten_rows == 9


def test_byte_indices(matrix):
    row_bytes = 3 * 8
    assert (matrix.get_count_index(), matrix.get_read_index(), matrix.get_write_index()) == (
        0,
        0,
        0,
    )
    matrix.write(rows(0, 4))
    assert matrix.get_count_index() == 4 * row_bytes
    assert matrix.get_write_index() == 4 * row_bytes
    matrix.read()
    assert matrix.get_read_index() == 4 * row_bytes and matrix.get_count_index() == 0
    matrix.write(rows(4, 3))
    assert matrix.get_write_index() == 2 * row_bytes


def test_peeks_do_not_consume(matrix):
    matrix.write(rows(0, 7))
    assert matrix.peek_last(2)[:, 0].tolist() == [5, 6]
    assert matrix.peek_last(0).shape == (0, 3)
    assert matrix.peek_last(50)[:, 0].tolist() == [2, 3, 4, 5, 6]
    assert matrix.peek_sorted()[:, 0].tolist() == [2, 3, 4, 5, 6]
    assert matrix.peek_unsorted()[:, 0].tolist() == [5, 6, 2, 3, 4]
    assert not matrix.peek_unsorted().flags.writeable
    assert matrix.unread_rows == 5
    with pytest.raises(ValueError, match="n must"):
        matrix.peek_last(-1)
    with pytest.raises(ValueError, match="pocket_rows"):
        matrix.peek_last(2, copy=False)  # no pocket: only 1-row views are guaranteed


def test_pocket_gives_views_across_the_wrap(instance_name, locks, track):
    matrix = track(
        MatrixBuffer(create=True, locks=locks, name="m", shape=(5, 2), pocket_rows=2,
                     instance=instance_name)
    )  # fmt: skip
    for first in range(0, 40, 3):  # many positions of the wrap
        matrix.write(rows(first, 3, columns=2))
        view = matrix.peek_last(3, copy=False)
        assert view.base is not None and not view.flags.writeable
        assert view[:, 0].tolist() == [first, first + 1, first + 2]
        assert np.array_equal(view, matrix.peek_last(3))
        del view
    with pytest.raises(ValueError, match="pocket_rows"):
        matrix.peek_last(4, copy=False)
    assert matrix.read()[:, 0].tolist() == list(range(37, 42))


def test_clear(matrix):
    matrix.write(rows(0, 3))
    matrix.clear()
    assert matrix.unread_rows == 0 and matrix.total_rows_written == 3
    assert np.isnan(matrix.peek_unsorted()).all()


def test_lockless_viewer(matrix, instance_name, track):
    matrix.write(rows(0, 2))
    viewer = track(MatrixBuffer(create=False, locks=None, name="m", instance=instance_name))
    assert viewer.peek_sorted()[:, 0].tolist() == [0, 1] and viewer.unread_rows == 2
    for call in (lambda: viewer.write(rows(0, 1)), viewer.read, viewer.clear):
        with pytest.raises(RuntimeError, match="without a lock"):
            call()


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({}, "shape"),
        ({"shape": (0, 3)}, "rows"),
        ({"shape": (5, -1)}, "columns"),
        ({"shape": (5,)}, "shape"),
        ({"shape": (5.5, 3)}, "rows"),
        ({"shape": (5, 3), "pocket_rows": -1}, "pocket_rows"),
        ({"shape": (5, 3), "pocket_rows": 6}, "pocket_rows"),
    ],
)
def test_bad_parameters(instance_name, locks, kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        MatrixBuffer(create=True, locks=locks, name="m", instance=instance_name, **kwargs)
    assert list_segments(instance_name) == []


def test_attach_missing(instance_name):
    with pytest.raises(FileNotFoundError, match=f"msa-{instance_name}-m-meta"):
        MatrixBuffer(create=False, name="m", instance=instance_name)


def test_close_with_live_view_then_unlink(instance_name, locks):
    matrix = MatrixBuffer(create=True, locks=locks, name="m", shape=(3, 1), instance=instance_name)
    view = matrix.peek_unsorted()
    with pytest.raises(BufferError):
        matrix.unlink()  # refuses to unmap, but the name is gone
    assert list_segments(instance_name) == []
    assert np.isnan(view).all()  # still mapped: no segfault
    del view
    matrix.close()


def test_writers_in_spawn_children(instance_name, locks, track):
    """Two processes write concurrently under the lock; the consumer sees every row once."""
    matrix = track(
        MatrixBuffer(create=True, locks=locks, name="m", shape=(1000, 3), instance=instance_name)
    )
    writers = [
        SPAWN.Process(target=buffer_workers.matrix_writer, args=(instance_name, locks, w, 400))
        for w in (1, 2)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        stop_process(writer)
    assert [writer.exitcode for writer in writers] == [0, 0]
    out = matrix.read()
    assert matrix.overwritten_rows == 0 and len(out) == 800
    for w in (1, 2):
        mine = out[out[:, 0] == w]
        assert mine[:, 1].tolist() == list(range(400))  # each writer's rows stay in order
        assert np.array_equal(mine[:, 2], 2 * mine[:, 1])
