"""Suite-wide settings and leak checks.

* Qt runs offscreen (without a platform plugin Qt aborts the process on a machine with no display).
* Every test must leave /dev/shm as it found it: a test that leaves a segment of one of its
  instances (``msa-<instance_name>-…``) behind fails.
* Daemon runtime/state folders go to a per-test temporary folder (never the user's home).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from _daemon_process import DaemonProcess

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHM_DIR = Path("/dev/shm")
_instance_counter = itertools.count()
_INSTANCE_PREFIX = f"t{os.getpid()}x"


def _our_segments() -> set[str]:
    """Segments of this test run (instance names from the ``instance_name`` fixture); segments of
    other test runs on the same machine are not ours to judge."""
    if not SHM_DIR.is_dir():
        return set()
    prefix = f"msa-{_INSTANCE_PREFIX}"
    return {p.name for p in SHM_DIR.iterdir() if p.name.startswith(prefix)}


@pytest.fixture(autouse=True)
def no_leaked_shared_memory():
    """Fail the test if it leaves a shared-memory segment of this project behind."""
    before = _our_segments()
    yield
    leaked = _our_segments() - before
    for name in leaked:  # clean up so one leak does not cascade into other tests
        (SHM_DIR / name).unlink(missing_ok=True)
    assert not leaked, f"test leaked shared-memory segments: {sorted(leaked)}"


@pytest.fixture
def instance_name() -> str:
    """A daemon instance name unique to this test run (shared memory is machine-global)."""
    return f"{_INSTANCE_PREFIX}{next(_instance_counter)}"


@pytest.fixture
def daemon_dirs(tmp_path, monkeypatch) -> dict[str, Path]:
    """Point the daemon's runtime and state folders at short per-test folders.

    Unix socket paths are limited to ~107 bytes, so the runtime folder is kept short.
    """
    runtime = Path(tempfile.mkdtemp(prefix="msa-rt-", dir="/tmp"))
    state = tmp_path / "state"
    monkeypatch.setenv("MAGSCOPE_APP_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("MAGSCOPE_APP_STATE_DIR", str(state))
    yield {"runtime": runtime, "state": state}
    shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def small_sim_config() -> Path:
    """A small simulated microscope (256×256 px, 6 beads, 50 fps, a focus stage): light on CPU."""
    return Path(__file__).with_name("small_sim.toml")


@pytest.fixture
def start_daemon(daemon_dirs, tmp_path):
    """Factory: ``start_daemon(instance, *cli_args)`` runs a real daemon process (see
    ``_daemon_process.DaemonProcess``); every daemon and worker it started is stopped at the end."""
    started: list[DaemonProcess] = []

    def start(instance: str, *args: str) -> DaemonProcess:
        daemon = DaemonProcess(instance, tmp_path, *args)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
