"""A long constant-force run: the magnets go to one height and the tracks are recorded for
hours, while a periodic check watches the beads. When too many beads are lost (the xy fit
failing, or no z for a bead that had one, over the last seconds) the script pauses itself and
says so: an operator fixes the beads (GUI or ``magscope-app beads``) and resumes it with
``magscope-app script resume`` (or aborts it). The recording goes on while the script is paused;
the paused time does not count towards the run's duration::

    magscope-app run scripts/experiments/constant_force.py --param folder=/data/cf \\
        --param height=2 --param hours=12

Parameters: ``folder`` (absolute) of the recording, ``height`` (mm), ``hours`` (or ``seconds``,
which wins when given), ``check_every`` seconds, ``max_lost`` fraction of beads that may be
lost before the script pauses itself, ``mode`` of the recording.
"""

import time

import numpy as np

from magscope_app.buffers.layouts import TrackFlags

XY_BAD = int(TrackFlags.FIT_FAILED | TrackFlags.AT_EDGE)


def lost_beads(scope, seconds, z_tracked):
    """Ids of the beads without a usable track over the last ``seconds`` s: no rows, or more
    than half of them with a failed xy fit, or (for the beads in ``z_tracked``) without z."""
    tracks = scope.tracks.latest(seconds)
    lost = []
    for bead in scope.beads.list():
        rows = tracks[tracks["bead"] == bead["id"]]
        bad = (rows["flags"] & XY_BAD) != 0
        if bead["id"] in z_tracked:
            bad |= ~np.isfinite(rows["z_nm"])
        if len(rows) == 0 or bad.mean() > 0.5:
            lost.append(bead["id"])
    return lost


def beads_with_z(scope, seconds=1.0):
    """Ids of the beads whose z is measured now (they have a Z-LUT)."""
    tracks = scope.tracks.latest(seconds)
    return {int(b) for b in np.unique(tracks["bead"][np.isfinite(tracks["z_nm"])])}


def main(scope, folder, height=2.0, hours=1.0, seconds=None, check_every=60.0, max_lost=0.25,
         mode="tracks"):  # fmt: skip
    total = float(seconds) if seconds is not None else 3600.0 * hours
    n_beads = len(scope.beads.list())
    if n_beads == 0:
        raise RuntimeError("no beads: add or find beads first (magscope-app beads find --add)")
    scope.motors["magnet_height"].move_to(height, wait=True)
    z_tracked = beads_with_z(scope)
    with scope.record(folder, name="constant-force", mode=mode) as recording:
        print(f"recording {total:g} s at {height:g} mm to {recording.path}")
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < total:
            scope.progress(elapsed / total, f"{elapsed:.0f} of {total:g} s")
            scope.wait(min(check_every, total - elapsed))
            lost = lost_beads(scope, min(check_every, 5.0), z_tracked)
            if len(lost) > max_lost * n_beads:
                print(f"beads lost: {lost}; pausing until an operator resumes the script")
                paused_at = time.monotonic()
                scope.scripts.pause()  # returns once resumed
                start += time.monotonic() - paused_at
                print("resumed")
        scope.progress(1.0, "done")
    print(f"constant-force run done: {recording.path}")
