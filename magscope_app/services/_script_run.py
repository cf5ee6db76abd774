"""One experiment script run: its record (state, output, outcome) and its process.

The process is ``python -m magscope_app.workers.script_runner`` in its own session (so a Ctrl-C in
the daemon's terminal does not reach it and a kill takes its children too), with unbuffered
stdout and stderr piped to the daemon, which reads them line by line.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..control.protocol import CommandError

#: Entry point of the script process (see :mod:`magscope_app.workers.script_runner`).
RUNNER_MODULE = "magscope_app.workers.script_runner"
#: States while the script process lives, and the final ones.
ACTIVE = ("starting", "running", "pausing", "paused", "aborting")
FINAL = ("completed", "failed", "aborted", "killed")
#: Longest output line kept (characters); longer lines are cut.
MAX_LINE_CHARS = 4000
#: Largest line the pipe reader accepts before it drops the line (bytes).
PIPE_LIMIT = 1 << 20
#: Output lines kept in the status (``output_tail``).
TAIL_LINES = 20


def check_script(path: str) -> Path:
    """The script file at absolute ``path``, checked before anything starts: it exists, it is
    Python and it defines ``main`` at the top level. CommandError("invalid_argument") otherwise."""
    script = Path(path)
    if not script.is_absolute():
        raise CommandError("invalid_argument", f"script_start: path must be absolute, got {path!r}")
    if not script.is_file():
        raise CommandError("invalid_argument", f"script_start: no script file {path}")
    try:
        tree = ast.parse(script.read_bytes(), filename=str(script))
    except SyntaxError as exc:
        raise CommandError(
            "invalid_argument", f"script_start: {script.name} line {exc.lineno}: {exc.msg}"
        ) from None
    except (OSError, ValueError) as exc:
        raise CommandError("invalid_argument", f"script_start: cannot read {path}: {exc}") from None
    if not any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
        raise CommandError(
            "invalid_argument", f"script_start: {script.name} defines no main(scope, **params)"
        )
    return script


@dataclass
class ScriptRun:
    """A script and what became of it. ``released`` is set while the script's commands may run
    (cleared from pause to resume); ``idle`` while none of its commands is being handled."""

    id: int
    path: Path
    params: dict[str, Any]
    recording_before: str | None = None  # the recording already running when it started
    state: str = "starting"  # until the runner attaches
    process: asyncio.subprocess.Process | None = None
    started: float = field(default_factory=time.time)
    ended: float | None = None
    exit_code: int | None = None
    progress: float | None = None
    progress_text: str = ""
    error: str | None = None
    traceback: str | None = None
    aborting: bool = False
    abort_reason: str | None = None
    killed: bool = False
    session: Any = None  # the script's own connection, once attached
    in_flight: int = 0
    output_tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    window_start: float = 0.0  # output rate limit: lines relayed in the current second
    window_lines: int = 0
    lines_dropped: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    abort_task: asyncio.Task | None = None

    def __post_init__(self) -> None:
        self.released.set()
        self.idle.set()

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def to_dict(self) -> dict[str, Any]:
        """The run as the ``script_status`` reply (times in s since the epoch)."""
        end = self.ended if self.ended is not None else time.time()
        return {
            "id": self.id,
            "name": self.name,
            "path": str(self.path),
            "params": self.params,
            "state": self.state,
            "pid": self.pid,
            "started": self.started,
            "ended": self.ended,
            "elapsed_s": end - self.started,
            "exit_code": self.exit_code,
            "progress": self.progress,
            "progress_text": self.progress_text,
            "error": self.error,
            "traceback": self.traceback,
            "abort_reason": self.abort_reason,
            "output_tail": list(self.output_tail),
        }

    def event(self, **payload: Any) -> dict[str, Any]:
        """Payload of a ``script`` event about this run."""
        return {"id": self.id, "name": self.name, **payload}


async def spawn(run: ScriptRun, instance: str) -> asyncio.subprocess.Process:
    """Start the script process of ``run`` (its stdout and stderr piped, stdin empty)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", RUNNER_MODULE,
        "--instance", instance, "--id", str(run.id), "--params", json.dumps(run.params),
        str(run.path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        limit=PIPE_LIMIT,
    )  # fmt: skip


async def read_lines(stream: asyncio.StreamReader, emit: Any) -> None:
    """Call ``emit(text)`` for every line of ``stream`` until it closes. A line rewritten with
    carriage returns (a progress bar) gives its last state; over-long lines are cut."""
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # longer than PIPE_LIMIT: asyncio dropped it
            emit(f"[an output line longer than {PIPE_LIMIT} bytes was dropped]")
            continue
        if not line:
            return
        text = line.decode(errors="replace").rstrip("\r\n").rsplit("\r", 1)[-1].rstrip()
        if text:
            emit(text[:MAX_LINE_CHARS])


def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the script process and everything it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
