"""Zaber ASCII protocol messages: encoding commands, checksums, parsing replies/alerts/info.

Pure functions, no I/O. A command is ``/<device> <axis> [<id>] <command> [<data>][:<CC>]`` ending in
a line feed; the device answers with one reply line
``@<device:02> <axis> [<id:02>] <OK|RJ> <BUSY|IDLE> <warning flag> <data>[:<CC>]``,
may later send alerts (``!``) and may follow a reply with info lines (``#``). Checksums are the
two's complement of the 8-bit sum of the bytes between the start character and the colon, as
two upper-case hexadecimal digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProtocolError

#: Message ids cycle through 0..99.
MAX_MESSAGE_ID = 99

#: Warning flags (the highest-priority one is in every reply; ``--`` means none). Flags starting
#: with F are faults, W warnings, N notices.
WARNING_FLAGS: dict[str, str] = {
    "FD": "driver disabled",
    "FQ": "encoder error",
    "FS": "stalled and stopped",
    "FT": "excessive twist",
    "FB": "stream bounds error",
    "FP": "interpolated path deviation",
    "FE": "limit error",
    "WH": "device not homed",
    "WL": "unexpected limit trigger",
    "WR": "no reference position",
    "WV": "voltage out of range",
    "WT": "system temperature high",
    "WM": "displaced when stationary",
    "NC": "manual control",
    "NI": "command interrupted",
    "ND": "stream discontinuity",
    "NU": "setting update pending",
    "NJ": "joystick calibrating",
}

NO_WARNING = "--"


def checksum(payload: bytes) -> int:
    """The 8-bit two's complement of the byte sum of ``payload`` (0..255)."""
    return (-sum(payload)) & 0xFF


def encode_command(
    device: int,
    axis: int,
    command: str,
    *,
    message_id: int | None = None,
    with_checksum: bool = False,
) -> bytes:
    """The bytes of one command line, e.g. ``b"/1 1 07 move abs 1000\\n"``.

    ``device`` is 0..99 (0 = all devices), ``axis`` 0..9 (0 = the whole device); ``message_id``
    0..99 or None. Raises ``ValueError`` for out-of-range numbers or a command that could break
    the framing (line breaks, ``/``, ``:``).
    """
    if not 0 <= device <= 99:
        raise ValueError(f"device address must be 0..99, got {device}")
    if not 0 <= axis <= 9:
        raise ValueError(f"axis must be 0..9, got {axis}")
    if any(c in command for c in "\r\n/:@!#"):
        raise ValueError(f"command contains a framing character: {command!r}")
    parts = [str(device), str(axis)]
    if message_id is not None:
        if not 0 <= message_id <= MAX_MESSAGE_ID:
            raise ValueError(f"message id must be 0..{MAX_MESSAGE_ID}, got {message_id}")
        parts.append(str(message_id))
    if command:
        parts.append(command)
    body = " ".join(parts).encode("ascii")
    if with_checksum:
        body += b":%02X" % checksum(body)
    return b"/" + body + b"\n"


@dataclass(frozen=True)
class Reply:
    """A reply (``@``) to one command."""

    device: int
    axis: int
    message_id: int | None
    flag: str  # "OK" or "RJ"
    status: str  # "BUSY" or "IDLE"
    warning: str  # two characters, "--" for none
    data: str

    @property
    def rejected(self) -> bool:
        return self.flag == "RJ"

    @property
    def busy(self) -> bool:
        return self.status == "BUSY"


@dataclass(frozen=True)
class Alert:
    """An alert (``!``) a device sends unasked, e.g. when a move finishes (if enabled)."""

    device: int
    axis: int
    status: str
    warning: str
    data: str


@dataclass(frozen=True)
class Info:
    """An info line (``#``) that follows some replies."""

    device: int
    axis: int
    message_id: int | None
    data: str


Message = Reply | Alert | Info


def describe_warning(flag: str) -> str:
    """``"WR (no reference position)"``; the flag alone if unknown; "none" for ``--``."""
    if flag == NO_WARNING:
        return "none"
    meaning = WARNING_FLAGS.get(flag)
    return f"{flag} ({meaning})" if meaning else flag


def _strip_checksum(text: str, raw: bytes) -> str:
    """Verify and remove a trailing ``:CC``; ProtocolError if it does not match."""
    body, sep, tail = text.rpartition(":")
    if not sep or len(tail) != 2:
        return text
    try:
        expected = int(tail, 16)
    except ValueError:
        return text
    actual = checksum(body[1:].encode("ascii"))
    if actual != expected:
        raise ProtocolError(
            f"checksum mismatch in {raw!r}: message says {expected:02X}, content gives {actual:02X}"
        )
    return body


def _number(token: str, what: str, raw: bytes, digits: int | None = None) -> int:
    if not token.isdigit() or (digits is not None and len(token) != digits):
        raise ProtocolError(f"bad {what} {token!r} in {raw!r}")
    return int(token)


def parse_message(raw: bytes) -> Message:
    """Parse one received line (with or without its line ending).

    Raises :class:`ProtocolError` for anything that is not a well-formed reply, alert or info
    message, including a checksum that does not match.
    """
    try:
        text = raw.decode("ascii").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ProtocolError(f"non-ASCII bytes in {raw!r}") from None
    if not text or text[0] not in "@!#":
        raise ProtocolError(f"not a Zaber message: {raw!r}")
    text = _strip_checksum(text, raw)
    kind, tokens = text[0], text[1:].split(" ")
    if len(tokens) < 2:
        raise ProtocolError(f"truncated message: {raw!r}")
    device = _number(tokens[0], "device address", raw, 2)
    axis = _number(tokens[1], "axis", raw, 1)
    rest = tokens[2:]
    message_id = None
    if kind in "@#" and rest and rest[0].isdigit():
        message_id = _number(rest[0], "message id", raw, 2)
        rest = rest[1:]
    if kind == "#":
        return Info(device, axis, message_id, " ".join(rest))
    if kind == "@":
        if len(rest) < 3 or rest[0] not in ("OK", "RJ"):
            raise ProtocolError(f"malformed reply: {raw!r}")
        flag, rest = rest[0], rest[1:]
    if len(rest) < 2 or rest[0] not in ("BUSY", "IDLE") or len(rest[1]) != 2:
        raise ProtocolError(f"malformed {'reply' if kind == '@' else 'alert'}: {raw!r}")
    status, warning, data = rest[0], rest[1], " ".join(rest[2:])
    if kind == "!":
        return Alert(device, axis, status, warning, data)
    return Reply(device, axis, message_id, flag, status, warning, data)
