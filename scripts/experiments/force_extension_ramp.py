"""Force–extension ramp: the magnets step through heights, one recording per step, and a table of
magnet height against the beads' mean extension.

Needs beads and a Z-LUT in use (run ``zlut_then_record.py`` first or ``magscope-app zlut load``).
Beads not yet classified are classified first (``scope.beads.classify``). The extension of a
tethered bead is its z (from the tracks in the step's recording) minus the mean z of the stuck
beads at the same time, which removes drift; with per-bead LUTs, z is relative to where each bead
was during the calibration, so the extension is relative to that too (its changes are what the
force did)::

    magscope-app run scripts/experiments/force_extension_ramp.py --param folder=/data/fe \\
        --param 'heights=[6, 4, 3, 2, 1.5, 1]' --param seconds=20

Parameters: ``folder`` (absolute) of the recordings ``fe-<step>-<height>mm.h5``, ``heights`` (mm,
in order), ``seconds`` recorded per step, ``settle`` seconds after each move before recording.
"""

from pathlib import Path

import numpy as np

from magscope_app.recording import open_recording


def bead_kinds(scope):
    """{bead id: kind}, classifying the beads first when none is known yet."""
    kinds = {b["id"]: b.get("kind", "unknown") for b in scope.beads.list()}
    if not kinds:
        raise RuntimeError("no beads: add or find beads first (magscope-app beads find --add)")
    if "tethered" not in kinds.values():
        scope.beads.classify(seconds=2.0)
        kinds = {b["id"]: b.get("kind", "unknown") for b in scope.beads.list()}
    return kinds


def mean_extension(path, tethered, stuck):
    """Mean over tethered beads of their mean z minus the stuck beads' mean z (nm), and the
    number of beads with a z."""
    with open_recording(path) as recording:
        z = {b: np.nanmean(recording.tracks(b)["z_nm"]) for b in recording.bead_ids()}
    reference = np.nanmean([z[b] for b in stuck if b in z]) if stuck else 0.0
    values = [z[b] - reference for b in tethered if b in z and np.isfinite(z[b])]
    return (float(np.mean(values)) if values else float("nan")), len(values)


def main(scope, folder, heights=(6.0, 4.0, 3.0, 2.0, 1.5, 1.0), seconds=10.0, settle=1.0):
    folder = Path(folder)
    magnet = scope.motors["magnet_height"]
    kinds = bead_kinds(scope)
    tethered = [b for b, kind in kinds.items() if kind == "tethered"]
    stuck = [b for b, kind in kinds.items() if kind == "stuck"]
    print(f"{len(tethered)} tethered beads, {len(stuck)} stuck (reference) beads")
    table = []
    for step, height in enumerate(heights):
        scope.progress(step / len(heights), f"magnets at {height:g} mm")
        magnet.move_to(height, wait=True)
        scope.wait(settle)
        with scope.record(folder, name=f"fe-{step:02d}-{height:g}mm") as recording:
            scope.wait(seconds)
        extension, n = mean_extension(recording.path, tethered, stuck)
        table.append((height, extension, n))
        print(f"step {step}: {height:g} mm, mean extension {extension:.1f} nm ({n} beads)")
    scope.progress(1.0, "done")
    print("height_mm  mean_extension_nm  beads")
    for height, extension, n in table:
        print(f"{height:9.3f}  {extension:17.1f}  {n:5d}")
    return table
