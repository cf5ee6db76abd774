"""Tracking worker: claims stacks from the VideoBuffer and writes one track row per bead per frame.

N of these run in parallel (``tracking:0`` …). Each blocks on the camera's ``stack_ready``
semaphore (released once per completed stack) with a short timeout, so it also answers its pipe
and never spins; then it claims stacks (:meth:`VideoBuffer.claim_stack`), one per turn of its
loop, until none is left, and computes with no lock held. For every frame of a stack it crops
every bead ROI of the BeadRoiBuffer (re-read only when its ``version`` changes), tracks them with
:func:`~magscope_app.tracking.track_xyz` and appends rows (:data:`TRACK_COLUMNS`) to the shared
``Tracks`` MatrixBuffer (one locked write per stack). Beads whose ROI touches or crosses the
frame edge are tracked on a ROI padded with the frame's median and flagged ``AT_EDGE``; failed
fits are flagged ``FIT_FAILED``; every bead gets a row in every frame.

Requests (``command`` and ``args`` of a :class:`~magscope_app.ipc.Request`, answered by a
:class:`~magscope_app.ipc.Reply` with a dict or an error text, or of a
:class:`~magscope_app.ipc.Notify`, not answered):

``configure``
    Any of: ``roi_size`` (int, px), ``pixel_size_nm`` (float), ``settings`` (dict of
    :class:`TrackingSettings` fields), ``profile_bead`` (int or None), ``zluts`` (dict bead id ->
    :class:`~magscope_app.tracking.ZLUT`: replaces every LUT; bead None is the default LUT for
    beads without their own). Sent (as a Notify) at every (re)start.
``set_zlut``  ``{bead: int | None, lut: ZLUT}``: add or replace one LUT.
``unload_zlut``  ``{bead: int | None | "all"}``: drop one LUT (``"all"``: every LUT).
``sweep_attach``  ``{name: str = "ZLUTSweepDataset"}``: attach to a Z-LUT sweep dataset (its
    lock must have been created by the manager before the workers started; the tracking service
    creates it). Nothing is captured until ``sweep_step``.
``sweep_step``  ``{step: int | None, motor_z: float, since: float, beads: list[int] | None}``:
    from now on write the profile of every frame with timestamp >= ``since`` (s since the epoch)
    of ``beads`` (None: every bead) to the dataset with step index ``step`` and motor z
    ``motor_z`` (valid flag = the fit succeeded and the bead is not at the edge), while the
    dataset is READY or CAPTURING. ``step`` None stops capturing (between steps).
``sweep_detach``  ``{}``: stop capturing and close the dataset handle.

Stats (every 0.5 s): ``stacks``, ``frames``, ``rows``, ``rois`` (totals of this process),
``rois_per_s``, ``latency_hist`` (counts per bin of :data:`LATENCY_EDGES_S`: time.time() when a
stack's rows were written minus each frame's timestamp, cumulative), ``sweep_rows``,
``sweep_errors``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..buffers import (
    BeadRoiBuffer,
    BufferOverflow,
    DatasetNotReadyError,
    LiveProfileBuffer,
    MatrixBuffer,
    VideoBuffer,
    ZLUTSweepDataset,
)
from ..buffers.layouts import TRACK_COLUMNS, TrackFlags
from ..ipc import Shutdown, Stats
from ..tracking import ZLUT, TrackingSettings, ZLUTSet, track_xyz
from ._crop import RoiCropper
from ._requests import RequestHandlers
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

STATS_INTERVAL_S = 0.5
#: How long a worker waits on ``stack_ready`` before it looks at its pipe again (s).
WAIT_S = 0.2
#: Bin edges (s) of the latency histogram: 0.1 ms … 100 s, ~12 % wide; one more bin above.
LATENCY_EDGES_S = np.geomspace(1e-4, 100.0, 121)

_N_COLUMNS = len(TRACK_COLUMNS)


class _Sweep:
    """The worker's view of an armed Z-LUT sweep (see the module docstring)."""

    def __init__(self, dataset: ZLUTSweepDataset) -> None:
        self.dataset = dataset
        self.step: int | None = None
        self.motor_z = float("nan")
        self.since = 0.0
        self.beads: np.ndarray | None = None
        self.rows = 0
        self.errors = 0

    def capture(
        self,
        timestamp: float,
        ids: np.ndarray,
        profiles: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Write the profiles (n, n_bins) of one frame if a step is armed and due."""
        if self.step is None or timestamp < self.since:
            return
        keep = np.ones(len(ids), bool) if self.beads is None else np.isin(ids, self.beads)
        if not keep.any():
            return
        k = int(keep.sum())
        try:
            self.dataset.write(
                bead_ids=ids[keep],
                step_indices=np.full(k, self.step, dtype=np.int64),
                timestamps=np.full(k, timestamp),
                motor_z_values=np.full(k, self.motor_z),
                valid_flags=valid[keep],
                profiles=profiles[keep],
            )
            self.rows += k
        except (BufferOverflow, DatasetNotReadyError, ValueError) as exc:
            self.errors += 1
            if self.errors == 1 or self.errors % 100 == 0:
                log.warning("Z-LUT sweep capture failed (%d times): %s", self.errors, exc)
            self.step = None  # stop until the sweep engine arms the next step

    def close(self) -> None:
        self.dataset.close()


class TrackingJob:
    """State of one tracking worker (buffers, ROI cache, LUTs, counters)."""

    def __init__(self, ctx: WorkerContext, instance: str, locks: dict[str, Any]) -> None:
        self.ctx = ctx
        self.instance = instance
        self.locks = locks
        self.video = VideoBuffer(create=False, locks=locks, instance=instance)
        self.tracks = MatrixBuffer(create=False, locks=locks, instance=instance, name="Tracks")
        self.rois = BeadRoiBuffer(create=False, locks=locks, instance=instance)
        self.profile = LiveProfileBuffer(create=False, locks=locks, instance=instance)
        self.settings = TrackingSettings()
        self.pixel_size_nm = 100.0
        self.profile_bead: int | None = None
        self.luts: dict[int | None, ZLUT] = {}
        self.lut_set: ZLUTSet | None = None
        self.cropper = RoiCropper(self.video.height, self.video.width, 64)
        self.roi_version = -1
        self.sweep: _Sweep | None = None
        self.counts = {"stacks": 0, "frames": 0, "rows": 0, "rois": 0}
        self.latency_hist = np.zeros(len(LATENCY_EDGES_S) + 1, dtype=np.int64)
        self.requests = RequestHandlers(
            ctx.name,
            {
                "configure": self._on_configure,
                "set_zlut": self._on_set_zlut,
                "unload_zlut": self._on_unload_zlut,
                "sweep_attach": self._on_sweep_attach,
                "sweep_step": self._on_sweep_step,
                "sweep_detach": self._on_sweep_detach,
            },
        )

    def close(self) -> None:
        if self.sweep is not None:
            self.sweep.close()
        for buffer in (self.video, self.tracks, self.rois, self.profile):
            buffer.close()

    # -- requests -------------------------------------------------------------------------------
    def _on_configure(
        self,
        roi_size: int | None = None,
        pixel_size_nm: float | None = None,
        settings: dict[str, Any] | None = None,
        profile_bead: int | str | None = "keep",
        zluts: dict[int | None, ZLUT] | None = None,
    ) -> dict[str, Any]:
        new_settings = TrackingSettings(**settings) if settings is not None else self.settings
        luts = self.luts if zluts is None else dict(zluts)
        self._check_luts(luts, new_settings)
        self.settings = new_settings
        self._set_luts(luts)
        if roi_size is not None:
            self.cropper = RoiCropper(self.video.height, self.video.width, int(roi_size))
            self.roi_version = -1
        if pixel_size_nm is not None:
            self.pixel_size_nm = float(pixel_size_nm)
        if profile_bead != "keep":
            self.profile_bead = None if profile_bead is None else int(profile_bead)
        return {"luts": len(self.luts)}

    @staticmethod
    def _check_luts(luts: dict[int | None, ZLUT], settings: TrackingSettings) -> None:
        for lut in luts.values():
            if not isinstance(lut, ZLUT) or not lut.settings.same_profiles(settings):
                raise ValueError("a Z-LUT was made with other profile settings")

    def _set_luts(self, luts: dict[int | None, ZLUT]) -> None:
        self._check_luts(luts, self.settings)
        per_bead = {b: lut for b, lut in luts.items() if b is not None}
        self.lut_set = ZLUTSet(per_bead, luts.get(None)) if luts else None
        self.luts = luts
        for lut in self.lut_set.all() if self.lut_set is not None else ():
            lut.lookup(lut.profiles[:1])  # compile/load the z kernels now, not mid-stream

    def _on_set_zlut(self, bead: int | None, lut: ZLUT) -> dict[str, Any]:
        self._set_luts({**self.luts, bead: lut})
        return {"luts": len(self.luts)}

    def _on_unload_zlut(self, bead: int | str | None = "all") -> dict[str, Any]:
        luts = {} if bead == "all" else {b: v for b, v in self.luts.items() if b != bead}
        self._set_luts(luts)
        return {"luts": len(self.luts)}

    def _on_sweep_attach(self, name: str = ZLUTSweepDataset.NAME) -> dict[str, Any]:
        self._on_sweep_detach()
        dataset = ZLUTSweepDataset.attach(locks=self.locks, name=name, instance=self.instance)
        if dataset.profile_length != self.settings.n_bins:
            n = dataset.profile_length
            dataset.close()
            raise ValueError(
                f"the sweep holds profiles of {n} bins; the tracking settings give "
                f"{self.settings.n_bins}"
            )
        self.sweep = _Sweep(dataset)
        return {"attached": name}

    def _on_sweep_step(
        self,
        step: int | None,
        motor_z: float = float("nan"),
        since: float = 0.0,
        beads: list[int] | None = None,
    ) -> dict[str, Any]:
        if self.sweep is None:
            raise ValueError("no Z-LUT sweep attached (send sweep_attach first)")
        sweep = self.sweep
        sweep.step = None if step is None else int(step)
        sweep.motor_z, sweep.since = float(motor_z), float(since)
        sweep.beads = None if beads is None else np.asarray(beads, dtype=np.int64)
        return {"rows": sweep.rows}

    def _on_sweep_detach(self) -> dict[str, Any]:
        rows = 0
        if self.sweep is not None:
            rows = self.sweep.rows
            self.sweep.close()
            self.sweep = None
        return {"rows": rows}

    # -- tracking -------------------------------------------------------------------------------
    def track_next(self) -> bool:
        """Claim and track the oldest unclaimed stack; False if there was none."""
        claim = self.video.claim_stack()
        if claim is None:
            return False
        try:
            self.track_stack(claim.frames, claim.timestamps, claim.frame_numbers)
        finally:
            self.video.release_stack(claim)
        return True

    def track_stack(self, frames: np.ndarray, timestamps: np.ndarray, numbers: np.ndarray) -> None:
        """Track every bead in every frame of a stack ``(n_images, h, w)``; write the rows."""
        if self.rois.version != self.roi_version:
            self.roi_version = self.rois.version  # read before the ROIs: a change re-reads
            self.cropper.set_rois(*self.rois.get_beads())
        ids, n = self.cropper.ids, len(self.cropper.ids)
        self.counts["stacks"] += 1
        self.counts["frames"] += len(frames)
        if n == 0:
            return
        rows = np.empty((len(frames) * n, _N_COLUMNS))
        result = None
        # Every fit starts from its frame's own symmetry guess (no warm start from the previous
        # frame): a bead's track does not depend on which worker took which stack, a track never
        # stays caught on a ring, and re-tracking a recording reproduces it.
        for k, frame in enumerate(frames):
            crops = self.cropper.crop(frame)
            result = track_xyz(crops, self.lut_set, bead_ids=ids, settings=self.settings)
            x = result.x + self.cropper.origin_x
            y = result.y + self.cropper.origin_y
            flags = result.flags | self.cropper.edge_flags
            block = rows[k * n : (k + 1) * n]
            block[:, 0] = timestamps[k]
            block[:, 1] = numbers[k]
            block[:, 2] = ids
            block[:, 3] = x * self.pixel_size_nm
            block[:, 4] = y * self.pixel_size_nm
            block[:, 5] = result.z
            block[:, 6] = x
            block[:, 7] = y
            block[:, 8] = flags
            if self.sweep is not None:
                valid = (flags & int(TrackFlags.FIT_FAILED | TrackFlags.AT_EDGE)) == 0
                self.sweep.capture(float(timestamps[k]), ids, result.profiles, valid)
        self.tracks.write(rows)
        now = time.time()
        self.latency_hist += np.bincount(
            np.searchsorted(LATENCY_EDGES_S, now - timestamps), minlength=len(self.latency_hist)
        )
        self.counts["rows"] += len(rows)
        self.counts["rois"] += len(rows)
        if self.profile_bead is not None and result is not None:
            hit = np.flatnonzero(ids == self.profile_bead)
            if len(hit):
                profile = result.profiles[hit[0]]
                if len(profile) <= self.profile.profile_capacity:
                    self.profile.write_profile(float(timestamps[-1]), self.profile_bead, profile)

    def warm_up(self) -> None:
        """Compile/load the tracking and Z-LUT kernels before the first real stack (so that the
        first ``configure`` with LUTs is quick too)."""
        size = self.cropper.size
        r = np.hypot(*(np.mgrid[:size, :size] - (size - 1) / 2))
        rings = [1000.0 + 300.0 * np.cos(r / p) * np.exp(-r / 8) for p in (1.4, 1.5, 1.6)]
        for dtype in (self.video.dtype, np.float32):  # plain crops, padded crops
            result = track_xyz(np.stack(rings).astype(dtype), settings=self.settings)
        try:
            lut = ZLUT(np.array([0.0, 100.0, 200.0]), result.profiles, self.settings)
            lut.lookup(result.profiles[:1])
        except ValueError as exc:  # e.g. a profile without coverage: compiled at first use
            log.info("Z-LUT kernels not warmed up: %s", exc)

    def stats(self, rate: float) -> Stats:
        values: dict[str, Any] = dict(self.counts)
        values["rois_per_s"] = rate
        values["latency_hist"] = self.latency_hist.tolist()
        values["sweep_rows"] = self.sweep.rows if self.sweep is not None else 0
        values["sweep_errors"] = self.sweep.errors if self.sweep is not None else 0
        return Stats(self.ctx.name, values)


def run(ctx: WorkerContext, *, instance: str, locks: dict[str, Any], stack_ready: Any) -> None:
    """Worker job; returns on :class:`Shutdown` or when the manager goes away."""
    job = TrackingJob(ctx, instance, locks)
    try:
        _loop(ctx, job, stack_ready)
    finally:
        job.close()


def _loop(ctx: WorkerContext, job: TrackingJob, stack_ready: Any) -> None:
    # The manager's configure request is already in the pipe (sent at spawn): apply it first.
    while (message := ctx.receive(timeout=0)) is not None:
        if isinstance(message, Shutdown):
            return
        job.requests.serve(ctx, message)
    job.warm_up()
    ctx.ready(pid_claims=True)
    last_report, last_rois = time.monotonic(), 0
    ctx.send(job.stats(0.0))
    busy = False  # the last claim got a stack: more may wait (a semaphore token may be spent)
    while True:
        while (message := ctx.receive(timeout=0)) is not None:
            if isinstance(message, Shutdown):
                return
            job.requests.serve(ctx, message)
        # One stack per turn, so requests and stats are served even when the worker is behind.
        if busy or stack_ready.acquire(timeout=WAIT_S):
            busy = job.track_next()
        now = time.monotonic()
        if now - last_report >= STATS_INTERVAL_S:
            rate = (job.counts["rois"] - last_rois) / (now - last_report)
            last_report, last_rois = now, job.counts["rois"]
            ctx.send(job.stats(rate))
