"""Force calibration in the daemon: Brownian-motion calibrations, the force-versus-magnet-height
curve, live forces, moving to a force, force ramps, and the beads' surface positions.

* ``force_calibrate`` records the tethered beads' Brownian motion at the current magnet height for
  ``seconds`` from the Tracks buffer (non-consuming peek), fits it in a thread
  (:mod:`magscope_app.analysis.force`: blurred, aliased spectrum and/or Allan variance; frame rate
  from the timestamps, exposure from the camera) and keeps each bead's (height, force ± σ) as a
  calibration point. The extension is the bead's mean z minus its surface position.
* ``force_curve_fit`` fits F(height) (double exponential) per bead and pooled over the beads;
  ``force_curve_save``/``force_curve_load`` store it (default: in the Z-LUT file in use, group
  ``force_curve``); the last file is loaded at start.
* ``force_set`` moves the magnets to the height of a force; ``force_ramp`` changes the force at a
  constant rate; ``surface_find`` holds the beads down (magnets far away, optionally turned) and
  takes a low percentile of their z; ``surface_set`` sets it by hand.

Long actions (calibration, ramp, surface search) run one at a time as an asyncio task, report on
the event topic ``force`` ({id, action, state: running|complete|failed|cancelled, fraction,
message}; ``id`` numbers the actions)
and end with ``force_cancel``. Units: pN, mm (magnet height), nm, s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis import force as fo
from ..analysis.force_curve import ForceCurve, fit_force_curve
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ..paths import state_dir
from ..zlut import last_lut
from ..zlut._files import (
    LUTFileError,
    last_force_file,
    load_force_curves,
    remember_force_file,
    save_force_curves,
)
from . import _force_traces as traces
from ._bead_finding import recent_rows
from .base import DaemonContext, Service
from .camera import CAMERA_WORKER
from .motors import MotorService
from .tracking import TrackingService

MAGNET = "magnet_height"
ROTATION = "magnet_rotation"
#: Magnet positions within this much of the target count as arrived (mm or turns).
ON_TARGET = 1e-3
MOVE_TIMEOUT_S = 60.0
#: Step of a force ramp (s).
RAMP_STEP_S = 0.1


class ForceService(Service):
    """Commands ``force_calibrate``, ``force_points``, ``force_points_clear``,
    ``force_curve_fit``, ``force_curve``, ``force_curve_save``, ``force_curve_load``,
    ``force_set``, ``force_ramp``, ``force_status``, ``force_cancel``, ``surface_find``,
    ``surface_set``; status part ``force``; each bead's live force in ``beads``."""

    name = "force"

    def __init__(self, ctx: DaemonContext, motors: MotorService, tracking: TrackingService) -> None:
        super().__init__(ctx)
        self.motors = motors
        self.tracking = tracking
        self._task: asyncio.Task | None = None
        self._progress: dict[str, Any] = {"action": None, "state": "idle"}
        self._action_ids = itertools.count(1)
        #: Set by force_cancel; the actions' loops check it too, because in Python 3.11
        #: ``asyncio.wait_for`` (in worker requests) can drop a cancellation that arrives just
        #: as its reply does.
        self._cancel_requested = False
        #: bead -> calibration points [(magnet height mm, force pN, 1σ pN)]
        self._points: dict[int, list[tuple[float, float, float]]] = {}
        #: bead (None: pooled) -> curve
        self._curves: dict[int | None, ForceCurve] = {}
        #: bead -> its z (nm, tracking's frame) when lying on the surface
        self._surface: dict[int, float] = {}

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.tracking.bead_info.append(self._bead_info)
        self.ctx.event_sinks.append(self._on_event)
        path = last_force_file(state_dir(self.ctx.instance))
        if path is None:
            return
        try:
            self._curves, self._surface = load_force_curves(path)
            self.ctx.event(f"loaded the force curve from {path}", source="force")
        except LUTFileError:
            pass  # a LUT file without a force curve: nothing to load

    async def stop(self) -> None:
        if self._on_event in self.ctx.event_sinks:
            self.ctx.event_sinks.remove(self._on_event)
        if self._task is not None and not self._task.done():
            self._cancel_requested = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_event(self, topic: str, _time: float, payload: dict[str, Any]) -> None:
        """A bead removed, or moved onto another bead (``move_bead``), takes its calibration
        points, its own force curve and its surface position with it; cleared beads take all."""
        if topic != "beads":
            return
        change = payload.get("change")
        if change == "cleared":
            gone = [b for b in {*self._points, *self._surface, *self._curves} if b is not None]
        elif change in ("removed", "moved"):
            gone = list(payload.get("ids", ()))
        else:
            return
        for bead in gone:
            self._points.pop(bead, None)
            self._surface.pop(bead, None)
            self._curves.pop(bead, None)

    def status(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self._progress.items() if k != "result"},
            "height_mm": self._height(),
            "forces_pN": {str(b): f for b, f in self.live_forces().items()},
            "curves": ["pooled" if b is None else b for b in self._curves],
            "surfaces": sorted(self._surface),
        }

    # -- live force -----------------------------------------------------------------------------
    def _height(self) -> float | None:
        if MAGNET not in self.motors.specs:
            return None
        return self.motors.latest(MAGNET)["position"]

    def curve_for(self, bead: int | None) -> ForceCurve | None:
        """The bead's own curve, else the pooled one (None if neither)."""
        return self._curves.get(bead, self._curves.get(None))

    def live_forces(self) -> dict[int, float | None]:
        """Each bead's force (pN) at the current magnet height, from its curve; None where the
        height lies outside the curve's calibrated range (stuck beads are left out)."""
        height = self._height()
        if height is None or not self._curves or self.tracking.beads is None:
            return {}
        out: dict[int, float | None] = {}
        for bead in self.tracking.beads.centres:
            curve = self.curve_for(bead)
            if curve is None or self.tracking.beads.kinds.get(bead) == "stuck":
                continue
            low, high = curve.height_range_mm
            inside = low - ON_TARGET <= height <= high + ON_TARGET
            out[bead] = round(float(curve.force(height)), 4) if inside else None
        return out

    def _bead_info(self) -> dict[int, dict[str, Any]]:
        forces = self.live_forces()
        return {
            b: {"force_pN": forces.get(b), "surface_z_nm": self._surface.get(b)}
            for b in set(forces) | set(self._surface)
        }

    # -- commands ---------------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        beads = Param("beads", "list", required=False, help="bead ids (default: tethered beads)")
        table.add(
            "force_calibrate", self._cmd_calibrate,
            Param("seconds", "float", minimum=0.5, maximum=3600.0, unit="s",
                  help="how long to record the Brownian motion"),
            beads,
            Param("axis", "str", required=False, default="x", choices=("x", "y", "xy"),
                  help="x: along the field (short pendulum); y: across it (long pendulum); "
                  "xy: both, combined"),
            Param("method", "str", required=False, default="spectrum",
                  choices=("spectrum", "allan", "both"), help="fit of the motion"),
            Param("drag", "str", required=False, default="free",
                  choices=("free", "stokes", "faxen"),
                  help="bead drag: fitted, or fixed to 6πηR (faxen: with the wall correction)"),
            Param("surface_z", "float", required=False, unit="nm",
                  help="z of the surface for every bead (default: each bead's surface)"),
            Param("bead_radius_nm", "float", required=False, default=500.0, minimum=1.0,
                  unit="nm", help="bead radius"),
            Param("temperature_K", "float", required=False, default=fo.DEFAULT_TEMPERATURE_K,
                  minimum=200.0, maximum=400.0, unit="K", help="sets kT"),
            Param("viscosity", "float", required=False,
                  default=fo.DEFAULT_VISCOSITY_PN_S_PER_NM2, minimum=1e-15, unit="pN·s/nm²",
                  help="viscosity of the medium (1e-9 = water)"),
            help="calibrate the force on tethered beads at the current magnet height "
            "(runs in the background; result in force_status)",
        )  # fmt: skip
        table.add("force_points", self._cmd_points, help="calibration points per bead")
        table.add("force_points_clear", self._cmd_points_clear, help="forget the points")
        table.add(
            "force_curve_fit", self._cmd_curve_fit,
            Param("terms", "int", required=False, default=2, minimum=1, maximum=2,
                  help="exponentials (2: double exponential)"),
            help="fit force against magnet height per bead and pooled",
        )  # fmt: skip
        table.add("force_curve", self._cmd_curve, help="the force curves in use")
        path = Param("path", "str", required=False,
                     help="HDF5 file (default: the Z-LUT file in use)")  # fmt: skip
        table.add("force_curve_save", self._cmd_save, path, help="save the force curves")
        table.add("force_curve_load", self._cmd_load, path, help="load force curves")
        table.add(
            "force_set", self._cmd_set,
            Param("pN", "float", minimum=0.0, unit="pN", help="force"),
            Param("bead", "int", required=False, minimum=0,
                  help="use this bead's curve (default: pooled)"),
            help="move the magnets to the height giving this force",
        )  # fmt: skip
        table.add(
            "force_ramp", self._cmd_ramp,
            Param("from_pN", "float", minimum=0.0, unit="pN"),
            Param("to_pN", "float", minimum=0.0, unit="pN"),
            Param("rate_pN_per_s", "float", minimum=1e-6, unit="pN/s"),
            Param("bead", "int", required=False, minimum=0,
                  help="use this bead's curve (default: pooled)"),
            help="change the force at a constant rate (runs in the background)",
        )  # fmt: skip
        table.add("force_status", self._cmd_status, help="progress of the force action")
        table.add("force_cancel", self._cmd_cancel, help="cancel the running force action")
        table.add(
            "surface_find", self._cmd_surface_find,
            Param("seconds", "float", required=False, default=3.0, minimum=0.5, maximum=600.0,
                  unit="s", help="how long to watch the beads held down"),
            beads,
            Param("height_mm", "float", required=False, unit="mm",
                  help="magnet height holding the beads down (default: upper limit)"),
            Param("turns", "float", required=False, default=0.0, unit="turns",
                  help="magnet turns that coil the tethers (with a rotation motor)"),
            help="find each bead's surface z (lowest point; runs in the background)",
        )  # fmt: skip
        table.add(
            "surface_set", self._cmd_surface_set,
            Param("bead", "int", minimum=0), Param("z_nm", "float", unit="nm"),
            help="set a bead's surface z by hand",
        )  # fmt: skip

    # -- long actions -----------------------------------------------------------------------------
    def _begin(self, action: str, work: Callable[[], Coroutine[Any, Any, Any]]) -> dict:
        if self._task is not None and not self._task.done():
            raise CommandError(
                "failed", f"a force action ({self._progress['action']}) is running "
                "(force_cancel stops it)"
            )  # fmt: skip
        self._cancel_requested = False
        self._progress = {"id": next(self._action_ids), "action": action, "state": "running",
                          "fraction": 0.0,
                          "message": None, "result": None, "started": time.time()}  # fmt: skip
        self._task = asyncio.get_running_loop().create_task(self._run(action, work))
        self._publish()
        return dict(self._progress)

    async def _run(self, action: str, work: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        try:
            result = await work()
            outcome = {"state": "complete", "result": result, "message": "done"}
        except asyncio.CancelledError:
            outcome = {"state": "cancelled", "message": "cancelled"}
        except CommandError as exc:
            outcome = {"state": "failed", "message": exc.message}
        except Exception as exc:
            outcome = {"state": "failed", "message": f"{type(exc).__name__}: {exc}"}
        self._progress.update(outcome, fraction=1.0)
        self._publish()
        level = {"complete": "info", "cancelled": "warning"}.get(outcome["state"], "error")
        self.ctx.event(f"{action} {outcome['state']}: {outcome['message']}", level=level,
                       source="force")  # fmt: skip

    def _report(self, fraction: float, message: str) -> None:
        self._progress.update(fraction=fraction, message=message)
        self._publish()

    def _publish(self) -> None:
        keys = ("id", "action", "state", "fraction", "message")
        self.ctx.publish("force", {k: self._progress.get(k) for k in keys})

    async def _cmd_status(self) -> dict[str, Any]:
        return dict(self._progress)

    async def _cmd_cancel(self) -> dict[str, Any]:
        if self._task is None or self._task.done():
            raise CommandError("failed", "no force action is running")
        self._cancel_requested = True
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return dict(self._progress)

    def _check_cancel(self) -> None:
        if self._cancel_requested:
            raise asyncio.CancelledError

    async def _watch(self, seconds: float, what: str) -> None:
        """Let ``seconds`` pass, reporting progress about once a second."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._check_cancel()
            self._report(1.0 - left / seconds, f"{what}: {left:.0f} s left")
            await asyncio.sleep(min(0.25, left))
        self._check_cancel()

    def _frame_rate(self) -> float:
        return max(float(self.tracking.camera.status().get("fps") or 0.0), 1.0)

    def _rows_since(self, since: float) -> np.ndarray:
        n = max(len(self.tracking.beads.centres), 1)
        rows = recent_rows(self.ctx.buffers["Tracks"], time.time() - since, self._frame_rate() * n)
        return rows[rows[:, traces._TIME] >= since]

    # -- beads ------------------------------------------------------------------------------------
    def _beads(self, command: str, beads: list | None) -> list[int]:
        table = self.tracking.beads
        if beads is None:
            chosen = sorted(b for b, kind in table.kinds.items() if kind == "tethered")
            if not chosen:
                raise CommandError(
                    "failed", f"{command}: no tethered beads (classify_beads first, or give beads)"
                )
            return chosen
        bad = [b for b in beads if isinstance(b, bool) or not isinstance(b, int)]
        missing = sorted({b for b in beads if b not in table.centres})
        if bad or missing or not beads:
            raise CommandError("invalid_argument", f"{command}: no beads with ids {bad or missing}")
        return [int(b) for b in beads]

    def _check_magnets(self, command: str, *, still: bool = False) -> float:
        """The magnet height (mm); CommandError without a magnet motor, or if ``still`` and the
        magnets are moving."""
        height = self._height()
        if height is None:
            raise CommandError(
                "failed", f"{command}: no magnet height motor ([motors.{MAGNET}] in the config)"
            )
        if still and self.motors.latest(MAGNET)["moving"]:
            raise CommandError("failed", f"{command}: the magnets are moving; wait until they stop")
        return height

    # -- calibration ------------------------------------------------------------------------------
    async def _cmd_calibrate(
        self,
        seconds: float,
        beads: list | None = None,
        axis: str = "x",
        method: str = "spectrum",
        drag: str = "free",
        surface_z: float | None = None,
        bead_radius_nm: float = 500.0,
        temperature_K: float = fo.DEFAULT_TEMPERATURE_K,
        viscosity: float = fo.DEFAULT_VISCOSITY_PN_S_PER_NM2,
    ) -> dict[str, Any]:
        height = self._check_magnets("force_calibrate", still=True)
        ids = self._beads("force_calibrate", beads)
        if surface_z is None and (no_surface := [b for b in ids if b not in self._surface]):
            raise CommandError(
                "failed", f"force_calibrate: beads {no_surface} have no surface position "
                "(surface_find or surface_set first, or give surface_z)"
            )  # fmt: skip
        rows_needed = seconds * self._frame_rate() * len(self.tracking.beads.centres)
        if rows_needed > 0.9 * self.ctx.buffers["Tracks"].rows:
            raise CommandError(
                "invalid_argument", f"force_calibrate: {seconds:g} s of tracks do not fit in the "
                "Tracks buffer at this frame rate and bead count (calibrate fewer seconds)"
            )  # fmt: skip
        exposure_ms = await self.ctx.request(CAMERA_WORKER, "get_setting", name="exposure")
        options = {
            "exposure_s": float(exposure_ms) / 1000.0,
            "axis": axis,
            "method": method,
            "drag": drag,
            "bead_radius_nm": bead_radius_nm,
            "kt_pN_nm": fo.BOLTZMANN_PN_NM_PER_K * temperature_K,
            "viscosity_pN_s_per_nm2": viscosity,
        }
        surfaces = {b: self._surface[b] if surface_z is None else surface_z for b in ids}

        async def work() -> dict[str, Any]:
            since = time.time()
            await self._watch(seconds, f"recording the Brownian motion at {height:g} mm")
            if abs(self._check_magnets("force_calibrate") - height) > ON_TARGET:
                raise CommandError("failed", "force_calibrate: the magnets moved meanwhile")
            self._report(1.0, "fitting")
            rows = self._rows_since(since)
            results = await asyncio.to_thread(_calibrate_all, rows, ids, surfaces, options)
            for result in results:
                if result.get("force_pN") is not None and np.isfinite(result["force_error_pN"]):
                    point = (height, result["force_pN"], result["force_error_pN"])
                    self._points.setdefault(result["bead"], []).append(point)
            return {"height_mm": height, "axis": axis, "method": method, "beads": results}

        return self._begin("force_calibrate", work)

    async def _cmd_points(self) -> dict[str, Any]:
        return {
            "points": {
                str(b): [{"height_mm": h, "force_pN": f, "force_error_pN": e} for h, f, e in p]
                for b, p in sorted(self._points.items())
            }
        }

    async def _cmd_points_clear(self) -> dict[str, Any]:
        count = sum(len(p) for p in self._points.values())
        self._points.clear()
        return {"removed": count}

    async def _cmd_curve_fit(self, terms: int = 2) -> dict[str, Any]:
        if not self._points:
            raise CommandError("failed", "force_curve_fit: no calibration points (force_calibrate)")
        curves: dict[int | None, ForceCurve] = {}
        problems: dict[str, str] = {}
        groups: dict[int | None, list] = dict(self._points)
        groups[None] = [p for points in self._points.values() for p in points]
        for bead, points in groups.items():
            h, f, e = (np.array(v) for v in zip(*points, strict=True))
            try:
                curves[bead] = fit_force_curve(h, f, e, terms=terms)
            except (ValueError, np.linalg.LinAlgError) as exc:
                problems["pooled" if bead is None else str(bead)] = str(exc)
        if not curves:
            raise CommandError("failed", f"force_curve_fit: no curve could be fitted: {problems}")
        self._curves = curves
        self.ctx.event(f"force curve fitted for {len(curves)} bead(s) and pooled", source="force")
        return {**await self._cmd_curve(), "problems": problems}

    async def _cmd_curve(self) -> dict[str, Any]:
        if not self._curves:
            raise CommandError("failed", "no force curve (force_curve_fit or force_curve_load)")
        return {"curves": {("pooled" if b is None else str(b)): _curve_dict(c)
                           for b, c in self._curves.items()}}  # fmt: skip

    def _file(self, command: str, path: str | None) -> Path:
        if path is not None:
            return Path(path).expanduser()
        lut = last_lut(state_dir(self.ctx.instance))
        if lut is None:
            raise CommandError("invalid_argument", f"{command}: give a path (no Z-LUT file in use)")
        return lut

    async def _cmd_save(self, path: str | None = None) -> dict[str, Any]:
        if not self._curves:
            raise CommandError("failed", "force_curve_save: no force curve (force_curve_fit)")
        target = self._file("force_curve_save", path)
        try:
            written = save_force_curves(target, self._curves, self._surface)
        except OSError as exc:
            raise CommandError(
                "failed", f"force_curve_save: cannot write {target}: {exc}"
            ) from None
        remember_force_file(state_dir(self.ctx.instance), written)
        self.ctx.event(f"saved the force curve to {written}", source="force")
        return {"path": str(written)}

    async def _cmd_load(self, path: str | None = None) -> dict[str, Any]:
        source = self._file("force_curve_load", path)
        try:
            self._curves, surfaces = load_force_curves(source)
        except LUTFileError as exc:
            raise CommandError("invalid_argument", f"force_curve_load: {exc}") from None
        self._surface.update(surfaces)
        remember_force_file(state_dir(self.ctx.instance), source)
        return {"path": str(source), **await self._cmd_curve()}

    # -- moving to a force ----------------------------------------------------------------------
    def _curve(self, command: str, bead: int | None) -> ForceCurve:
        curve = self._curves.get(bead) if bead is not None else self._curves.get(None)
        if curve is None:
            which = f"bead {bead}" if bead is not None else "the beads (pooled)"
            raise CommandError(
                "failed", f"{command}: no force curve for {which} (force_curve_fit first)"
            )
        return curve

    async def _move_and_wait(self, motor: str, target: float) -> None:
        """Move ``motor`` (through the motor service: limits checked, ``motor`` event) and wait
        until its telemetry is on target."""
        await self.motors.move_to(motor, target)
        deadline = time.monotonic() + MOVE_TIMEOUT_S
        while True:
            state = self.motors.latest(motor)
            if state["position"] is not None and abs(state["position"] - target) <= ON_TARGET:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{motor} not at {target:g} after {MOVE_TIMEOUT_S:g} s")
            await asyncio.sleep(0.02)

    async def _cmd_set(self, pN: float, bead: int | None = None) -> dict[str, Any]:
        self._check_magnets("force_set")
        curve = self._curve("force_set", bead)
        try:
            height = float(curve.height_for(pN))
        except ValueError as exc:
            raise CommandError("invalid_argument", f"force_set: {exc}") from None
        await self.motors.move_to(MAGNET, height)
        return {"force_pN": pN, "height_mm": height}

    async def _cmd_ramp(
        self, from_pN: float, to_pN: float, rate_pN_per_s: float, bead: int | None = None
    ) -> dict[str, Any]:
        self._check_magnets("force_ramp")
        curve = self._curve("force_ramp", bead)
        try:
            times, heights, forces = curve.ramp(from_pN, to_pN, rate_pN_per_s, RAMP_STEP_S)
        except ValueError as exc:
            raise CommandError("invalid_argument", f"force_ramp: {exc}") from None

        async def work() -> dict[str, Any]:
            await self._move_and_wait(MAGNET, float(heights[0]))
            t0 = time.monotonic()
            for t, height, force in zip(times, heights, forces, strict=True):
                await asyncio.sleep(max(0.0, t0 + t - time.monotonic()))
                self._check_cancel()
                await self.motors.move_to(MAGNET, float(height))
                if times[-1] > 0:
                    self._report(t / times[-1], f"{force:.3g} pN")
            return {"force_pN": to_pN, "height_mm": float(heights[-1])}

        started = self._begin("force_ramp", work)
        return {**started, "duration_s": float(times[-1]), "steps": int(times.size)}

    # -- surface ----------------------------------------------------------------------------------
    async def _cmd_surface_find(
        self,
        seconds: float = 3.0,
        beads: list | None = None,
        height_mm: float | None = None,
        turns: float = 0.0,
    ) -> dict[str, Any]:
        home = self._check_magnets("surface_find")
        ids = self._beads("surface_find", beads)
        if height_mm is None:
            height_mm = self.motors.limits.get(MAGNET, (home, home))[1]
        if turns and ROTATION not in self.motors.specs:
            raise CommandError("invalid_argument", f"surface_find: no {ROTATION} motor for turns")

        async def work() -> dict[str, Any]:
            turned = self.motors.latest(ROTATION)["position"] if turns else None
            try:
                self._report(0.0, f"magnets to {height_mm:g} mm")
                await self._move_and_wait(MAGNET, height_mm)
                if turned is not None:
                    await self._move_and_wait(ROTATION, turned + turns)
                await asyncio.sleep(1.0)  # the beads sink
                since = time.time()
                await self._watch(seconds, "watching the beads on the surface")
                rows = self._rows_since(since)
            finally:
                if turned is not None:
                    await self._move_and_wait(ROTATION, turned)
                await self._move_and_wait(MAGNET, home)
            found = {}
            for bead in ids:
                z = rows[rows[:, traces._BEAD] == bead, traces._Z]
                value = traces.surface_position(z)
                if np.isfinite(value):
                    self._surface[bead] = found[bead] = value
            missing = sorted(set(ids) - set(found))
            return {"surfaces": {str(b): z for b, z in found.items()}, "missing": missing}

        return self._begin("surface_find", work)

    async def _cmd_surface_set(self, bead: int, z_nm: float) -> dict[str, Any]:
        (bead,) = self._beads("surface_set", [bead])
        self._surface[bead] = z_nm
        return {"bead": bead, "z_nm": z_nm}


def _calibrate_all(
    rows: np.ndarray, ids: list[int], surfaces: dict[int, float], options: dict[str, Any]
) -> list[dict[str, Any]]:
    """One result per bead: the calibration, or {bead, force_pN: None, flag: "failed: …"}."""
    results = []
    for bead in ids:
        try:
            trace = traces.bead_trace(rows, bead)
            result = traces.calibrate_bead(trace, surface_z_nm=surfaces[bead], **options)
            results.append({"bead": bead, **result})
        except ValueError as exc:
            results.append({"bead": bead, "force_pN": None, "flag": f"failed: {exc}"})
    return results


def _curve_dict(curve: ForceCurve) -> dict[str, Any]:
    return {
        "params": curve.params.tolist(),
        "height_range_mm": list(curve.height_range_mm),
        "force_range_pN": list(curve.force_range_pN),
        "heights_mm": curve.heights_mm.tolist(),
        "forces_pN": curve.forces_pN.tolist(),
        "force_errors_pN": curve.force_errors_pN.tolist(),
    }
