"""Screenshots of the window for the README, taken against the simulated microscope.

Runs itself under Xvfb when there is no display (``xvfb-run -a -s "-screen 0 1600x1000x24"``;
Debian: ``apt-get install xvfb xauth`` and the xcb libraries Qt needs), starts a simulated daemon
(the window's own, in a temporary runtime folder), lowers the magnets (a higher force, so the
tethered beads hold still), adds a ROI at every bead, records a Z-LUT from the Z-LUT panel,
selects three beads and saves PNGs of the main views into ``docs/screenshots/``:

* ``window.png``: the whole window (live view with ROIs, status, motors, traces);
* ``zlut.png``: the Z-LUT panel after the sweep, with its per-bead quality table and one bead's
  LUT as an image;
* ``profile.png``: the live radial profile of a bead over its LUT plane nearest its z;
* ``all_beads.png``: z of every bead against time;
* ``recording.png``: the recording panel while a recording runs;
* ``scripts.png``: the scripts panel with a magnet-height script paused after a few steps;
* ``locks.png``: the locks panel with the stuck beads as references and the Z-lock locked;
* ``force.png``: the force panel after calibrations at four magnet heights (at 50 frames/s);
* ``force_plots.png``: one bead's power spectrum with its fit, and force against magnet height
  with the fitted curve;
* ``force_extension.png``: extension against force of three beads over a force ramp, with
  their worm-like-chain fits.

Usage: python scripts/screenshots.py [--out docs/screenshots] [--width 1280]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """[camera]
driver = "simulated.camera"
width = 1024
height = 1024
bits = 12
frame_rate = 30.0

[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.3, 20.0]

[motors.magnet_rotation]
driver = "simulated.magnet_rotation"
limits = [-100.0, 100.0]

[motors.focus]
driver = "simulated.focus"
limits = [-5000.0, 5000.0]

[simulation]
n_beads = 20
n_reference_beads = 3
seed = 0
"""
SCRIPT = '''import numpy as np


def main(scope, heights=(3.0, 2.5, 2.0, 1.5, 1.0), seconds=1.0):
    """Mean z of the beads at each magnet height."""
    magnet = scope.motors["magnet_height"]
    for step, height in enumerate(heights):
        scope.scripts.progress(step / len(heights), f"magnets at {height} mm")
        magnet.move_to(height, wait=True)
        scope.wait(seconds)
        z = scope.tracks.latest(seconds=seconds)["z_nm"]
        print(f"height {height:.1f} mm: mean z {np.nanmean(z):6.0f} nm ({len(z)} rows)")
    scope.scripts.progress(1.0, "done")
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1280, help="width of the saved PNGs (px)")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        if shutil.which("xvfb-run") is None:
            print("screenshots: no display and no xvfb-run (apt-get install xvfb xauth)",
                  file=sys.stderr)  # fmt: skip
            return 2
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
        return subprocess.call(command)
    os.environ.pop("QT_QPA_PLATFORM", None)
    folder = Path(tempfile.mkdtemp(prefix="msa-shots-", dir="/tmp"))
    os.environ["MAGSCOPE_APP_RUNTIME_DIR"] = str(folder)
    os.environ["MAGSCOPE_APP_STATE_DIR"] = str(folder / "state")
    try:
        return _take(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _take(args: argparse.Namespace, folder: Path) -> int:
    from magscope_app.gui import Bridge, DaemonEvents, MainWindow, OwnDaemon
    from PyQt6.QtCore import QSettings, Qt
    from PyQt6.QtGui import QImage
    from PyQt6.QtWidgets import QApplication

    from magscope_app import connect

    config = folder / "screens.toml"
    config.write_text(CONFIG)
    instance = f"shots{os.getpid()}"
    own = OwnDaemon(instance, config)
    own.start()
    app = QApplication.instance() or QApplication([])
    bridge = Bridge(own.connect(), connect=own.connect)
    events = DaemonEvents(bridge)
    settings = QSettings(str(folder / "gui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(bridge, events, instance=instance, own_daemon=own, settings=settings)
    window.resize(1600, 1000)
    window.show()

    def pump(seconds: float, until=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.01)

    def save(widget, name: str, width: int = args.width) -> None:
        image = widget.grab().toImage()
        if image.width() > width:
            image = image.scaledToWidth(width, Qt.TransformationMode.SmoothTransformation)
        small = image.convertToFormat(
            QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.AvoidDither
        )  # 256 colours: small
        args.out.mkdir(parents=True, exist_ok=True)
        small.save(str(args.out / name), "PNG", 0)
        print(f"saved {args.out / name} ({(args.out / name).stat().st_size // 1024} KB)")

    try:
        pump(60, lambda: window.live_view.display_updates > 5)
        with connect(instance) as client:
            client.call("move", motor="magnet_height", position=1.0)  # ~15 pN: beads hold still
            pump(12, lambda: abs(client.call("motor_state", motor="magnet_height")["position"]
                                 - 1.0) < 0.01)  # fmt: skip
            truth = client.call("sim_truth")
            client.call("add_beads", rois=[[x, y] for x, y in zip(truth["x_px"], truth["y_px"],
                                                                    strict=True)])  # fmt: skip
        zlut = window.zlut_panel
        zlut.start_nm.setValue(-1000.0)
        zlut.stop_nm.setValue(1000.0)
        zlut.step_nm.setValue(100.0)
        zlut.per_plane.setValue(10)
        zlut.start_sweep()
        pump(5)
        window.docks["Z-LUT"].raise_()
        pump(240, lambda: zlut.progress.format() in ("complete", "failed", "cancelled"))
        pump(3, lambda: zlut.table.rowCount() > 0)
        stuck = truth["is_reference"].index(True)  # bead ids follow the order they were added
        traces = window.trace_plots
        traces.reference.setCurrentIndex(traces.reference.findData(stuck))
        window.selection.set([0, 5])
        pump(12)
        save(window.docks["Z-LUT"], "zlut.png")
        window.docks["Motors"].raise_()
        pump(1)
        save(window, "window.png", width=min(args.width, 1100))  # the noisy image: keep it small
        window.docks["All beads"].raise_()
        pump(3)
        save(window.docks["All beads"], "all_beads.png")
        recording = window.recording_panel
        recording.folder.setText(str(folder / "recordings"))
        window.docks["Recording"].raise_()
        recording.start()
        pump(6)
        save(window.docks["Recording"], "recording.png")
        recording.stop()
        pump(3)
        window.docks["Profile"].raise_()
        pump(3, lambda: "Z-LUT plane" in window.profile_plot.title.text())
        save(window.docks["Profile"], "profile.png")
        scripts = window.scripts_panel
        script = folder / "height_steps.py"
        script.write_text(SCRIPT)
        window.docks["Scripts"].raise_()
        scripts.open_script(str(script))
        scripts.params.item(1, 1).setText("0.5")
        scripts.run()
        pump(60, lambda: scripts.output.toPlainText().count("height") >= 3)
        scripts.pause_button.click()
        pump(10, lambda: scripts.script.get("state") == "paused")
        pump(1)
        save(window.docks["Scripts"], "scripts.png")
        scripts.abort_button.click()
        pump(10, lambda: scripts.script.get("state") in ("aborted", "killed"))
        _science(window, instance, truth, pump, save)
    finally:
        window.close()
    return 0


def _science(window, instance: str, truth: dict, pump, save) -> None:
    """Locks, force calibration and force–extension, driven from their panels."""
    from magscope_app import connect

    locks = window.lock_panel
    window.docks["Locks"].raise_()
    locks.use_stuck()
    pump(20, lambda: locks.reference)
    locks.z_on.setChecked(True)
    locks.apply_zlock()
    pump(30, lambda: locks.zlock_state == "locked")
    pump(2)
    save(window.docks["Locks"], "locks.png")

    force = window.force_panel
    window.docks["Force"].raise_()
    tethered = [i for i, stuck in enumerate(truth["is_reference"]) if not stuck]
    with connect(instance) as client:
        client.call("set_setting", device="camera", name="frame_rate", value=50.0)
        force.find_surfaces()
        pump(90, lambda: force.action.get("action") == "surface_find"
             and force.action.get("state") != "running")  # fmt: skip
        force.seconds.setValue(5.0)
        for height in (3.2, 3.6, 4.1, 4.6):  # ~1.6 to ~0.4 pN: corner frequencies 30 to 8 Hz
            client.call("move", motor="magnet_height", position=height)
            pump(10, lambda h=height: abs(client.call("motor_state", motor="magnet_height")
                                          ["position"] - h) < 0.01)  # fmt: skip
            pump(1)
            force.calibrate()
            pump(40, lambda: force.action.get("state") == "running")
            pump(40, lambda: force.action.get("state") != "running")
            pump(3)
        force.force_curve.terms.setCurrentIndex(force.force_curve.terms.findData(1))
        force.force_curve.fit()  # one exponential: the simulated magnets' force law
        pump(5, lambda: force.force_curve.curves)
        force.select_bead(tethered[1])
        window.docks["Force plots"].raise_()
        pump(2)
        save(window.docks["Force"], "force.png")
        save(window.docks["Force plots"], "force_plots.png")

        plot = window.force_extension_plot
        window.docks["Force–extension"].raise_()
        window.selection.set(tethered[:3])
        low, high = force.force_curve.curves["pooled"]["force_range_pN"]
        force.ramp_from.setValue(round(low + 0.05, 2))
        force.ramp_to.setValue(round(high - 0.05, 2))
        force.ramp_rate.setValue(0.1)
        force.ramp()
        pump(5)
        pump(60, lambda: force.action.get("state") != "running")
        pump(2)
        plot.fit()
        pump(1)
        save(window.docks["Force–extension"], "force_extension.png")
        client.call("set_setting", device="camera", name="frame_rate", value=30.0)


if __name__ == "__main__":
    sys.exit(main())
