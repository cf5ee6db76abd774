"""Z-LUT calibration followed by a recording.

Moves the magnets close (a force that keeps the tethers taut while the focus steps), finds beads
when none are defined, records per-bead Z-LUTs with a focus sweep, prints the quality report,
saves the LUTs next to the recording and records the tracks for ``seconds``::

    magscope-app run scripts/experiments/zlut_then_record.py --param folder=/data/run1 \\
        --param seconds=60

Parameters: ``folder`` (absolute; created), ``seconds`` of recording, the sweep's ``start``,
``stop`` and ``step`` (nm, focus positions) and ``per_plane`` (profiles per bead and plane),
``height`` (mm) of the magnets during the sweep and the recording, ``mode`` of the recording.
"""

from pathlib import Path


def main(
    scope,
    folder,
    seconds=60.0,
    start=-1000.0,
    stop=1000.0,
    step=50.0,
    per_plane=20,
    height=1.0,
    mode="tracks",
):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scope.motors["magnet_height"].move_to(height, wait=True)
    if not scope.beads.list():
        found = scope.beads.find(add=True)
        print(f"found and added {len(found.get('ids', []))} beads")
    print(f"calibrating {len(scope.beads.list())} beads, focus {start:g} to {stop:g} nm")
    sweep = scope.zlut.sweep(start=start, stop=stop, step=step, per_plane=per_plane)
    plane = None
    while not sweep.done:
        progress = sweep.progress
        if progress.planes and progress.plane != plane:
            plane = progress.plane
            scope.progress(0.5 * plane / progress.planes, f"Z-LUT plane {plane}/{progress.planes}")
        scope.wait(0.5)
    final = sweep.wait()
    print(f"Z-LUT sweep {final.state}: {final.message}")
    print(sweep.report["text"])
    lut_file = folder / "zlut.h5"
    scope.zlut.save(str(lut_file))
    print(f"LUTs saved to {lut_file}")
    scope.progress(0.5, "recording")
    with scope.record(folder, name="after-zlut", mode=mode) as recording:
        scope.wait(seconds)
    scope.progress(1.0, "done")
    print(f"recorded {seconds:g} s to {recording.path}")
