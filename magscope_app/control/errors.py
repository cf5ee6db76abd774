"""Exceptions a client raises for the daemon's error replies, one class per error code.

Every class is a :class:`~magscope_app.control.protocol.CommandError` (``code``, ``message``,
``reason``), so code that catches ``CommandError`` keeps working.
"""

from __future__ import annotations

from typing import Any

from .protocol import CommandError


class InvalidArgument(CommandError):
    """``invalid_argument``: wrong type, value out of range, unknown name; nothing changed."""


class LimitExceeded(InvalidArgument):
    """``invalid_argument`` with reason ``limit``: a motor target outside its soft limits."""


class CommandFailed(CommandError):
    """``failed``: the command was valid but could not be carried out (see the message)."""


class Unauthorized(CommandError):
    """``unauthorized``: missing or wrong token."""


class UnknownCommand(CommandError):
    """``unknown_command``: the daemon has no such command."""


class BadRequest(CommandError):
    """``bad_request``: the request line was not valid JSON, not an object, or too long."""


class ProtocolMismatch(CommandError):
    """The daemon speaks another version of the wire protocol than this client."""


class DaemonNotRunning(CommandError, ConnectionError):
    """No daemon answers under the requested instance name, or the connection was lost."""

    def __init__(self, message: str) -> None:
        CommandError.__init__(self, "daemon_not_running", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


_BY_CODE: dict[str, type[CommandError]] = {
    "invalid_argument": InvalidArgument,
    "failed": CommandFailed,
    "unauthorized": Unauthorized,
    "unknown_command": UnknownCommand,
    "bad_request": BadRequest,
}


def error_from_reply(error: Any) -> CommandError:
    """The exception for the ``error`` object of a reply (unknown codes give a CommandError)."""
    if not isinstance(error, dict):
        error = {}
    code = str(error.get("code", "failed"))
    message = str(error.get("message", "unknown error"))
    reason = error.get("reason")
    if code == "invalid_argument" and reason == "limit":
        return LimitExceeded(code, message, reason=reason)
    return _BY_CODE.get(code, CommandError)(code, message, reason=reason)
