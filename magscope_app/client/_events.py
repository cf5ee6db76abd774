"""Daemon events on the client side: :class:`Event`, iterable :class:`Subscription` queues and
:class:`EventHub`, which keeps the connection's topics equal to what its subscribers want.

The connection's reader thread hands every event to the hub (:meth:`EventHub.dispatch`), which
puts it, without ever blocking, into the bounded queue of each subscription that wants its topic.
A full queue drops the event and counts it; the subscriber gets an ``overflow`` event with the
count (payload ``{"dropped": n, "where": "client"}``) before its next event. Events the daemon
itself had to drop for this connection arrive as ``overflow`` events too (``{"dropped": n}``),
given to every subscription of the connection.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..control.protocol import OVERFLOW_EVENT, TOPICS

log = logging.getLogger(__name__)

#: Synthetic event a subscription gets when the connection to the daemon is lost.
DISCONNECTED_EVENT = "disconnected"
#: Events queued per subscription before they are dropped (and counted).
DEFAULT_QUEUE = 10_000


@dataclass(frozen=True)
class Event:
    """One daemon event: ``topic`` (see :data:`magscope_app.control.TOPICS`), ``time`` (s since
    the epoch, when the daemon published it) and a small JSON ``payload``."""

    topic: str
    time: float
    payload: dict[str, Any] = field(default_factory=dict)


def check_topics(topics: Iterable[str]) -> frozenset[str]:
    """The topics as a set; ValueError naming an unknown one."""
    wanted = frozenset(topics)
    unknown = sorted(wanted - set(TOPICS))
    if unknown:
        raise ValueError(f"unknown event topic(s) {unknown}; topics are {', '.join(TOPICS)}")
    return wanted


class Subscription:
    """Events of some topics, in arrival order, from a bounded queue.

    Iterate it (``for event in sub``) until ``timeout`` seconds after it was made (None: until
    :meth:`close` or the connection ends), or call :meth:`get`. A context manager; closing it
    unsubscribes.
    """

    def __init__(
        self,
        hub: EventHub,
        topics: frozenset[str],
        *,
        timeout: float | None = None,
        maxsize: int = DEFAULT_QUEUE,
    ) -> None:
        self.topics = topics
        self._hub = hub
        self._queue: queue.Queue[Event] = queue.Queue(maxsize)
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self.closed = False

    def offer(self, event: Event) -> None:
        """Queue ``event`` (called on the reader thread; never blocks)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._dropped_lock:
                self._dropped += 1

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting at most ``timeout`` s (None: forever); None on timeout."""
        if self._dropped:
            with self._dropped_lock:
                dropped, self._dropped = self._dropped, 0
            return Event(OVERFLOW_EVENT, time.time(), {"dropped": dropped, "where": "client"})
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[Event]:
        try:
            while not self.closed:
                remaining = None
                if self._deadline is not None:
                    remaining = self._deadline - time.monotonic()
                    if remaining <= 0:
                        return
                event = self.get(remaining)
                if event is None:
                    continue
                yield event
                if event.topic == DISCONNECTED_EVENT:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop receiving events (idempotent)."""
        if not self.closed:
            self.closed = True
            self._hub.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Callback:
    """A subscription whose events a shared dispatcher thread hands to ``callback``."""

    def __init__(self, hub: EventHub, topics: frozenset[str], callback: Callable[[Event], Any]):
        self.topics = topics
        self.callback = callback
        self._hub = hub
        self.closed = False

    def offer(self, event: Event) -> None:
        self._hub.callback_queue_put(self, event)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._hub.remove(self)


class EventHub:
    """Routes the events of one connection to its subscriptions and handles.

    ``set_topics(topics)`` is called (on the caller's thread) whenever the union of wanted topics
    changes; it sends ``subscribe`` to the daemon. Internal watchers (move and sweep handles) are
    plain callables run on the reader thread: they must be quick and must not call the daemon.
    """

    def __init__(self, set_topics: Callable[[list[str]], Any]) -> None:
        self._set_topics = set_topics
        self._lock = threading.RLock()
        self._subscribers: list[Any] = []
        self._watchers: dict[str, list[Callable[[Event], None]]] = {}
        self._pinned: set[str] = set()
        self._active: frozenset[str] = frozenset()
        self._callbacks: queue.Queue[tuple[_Callback, Event] | None] | None = None
        self._callback_thread: threading.Thread | None = None
        self.callback_errors = 0

    # -- registration (caller's thread) -------------------------------------------------------
    def subscribe(self, topics: Iterable[str], *, timeout: float | None = None) -> Subscription:
        sub = Subscription(self, check_topics(topics), timeout=timeout)
        self._add(sub)
        return sub

    def subscribe_callback(self, topics: Iterable[str], callback: Callable[[Event], Any]):
        sub = _Callback(self, check_topics(topics), callback)
        self._add(sub)
        return sub

    def watch(self, topic: str, watcher: Callable[[Event], None]) -> None:
        """Run ``watcher(event)`` on the reader thread for every ``topic`` event, for good."""
        with self._lock:
            self._watchers.setdefault(topic, []).append(watcher)
            self._pinned.add(topic)
            self._update()

    def _add(self, sub: Any) -> None:
        with self._lock:
            self._subscribers = [*self._subscribers, sub]
            try:
                self._update()
            except BaseException:
                self._subscribers = [s for s in self._subscribers if s is not sub]
                raise

    def remove(self, sub: Any) -> None:
        with self._lock:
            self._subscribers = [s for s in self._subscribers if s is not sub]
            with contextlib.suppress(OSError):  # the connection is gone: nothing to undo
                self._update()

    def _update(self) -> None:
        wanted = frozenset(self._pinned).union(*(s.topics for s in self._subscribers))
        if wanted != self._active:
            self._set_topics(sorted(wanted))
            self._active = wanted

    # -- dispatch (reader thread) -------------------------------------------------------------
    def dispatch(self, event: Event) -> None:
        """Hand ``event`` to its watchers and subscribers; overflow and disconnect go to all."""
        broadcast = event.topic in (OVERFLOW_EVENT, DISCONNECTED_EVENT)
        for topic, watchers in list(self._watchers.items()):
            if broadcast or topic == event.topic:
                for watcher in watchers:
                    try:
                        watcher(event)
                    except Exception:  # never let a handle's bug stop the reader thread
                        log.exception("event watcher %r failed on %r", watcher, event.topic)
        for sub in self._subscribers:
            if broadcast or event.topic in sub.topics:
                sub.offer(event)

    # -- callbacks (their own thread, so a callback may call the daemon) -----------------------
    def callback_queue_put(self, sub: _Callback, event: Event) -> None:
        if self._callbacks is None:
            self._callbacks = queue.Queue(DEFAULT_QUEUE)
            self._callback_thread = threading.Thread(
                target=self._run_callbacks, name="magscope-client-callbacks", daemon=True
            )
            self._callback_thread.start()
        try:
            self._callbacks.put_nowait((sub, event))
        except queue.Full:
            self.callback_errors += 1

    def _run_callbacks(self) -> None:
        assert self._callbacks is not None
        while (item := self._callbacks.get()) is not None:
            sub, event = item
            if sub.closed:
                continue
            try:
                sub.callback(event)
            except Exception:
                self.callback_errors += 1
                log.exception("event callback %r failed on a %r event", sub.callback, event.topic)

    def close(self) -> None:
        """Stop the callback thread (after the events already queued)."""
        if self._callbacks is not None and self._callback_thread is not None:
            self._callbacks.put(None)
            if self._callback_thread is not threading.current_thread():
                self._callback_thread.join(2.0)
