"""Typed messages exchanged between the manager and its workers over multiprocessing pipes."""

from .messages import (
    Fault,
    ManagerMessage,
    Notify,
    Pause,
    Ready,
    RecorderState,
    Reply,
    Request,
    Resume,
    Shutdown,
    Stats,
    WorkerMessage,
    WorkerState,
)

__all__ = [
    "Fault",
    "ManagerMessage",
    "Notify",
    "Pause",
    "Ready",
    "RecorderState",
    "Reply",
    "Request",
    "Resume",
    "Shutdown",
    "Stats",
    "WorkerMessage",
    "WorkerState",
]
