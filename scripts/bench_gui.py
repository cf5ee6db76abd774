"""Window benchmark: how fast the live view updates while the daemon tracks at full load.

Starts a real daemon with the simulated microscope (``--beads`` beads at ``--fps`` frames/s on a
``--size``² camera; started paused until the tracking workers are ready), adds a ROI at every
bead, opens the window (offscreen unless a display is set) with the traces (3 selected beads),
all-beads, profile and motor plots all visible at once, resumes acquisition and runs the Qt event
loop for ``--duration`` seconds. Prints ONE JSON line:

* ``display_updates_per_s``: new frames shown by the live view per second (target >= 30);
* ``gui_stall_max_ms``: the longest wall time between two ticks of the live view's 33 ms
  heartbeat timer, i.e. the longest the GUI thread did not respond (target <= 100);
  ``gui_busy_max_ms``: the most CPU time the GUI thread used between two ticks (the window's
  own share of a stall; the rest is the machine's load: waiting for a core);
* ``frames_lost``: frames the camera could not store plus frames not tracked, during the run
  (target 0);
* ``gui_stall_core_wait_ms``: of the longest stall, the time the GUI thread was ready to run but
  waiting for a core (the kernel's run-queue wait, ``/proc/thread-self/schedstat``; null where
  unavailable): the machine's share, not the window's; ``gui_stall_max_own_ms``: the longest
  gap between two ticks without that wait (the 33 ms period included; the rest is the window's
  own work and the GIL held by its other threads);
* ``gui_cpu_percent``: CPU use of the window's process (100 = one core), and
  ``gui_cpu_ms_per_update``: that CPU time per display update (frame, ROIs, plots and panels
  together; 1000 / it is the update rate one free core would sustain);
* ``camera_fps`` and ``track_rows`` written meanwhile, and whether each target was met.

The daemon is started in its own session, as the window starts its own daemon
(:class:`magscope_app.gui._daemon.OwnDaemon`), so the kernel's per-session scheduling groups
(autogroup) share the CPU between the window and the daemon as they do in use;
``--shared-session`` keeps the daemon in the benchmark's session (its tracking workers then
compete with the GUI thread inside one group).

``--profile N`` also profiles the GUI thread (cProfile, its CPU time) during the run and prints
its N most expensive functions (by own time and by cumulative time) to stderr.

Usage: python scripts/bench_gui.py [--duration 20] [--beads 100] [--fps 100] [--size 1024]
       [--workers 2] [--shared-session] [--profile 25]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _config(args: argparse.Namespace, folder: Path) -> Path:
    path = folder / "bench_gui.toml"
    path.write_text(
        f"""[camera]
driver = "simulated.camera"
width = {args.size}
height = {args.size}
bits = 12
frame_rate = {float(args.fps)}

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = {args.beads}
n_reference_beads = 0
seed = 3

[daemon]
video_stacks = {max(2, round(2.0 * args.fps / 5))}
images_per_stack = 5

[tracking]
workers = {args.workers}
roi_size = 64
"""
    )
    return path


def _wait_ready(instance: str, workers: int, timeout: float = 180.0) -> None:
    from magscope_app import DaemonNotRunning, connect

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connect(instance, timeout=5) as client:
                tracking = client.call("status").get("tracking") or {}
            if tracking.get("workers_running", 0) >= workers:
                return
        except (DaemonNotRunning, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"daemon {instance!r} not ready within {timeout:g} s")


def _lost(status: dict) -> int:
    return status["camera"]["frames_lost"] + (status.get("tracking") or {}).get("frames_lost", 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--beads", type=int, default=100)
    parser.add_argument("--fps", type=float, default=100.0)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--shared-session",
        action="store_true",
        help="start the daemon in this session (by default in its own, as the window does)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="print the GUI thread's N most expensive functions (stderr)",
    )
    args = parser.parse_args()

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    folder = Path(tempfile.mkdtemp(prefix="msa-bg-", dir="/tmp"))
    os.environ["MAGSCOPE_APP_RUNTIME_DIR"] = str(folder)
    os.environ["MAGSCOPE_APP_STATE_DIR"] = str(folder / "state")
    instance = f"bench_gui_{os.getpid()}"
    config = _config(args, folder)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "magscope_app", "daemon", "--instance", instance,
         "--config", str(config), "--paused"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "daemon.log", "wb"),  # noqa: SIM115
        start_new_session=not args.shared_session,
    )  # fmt: skip
    try:
        return _run(args, instance, _bead_centres(config))
    finally:
        from magscope_app import DaemonNotRunning, connect

        try:
            with connect(instance, timeout=5) as client:
                client.call("stop")
            daemon.wait(30)
        except (DaemonNotRunning, OSError, subprocess.TimeoutExpired):
            daemon.kill()
            daemon.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _bead_centres(config: Path) -> list[list[float]]:
    """Where the simulated beads are anchored (px), from the simulated camera of ``config``."""
    from magscope_app.hardware.config import create_device

    from magscope_app.config import load_daemon_config

    camera = create_device(load_daemon_config(config).camera, instance=None)
    try:
        layout = camera.bead_layout()
    finally:
        camera.close()
    return [list(p) for p in zip(layout["anchor_x_px"], layout["anchor_y_px"], strict=True)]


def _core_wait_ms() -> float | None:
    """How long (ms) the calling thread has waited for a core since it started (Linux)."""
    try:
        with open("/proc/thread-self/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


class _StallProbe:
    """A heartbeat beside the live view's (same period): splits each gap between two ticks
    into the wait for a core and the rest, and keeps the longest stall's split."""

    def __init__(self, period_ms: int) -> None:
        from PyQt6.QtCore import QTimer

        self.worst = (0.0, None)  # (gap ms, core wait ms during it)
        self.max_own_ms = 0.0
        self._last: tuple[float, float | None] | None = None
        self._timer = QTimer()
        self._timer.timeout.connect(self._tick)
        self._timer.start(period_ms)

    def _tick(self) -> None:
        now, wait = time.perf_counter(), _core_wait_ms()
        if self._last is not None:
            gap = (now - self._last[0]) * 1e3
            waited = None if wait is None or self._last[1] is None else wait - self._last[1]
            if gap > self.worst[0]:
                self.worst = (gap, waited)
            self.max_own_ms = max(self.max_own_ms, gap - (waited or 0.0))
        self._last = (now, wait)

    def stop(self) -> None:
        self._timer.stop()


def _run(args: argparse.Namespace, instance: str, centres: list[list[float]]) -> int:
    from magscope_app.gui import Bridge, DaemonEvents, MainWindow
    from magscope_app.gui._live_view import HEARTBEAT_MS
    from PyQt6.QtCore import QEventLoop, QSettings, QTimer
    from PyQt6.QtWidgets import QApplication

    from magscope_app import connect

    _wait_ready(instance, args.workers)
    with connect(instance) as client:
        client.call("add_beads", rois=centres)
    app = QApplication.instance() or QApplication([])
    bridge = Bridge(connect(instance), connect=lambda: connect(instance))
    events = DaemonEvents(bridge)
    settings = QSettings(
        os.environ["MAGSCOPE_APP_STATE_DIR"] + "/gui.ini", QSettings.Format.IniFormat
    )
    window = MainWindow(bridge, events, instance=instance, settings=settings)
    window.show()
    for name in ("All beads", "Profile", "Motor plots"):  # every plot visible at once
        window.docks[name].setFloating(True)
        window.docks[name].resize(600, 300)
    window.selection.set([0, 1, 2])
    gc.freeze()  # as magscope_app.gui._launch.run_window does once the window is built

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    with connect(instance) as client:
        client.call("resume")
        pump(3.0)  # warm-up: first frames, levels, plots built
        before = client.call("status")
    view = window.live_view
    probe = _StallProbe(HEARTBEAT_MS)
    updates0, view.max_gap_ms, view.max_busy_ms = view.display_updates, 0.0, 0.0
    rows0 = window.feed.shared.tracks.total_rows_written
    cpu0, t0 = time.process_time(), time.monotonic()
    loop = QEventLoop()  # (QApplication.quit would close the window first)
    QTimer.singleShot(int(args.duration * 1000), loop.quit)
    # CPU time of the GUI thread (not wall time: the machine may be loaded by others)
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    if profiler is not None:
        profiler.enable()
    loop.exec()
    probe.stop()
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    if profiler is not None:
        profiler.disable()
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(args.profile)
    updates = view.display_updates - updates0
    stall = view.max_gap_ms
    rows = window.feed.shared.tracks.total_rows_written - rows0
    with connect(instance) as client:
        after = client.call("status")
    window.close()
    lost = _lost(after) - _lost(before)
    rate = updates / elapsed
    print(json.dumps({
        "benchmark": "gui",
        "frame_size": args.size, "beads": args.beads, "fps_set": args.fps,
        "duration_s": round(elapsed, 1),
        "display_updates_per_s": round(rate, 1),
        "gui_stall_max_ms": round(stall, 1),
        "gui_busy_max_ms": round(view.max_busy_ms, 1),
        "gui_stall_core_wait_ms": None if probe.worst[1] is None else round(probe.worst[1], 1),
        "gui_stall_max_own_ms": round(probe.max_own_ms, 1),
        "frames_lost": lost,
        "camera_fps": round(after["camera"]["fps"], 1),
        "track_rows_per_s": round(rows / elapsed),
        "gui_cpu_percent": round(100 * cpu / elapsed, 1),
        "gui_cpu_ms_per_update": round(1e3 * cpu / max(updates, 1), 1),
        "platform": QApplication.platformName(),
        "daemon_session": "shared" if args.shared_session else "own",
        "targets_met": {"updates": rate >= 30, "stall": stall <= 100, "frames_lost": lost == 0},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
