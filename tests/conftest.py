"""Suite-wide settings and leak checks.

* Qt runs offscreen (without a platform plugin Qt aborts the process on a machine with no display).
* Every test must leave /dev/shm as it found it: a test that leaves a shared-memory segment or a
  POSIX semaphore of this test run behind fails. Attribution, robust to other test runs on the
  same machine: daemons name their segments ``msa-<instance>-…`` and their semaphores
  ``sem.msa-<instance>-sem-…`` (``supervisor.name_semaphores``), instance names come from the
  ``instance_name`` fixture (``t<pytest pid>x<n>``), and this pytest process names the semaphores
  it creates itself (locks of buffer tests) ``sem.msa-t<pid>xpy-sem-…`` the same way. A
  semaphore left by a killed daemon is removed by its resource tracker shortly after the
  daemon's workers exit, so semaphores get a short grace period before they count as leaked.
* Daemon runtime/state folders go to a per-test temporary folder (never the user's home).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from _daemon_process import DaemonProcess

from magscope_app.supervisor import name_semaphores

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHM_DIR = Path("/dev/shm")
_instance_counter = itertools.count()
_INSTANCE_PREFIX = f"t{os.getpid()}x"
#: How long a semaphore of a killed process may take to be removed by its resource tracker (s).
SEMAPHORE_GRACE_S = 3.0

name_semaphores(f"{_INSTANCE_PREFIX}py")  # semaphores made by this process: sem.msa-t<pid>xpy-…


def _our_names() -> set[str]:
    """Segments and semaphores of this test run; those of other test runs on the same machine
    are not ours to judge."""
    if not SHM_DIR.is_dir():
        return set()
    prefixes = (f"msa-{_INSTANCE_PREFIX}", f"sem.msa-{_INSTANCE_PREFIX}")
    return {p.name for p in SHM_DIR.iterdir() if p.name.startswith(prefixes)}


@pytest.fixture(autouse=True)
def no_leaked_shared_memory():
    """Fail the test if it leaves a shared-memory segment or a semaphore of this run behind."""
    before = _our_names()
    yield
    leaked = _our_names() - before
    deadline = time.monotonic() + SEMAPHORE_GRACE_S
    while any(n.startswith("sem.") for n in leaked) and time.monotonic() < deadline:
        time.sleep(0.05)
        leaked &= _our_names()
    for name in leaked:  # clean up so one leak does not cascade into other tests
        (SHM_DIR / name).unlink(missing_ok=True)
    assert not leaked, f"test leaked shared-memory segments or semaphores: {sorted(leaked)}"


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
