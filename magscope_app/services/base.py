"""What a part of the daemon (camera, motors, tracking, recording, …) plugs into the manager.

A :class:`Service` creates its shared memory, starts its workers, adds its control commands and
reports its status; the manager owns the event loop, the supervisor and the shutdown order. Each
service lives in its own module so the manager stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from ..config import DaemonConfig
from ..control.commands import CommandTable
from ..control.protocol import CommandError
from ..ipc import ManagerMessage, Reply, Request, WorkerMessage
from ..supervisor import SPAWN, Supervisor

log = logging.getLogger(__name__)


#: Receives every published event: ``sink(topic, time, payload)`` (time in s since the epoch).
EventSink = Callable[[str, float, dict[str, Any]], None]


class DaemonContext:
    """What services share: instance, config, locks, buffers, the supervisor, events.

    Events: :meth:`publish` hands a small event (topic, time, JSON-ready payload) to every sink
    in :attr:`event_sinks` (the control server, which pushes it to subscribed clients; see
    :data:`magscope_app.control.protocol.TOPICS`). :meth:`event` is the text event of the
    daemon's log and the recording's ``/log``; it is also published under the topic ``log``.
    Sinks are called on the event loop and must return at once (never block, never raise).
    """

    def __init__(self, instance: str, config: DaemonConfig) -> None:
        self.instance = instance
        self.config = config
        self.locks: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}  # name -> buffer this daemon created (unlinked at stop)
        self.private_buffers: set[str] = set()  # not reported to clients
        self.supervisor: Supervisor | None = None
        self.event_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.event_sinks: list[EventSink] = []
        self._pending: dict[int, asyncio.Future] = {}
        self._request_ids = itertools.count(1)

    # -- shared memory --------------------------------------------------------------------------
    def new_lock(self, name: str) -> Any:
        """A cross-process lock for buffer ``name`` (passed to workers at their start)."""
        self.locks[name] = SPAWN.Lock()
        return self.locks[name]

    def add_buffer(self, name: str, buffer: Any, *, private: bool = False) -> Any:
        """Register a buffer this daemon created; it is unlinked at shutdown."""
        self.buffers[name] = buffer
        if private:
            self.private_buffers.add(name)
        return buffer

    def shared_buffers(self) -> list[Any]:
        """Buffers clients may attach to, in creation order."""
        return [b for n, b in self.buffers.items() if n not in self.private_buffers]

    # -- workers --------------------------------------------------------------------------------
    def send(self, worker: str, message: ManagerMessage) -> bool:
        """Send ``message`` to ``worker``; False if it is not running."""
        assert self.supervisor is not None
        return self.supervisor.send(worker, message)

    async def request(self, worker: str, command: str, timeout: float = 10.0, **args: Any) -> Any:
        """Send a :class:`Request` to ``worker`` and await its :class:`Reply`.

        Raises CommandError("failed", …) if the worker is not running, answers with an error, or
        does not answer within ``timeout`` s.
        """
        request_id = next(self._request_ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            if not self.send(worker, Request(request_id, command, args)):
                raise CommandError("failed", f"worker {worker!r} is not running (see status)")
            reply: Reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise CommandError(
                "failed", f"worker {worker!r} did not answer {command!r} within {timeout:g} s"
            ) from None
        finally:
            self._pending.pop(request_id, None)
        if reply.error is not None:
            raise CommandError("failed", reply.error)
        return reply.result

    def resolve(self, reply: Reply) -> None:
        """Hand a worker's :class:`Reply` to the request waiting for it."""
        future = self._pending.get(reply.request_id)
        if future is not None and not future.done():
            future.set_result(reply)

    # -- events ---------------------------------------------------------------------------------
    def publish(self, topic: str, payload: dict[str, Any] | None = None) -> None:
        """Publish event ``topic`` with a small JSON-ready ``payload`` to subscribed clients."""
        event_time = time.time()
        for sink in list(self.event_sinks):
            try:
                sink(topic, event_time, payload or {})
            except Exception:  # a faulty sink must not break the service that published
                log.exception("event sink failed on a %r event", topic)

    def event(self, text: str, *, level: str = "info", source: str = "daemon") -> None:
        """Log an event, hand it to listeners (e.g. the recorder's /log) and publish it under
        the topic ``log`` (payload ``{level, source, text}``)."""
        log.log(logging.getLevelName(level.upper()), "%s: %s", source, text)
        record = {"time": time.time(), "level": level, "source": source, "text": text}
        for listener in list(self.event_listeners):
            listener(record)
        self.publish("log", {"level": level, "source": source, "text": text})


class LogEvents(logging.Handler):
    """Publishes warnings and errors logged by any process of the daemon as ``log`` events.

    Safe from any thread (records of workers arrive on the log listener's thread): the event is
    handed to the event loop. Records of :meth:`DaemonContext.event` are skipped (it publishes
    them itself).
    """

    def __init__(self, ctx: DaemonContext, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.WARNING)
        self._ctx = ctx
        self._loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING or record.name == __name__:
            return
        payload = {
            "level": record.levelname.lower(),
            "source": record.processName if record.processName != "MainProcess" else record.name,
            "text": record.getMessage(),
        }
        with contextlib.suppress(RuntimeError):  # the loop has closed (shutdown)
            self._loop.call_soon_threadsafe(self._ctx.publish, "log", payload)


class Service:
    """Base class of the daemon's parts; every hook is optional."""

    name = "service"

    def __init__(self, ctx: DaemonContext) -> None:
        self.ctx = ctx

    def start(self) -> None:
        """Create shared memory and start workers (called in dependency order)."""

    def add_commands(self, table: CommandTable) -> None:
        """Register control commands."""

    def on_message(self, worker: str, message: WorkerMessage) -> None:
        """A message from a worker (every service sees every message; filter by ``worker``)."""

    def on_worker_started(self, worker: str) -> None:
        """Worker ``worker`` was (re)started."""

    def status(self) -> dict[str, Any] | None:
        """This service's part of the ``status`` reply, under the key :attr:`name`."""
        return None

    async def stop(self) -> None:
        """Called at shutdown before the workers are stopped."""
