"""Wire format of the control API: one JSON object per line, in both directions.

Request::  {"id": 7, "token": "…", "command": "status", "args": {}}
Reply::    {"id": 7, "ok": true, "result": {…}}
       or  {"id": 7, "ok": false, "error": {"code": "invalid_argument", "message": "…"}}

Error codes: ``unauthorized`` (missing or wrong token), ``bad_request`` (not JSON, not an object,
missing fields), ``unknown_command``, ``invalid_argument`` (type, range, limits), ``failed``
(the command was valid but could not be carried out).
"""

from __future__ import annotations

import json
from typing import Any

#: Largest accepted request line, in bytes; longer lines are refused as bad requests.
MAX_LINE_BYTES = 1 << 20


class CommandError(Exception):
    """A command was refused or failed; ``code`` is one of the protocol's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line (NaN and infinity are sent as null)."""
    return json.dumps(_finite(message), separators=(",", ":")).encode() + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def ok_reply(request_id: Any, result: Any) -> dict[str, Any]:
    return {"id": request_id, "ok": True, "result": result}


def error_reply(request_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": {"code": code, "message": message}}
