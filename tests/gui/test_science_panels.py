"""The science panels against one real simulated daemon shared by the module: reference beads
and the Z-lock from the Locks panel, a short force calibration from the Force panel (results
table, the power spectrum with its fitted model), a force curve loaded there, and the
force–extension plot filling during a ramp.

The module's microscope: 3 tethered beads (no spread of force or DNA length) and 2 stuck ones,
a Z-LUT built offline from the optics model (``tests/locks/_sim.py``: z is tracked at once),
magnets at 3 mm (~2 pN) and each tethered bead's surface set from the simulator's truth.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _daemon_process import DaemonProcess, daemon_folders, run_instance, wait_for
from locks._sim import anchors, offline_zlut
from magscope_app.gui._force_panel import LIVE_COLUMN
from PyQt6.QtCore import Qt

import magscope_app
from magscope_app.analysis.force_curve import fit_force_curve
from magscope_app.tracking import TrackingSettings
from magscope_app.zlut import save_force_curves

pytestmark = pytest.mark.timeout(120)

F0_PN, DECAY_MM = 40.0, 1.0
CONFIG = f"""
[camera]
driver = "simulated.camera"
width = 256
height = 256
bits = 12
frame_rate = 100.0  # the corner frequency at 3 mm (~2 pN) is ~35 Hz: below half of it

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]
speed = 20.0

[simulation]
n_beads = 3
n_reference_beads = 2
seed = 5
min_separation_px = 60.0
F0_pN = {F0_PN}
force_decay_mm = {DECAY_MM}
force_spread = 0.0
contour_length_spread = 0.0
drift_velocity_nm_per_s = [0.0, 0.0, 0.0]
drift_diffusion_nm2_per_s = 0.0

[daemon]
video_stacks = 32
images_per_stack = 2
"""


@pytest.fixture(scope="module")
def science(tmp_path_factory):
    """The module's daemon with beads on every simulated bead, z tracked and the surfaces set:
    ``{"instance", "tethered", "stuck", "tmp"}``."""
    tmp = tmp_path_factory.mktemp("science")
    config = tmp / "science.toml"
    config.write_text(CONFIG)
    with daemon_folders(tmp / "state"):
        instance = run_instance("sci")
        daemon = DaemonProcess(instance, tmp, "--config", str(config))
        try:
            daemon.wait_ready()
            xy, is_stuck = anchors(config)
            with magscope_app.connect(instance, timeout=30) as scope:
                wait_for(lambda: scope.status()["tracking"]["workers_running"] >= 1, timeout=60)
                ids = scope.beads.add(xy.tolist())
                settings = TrackingSettings(**scope.call("tracking_settings")["settings"])
                scope.call("set_zlut", **offline_zlut(settings, np.arange(0.0, 2600.0, 20.0)))
                scope.motors["magnet_height"].move_to(3.0, wait=True, timeout=30)
                tethered = [b for b, s in zip(ids, is_stuck, strict=True) if not s]
                stuck = [b for b, s in zip(ids, is_stuck, strict=True) if s]
                time.sleep(2.0)  # a second of tracks at 3 mm, after the tethers have settled
                _set_surfaces(scope, tethered)
            yield {"instance": instance, "tethered": tethered, "stuck": stuck, "tmp": tmp}
        finally:
            daemon.stop()


def _set_surfaces(scope, tethered: list[int]) -> None:
    """Each tethered bead's surface: its tracked z less its true extension."""
    truth = scope.call("sim_truth")
    tracks = scope.tracks.latest(1.0)
    for bead in tethered:
        z = np.nanmean(tracks["z_nm"][tracks["bead"] == bead])
        scope.force.set_surface(bead, float(z - truth["extension_nm"][bead]))


def test_references_and_z_lock_from_the_lock_panel(science, make_window, qtbot):
    window = make_window(science["instance"])
    panel = window.lock_panel
    click = qtbot.mouseClick
    # the beads the simulator made stuck, found by classification
    click(panel.stuck_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.reference == science["stuck"], timeout=20_000)
    assert panel.suggested.text() == ", ".join(map(str, science["stuck"]))
    click(panel.clear_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.reference == [], timeout=10_000)
    # marked by hand: select them in the live view, then "Mark selected"
    window.selection.set(science["stuck"])
    click(panel.mark_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.reference == science["stuck"], timeout=10_000)
    qtbot.waitUntil(lambda: panel.drift_beads.text() == panel.references.text(), timeout=20_000)
    assert panel.drift.text().endswith(" nm")
    # the XY-lock, on and off
    panel.xy_on.click()
    qtbot.waitUntil(lambda: (panel.locks.get("xylock") or {}).get("on") is True, timeout=10_000)
    panel.xy_on.click()
    qtbot.waitUntil(lambda: (panel.locks.get("xylock") or {}).get("on") is False, timeout=10_000)
    # the Z-lock, on with its settings from the panel, locks
    panel.params["deadband_nm"].setValue(2.0)
    panel.z_on.click()
    qtbot.waitUntil(lambda: panel.zlock_state == "locked", timeout=30_000)
    assert "locked" in panel.indicator.text() and "#1a1" in panel.indicator.styleSheet()
    with magscope_app.connect(science["instance"]) as scope:
        zlock = scope.locks.status()["zlock"]
    assert zlock["on"] and zlock["params"]["deadband_nm"] == 2.0
    # a target out of reach with a tiny allowed focus travel: the lock lets go and says why
    panel.use_target.setChecked(True)
    panel.target.setValue(zlock["target_nm"] + 400.0)
    panel.params["max_excursion_nm"].setValue(20.0)
    click(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.zlock_state == "unlocked", timeout=20_000)
    assert "focus" in panel.indicator.text() and "#d33" in panel.indicator.styleSheet()
    assert not panel.z_on.isChecked()
    # on again where the beads are, and off
    panel.use_target.setChecked(False)
    panel.params["max_excursion_nm"].setValue(2000.0)
    panel.z_on.click()
    qtbot.waitUntil(lambda: panel.zlock_state in ("settling", "locked"), timeout=10_000)
    panel.z_on.click()
    qtbot.waitUntil(lambda: panel.zlock_state == "off", timeout=10_000)
    click(panel.clear_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.reference == [], timeout=10_000)
    # without references the lock is refused, and the refusal is shown
    panel.z_on.click()
    qtbot.waitUntil(lambda: "no reference beads" in panel.message.text(), timeout=10_000)
    assert not panel.z_on.isChecked()


def test_force_calibration_from_the_force_panel(science, make_window, qtbot):
    window = make_window(science["instance"])
    panel = window.force_panel
    # a long calibration, cancelled from the panel
    panel.seconds.setValue(60.0)
    qtbot.mouseClick(panel.calibrate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.cancel_button.isEnabled(), timeout=10_000)
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.action.get("state") == "cancelled", timeout=10_000)
    assert panel.calibrate_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert not panel.results
    # a short one of the selected beads
    panel.seconds.setValue(3.0)
    panel.beads.setCurrentText("selected")
    window.selection.set(science["tethered"])
    qtbot.mouseClick(panel.calibrate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.cancel_button.isEnabled(), timeout=10_000)
    qtbot.waitUntil(lambda: set(panel.results) == set(science["tethered"]), timeout=40_000)
    assert "force_calibrate: complete" in panel.progress.format()
    rows = {
        int(panel.table.item(r, 0).text()): [
            panel.table.item(r, c).text() for c in range(panel.table.columnCount())
        ]
        for r in range(panel.table.rowCount())
    }
    assert set(rows) == set(science["tethered"])
    calibrated = [b for b, r in panel.results.items() if r.get("force_pN") is not None]
    assert calibrated, panel.results
    truth = F0_PN * np.exp(-3.0 / DECAY_MM)
    for bead in calibrated:
        assert float(rows[bead][1]) == pytest.approx(panel.results[bead]["force_pN"], rel=1e-2)
        assert 0.2 * truth < panel.results[bead]["force_pN"] < 5 * truth
    # the chosen bead's spectrum: binned data and the fitted model, log-log
    panel.select_bead(calibrated[0])
    plot = panel.spectrum
    f, psd = plot.data.xData, plot.data.yData  # as given (getData() is log10 on log axes)
    model = plot.model.yData
    assert len(f) >= 20 and np.all(np.isfinite(psd)) and np.all(psd > 0)
    assert len(model) == len(f) and np.all(np.isfinite(model))
    assert 0.5 < np.median(psd / model) < 2.0, "the fit follows the data"
    assert plot.title.text().startswith(f"bead {calibrated[0]}: fc")
    # the calibration points (forces with a finite error) appear against the magnet height
    points = {b for b, r in panel.results.items() if r.get("force_error_pN") is not None}
    assert points, {
        b: (r.get("force_pN"), r.get("force_error_pN"), r.get("flag"))
        for b, r in panel.results.items()
    }
    qtbot.waitUntil(lambda: points <= set(panel.force_curve.points), timeout=10_000)


def test_force_extension_points_accumulate_during_a_ramp(science, make_window, qtbot):
    heights = np.linspace(1.0, 5.0, 6)
    forces = F0_PN * np.exp(-heights / DECAY_MM)
    curve_file = save_force_curves(
        science["tmp"] / "curve.h5",
        {None: fit_force_curve(heights, forces, 0.02 * forces, terms=1)},
        {},
    )
    window = make_window(science["instance"], connect=magscope_app.connect)  # pushed events
    panel, plot = window.force_panel, window.force_extension_plot
    # a force curve loaded from the panel: the live force of every tethered bead follows
    panel.force_curve.path.setText(str(curve_file))
    qtbot.mouseClick(panel.force_curve.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.force_curve.curves.get("pooled") is not None, timeout=10_000)
    assert len(panel.force_curve.curve.xData) > 10
    assert "calibrated 1.00–5.00 mm" in panel.force_curve.summary.text()
    qtbot.waitUntil(lambda: set(science["tethered"]) <= set(panel.live), timeout=10_000)
    live_column = [panel.table.item(r, LIVE_COLUMN).text() for r in range(panel.table.rowCount())]
    assert all(text != "-" for text in live_column), live_column

    # to a force
    panel.force.setValue(2.5)
    qtbot.mouseClick(panel.set_button, Qt.MouseButton.LeftButton)
    height = DECAY_MM * np.log(F0_PN / 2.5)
    qtbot.waitUntil(lambda: "for 2.5 pN" in panel.message.text(), timeout=10_000)
    assert f"magnets to {height:.3f} mm" in panel.message.text()
    # and ramped, with the force–extension points accumulating
    window.selection.set(science["tethered"])
    panel.ramp_from.setValue(1.0)
    panel.ramp_to.setValue(5.0)
    panel.ramp_rate.setValue(1.0)
    qtbot.mouseClick(panel.ramp_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.action.get("action") == "force_ramp", timeout=10_000)
    qtbot.waitUntil(lambda: panel.action.get("state") == "complete", timeout=30_000)
    qtbot.wait(1500)  # a point at the last force
    bead = science["tethered"][0]
    force, extension = plot.points[bead].arrays()
    assert len(force) >= 4, force
    assert force.min() < 2.0 and force.max() > 4.0
    assert np.all(extension > 300) and np.all(extension < 1100)
    low, high = extension[force.argmin()], extension[force.argmax()]
    assert high > low, "a DNA tether stretches as the force rises"
    assert plot._scatter[bead].getData()[0].size == force.size
    assert "live force: bead" in plot.live.text()
    # the worm-like-chain fit of the points below 5 pN
    qtbot.mouseClick(plot.fit_button, Qt.MouseButton.LeftButton)
    assert f"bead {bead}: Lp = " in plot.result.text() and "L0 = " in plot.result.text()
    fit = plot.fits[bead]  # the simulated DNA: 1000 nm long, Lp 50 nm (loose: a live ramp)
    assert 900 < fit.contour_nm < 1100 and 20 < fit.persistence_nm < 100, fit
    assert plot._fitted[bead].getData()[0].size == 100
