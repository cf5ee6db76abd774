"""Starts worker processes and keeps them running.

Each worker is a ``spawn`` process with a duplex pipe. The manager's event loop watches the pipe
and the process sentinel with ``loop.add_reader`` (no polling): a message is handled as soon as it
arrives and a dead worker is noticed as soon as the kernel reports it. A worker that exits with
status 0 has finished; one that dies otherwise without being asked to is restarted after a
back-off (0.5 s, 1 s, 2 s, … capped at 10 s); after ``max_crashes`` crashes within
``crash_window_s`` it is marked failed, reported in status, and left stopped while the daemon
stays up.
"""

from __future__ import annotations

import _multiprocessing
import asyncio
import collections
import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ipc import Fault, ManagerMessage, Ready, Shutdown, WorkerMessage, WorkerState
from .workers._runtime import WorkerSpec, worker_entry

log = logging.getLogger(__name__)

SPAWN = multiprocessing.get_context("spawn")
SHM_DIR = Path("/dev/shm")


def name_semaphores(instance: str) -> None:
    """Name the POSIX semaphores (locks, queues) this process creates from now on
    ``/dev/shm/sem.msa-{instance}-sem-…`` instead of ``sem.mp-…``, so that they can be told apart
    like the instance's shared-memory segments: a leak is attributable, and the semaphores of a
    daemon that died (SIGKILL together with its resource tracker) can be removed at the next
    start (:func:`remove_stale_semaphores`). Uses multiprocessing's per-process ``semprefix``.
    """
    multiprocessing.current_process()._config["semprefix"] = f"/msa-{instance}-sem"


def remove_stale_semaphores(instance: str) -> list[str]:
    """Unlink every semaphore named by :func:`name_semaphores` for ``instance``; their names.
    Only for a daemon that starts after the previous owner of ``instance`` died."""
    prefix = f"sem.msa-{instance}-sem-"
    removed = []
    for path in SHM_DIR.glob(prefix + "*") if SHM_DIR.is_dir() else ():
        with contextlib.suppress(OSError):
            _multiprocessing.sem_unlink("/" + path.name.removeprefix("sem."))
            removed.append(path.name)
    return removed


@dataclass
class SupervisedWorker:
    """Book-keeping for one worker (the process object changes on every restart)."""

    spec: WorkerSpec
    process: Any = None
    conn: Any = None
    state: WorkerState = WorkerState.STARTING
    restarts: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    crash_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=32))
    exited: asyncio.Future | None = None
    restart_handle: asyncio.TimerHandle | None = None

    def describe(self) -> dict[str, Any]:
        alive = bool(self.process is not None and self.process.is_alive())
        return {
            "name": self.spec.name,
            "pid": self.process.pid if self.process is not None else None,
            "alive": alive,
            "state": self.state.value,
            "restarts": self.restarts,
            "last_error": self.last_error,
        }


class Supervisor:
    """Runs workers on ``loop`` and forwards their messages to ``on_message(name, message)``.

    ``locks`` (name -> lock, read at each crash, so locks added later count) are the cross-process
    locks workers take; after a crash any of them still held (by
    the dead worker, since hold times are microseconds) is released so survivors don't deadlock.
    ``on_started(name)`` is called each time a worker process has been (re)started.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        log_queue: Any,
        on_message: Callable[[str, WorkerMessage], None],
        *,
        on_started: Callable[[str], None] | None = None,
        locks: Mapping[str, Any] | None = None,
        max_crashes: int = 5,
        crash_window_s: float = 60.0,
    ) -> None:
        self._loop = loop
        self._log_queue = log_queue
        self._on_message = on_message
        self._on_started = on_started
        self._locks = locks if locks is not None else {}
        self._max_crashes = max_crashes
        self._crash_window_s = crash_window_s
        self._workers: dict[str, SupervisedWorker] = {}
        self._stopping = False

    # -- public ---------------------------------------------------------------------------------
    def start(self, spec: WorkerSpec) -> None:
        """Start a new worker named ``spec.name`` (names are unique)."""
        if spec.name in self._workers:
            raise ValueError(f"a worker named {spec.name!r} exists already")
        worker = SupervisedWorker(spec)
        self._workers[spec.name] = worker
        self._spawn(worker)

    def names(self) -> list[str]:
        return list(self._workers)

    def worker(self, name: str) -> SupervisedWorker:
        return self._workers[name]

    def state(self, name: str) -> WorkerState | None:
        """State of worker ``name`` (None: no such worker)."""
        worker = self._workers.get(name)
        return None if worker is None else worker.state

    def in_state(self, names: Iterable[str], *states: WorkerState) -> list[str]:
        """Those of ``names`` whose worker is in one of ``states``."""
        return [n for n in names if self.state(n) in states]

    def send(self, name: str, message: ManagerMessage) -> bool:
        """Send ``message`` to worker ``name``; False if it is not running."""
        worker = self._workers.get(name)
        if worker is None or worker.conn is None or not worker.state.reachable:
            return False
        try:
            worker.conn.send(message)
            return True
        except OSError:
            return False

    def status(self) -> list[dict[str, Any]]:
        return [w.describe() for w in self._workers.values()]

    async def stop(self, name: str, timeout: float = 1.5) -> None:
        """Stop one worker: ask it to shut down, then terminate, then kill."""
        worker = self._workers.pop(name, None)
        if worker is not None:
            await self._stop_worker(worker, timeout)

    async def stop_all(self, timeout: float = 1.5) -> None:
        """Stop every worker within about ``timeout`` s (terminate/kill stragglers)."""
        self._stopping = True
        workers = list(self._workers.values())
        self._workers.clear()
        await asyncio.gather(*(self._stop_worker(w, timeout) for w in workers))

    # -- internals ------------------------------------------------------------------------------
    def _spawn(self, worker: SupervisedWorker) -> None:
        parent_conn, child_conn = SPAWN.Pipe(duplex=True)
        process = SPAWN.Process(
            target=worker_entry,
            args=(worker.spec, child_conn, self._log_queue),
            name=f"magscope_app-{worker.spec.name}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        worker.process, worker.conn = process, parent_conn
        worker.state = WorkerState.STARTING
        worker.exited = self._loop.create_future()
        self._loop.add_reader(parent_conn.fileno(), self._on_readable, worker)
        self._loop.add_reader(process.sentinel, self._on_exit, worker)
        log.info("started worker %s (pid %d)", worker.spec.name, process.pid)
        if self._on_started is not None:
            self._on_started(worker.spec.name)

    def _on_readable(self, worker: SupervisedWorker) -> None:
        conn = worker.conn
        try:
            while conn.poll():
                message = conn.recv()
                if isinstance(message, Ready) and worker.state is WorkerState.STARTING:
                    worker.state = WorkerState.RUNNING
                if isinstance(message, Ready):
                    worker.info = message.info
                elif isinstance(message, Fault):
                    worker.last_error = message.message
                self._on_message(worker.spec.name, message)
        except (EOFError, OSError):
            self._loop.remove_reader(conn.fileno())

    def _on_exit(self, worker: SupervisedWorker) -> None:
        process = worker.process
        self._loop.remove_reader(process.sentinel)
        if worker.conn is not None:
            self._on_readable(worker)  # read what the worker said before it died
            self._loop.remove_reader(worker.conn.fileno())
            worker.conn.close()
            worker.conn = None
        process.join(1.0)  # the sentinel closes just before the child can be reaped
        code = process.exitcode
        if worker.exited is not None and not worker.exited.done():
            worker.exited.set_result(code)
        if worker.state is WorkerState.STOPPING or self._stopping or code == 0:
            if code == 0 and worker.state is not WorkerState.STOPPING:
                log.info("worker %s finished", worker.spec.name)
            worker.state = WorkerState.STOPPED
            return
        self._recover_locks()
        now = time.monotonic()
        worker.crash_times.append(now)
        recent = sum(1 for t in worker.crash_times if now - t <= self._crash_window_s)
        reason = f"exit code {code}" if code is None or code >= 0 else f"killed by signal {-code}"
        if worker.last_error is None or code is None or code < 0:
            worker.last_error = f"worker died ({reason})"
        if recent >= self._max_crashes:
            worker.state = WorkerState.FAILED
            log.error(
                "worker %s crashed %d times within %g s (%s); giving up",
                worker.spec.name, recent, self._crash_window_s, reason,
            )  # fmt: skip
            return
        delay = min(0.5 * 2 ** (recent - 1), 10.0)
        worker.state = WorkerState.BACKOFF
        log.warning("worker %s died (%s); restarting in %g s", worker.spec.name, reason, delay)
        worker.restart_handle = self._loop.call_later(delay, self._restart, worker)

    def _restart(self, worker: SupervisedWorker) -> None:
        worker.restart_handle = None
        if self._stopping or self._workers.get(worker.spec.name) is not worker:
            return
        worker.restarts += 1
        self._spawn(worker)

    def _recover_locks(self) -> None:
        for lock in self._locks.values():  # read now: services add locks after start-up
            if lock.acquire(timeout=0.05):
                lock.release()
            else:
                log.warning("released a lock held by a dead worker")
                with contextlib.suppress(ValueError):
                    lock.release()

    async def _stop_worker(self, worker: SupervisedWorker, timeout: float) -> None:
        if worker.restart_handle is not None:
            worker.restart_handle.cancel()
        process = worker.process
        if process is None or worker.exited is None or worker.exited.done():
            worker.state = WorkerState.STOPPED
            return
        worker.state = WorkerState.STOPPING
        if worker.conn is not None:
            with contextlib.suppress(OSError):
                worker.conn.send(Shutdown())
        for action in (None, process.terminate, process.kill):
            if action is not None:
                log.warning("worker %s did not stop in time; %s", worker.spec.name, action.__name__)
                action()
            try:
                await asyncio.wait_for(asyncio.shield(worker.exited), timeout)
                return
            except TimeoutError:
                continue
