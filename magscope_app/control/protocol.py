"""Wire format of the control API: one JSON object per line, in both directions.

Request::  {"id": 7, "token": "…", "command": "status", "args": {}}
Reply::    {"id": 7, "ok": true, "result": {…}}
       or  {"id": 7, "ok": false, "error": {"code": "invalid_argument", "message": "…"}}
Event::    {"event": "motor", "time": 1767225600.123, "payload": {…}}

Error codes: ``unauthorized`` (missing or wrong token), ``bad_request`` (not JSON, not an object,
missing fields), ``unknown_command``, ``invalid_argument`` (type, range, limits), ``failed``
(the command was valid but could not be carried out). An error may carry a ``reason`` that
refines its code: ``invalid_argument`` with ``"reason": "limit"`` is a motor target outside the
soft limits (nothing moved); clients raise ``LimitExceeded`` for it.

Events: after ``subscribe {topics}`` the server pushes event lines (no ``id``) on that connection,
interleaved with replies; see :data:`TOPICS`. Events are small (state changes, progress, text);
bulk data stays in shared memory. Each connection has a bounded event queue: events that do not
fit are dropped and counted, and the count arrives as an event ``overflow`` (payload
``{"dropped": n}``) as soon as there is room again; a connection whose queue stays full for
longer than the daemon's ``client_stuck_s`` is closed (the daemon logs why).

``hello`` answers ``{"protocol": PROTOCOL_VERSION, "version": …, "instance": …, "topics": […]}``;
a client refuses to work with a daemon whose protocol version differs from its own.
"""

from __future__ import annotations

import json
from typing import Any

#: Version of this wire format; bumped on any incompatible change (checked by clients).
PROTOCOL_VERSION = 1

#: Largest accepted request line, in bytes; longer lines are refused as bad requests.
MAX_LINE_BYTES = 1 << 20

#: Event topics a client can subscribe to, with what their payloads hold.
TOPICS: dict[str, str] = {
    "daemon": "daemon and worker state: {state: stopping} or {worker, state: started|exited}",
    "acquisition": "camera acquisition: {acquiring: bool, reason}",
    "motor": "motor moves: {motor, state: moving|settled|stopping|homing, position, target, "
    "time} (positions in the motor's unit, time of the telemetry sample, s since the epoch)",
    "recording": "{state: started|stopped|error, file, mode, stop_reason, message}",
    "zlut": "Z-LUT sweep: {state: running|complete|failed|cancelled, plane, planes, "
    "profiles, eta_s, message}",
    "force": "force actions (calibrate, ramp, surface): {id, action, state: running|complete|"
    "failed|cancelled, fraction, message}",
    "beads": "the bead set changed: {change: added|removed|moved|followed (XY-lock)|"
    "cleared|resized, ids, count}",
    "locks": "drift and locks: {what: drift, used, rejected} (reference beads the drift keeps "
    "and rejects), {what: references, reference}, {what: zlock, on, state, locked, error_nm, "
    "reason, …} or {what: xylock, on, mode: roi|stage, threshold_px, moves, error_nm, "
    "reason}",
    "log": "daemon events and warnings: {level: info|warning|error, source, text}",
    "script": "experiment scripts, each event with {id, name} and {state, exit_code, error}, "
    "{stream: stdout|stderr|traceback, output} or {progress, text}",
    "ping": "test and benchmark events from the ping_event command: {seq, sent}",
}

#: The event that reports events dropped for this connection (not subscribable: always sent).
OVERFLOW_EVENT = "overflow"


class CommandError(Exception):
    """A command was refused or failed; ``code`` is one of the protocol's error codes.

    ``reason`` refines the code (e.g. ``"limit"`` for a target outside a motor's soft limits).
    """

    def __init__(self, code: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reason = reason


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


def error_reply(
    request_id: Any, code: str, message: str, reason: str | None = None
) -> dict[str, Any]:
    error = {"code": code, "message": message}
    if reason is not None:
        error["reason"] = reason
    return {"id": request_id, "ok": False, "error": error}


def event_message(topic: str, time: float, payload: dict[str, Any]) -> dict[str, Any]:
    """An event line: ``{"event": topic, "time": t, "payload": {...}}``."""
    return {"event": topic, "time": time, "payload": payload}
