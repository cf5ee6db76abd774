"""Typed messages between the manager and its worker processes.

They travel pickled over ``multiprocessing`` pipes and are small: bulk data (frames, tracks,
profiles) lives in shared memory and is never sent through a pipe. A worker serves
:class:`Request` (answered by one :class:`Reply`) and :class:`Notify` (no reply expected) the
same way, through :class:`magscope_app.workers.RequestHandlers`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class WorkerState(enum.StrEnum):
    """Where a supervised worker is in its life (``status`` shows the value)."""

    STARTING = "starting"  #: spawned, not yet :class:`Ready`
    RUNNING = "running"  #: sent :class:`Ready`
    BACKOFF = "backoff"  #: crashed; restarts after a delay
    STOPPING = "stopping"  #: asked to shut down
    STOPPED = "stopped"  #: exited (finished or stopped)
    FAILED = "failed"  #: crashed too often; left stopped

    @property
    def reachable(self) -> bool:
        """True if messages sent now reach the worker (it is starting or running)."""
        return self in (WorkerState.STARTING, WorkerState.RUNNING)


class RecorderState(enum.StrEnum):
    """The recorder worker's ``state`` in its :class:`Stats` (and ``record_status``)."""

    STARTING = "starting"
    RECORDING = "recording"
    FINISHED = "finished"  #: closed with a stop reason
    ERROR = "error"  #: not started, or ended by a write error

    @property
    def over(self) -> bool:
        """True once the recording has ended (the file is closed)."""
        return self in (RecorderState.FINISHED, RecorderState.ERROR)


# -- manager -> worker ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shutdown:
    """Finish the current unit of work, release the hardware and exit."""


@dataclass(frozen=True)
class Pause:
    """Stop producing (e.g. stop the camera) until :class:`Resume`."""


@dataclass(frozen=True)
class Resume:
    """Undo :class:`Pause`."""


@dataclass(frozen=True)
class Request:
    """Ask a worker to carry out ``command`` with ``args``; answered by a :class:`Reply`."""

    request_id: int
    command: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notify:
    """Tell a worker to carry out ``command`` with ``args``; no reply (errors are logged)."""

    command: str
    args: dict[str, Any] = field(default_factory=dict)


# -- worker -> manager ------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The worker has started and attached to its resources; ``info`` describes it."""

    worker: str
    pid: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stats:
    """Periodic numbers a worker reports while it works (e.g. frames acquired, fps)."""

    worker: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """Answer to :class:`Request` ``request_id``: ``result`` if ``error`` is None."""

    request_id: int
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Fault:
    """A worker hit an error it cannot recover from; it exits after sending this."""

    worker: str
    message: str


ManagerMessage = Shutdown | Pause | Resume | Request | Notify
WorkerMessage = Ready | Stats | Reply | Fault
