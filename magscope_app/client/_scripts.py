"""Experiment scripts from the client: ``scope.scripts`` and, inside a script, ``scope.progress``.

Front ends (CLI, GUI, notebooks) start, watch, pause, resume and abort the daemon's script::

    run = scope.scripts.start("/abs/path/ramp.py", {"heights": [5, 3, 1]})
    final = run.wait(on_event=print)   # follows its "script" events; final.state "completed"…

Inside a script, the runner gives ``main`` a scope whose connection is attached to the run
(:func:`attach`): every call is a checkpoint the daemon may hold (paused), replies therefore
have no deadline, and once the script is aborted every call, and :meth:`Scope.wait`, raises
:class:`ScriptAborted` (``wait`` also when the connection to the daemon is lost).
``scope.scripts.pause()`` called by the script itself returns only when an operator resumes it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..control.errors import CommandFailed, DaemonNotRunning
from ._connection import Connection
from ._events import DISCONNECTED_EVENT, Event

if TYPE_CHECKING:
    from ._scope import Scope

#: States of a script that has ended.
FINAL_STATES = ("completed", "failed", "aborted", "killed")
#: Error reason of a call refused because the script was aborted.
ABORTED_REASON = "script_aborted"
#: Interval (s) of the status check while waiting (a lost event never hangs a wait).
CHECK_S = 1.0


class ScriptAborted(BaseException):
    """The script was aborted: raised by every call of the script's scope from then on.

    A BaseException (like KeyboardInterrupt), so ``except Exception`` in a script does not
    swallow it; ``with scope.record(...)`` blocks it leaves end with stop reason ``aborted``.
    """


@dataclass(frozen=True)
class ScriptStatus:
    """A script run as the daemon reports it (``script_status``); ``state`` is ``idle`` before
    any script, else starting, running, pausing, paused, aborting, completed, failed, aborted or
    killed.
    Times in s since the epoch; ``traceback`` of a script that raised."""

    state: str
    id: int | None = None
    name: str | None = None
    path: str | None = None
    pid: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float | None = None
    exit_code: int | None = None
    progress: float | None = None
    progress_text: str = ""
    error: str | None = None
    traceback: str | None = None
    output_tail: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScriptStatus:
        return cls(
            state=d.get("state", "idle"),
            id=d.get("id"),
            name=d.get("name"),
            path=d.get("path"),
            pid=d.get("pid"),
            params=d.get("params") or {},
            elapsed_s=d.get("elapsed_s"),
            exit_code=d.get("exit_code"),
            progress=d.get("progress"),
            progress_text=d.get("progress_text") or "",
            error=d.get("error"),
            traceback=d.get("traceback"),
            output_tail=tuple(d.get("output_tail") or ()),
            raw=d,
        )

    @property
    def done(self) -> bool:
        """True once the script has ended (completed, failed, aborted or killed)."""
        return self.state in FINAL_STATES


class ScriptRun:
    """A script the daemon runs (one :meth:`Scripts.start` returned, or the current one)."""

    def __init__(
        self, scripts: Scripts, started: dict[str, Any], subscription: Any, *, from_start: bool
    ) -> None:
        self._scripts = scripts
        self._from_start = from_start  # subscribed before the start: no event was missed
        self.id: int = started["id"]
        self.name: str = started["name"]
        self.path: str = started["path"]
        self._subscription = subscription

    def status(self) -> ScriptStatus:
        """This run's status now."""
        return ScriptStatus.from_dict(self._scripts._scope.call("script_status", id=self.id))

    def pause(self) -> ScriptStatus:
        """Hold the script at its next call (state ``pausing``, then ``paused``); CommandFailed
        if it has ended."""
        return self._scripts._command("script_pause", id=self.id)

    def resume(self) -> ScriptStatus:
        """Let the paused script go on."""
        return self._scripts._command("script_resume", id=self.id)

    def abort(self, *, wait: bool = False, timeout: float = 30.0) -> ScriptStatus:
        """Abort the script; ``wait``: until it has ended (at most ``timeout`` s)."""
        status = self._scripts._command("script_abort", id=self.id)
        return self.wait(timeout) if wait else status

    def wait(
        self, timeout: float | None = None, *, on_event: Callable[[Event], Any] | None = None
    ) -> ScriptStatus:
        """Block until the script ends (at most ``timeout`` s, else TimeoutError) and return
        its final status. ``on_event(event)`` is called for each of its ``script`` events
        (state changes, output lines, progress) as they come."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # a run followed from its start gets every event; one followed later may be over already
        status = None if self._from_start else self.status()
        while status is None or not status.done:
            step = CHECK_S if deadline is None else min(CHECK_S, deadline - time.monotonic())
            if step <= 0:
                raise TimeoutError(f"script {self.id} ({self.name}) still running after "
                                   f"{timeout:g} s")  # fmt: skip
            event = self._subscription.get(step)
            if event is None:
                status = self.status()  # a lost event never hangs the wait
                continue
            if event.topic == DISCONNECTED_EVENT:
                raise DaemonNotRunning(f"lost the daemon: {event.payload.get('reason')}")
            if event.payload.get("id") != self.id:
                continue
            if on_event is not None:
                on_event(event)
            if event.payload.get("state") in FINAL_STATES:
                status = self.status()
        self.close()
        return status

    def close(self) -> None:
        """Stop following this run's events (its status stays available)."""
        self._subscription.close()

    def __repr__(self) -> str:
        return f"<ScriptRun {self.id} {self.name}>"


class Scripts:
    """The daemon's experiment scripts (one runs at a time): start, status, pause, resume,
    abort, wait; :meth:`progress` from inside a script."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self.attached_id: int | None = None  # set in the script's own process
        self._aborted = threading.Event()

    def start(self, path: str | os.PathLike, params: dict[str, Any] | None = None) -> ScriptRun:
        """Run the script file ``path`` (on the daemon's machine; made absolute here) with
        ``main(scope, **params)`` (JSON values). InvalidArgument for a missing file, a syntax
        error or no ``main``; CommandFailed while another script runs (named in the message)."""
        subscription = self._scope.events("script")  # before the start: no event is missed
        try:
            started = self._scope.call(
                "script_start", path=os.path.abspath(os.fspath(path)), params=params or {}
            )
        except BaseException:
            subscription.close()
            raise
        return ScriptRun(self, started, subscription, from_start=True)

    def current(self) -> ScriptRun | None:
        """The running script (or the last one), to wait on; None before any."""
        status = self.status()
        if status.id is None:
            return None
        return ScriptRun(self, status.raw, self._scope.events("script"), from_start=False)

    def status(self) -> ScriptStatus:
        """The running script's status, or the last one's (state ``idle`` before any)."""
        return ScriptStatus.from_dict(self._scope.call("script_status"))

    def pause(self) -> ScriptStatus:
        """Hold the running script at its next call. Called by the script itself, this returns
        when an operator resumes it (or raises ScriptAborted)."""
        status = ScriptStatus.from_dict(self._scope.call("script_pause"))
        if self.attached_id is not None and status.id == self.attached_id:
            status = self.status()  # our next call: held here until resumed
        return status

    def resume(self) -> ScriptStatus:
        """Let the paused script go on."""
        return self._command("script_resume")

    def _command(self, command: str, **args: Any) -> ScriptStatus:
        return ScriptStatus.from_dict(self._scope.call(command, **args))

    def abort(self, *, wait: bool = True, timeout: float = 30.0) -> ScriptStatus:
        """Abort the running script (motors stopped, sweep cancelled, its recording stopped
        with reason ``aborted``; killed if alive 2 s later). ``wait``: return its final status
        (at most ``timeout`` s). CommandFailed if no script runs."""
        if not wait:
            return self._command("script_abort")
        run = self.current()
        try:
            status = self._command("script_abort", **({} if run is None else {"id": run.id}))
            return run.wait(timeout) if run is not None else status
        finally:
            if run is not None:
                run.close()

    def wait(
        self, timeout: float | None = None, *, on_event: Callable[[Event], Any] | None = None
    ) -> ScriptStatus:
        """Block until the current script ends (see :meth:`ScriptRun.wait`)."""
        run = self.current()
        if run is None:
            return self.status()
        try:
            return run.wait(timeout, on_event=on_event)
        finally:
            run.close()

    # -- inside a script --------------------------------------------------------------------------
    def progress(self, fraction: float, text: str = "") -> None:
        """Report progress (0 to 1, with a short text) to every client and the recording's
        ``/log``. Outside a script (e.g. testing ``main`` in a notebook) it prints the line."""
        if self.attached_id is None:
            print(f"progress {100 * fraction:.0f} % {text}".rstrip())
            return
        self._scope.call("script_progress", fraction=float(fraction), text=text)

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass; inside a script an abort (or the daemon going away) ends it at
        once with ScriptAborted."""
        if self.attached_id is None:
            time.sleep(seconds)
        elif self._aborted.is_set() or self._aborted.wait(seconds):
            raise ScriptAborted(f"script {self.attached_id} was aborted")

    def _on_event(self, event: Event) -> None:
        """Reader thread: notice that this script is being aborted or lost its daemon."""
        if event.topic == DISCONNECTED_EVENT or (
            event.payload.get("id") == self.attached_id
            and event.payload.get("state") in ("aborting", "aborted", "killed")
        ):
            self._aborted.set()


class ScriptConnection(Connection):
    """The connection of a script's own process: no reply deadline (the daemon holds calls
    while the script is paused) and refused calls of an aborted script raise ScriptAborted."""

    def __init__(self, instance: str) -> None:
        super().__init__(instance)
        self.timeout = None  # type: ignore[assignment]

    def request(
        self, command: str, args: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        try:
            return super().request(command, args, timeout)
        except CommandFailed as exc:
            if exc.reason == ABORTED_REASON:
                raise ScriptAborted(exc.message) from None
            raise


def attach(instance: str, script_id: int) -> Scope:
    """The scope of script ``script_id``'s own process (called by the script runner)."""
    from ._scope import Scope

    scope = Scope(ScriptConnection(instance))
    try:
        scripts = scope.scripts
        scripts.attached_id = script_id
        scope._connection.events.watch("script", scripts._on_event)
        scope.call("script_attach", id=script_id)
    except BaseException:
        scope.close()
        raise
    return scope
