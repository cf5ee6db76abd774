"""Typed messages exchanged between the manager and its workers over multiprocessing pipes."""

from .messages import (
    Fault,
    ManagerMessage,
    Pause,
    Ready,
    Reply,
    Request,
    Resume,
    Shutdown,
    Stats,
    WorkerMessage,
)

__all__ = [
    "Fault",
    "ManagerMessage",
    "Pause",
    "Ready",
    "Reply",
    "Request",
    "Resume",
    "Shutdown",
    "Stats",
    "WorkerMessage",
]
