"""Force–extension end to end: beads, Z-LUT, surface, force calibration, a recorded force
series, and the worm-like-chain fit of the recording read back.

Steps: find beads (if none) with the magnets close → classify stuck/tethered → Z-LUT sweep →
each tethered bead's surface z (magnets far away, turned if a rotation motor exists) → force
calibration at each of ``heights`` → force-versus-height curve (saved with the LUTs in
``folder``/zlut.h5) → a recording while the force steps through ``forces`` → the recording read
back with ``magscope_app.recording`` → extension against force per bead and the WLC fits::

    magscope-app run scripts/experiments/force_extension.py --param folder=/data/fe

Parameters: ``folder`` (absolute; created), ``heights`` (mm) of the calibration,
``calibration_s`` per height, ``forces`` (pN; default 10 log-spaced over the calibrated range),
``dwell_s`` per force, the sweep's ``focus_start``/``focus_stop``/``focus_step`` (nm),
``sweep_height`` (mm, magnets during the sweep), ``surface_turns``, ``hat_turns`` (magnet turns
of the rotation–extension (hat) curve recorded at the lowest calibrated force, with a rotation
motor).
Returns {"persistence_nm", "contour_nm" (pooled over beads, (value, 1σ)), "beads" (force and
extension per bead), "hat" ({bead: (turns, extension nm)}), "calibrations" ({height:
[BeadCalibration]}), "recording", "lut_file"}.
"""

from pathlib import Path

import numpy as np

from magscope_app.analysis.force_extension import (
    force_extension,
    pooled_contour,
    pooled_fit,
    rotation_extension,
)
from magscope_app.zlut import load_force_curves


def main(
    scope,
    folder,
    heights=(3.4, 2.9, 2.5, 2.1, 1.7),
    calibration_s=8.0,
    forces=None,
    dwell_s=1.0,
    focus_start=-300.0,
    focus_stop=1200.0,
    focus_step=50.0,
    per_plane=10,
    sweep_height=2.2,
    surface_turns=5.0,
    hat_turns=(0.0, 10.0, 14.0, -14.0),
):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    magnet = scope.motors["magnet_height"]
    magnet.move_to(sweep_height, wait=True)
    if not scope.beads.list():
        found = scope.beads.find(add=True)
        print(f"found and added {len(found.get('ids', []))} beads")
        for rejected in found.get("rejected", []):
            print(
                f"  not added: ({rejected['x']:.0f}, {rejected['y']:.0f}) px, {rejected['reason']}"
            )
        scope.wait(2.5)  # tracks for the classification
    kinds = scope.beads.classify(seconds=2.0)
    tethered, stuck = kinds["tethered"], kinds["stuck"]
    print(f"{len(tethered)} tethered beads {tethered}, {len(stuck)} stuck beads {stuck}")
    if not tethered:
        raise RuntimeError("no tethered beads: nothing to calibrate")

    scope.progress(0.1, "Z-LUT sweep")
    sweep = scope.zlut.sweep(focus_start, focus_stop, focus_step, per_plane, settle=0.05)
    print(f"Z-LUT sweep {sweep.wait().state}")
    lut_file = folder / "zlut.h5"
    scope.zlut.save(str(lut_file))

    scope.progress(0.25, "surface")
    has_rotation = any(d["name"] == "magnet_rotation" for d in scope.devices())
    turns = surface_turns if has_rotation else None
    surfaces = scope.force.find_surface(seconds=2.0, beads=tethered, turns=turns)
    print(f"surface z per bead: {surfaces['surfaces']}")

    calibrations = {}
    for i, height in enumerate(heights):
        scope.progress(0.3 + 0.4 * i / len(heights), f"calibrating at {height:g} mm")
        magnet.move_to(height, wait=True)
        scope.wait(0.5)
        results = calibrations[height] = scope.force.calibrate(
            calibration_s, tethered, axis="xy", drag="faxen"
        )
        text = ", ".join(f"{r.bead}: {r.force_pN:.3g}±{r.force_error_pN:.2g}" for r in results
                         if r.force_pN is not None)  # fmt: skip
        print(f"{height:g} mm: {text} pN")
    fitted = scope.force.fit_curve()
    low, high = fitted["curves"]["pooled"]["force_range_pN"]
    print(f"force curve fitted: {low:.3g} to {high:.3g} pN")
    scope.force.save(str(lut_file))

    scope.progress(0.7, "force series")
    if forces is None:
        forces = np.geomspace(low * 1.01, high * 0.99, 10)
    with scope.record(folder, name="force-extension") as recording:
        for force in forces:
            magnet.move_to(scope.force.set(float(force)), wait=True)
            scope.wait(dwell_s)
    scope.progress(0.95, "fitting")
    curves, surface_z = load_force_curves(lut_file)
    result = force_extension(recording.path, curves, surface_z, beads=tethered)
    persistence = pooled_fit(result)
    contour = pooled_contour(result)
    print("bead  Lp (nm)       Lc (nm)")
    for bead, curve in result.items():
        fit = curve.low
        if fit is not None:
            print(f"{bead:4d}  {fit.persistence_nm:5.1f}±{fit.persistence_error_nm:4.1f}  "
                  f"{fit.contour_nm:6.0f}±{fit.contour_error_nm:3.0f}")  # fmt: skip
    print(f"pooled: Lp = {persistence[0]:.1f} ± {persistence[1]:.1f} nm, "
          f"Lc = {contour[0]:.0f} ± {contour[1]:.0f} nm")  # fmt: skip
    hat = {}
    if has_rotation and hat_turns:
        scope.progress(0.97, "rotation-extension")
        magnet.move_to(scope.force.set(low * 1.01), wait=True)
        rotation = scope.rotation
        with scope.record(folder, name="rotation-extension") as hat_recording:
            for turns in hat_turns:
                rotation.move_to(turns, wait=True)
                scope.wait(dwell_s)
        rotation.move_to(0.0, wait=True)
        hat = rotation_extension(hat_recording.path, surface_z, beads=tethered)
        print("turns  " + "  ".join(f"bead {b:d}" for b in hat))
        for i, turns in enumerate(hat[tethered[0]][0]):
            print(f"{turns:5.1f}  " + "  ".join(f"{h[1][i]:6.0f}" for h in hat.values()))
    scope.progress(1.0, "done")
    return {
        "hat": {b: (t.tolist(), e.tolist()) for b, (t, e, _) in hat.items()},
        "persistence_nm": persistence,
        "contour_nm": contour,
        "recording": str(recording.path),
        "lut_file": str(lut_file),
        "calibrations": calibrations,
        "beads": {
            b: {"force_pN": c.force_pN.tolist(), "extension_nm": c.extension_nm.tolist()}
            for b, c in result.items()
        },
    }
