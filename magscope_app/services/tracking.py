"""Live tracking: the Tracks, BeadRoiBuffer and LiveProfileBuffer, N tracking workers, the bead,
Z-LUT and settings commands, and tracking status.

The service holds the authoritative tracking state (bead centres, ROI size, pixel size,
settings, Z-LUTs, profile bead) and sends all of it to a worker each time one (re)starts
(``configure``); changes are validated here first and then sent to every running worker, so a
bad command changes nothing. See :mod:`magscope_app.workers.tracking` for the worker messages.

No frame is dropped silently: when a tracking worker dies, the stacks it had claimed are
released at once (the worker's exit is watched with a pidfd on the event loop) and counted as
``frames_lost`` in status. At daemon start acquisition is held (the camera's
``"tracking start-up"`` hold) until every tracking worker is ready (at most
:data:`HOLD_TIMEOUT_S`), so start-up does not overflow the ring.

The bead ROI set can be frozen by other parts under a name (:meth:`TrackingService.freeze`, e.g.
``"zlut sweep"`` while a sweep records); while any freeze is held, commands that change the ROIs
are refused with the freezes named, and ``status`` shows them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np

from ..buffers import BeadRoiBuffer, LiveProfileBuffer, MatrixBuffer, ZLUTSweepDataset
from ..buffers.layouts import TRACK_COLUMNS
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ..ipc import Notify, Ready, Stats, WorkerMessage, WorkerState
from ..tracking import PROFILE_FIELDS, ZLUT, TrackingSettings
from ..tracking_config import roi_size_problem, settings_from_mapping
from ..workers._runtime import WorkerSpec
from ..workers.tracking import LATENCY_EDGES_S
from . import _bead_finding
from ._beads import BeadTable
from .base import DaemonContext, Service
from .camera import CameraService

log = logging.getLogger(__name__)

#: Rows of the Tracks buffer: ~100 s of 100 beads at 100 frames/s.
TRACK_ROWS = 1 << 20
#: Bead ids 0 … ROI_CAPACITY − 1.
ROI_CAPACITY = 1024
#: Longest radial profile the LiveProfileBuffer holds (samples).
PROFILE_CAPACITY = 1024
#: Longest time the camera is held at start for the tracking workers to get ready (s).
HOLD_TIMEOUT_S = 15.0
#: The camera hold taken at start until the tracking workers are ready.
STARTUP_HOLD = "tracking start-up"
#: Niceness added to the tracking workers: when they saturate the cores, the camera, the
#: recorder, the manager and a window on the same machine still get theirs (frames wait in the
#: VideoBuffer for tracking; a camera that is late loses them).
TRACKING_NICE = 5

_COUNTERS = ("stacks", "frames", "rows", "rois", "sweep_rows", "sweep_errors")


class TrackingService(Service):
    """Owns the tracking buffers and workers ``tracking:0`` … ``tracking:{N-1}``."""

    name = "tracking"

    def __init__(self, ctx: DaemonContext, camera: CameraService) -> None:
        super().__init__(ctx)
        self.camera = camera
        cfg = ctx.config.tracking
        self.workers = [f"tracking:{i}" for i in range(cfg.workers)]
        self.settings: TrackingSettings = cfg.settings
        self.pixel_size_nm = cfg.pixel_size_nm
        self.profile_bead: int | None = None
        #: The Z-LUTs in use: bead id -> ZLUT (None: the default for beads without their own).
        self.luts: dict[int | None, ZLUT] = {}
        self.beads: BeadTable | None = None
        self._stats: dict[str, dict[str, Any]] = {}
        self._base = dict.fromkeys(_COUNTERS, 0)
        self._base_hist = np.zeros(len(LATENCY_EDGES_S) + 1, dtype=np.int64)
        self._frames_lost = 0
        self._stacks_lost = 0
        self._pidfds: dict[str, tuple[int, int]] = {}  # worker -> (pid, pidfd)
        self._hold_handle: asyncio.TimerHandle | None = None
        self._stopping = False
        self._freezes: dict[str, str] = {}  # name -> owner; the ROI set may not change
        #: Other services' per-bead fields for ``beads`` (e.g. force): () -> {bead: {field: …}}.
        self.bead_info: list[Callable[[], dict[int, dict[str, Any]]]] = []
        if self.workers:  # taken before the camera starts: no frames until the workers are ready
            camera.hold(STARTUP_HOLD, self.name)

    # -- freezes ----------------------------------------------------------------------------------
    def freeze(self, name: str, owner: str) -> None:
        """Freeze the bead ROI set under ``name`` for ``owner`` until :meth:`unfreeze`."""
        self._freezes[name] = owner

    def unfreeze(self, name: str) -> bool:
        """Drop freeze ``name``; False if it was not held."""
        return self._freezes.pop(name, None) is not None

    @property
    def freezes(self) -> list[dict[str, str]]:
        """The freezes held, as ``{"name", "owner"}``."""
        return [{"name": n, "owner": o} for n, o in self._freezes.items()]

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        ctx = self.ctx
        geometry = ctx.config.camera_geometry()
        for name in ("Tracks", "BeadRoiBuffer", "LiveProfileBuffer", ZLUTSweepDataset.NAME):
            if name not in ctx.locks:  # the sweep lock must exist before any worker starts
                ctx.new_lock(name)
        common = {"create": True, "locks": ctx.locks, "instance": ctx.instance}
        ctx.add_buffer(
            "Tracks", MatrixBuffer(name="Tracks", shape=(TRACK_ROWS, len(TRACK_COLUMNS)), **common)
        )
        rois = ctx.add_buffer("BeadRoiBuffer", BeadRoiBuffer(capacity=ROI_CAPACITY, **common))
        ctx.add_buffer("LiveProfileBuffer", LiveProfileBuffer(profile_capacity=PROFILE_CAPACITY,
                                                              **common))  # fmt: skip
        self.beads = BeadTable(
            rois, geometry["width"], geometry["height"], ctx.config.tracking.roi_size
        )
        if not self.workers:
            return
        loop = asyncio.get_running_loop()
        self._hold_handle = loop.call_later(HOLD_TIMEOUT_S, self._end_hold, "timeout")
        assert ctx.supervisor is not None
        for name in self.workers:
            ctx.supervisor.start(
                WorkerSpec(
                    name,
                    "magscope_app.workers.tracking:run",
                    {
                        "instance": ctx.instance,
                        "locks": ctx.locks,
                        "stack_ready": self.camera.stack_ready,
                    },
                    nice=TRACKING_NICE,
                )
            )

    async def stop(self) -> None:
        self._stopping = True
        if self._hold_handle is not None:
            self._hold_handle.cancel()
        for name in list(self._pidfds):
            self._forget_pidfd(name)

    def _end_hold(self, why: str) -> None:
        if self._hold_handle is None:
            return
        self._hold_handle.cancel()
        self._hold_handle = None
        if why == "timeout":
            self.ctx.event(
                "tracking workers not ready in time; starting acquisition anyway", level="warning"
            )
        self.camera.release(STARTUP_HOLD)

    # -- workers ----------------------------------------------------------------------------------
    def _configuration(self) -> dict[str, Any]:
        assert self.beads is not None
        return {
            "roi_size": self.beads.size,
            "pixel_size_nm": self.pixel_size_nm,
            "settings": self.settings.to_dict(),
            "profile_bead": self.profile_bead,
            "zluts": dict(self.luts),
        }

    def on_worker_started(self, worker: str) -> None:
        if worker not in self.workers:
            return
        previous = self._stats.pop(worker, None)
        if previous:  # keep the totals across restarts
            for key in _COUNTERS:
                self._base[key] += previous.get(key, 0)
            self._base_hist += np.asarray(previous.get("latency_hist", 0), dtype=np.int64)
        if worker in self._pidfds:  # no pidfd support: the exit is handled here, late
            self._on_worker_exit(worker)
        self.ctx.send(worker, Notify("configure", self._configuration()))

    def on_message(self, worker: str, message: WorkerMessage) -> None:
        if worker not in self.workers:
            return
        if isinstance(message, Stats):
            self._stats[worker] = message.values
        elif isinstance(message, Ready):
            self._watch(worker, message.pid)
            assert self.ctx.supervisor is not None
            running = self.ctx.supervisor.in_state(self.workers, WorkerState.RUNNING)
            if len(running) == len(self.workers):
                self._end_hold("ready")

    def _watch(self, worker: str, pid: int) -> None:
        """Release the worker's claims as soon as process ``pid`` exits (pidfd on the loop)."""
        self._forget_pidfd(worker)
        try:
            fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfds[worker] = (pid, -1)  # handled at the restart instead
            return
        self._pidfds[worker] = (pid, fd)
        asyncio.get_running_loop().add_reader(fd, self._on_worker_exit, worker)

    def _forget_pidfd(self, worker: str) -> tuple[int, int] | None:
        entry = self._pidfds.pop(worker, None)
        if entry is not None and entry[1] >= 0:
            asyncio.get_running_loop().remove_reader(entry[1])
            os.close(entry[1])
        return entry

    def _on_worker_exit(self, worker: str) -> None:
        entry = self._forget_pidfd(worker)
        if entry is None or self._stopping:
            return
        video = self.ctx.buffers.get("VideoBuffer")
        if video is None:
            return
        stacks = video.release_claims_of(entry[0])
        if stacks:
            frames = len(stacks) * video.n_images
            self._stacks_lost += len(stacks)
            self._frames_lost += frames
            self.ctx.event(
                f"{worker} died holding {len(stacks)} stack(s): {frames} frame(s) not tracked",
                level="warning",
                source=worker,
            )

    async def _broadcast(self, command: str, **args: Any) -> list[Any]:
        """Send a request to every running tracking worker (a worker in back-off gets the whole
        state when it restarts); raises CommandError("failed", …) if one refuses."""
        assert self.ctx.supervisor is not None
        names = self.ctx.supervisor.in_state(
            self.workers, WorkerState.STARTING, WorkerState.RUNNING
        )
        return await asyncio.gather(*(self.ctx.request(n, command, **args) for n in names))

    def _check_unfrozen(self, command: str) -> None:
        if self._freezes:
            held = ", ".join(f"{n!r} ({o})" for n, o in self._freezes.items())
            raise CommandError("failed", f"{command}: the bead ROIs are frozen by {held}")

    async def apply_luts(self, luts: Mapping[int | None, ZLUT], *, replace: bool = True) -> None:
        """Use ``luts`` (bead id -> ZLUT; None: the default for beads without their own) in every
        tracking worker; ``replace`` drops the LUTs in use first."""
        if replace:
            self.luts.clear()
        self.luts.update(luts)
        await self._broadcast("configure", zluts=dict(self.luts))

    async def sweep_request(self, command: str, **args: Any) -> list[Any]:
        """For the Z-LUT sweep: send ``sweep_attach`` / ``sweep_step`` / ``sweep_detach`` (see
        :mod:`magscope_app.workers.tracking`) to every tracking worker."""
        if command not in ("sweep_attach", "sweep_step", "sweep_detach"):
            raise ValueError(f"not a sweep request: {command!r}")
        return await self._broadcast(command, **args)

    # -- commands ---------------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        bead = Param("id", "int", minimum=0, maximum=ROI_CAPACITY - 1, help="bead id")
        opt_bead = Param("bead", "int", required=False, minimum=0, maximum=ROI_CAPACITY - 1,
                         help="bead id (omit: the default LUT)")  # fmt: skip
        table.add("beads", self._cmd_beads,
                  help="list the beads (id, centre px, ROI, at_edge, kind)")  # fmt: skip
        table.add("add_beads", self._cmd_add_beads,
                  Param("rois", "list", help="bead centres [[x, y], …] in full-frame pixels"),
                  help="add beads; returns their ids")  # fmt: skip
        table.add("remove_beads", self._cmd_remove_beads, Param("ids", "list", help="bead ids"),
                  help="remove beads")  # fmt: skip
        table.add("move_bead", self._cmd_move_bead, bead, Param("x", "float"),
                  Param("y", "float"), help="move a bead's centre (px)")  # fmt: skip
        table.add("clear_beads", self._cmd_clear_beads, help="remove every bead")
        table.add("find_beads", self._cmd_find_beads,
                  Param("add", "bool", required=False, default=False,
                        help="add the accepted candidates as beads"),
                  Param("max", "int", required=False, minimum=1, maximum=ROI_CAPACITY,
                        help="accept at most this many (highest score first)"),
                  Param("min_distance", "float", required=False, minimum=1.0,
                        help="px: peaks closer than this are one bead (default ROI side / 4)"),
                  Param("frames", "int", required=False, default=1, minimum=1, maximum=100,
                        help="search the mean of this many newest frames"),
                  Param("min_score", "float", required=False, minimum=0.0,
                        help="score threshold (default 10)"),
                  help="detect beads on the newest frame(s): candidates with scores, rejected "
                  "ones with the reason; add=true adds the accepted ones")  # fmt: skip
        table.add("classify_beads", self._cmd_classify_beads,
                  Param("seconds", "float", required=False, default=3.0, minimum=0.1,
                        maximum=100.0, help="s of track to judge from"),
                  Param("max_lateral_nm", "float", required=False, minimum=0.0,
                        help="largest lateral rms of a stuck bead (default 5 nm)"),
                  Param("max_axial_nm", "float", required=False, minimum=0.0,
                        help="largest axial rms of a stuck bead (default 10 nm)"),
                  help="classify the beads as stuck or tethered from their motion")  # fmt: skip
        table.add("set_roi_size", self._cmd_set_roi_size,
                  Param("size", "int", help="ROI side (even, 16…256 px)"),
                  help="set the ROI size of every bead")  # fmt: skip
        table.add("select_profile_bead", self._cmd_select_profile_bead,
                  Param("id", "int", required=False, help="bead id; omit to stop"),
                  help="bead whose radial profile goes to the LiveProfileBuffer")  # fmt: skip
        table.add("set_zlut", self._cmd_set_zlut, opt_bead,
                  Param("z_nm", "list", help="plane heights (m,) nm, monotonic"),
                  Param("profiles", "list", help="profiles (m, n_bins)"),
                  help="load a Z-LUT from arrays")  # fmt: skip
        table.add("unload_zlut", self._cmd_unload_zlut,
                  Param("bead", "int", required=False, help="bead id; omit: every LUT"),
                  help="unload Z-LUTs")  # fmt: skip
        table.add("tracking_settings", self._cmd_tracking_settings,
                  help="tracking settings, ROI size, pixel size, loaded Z-LUTs")  # fmt: skip
        table.add(
            "set_tracking_settings",
            self._cmd_set_tracking_settings,
            *(
                Param(f.name, "int" if f.type in ("int", int) else "float", required=False)
                for f in fields(TrackingSettings)
            ),
            help="change tracking settings (refused while Z-LUTs are loaded)",
        )

    async def _cmd_beads(self) -> dict[str, Any]:
        assert self.beads is not None
        beads = self.beads.describe()
        for info in self.bead_info:
            extra = info()
            for bead in beads:
                bead.update(extra.get(bead["id"], {}))
        return {"roi_size": self.beads.size, "beads": beads}

    async def _cmd_add_beads(self, rois: list) -> dict[str, Any]:
        self._check_unfrozen("add_beads")
        assert self.beads is not None
        ids = self.beads.add(rois)
        self._beads_changed("added", ids)
        return {"ids": ids}

    async def _cmd_remove_beads(self, ids: list) -> dict[str, Any]:
        self._check_unfrozen("remove_beads")
        assert self.beads is not None
        removed = self.beads.remove(ids)
        if self.profile_bead in removed:
            await self._set_profile_bead(None)
        self._beads_changed("removed", removed)
        return {"removed": removed}

    async def _cmd_move_bead(self, id: int, x: float, y: float) -> dict[str, Any]:
        self._check_unfrozen("move_bead")
        assert self.beads is not None
        self.beads.move(id, x, y)
        self._beads_changed("moved", [id])
        return {"id": id, "roi": list(self.beads.roi(x, y))}

    async def _cmd_clear_beads(self) -> dict[str, Any]:
        self._check_unfrozen("clear_beads")
        assert self.beads is not None
        count = self.beads.clear()
        if self.profile_bead is not None:
            await self._set_profile_bead(None)
        self._beads_changed("cleared", [])
        return {"removed": count}

    def _frame_rate(self) -> float:
        return float(self.camera.status().get("fps") or 0.0)

    async def _cmd_find_beads(
        self,
        add: bool = False,
        max: int | None = None,  # the command's argument name
        min_distance: float | None = None,
        frames: int = 1,
        min_score: float | None = None,
    ) -> dict[str, Any]:
        if add:
            self._check_unfrozen("find_beads")
        assert self.beads is not None
        result, numbers = await _bead_finding.find(
            self.beads,
            self.ctx.buffers["VideoBuffer"],
            self._frame_rate(),
            frames=frames,
            max_beads=max,
            min_distance=min_distance,
            min_score=min_score,
        )
        out: dict[str, Any] = {"frames": numbers, "roi_size": self.beads.size, **result.to_dict()}
        if add:
            self._check_unfrozen("find_beads")  # a sweep may have started meanwhile
            points = [[c.x, c.y] for c in result.accepted]
            out["ids"] = self.beads.add(points) if points else []
            self._beads_changed("added", out["ids"])
        return out

    async def _cmd_classify_beads(
        self,
        seconds: float = 3.0,
        max_lateral_nm: float | None = None,
        max_axial_nm: float | None = None,
    ) -> dict[str, Any]:
        assert self.beads is not None
        given = {"max_lateral_nm": max_lateral_nm, "max_axial_nm": max_axial_nm}
        thresholds = {k: v for k, v in given.items() if v is not None}
        return await _bead_finding.classify(
            self.beads, self.ctx.buffers["Tracks"], seconds, self._frame_rate(), **thresholds
        )

    async def _cmd_set_roi_size(self, size: int) -> dict[str, Any]:
        self._check_unfrozen("set_roi_size")
        assert self.beads is not None
        if problem := roi_size_problem(size):
            raise CommandError("invalid_argument", f"set_roi_size: size {problem}")
        await self._broadcast("configure", roi_size=size)
        self.beads.resize(size)
        self._beads_changed("resized", [])
        return {"roi_size": size}

    def _beads_changed(self, change: str, ids: list[int]) -> None:
        """Publish the ``beads`` event (``count``: beads now)."""
        assert self.beads is not None
        count = len(self.beads.describe())
        self.ctx.publish("beads", {"change": change, "ids": list(ids), "count": count})

    async def _set_profile_bead(self, bead: int | None) -> None:
        self.profile_bead = bead
        await self._broadcast("configure", profile_bead=bead)

    async def _cmd_select_profile_bead(self, id: int | None = None) -> dict[str, Any]:
        assert self.beads is not None
        if id is not None and id not in self.beads.centres:
            raise CommandError("invalid_argument", f"select_profile_bead: no bead with id {id}")
        await self._set_profile_bead(id)
        return {"profile_bead": id}

    async def _cmd_set_zlut(
        self, z_nm: list, profiles: list, bead: int | None = None
    ) -> dict[str, Any]:
        try:
            z = np.asarray(z_nm, dtype=np.float64)
            p = np.asarray(profiles, dtype=np.float64)
            lut = ZLUT(z, p, self.settings)  # validates (shape, monotonic, finite, bins)
        except (TypeError, ValueError) as exc:
            raise CommandError("invalid_argument", f"set_zlut: bad Z-LUT: {exc}") from None
        self.luts[bead] = lut
        await self._broadcast("set_zlut", bead=bead, lut=lut)
        return {"bead": bead, "planes": len(z), "z_range_nm": list(lut.z_range)}

    async def _cmd_unload_zlut(self, bead: int | None = None) -> dict[str, Any]:
        if bead is not None and bead not in self.luts:
            raise CommandError("invalid_argument", f"unload_zlut: no Z-LUT for bead {bead}")
        count = len(self.luts) if bead is None else 1
        if bead is None:
            self.luts.clear()
        else:
            del self.luts[bead]
        await self._broadcast("unload_zlut", bead="all" if bead is None else bead)
        return {"unloaded": count}

    async def _cmd_tracking_settings(self) -> dict[str, Any]:
        assert self.beads is not None
        return {
            "settings": self.settings.to_dict(),
            "n_bins": self.settings.n_bins,
            "roi_size": self.beads.size,
            "pixel_size_nm": self.pixel_size_nm,
            "pixel_size_source": self.ctx.config.tracking.pixel_size_source,
            "workers": len(self.workers),
            "profile_bead": self.profile_bead,
            "zluts": [
                {"bead": b, "planes": len(lut.z_nm), "z_range_nm": list(lut.z_range)}
                for b, lut in self.luts.items()
            ],
        }

    async def _cmd_set_tracking_settings(self, **values: Any) -> dict[str, Any]:
        changes = {k: v for k, v in values.items() if v is not None}
        try:
            new = settings_from_mapping(changes, self.settings)
        except ValueError as exc:
            raise CommandError("invalid_argument", f"set_tracking_settings: {exc}") from None
        if not new.same_profiles(self.settings) and self.luts:
            raise CommandError(
                "failed",
                "set_tracking_settings: Z-LUTs are loaded and only valid with the profile "
                f"settings ({', '.join(PROFILE_FIELDS)}) they were made with; unload them first "
                "(unload_zlut)",
            )
        if new.n_bins > PROFILE_CAPACITY:
            raise CommandError(
                "invalid_argument",
                f"set_tracking_settings: {new.n_bins} profile bins exceed {PROFILE_CAPACITY}",
            )
        self.settings = new
        await self._broadcast("configure", settings=new.to_dict())
        return await self._cmd_tracking_settings()

    # -- status -----------------------------------------------------------------------------------
    def totals(self) -> dict[str, Any]:
        """Counters summed over workers and their restarts, and the latency histogram."""
        totals = dict(self._base)
        hist = self._base_hist.copy()
        for values in self._stats.values():
            for key in _COUNTERS:
                totals[key] += values.get(key, 0)
            hist += np.asarray(values.get("latency_hist", 0), dtype=np.int64)
        totals["latency_hist"] = hist
        return totals

    def status(self) -> dict[str, Any]:
        totals = self.totals()
        supervisor = self.ctx.supervisor
        running = supervisor.in_state(self.workers, WorkerState.RUNNING) if supervisor else []
        return {
            "workers": len(self.workers),
            "workers_running": len(running),
            "beads": len(self.beads.centres) if self.beads is not None else 0,
            "stacks_tracked": totals["stacks"],
            "frames_tracked": totals["frames"],
            "rows_written": totals["rows"],
            "rois_per_s": sum(v.get("rois_per_s", 0.0) for v in self._stats.values()),
            "frames_lost": self._frames_lost,
            "stacks_lost": self._stacks_lost,
            "latency_ms": latency_summary(totals["latency_hist"]),
            "zluts": len(self.luts),
            "profile_bead": self.profile_bead,
            "sweep_rows": totals["sweep_rows"],
            "sweep_errors": totals["sweep_errors"],
            "frozen": self.freezes,
        }


def latency_summary(hist: np.ndarray) -> dict[str, float | int | None]:
    """Median and 99th percentile (ms) of a latency histogram over :data:`LATENCY_EDGES_S`
    (each bin read at its geometric centre, ~6 % resolution); None without samples."""
    count = int(hist.sum())
    out: dict[str, float | int | None] = {"samples": count, "median": None, "p99": None}
    if count == 0:
        return out
    edges = LATENCY_EDGES_S
    centres = np.concatenate(([edges[0] / 2], np.sqrt(edges[1:] * edges[:-1]), [edges[-1]]))
    cumulative = np.cumsum(hist)
    for key, q in (("median", 0.5), ("p99", 0.99)):
        index = int(np.searchsorted(cumulative, q * count))
        out[key] = float(centres[min(index, len(centres) - 1)] * 1e3)
    return out
