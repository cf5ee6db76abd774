"""The typed client: :func:`connect` returns a :class:`Scope`."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..control.errors import DaemonNotRunning
from ._beads import Beads
from ._connection import Connection
from ._devices import Camera
from ._events import Event, Subscription
from ._force import Force
from ._locks import Locks
from ._motors import Motor, Motors
from ._recording import Recording
from ._scripts import Scripts
from ._start import start_daemon
from ._status import RecordingStatus, Status
from ._tracking import Tracking
from ._tracks import Tracks
from ._zlut import ZLUT

#: Longest wait (s) for a daemon started by ``connect(start=True)`` to answer.
START_TIMEOUT_S = 60.0


class Scope:
    """A connection to one daemon, with an object per part of the microscope.

    * :attr:`motors` (``scope.motors["magnet_height"]``), :attr:`focus`, :attr:`rotation`;
    * :attr:`camera` (``camera.settings`` mapping, ``pause``/``resume``);
    * :attr:`beads`, :attr:`tracking`, :attr:`zlut`, :attr:`tracks`, :meth:`record`;
    * :attr:`locks` (reference beads, drift, XY-lock, Z-lock);
    * :attr:`scripts` (start, status, pause, resume, abort, wait); :meth:`progress` in a script;
    * :meth:`events` / :meth:`subscribe` for live events, :meth:`call` for any command.

    Every method blocks until the daemon answers (at most the connection's ``timeout``);
    errors are :mod:`magscope_app.control.errors` classes (all CommandError). Safe to use from
    several threads. Close it (or use ``with``) to disconnect; the daemon keeps running.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.instance = connection.instance
        self._device_list: list[dict[str, Any]] | None = None
        self.motors = Motors(self)
        self.camera = Camera(self)
        self.beads = Beads(self)
        self.zlut = ZLUT(self)
        self.tracks = Tracks(self)
        self.tracking = Tracking(self)
        self.scripts = Scripts(self)
        self.locks = Locks(self)
        self.force = Force(self)

    # -- plain commands -------------------------------------------------------------------------
    def call(self, command: str, *, timeout: float | None = None, **args: Any) -> Any:
        """Run any daemon command (see ``call("help")``) and return its JSON result."""
        return self._connection.request(command, args, timeout)

    @property
    def daemon_version(self) -> str:
        """Software version of the daemon."""
        return self._connection.hello.get("version", "")

    def status(self) -> Status:
        """The daemon's status as a :class:`Status` (``.raw`` holds the whole reply)."""
        return Status.from_dict(self.call("status"))

    def describe(self) -> dict[str, Any]:
        """Shared-memory buffers (names, shapes, dtypes) to attach to."""
        return self.call("describe")

    def pause(self) -> None:
        """Pause acquisition."""
        self.call("pause")

    def resume(self) -> None:
        """Resume acquisition."""
        self.call("resume")

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` s pass (the daemon keeps acquiring, tracking and recording); in a
        script an abort ends the wait at once (ScriptAborted)."""
        self.scripts.sleep(seconds)

    def progress(self, fraction: float, text: str = "") -> None:
        """In a script: report progress (0 to 1, and a short text) to every client and to the
        recording's ``/log``; elsewhere print it."""
        self.scripts.progress(fraction, text)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the daemon and wait (at most ``timeout`` s) until its process has exited."""
        pid = self.call("status")["pid"]
        self.call("stop")
        deadline = time.monotonic() + timeout
        while _alive(pid, self._connection.daemon_process):
            if time.monotonic() > deadline:
                raise TimeoutError(f"daemon {self.instance!r} still running after {timeout:g} s")
            time.sleep(0.05)
        self.close()

    # -- devices --------------------------------------------------------------------------------
    def devices(self) -> list[dict[str, Any]]:
        """Every configured device (camera, motors): name, kind, driver, unit, limits, an
        ``error`` if it is unavailable, and its described settings with their current values."""
        self._device_list = self.call("devices")["devices"]
        return self._device_list

    def _devices(self) -> list[dict[str, Any]]:
        if self._device_list is None:
            self._device_list = self.call("devices")["devices"]
        return self._device_list

    def _device(self, name: str) -> dict[str, Any]:
        for device in self._devices():
            if device["name"] == name:
                return device
        raise KeyError(f"no device {name!r}")

    @property
    def focus(self) -> Motor:
        """The focus stage (nm); LookupError if none is configured."""
        return self.motors.of_kind("focus_stage", "focus stage")

    @property
    def rotation(self) -> Motor:
        """The magnet rotation (turns); LookupError if none is configured."""
        return self.motors.of_kind("rotary_motor", "magnet rotation")

    # -- recording ------------------------------------------------------------------------------
    def record(
        self,
        folder: str | os.PathLike,
        *,
        mode: str = "tracks",
        name: str | None = None,
        duration: float | None = None,
    ) -> Recording:
        """Start recording to an HDF5 file in ``folder`` (absolute; created if missing).

        ``mode``: ``tracks``, ``roi_video`` or ``full_video``; ``name``: the file name (default
        rec-<date>-<time>); ``duration``: stop by itself after this many seconds. Use as a
        context manager (stop reason ``completed``, or ``aborted`` on an exception) or call
        :meth:`Recording.stop`.
        """
        args: dict[str, Any] = {"folder": os.fspath(folder), "mode": mode}
        if name is not None:
            args["name"] = name
        if duration is not None:
            args["duration_s"] = float(duration)
        return Recording(self, self.call("record_start", **args))

    def recording_status(self) -> RecordingStatus:
        """The recording now or the last one (``running``, ``file``, sizes, rates, rows lost,
        ``last_error``; ``raw`` holds the whole reply), whoever started it."""
        return RecordingStatus.from_dict(self.call("record_status"))

    def stop_recording(self, reason: str = "user") -> RecordingStatus:
        """Stop the running recording, whoever started it, with stop ``reason``; returns its
        final status. CommandFailed if nothing is being recorded."""
        return RecordingStatus.from_dict(self.call("record_stop", reason=reason))

    # -- events ---------------------------------------------------------------------------------
    def events(self, *topics: str, timeout: float | None = None) -> Subscription:
        """Subscribe to ``topics`` now and return an iterator of :class:`Event` that ends
        ``timeout`` s later (None: when closed or disconnected). Events that do not fit its queue
        are counted and reported as an ``overflow`` event. Close it (or use ``with``) when done."""
        return self._connection.events.subscribe(topics, timeout=timeout)

    def subscribe(self, topics: Iterable[str], callback: Callable[[Event], Any]) -> Any:
        """Call ``callback(event)`` for every event of ``topics``, on one background thread shared
        by all callbacks (a callback may call the daemon). Returns an object with ``close()``."""
        return self._connection.events.subscribe_callback(topics, callback)

    # -- life cycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Disconnect (the daemon keeps running)."""
        self.tracks.close()
        self._connection.close()

    def __enter__(self) -> Scope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Scope {self.instance!r} (daemon {self.daemon_version})>"


def _alive(pid: int, process: Any) -> bool:
    """Whether process ``pid`` still runs; an exited one that its parent has not yet reaped (a
    zombie, e.g. a daemon started by another program) counts as gone."""
    if process is not None and process.pid == pid:
        return process.poll() is None  # our child: reap it
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def connect(
    instance: str = "default",
    *,
    start: bool = False,
    config: str | os.PathLike | None = None,
    timeout: float = 10.0,
) -> Scope:
    """Connect to daemon ``instance`` and return a :class:`Scope` (a context manager).

    ``start=True`` starts the daemon when none runs (``config``: its config file; None: the
    simulated microscope) and waits until it answers (at most 60 s). ``timeout``: seconds a
    command may take before TimeoutError. DaemonNotRunning if no daemon answers; ProtocolMismatch
    if the daemon speaks another protocol version.
    """
    try:
        connection = Connection(instance, timeout=timeout)
    except DaemonNotRunning:
        if not start:
            raise
        connection = start_daemon(instance, config, START_TIMEOUT_S)
        connection.timeout = timeout
    return Scope(connection)
