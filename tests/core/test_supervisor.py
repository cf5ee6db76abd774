"""Supervisor: crash restarts with back-off, giving up after repeated crashes, lock recovery."""

from __future__ import annotations

import asyncio

import pytest

from magscope_app.supervisor import SPAWN, Supervisor
from magscope_app.workers._runtime import WorkerSpec

pytestmark = pytest.mark.timeout(60)


def test_crashing_worker_is_restarted_then_given_up_and_its_lock_released():
    lock = SPAWN.Lock()

    async def scenario() -> dict:
        locks: dict = {}
        log_queue = SPAWN.Queue()
        supervisor = Supervisor(
            asyncio.get_running_loop(), log_queue, lambda name, message: None,
            locks=locks, max_crashes=2,
        )  # fmt: skip
        locks["Shared"] = lock  # registered after start-up, as services do
        supervisor.start(WorkerSpec("holder", "core._workers:hold_lock_and_die", {"lock": lock}))
        try:
            for _ in range(400):
                (status,) = supervisor.status()
                if status["state"] == "failed":
                    return status
                await asyncio.sleep(0.05)
            raise AssertionError(f"worker never given up: {supervisor.status()}")
        finally:
            await supervisor.stop_all()
            log_queue.close()

    status = asyncio.run(scenario())
    assert status["restarts"] == 1
    assert "exit code 3" in status["last_error"]
    assert lock.acquire(timeout=1), "the dead worker's lock was not released"
    lock.release()
