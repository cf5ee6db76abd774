"""One client connection of the control server: its event topics and its bounded event queue.

A slow or stuck client never slows the daemon: publishing only appends an encoded line to the
connection's queue (or counts it as dropped when the queue is full); a per-connection task writes
the queue to the socket. Dropped events are reported to that client as one ``overflow`` event
(``{"dropped": n}``) before the next events it gets. A connection whose queue stays full for
longer than ``stuck_after_s`` is closed, and ``on_stuck`` is told why.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .protocol import OVERFLOW_EVENT, encode, event_message

#: The connection whose command is running (set by the server for each command's handler).
CURRENT_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "magscope_control_session", default=None
)


class Session:
    """The event side of one connection (replies are written by the server directly)."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        *,
        queue_events: int,
        stuck_after_s: float,
        on_stuck: Callable[[Session, str], None],
    ) -> None:
        self.writer = writer
        self.topics: frozenset[str] = frozenset()
        self.capacity = queue_events
        self.stuck_after_s = stuck_after_s
        self.dropped_total = 0
        self.closed_reason: str | None = None
        self._on_stuck = on_stuck
        self._queue: deque[bytes] = deque()
        self._dropped = 0  # not yet reported to the client
        self._full_since: float | None = None
        self._wakeup = asyncio.Event()
        self._sender: asyncio.Task | None = None
        #: ``gate(command)`` -> async context manager around each command of this connection
        #: (None: commands run at once). Set by the script service for a script's connection.
        self.gate: Callable[[str], contextlib.AbstractAsyncContextManager[Any]] | None = None

    def subscribe(self, topics: frozenset[str]) -> None:
        """Replace the subscribed topics (an empty set unsubscribes); starts the sender once."""
        self.topics = topics
        if self._sender is None and topics:
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    def offer(self, topic: str, line: bytes) -> None:
        """Queue one encoded event line if this connection subscribed to ``topic``."""
        if topic not in self.topics or self.closed_reason is not None:
            return
        if len(self._queue) >= self.capacity:
            self._dropped += 1
            self.dropped_total += 1
            now = time.monotonic()
            if self._full_since is None:
                self._full_since = now
            elif now - self._full_since > self.stuck_after_s:
                self.close(
                    f"event queue full ({self.capacity} events) for more than "
                    f"{self.stuck_after_s:g} s; {self.dropped_total} events dropped"
                )
            return
        self._queue.append(line)
        self._wakeup.set()

    def close(self, reason: str) -> None:
        """Drop the connection now (whatever is unsent is lost) and report ``reason``."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        self._queue.clear()
        self.writer.transport.abort()
        self._on_stuck(self, reason)

    async def stop(self) -> None:
        """Cancel the sender (the connection is ending)."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await self._sender

    async def _send_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue or self._dropped:  # the drop count goes out even alone
                lines = list(self._queue)
                self._queue.clear()
                self._full_since = None
                if self._dropped:
                    note = event_message(OVERFLOW_EVENT, time.time(), {"dropped": self._dropped})
                    lines.insert(0, encode(note))
                    self._dropped = 0
                self.writer.write(b"".join(lines))
                await self.writer.drain()  # blocks this task only, never the publisher
