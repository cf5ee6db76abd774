"""Command validation and request handling of the control server (no daemon needed)."""

from __future__ import annotations

import asyncio
import json

import pytest

from magscope_app.control.commands import CommandTable, Param
from magscope_app.control.protocol import encode
from magscope_app.control.server import ControlServer

TOKEN = "s3cret"


def _server(calls: list) -> ControlServer:
    async def move(motor: str, position: float) -> dict:
        calls.append((motor, position))
        return {"motor": motor, "position": position}

    async def broken() -> None:
        raise RuntimeError("device on fire")

    table = CommandTable()
    table.add(
        "move",
        move,
        Param("motor", "str", choices=("focus", "magnet_height")),
        Param("position", "float", minimum=0.0, maximum=10.0),
    )
    table.add("broken", broken)
    return ControlServer(table, TOKEN, socket_path=None)  # type: ignore[arg-type]


def _ask(server: ControlServer, payload) -> dict:
    line = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return asyncio.run(server.handle_line(line))


def test_valid_command_runs_and_replies_with_its_result():
    calls: list = []
    reply = _ask(
        _server(calls),
        {"id": 3, "token": TOKEN, "command": "move", "args": {"motor": "focus", "position": 2}},
    )
    assert reply == {"id": 3, "ok": True, "result": {"motor": "focus", "position": 2.0}}
    assert calls == [("focus", 2.0)]


@pytest.mark.parametrize(
    ("payload", "code", "fragment"),
    [
        (b"{not json", "bad_request", "not valid JSON"),
        (b"[1, 2]", "bad_request", "JSON object"),
        ({"id": 1, "command": "move", "args": {}}, "unauthorized", "token"),
        ({"id": 1, "token": "wrong", "command": "move"}, "unauthorized", "token"),
        ({"id": 1, "token": TOKEN, "command": "fly"}, "unknown_command", "'fly'"),
        ({"id": 1, "token": TOKEN, "command": "move", "args": [1]}, "bad_request", "args"),
        (
            {"id": 1, "token": TOKEN, "command": "move", "args": {"motor": "focus"}},
            "invalid_argument",
            "missing argument 'position'",
        ),
        (
            {"id": 1, "token": TOKEN, "command": "move",
             "args": {"motor": "focus", "position": "high"}},
            "invalid_argument",
            "type float",
        ),
        (
            {"id": 1, "token": TOKEN, "command": "move",
             "args": {"motor": "focus", "position": 11}},
            "invalid_argument",
            "above the maximum",
        ),
        (
            {"id": 1, "token": TOKEN, "command": "move",
             "args": {"motor": "laser", "position": 1}},
            "invalid_argument",
            "must be one of",
        ),
        (
            {"id": 1, "token": TOKEN, "command": "move",
             "args": {"motor": "focus", "position": 1, "speed": 3}},
            "invalid_argument",
            "unknown argument",
        ),
        (
            {"id": 1, "token": TOKEN, "command": "move",
             "args": {"motor": "focus", "position": True}},
            "invalid_argument",
            "type float",
        ),
        ({"id": 1, "token": TOKEN, "command": "broken"}, "failed", "device on fire"),
    ],
)  # fmt: skip
def test_bad_requests_get_an_error_reply_and_change_nothing(payload, code, fragment):
    calls: list = []
    reply = _ask(_server(calls), payload)
    assert reply["ok"] is False
    assert reply["error"]["code"] == code
    assert fragment in reply["error"]["message"]
    assert calls == []


def test_encode_sends_non_finite_floats_as_null():
    assert json.loads(encode({"a": float("nan"), "b": [float("inf"), 1.5]})) == {
        "a": None,
        "b": [None, 1.5],
    }
