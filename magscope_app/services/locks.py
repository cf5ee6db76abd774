"""Reference beads, live drift, the XY-lock and the Z-lock.

Every :data:`TICK_S` (a timer of the event loop) the service peeks the newest rows of the
``Tracks`` buffer (non-consuming, like ``classify_beads``) and:

* **drift**: the robust mean motion of the reference beads (:func:`analysis.drift.reference_drift`
  over the last :data:`WINDOW_FRAMES` frames; a bead far from the consensus is rejected and
  reported), written per frame to the ``Drift`` MatrixBuffer (:data:`DRIFT_COLUMNS`) that clients
  subtract (``scope.tracks.latest(corrected=True)``) and the recorder stores as ``/drift``. Each
  reference bead's zero is its position when it joined, less the drift then, so the drift stays
  continuous when the reference set changes. Frames are written once, :data:`LAG_FRAMES` behind
  the newest, so the rows of slower tracking workers are in.
* **XY-lock** (``xylock {on}``): every bead's ROI follows the bead (the median of its last
  clean positions) when it is more than ``threshold_px`` off centre, at most once per
  :data:`XY_MIN_INTERVAL_S` per bead. The bead keeps its kind, reference flag and history.
  With an XY stage configured (motors ``stage_x`` and ``stage_y``, µm, +1 µm moving every bead
  +1 µm in the image) the stage holds the sample where it was at lock-on and the ROIs stay:
  proportional control on the reference beads' mean lateral drift, measured on frames taken
  after the stage settled, with a deadband (:data:`STAGE_DEADBAND_NM`), a maximum step
  (:data:`STAGE_MAX_STEP_UM`) and the stage's soft limits (reached: the lock lets go and says
  why).
* **Z-lock** (``zlock {on, target_nm?, kp?, ki?, …}``): PI control (:mod:`._pid`) of the focus
  stage on the reference beads' mean z, with a deadband, a maximum step, a maximum excursion
  (the lock lets go and says why) and a settle gate: after each focus move, only frames taken
  after the stage reported it had settled are measured.

Both locks pause while the bead ROIs are frozen (a Z-LUT sweep moves the focus). Status under
``locks``; events on the topic ``locks``; reference changes also go to the log (and so into a
recording's ``/log``) as ``drift references {json}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import warnings
from typing import Any

import numpy as np

from ..analysis.drift import reference_drift
from ..buffers import MatrixBuffer
from ..buffers.layouts import DRIFT_COLUMNS, TRACK_COLUMNS, TrackFlags
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ._pid import ZController, ZLockParams, recentre_moves, stage_step
from .base import DaemonContext, Service
from .motors import MotorService
from .tracking import TrackingService

log = logging.getLogger(__name__)

#: Period of the lock loop (s): 20 updates per second.
TICK_S = 0.05
#: Rows of the Drift buffer (~22 min at 50 frames/s).
DRIFT_ROWS = 1 << 16
#: Frames the drift is estimated over (outliers judged on this window).
WINDOW_FRAMES = 50
#: Frames behind the newest before a frame's drift is written (slower workers' rows arrive).
LAG_FRAMES = 8
#: A bead's XY position: the median over this many newest clean frames.
XY_FRAMES = 10
#: Shortest time between two ROI moves of one bead (s).
XY_MIN_INTERVAL_S = 0.25
#: Longest wait for a focus move to settle before the Z-lock lets go (s).
SETTLE_TIMEOUT_S = 3.0
#: Longest time without a z (or, for the XY stage lock, an x, y) of the reference beads before
#: the lock lets go (s).
NO_Z_TIMEOUT_S = 5.0
#: How close (nm) the focus telemetry must be to its target to count as settled.
SETTLED_NM = 1.0
FOCUS = "focus"
#: The XY stage's axes (µm) and its lock: no move below this drift (nm), at most this far per
#: move (µm), each move from the mean of at least this many frames taken after it settled.
STAGE = ("stage_x", "stage_y")
STAGE_DEADBAND_NM = 20.0
STAGE_MAX_STEP_UM = 5.0
STAGE_MIN_FRAMES = 5
STAGE_SETTLED_UM = 1e-3

_C = {name: i for i, name in enumerate(TRACK_COLUMNS)}
_BAD_XY = int(TrackFlags.AT_EDGE | TrackFlags.FIT_FAILED)


class LockService(Service):
    """Owns the ``Drift`` buffer, the reference beads' drift and both locks."""

    name = "locks"

    def __init__(self, ctx: DaemonContext, motors: MotorService, tracking: TrackingService):
        super().__init__(ctx)
        self.motors = motors
        self.tracking = tracking
        self.drift: MatrixBuffer | None = None
        self._task: asyncio.Task | None = None
        self._problem: str | None = None  # last error of the loop (logged once)
        # drift
        self._origins: dict[int, np.ndarray] = {}  # reference bead -> (3,) zero position, nm
        self._correction = np.zeros(3)  # newest drift written (for new beads' zero)
        self._written_frame = -1
        self._newest: dict[str, Any] = {}
        #: (times, dz) of every frame of the last window, the newest too (the Z-lock's input)
        self._recent_z: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0))
        self._used: tuple[int, ...] = ()
        self._rejected: tuple[int, ...] = ()
        # xy-lock
        self.xy_on = False
        self.xy_threshold_px = 1.0
        self._xy_moved: dict[int, float] = {}
        self._xy_moves = 0
        #: (times, lateral drift (n, 2) nm) of every frame of the last window (the stage lock's
        #: input), the stage lock's last measured offset, its gate and state
        self._recent_xy: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty((0, 2)))
        self._xy_error: np.ndarray | None = None
        self._xy_hold: np.ndarray | None = None  # the drift (x, y nm) at lock-on: held there
        self._xy_gate = 0.0  # frames after this time (s since epoch) may be measured
        self._xy_settling = False
        self._xy_stage_moved_at = 0.0
        self._xy_measured_at = 0.0  # wall time of the last measurement (or lock-on)
        self._xy_reason: str | None = None
        # z-lock
        self.z_params = ZLockParams()
        self._z: ZController | None = None
        self._z_state = "off"  # off | acquiring | settling | locked | tracking | paused | unlocked
        self._z_reason: str | None = None
        self._z_error: float | None = None
        self._z_focus_target: float | None = None
        self._z_moved_at = 0.0  # wall time of the last focus command
        self._z_gate = 0.0  # frames after this time (s since epoch) may be measured
        self._z_measured_at = 0.0  # wall time of the last measurement (or lock-on, pause)
        self._z_corrections = 0
        self._z_updates = 0  # measurements the controller acted on
        self._z_locked = False  # the last measurement was within locked_nm of the target
        self._z_zero: float | None = None  # the references' mean z zero at lock-on, nm

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        ctx = self.ctx
        ctx.new_lock("Drift")
        self.drift = ctx.add_buffer(
            "Drift",
            MatrixBuffer(
                create=True,
                locks=ctx.locks,
                instance=ctx.instance,
                name="Drift",
                shape=(DRIFT_ROWS, len(DRIFT_COLUMNS)),
            ),
        )
        ctx.event_sinks.append(self._on_event)
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="locks")

    async def stop(self) -> None:
        if self._on_event in self.ctx.event_sinks:
            self.ctx.event_sinks.remove(self._on_event)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_event(self, topic: str, _time: float, payload: dict[str, Any]) -> None:
        """A new recording gets the reference beads in its /log at once; a bead removed or
        moved onto another bead loses its XY-lock timer (the tracking service's bead table drops
        its reference flag)."""
        if topic == "recording" and payload.get("state") == "started":
            self._log_references()
        if topic == "beads" and payload.get("change") == "cleared":
            self._xy_moved.clear()
        elif topic == "beads" and payload.get("change") in ("removed", "moved"):
            for bead in payload.get("ids", ()):
                self._xy_moved.pop(bead, None)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self._tick()
                self._problem = None
            except Exception as exc:  # the loop must go on; report each new problem once
                text = f"{type(exc).__name__}: {exc}"
                if text != self._problem:
                    log.exception("lock loop failed")
                    self._problem = text

    async def _tick(self) -> None:
        beads = self.tracking.beads
        tracks = self.ctx.buffers.get("Tracks")
        if beads is None or tracks is None or not beads.centres:
            return
        if not (beads.references or self.xy_on or self._z is not None):
            if self._used or self._rejected:
                self._set_used((), ())
            self._origins.clear()
            return  # idle: nothing to measure (the Drift buffer gets no rows)
        n = min(tracks.rows, len(beads.centres) * (WINDOW_FRAMES + LAG_FRAMES + 4))
        rows = tracks.peek_last(n)
        rows = rows[np.isfinite(rows[:, _C["time"]])]
        if not len(rows):
            return
        self._update_drift(rows, sorted(beads.references))
        frozen = bool(self.tracking.freezes)
        if self.xy_on and frozen and self.has_stage:  # paused: measure afresh afterwards
            self._xy_gate = self._xy_measured_at = time.time()
        elif self.xy_on and self.has_stage:
            await self._stage_step()
        elif self.xy_on and not frozen:
            self._follow(rows)
        await self._zlock_step(frozen)

    # -- drift ------------------------------------------------------------------------------------
    def _update_drift(self, rows: np.ndarray, refs: list[int]) -> None:
        assert self.drift is not None
        frames, first = np.unique(rows[:, _C["frame"]], return_index=True)
        times = rows[first, _C["time"]]
        if frames[-1] < self._written_frame:  # the camera restarted its frame counter
            self._written_frame = -1
        ready = frames <= frames[-1] - LAG_FRAMES
        new = ready & (frames > self._written_frame)
        if not refs:
            self._origins.clear()
            if self._used or self._rejected:
                self._set_used((), ())
            if new.any():
                self._write(times[new], frames[new], np.full((new.sum(), 3), np.nan), 0)
            return
        for bead in list(self._origins):
            if bead not in refs:
                del self._origins[bead]
        positions = _pivot(rows, frames, refs)  # (n_frames, n_refs, 3)
        origins = np.array([self._origin(b, positions[:, j]) for j, b in enumerate(refs)])
        positions[:, np.isnan(origins)] = np.nan  # an axis counts once its zero is known
        judged = [j for j in range(len(refs)) if np.isfinite(origins[j, :2]).all()]
        correction, used, rejected = _robust_drift(positions, origins, refs, judged)
        kept = [refs.index(b) for b in used]
        used_count = np.isfinite(positions[:, kept, 0]).sum(axis=1)
        self._recent_z = (times, correction[:, 2])
        self._recent_xy = (times, correction[:, :2])
        if (used, rejected) != (self._used, self._rejected):
            self._set_used(used, rejected)
        if new.any():
            self._write(times[new], frames[new], correction[new], used_count[new])
        if ready.any():
            last = np.flatnonzero(ready)[-1]
            finite = np.isfinite(correction[last])
            self._correction[finite] = correction[last][finite]

    def _origin(self, bead: int, positions: np.ndarray) -> np.ndarray:
        """Bead's zero position (3,) nm: set per axis, from its first ≥ 5 clean frames, as its
        position less the drift then (NaN until known)."""
        origin = self._origins.setdefault(bead, np.full(3, np.nan))
        missing = np.isnan(origin)
        if missing.any():
            enough = np.isfinite(positions).sum(axis=0) >= 5
            with np.errstate(invalid="ignore"):
                median = np.nanmedian(np.where(enough, positions, 0.0), axis=0)
            fill = missing & enough
            origin[fill] = median[fill] - self._correction[fill]
        return origin

    def _write(self, times: np.ndarray, frames: np.ndarray, correction: np.ndarray, used) -> None:
        assert self.drift is not None
        out = np.column_stack([times, frames, correction, np.broadcast_to(used, times.shape)])
        self.drift.write(out)
        self._written_frame = int(frames[-1])
        self._newest = {
            "frame": int(frames[-1]),
            "time": float(times[-1]),
            **dict(zip(("dx_nm", "dy_nm", "dz_nm"), _floats(correction[-1]), strict=True)),
            "n_used": int(out[-1, 5]),
        }

    def _set_used(self, used: tuple[int, ...], rejected: tuple[int, ...]) -> None:
        newly_rejected = sorted(set(rejected) - set(self._rejected))
        self._used, self._rejected = tuple(used), tuple(rejected)
        self.ctx.publish("locks", {"what": "drift", "used": list(used), "rejected": list(rejected)})
        if newly_rejected:
            self.ctx.event(
                f"reference beads {newly_rejected} rejected from the drift (far from the others)",
                level="warning",
                source=self.name,
            )
        self._log_references()

    def _log_references(self) -> None:
        beads = self.tracking.beads
        refs = sorted(beads.references) if beads is not None else []
        text = json.dumps(
            {"reference": refs, "used": list(self._used), "rejected": list(self._rejected)}
        )
        self.ctx.event(f"drift references {text}", source=self.name)

    # -- xy-lock ----------------------------------------------------------------------------------
    def _follow(self, rows: np.ndarray) -> None:
        beads = self.tracking.beads
        assert beads is not None
        clean = rows[(rows[:, _C["flags"]].astype(np.int64) & _BAD_XY) == 0]
        tracked: dict[int, tuple[float, float]] = {}
        for bead, since in beads.since.items():
            mine = clean[(clean[:, _C["bead"]] == bead) & (clean[:, _C["time"]] >= since)]
            if len(mine) >= 3:
                last = mine[-XY_FRAMES:]
                tracked[bead] = (
                    float(np.median(last[:, _C["x_px"]])),
                    float(np.median(last[:, _C["y_px"]])),
                )
        now = time.monotonic()
        moves = recentre_moves(
            beads.centres,
            tracked,
            self._xy_moved,
            now,
            threshold_px=self.xy_threshold_px,
            min_interval_s=XY_MIN_INTERVAL_S,
        )
        moved = []
        for bead, (x, y) in moves.items():
            try:
                beads.recentre(bead, x, y)
            except CommandError:  # the bead left the frame: its ROI stays at the edge
                continue
            self._xy_moved[bead] = now
            moved.append(bead)
        if moved:
            self._xy_moves += len(moved)
            self.ctx.publish(
                "beads", {"change": "followed", "ids": moved, "count": len(beads.centres)}
            )

    # -- xy-lock through the stage ----------------------------------------------------------------
    @property
    def has_stage(self) -> bool:
        """True when an XY stage (motors ``stage_x`` and ``stage_y``) is configured."""
        return all(axis in self.motors.specs for axis in STAGE)

    async def _stage_step(self) -> None:
        """One update of the stage lock: once the last move has settled, move the stage by minus
        the reference beads' mean lateral drift over the frames since, less their drift at
        lock-on (so the sample stays where it was then), within the deadband, maximum step and
        soft limits."""
        if self._xy_settling:
            states = [self.motors.latest(axis) for axis in STAGE]
            if not all(
                s["time"] is not None
                and s["time"] > self._xy_stage_moved_at
                and not s["moving"]
                and abs(s["position"] - s["target"]) <= STAGE_SETTLED_UM
                for s in states
            ):
                if time.time() - self._xy_stage_moved_at > SETTLE_TIMEOUT_S:
                    self._release_xy(f"the XY stage did not settle within {SETTLE_TIMEOUT_S:g} s")
                return
            self._xy_gate = max(s["time"] for s in states)
            self._xy_settling = False
        times, drift = self._recent_xy
        fresh = (times > self._xy_gate) & np.isfinite(drift).all(axis=1)
        if fresh.sum() < STAGE_MIN_FRAMES:
            if time.time() - self._xy_measured_at > NO_Z_TIMEOUT_S:
                self._release_xy(f"no lateral drift of the reference beads for "
                                 f"{NO_Z_TIMEOUT_S:g} s (none tracked)")  # fmt: skip
            return
        self._xy_measured_at = time.time()
        measured = drift[fresh].mean(axis=0)
        if self._xy_hold is None:  # the first measurement after lock-on: hold the sample there
            self._xy_hold = measured
        self._xy_error = measured - self._xy_hold
        step = stage_step(self._xy_error, STAGE_DEADBAND_NM, STAGE_MAX_STEP_UM)
        if step is None:
            return
        targets = []
        for axis, delta in zip(STAGE, step, strict=True):
            state = self.motors.latest(axis)
            if state["target"] is None:
                return  # no telemetry yet
            targets.append(state["target"] + float(delta))
        self._xy_stage_moved_at = time.time()
        try:
            for axis, target in zip(STAGE, targets, strict=True):
                await self.motors.move_to(axis, target)
        except CommandError as exc:
            self._release_xy(exc.message if exc.reason == "limit" else
                             f"the XY stage move failed: {exc.message}")  # fmt: skip
            return
        self._xy_settling = True
        self._xy_moves += 1

    def _release_xy(self, reason: str) -> None:
        self.xy_on, self._xy_reason = False, reason
        self.ctx.event(f"XY-lock let go: {reason}", level="warning", source=self.name)
        self.ctx.publish("locks", {"what": "xylock", **self._xy_status()})

    # -- z-lock -----------------------------------------------------------------------------------
    def _mean_z(self, since: float) -> tuple[float, float, int] | None:
        """Mean z (nm) of the reference beads over the frames taken after ``since`` (s since the
        epoch, up to the newest frame), the newest frame's time and the number of frames; None
        without reference z. It is the z drift plus the references' mean zero at lock-on, so a
        change of the reference set (the drift stays continuous) does not move the focus."""
        times, dz = self._recent_z
        fresh = (times > since) & np.isfinite(dz)
        if self._z_zero is None:
            zeros = [o[2] for o in self._origins.values() if math.isfinite(o[2])]
            self._z_zero = float(np.mean(zeros)) if zeros else None
        if not fresh.any() or self._z_zero is None:
            return None
        return float(np.mean(dz[fresh])) + self._z_zero, float(times[fresh].max()), fresh.sum()

    async def _zlock_step(self, frozen: bool) -> None:
        if self._z is None:
            return
        if frozen:
            self._z_state = "paused"
            self._z_gate = self._z_measured_at = time.time()
            return
        if self._z_state == "settling":
            state = self.motors.latest(FOCUS)
            settled = (
                state["time"] is not None
                and state["time"] > self._z_moved_at
                and not state["moving"]
                and abs(state["position"] - self._z_focus_target) <= SETTLED_NM
            )
            if not settled:
                if time.time() - self._z_moved_at > SETTLE_TIMEOUT_S:
                    self._unlock(f"the focus did not settle within {SETTLE_TIMEOUT_S:g} s")
                return
            self._z_gate = state["time"]
            self._z_state = "locked" if self._z_locked else "tracking"
        measured = self._mean_z(self._z_gate)
        if measured is None or measured[2] < self.z_params.min_frames:
            if time.time() - self._z_measured_at > NO_Z_TIMEOUT_S:
                self._unlock(f"no z of the reference beads for {NO_Z_TIMEOUT_S:g} s (no Z-LUT, "
                             "or out of its range)")  # fmt: skip
            return
        self._z_measured_at = time.time()
        mean_z, newest, _frames = measured
        if math.isnan(self._z.target_nm):  # lock-on without a target: hold where the beads are
            self._z.target_nm = mean_z
        decision = self._z.update(mean_z, time.time())
        self._z_updates += 1
        self._z_error = decision.error_nm
        self._z_gate = newest
        if decision.unlock:
            self._unlock(decision.unlock)
            return
        if decision.locked != self._z_locked:
            self._z_locked = decision.locked
            self.ctx.publish("locks", {"what": "zlock", **self._z_status()})
        self._z_state = "locked" if decision.locked else "tracking"
        if decision.move_nm:
            await self._move_focus(self._z_focus_target + decision.move_nm)

    async def _move_focus(self, target: float) -> None:
        self._z_moved_at = time.time()
        try:
            await self.motors.move_to(FOCUS, target)
        except CommandError as exc:
            limit = exc.reason == "limit"
            self._unlock(exc.message if limit else f"the focus move failed: {exc.message}")
            return
        self._z_focus_target = target
        self._z_corrections += 1
        self._z_state = "settling"

    def _unlock(self, reason: str) -> None:
        self._z, self._z_locked = None, False
        self._z_state, self._z_reason = "unlocked", reason
        self.ctx.event(f"Z-lock let go: {reason}", level="warning", source=self.name)
        self.ctx.publish("locks", {"what": "zlock", **self._z_status()})

    # -- commands ---------------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        table.add(
            "set_reference_beads",
            self._cmd_set_reference_beads,
            Param("ids", "list", help="bead ids ([] clears)"),
            help="use these beads as references (drift, Z-lock)",
        )
        table.add(
            "reference_beads",
            self._cmd_reference_beads,
            Param(
                "auto",
                "bool",
                required=False,
                default=False,
                help="first make the beads classified stuck the references",
            ),
            help="the reference beads, those the drift uses and rejects, and the "
            "suggested ones (classified stuck)",
        )
        nm = {"required": False, "unit": "nm"}
        table.add(
            "zlock",
            self._cmd_zlock,
            Param("on", "bool", help="lock or release the focus"),
            Param(
                "target_nm",
                "float",
                help="reference beads' mean z to hold (default: where they are)",
                **nm,
            ),
            Param(
                "kp", "float", required=False, minimum=0.0, maximum=2.0, help="proportional gain"
            ),
            Param(
                "ki",
                "float",
                required=False,
                minimum=0.0,
                maximum=100.0,
                unit="1/s",
                help="integral gain",
            ),
            Param("deadband_nm", "float", minimum=0.0, help="no correction below", **nm),
            Param("max_step_nm", "float", minimum=0.0, help="largest focus move", **nm),
            Param(
                "max_excursion_nm",
                "float",
                minimum=0.0,
                help="let go beyond this focus travel",
                **nm,
            ),
            help="closed-loop focus lock on the reference beads' z",
        )
        table.add(
            "xylock",
            self._cmd_xylock,
            Param("on", "bool", help="ROIs follow their beads"),
            Param(
                "threshold_px",
                "float",
                required=False,
                minimum=0.1,
                maximum=100.0,
                unit="px",
                help="re-centre beyond this offset (default 1)",
            ),
            help="keep every bead centred in its ROI: the ROIs follow, or with an XY stage "
            "(motors stage_x, stage_y) the stage holds the reference beads",
        )
        table.add("locks", self._cmd_locks, help="drift, XY-lock and Z-lock status")

    async def _cmd_set_reference_beads(self, ids: list) -> dict[str, Any]:
        beads = self.tracking.beads
        assert beads is not None
        chosen = beads._existing("set_reference_beads", ids) if ids else []
        beads.references = set(chosen)
        self._log_references()
        self.ctx.publish("locks", {"what": "references", "reference": sorted(chosen)})
        return await self._cmd_reference_beads()

    async def _cmd_reference_beads(self, auto: bool = False) -> dict[str, Any]:
        beads = self.tracking.beads
        assert beads is not None
        stuck = sorted(b for b, k in beads.kinds.items() if k == "stuck")
        if auto:
            if not stuck:
                raise CommandError(
                    "failed",
                    "reference_beads: no bead is classified stuck (run classify_beads first)",
                )
            return await self._cmd_set_reference_beads(stuck)
        return {
            "reference": sorted(beads.references),
            "suggested": stuck,
            "used": list(self._used),
            "rejected": list(self._rejected),
        }

    async def _cmd_zlock(self, on: bool, target_nm: float | None = None, **params: Any):
        if not on:
            self._z, self._z_locked = None, False
            self._z_state, self._z_reason = "off", None
            self.ctx.publish("locks", {"what": "zlock", **self._z_status()})
            return self._z_status()
        if FOCUS not in self.motors.specs:
            raise CommandError("failed", "zlock: no focus stage is configured ([motors.focus])")
        beads = self.tracking.beads
        if beads is None or not beads.references:
            raise CommandError("failed", "zlock: no reference beads (set_reference_beads)")
        changes = {k: v for k, v in params.items() if v is not None}
        new = ZLockParams(**{**self.z_params.__dict__, **changes})
        if problem := new.problem():
            raise CommandError("invalid_argument", f"zlock: {problem}")
        position = self.motors.latest(FOCUS)["position"]
        if position is None:
            raise CommandError("failed", "zlock: the focus stage has not reported its position")
        self.z_params = new
        target = math.nan if target_nm is None else float(target_nm)
        if self._z is None:
            self._z = ZController(target, new)
            self._z_focus_target = float(position)
            self._z_state, self._z_reason, self._z_error = "acquiring", None, None
            self._z_updates = self._z_corrections = 0
            self._z_zero = None
            self._z_gate = self._z_measured_at = time.time()
        else:  # already on: new target / gains, keep the integral and the excursion so far
            self._z.params = new
            if target_nm is not None:
                self._z.target_nm = target
        self.ctx.publish("locks", {"what": "zlock", **self._z_status()})
        return self._z_status()

    async def _cmd_xylock(self, on: bool, threshold_px: float | None = None) -> dict[str, Any]:
        beads = self.tracking.beads
        if on and self.has_stage and (beads is None or not beads.references):
            raise CommandError(
                "failed", "xylock: the XY stage holds the reference beads, and there are none "
                "(set_reference_beads)"
            )  # fmt: skip
        if on and not self.xy_on:
            self._xy_gate = self._xy_measured_at = time.time()
            self._xy_settling = False
            self._xy_error = self._xy_hold = None
        self.xy_on, self._xy_reason = on, None
        if threshold_px is not None:
            self.xy_threshold_px = threshold_px
        self.ctx.publish("locks", {"what": "xylock", **self._xy_status()})
        return self._xy_status()

    async def _cmd_locks(self) -> dict[str, Any]:
        return self.status()

    # -- status -----------------------------------------------------------------------------------
    def _z_status(self) -> dict[str, Any]:
        z = self._z
        return {
            "on": z is not None,
            "state": self._z_state,
            "locked": z is not None and self._z_locked,
            "target_nm": None if z is None or math.isnan(z.target_nm) else z.target_nm,
            "error_nm": self._z_error,
            "excursion_nm": None if z is None else z.offset_nm,
            "updates": self._z_updates,
            "corrections": self._z_corrections,
            "reason": self._z_reason,
            "params": dict(self.z_params.__dict__),
        }

    def _xy_status(self) -> dict[str, Any]:
        """``mode`` "stage" (the XY stage holds the references; ``moves`` counts stage moves,
        ``error_nm`` the last measured [x, y] offset) or "roi" (``moves`` counts ROI moves)."""
        error = None if self._xy_error is None else [round(float(v), 2) for v in self._xy_error]
        return {"on": self.xy_on, "mode": "stage" if self.has_stage else "roi",
                "threshold_px": self.xy_threshold_px, "moves": self._xy_moves,
                "error_nm": error, "reason": self._xy_reason}  # fmt: skip

    def status(self) -> dict[str, Any]:
        beads = self.tracking.beads
        return {
            "reference": sorted(beads.references) if beads is not None else [],
            "drift": {"used": list(self._used), "rejected": list(self._rejected), **self._newest},
            "zlock": self._z_status(),
            "xylock": self._xy_status(),
            "problem": self._problem,
        }


def _pivot(rows: np.ndarray, frames: np.ndarray, beads: list[int]) -> np.ndarray:
    """(n_frames, n_beads, 3) x, y, z nm of ``beads`` in ``frames`` (sorted); NaN where a bead
    has no clean row (z also NaN without a LUT)."""
    out = np.full((len(frames), len(beads), 3), np.nan)
    ids = rows[:, _C["bead"]].astype(np.int64)
    flags = rows[:, _C["flags"]].astype(np.int64)
    for j, bead in enumerate(beads):
        mine = rows[(ids == bead) & ((flags & _BAD_XY) == 0)]
        if len(mine):
            i = np.searchsorted(frames, mine[:, _C["frame"]])
            out[i, j] = mine[:, [_C["x_nm"], _C["y_nm"], _C["z_nm"]]]
    return out


def _robust_drift(
    positions: np.ndarray, origins: np.ndarray, refs: list[int], judged: list[int]
) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """Per-frame drift (n_frames, 3) and the reference beads used and rejected. Beads are judged
    on their lateral motion, then those with a known z zero on their z motion (z is often
    unknown: no LUT, out of its range); a bead rejected on either is left out of every axis.
    Beads not in ``judged`` (zero not known yet) are neither used nor rejected."""
    correction = np.full((positions.shape[0], 3), np.nan)
    ids = [refs[j] for j in judged]
    try:
        lateral = reference_drift(positions[:, judged, :2], ids, origin_nm=origins[judged, :2])
    except ValueError:  # none judged yet, or none tracked in the window
        return correction, (), tuple(ids)
    rejected = set(lateral.rejected)
    with_z = [j for j in judged if refs[j] not in rejected and np.isfinite(origins[j, 2])]
    try:
        axial = reference_drift(
            positions[:, with_z, 2], [refs[j] for j in with_z], origin_nm=origins[with_z, 2]
        )
        rejected |= set(axial.rejected)
    except ValueError:  # no reference z in the window: dz stays NaN
        with_z = []
    used = [j for j in judged if refs[j] not in rejected]
    motion = positions[:, used] - origins[used]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames give NaN
        correction[:, :2] = np.nanmean(motion[:, :, :2], axis=1)
        if with_z:
            correction[:, 2] = np.nanmean(motion[:, :, 2], axis=1)
    return correction, tuple(refs[j] for j in used), tuple(sorted(rejected))


def _floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]
