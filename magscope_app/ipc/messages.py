"""Typed messages between the manager and its worker processes.

They travel pickled over ``multiprocessing`` pipes and are small: bulk data (frames, tracks,
profiles) lives in shared memory and is never sent through a pipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


ManagerMessage = Shutdown | Pause | Resume | Request
WorkerMessage = Ready | Stats | Reply | Fault
