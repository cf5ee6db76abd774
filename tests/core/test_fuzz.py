"""Fuzzing the control API of a live simulated daemon (issue 11 §3).

More than 10,000 random and malformed messages, pipelined over a few connections: bytes that are
not JSON (or not UTF-8, or nested too deep), JSON that is not a request, wrong and missing
tokens, unknown commands, ``args`` of the wrong type, and random argument dicts for every
command the daemon lists (``help``; commands added later are covered too). Read-only commands
get any arguments; a command that may change state gets arguments that validation must refuse
(an unknown argument, or a value of the wrong type), so nothing may change.

Oracles: every line gets exactly one reply with the request's id; refusals carry the right code;
no reply reveals an unhandled exception; afterwards the daemon answers, no worker restarted or
faulted, and beads, settings, devices, holds, Z-LUTs and the recording state are unchanged.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest
from _daemon_process import wait_for

from magscope_app.control import connect
from magscope_app.paths import instance_paths

pytestmark = pytest.mark.timeout(120)

SMALL = Path(__file__).parents[1] / "small_sim.toml"
CONNECTIONS = 4
MESSAGES_PER_CONNECTION = 2_300
#: Commands that change nothing whatever their arguments.
READ_ONLY = {
    "status", "describe", "help", "beads", "devices", "get_setting", "motor_state",
    "record_status", "tracking_settings", "zlut_status", "zlut_show", "holds", "sim_truth",
}  # fmt: skip
#: An error text that starts with an exception's class name: a handler bug got through.
UNHANDLED = re.compile(r"^[A-Z][A-Za-z]*(Error|Exception): ")
WRONG_TYPE = {
    "int": ["7", 1.5, True, None, [], {}],
    "float": ["1.0", True, None, [1.0], {}, math.nan, math.inf],
    "bool": [1, "true", None, []],
    "str": [1, 2.5, None, ["focus"], {}, False],
    "list": ["[]", 1, {}, None, True],
    "dict": [[], "{}", 1, None],
}


def _value(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value, with the extremes: huge numbers, NaN, infinities, long and odd text."""
    kind = rng.randrange(12 if depth < 4 else 9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-5, 2000)
    if kind == 3:
        return rng.choice([1, -1]) * 10 ** rng.randint(10, 400)
    if kind == 4:
        return rng.choice([1e308, -1e308, 5e-324, -0.0, 1e-300, rng.uniform(-1e4, 1e4)])
    if kind == 5:
        return rng.choice([math.nan, math.inf, -math.inf])
    if kind == 6:
        return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 20)))
    if kind == 7:
        texts = ["camera", "focus", "exposure", "lower_limit", "/", "..", "\x00", "\ud800", "all"]
        return rng.choice([*texts, "x" * 100_000])
    if kind == 8:
        return rng.choice([[], {}, [[]], [[1.0, 2.0]], [[math.nan, 1.0]], ["a", 1], [1, 2, 3]])
    if kind in (9, 10):
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["x", "id", "", "rois"]): _value(rng, depth + 1) for _ in range(3)}


def _command_message(rng: random.Random, command: dict[str, Any]) -> tuple[dict, str | None]:
    """A request for ``command`` and the error code it must get (None: any answer)."""
    params = command["params"]
    args: dict[str, Any] = {}
    if command["name"] in READ_ONLY:
        for p in params:
            if rng.random() < 0.7:
                args[p["name"]] = rng.choice([_value(rng), *WRONG_TYPE.get(p["kind"], [])])
        if rng.random() < 0.1:
            args[f"fuzz{rng.randrange(100)}"] = _value(rng)
        return args, None
    for p in params:  # plausible values for the others ...
        if rng.random() < 0.6:
            args[p["name"]] = _value(rng)
    typed = [p for p in params if p["kind"] in WRONG_TYPE]
    if typed and rng.random() < 0.5:  # ... and one wrong type, or an unknown argument
        p = rng.choice(typed)
        args[p["name"]] = rng.choice(WRONG_TYPE[p["kind"]])
    else:
        args[f"fuzz{rng.randrange(100)}"] = _value(rng)
    return args, "invalid_argument"


def _messages(rng: random.Random, token: str, commands: list[dict]) -> list[tuple[bytes, Any]]:
    """(line, expectation) pairs; expectation: (id, code or None), or None for a line whose id
    cannot be read back (not JSON or not an object)."""
    out: list[tuple[bytes, Any]] = []
    for n in range(MESSAGES_PER_CONNECTION):
        kind = rng.randrange(10)
        request_id: Any = rng.choice([n, f"r{n}", n + 0.5, None, [n], {"n": n}])
        if kind == 0:  # not JSON / not UTF-8 / too deep / empty
            line = rng.choice([
                bytes(rng.randrange(256) for _ in range(rng.randint(0, 60))).replace(b"\n", b" "),
                b'{"id": 1, "token": ', b"\xff\xfe{}", b"", b"[" * 100_000, b'{"a":' * 50_000,
                b"NaN", b'"' + b"\\" * 11 + b'"',
            ])  # fmt: skip
            out.append((line, None))
            continue
        if kind == 1:  # JSON, but not an object
            value = _value(rng)
            out.append((json.dumps([value] if isinstance(value, dict) else value).encode(), None))
            continue
        command = rng.choice(commands)
        message: dict[str, Any] = {"id": request_id, "token": token, "command": command["name"]}
        expect: str | None
        if kind == 2:  # wrong or missing token, even for 'stop'
            message["command"] = rng.choice(["status", "stop", "clear_beads", "move"])
            message["token"] = rng.choice([token[:-1], token + "0", "", None, 0, [token], None])
            if rng.random() < 0.3:
                del message["token"]
            message["args"] = {}
            expect = "unauthorized"
        elif kind == 3:  # unknown command, or not a string
            message["command"] = rng.choice(
                [_value(rng), "Status", "status ", "__init__", "_pause"]
            )
            expect = "unknown_command"
        elif kind == 4:  # args of the wrong type
            message["args"] = rng.choice(["", [], 1, "{}", True, [{}]])
            expect = "bad_request"
        else:
            message["args"], expect = _command_message(rng, command)
        if rng.random() < 0.05:
            message["extra"] = _value(rng)
        line = json.dumps(message).encode()
        out.append((line, (request_id, expect)))
    return out


def _refused(rng: random.Random, token: str, n: int) -> list[tuple[bytes, Any]]:
    """Requests of the right types that every command that could change state must refuse
    (nothing exists by those names, values outside every limit, paths that cannot be used)."""
    out = []
    for k in range(n):
        command, args = rng.choice(_refusable(rng))
        message = {"id": k, "token": token, "command": command, "args": args}
        out.append((json.dumps(message).encode(), (k, "refused")))
    return out


def _refusable(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    huge = rng.choice([1e308, -1e308, 1e30])
    name = rng.choice(["nope", "", "\x00", "camera/..", "focus ", "x" * 1000, "\ud800"])
    path = rng.choice(["relative/dir", "", "/proc/nope/x", "/dev/null/x", "/a\x00b", "\ud800",
                       "/" + "x" * 5000, "/proc/self/mem", "~nobody_at_all/x"])  # fmt: skip
    garbage = rng.choice([
        [[math.nan, 1.0]], [[math.inf, 5]], [["a", 1]], [[1, 2, 3]], [1], [[]], [[True, False]],
        [{"x": 1}], [[1e308, 1e308]], [[-1e308, 5.0]],
    ])  # fmt: skip
    ids = rng.choice([[999], [-1], [10**30], ["0"], [0.5], [None], [[0]]])
    return [
        ("move", {"motor": name, "position": 0.0}),
        ("move", {"motor": "focus", "position": huge}),
        ("move_by", {"motor": "focus", "delta": huge}),
        ("home", {"motor": name}),
        ("stop_motor", {"motor": name}),
        ("set_setting", {"device": name, "name": "exposure", "value": 1.0}),
        ("set_setting", {"device": "camera", "name": name, "value": 1.0}),
        (
            "set_setting",
            {
                "device": "camera",
                "name": "exposure",
                "value": rng.choice([huge, -1.0, "5", None, [5.0], True]),
            },
        ),
        (
            "set_setting",
            {
                "device": "camera",
                "name": rng.choice(["width", "height", "bits"]),
                "value": rng.choice([64, 10**30, -1]),
            },
        ),
        ("set_setting", {"device": "focus", "name": "speed", "value": rng.choice([-1.0, huge])}),
        ("add_beads", {"rois": garbage}),
        ("remove_beads", {"ids": ids}),
        ("move_bead", {"id": 999, "x": 10.0, "y": 10.0}),
        ("move_bead", {"id": 0, "x": huge, "y": 10.0}),
        ("set_roi_size", {"size": rng.choice([0, 7, -64, 10**30, 1025])}),
        ("select_profile_bead", {"id": rng.choice([999, -1, 10**30])}),
        (
            "set_zlut",
            {
                "z_nm": rng.choice([[0, 1, 2], [], [math.nan] * 3, [[0]], ["a"] * 3]),
                "profiles": garbage,
            },
        ),
        ("set_zlut", {"bead": 0, "z_nm": [0.0, 0.0, 0.0], "profiles": [[1.0] * 129] * 3}),
        ("unload_zlut", {"bead": rng.choice([0, 7, 1023])}),
        ("set_tracking_settings", {"radial_step_px": rng.choice([-1.0, 0.0, huge])}),
        (
            "zlut_sweep",
            {
                "start": -huge,
                "stop": huge,
                "step": rng.choice([1e-300, 50.0, huge]),
                "per_plane": 5,
            },
        ),
        ("zlut_sweep", {"start": 0.0, "stop": 1e6, "step": 1.0, "per_plane": 5}),
        ("zlut_sweep", {"start": 10**400, "stop": 0.0, "step": 50.0, "per_plane": 5}),
        ("set_tracking_settings", {"radial_max_px": -(10**400)}),
        ("move", {"motor": "focus", "position": 10**400}),
        ("zlut_cancel", {}),
        ("zlut_load", {"path": path}),
        ("zlut_save", {"path": path}),
        ("record_start", {"folder": path}),
        ("record_start", {"folder": "/tmp", "name": rng.choice(["../x", "a/b", "", ".", "\x00"])}),
        ("record_stop", {}),
    ]


async def _exchange(socket_path: Path, messages: list[tuple[bytes, Any]]) -> list[tuple]:
    """Send every line at once (pipelined) and read one reply per line."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=1 << 24)

    async def send() -> None:
        for line, _ in messages:
            writer.write(line + b"\n")
            await writer.drain()

    sending = asyncio.create_task(send())
    replies = []
    for line, expectation in messages:
        reply: dict[str, Any] = {"event": None}
        while "event" in reply and "id" not in reply:  # events are not replies: skip them
            raw = await asyncio.wait_for(reader.readline(), 30)
            assert raw, f"connection closed; no reply to {line[:200]!r}"
            reply = json.loads(raw)
        replies.append((line, expectation, reply))
    await sending
    writer.close()
    return replies


async def _abuse(socket_path: Path, token: str) -> None:
    """Connections that end badly: a line over the limit, a half line, a silent close."""
    reader, writer = await asyncio.open_unix_connection(str(socket_path))
    writer.write(b"x" * (2 << 20) + b"\n")
    reply = json.loads(await asyncio.wait_for(reader.readline(), 30))
    assert reply["error"]["code"] == "bad_request" and "too long" in reply["error"]["message"]
    writer.close()
    for tail in (b'{"id": 1, "token": "' + token.encode(), b"", b"\xff" * 1000):
        _, writer = await asyncio.open_unix_connection(str(socket_path))
        writer.write(tail)
        await writer.drain()
        writer.close()


def _state(client: Any) -> dict[str, Any]:
    status = client.status()
    return {
        "beads": client.call("beads"),
        "tracking": client.call("tracking_settings"),
        "devices": client.call("devices"),
        "holds": client.call("holds"),
        "zlut": {k: v for k, v in client.call("zlut_status").items() if k != "eta_s"},
        "recording": client.call("record_status")["running"],
        "workers": sorted(
            (w["name"], w["pid"], w["restarts"], w["state"]) for w in status["workers"]
        ),
        "faults": status["faults"],
    }


def test_ten_thousand_bad_messages_change_nothing(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    daemon.wait_ready()
    paths = instance_paths(instance_name)
    token = paths.token.read_text().strip()
    with connect(instance_name, timeout=30) as client:
        wait_for(lambda: client.status()["tracking"]["workers_running"] == 2)
        client.call("add_beads", rois=[[60.0, 60.0], [180.0, 120.0]])
        wait_for(lambda: client.status()["camera"]["latest_frame"] > 5)
        commands = client.call("help")
        before = _state(client)

    seed = int(os.environ.get("MAGSCOPE_FUZZ_SEED", "1000"))  # another seed explores further
    rngs = [random.Random(seed + k) for k in range(CONNECTIONS)]
    batches = [_messages(rng, token, commands) for rng in rngs]
    batches.append(_refused(random.Random(seed - 1), token, 1_000))

    async def run() -> list[list[tuple]]:
        results = await asyncio.gather(*(_exchange(paths.socket, b) for b in batches))
        await _abuse(paths.socket, token)
        return results

    results = asyncio.run(run())
    replies = [r for batch in results for r in batch]
    assert len(replies) >= 10_000
    problems = []
    for line, expectation, reply in replies:
        if reply.get("ok") is not True and reply.get("ok") is not False:
            problems.append(f"not a reply: {reply}")
            continue
        error = reply.get("error") or {}
        if UNHANDLED.match(error.get("message", "")):
            problems.append(f"unhandled exception for {line[:150]!r}: {error['message'][:150]}")
        if expectation is None:
            if reply["ok"] or error.get("code") != "bad_request":
                problems.append(f"{line[:100]!r} got {str(reply)[:300]}")
            continue
        request_id, code = expectation
        if reply["id"] != request_id:
            problems.append(f"id {request_id!r} answered as {reply['id']!r}")
        if code == "refused":
            if reply["ok"]:
                problems.append(f"{line[:300]!r} was carried out: {str(reply)[:300]}")
        elif code is not None and error.get("code") != code:
            problems.append(f"{line[:300]!r}: expected {code}, got {str(reply)[:300]}")
    unique = list(dict.fromkeys(problems))
    assert not unique, f"{len(problems)} problem(s):\n" + "\n".join(unique[:30])

    with connect(instance_name, timeout=30) as client:
        after = _state(client)
        assert after == before
        frames = client.status()["camera"]["latest_frame"]
        wait_for(lambda: client.status()["camera"]["latest_frame"] > frames)  # still acquiring
    assert "Traceback" not in daemon.stderr()  # no handler let an exception through
