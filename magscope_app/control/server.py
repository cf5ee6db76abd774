"""The daemon's control server: JSON lines on a local Unix socket (mode 0600), token required.

Every request is authenticated and validated before its handler runs; a bad request gets an error
reply and changes nothing. Handlers run on the manager's event loop one request at a time per
connection; the server never blocks the loop.

Besides the daemon's command table the server answers two commands about the connection itself:
``hello`` (protocol version, software version, instance, event topics) and ``subscribe {topics}``
(the events this connection receives, see :mod:`magscope_app.control._session`). :meth:`publish`
is the daemon's event sink: it encodes an event once and queues it on every subscribed connection.

A command handler can learn its connection from :data:`CURRENT_SESSION`; a connection's
:attr:`Session.gate` (set by the script service for a script's connection) wraps each of its
commands, so it can hold them while the script is paused or refuse them once it is aborted.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ._session import CURRENT_SESSION, Session
from .commands import CommandTable, Param
from .protocol import (
    MAX_LINE_BYTES,
    PROTOCOL_VERSION,
    TOPICS,
    CommandError,
    encode,
    error_reply,
    event_message,
    ok_reply,
)

log = logging.getLogger(__name__)

#: Default event queue of a connection (events) and how long it may stay full (s).
QUEUE_EVENTS = 4096
STUCK_AFTER_S = 10.0


class ControlServer:
    """Serves ``commands`` on ``socket_path`` (and on 127.0.0.1:``tcp_port`` when given)."""

    def __init__(
        self,
        commands: CommandTable,
        token: str,
        socket_path: Path,
        tcp_port: int | None = None,
        *,
        instance: str = "",
        queue_events: int = QUEUE_EVENTS,
        stuck_after_s: float = STUCK_AFTER_S,
    ) -> None:
        self._commands = commands
        self._token = token
        self._socket_path = socket_path
        self._tcp_port = tcp_port
        self._instance = instance
        self._queue_events = queue_events
        self._stuck_after_s = stuck_after_s
        self._servers: list[asyncio.AbstractServer] = []
        self._connections: set[asyncio.Task] = set()
        self._sessions: set[Session] = set()
        commands.add("hello", self._hello, help="protocol and software version, event topics")
        commands.add(
            "subscribe",
            self._subscribe,
            Param("topics", "list", help=f"event topics to receive: {', '.join(TOPICS)}"),
            help="choose the events pushed on this connection (replaces the previous choice)",
        )
        self._session_commands = {"hello", "subscribe"}

    @property
    def tcp_address(self) -> tuple[str, int] | None:
        """(host, port) of the TCP listener, if one was asked for."""
        for server in self._servers:
            for sock in server.sockets:
                if sock.family.name in ("AF_INET", "AF_INET6"):
                    return sock.getsockname()[:2]
        return None

    async def start(self) -> None:
        self._socket_path.unlink(missing_ok=True)
        unix = await asyncio.start_unix_server(
            self._serve, path=str(self._socket_path), limit=MAX_LINE_BYTES
        )
        os.chmod(self._socket_path, 0o600)
        self._servers.append(unix)
        if self._tcp_port is not None:
            tcp = await asyncio.start_server(
                self._serve, host="127.0.0.1", port=self._tcp_port, limit=MAX_LINE_BYTES
            )
            self._servers.append(tcp)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._socket_path.unlink(missing_ok=True)

    # -- events -----------------------------------------------------------------------------------
    def publish(self, topic: str, time: float, payload: dict[str, Any]) -> None:
        """Queue an event on every connection subscribed to ``topic`` (never blocks)."""
        line = None
        for session in list(self._sessions):
            if topic in session.topics:
                line = line or encode(event_message(topic, time, payload))
                session.offer(topic, line)

    def _on_stuck(self, session: Session, reason: str) -> None:
        self._sessions.discard(session)
        log.warning("disconnected a client that does not read its events: %s", reason)

    # -- connections ------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        session = Session(
            writer,
            queue_events=self._queue_events,
            stuck_after_s=self._stuck_after_s,
            on_stuck=self._on_stuck,
        )
        self._sessions.add(session)
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # line longer than the limit
                    writer.write(encode(error_reply(None, "bad_request", "request line too long")))
                    break
                if not line:
                    break
                writer.write(encode(await self.handle_line(line, session)))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            self._sessions.discard(session)
            await session.stop()
            writer.close()

    async def handle_line(self, line: bytes, session: Session | None = None) -> dict[str, Any]:
        """Authenticate, validate and run one request line; always returns a reply."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return error_reply(None, "bad_request", f"request is not valid JSON: {exc}")
        except RecursionError:
            return error_reply(None, "bad_request", "request is nested too deeply")
        if not isinstance(request, dict):
            return error_reply(None, "bad_request", "request must be a JSON object")
        request_id = request.get("id")
        token = request.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token, self._token):
            log.warning("refused a request with a missing or wrong token")
            return error_reply(request_id, "unauthorized", "missing or wrong token")
        try:
            command, args = self._commands.validate(request.get("command"), request.get("args"))
            if command.name in self._session_commands:
                return ok_reply(request_id, await command.handler(session, **args))
            log.info("command %s %s", command.name, args or "")
            CURRENT_SESSION.set(session)  # this connection's task only (see Session.gate)
            if session is None or session.gate is None:
                return ok_reply(request_id, await command.handler(**args))
            async with session.gate(command.name):  # may hold (script paused) or refuse
                return ok_reply(request_id, await command.handler(**args))
        except CommandError as exc:
            return error_reply(request_id, exc.code, exc.message, exc.reason)
        except Exception as exc:  # a handler bug must not take the daemon down
            log.exception("command %r failed", request.get("command"))
            return error_reply(request_id, "failed", f"{type(exc).__name__}: {exc}")

    # -- connection commands ----------------------------------------------------------------------
    async def _hello(self, session: Session | None) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "instance": self._instance,
            "topics": list(TOPICS),
            "queue_events": self._queue_events,
        }

    async def _subscribe(self, session: Session | None, topics: list) -> dict[str, Any]:
        unknown = [t for t in topics if t not in TOPICS]
        if unknown:
            raise CommandError(
                "invalid_argument",
                f"subscribe: unknown topic(s) {unknown}; topics are {', '.join(TOPICS)}",
            )
        if session is None:
            raise CommandError("failed", "subscribe: only on a connection")
        session.subscribe(frozenset(topics))
        return {"topics": sorted(session.topics), "queue_events": session.capacity}
