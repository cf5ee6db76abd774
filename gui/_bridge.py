"""The window's one way to the daemon: every client call runs on a worker thread.

:class:`Bridge` takes any client with ``call(command, **args)`` (today's
:class:`magscope_app.control.Client`, tomorrow the typed client) and runs each call on a
:class:`QThreadPool`, so the GUI thread never waits for the socket. Results and errors come back
on the GUI thread, as callbacks and as Qt signals.

A client holds one connection and is used by one thread at a time. The daemon answers one request
at a time per connection, so with only the given client a slow command (``devices`` waits for
every device) would delay the status poll behind it; given ``connect`` (a function returning a
new client), the bridge opens up to ``threads`` connections and runs that many calls at once.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from PyQt6 import sip
from PyQt6.QtCore import QObject, QRunnable, QThreadPool, pyqtSignal

ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[str, str], None]
#: Longest wait (s) of a worker thread for a free client (a call's own timeout is the client's).
CLIENT_WAIT_S = 60.0


def error_code(exc: BaseException) -> str:
    """The protocol error code of ``exc`` (``unknown_command``, ``invalid_argument``, …),
    ``disconnected`` when the daemon is gone, ``timeout``, or ``error``."""
    if isinstance(exc, ConnectionError):  # DaemonNotRunning (whatever its code), socket errors
        return "disconnected"
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError):
        return "disconnected"
    return "error"


def error_text(exc: BaseException) -> str:
    """One line for the user: the daemon's message without the code prefix."""
    return str(getattr(exc, "message", None) or exc) or type(exc).__name__


class _Clients:
    """Idle clients of the current daemon; more are made with ``connect`` up to ``limit``."""

    def __init__(self, client: Any, connect: Callable[[], Any] | None, limit: int) -> None:
        self._connect, self._limit = connect, limit if connect is not None else 1
        self._idle: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.generation = 0
        self._made = 0
        self.current = client
        self.replace(client)

    def replace(self, client: Any) -> None:
        """Start over with ``client`` (old clients are closed as they come back)."""
        with self._lock:
            self.generation += 1
            self._made = 1 if client is not None else 0
            self.current = client
        if client is not None:
            self._idle.put((self.generation, client))

    def take(self) -> tuple[int, Any]:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            make = self._connect is not None and self._made < self._limit
            if make:
                self._made += 1
            elif self._made == 0:
                raise ConnectionError("lost the connection to the daemon")
            generation = self.generation
        if make:
            try:
                return generation, self._connect()
            except BaseException:
                with self._lock:
                    self._made -= generation == self.generation
                raise
        while True:
            generation, client = self._idle.get(timeout=CLIENT_WAIT_S)
            if generation == self.generation:
                return generation, client
            _close(client)

    def give(self, generation: int, client: Any, *, broken: bool) -> None:
        with self._lock:
            current = generation == self.generation
            if current and broken:
                self._made -= 1
        if current and not broken:
            self._idle.put((generation, client))
        else:
            _close(client)

    def close(self) -> None:
        with self._lock:
            self.generation += 1
            self.current = None
        while True:
            try:
                _close(self._idle.get_nowait()[1])
            except queue.Empty:
                return


class _Call(QRunnable):
    """One client call (or a blocking function); its outcome goes to ``bridge._finished``."""

    def __init__(self, bridge: Bridge, token: object, command: Any, args: dict[str, Any]) -> None:
        super().__init__()
        self._bridge, self._token, self._command, self._args = bridge, token, command, args

    def run(self) -> None:
        try:
            if callable(self._command):
                outcome = (True, self._command())
            else:
                outcome = (True, self._bridge._run_call(self._command, self._args))
        except Exception as exc:  # every failure goes back to the GUI thread as data
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the bridge was deleted (window closed)
            self._bridge._finished.emit(self._token, outcome)


class Bridge(QObject):
    """Runs client calls off the GUI thread.

    Signals (always emitted on the GUI thread):

    * ``failed(command, code, message)``: a call without an ``on_error`` callback raised;
    * ``disconnected(message)``: a call found the daemon gone (``DaemonNotRunning`` or a socket
      error); emitted once until :meth:`set_client` is called again.
    """

    failed = pyqtSignal(str, str, str)
    disconnected = pyqtSignal(str)
    _finished = pyqtSignal(object, object)

    def __init__(
        self,
        client: Any,
        *,
        connect: Callable[[], Any] | None = None,
        threads: int = 3,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._clients = _Clients(client, connect, threads)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads if connect is not None else 1)
        self._aux = QThreadPool(self)
        self._aux.setMaxThreadCount(1)
        self._pending: dict[object, tuple[str, Any, Any, bool]] = {}
        self._lock = threading.Lock()
        self._lost = False
        self._closed = False
        self._finished.connect(self._deliver)

    @property
    def client(self) -> Any:
        """The client given at construction or by :meth:`set_client` (None when closed)."""
        return self._clients.current

    @property
    def connected(self) -> bool:
        """False once a call found the daemon gone, until :meth:`set_client`."""
        return self._clients.current is not None and not self._lost

    def set_client(self, client: Any) -> None:
        """Use ``client`` from now on (after the daemon was restarted); older clients are
        closed when their running calls end."""
        self._clients.replace(client)
        self._lost = False

    def _run_call(self, command: str, args: dict[str, Any]) -> Any:
        """On a worker thread: run one call on a free client."""
        if self._clients.current is None:
            raise ConnectionError("not connected to a daemon")
        generation, client = self._clients.take()
        broken = False
        try:
            return client.call(command, **args)
        except (ConnectionError, OSError):
            broken = True
            raise
        finally:
            self._clients.give(generation, client, broken=broken)

    def call(
        self,
        command: str,
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
        **args: Any,
    ) -> None:
        """Queue ``command(**args)``; ``on_result(result)`` or ``on_error(code, message)`` run
        later on the GUI thread (skipped if their owner widget was deleted meanwhile)."""
        self._start(self._pool, command, command, on_result, on_error, args)

    def run_in_thread(
        self,
        function: Callable[[], Any],
        on_result: ResultCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Run a blocking ``function()`` (e.g. starting a daemon) on a separate worker thread,
        so client calls are not queued behind it; callbacks as for :meth:`call`."""
        self._start(self._aux, getattr(function, "__name__", "task"), function, on_result,
                    on_error, {})  # fmt: skip

    def _start(self, pool: QThreadPool, name: str, what: Any, on_result: ResultCallback | None,
               on_error: ErrorCallback | None, args: dict[str, Any]) -> None:  # fmt: skip
        if self._closed:
            return
        token = object()
        with self._lock:
            self._pending[token] = (name, on_result, on_error, pool is self._pool)
        pool.start(_Call(self, token, what, args))

    def pending(self) -> int:
        """Calls queued or running."""
        with self._lock:
            return len(self._pending)

    def _deliver(self, token: object, outcome: tuple[bool, Any]) -> None:
        with self._lock:
            command, on_result, on_error, is_call = self._pending.pop(token, ("", None, None, 0))
        ok, value = outcome
        if ok:
            if on_result is not None and _alive(on_result):
                on_result(value)
            return
        code, message = error_code(value), error_text(value)
        if code == "disconnected" and is_call and not self._lost:
            self._lost = True
            self.disconnected.emit(message)
        if on_error is None:
            self.failed.emit(command, code, message)
        elif _alive(on_error):
            on_error(code, message)

    def close(self, timeout_ms: int = 5000) -> None:
        """Refuse new calls, wait for the running ones (at most ``timeout_ms`` each pool), close
        the clients. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for pool in (self._pool, self._aux):
            pool.clear()
            pool.waitForDone(timeout_ms)
        self._clients.close()


def _close(client: Any) -> None:
    if hasattr(client, "close"):
        with contextlib.suppress(OSError):
            client.close()


def _alive(callback: Callable[..., Any]) -> bool:
    """False when ``callback`` is a method of a Qt object that has been deleted."""
    owner = getattr(callback, "__self__", None)
    return not (isinstance(owner, QObject) and sip.isdeleted(owner))
