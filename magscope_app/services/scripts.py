"""Experiment scripts, owned by the daemon: one at a time, each in its own process.

A script is a Python file defining ``main(scope, **params)``. ``script_start {path, params}``
checks it and starts the runner (:mod:`magscope_app.workers.script_runner`), which connects back,
attaches its connection to the run (``script_attach``; only the script's own process may) and
calls ``main`` with a typed client. Every GUI, CLI or notebook client sees the run
(``script_status``, ``script`` events) and can pause, resume or abort it.

* **States**: ``starting`` (until the runner attaches), ``running``, ``pausing``, ``paused``,
  ``aborting``, then one of the outcomes below.
* **Checkpoints.** Every command of the script's connection passes its gate. ``script_pause``
  makes the state ``pausing``; the script's next command is held there (state ``paused``) until
  ``script_resume``. A command already running (a move, a sweep) goes on undisturbed.
* **Abort** (``script_abort``, the daemon stopping, or the script failing): held commands are
  released with the error ``failed``/reason ``script_aborted`` (the client raises
  ``ScriptAborted``), as is every later one; once the script's commands under way have finished
  (at most 2 s) every motor is stopped, a running Z-LUT sweep is cancelled and a recording
  started during the script is stopped with reason ``aborted`` (a recording that was already
  running when the script started is left alone; nothing is reset to defaults). A process still
  alive 2 s after the abort is killed with its children.
* **Output**: each line of the script's stdout and stderr, its traceback (``script_output`` from
  the runner) and its ``script_progress`` calls are published as ``script`` events and logged
  with :meth:`DaemonContext.event` (the daemon log and the running recording's ``/log``); a
  script printing more than 200 lines a second gets the excess counted instead (one note).
* **Outcome**: ``completed`` (exit status 0; a recording it left running is stopped with reason
  ``script_end``), ``failed`` (an exception or a non-zero exit status; cleaned up as for an
  abort), ``aborted`` (it ended within 2 s of the abort), ``killed`` (it had to be killed).

``script`` event payloads (all carry ``id`` and ``name``): ``{state, exit_code, error}`` when the
state changes; ``{stream: stdout|stderr|traceback, output}`` for output; ``{progress, text}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from ..control._session import CURRENT_SESSION, Session
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ._script_run import ACTIVE, FINAL, ScriptRun, check_script, kill, read_lines, spawn
from .base import DaemonContext, Service

log = logging.getLogger(__name__)

#: Seconds between an abort and the kill of a script process that has not exited.
KILL_AFTER_S = 2.0
#: Error reason of a command refused because its script was aborted.
ABORTED_REASON = "script_aborted"
#: Commands of the script's connection that are never held nor refused.
UNGATED = frozenset({"script_output"})
#: Finished runs kept for ``script_status {id}``.
HISTORY = 10
#: Output lines a second relayed to clients and the /log; more are counted, not relayed.
MAX_LINES_PER_S = 200


class ScriptService(Service):
    """Runs one experiment script at a time (see the module docstring)."""

    name = "scripts"

    def __init__(self, ctx: DaemonContext) -> None:
        super().__init__(ctx)
        self._table: CommandTable | None = None
        self._ids = itertools.count(1)
        self._runs: dict[int, ScriptRun] = {}
        self._current: ScriptRun | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- commands ---------------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        self._table = table
        table.add(
            "script_start",
            self._cmd_start,
            Param("path", "str", help="absolute path of a file defining main(scope, **params)"),
            Param("params", "dict", required=False, help="keyword arguments of main (JSON values)"),
            help="run an experiment script in its own process (one at a time)",
        )
        table.add(
            "script_status",
            self._cmd_status,
            Param("id", "int", required=False, help="a recent run (default: current or last)"),
            help="state, progress, output tail and outcome of the script",
        )
        only = Param("id", "int", required=False, help="refuse unless this run is the current")
        table.add("script_pause", self._cmd_pause, only, help="hold the script at its next call")
        table.add("script_resume", self._cmd_resume, only, help="let a paused script go on")
        table.add(
            "script_abort",
            self._cmd_abort,
            only,
            help="abort the script: stop motors, sweep and its recording; kill it after 2 s",
        )
        table.add(
            "script_attach",
            self._cmd_attach,
            Param("id", "int", help="the run's id"),
            help="(script runner) make this connection the script's: its commands are checkpoints",
        )
        table.add(
            "script_output",
            self._cmd_output,
            Param("text", "str"),
            Param("stream", "str", choices=("stdout", "stderr", "traceback")),
            help="(script runner) output of the script (never held)",
        )
        table.add(
            "script_progress",
            self._cmd_progress,
            Param("fraction", "float", minimum=0.0, maximum=1.0, help="0 to 1"),
            Param("text", "str", required=False, default=""),
            help="(script) report progress to every client and the recording's /log",
        )

    async def _cmd_start(self, path: str, params: dict[str, Any] | None) -> dict[str, Any]:
        current = self._current
        if current is not None and current.state not in FINAL:
            raise CommandError(
                "failed",
                f"script {current.id} ({current.name}) is {current.state}: abort it or wait "
                "until it ends before starting another",
            )
        run = ScriptRun(next(self._ids), check_script(path), params or {})
        self._current = run  # before any await: a second start is refused from here on
        self._runs[run.id] = run
        for old in [i for i in self._runs if i <= run.id - HISTORY]:
            del self._runs[old]
        recording = await self._command("record_status") or {}
        run.recording_before = recording.get("file") if recording.get("running") else None
        try:
            run.process = await spawn(run, self.ctx.instance)
        except OSError as exc:
            run.error, run.state, run.ended = f"could not start: {exc}", "failed", time.time()
            raise CommandError("failed", f"script_start: {run.error}") from None
        text = f"script {run.id} ({run.name}) started (pid {run.pid}), params {run.params}"
        self.ctx.event(text, source="scripts")
        self._publish_state(run)
        self._spawn_task(self._supervise(run), f"script-{run.id}")
        return run.to_dict()

    async def _cmd_status(self, id: int | None = None) -> dict[str, Any]:
        if id is None:
            return self.status()
        if id not in self._runs:
            raise CommandError("invalid_argument", f"script_status: no recent script with id {id}")
        return self._runs[id].to_dict()

    async def _cmd_pause(self, id: int | None = None) -> dict[str, Any]:
        run = self._active("script_pause", id)
        if run.state in ("starting", "running"):
            run.released.clear()
            self._set_state(run, "pausing")
        return run.to_dict()

    async def _cmd_resume(self, id: int | None = None) -> dict[str, Any]:
        run = self._active("script_resume", id)
        if run.state in ("pausing", "paused"):
            self._set_state(run, "running" if run.session is not None else "starting")
            run.released.set()
        return run.to_dict()

    async def _cmd_abort(self, id: int | None = None) -> dict[str, Any]:
        run = self._active("script_abort", id, aborting_ok=True)
        self._begin_abort(run, "abort command")
        return run.to_dict()

    async def _cmd_attach(self, id: int) -> dict[str, Any]:
        run = self._runs.get(id)
        if run is None or run.state in FINAL:
            raise CommandError("invalid_argument", f"script_attach: no running script {id}")
        if run.aborting:
            raise CommandError("failed", f"script {id} was aborted", reason=ABORTED_REASON)
        session = CURRENT_SESSION.get()
        if session is None or _peer_pid(session) != run.pid:
            raise CommandError("failed", f"script_attach: only script {id}'s own process may")
        if run.session is not None:
            raise CommandError("failed", f"script_attach: script {id} is already attached")
        run.session = session
        session.gate = functools.partial(self._gate, run)
        if run.state == "starting":
            self._set_state(run, "running")
        return run.to_dict()

    async def _cmd_output(self, text: str, stream: str) -> dict[str, Any]:
        run = self._own_run("script_output")
        if stream == "traceback":
            run.traceback = text
            run.error = text.rstrip().rsplit("\n", 1)[-1]
        self._output(run, text, stream)
        return {"id": run.id}

    async def _cmd_progress(self, fraction: float, text: str) -> dict[str, Any]:
        run = self._own_run("script_progress")
        run.progress, run.progress_text = fraction, text
        self.ctx.publish("script", run.event(progress=fraction, text=text))
        self.ctx.event(f"progress {100 * fraction:.0f} % {text}".rstrip(), source=_source(run))
        return {"id": run.id, "progress": fraction}

    # -- helpers of the commands ------------------------------------------------------------------
    def _active(self, command: str, id: int | None, *, aborting_ok: bool = False) -> ScriptRun:
        run = self._current
        if run is None or run.state in FINAL:
            raise CommandError("failed", f"{command}: no script is running")
        if id is not None and id != run.id:
            raise CommandError("failed", f"{command}: script {id} is not running (script "
                               f"{run.id} is)")  # fmt: skip
        if run.aborting and not aborting_ok:
            raise CommandError("failed", f"{command}: script {run.id} ({run.name}) is aborting")
        return run

    def _own_run(self, command: str) -> ScriptRun:
        """The run whose connection sent this command (CommandError for any other client)."""
        run = self._current
        if run is None or run.session is None or CURRENT_SESSION.get() is not run.session:
            raise CommandError("failed", f"{command}: only the running script may send this")
        return run

    async def _command(self, name: str, **args: Any) -> Any:
        """Run one of the daemon's own commands (as a client would); None if it failed."""
        assert self._table is not None
        try:
            command, checked = self._table.validate(name, args)
            return await command.handler(**checked)
        except CommandError as exc:
            log.warning("scripts: %s failed: %s", name, exc.message)
            return None

    def _spawn_task(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- state ------------------------------------------------------------------------------------
    def _set_state(self, run: ScriptRun, state: str) -> None:
        run.state = state
        self._publish_state(run)
        level = "error" if state in ("failed", "killed") else "info"
        text = f"script {run.id} ({run.name}) {state}"
        if state in FINAL:
            text += f" (exit status {run.exit_code})"
            if run.error:
                text += f": {run.error}"
        self.ctx.event(text, level=level, source="scripts")

    def _publish_state(self, run: ScriptRun) -> None:
        self.ctx.publish(
            "script", run.event(state=run.state, exit_code=run.exit_code, error=run.error)
        )

    def _printed(self, run: ScriptRun, text: str, stream: str) -> None:
        """A line of the script's stdout or stderr: relayed unless the script prints more than
        MAX_LINES_PER_S lines a second (the excess is counted and reported, never silent)."""
        now = time.monotonic()
        if now - run.window_start >= 1.0:
            run.window_start, run.window_lines = now, 0
        if run.window_lines >= MAX_LINES_PER_S:
            run.lines_dropped += 1
            return
        run.window_lines += 1
        self._report_dropped(run)
        self._output(run, text, stream)

    def _report_dropped(self, run: ScriptRun) -> None:
        if run.lines_dropped:
            note = (f"[{run.lines_dropped} output lines not relayed: the script printed more "
                    f"than {MAX_LINES_PER_S} lines/s]")  # fmt: skip
            run.lines_dropped = 0
            self._output(run, note, "stderr")

    def _output(self, run: ScriptRun, text: str, stream: str) -> None:
        run.output_tail.append(text)
        self.ctx.publish("script", run.event(stream=stream, output=text))
        level = {"stdout": "info", "stderr": "warning"}.get(stream, "error")
        self.ctx.event(text, level=level, source=_source(run))

    # -- checkpoints ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _gate(self, run: ScriptRun, command: str) -> AsyncIterator[None]:
        """Around every command of the script's connection: hold it while paused, refuse it once
        aborted, and count it while it runs (an abort waits for those)."""
        if command not in UNGATED:
            while not run.released.is_set():
                if run.state == "pausing":
                    self._set_state(run, "paused")
                await run.released.wait()
            if run.aborting or run.ended is not None:  # (ended: its process died while held)
                raise CommandError(
                    "failed",
                    f"script {run.id} ({run.name}) was aborted: {command} refused",
                    reason=ABORTED_REASON,
                )
        run.in_flight += 1
        run.idle.clear()
        try:
            yield
        finally:
            run.in_flight -= 1
            if run.in_flight == 0:
                run.idle.set()

    # -- abort and the end of a run ---------------------------------------------------------------
    def _begin_abort(self, run: ScriptRun, reason: str) -> None:
        if run.aborting or run.state in FINAL:
            return
        run.aborting, run.abort_reason = True, reason
        self._set_state(run, "aborting")
        run.released.set()  # held commands go on to their refusal
        run.abort_task = self._spawn_task(self._abort(run), f"script-{run.id}-abort")

    async def _abort(self, run: ScriptRun) -> None:
        loop = asyncio.get_running_loop()
        kill_at = loop.time() + KILL_AFTER_S
        with contextlib.suppress(TimeoutError):  # the script's commands under way finish first
            await asyncio.wait_for(run.idle.wait(), KILL_AFTER_S)
        await self._clean_up(run, "aborted")
        if run.process is None:  # aborted while starting: the runner's attach is refused
            return
        try:
            await asyncio.wait_for(run.process.wait(), max(0.0, kill_at - loop.time()))
        except TimeoutError:
            run.killed = True
            kill(run.process)
            log.warning("script %d (%s) did not exit %g s after the abort: killed",
                        run.id, run.name, KILL_AFTER_S)  # fmt: skip

    async def _clean_up(self, run: ScriptRun, recording_reason: str) -> None:
        """Stop every motor, cancel a running sweep, stop the script's recording."""
        await self._command("stop_motors")
        sweep = await self._command("zlut_status") or {}
        if sweep.get("state") == "running":
            await self._command("zlut_cancel")
        await self._end_recording(run, recording_reason)

    async def _end_recording(self, run: ScriptRun, reason: str) -> None:
        recording = await self._command("record_status") or {}
        if recording.get("running") and recording.get("file") != run.recording_before:
            await self._command("record_stop", reason=reason)

    async def _supervise(self, run: ScriptRun) -> None:
        """Relay the script's output until it exits, then clean up and set the final state."""
        process = run.process
        assert process is not None and process.stdout is not None and process.stderr is not None
        readers = [
            self._spawn_task(
                read_lines(pipe, functools.partial(self._printed, run, stream=name)),
                f"script-{run.id}-{name}",
            )
            for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))
        ]
        run.exit_code = await process.wait()
        with contextlib.suppress(TimeoutError):  # a child of the script may hold the pipes open
            await asyncio.wait_for(asyncio.gather(*readers), 1.0)
        for reader in readers:
            reader.cancel()
        self._report_dropped(run)
        if run.abort_task is not None:
            await run.abort_task
            state = "killed" if run.killed else "aborted"
        elif run.exit_code == 0:
            await self._end_recording(run, "script_end")
            state = "completed"
        else:
            run.error = run.error or f"exited with status {run.exit_code}"
            await self._clean_up(run, "aborted")
            state = "failed"
        run.ended = time.time()
        run.released.set()
        self._set_state(run, state)

    # -- service hooks ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        if self._current is None:
            return {"state": "idle"}
        return self._current.to_dict()

    async def stop(self) -> None:
        """Abort a running script (the daemon is stopping) and wait until it has ended."""
        run = self._current
        if run is not None and run.state in ACTIVE:
            self._begin_abort(run, "daemon stopping")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=KILL_AFTER_S + 3.0)
        for task in list(self._tasks):
            task.cancel()


def _source(run: ScriptRun) -> str:
    return f"script {run.id}"


def _peer_pid(session: Session) -> int | None:
    """Process id at the other end of a Unix-socket connection (None over TCP)."""
    sock = session.writer.get_extra_info("socket")
    if sock is None or sock.family != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[0]
