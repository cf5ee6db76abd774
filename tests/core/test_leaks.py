"""Semaphores are named after their daemon instance, so a leak is attributable and the
leftovers of a daemon killed together with its resource tracker are removed at the next start."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from _daemon_process import _children, pid_alive, wait_for

SMALL = Path(__file__).parents[1] / "small_sim.toml"


def _semaphores(instance: str) -> set[str]:
    return {p.name for p in Path("/dev/shm").glob(f"sem.msa-{instance}-sem-*")}


def test_a_killed_daemons_semaphores_are_named_and_removed_at_restart(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    status = daemon.wait_ready()
    made = _semaphores(instance_name)
    assert len(made) >= 8  # buffer locks, the stack semaphore, the log queue
    assert not {p.name for p in Path("/dev/shm").glob("sem.mp-*")} & made
    # The whole process group dies at once, resource tracker included: nothing cleans up.
    victims = [daemon.pid, *_children(daemon.pid)]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    daemon.wait_exit(10)
    wait_for(lambda: not any(pid_alive(w["pid"]) for w in status["workers"] if w["pid"]))
    assert _semaphores(instance_name) == made  # the leak the suite's leak check would catch
    again = start_daemon(instance_name, "--config", str(SMALL))
    again.wait_ready()
    assert not made & _semaphores(instance_name)
    assert f"and {len(made)} semaphore(s)" in again.stderr()
