"""What every worker process does before and after its job.

A worker is started with the ``spawn`` context as ``worker_entry(spec, conn, log_queue)``. It
ignores SIGINT (the manager decides when to stop; Ctrl-C reaches the whole process group), sends
its log records to the manager through ``log_queue``, runs its job and reports an unexpected
exception as a :class:`~magscope_app.ipc.Fault` before exiting with status 1.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import logging.handlers
import os
import signal
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..ipc import Fault, ManagerMessage, Ready, Shutdown, WorkerMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSpec:
    """How to start a worker: ``target`` is ``"module:function"``, called as ``f(ctx, **kwargs)``.

    ``kwargs`` must be picklable (locks and semaphores from the spawn context are, at start).
    ``nice``: added to the process's niceness at start (a lower CPU priority), for workers whose
    work can wait in a buffer when the cores are saturated, so that acquisition does not.
    """

    name: str
    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    nice: int = 0


class WorkerContext:
    """A worker's end of its pipe to the manager."""

    def __init__(self, name: str, conn: Connection) -> None:
        self.name = name
        self.conn = conn

    def send(self, message: WorkerMessage) -> None:
        """Send a message to the manager; a closed pipe (manager gone) raises SystemExit."""
        try:
            self.conn.send(message)
        except (BrokenPipeError, EOFError, OSError):
            raise SystemExit("manager is gone") from None

    def ready(self, **info: Any) -> None:
        self.send(Ready(self.name, os.getpid(), info))

    def receive(self, timeout: float | None = None) -> ManagerMessage | None:
        """Next message from the manager; blocks up to ``timeout`` s (None: forever).

        Returns None when nothing arrived in time. A closed pipe (the manager died) is reported as
        :class:`Shutdown`, so an orphaned worker exits instead of running on.
        """
        try:
            if timeout is not None and not self.conn.poll(timeout):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            return Shutdown()


def worker_entry(spec: WorkerSpec, conn: Connection, log_queue: Any) -> None:
    """Process entry point (module level so ``spawn`` can import it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if spec.nice:
        os.nice(spec.nice)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    root.setLevel(logging.INFO)
    ctx = WorkerContext(spec.name, conn)
    module_name, _, function_name = spec.target.partition(":")
    code = 0
    try:
        job = getattr(importlib.import_module(module_name), function_name)
        job(ctx, **spec.kwargs)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:
        log.exception("worker %s failed", spec.name)
        with contextlib.suppress(OSError):
            conn.send(Fault(spec.name, f"{type(exc).__name__}: {exc}"))
        code = 1
    # The job has released its resources; skip the interpreter's teardown (about 1 s with numpy
    # and numba loaded), which would make every shutdown wait. Flush the log records first.
    log_queue.close()
    log_queue.join_thread()
    os._exit(code)
