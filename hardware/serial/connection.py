"""One serial port, shared by every device on it: a lock, deadlines on every read, reconnect.

A :class:`SerialConnection` owns the pyserial object for one port. Devices never read or write it
directly: they call :meth:`SerialConnection.transact` with a function that receives a
:class:`Link` and does one write-and-read-reply exchange while the port's lock is held, so two
devices on one port (a Zaber daisy chain, say) never interleave their messages.

If the port fails (a USB-serial adapter was unplugged: the OS raises an ``OSError`` or pyserial a
``SerialException``), the connection closes the port, tries to reopen it with back-off for at most
``reconnect_timeout`` seconds, and repeats the exchange once; if the port does not come back it
raises :class:`DeviceNotConnected` naming the port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import serial

from ..errors import DeviceNotConnected, DeviceTimeout, HardwareError

try:  # pyserial lets termios.error escape from a few calls on POSIX (e.g. tcflush on a dead pty)
    import termios

    _PORT_ERRORS: tuple[type[BaseException], ...] = (OSError, termios.error)
except ImportError:  # pragma: no cover - not POSIX
    _PORT_ERRORS = (OSError,)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: First and longest pause (s) between attempts to reopen a port that dropped out.
_FIRST_BACKOFF = 0.02
_MAX_BACKOFF = 0.5


class Link:
    """The port as seen inside one exchange, while the port's lock is held.

    Valid only during the :meth:`SerialConnection.transact` call that created it.
    """

    def __init__(self, port: serial.SerialBase, name: str, timeout: float) -> None:
        self._port = port
        self._name = name
        #: Default deadline of one read, in s.
        self.timeout = timeout

    @property
    def name(self) -> str:
        """The port name (path or URL)."""
        return self._name

    def discard_input(self) -> None:
        """Drop bytes that arrived before this exchange (late replies, alerts)."""
        self._port.reset_input_buffer()

    def write(self, data: bytes) -> None:
        """Write ``data``; :class:`DeviceTimeout` if the port does not accept it in time."""
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(f"{self._name}: write of {data!r} timed out") from exc

    def deadline(self, timeout: float | None = None) -> float:
        """A ``time.monotonic()`` deadline ``timeout`` s from now (default: the link timeout)."""
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def read_line(self, deadline: float, eol: bytes = b"\n") -> bytes:
        """Read up to and including ``eol``; :class:`DeviceTimeout` if it is not there by
        ``deadline`` (a ``time.monotonic()`` value). Never blocks past the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeviceTimeout(f"{self._name}: no reply within the deadline")
        self._port.timeout = remaining
        line = self._port.read_until(eol)
        if not line.endswith(eol):
            got = f" (got only {line!r})" if line else ""
            raise DeviceTimeout(f"{self._name}: no complete reply within {remaining:.3g} s{got}")
        return line


class SerialConnection:
    """One open port with its lock. Obtain one through :func:`connect`, never directly.

    ``timeout`` (s) is the default deadline of every read and write; ``reconnect_timeout`` (s)
    bounds how long a dropped port is retried before :class:`DeviceNotConnected`.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int,
        timeout: float,
        reconnect_timeout: float,
        lock: threading.RLock,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"{port}: timeout must be > 0 s, got {timeout}")
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.reconnect_timeout = reconnect_timeout
        self.lock = lock
        self._serial: serial.SerialBase | None = None
        self._wanted = False  # open() was called and close() was not
        self.reconnects = 0  # how many times the port was reopened after dropping out

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open the port now; :class:`DeviceNotConnected` if it cannot be opened."""
        with self.lock:
            if self._serial is not None:
                return
            try:
                self._open_port()
            except _PORT_ERRORS as exc:
                raise DeviceNotConnected(f"{self.port}: cannot open port: {exc}") from exc
            self._wanted = True

    def close(self) -> None:
        """Close the port. Idempotent."""
        with self.lock:
            self._wanted = False
            self._close_port()

    def _open_port(self) -> None:
        extra = {} if "://" in self.port else {"exclusive": True}  # one owner per device node
        self._serial = serial.serial_for_url(
            self.port,
            baudrate=self.baudrate,
            timeout=self.timeout,
            write_timeout=self.timeout,
            **extra,
        )

    def _close_port(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except _PORT_ERRORS as exc:  # a port that vanished may fail to close cleanly
                log.debug("%s: error while closing: %s", self.port, exc)

    def _reopen(self, cause: BaseException) -> None:
        """Close, then retry opening with back-off for at most ``reconnect_timeout`` s."""
        log.warning("%s: port failed (%s); reconnecting", self.port, cause)
        self._close_port()
        deadline = time.monotonic() + self.reconnect_timeout
        delay = _FIRST_BACKOFF
        while True:
            try:
                self._open_port()
            except _PORT_ERRORS as exc:
                last = exc
            else:
                self.reconnects += 1
                log.warning("%s: reconnected", self.port)
                return
            if time.monotonic() + delay > deadline:
                raise DeviceNotConnected(
                    f"{self.port}: port lost ({cause}) and not back after "
                    f"{self.reconnect_timeout:g} s ({last})"
                ) from cause
            time.sleep(delay)
            delay = min(2 * delay, _MAX_BACKOFF)

    # -- exchanges ----------------------------------------------------------------------------
    def transact(self, exchange: Callable[[Link], T], *, retry: bool = True) -> T:
        """Run ``exchange`` with the port's lock held and return its result.

        ``exchange`` must read only through :meth:`Link.read_line` (so every read has a
        deadline). If the port fails during it, the port is reopened (see the module docstring)
        and, when ``retry`` is true, ``exchange`` runs once more; a second failure, or a port
        that does not come back, raises :class:`DeviceNotConnected`. Errors the exchange raises
        itself (:class:`HardwareError`) pass through untouched.
        """
        with self.lock:
            if not self._wanted:
                raise DeviceNotConnected(f"{self.port}: port is not open")
            if self._serial is None:  # lost earlier and not back then: try again now
                self._reopen(DeviceNotConnected("port was lost earlier"))
            assert self._serial is not None
            try:
                return exchange(Link(self._serial, self.port, self.timeout))
            except HardwareError:
                raise
            except _PORT_ERRORS as exc:
                self._reopen(exc)
                if not retry:
                    raise DeviceNotConnected(
                        f"{self.port}: port dropped out during the exchange; reconnected, "
                        "but the command was not repeated"
                    ) from exc
            assert self._serial is not None
            try:
                return exchange(Link(self._serial, self.port, self.timeout))
            except HardwareError:
                raise
            except _PORT_ERRORS as exc:
                self._close_port()
                raise DeviceNotConnected(f"{self.port}: port failed again: {exc}") from exc
