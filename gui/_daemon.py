"""A daemon the window started itself: ``python -m magscope_app daemon`` as a subprocess.

No Qt here: the window calls :meth:`OwnDaemon.start` / :meth:`OwnDaemon.stop` from a worker
thread (they block for up to their timeouts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from magscope_app import DaemonNotRunning, connect


class DaemonStartError(RuntimeError):
    """The daemon exited or did not answer in time; the message ends with its last output."""


class OwnDaemon:
    """The window's own daemon ``instance`` (with ``config``, or the simulated microscope, and
    ``extra_args`` for ``magscope-app daemon``)."""

    def __init__(
        self, instance: str, config: Path | None = None, extra_args: list[str] | None = None
    ) -> None:
        self.instance = instance
        self.config = config
        self.extra_args = list(extra_args or [])
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the daemon and wait until it answers ``status``; raises DaemonStartError."""
        args = [sys.executable, "-m", "magscope_app", "daemon", "--instance", self.instance]
        if self.config is not None:
            args += ["--config", str(self.config)]
        args += self.extra_args
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - kept for the error message
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            env=os.environ.copy(), start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DaemonStartError(
                    f"the daemon exited with status {self.process.returncode}: {self.output()}"
                )
            try:
                with connect(self.instance, timeout=2.0) as client:
                    client.call("status")
                return
            except (DaemonNotRunning, OSError):
                time.sleep(0.1)
        self.kill()
        raise DaemonStartError(f"the daemon did not answer within {timeout:g} s: {self.output()}")

    def output(self, lines: int = 3) -> str:
        """The last ``lines`` lines the daemon wrote to stderr."""
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def stop(self, timeout: float = 15.0) -> int | None:
        """Ask the daemon to stop (``stop`` command, then SIGTERM, then SIGKILL); returns its
        exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                with connect(self.instance, timeout=2.0) as client:
                    client.call("stop")
            except Exception:  # not answering, or refusing: SIGTERM asks the same
                self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._reap()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self._reap()

    def _reap(self) -> int | None:
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(5)
            except subprocess.TimeoutExpired:
                code = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def connect(self) -> Any:
        """A new client of this daemon."""
        return connect(self.instance)
