"""The remote API: a JSON-lines control server in the daemon, error classes by code and the
plain synchronous client (the typed client is :mod:`magscope_app.client`)."""

from .client import Client, connect
from .errors import (
    BadRequest,
    CommandFailed,
    DaemonNotRunning,
    InvalidArgument,
    LimitExceeded,
    ProtocolMismatch,
    Unauthorized,
    UnknownCommand,
)
from .protocol import PROTOCOL_VERSION, TOPICS, CommandError

__all__ = [
    "PROTOCOL_VERSION",
    "TOPICS",
    "BadRequest",
    "Client",
    "CommandError",
    "CommandFailed",
    "DaemonNotRunning",
    "InvalidArgument",
    "LimitExceeded",
    "ProtocolMismatch",
    "Unauthorized",
    "UnknownCommand",
    "connect",
]
