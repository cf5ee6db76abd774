"""Benchmark: the control API through the typed client (``magscope_app.connect``).

Starts a simulated daemon (256×256 px, 20 beads tracked at 100 frames/s, a focus stage) with
``connect(start=True)`` in temporary runtime/state folders, then measures:

* command round trip (``motor_state``: validated, logged, answered from the telemetry buffer):
  median and 99th percentile, ms;
* event latency from the state change to the client's consumer: ``ping_event`` (daemon publish
  time → the event out of ``scope.events``) and a move (command sent → its ``motor`` event
  ``moving`` out of ``scope.events``), median ms;
* events/s delivered to 3 subscribed clients at once (sum over clients) and events dropped;
* tracks rows/s through ``scope.tracks.latest`` (shared memory, rows returned per second of calls).

Prints one JSON line. Targets: round trip < 2 ms median, event latency < 20 ms median, tracks
≥ 1 M rows/s.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from magscope_app.hardware.config import create_device

import magscope_app
from magscope_app.config import load_daemon_config

CONFIG = """
[camera]
driver = "simulated.camera"
width = 256
height = 256
bits = 12
frame_rate = 100.0

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = 20
n_reference_beads = 2
seed = 2

[daemon]
video_stacks = 32
images_per_stack = 2
"""
ROUND_TRIPS = 2000
PINGS = 300
MOVES = 40
BURST = 2000
BURSTS = 10
CLIENTS = 3
TRACK_CALLS = 50


def round_trips(scope: magscope_app.Scope) -> list[float]:
    times = []
    for _ in range(ROUND_TRIPS):
        t0 = time.perf_counter()
        scope.call("motor_state", motor="focus")
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def ping_latency(scope: magscope_app.Scope) -> list[float]:
    latencies = []
    with scope.events("ping") as sub:
        for _ in range(PINGS):
            scope.call("ping_event")
            event = sub.get(5.0)
            latencies.append((time.time() - event.payload["sent"]) * 1e3)
    return latencies


def move_latency(scope: magscope_app.Scope) -> list[float]:
    latencies = []
    focus = scope.focus
    with scope.events("motor") as sub:
        for i in range(MOVES):
            sent = time.time()
            handle = focus.move_to(100.0 * (i % 2))
            while sub.get(5.0).payload.get("state") != "moving":
                pass
            latencies.append((time.time() - sent) * 1e3)
            handle.wait(10)
    return latencies


def fan_out(instance: str, scope: magscope_app.Scope) -> dict[str, float]:
    """Events/s to CLIENTS subscribers at once (each its own connection and consumer thread)."""
    total = BURST * BURSTS
    clients = [magscope_app.connect(instance) for _ in range(CLIENTS)]
    subs = [c.events("ping") for c in clients]
    counts = [0] * CLIENTS
    dropped = [0] * CLIENTS
    finished = [0.0] * CLIENTS

    def consume(i: int) -> None:
        while counts[i] + dropped[i] < total:
            event = subs[i].get(30.0)
            if event is None:
                break
            if event.topic == "overflow":
                dropped[i] += event.payload["dropped"]
            else:
                counts[i] += 1
        finished[i] = time.perf_counter()

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for _ in range(BURSTS):
        scope.call("ping_event", count=BURST)
    for t in threads:
        t.join()
    elapsed = max(finished) - t0
    for sub, client in zip(subs, clients, strict=True):
        sub.close()
        client.close()
    return {"events_per_s_3_clients": sum(counts) / elapsed, "events_dropped": sum(dropped)}


def tracks_rate(scope: magscope_app.Scope) -> dict[str, float]:
    deadline = time.monotonic() + 60
    while len(scope.tracks.latest(1.0)) < 500:  # tracking runs
        if time.monotonic() > deadline:
            raise TimeoutError("no tracks after 60 s")
        time.sleep(0.2)
    time.sleep(5.0)  # ~5 s of rows in the buffer
    rows = 0
    t0 = time.perf_counter()
    for _ in range(TRACK_CALLS):
        rows += len(scope.tracks.latest(seconds=5.0))
    elapsed = time.perf_counter() - t0
    return {"tracks_rows_per_s": rows / elapsed, "tracks_rows_per_call": rows / TRACK_CALLS}


def main() -> None:
    instance = f"bench_api{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="msa-bench-") as tmp:
        os.environ.update({"MAGSCOPE_APP_RUNTIME_DIR": tmp, "MAGSCOPE_APP_STATE_DIR": tmp})
        config = Path(tmp) / "bench_api.toml"
        config.write_text(CONFIG)
        scope = magscope_app.connect(instance, start=True, config=config, timeout=30)
        try:
            deadline = time.monotonic() + 120
            while not all(w.state == "running" for w in scope.status().workers):
                if time.monotonic() > deadline:
                    raise TimeoutError("workers not running after 120 s")
                time.sleep(0.2)
            camera = create_device(load_daemon_config(config).camera, instance=None)
            try:
                layout = camera.bead_layout()
            finally:
                camera.close()
            scope.beads.add(list(zip(layout["anchor_x_px"], layout["anchor_y_px"], strict=True)))
            rtt = round_trips(scope)
            pings = ping_latency(scope)
            moves = move_latency(scope)
            result = {
                "bench": "api",
                "rtt_ms_median": statistics.median(rtt),
                "rtt_ms_p99": float(np.percentile(rtt, 99)),
                "event_latency_ms_median": statistics.median(pings),
                "event_latency_ms_p99": float(np.percentile(pings, 99)),
                "move_event_latency_ms_median": statistics.median(moves),
                **fan_out(instance, scope),
                **tracks_rate(scope),
            }
            result["targets_met"] = (
                result["rtt_ms_median"] < 2.0
                and result["event_latency_ms_median"] < 20.0
                and result["tracks_rows_per_s"] >= 1e6
            )
        finally:
            scope.shutdown(timeout=60)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
