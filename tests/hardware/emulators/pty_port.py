"""A line-based device emulator on a pseudo terminal behind a stable symlink.

The driver opens :attr:`PtyEmulator.path` (a symlink in a temporary folder to the pty's slave
device). A background thread reads the master side, splits lines and answers through
:meth:`PtyEmulator.handle_line`. :meth:`unplug` closes the pty and removes the symlink (like a
USB-serial adapter pulled out); :meth:`replug` makes a new pty behind the same symlink.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from collections import deque
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Fault:
    """A fault applied to the next command whose text starts with ``match`` (any if "").

    ``kind`` is emulator-specific; every emulator knows "silence" (no reply) and "garble"
    (reply with noise); ``value`` carries extra data (e.g. a rejection reason or error code).
    """

    kind: str
    match: str = ""
    value: object = None


class PtyEmulator:
    """Base class: owns the pty, the symlink and the reader thread; subclasses answer lines."""

    eol = b"\n"

    def __init__(self, link_path: Path) -> None:
        self.path = str(link_path)
        self.received: list[str] = []  # every command line received, decoded, without eol
        self.faults: deque[Fault] = deque()
        self.lock = threading.RLock()  # guards the device state against the reader thread
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._wake_r = self._wake_w = -1

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> PtyEmulator:
        self.replug()
        return self

    def replug(self) -> None:
        """Create a new pty behind :attr:`path` and serve it."""
        if self._thread is not None:
            raise RuntimeError("already plugged in")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing, no newline translation
        tmp = self.path + ".tmp"
        os.symlink(os.ttyname(self._slave), tmp)
        os.replace(tmp, self.path)
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name=f"emulator {self.path}")
        self._thread.daemon = True
        self._thread.start()

    def unplug(self) -> None:
        """Stop serving, close the pty and remove the symlink. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        os.write(self._wake_w, b"x")
        thread.join(timeout=10)
        assert not thread.is_alive(), "emulator thread did not stop"
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            os.close(fd)
        self._master = self._slave = self._wake_r = self._wake_w = -1
        if os.path.lexists(self.path):
            os.unlink(self.path)

    def stop(self) -> None:
        self.unplug()

    def __enter__(self) -> PtyEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults -------------------------------------------------------------------------------
    def inject(self, kind: str, match: str = "", value: object = None) -> None:
        """Apply fault ``kind`` to the next command starting with ``match``."""
        with self.lock:
            self.faults.append(Fault(kind, match, value))

    def take_fault(self, command: str) -> Fault | None:
        """Remove and return the first pending fault that applies to ``command``."""
        with self.lock:
            for fault in self.faults:
                if command.startswith(fault.match):
                    self.faults.remove(fault)
                    return fault
        return None

    def commands(self) -> list[str]:
        """A copy of :attr:`received`."""
        with self.lock:
            return list(self.received)

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    # -- serving ------------------------------------------------------------------------------
    def handle_line(self, line: bytes) -> bytes | None:
        """Answer one received line (without eol); return the bytes to send, or None."""
        raise NotImplementedError

    def _serve(self) -> None:
        buffer = b""
        while True:
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                chunk = os.read(self._master, 4096)
            except OSError:
                return
            buffer += chunk
            while self.eol in buffer:
                line, buffer = buffer.split(self.eol, 1)
                line = line.rstrip(b"\r")
                with self.lock:
                    answer = self.handle_line(line)
                if answer:
                    os.write(self._master, answer)
