"""Start and stop a real daemon process for tests."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from magscope_app.control import DaemonNotRunning, connect


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _is_resource_tracker(pid: int) -> bool:
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class DaemonProcess:
    """``python -m magscope_app daemon`` in a subprocess, with its stderr in a file."""

    def __init__(self, instance: str, log_dir: Path, *extra_args: str) -> None:
        self.instance = instance
        self.stderr_path = log_dir / f"{instance}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "magscope_app", "daemon", "--instance", instance, *extra_args],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=os.environ.copy(),
        )
        self.worker_pids: set[int] = set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0, *, camera_running: bool = True) -> dict:
        """Block until the daemon answers status (and the camera worker runs); return status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                with connect(self.instance, timeout=5) as client:
                    status = client.status()
                if not camera_running or any(
                    w["name"] == "camera" and w["state"] == "running" for w in status["workers"]
                ):
                    self.worker_pids |= {w["pid"] for w in status["workers"] if w["pid"]}
                    return status
            except (DaemonNotRunning, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"daemon {self.instance} not ready in {timeout} s:\n{self.stderr()}")

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Make sure the daemon and every worker it started are gone.

        The daemon's resource tracker is not killed: once the daemon and its workers are gone it
        removes what a killed daemon left (semaphores) and exits by itself.
        """
        children = set(_children(self.proc.pid)) if self.proc.poll() is None else set()
        trackers = {pid for pid in children if _is_resource_tracker(pid)}
        self.worker_pids |= children - trackers
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(10) is None:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.worker_pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while any(pid_alive(p) for p in trackers) and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stderr.close()


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy (or an array) and return that;
    AssertionError after ``timeout`` s (a generous deadline for a loaded machine, never a speed
    assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if hasattr(value, "shape") or value:  # an array (even empty) counts as an answer
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


_run_names = itertools.count()


def run_instance(label: str) -> str:
    """An instance name of this test run (``t<pid>x…``, like the ``instance_name`` fixture's),
    so the suite's leak checks watch its shared memory and semaphores."""
    return f"t{os.getpid()}x{label}{next(_run_names)}"


@contextlib.contextmanager
def daemon_folders(state: Path) -> Iterator[Path]:
    """Point the daemons started inside at a new short runtime folder (yielded; Unix socket paths
    are limited to ~107 bytes) and at ``state``, for daemons a whole test module shares; the
    runtime folder is removed afterwards."""
    runtime = Path(tempfile.mkdtemp(prefix="msa-rt-", dir="/tmp"))
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("MAGSCOPE_APP_RUNTIME_DIR", str(runtime))
            env.setenv("MAGSCOPE_APP_STATE_DIR", str(state))
            yield runtime
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
