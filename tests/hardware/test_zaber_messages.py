"""Zaber ASCII message encoding and parsing (no I/O)."""

from __future__ import annotations

import pytest
from magscope_app.hardware.errors import ProtocolError
from magscope_app.hardware.zaber import Alert, Info, Reply, encode_command, parse_message
from magscope_app.hardware.zaber.messages import checksum, describe_warning


def test_command_framing():
    assert encode_command(1, 1, "move abs 1000") == b"/1 1 move abs 1000\n"
    assert encode_command(2, 1, "get pos", message_id=7) == b"/2 1 7 get pos\n"
    assert encode_command(1, 1, "", message_id=12) == b"/1 1 12\n"


def test_command_checksum_makes_the_byte_sum_zero():
    line = encode_command(1, 1, "move abs 1000", message_id=3, with_checksum=True)
    body, _, tail = line[1:].rstrip(b"\n").partition(b":")
    assert len(tail) == 2
    assert (sum(body) + int(tail, 16)) % 256 == 0


@pytest.mark.parametrize(
    "bad", [dict(device=100), dict(axis=10), dict(message_id=100), dict(command="a\nb")]
)
def test_command_refuses_what_would_break_the_framing(bad):
    args = {"device": 1, "axis": 1, "command": "get pos", "message_id": None} | bad
    with pytest.raises(ValueError):
        encode_command(args["device"], args["axis"], args["command"], message_id=args["message_id"])


def test_parse_reply_with_and_without_id():
    assert parse_message(b"@01 1 OK IDLE -- 0\r\n") == Reply(1, 1, None, "OK", "IDLE", "--", "0")
    reply = parse_message(b"@02 1 05 RJ BUSY WR BADDATA\r\n")
    assert reply == Reply(2, 1, 5, "RJ", "BUSY", "WR", "BADDATA")
    assert reply.rejected and reply.busy


def test_parse_alert_and_info():
    assert parse_message(b"!01 1 IDLE --\r\n") == Alert(1, 1, "IDLE", "--", "")
    assert parse_message(b"#01 0 03 some text\r\n") == Info(1, 0, 3, "some text")


def test_parse_checks_a_checksum_when_present():
    body = b"01 1 OK IDLE -- 1234"
    good = b"@" + body + b":%02X\r\n" % checksum(body)
    assert parse_message(good).data == "1234"
    bad = b"@" + body + b":%02X\r\n" % ((checksum(body) + 1) % 256)
    with pytest.raises(ProtocolError, match="checksum"):
        parse_message(bad)


@pytest.mark.parametrize(
    "garbled",
    [
        b"",
        b"hello\r\n",
        b"@01\r\n",
        b"@1 1 OK IDLE -- 0\r\n",
        b"@01 1 MAYBE IDLE -- 0\r\n",
        b"@01 1 OK SLEEPY -- 0\r\n",
        b"@01 x OK IDLE -- 0\r\n",
        b"@0\xff1 OK IDLE -- 0\r\n",
    ],
)
def test_parse_rejects_garbled_lines(garbled):
    with pytest.raises(ProtocolError):
        parse_message(garbled)


def test_warning_descriptions():
    assert describe_warning("--") == "none"
    assert describe_warning("WR") == "WR (no reference position)"
    assert describe_warning("ZZ") == "ZZ"
