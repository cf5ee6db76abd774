"""PI GCS 2.0 exchanges over a shared serial connection.

Commands and queries are ASCII lines ending in a line feed. Commands (``MOV 1 10``) have no
reply, so after each one the controller's error register is read with ``ERR?``; a non-zero code
becomes :class:`DeviceRejected`. A query's reply may span several lines: every line but the last
ends with a space before the line feed.
"""

from __future__ import annotations

from ..errors import DeviceRejected, DeviceTimeout, ProtocolError
from ..serial import Link, SerialConnection
from .errors import describe_error


def parse_axis_values(lines: list[str]) -> dict[str, str]:
    """``["1=10.5", "2=0"]`` -> ``{"1": "10.5", "2": "0"}``; ProtocolError if malformed."""
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ProtocolError(f"expected <axis>=<value>, got {line!r}")
        values[key.strip()] = value.strip()
    return values


class GCSProtocol:
    """GCS commands and queries to one controller on ``connection``.

    ``timeout`` (s) is the deadline for each reply line. ``tolerated`` error codes from
    ``ERR?`` are not raised (pass them per call).
    """

    def __init__(self, connection: SerialConnection, *, timeout: float = 1.0) -> None:
        self.connection = connection
        self.timeout = timeout

    # -- line level ---------------------------------------------------------------------------
    def _read_reply(self, link: Link, request: str) -> list[str]:
        """Read one (possibly multi-line) reply; each line within the deadline."""
        lines: list[str] = []
        while True:
            raw = link.read_line(link.deadline(self.timeout))
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError:
                raise ProtocolError(
                    f"{link.name}: non-ASCII reply to {request!r}: {raw!r}"
                ) from None
            text = text.rstrip("\r\n")
            if any(not c.isprintable() for c in text):
                raise ProtocolError(f"{link.name}: garbled reply to {request!r}: {raw!r}")
            more = text.endswith(" ")
            lines.append(text.rstrip(" "))
            if not more:
                return lines

    def _error_code(self, link: Link) -> int:
        link.write(b"ERR?\n")
        lines = self._read_reply(link, "ERR?")
        if len(lines) != 1 or not lines[0].strip().lstrip("-").isdigit():
            raise ProtocolError(f"{link.name}: malformed reply to ERR?: {lines!r}")
        return int(lines[0])

    def _rejected(self, link: Link, request: str, code: int) -> DeviceRejected:
        return DeviceRejected(
            f"{link.name}: PI controller rejected {request!r}: {describe_error(code)}"
        )

    # -- public -------------------------------------------------------------------------------
    def command(self, text: str, *, tolerated: tuple[int, ...] = ()) -> None:
        """Send command ``text`` (no reply expected), then check ``ERR?``.

        Raises :class:`DeviceRejected` with the PI code and meaning if the controller reports
        an error (other than ``tolerated``), :class:`DeviceTimeout` if ``ERR?`` is not answered,
        :class:`ProtocolError` if its answer is garbled.
        """
        _check_text(text)

        def exchange(link: Link) -> None:
            link.discard_input()
            link.write(text.encode("ascii") + b"\n")
            code = self._error_code(link)
            if code != 0 and code not in tolerated:
                raise self._rejected(link, text, code)

        self.connection.transact(exchange)

    def query(self, text: str) -> list[str]:
        """Send query ``text`` (e.g. ``"POS? 1"``) and return its reply lines.

        If no reply comes within the deadline, ``ERR?`` is asked: a controller that refused the
        query (bad axis, unknown command) raises :class:`DeviceRejected` with its code, a silent
        one :class:`DeviceTimeout`.
        """
        _check_text(text)

        def exchange(link: Link) -> list[str]:
            link.discard_input()
            link.write(text.encode("ascii") + b"\n")
            try:
                return self._read_reply(link, text)
            except DeviceTimeout as timeout:
                try:
                    code = self._error_code(link)
                except (DeviceTimeout, ProtocolError):
                    raise timeout from None
                if code != 0:
                    raise self._rejected(link, text, code) from None
                raise

        return self.connection.transact(exchange)

    def query_axes(self, text: str) -> dict[str, str]:
        """A query answered with ``<axis>=<value>`` lines, as a dict."""
        lines = self.query(text)
        try:
            return parse_axis_values(lines)
        except ProtocolError as exc:
            raise ProtocolError(f"{self.connection.port}: reply to {text!r}: {exc}") from None

    def error_code(self) -> int:
        """Read (and so clear) the controller's error code."""
        return self.connection.transact(self._error_code)


def _check_text(text: str) -> None:
    if not text or "\n" in text or "\r" in text:
        raise ValueError(f"a GCS command is one non-empty line, got {text!r}")
