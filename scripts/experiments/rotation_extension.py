"""Rotation–extension ("hat") curve: the magnets turn step by step at a constant height and the
beads' mean z is measured at each number of turns; a table of turns against mean z is printed.

Needs beads and a Z-LUT in use (see ``zlut_then_record.py``). The mean z of the stuck beads, if
any are classified, is subtracted (drift). A supercoiled tether shortens as the turns go either
way from zero (the hat); a nicked one does not. The rotation goes back to where it started at
the end::

    magscope-app run scripts/experiments/rotation_extension.py --param height=3 \\
        --param 'turns=[-20,-15,-10,-5,0,5,10,15,20]' --param seconds=10

Parameters: ``height`` (mm) of the magnets, ``turns`` (in order), ``seconds`` averaged per step,
``settle`` seconds after each rotation, ``folder`` (absolute): if given, the whole curve is
recorded there in one file.
"""

import contextlib

import numpy as np


def mean_z(scope, seconds, beads, stuck):
    """Mean z (nm) of ``beads`` over the last ``seconds`` s, minus that of the ``stuck`` beads."""
    tracks = scope.tracks.latest(seconds)
    z = {b: np.nanmean(tracks["z_nm"][tracks["bead"] == b]) for b in set(tracks["bead"].tolist())}
    reference = np.nanmean([z[b] for b in stuck if b in z]) if stuck else 0.0
    values = [z[b] - reference for b in beads if b in z and np.isfinite(z[b])]
    return (float(np.mean(values)) if values else float("nan")), len(values)


def main(scope, height=3.0, turns=(-20, -10, -5, 0, 5, 10, 20), seconds=5.0, settle=1.0,
         folder=None):  # fmt: skip
    rotation = scope.rotation
    start = rotation.position
    kinds = {b["id"]: b.get("kind", "unknown") for b in scope.beads.list()}
    stuck = [b for b, kind in kinds.items() if kind == "stuck"]
    beads = [b for b, kind in kinds.items() if kind != "stuck"]
    scope.motors["magnet_height"].move_to(height, wait=True)
    recording = scope.record(folder, name="hat") if folder else contextlib.nullcontext()
    table = []
    with recording:
        for step, n_turns in enumerate(turns):
            scope.progress(step / len(turns), f"{n_turns:g} turns")
            rotation.move_to(n_turns, wait=True)
            scope.wait(settle + seconds)
            z, n = mean_z(scope, seconds, beads, stuck)
            table.append((n_turns, z, n))
            print(f"{n_turns:g} turns: mean z {z:.1f} nm ({n} beads)")
    rotation.move_to(start, wait=True)
    scope.progress(1.0, "done")
    print("turns  mean_z_nm  beads")
    for n_turns, z, n in table:
        print(f"{n_turns:5g}  {z:9.1f}  {n:5d}")
    return table
