"""Benchmark: CPU use of a paused daemon (every process), as a fraction of one core.

Starts the real daemon (the simulated microscope, acquisition paused), waits for start-up work to
end, then measures the CPU time of the daemon and all its workers over a window. Prints one JSON
line. Target: < 2 % of one core.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from magscope_app.control import DaemonNotRunning, connect

WINDOW_S = 10.0


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    instance = f"idle{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as tmp:
        env = {**os.environ, "MAGSCOPE_APP_RUNTIME_DIR": tmp, "MAGSCOPE_APP_STATE_DIR": tmp}
        os.environ.update(env)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "magscope_app", "daemon", "--paused", "--instance", instance],
            env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with connect(instance) as client:
                        status = client.status()
                    if all(w["state"] == "running" for w in status["workers"]):
                        break
                except DaemonNotRunning:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("daemon did not start")
                time.sleep(0.2)
            time.sleep(2.0)  # imports and JIT compilation are over
            pids = [daemon.pid] + [w["pid"] for w in status["workers"]]
            before, t0 = cpu_seconds(pids), time.monotonic()
            time.sleep(WINDOW_S)
            used = (cpu_seconds(pids) - before) / (time.monotonic() - t0)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(10)
    print(json.dumps({
        "benchmark": "idle", "processes": len(pids), "window_s": WINDOW_S,
        "cpu_fraction_of_one_core": round(used, 4), "target": 0.02,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
