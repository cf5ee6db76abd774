"""The real daemon: start-up, status, pause/resume, supervision, shutdown, instances, cleanup."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _daemon_process import pid_alive, wait_for

from magscope_app.buffers import VideoBuffer
from magscope_app.control import CommandError, connect
from magscope_app.paths import instance_paths

pytestmark = pytest.mark.timeout(120)

SMALL = Path(__file__).parents[1] / "small_sim.toml"


def _segments(instance: str) -> list[str]:
    return [p.name for p in Path("/dev/shm").iterdir() if p.name.startswith(f"msa-{instance}-")]


def _worker(status: dict, name: str) -> dict:
    (worker,) = [w for w in status["workers"] if w["name"] == name]
    return worker


def _cli(instance: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magscope_app", *args, "--instance", instance],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_status_describe_and_live_frames(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    daemon.wait_ready()
    with connect(instance_name) as client:
        first = wait_for(lambda: (s := client.status())["camera"]["frames_acquired"] > 5 and s)
        described = client.describe()

    result = _cli(instance_name, "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["instance"] == instance_name
    assert status["uptime_s"] > 0
    assert status["camera"]["frames_acquired"] >= first["camera"]["frames_acquired"]
    assert status["camera"]["frames_lost"] == 0
    assert status["camera"]["fps"] > 0
    camera = _worker(status, "camera")
    assert camera["alive"] and camera["restarts"] == 0 and camera["pid"] != daemon.pid
    (video,) = [b for b in status["buffers"] if b["name"] == "VideoBuffer"]
    assert video["shm_name"] == f"msa-{instance_name}-VideoBuffer"
    assert video["dtype"] == "uint16"

    human = _cli(instance_name, "status")
    assert human.returncode == 0 and "frames acquired" in human.stdout

    # A foreign process attaches with what describe() reported and sees live frames.
    (desc,) = [b for b in described["buffers"] if b["name"] == "VideoBuffer"]
    viewer = VideoBuffer(create=False, locks=None, instance=instance_name)
    try:
        number, image = viewer.peek_image()
        assert image.shape == tuple(desc["shape"][-2:])
        assert image.dtype == np.dtype(desc["dtype"])
        assert image.std() > 0  # a rendered, noisy image, not an empty buffer
        later, _ = wait_for(lambda: (p := viewer.peek_image())[0] > number and p)
        assert later > number
    finally:
        viewer.close()


def test_pause_and_resume(start_daemon, instance_name):
    start_daemon(instance_name, "--config", str(SMALL)).wait_ready()
    with connect(instance_name) as client:
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > 0)
        client.pause()
        time.sleep(0.3)  # let the frame in flight land
        paused = client.status()
        time.sleep(0.5)
        still = client.status()
        assert not still["acquiring"] and still["camera"]["fps"] == 0
        assert still["camera"]["frames_acquired"] == paused["camera"]["frames_acquired"]
        client.resume()
        wait_for(
            lambda: (
                client.status()["camera"]["frames_acquired"] > still["camera"]["frames_acquired"]
            )
        )


def test_paused_daemon_is_idle(start_daemon, instance_name):
    """No process polls: a paused daemon uses (almost) no CPU. The bench gives the exact figure;
    this only catches a spinning loop (which would use ~100 % of a core)."""
    daemon = start_daemon(instance_name, "--config", str(SMALL), "--paused")
    daemon.wait_ready()
    with connect(instance_name) as client:  # every worker has finished its start-up (JIT) work

        def all_running() -> dict | None:
            status = client.status()
            return status if all(w["state"] == "running" for w in status["workers"]) else None

        status = wait_for(all_running, timeout=120)
    time.sleep(1.0)
    pids = [daemon.pid] + [w["pid"] for w in status["workers"]]

    def cpu_seconds() -> float:
        ticks = 0
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / os.sysconf("SC_CLK_TCK")

    before, t0 = cpu_seconds(), time.monotonic()
    time.sleep(3.0)
    used = (cpu_seconds() - before) / (time.monotonic() - t0)
    assert used < 0.2, f"paused daemon used {100 * used:.0f} % of a core"


def test_bad_clients_get_errors_and_change_nothing(start_daemon, instance_name):
    start_daemon(instance_name, "--config", str(SMALL)).wait_ready()
    paths = instance_paths(instance_name)
    assert paths.socket.stat().st_mode & 0o777 == 0o600
    assert paths.token.stat().st_mode & 0o777 == 0o600

    def raw(payload: bytes) -> dict:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(paths.socket))
            sock.sendall(payload + b"\n")
            return json.loads(sock.makefile().readline())

    assert raw(b'{"id": 1, "token": "nope", "command": "stop"}')["error"]["code"] == "unauthorized"
    assert raw(b"this is not json")["error"]["code"] == "bad_request"
    with connect(instance_name) as client:
        # acquisition starts once the tracking workers are ready (the start-up hold)
        wait_for(lambda: client.status()["acquiring"], timeout=30)
        with pytest.raises(CommandError) as err:
            client.call("launch_rockets")
        assert err.value.code == "unknown_command"
        with pytest.raises(CommandError) as err:
            client.call("pause", now=True)
        assert err.value.code == "invalid_argument"
        status = client.status()  # still up, still acquiring
        assert status["acquiring"]


def test_killed_worker_is_restarted(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    old = _worker(daemon.wait_ready(), "camera")
    os.kill(old["pid"], signal.SIGKILL)
    with connect(instance_name) as client:
        restarted = wait_for(
            lambda: (
                (w := _worker(client.status(), "camera"))["restarts"] == 1
                and w["state"] == "running"
                and w
            )
        )
        assert restarted["pid"] != old["pid"]
        daemon.worker_pids.add(restarted["pid"])
        before = client.status()["camera"]["frames_acquired"]
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > before)


def test_repeated_crashes_are_reported_and_the_daemon_stays_up(
    start_daemon, instance_name, tmp_path
):
    config = tmp_path / "broken.toml"
    config.write_text(
        SMALL.read_text()
        .replace("frame_rate = 50.0", "frame_rate = 50.0\nexposure = -1.0")  # refused at start
        .replace("[daemon]", "[daemon]\nmax_worker_crashes = 2")
    )
    daemon = start_daemon(instance_name, "--config", str(config))
    daemon.wait_ready(camera_running=False)
    with connect(instance_name) as client:
        status = wait_for(
            lambda: (s := client.status()) and _worker(s, "camera")["state"] == "failed" and s
        )
    assert status["faults"], status
    assert any(f["worker"] == "camera" for f in status["faults"])
    assert daemon.proc.poll() is None


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "stop"])
def test_shutdown_is_quick_and_complete(start_daemon, instance_name, how):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    status = daemon.wait_ready()
    workers = [w["pid"] for w in status["workers"]]
    assert _segments(instance_name)
    t0 = time.monotonic()
    if how == "stop":
        result = _cli(instance_name, "stop")
        assert result.returncode == 0, result.stderr
    else:
        daemon.proc.send_signal(getattr(signal, how))
    assert daemon.wait_exit(10) == 0, daemon.stderr()
    elapsed = time.monotonic() - t0
    assert elapsed < 3.0 + (2.0 if how == "stop" else 0.0), f"shutdown took {elapsed:.1f} s"
    assert not any(pid_alive(pid) for pid in workers)
    assert _segments(instance_name) == []
    paths = instance_paths(instance_name)
    assert not paths.socket.exists() and not paths.token.exists() and not paths.pid_file.exists()


def test_two_instances_side_by_side_and_a_name_in_use_is_refused(start_daemon, instance_name):
    other = instance_name + "b"
    start_daemon(instance_name, "--config", str(SMALL)).wait_ready()
    start_daemon(other, "--config", str(SMALL)).wait_ready()
    with connect(instance_name) as a, connect(other) as b:
        assert a.status()["instance"] == instance_name
        assert b.status()["instance"] == other
        assert a.status()["pid"] != b.status()["pid"]
    clash = start_daemon(instance_name, "--config", str(SMALL))
    assert clash.wait_exit(30) == 1
    assert "already running" in clash.stderr()


def test_a_dead_daemons_segments_are_cleaned_up_on_restart(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    status = daemon.wait_ready()
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.wait_exit(10)
    # Orphaned workers notice that their manager is gone and exit by themselves.
    wait_for(lambda: not any(pid_alive(w["pid"]) for w in status["workers"]))
    again = start_daemon(instance_name, "--config", str(SMALL))
    again.wait_ready()
    with connect(instance_name) as client:
        wait_for(lambda: client.status()["camera"]["frames_acquired"] > 0)
    assert "stale" in again.stderr()


def test_logs_from_every_process_reach_stderr_and_the_log_file(start_daemon, instance_name):
    daemon = start_daemon(instance_name, "--config", str(SMALL))
    daemon.wait_ready()
    log_file = instance_paths(instance_name).log_file
    wait_for(lambda: "camera worker" in log_file.read_text())
    assert "camera worker" in daemon.stderr()
    assert "listening on" in log_file.read_text()


def test_cli_reports_a_missing_daemon_clearly(daemon_dirs, instance_name):
    result = _cli(instance_name, "status")
    assert result.returncode == 3  # the CLI's exit status for "no daemon running"
    assert f"no magscope-app daemon {instance_name!r} is running" in result.stderr
