"""The client's connection: a blocking Unix socket, one background reader thread that hands each
reply to the request waiting for it (by id) and each event to the :class:`EventHub`.

Nothing here uses asyncio, so the client works the same in a plain script, in a thread and in a
Jupyter notebook whose event loop is running. Requests may come from any thread.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
import time
from typing import Any

from ..control.errors import (
    DaemonNotRunning,
    ProtocolMismatch,
    UnknownCommand,
    error_from_reply,
)
from ..control.protocol import MAX_LINE_BYTES, PROTOCOL_VERSION, encode
from ..paths import instance_paths
from ._events import DISCONNECTED_EVENT, Event, EventHub


class _Pending:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class Connection:
    """One authenticated connection to daemon ``instance``.

    Raises :class:`DaemonNotRunning` when no daemon listens, :class:`ProtocolMismatch` when it
    speaks another protocol version. ``timeout`` (s) is the default deadline of a request.
    """

    def __init__(self, instance: str, *, timeout: float = 10.0) -> None:
        paths = instance_paths(instance)
        self.instance = instance
        self.timeout = timeout
        try:
            self._token = paths.token.read_text().strip()
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(timeout)
            self._sock.connect(str(paths.socket))
            self._sock.settimeout(None)  # the reader thread blocks; requests have deadlines
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonNotRunning(
                f"no magscope-app daemon {instance!r} is running (socket {paths.socket})"
            ) from exc
        self.events = EventHub(lambda topics: self.request("subscribe", {"topics": topics}))
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.closed_reason: str | None = None
        self.daemon_process: Any = None  # the Popen of a daemon this client started
        self._reader = threading.Thread(
            target=self._read_loop, name=f"magscope-client-{instance}", daemon=True
        )
        self._reader.start()
        try:
            self.hello = self.request("hello")
        except UnknownCommand:
            self.close()
            self.hello = {"protocol": 0}
        except BaseException:
            self.close()
            raise
        if self.hello.get("protocol") != PROTOCOL_VERSION:
            self.close()
            raise ProtocolMismatch(
                "protocol_mismatch",
                f"daemon {instance!r} speaks control protocol {self.hello.get('protocol')}, "
                f"this client {PROTOCOL_VERSION}: use the same magscope-app version for both",
            )

    # -- requests -----------------------------------------------------------------------------
    def request(
        self, command: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Send ``command`` and block until its reply (at most ``timeout`` s, default the
        connection's); returns the result or raises the error's exception class."""
        if self.closed_reason is not None:
            raise DaemonNotRunning(f"not connected to {self.instance!r}: {self.closed_reason}")
        request_id = next(self._ids)
        pending = _Pending()
        with self._lock:
            self._pending[request_id] = pending
        message = {"id": request_id, "token": self._token, "command": command, "args": args or {}}
        try:
            with self._send_lock:
                self._sock.sendall(encode(message))
            deadline = self.timeout if timeout is None else timeout
            if not pending.done.wait(deadline):
                raise TimeoutError(
                    f"daemon {self.instance!r} did not answer {command!r} within {deadline:g} s"
                )
        except OSError as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise DaemonNotRunning(f"lost the connection to {self.instance!r}: {exc}") from None
        finally:
            with self._lock:
                self._pending.pop(request_id, None)
        reply = pending.reply
        if reply is None:
            raise DaemonNotRunning(f"daemon {self.instance!r}: {self.closed_reason}")
        if not reply.get("ok"):
            raise error_from_reply(reply.get("error"))
        return reply.get("result")

    # -- reader thread ------------------------------------------------------------------------
    def _read_loop(self) -> None:
        reason = "the daemon closed the connection"
        try:
            with self._sock.makefile("rb") as lines:
                while line := lines.readline(MAX_LINE_BYTES):
                    message = json.loads(line)
                    if "event" in message:
                        self.events.dispatch(
                            Event(message["event"], message["time"], message.get("payload") or {})
                        )
                        continue
                    with self._lock:
                        pending = self._pending.get(message.get("id"))
                    if pending is not None:
                        pending.reply = message
                        pending.done.set()
        except (OSError, ValueError) as exc:
            if self.closed_reason is None:
                reason = f"connection lost: {exc}"
        finally:
            self.closed_reason = self.closed_reason or reason
            with self._lock:
                waiting = list(self._pending.values())
            for pending in waiting:
                pending.done.set()
            self.events.dispatch(
                Event(DISCONNECTED_EVENT, time.time(), {"reason": self.closed_reason})
            )

    def close(self) -> None:
        """Close the socket and wait for the reader thread (idempotent)."""
        if self.closed_reason is None:
            self.closed_reason = "closed by the client"
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        if self._reader is not threading.current_thread():
            self._reader.join(5.0)
        self.events.close()
