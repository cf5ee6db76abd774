"""Running re-track tasks on Dask: a local cluster, or an existing scheduler.

Dask is an optional extra (``pip install 'magscope-app[dask]'``); it is imported only here, only
when used, so the daemon never needs it. Each recording's job is sent to the cluster once
(``scatter``) and each chunk of frames is one task; results come back as arrays to the driver,
which writes them. The recordings must be readable at the same path on every worker (a shared
folder) and every worker needs magscope-app installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from ._job import RetrackError, RetrackJob
from ._track import track_chunk

Tag = tuple[int, int]


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise RetrackError(
            "re-tracking on Dask needs the dask extra: pip install 'magscope-app[dask]'"
        ) from None
    return distributed


class DaskExecutor:
    """Runs tasks on a ``distributed.Client`` (see :func:`dask_executor`)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._futures: dict[int, list[Any]] = {}

    def run(self, tasks: Sequence[tuple[Tag, RetrackJob]]) -> Iterator[tuple[Tag, Any]]:
        distributed = _distributed()
        scattered: dict[int, Any] = {}
        futures: dict[Any, Tag] = {}
        for tag, job in tasks:
            if tag[0] not in scattered:
                scattered[tag[0]] = self.client.scatter(job, hash=False)
            future = self.client.submit(
                track_chunk, scattered[tag[0]], tag[1], pure=False, retries=1,
                key=f"retrack-{job.key[:16]}-{tag[0]}-{tag[1]}",
            )  # fmt: skip
            futures[future] = tag
            self._futures.setdefault(tag[0], []).append(future)
        done = distributed.as_completed(list(futures))
        for future in done:
            tag = futures[future]
            if future.cancelled():
                continue
            try:
                result: Any = future.result()
            except Exception as exc:  # the task's error, reported per file by the driver
                result = exc
            future.release()
            yield tag, result

    def cancel(self, file_number: int) -> None:
        self.client.cancel(self._futures.pop(file_number, []))


@contextlib.contextmanager
def dask_executor(
    scheduler: str | Any | None = None, workers: int | None = None, processes: bool = True
) -> Iterator[DaskExecutor]:
    """An executor on the scheduler at ``scheduler`` (e.g. ``tcp://host:8786``), on a given
    ``distributed.Client``, or (None) on a ``LocalCluster`` of ``workers`` single-threaded
    workers (default: one per core) that is shut down afterwards."""
    distributed = _distributed()
    if scheduler is not None and not isinstance(scheduler, str):
        yield DaskExecutor(scheduler)
        return
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=processes,
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = stack.enter_context(distributed.Client(scheduler, timeout=5))
            except (OSError, TimeoutError, ValueError) as exc:
                raise RetrackError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        yield DaskExecutor(client)
