"""Z-LUT calibration in the daemon: the focus sweep, the quality report and LUT files.

The sweep is a supervised asyncio task of the manager, started on demand. It only orchestrates:
it moves the focus through the motor worker, waits until the focus telemetry is on target plus a
settle time, tells the tracking workers which step to capture (they write the profiles of frames
taken after that moment into the shared-memory :class:`ZLUTSweepDataset`), then builds one LUT per
bead from the dataset in a thread (so the event loop stays responsive), judges them
(:func:`~magscope_app.zlut.assess_luts`) and applies the usable ones. Whatever happens (success,
failure, ``zlut_cancel``), the focus position and the acquisition state are restored, the ROI
set is unfrozen and the dataset is destroyed: no shared memory is left behind.

The beads' own motion is watched, because a bead that moves while the focus is still spoils its
LUT whatever the thresholds say: before the sweep, from the newest tracks (a non-consuming peek of
the Tracks buffer), beads that moved more than the plane step get a warning (in the reply, the
status and the event log; the sweep still runs); during it, the lateral spread of each bead's
tracks within each plane goes into the quality report, whose plain-words hints name the beads
whose motion spoiled their LUT (in the status message when the sweep ends and in ``zlut_show``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..buffers import ZLUTSweepDataset
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ..paths import state_dir
from ..tracking import ZLUT
from ..workers.motor import worker_name
from ..zlut import (
    LUTFileError,
    QualityReport,
    assess_luts,
    build_luts,
    import_magscope_lut,
    last_lut,
    lateral_rms_by_bead,
    load_luts,
    recent_motion,
    remember_last,
    save_luts,
    sweep_motion_warning,
)
from .base import DaemonContext, Service
from .motors import MotorService
from .tracking import TrackingService

log = logging.getLogger(__name__)

FOCUS = "focus"
#: How close (nm) the focus telemetry must be to the plane's target to count as on target.
ON_TARGET_NM = 5.0
MOVE_TIMEOUT_S = 30.0
#: Extra capacity per bead and plane for frames captured while a step is being closed.
CAPTURE_MARGIN = 16
#: The beads' recent motion is judged over this many seconds of the newest tracks …
MOTION_WINDOW_S = 1.5
#: … if the newest track row is at most this old (s); else (camera paused) it is not judged.
MOTION_MAX_AGE_S = 2.0
#: At most this many per-bead hints go into the status message (all are in ``hints``).
MESSAGE_HINTS = 5
#: Most planes a sweep may have.
MAX_PLANES = 10_000
#: The camera hold (keeps acquisition running) and the ROI freeze a sweep takes.
SWEEP_HOLD = "zlut sweep"


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: focus positions (nm) of every plane, frames per plane, settle time."""

    planes_nm: tuple[float, ...]
    per_plane: int
    settle_s: float
    beads: tuple[int, ...]


def _user_path(command: str, path: str) -> Path:
    """``path`` with ``~`` expanded; CommandError("invalid_argument") for an unknown ``~user``."""
    try:
        return Path(path).expanduser()
    except RuntimeError as exc:
        raise CommandError("invalid_argument", f"{command}: {path!r}: {exc}") from None


class ZLUTService(Service):
    """Commands ``zlut_sweep``, ``zlut_status``, ``zlut_cancel``, ``zlut_show``, ``zlut_get``,
    ``zlut_save``, ``zlut_load``; status part ``zlut``."""

    name = "zlut"

    def __init__(self, ctx: DaemonContext, motors: MotorService, tracking: TrackingService) -> None:
        super().__init__(ctx)
        self.motors = motors
        self.tracking = tracking
        self._task: asyncio.Task | None = None
        self._progress: dict[str, Any] = {"state": "idle"}
        self._luts: dict[int, ZLUT] = {}
        self._report: QualityReport | None = None
        self._dataset: ZLUTSweepDataset | None = None

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        asyncio.get_running_loop().call_soon(self._load_remembered)

    def _load_remembered(self) -> None:
        """The daemon remembers the last LUT file it saved or loaded and loads it at start."""
        path = last_lut(state_dir(self.ctx.instance))
        if path is None:
            return

        async def load() -> None:
            try:
                await self._load(str(path), bead=None, one_for_all=None)
                self.ctx.event(f"loaded the last Z-LUT file {path}", source="zlut")
            except CommandError as exc:
                self.ctx.event(
                    f"last Z-LUT file {path} not loaded: {exc.message}",
                    level="warning", source="zlut",
                )  # fmt: skip

        asyncio.get_running_loop().create_task(load())

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {**self._progress, "luts": sorted(self._luts)}

    # -- commands ---------------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        table.add(
            "zlut_sweep",
            self._cmd_sweep,
            Param("start", "float", help="first focus position, nm"),
            Param("stop", "float", help="last focus position, nm"),
            Param("step", "float", help="focus step, nm (sign from start to stop)"),
            Param("per_plane", "int", minimum=1, maximum=10_000, help="profiles per bead"),
            Param(
                "settle_s",
                "float",
                required=False,
                default=0.1,
                minimum=0.0,
                maximum=60.0,
                help="wait after the focus is on target, s",
            ),
            help="record per-bead Z-LUTs by stepping the focus (runs in the background)",
        )
        table.add("zlut_status", self._cmd_status, help="progress of the Z-LUT sweep")
        table.add("zlut_cancel", self._cmd_cancel, help="cancel the running Z-LUT sweep")
        table.add("zlut_show", self._cmd_show, help="quality report of the Z-LUTs in use")
        table.add(
            "zlut_get",
            self._cmd_get,
            Param("bead", "int", minimum=0, help="bead id"),
            help="the Z-LUT a bead is tracked with: z_nm (planes, nm), profiles (planes × bins), "
            "radii_px (bins, px); default: true when it is the LUT shared by all beads",
        )
        table.add(
            "zlut_save",
            self._cmd_save,
            Param("path", "str", help="HDF5 file to write"),
            help="save the Z-LUTs of the last sweep (or last load) to a file",
        )
        table.add(
            "zlut_load",
            self._cmd_load,
            Param("path", "str", help="HDF5 LUT file, or MagScope text LUT (.txt/.csv)"),
            Param("bead", "int", required=False, minimum=0,
                  help="apply to this bead only (MagScope text LUTs; default: all beads)"),
            Param("one_for_all", "int", required=False, minimum=0,
                  help="apply this bead's LUT (from the file) to every bead"),
            help="load Z-LUTs from a file (checked against the tracking settings)",
        )  # fmt: skip

    async def _cmd_sweep(
        self, start: float, stop: float, step: float, per_plane: int, settle_s: float
    ) -> dict[str, Any]:
        if self._task is not None and not self._task.done():
            raise CommandError("failed", "a Z-LUT sweep is already running (zlut_cancel stops it)")
        plan = await self._validate(start, stop, step, per_plane, settle_s)
        warning = self._motion_warning(step)
        self._progress = {
            "state": "running", "plane": 0, "planes": len(plan.planes_nm),
            "profiles": 0, "eta_s": None, "message": None, "started": time.time(),
            "warnings": [warning] if warning else [], "hints": [],
        }  # fmt: skip
        self._task = asyncio.get_running_loop().create_task(self._run(plan))
        self.ctx.publish("zlut", self._event())
        self.ctx.event(
            f"Z-LUT sweep started: {len(plan.planes_nm)} planes from {start:g} to "
            f"{plan.planes_nm[-1]:g} nm, {per_plane} profiles per bead, {len(plan.beads)} beads",
            source="zlut",
        )
        if warning:
            self.ctx.event(f"Z-LUT sweep: {warning}", level="warning", source="zlut")
        return {
            "planes": len(plan.planes_nm),
            "beads": list(plan.beads),
            "warnings": self._progress["warnings"],
        }

    def _recent_tracks(self, seconds: float, since: float | None = None) -> np.ndarray:
        """A copy of the newest Tracks rows covering about ``seconds`` (non-consuming peek),
        only those with time >= ``since`` if given; an empty array without beads."""
        tracks = self.ctx.buffers.get("Tracks")
        beads = len(self.tracking.beads.centres) if self.tracking.beads is not None else 0
        if tracks is None or beads == 0:
            return np.empty((0, 0))
        frame_rate = float(self.ctx.config.camera.params.get("frame_rate", 100.0))
        frames = 2 * seconds * max(frame_rate, 1.0) + 64  # generous: the rate may differ
        rows = tracks.peek_last(min(int(frames) * beads, tracks.rows))
        return rows if since is None else rows[rows[:, 0] >= since]

    def _motion_warning(self, step: float) -> str | None:
        """The warning when beads moved more than the plane step over the newest tracks (None
        when none did, or when there are no recent tracks, e.g. the camera is paused)."""
        rows = self._recent_tracks(MOTION_WINDOW_S)
        if len(rows) == 0 or np.nanmax(rows[:, 0]) < time.time() - MOTION_MAX_AGE_S:
            return None
        return sweep_motion_warning(recent_motion(rows, MOTION_WINDOW_S), step, MOTION_WINDOW_S)

    async def _cmd_status(self) -> dict[str, Any]:
        return self.status()

    async def _cmd_cancel(self) -> dict[str, Any]:
        if self._task is None or self._task.done():
            raise CommandError("failed", "no Z-LUT sweep is running")
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.status()

    async def _cmd_show(self) -> dict[str, Any]:
        if self._report is None:
            raise CommandError("failed", "no Z-LUT quality report yet (run a sweep or load a file)")
        return {"report": self._report.to_dict(), "text": self._report.format_report()}

    async def _cmd_get(self, bead: int) -> dict[str, Any]:
        luts = self.tracking.luts
        lut = luts.get(bead, luts.get(None))
        if lut is None:
            have = sorted(b for b in luts if b is not None)
            raise CommandError("invalid_argument", f"zlut_get: bead {bead} has no Z-LUT "
                               f"(LUTs for beads {have})")  # fmt: skip
        return {
            "bead": bead,
            "default": bead not in luts,
            "z_nm": lut.z_nm.tolist(),
            "profiles": lut.profiles.tolist(),
            "radii_px": lut.settings.radii_px.tolist(),
        }

    async def _cmd_save(self, path: str) -> dict[str, Any]:
        if not self._luts:
            raise CommandError("failed", "no Z-LUTs to save (run a sweep or load a file first)")
        target = _user_path("zlut_save", path)
        try:
            save_luts(
                target,
                self._luts,
                roi_size=self.tracking.beads.size,
                pixel_size_nm=self.tracking.pixel_size_nm,
                report=self._report,
            )
        except (OSError, ValueError) as exc:
            raise CommandError("failed", f"zlut_save: cannot write {target}: {exc}") from None
        remember_last(state_dir(self.ctx.instance), target)
        self.ctx.event(f"saved {len(self._luts)} Z-LUT(s) to {target}", source="zlut")
        return {"path": str(target), "beads": sorted(self._luts)}

    async def _cmd_load(
        self, path: str, bead: int | None = None, one_for_all: int | None = None
    ) -> dict[str, Any]:
        result = await self._load(path, bead=bead, one_for_all=one_for_all)
        self.ctx.event(f"loaded Z-LUT(s) from {path}", source="zlut")
        return result

    async def _load(self, path: str, *, bead: int | None, one_for_all: int | None) -> dict:
        source = _user_path("zlut_load", path)
        settings = self.tracking.settings
        try:
            if source.suffix.lower() in (".txt", ".csv", ".dat"):
                lut = import_magscope_lut(source, settings)
                luts: dict[int | None, ZLUT] = {bead: lut}
                self._report = None
            else:
                file = load_luts(
                    source,
                    expected_settings=settings,
                    roi_size=self.tracking.beads.size,
                    pixel_size_nm=self.tracking.pixel_size_nm,
                )
                if one_for_all is None:
                    luts = dict(file.luts)
                else:
                    luts = {None: file.as_zlut_set(one_for_all).default}
                self._report = file.report
        except (LUTFileError, OSError, ValueError, KeyError) as exc:
            raise CommandError("invalid_argument", f"zlut_load: {exc}") from None
        await self.tracking.apply_luts(luts, replace=True)
        self._luts = {b: lut for b, lut in luts.items() if b is not None}
        if source.suffix.lower() not in (".txt", ".csv", ".dat"):
            remember_last(state_dir(self.ctx.instance), source)
        return {"path": str(source), "beads": sorted(b for b in luts if b is not None),
                "default": None in luts}  # fmt: skip

    # -- the sweep --------------------------------------------------------------------------------
    async def _validate(
        self, start: float, stop: float, step: float, per_plane: int, settle_s: float
    ) -> SweepPlan:
        def refuse(text: str) -> CommandError:
            return CommandError("invalid_argument", f"zlut_sweep: {text}")

        if FOCUS not in self.motors.specs:
            raise refuse("no focus stage is configured ([motors.focus] in the config)")
        if not self.tracking.workers:
            raise refuse("no tracking workers ([tracking] workers = 0)")
        if step == 0:
            raise refuse("step must not be 0")
        if stop != start and math.copysign(1.0, stop - start) != math.copysign(1.0, step):
            raise refuse(f"step {step:g} nm points away from stop ({start:g} -> {stop:g} nm)")
        span = (stop - start) / step
        if not math.isfinite(span) or span >= MAX_PLANES:
            raise refuse(f"the range gives more than {MAX_PLANES} planes")
        n_planes = math.floor(span + 1e-9) + 1
        if n_planes < 3:
            raise refuse(f"the range gives {n_planes} plane(s); at least 3 are needed")
        planes = tuple(start + i * step for i in range(n_planes))
        described = await self.ctx.request(worker_name(FOCUS), "describe")
        limits = {s["name"]: s["value"] for s in described["settings"]}
        lower, upper = limits["lower_limit"], limits["upper_limit"]
        if min(planes) < lower or max(planes) > upper:
            raise refuse(
                f"planes {min(planes):g}..{max(planes):g} nm leave the focus limits "
                f"[{lower:g}, {upper:g}] nm"
            )
        beads = tuple(b["id"] for b in self.tracking.beads.describe())
        if not beads:
            raise refuse("no beads: add beads before recording Z-LUTs")
        return SweepPlan(planes, per_plane, settle_s, beads)

    async def _run(self, plan: SweepPlan) -> None:
        ctx = self.ctx
        home = self.motors.latest(FOCUS)["position"]
        n_beads = len(plan.beads)
        margin = CAPTURE_MARGIN + ctx.config.daemon.images_per_stack * len(self.tracking.workers)
        self._dataset = ZLUTSweepDataset.create(
            locks=ctx.locks,
            capacity=len(plan.planes_nm) * n_beads * (plan.per_plane + margin),
            profile_length=self.tracking.settings.n_bins,
            n_steps=len(plan.planes_nm),
            n_beads=n_beads,
            profiles_per_bead=plan.per_plane,
            instance=ctx.instance,
        )
        self.tracking.freeze(SWEEP_HOLD, self.name)
        self.tracking.camera.hold(SWEEP_HOLD, self.name, keep="running")
        try:
            await self.tracking.sweep_request("sweep_attach")
            self._dataset.set_state(ZLUTSweepDataset.STATE_CAPTURING)
            t0 = time.monotonic()
            lateral: dict[int, list[float]] = {}  # bead -> lateral rms within each plane, nm
            for index, z in enumerate(plan.planes_nm):
                self._progress.update(plane=index + 1)
                motor_z = await self._focus_to(z, plan.settle_s)
                since, until = await self._capture(index, motor_z, plan, n_beads)
                rows = self._recent_tracks(until - since, since)
                for bead, rms in lateral_rms_by_bead(rows, since, until).items():
                    lateral.setdefault(bead, []).append(rms)
                done = index + 1
                elapsed = time.monotonic() - t0
                self._progress.update(eta_s=elapsed / done * (len(plan.planes_nm) - done))
                ctx.publish("zlut", self._event())
            await self.tracking.sweep_request("sweep_step", step=None, motor_z=0.0, since=0.0)
            self._dataset.set_state(ZLUTSweepDataset.STATE_COMPLETE)
            data = self._dataset.peek()
            medians = {b: float(np.median(v)) for b, v in lateral.items()}
            luts, report = await asyncio.to_thread(self._build, data, medians)
            usable = report.select(luts)
            hints = list(report.hints.values())
            self._progress.update(hints=hints)
            summary = _summary(report, n_beads)
            if not usable:
                raise RuntimeError(f"no bead gave a usable Z-LUT: {summary}")
            await self.tracking.apply_luts(dict(usable), replace=True)
            self._luts, self._report = dict(luts), report
            outcome = {"state": "complete", "message": summary}
        except asyncio.CancelledError:
            outcome = {"state": "cancelled", "message": "cancelled"}
        except Exception as exc:
            if self._dataset is not None:
                self._dataset.set_state(ZLUTSweepDataset.STATE_FAILED)
            outcome = {"state": "failed", "message": f"{type(exc).__name__}: {exc}"}
        finally:
            await self._restore(home)
        # Reported only now, so "complete" means the focus and acquisition are restored too.
        self._progress.update(outcome, eta_s=0.0)
        ctx.publish("zlut", self._event())
        level = {"complete": "info", "cancelled": "warning"}.get(outcome["state"], "error")
        ctx.event(f"Z-LUT sweep {outcome['state']}: {outcome['message']}", level=level,
                  source="zlut")  # fmt: skip

    def _event(self) -> dict[str, Any]:
        """The ``zlut`` event payload: the sweep's progress."""
        keys = ("state", "plane", "planes", "profiles", "eta_s", "message")
        return {k: self._progress.get(k) for k in keys}

    def _build(
        self, data: dict[str, np.ndarray], lateral_motion: dict[int, float]
    ) -> tuple[dict[int, ZLUT], QualityReport]:
        built = build_luts(data, self.tracking.settings)
        return dict(built), assess_luts(built, lateral_motion=lateral_motion)

    async def _focus_to(self, z: float, settle_s: float) -> float:
        """Move the focus to ``z`` nm, wait until its telemetry is on target and not moving, then
        ``settle_s``; returns the focus position (nm) reported after settling."""
        await self.ctx.request(worker_name(FOCUS), "move", position=z)
        deadline = time.monotonic() + MOVE_TIMEOUT_S
        while True:
            state = self.motors.latest(FOCUS)
            if (
                state["position"] is not None
                and not state["moving"]
                and abs(state["position"] - z) <= ON_TARGET_NM
                and state["time"] > time.time() - 1.0
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"focus not on target {z:g} nm after {MOVE_TIMEOUT_S:g} s")
            await asyncio.sleep(0.02)
        await asyncio.sleep(settle_s)
        return float(self.motors.latest(FOCUS)["position"])

    async def _capture(
        self, index: int, motor_z: float, plan: SweepPlan, n_beads: int
    ) -> tuple[float, float]:
        """Capture ``per_plane`` profiles per bead from frames taken from now on; returns the
        time window (s since the epoch) of the frames captured."""
        assert self._dataset is not None
        target = self._dataset.get_count() + plan.per_plane * n_beads
        since = time.time()
        await self.tracking.sweep_request(
            "sweep_step", step=index, motor_z=motor_z, since=since, beads=list(plan.beads)
        )
        frame_period = 1.0 / max(float(self.ctx.config.camera.params.get("frame_rate", 100.0)), 1)
        deadline = time.monotonic() + 10.0 + 5 * plan.per_plane * frame_period
        while (count := self._dataset.get_count()) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"plane {index + 1}: only {count - target + plan.per_plane * n_beads} of "
                    f"{plan.per_plane * n_beads} profiles captured (is the camera running?)"
                )
            await asyncio.sleep(0.02)
        until = time.time()
        await self.tracking.sweep_request("sweep_step", step=None, motor_z=0.0, since=0.0)
        self._progress.update(profiles=self._dataset.get_count())
        return since, until

    async def _restore(self, home: float | None) -> None:
        """Put everything back as it was before the sweep; never raises."""
        steps = [
            ("detach the tracking workers", self.tracking.sweep_request("sweep_detach")),
        ]
        if home is not None:
            steps.append(("restore the focus", self._focus_to(home, 0.0)))
        for what, step in steps:
            try:
                await step
            except Exception as exc:
                log.error("Z-LUT sweep: could not %s: %s", what, exc)
        self.tracking.camera.release(SWEEP_HOLD)
        self.tracking.unfreeze(SWEEP_HOLD)
        if self._dataset is not None:
            self._dataset.destroy()
            self._dataset = None


def _summary(report: QualityReport, n_beads: int) -> str:
    """The sweep's outcome in a few lines: how many beads are usable, which were rejected, and
    the plain-words hints (at most :data:`MESSAGE_HINTS`; ``zlut_show`` has everything)."""
    rejected = sorted(report.rejected)
    text = f"{len(report.usable)} of {n_beads} beads usable"
    if rejected:
        text += f"; rejected: beads {', '.join(map(str, rejected))} (zlut show gives the reasons)"
    hints = list(report.hints.values())
    lines = [text, *hints[:MESSAGE_HINTS]]
    if len(hints) > MESSAGE_HINTS:
        lines.append(f"... and {len(hints) - MESSAGE_HINTS} more beads like these (zlut show)")
    return "\n".join(lines)
