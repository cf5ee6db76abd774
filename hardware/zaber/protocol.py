"""Zaber ASCII exchanges with one device on a shared port: ids, checksums, errors, alerts."""

from __future__ import annotations

import logging
from collections import deque

from ..errors import DeviceRejected, DeviceTimeout, ProtocolError
from ..serial import Link, SerialConnection
from .messages import MAX_MESSAGE_ID, Alert, Info, Reply, encode_command, parse_message

log = logging.getLogger(__name__)


class ZaberProtocol:
    """Commands to, and replies from, the device at ``device`` (address 1..99) on ``connection``.

    Each :meth:`command` discards stale input, writes one command with the next message id (when
    ``message_ids``) and an optional checksum, and waits at most ``timeout`` s for the matching
    reply. Alerts and info lines that arrive meanwhile are kept in :attr:`alerts` / skipped;
    replies from other devices on the port are skipped; a late reply to a command that timed out
    earlier is recognised by its id and skipped.
    """

    def __init__(
        self,
        connection: SerialConnection,
        *,
        device: int = 1,
        timeout: float = 1.0,
        message_ids: bool = True,
        checksum: bool = False,
    ) -> None:
        if not 1 <= device <= 99:
            raise ValueError(f"Zaber device address must be 1..99, got {device}")
        self.connection = connection
        self.device = device
        self.timeout = timeout
        self.message_ids = message_ids
        self.checksum = checksum
        self.alerts: deque[Alert] = deque(maxlen=100)
        self._next_id = 0
        self._abandoned: set[int] = set()  # ids of commands that got no reply in time

    def _take_id(self) -> int | None:
        if not self.message_ids:
            return None
        message_id = self._next_id
        self._next_id = (message_id + 1) % (MAX_MESSAGE_ID + 1)
        self._abandoned.discard(message_id)  # reused: a reply with it is now ours
        return message_id

    def command(self, axis: int, text: str, *, timeout: float | None = None) -> Reply:
        """Send ``text`` (e.g. ``"move abs 1000"``) to ``axis`` and return the accepted reply.

        Raises :class:`DeviceRejected` (with the device's reason) for an ``RJ`` reply,
        :class:`ProtocolError` for a garbled reply, a bad checksum or a reply with another id,
        :class:`DeviceTimeout` if no reply arrives within ``timeout`` s (default: the
        protocol's), :class:`DeviceNotConnected` if the port is lost for good.
        """
        deadline_s = self.timeout if timeout is None else timeout

        def exchange(link: Link) -> Reply:
            message_id = self._take_id()
            request = encode_command(
                self.device, axis, text, message_id=message_id, with_checksum=self.checksum
            )
            link.discard_input()
            link.write(request)
            try:
                return self._await_reply(link, axis, message_id, request, deadline_s)
            except DeviceTimeout:
                if message_id is not None:
                    self._abandoned.add(message_id)
                raise

        reply = self.connection.transact(exchange)
        if reply.rejected:
            raise DeviceRejected(
                f"{self.connection.port}: Zaber device {self.device} axis {axis} rejected "
                f"{text!r}: {reply.data or 'no reason given'}"
            )
        return reply

    def _await_reply(
        self, link: Link, axis: int, message_id: int | None, request: bytes, timeout: float
    ) -> Reply:
        deadline = link.deadline(timeout)
        while True:
            try:
                line = link.read_line(deadline)
            except DeviceTimeout as exc:
                raise DeviceTimeout(
                    f"{link.name}: Zaber device {self.device} did not answer {request!r} "
                    f"within {timeout:g} s"
                ) from exc
            if not line.strip():
                continue
            try:
                message = parse_message(line)
            except ProtocolError as exc:
                raise ProtocolError(f"{link.name}: reply to {request!r}: {exc}") from None
            if isinstance(message, Alert):
                self.alerts.append(message)
                continue
            if isinstance(message, Info):
                continue
            if (message.device, message.axis) != (self.device, axis):
                log.debug("%s: skipping a reply for someone else: %r", link.name, line)
                continue
            if message.message_id != message_id:
                if message.message_id in self._abandoned:
                    log.debug("%s: skipping a late reply: %r", link.name, line)
                    continue
                raise ProtocolError(
                    f"{link.name}: reply id {message.message_id} does not match request id "
                    f"{message_id} (sent {request!r}, got {line!r})"
                )
            return message
