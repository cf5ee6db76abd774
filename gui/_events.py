"""Daemon events as Qt signals.

Two sources, one set of signals:

* **subscribe** (the typed client of issue #11): when the client has
  ``subscribe(topics, callback)``, daemon events are pushed to ``callback`` on the client's
  thread and re-emitted here on the GUI thread; status is then refreshed only every
  :data:`SLOW_POLL_MS` (rates and counters are not events);
* **FALLBACK — polling** (today's client has no events): ``status`` and ``beads`` are asked for
  every :data:`POLL_MS` through the :class:`~._bridge.Bridge` (on its worker thread) and the
  events are derived from what changed (new faults, bead list, recording and sweep state).
"""

from __future__ import annotations

import contextlib
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from ._bridge import Bridge

#: Status poll period (ms) of the polling fallback.
POLL_MS = 500
#: Status poll period (ms) when the client pushes events.
SLOW_POLL_MS = 1000
#: Topics asked for when the client can subscribe (issue #11's protocol); ``log`` events carry
#: the daemon's warnings and errors ``{level, source, text}``.
TOPICS = ("daemon", "acquisition", "motor", "recording", "zlut", "beads", "log", "script",
          "locks", "force")  # fmt: skip
#: The synthetic event a subscription gets when the connection is lost.
DISCONNECTED_TOPIC = "disconnected"


class DaemonEvents(QObject):
    """Qt signals for what happens in the daemon (all emitted on the GUI thread).

    * ``status(dict)``: the daemon's ``status`` reply, at every refresh;
    * ``beads(list)``: the bead list when it changed (entries of the ``beads`` command: id, x,
      y, roi, at_edge, …, plus ``roi_size``);
    * ``connected()`` / ``disconnected(message)``: the daemon answers again / is gone;
    * ``notification(level, source, text)``: a daemon warning or error (or info) to show;
    * ``daemon_event(topic, payload)``: a raw pushed event (subscribe path only).
    """

    status = pyqtSignal(dict)
    beads = pyqtSignal(list)
    connected = pyqtSignal()
    disconnected = pyqtSignal(str)
    notification = pyqtSignal(str, str, str)
    daemon_event = pyqtSignal(str, dict)
    _pushed = pyqtSignal(str, dict)

    def __init__(self, bridge: Bridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._busy = False
        self._online: bool | None = None
        self._beads: list[dict[str, Any]] | None = None
        self._seen_faults: set[tuple[Any, str, str]] = set()
        self._last_error: str | None = None
        self._zlut_state: str | None = None
        self._first = True
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._pushed.connect(self._on_pushed)
        bridge.disconnected.connect(self._on_disconnected)
        self.subscribed = False
        self._subscription: Any = None
        self._subscribe()

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start refreshing (first refresh now)."""
        self._timer.start(SLOW_POLL_MS if self.subscribed else POLL_MS)
        self.refresh()

    def stop(self) -> None:
        """Stop refreshing and end the subscription (if any)."""
        self._timer.stop()
        self._unsubscribe()

    def reconnected(self) -> None:
        """The bridge has a new client (daemon restarted): subscribe again and refresh."""
        self._online = None
        self._beads = None
        self._subscribe()
        self.start()

    def _subscribe(self) -> None:
        self._unsubscribe()
        client = self._bridge.client
        self.subscribed = False
        if hasattr(client, "subscribe"):
            try:
                self._subscription = client.subscribe(TOPICS, self._from_client_thread)
                self.subscribed = True
            except (ValueError, OSError, ConnectionError):  # topics refused: poll instead
                self._subscription = None

    def _unsubscribe(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None and hasattr(subscription, "close"):
            with contextlib.suppress(Exception):
                subscription.close()

    def _from_client_thread(self, event: Any) -> None:
        """Callback of ``client.subscribe``: runs on the client's thread, so only emit."""
        topic = getattr(event, "topic", None) or (event.get("topic") if isinstance(event, dict)
                                                  else None)  # fmt: skip
        payload = getattr(event, "payload", None)
        if payload is None and isinstance(event, dict):
            payload = event.get("payload", event)
        with contextlib.suppress(RuntimeError):  # this object was deleted (window closed)
            self._pushed.emit(str(topic or ""), dict(payload or {}))

    def _on_pushed(self, topic: str, payload: dict) -> None:
        if topic == DISCONNECTED_TOPIC:
            self._on_disconnected(str(payload.get("message") or "lost the connection"))
            return
        self.daemon_event.emit(topic, payload)
        level = payload.get("level") if topic == "log" else None
        if topic == "recording" and payload.get("state") == "error":
            level = "error"
        if level in ("warning", "error"):
            text = str(payload.get("text") or payload.get("message") or payload)
            self.notification.emit(level, str(payload.get("source", topic)), text)
        self.refresh()

    # -- polling -----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask for status and beads now (skipped while the previous answer is outstanding)."""
        if self._busy:
            return
        self._busy = True
        self._bridge.call("status", on_result=self._on_status, on_error=self._on_error)

    def _on_error(self, code: str, message: str) -> None:
        self._busy = False

    def _on_status(self, status: dict[str, Any]) -> None:
        if self._online is not True:
            self._online = True
            self.connected.emit()
        if not self.subscribed:  # pushed events already carry the warnings and errors
            self._derive_notifications(status)
        self.status.emit(status)
        self._bridge.call("beads", on_result=self._on_beads, on_error=self._on_error)

    def _on_beads(self, result: dict[str, Any]) -> None:
        self._busy = False
        size = result.get("roi_size")
        beads = [dict(b, roi_size=size) for b in result.get("beads", [])]
        if beads != self._beads:
            self._beads = beads
            self.beads.emit(beads)

    def _on_disconnected(self, message: str) -> None:
        self._busy = False
        if self._online is not False:
            self._online = False
            self.disconnected.emit(message)

    def _derive_notifications(self, status: dict[str, Any]) -> None:
        """Turn changes in ``status`` into notifications (the polling fallback's events)."""
        first, self._first = self._first, False
        for fault in status.get("faults", []):
            key = (fault.get("time"), fault.get("worker", ""), fault.get("message", ""))
            if key not in self._seen_faults:
                self._seen_faults.add(key)
                if not first:
                    self.notification.emit("error", key[1], key[2])
        recording = status.get("recording") or {}
        error = recording.get("last_error")
        if error and error != self._last_error and not first:
            self.notification.emit("error", "recording", error)
        self._last_error = error
        zlut = status.get("zlut") or {}
        state = zlut.get("state")
        if state != self._zlut_state and not first and state in ("complete", "failed", "cancelled"):
            level = (
                "info" if state == "complete" else "warning" if state == "cancelled" else "error"
            )
            self.notification.emit(level, "zlut", f"Z-LUT sweep {state}: {zlut.get('message')}")
        self._zlut_state = state
