"""Benchmark the simulated camera: frames/s rendering 1024×1024 uint16 frames with 100 beads.

Measures the world step, rendering and noise of :meth:`SimulatedCamera.render_next` on one core
(numba is pinned to one thread; no frame-rate pacing). Prints one JSON line.

    .venv/bin/python scripts/bench_simulation.py [--frames 300] [--beads 100] [--size 1024]
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
import time  # noqa: E402

from magscope_app.hardware.simulated import LocalWorldControl, SimulatedCamera  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--beads", type=int, default=100, help="tethered beads")
    parser.add_argument("--references", type=int, default=0, help="reference beads")
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    control = LocalWorldControl()
    control.set_position("magnet_height", 2.0)  # ~5 pN: beads well up, rings well developed
    camera = SimulatedCamera(
        width=args.size,
        height=args.size,
        bits=16,
        frame_rate=1000.0,
        exposure=1.0,
        illumination=5000.0,
        n_beads=args.beads,
        n_reference_beads=args.references,
        seed=1,
        control=control,
    )
    t0 = time.perf_counter()
    camera.start()
    for _ in range(3):  # numba compile/cache load, noise banks
        frame = camera.render_next()
    setup_s = time.perf_counter() - t0
    times = []
    t0 = time.perf_counter()
    for _ in range(args.frames):
        t = time.perf_counter()
        frame = camera.render_next()
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    median = statistics.median(times)
    camera.close()
    print(
        json.dumps(
            {
                "benchmark": "simulated_camera_render",
                "frames_per_s": round(args.frames / elapsed, 1),
                "ms_per_frame": round(1000.0 * elapsed / args.frames, 3),
                "median_frames_per_s": round(1.0 / median, 1),  # robust on a shared machine
                "frames": args.frames,
                "width": args.size,
                "height": args.size,
                "dtype": str(frame.image.dtype),
                "beads": args.beads + args.references,
                "render_radius_px": 48,
                "setup_s": round(setup_s, 2),
                "target_frames_per_s": 200,
            }
        )
    )


if __name__ == "__main__":
    main()
