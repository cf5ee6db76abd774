"""The simulated camera: renders the simulated world as it is at each exposure.

Frame ``n`` after :meth:`SimulatedCamera.start` exposes from ``t0 + n/frame_rate`` for
``exposure`` ms and is ready at the end of its exposure; :meth:`read_frame` sleeps until then
(never busy-waits). ``Frame.timestamp`` is the middle of the exposure (``time.time()`` clock).
If the reader falls more than one second behind, the camera skips ahead: frame numbers jump and
:attr:`SimulatedCamera.skipped_frames` counts the gap, as a real camera's lost frames would.

The magnet height, magnet rotation, focus and XY stage of each frame are read from the world
control block (written by the simulated motors, possibly in other processes) at the middle of the
exposure.
The world's ground truth of the latest frames is kept in a ring (:meth:`truth_for`,
:meth:`truth_dict`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..camera import Camera, Frame
from ..device import DeviceCommand
from ..errors import HardwareError, SettingError
from ..settings import Setting
from ._render import Renderer, warm_up
from .optics import OpticsParams
from .placement import PlacementError
from .world import World, WorldParams, simulation_params
from .world_control import LocalWorldControl, WorldControl, WorldControlLike

#: Below this optics distance D (nm) the ring model is invalid; beads are drawn at this D.
MIN_DISTANCE_NM = 100.0
#: How far (s) the reader may fall behind before the camera skips frames.
MAX_LAG_S = 1.0


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of one frame. Per-bead arrays have shape (n_beads + n_reference_beads,).

    ``x_px``, ``y_px``: bead centres in pixels (x = column, origin at the centre of pixel
    (0, 0)), averaged over the exposure. ``z_nm``: bead centre height in the focus stage's frame
    (nm, includes drift); ``z_rel_nm`` = ``z_nm`` − ``focus_nm``, the z of the optics model.
    ``force_pN``, ``extension_nm``: 0 for reference beads. ``outside_model``: the bead lies too
    far below the focal plane for the ring model and was drawn at the limit. ``drift_nm``: the
    sample's drift (x, y, z); ``stage_um``: the XY stage (x, y), which shifts every bead in the
    image (``x_px``, ``y_px`` include both).
    """

    number: int
    timestamp: float
    x_px: np.ndarray
    y_px: np.ndarray
    z_nm: np.ndarray
    z_rel_nm: np.ndarray
    force_pN: np.ndarray
    extension_nm: np.ndarray
    is_reference: np.ndarray
    outside_model: np.ndarray
    focus_nm: float
    magnet_height_mm: float
    magnet_rotation_turns: float
    drift_nm: np.ndarray
    stage_um: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists of floats/bools)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


class SimulatedCamera(Camera):
    """A camera looking at the simulated sample (see the module docstring).

    ``instance``: daemon instance whose world control block to attach (``msa-{instance}-simworld``);
    None: use ``control`` if given, else a private :class:`LocalWorldControl`. ``simulation``:
    the flat ``[simulation]`` mapping (world and optics parameters); ``n_beads``,
    ``n_reference_beads`` and ``seed`` override it. Camera model: ``gain`` ADU/photon, ``offset``
    ADU, ``read_noise`` electrons rms, ``illumination`` photons per pixel per ms of exposure.
    ``render_radius``/``taper`` (px) and ``poisson_below`` (photons) tune the renderer
    (see :mod:`._render`). ``truth_history``: how many frames of ground truth are kept.
    """

    simulated_world = True  # the registry passes the daemon instance (and [simulation])
    extra_commands = (
        DeviceCommand(
            "sim_truth",
            "ground_truth",
            "simulated microscope: true bead positions, force and focus of a recent frame",
            params=(
                Setting("frame", "int", minimum=0, description="frame counter (default newest)"),
            ),
            optional=("frame",),
        ),
    )

    @classmethod
    def daemon_resources(cls) -> dict[str, Any]:
        return {"simworld": WorldControl.create}

    def __init__(
        self,
        name: str = "camera",
        instance: str | None = None,
        *,
        width: int = 1024,
        height: int = 1024,
        bits: int = 12,
        frame_rate: float = 100.0,
        exposure: float = 5.0,
        gain: float = 0.25,
        offset: float = 100.0,
        read_noise: float = 2.0,
        illumination: float = 1000.0,
        n_beads: int | None = None,
        n_reference_beads: int | None = None,
        seed: int | None = None,
        render_radius: int = 48,
        taper: int = 8,
        poisson_below: float = 1000.0,
        truth_history: int = 256,
        simulation: Mapping[str, Any] | None = None,
        control: WorldControlLike | None = None,
    ) -> None:
        super().__init__(name)
        world, optics = simulation_params(
            simulation, n_beads=n_beads, n_reference_beads=n_reference_beads, seed=seed
        )
        self.world_params: WorldParams = world
        self.optics: OpticsParams = optics
        self._values: dict[str, Any] = {}
        self._lock = threading.RLock()
        for key, value in (
            ("width", width),
            ("height", height),
            ("bits", bits),
            ("frame_rate", frame_rate),
            ("gain", gain),
            ("offset", offset),
            ("read_noise", read_noise),
            ("illumination", illumination),
            ("exposure", exposure),
        ):
            self._values[key] = self._setting(key).validate(value, device=name)
        world.layout(self._values["width"], self._values["height"], optics)  # fit, or raise now
        self._render_options = {
            "render_radius": int(render_radius),
            "taper": int(taper),
            "poisson_below": float(poisson_below),
        }
        self._truth: OrderedDict[int, FrameTruth] = OrderedDict()
        self._truth_history = max(int(truth_history), 1)
        self._owns_control = control is None
        self.instance = instance
        if control is not None:
            self._control: WorldControlLike | None = control
        elif instance is not None:
            self._control = WorldControl.attach(instance)
        else:
            self._control = LocalWorldControl()
        self._world: World | None = None
        self._renderer: Renderer | None = None
        self._running = False
        self._next = 0
        self._t0_wall = 0.0
        self._t0_mono = 0.0
        self._epoch: float | None = None
        self.skipped_frames = 0

    # -- settings ------------------------------------------------------------------------------
    def settings(self) -> list[Setting]:
        max_exposure = 1000.0 / float(self._values.get("frame_rate", 100.0))
        return [
            Setting("width", "int", "px", 8, 8192, description="image width"),
            Setting("height", "int", "px", 8, 8192, description="image height"),
            Setting("bits", "int", "bit", choices=(8, 10, 12, 14, 16), description="bit depth"),
            Setting("frame_rate", "float", "Hz", 0.1, 10000.0, description="frames per second"),
            Setting("exposure", "float", "ms", 0.01, max_exposure, description="exposure time"),
            Setting("gain", "float", "ADU/photon", 0.001, 1000.0, description="conversion gain"),
            Setting("offset", "float", "ADU", 0.0, 10000.0, description="dark offset"),
            Setting("read_noise", "float", "e- rms", 0.0, 1000.0, description="read noise"),
            Setting(
                "illumination",
                "float",
                "photons/px/ms",
                0.0,
                1e7,
                description="background photons per pixel per ms of exposure",
            ),
            Setting("pixel_size", "float", "nm", read_only=True, description="in the sample"),
            Setting("n_beads", "int", read_only=True, description="tethered + reference beads"),
        ]

    def _read_setting(self, name: str) -> Any:
        if name == "pixel_size":
            return self.optics.pixel_size_nm
        if name == "n_beads":
            return self.world_params.n_beads + self.world_params.n_reference_beads
        return self._values[name]

    def _write_setting(self, name: str, value: Any) -> None:
        with self._lock:
            if name in ("width", "height", "bits") and self._running:
                raise SettingError(f"{self.name}: stop the camera before changing {name!r}")
            if name in ("width", "height"):
                size = {"width": self._values["width"], "height": self._values["height"]}
                try:
                    self.world_params.layout(**{**size, name: value}, optics=self.optics)
                except PlacementError as exc:
                    raise SettingError(f"{self.name}: {name} {value}: {exc}") from None
            self._values[name] = value
            if name in ("width", "height", "bits"):
                self._world = None  # re-placed (same seed) for the new field
                self._renderer = None
            elif name == "frame_rate":
                self._values["exposure"] = min(self._values["exposure"], 1000.0 / value)
                if self._running:  # keep numbering, restart the schedule at the next frame
                    self._schedule_from(self._next)

    # -- streaming -----------------------------------------------------------------------------
    def open(self) -> None:
        """Build the world and the renderer now (~1 s: kernels, noise banks), not at start()."""
        with self._lock:
            self._ensure_ready()
            self._configure_renderer()

    def start(self) -> None:
        with self._lock:
            if self._running:
                return
            self._ensure_ready()
            self._configure_renderer()  # the noise bank takes ~0.2 s: before frame 0 is due
            self._next = 0
            self._t0_mono = time.monotonic()
            self._t0_wall = time.time()
            if self._epoch is None:
                self._epoch = self._t0_wall
            self._running = True

    def stop(self) -> None:
        with self._lock:
            self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def close(self) -> None:
        self.stop()
        if self._owns_control and self._control is not None:
            self._control.close()
        self._control = None

    def _schedule_from(self, number: int) -> None:
        """Re-anchor the schedule so frame ``number`` starts its exposure now."""
        period = 1.0 / self._values["frame_rate"]
        self._t0_mono = time.monotonic() - number * period
        self._t0_wall = time.time() - number * period

    def read_frame(self, timeout: float) -> Frame | None:
        if not self._running:
            raise HardwareError(f"{self.name}: read_frame() before start()")
        period = 1.0 / self._values["frame_rate"]
        exposure_s = self._values["exposure"] / 1000.0
        ready = self._t0_mono + self._next * period + exposure_s
        wait = ready - time.monotonic()
        if wait > timeout:
            if timeout > 0:
                time.sleep(timeout)
            return None
        if wait > 0:
            time.sleep(wait)
        elif -wait > MAX_LAG_S:
            behind = math.floor(-wait / period)
            self.skipped_frames += behind
            self._next += behind
        return self.render_next()

    def render_next(self) -> Frame:
        """Render the next scheduled frame now, without waiting for its time (benchmarks, tests).

        Starts the camera if needed. Frame n's world time is its scheduled exposure centre, so
        the physics is the same whether frames are paced or not.
        """
        with self._lock:
            if not self._running:
                self.start()
            number = self._next
            self._next += 1
            period = 1.0 / self._values["frame_rate"]
            exposure_s = self._values["exposure"] / 1000.0
            mid = number * period + 0.5 * exposure_s
            wall = self._t0_wall + mid
            image, truth = self._render(number, wall, exposure_s)
            self._truth[number] = truth
            while len(self._truth) > self._truth_history:
                self._truth.popitem(last=False)
            return Frame(image=image, timestamp=wall, number=number)

    # -- the world -----------------------------------------------------------------------------
    def _ensure_ready(self) -> None:
        if self._world is None or self._renderer is None:
            world_seed, render_seed = np.random.SeedSequence(self.world_params.seed).spawn(2)
            px = self.optics.pixel_size_nm
            v = self._values
            self._world = World(
                self.world_params,
                (v["width"] * px, v["height"] * px),
                px,
                np.random.default_rng(world_seed),
                self.optics,
            )
            warm_up(v["bits"], **self._render_options)
            self._renderer = Renderer(
                v["width"],
                v["height"],
                v["bits"],
                np.random.default_rng(render_seed),
                **self._render_options,
            )

    def _configure_renderer(self) -> None:
        """Give the renderer the current camera values (rebuilds its banks only on a change)."""
        assert self._renderer is not None
        v = self._values
        self._renderer.configure(
            v["illumination"] * v["exposure"], v["gain"], v["offset"], v["read_noise"]
        )

    def _axis_positions(self, wall: float) -> tuple[float, float, float, float, float]:
        """(magnet height mm, rotation turns, focus nm, stage x µm, stage y µm) at wall time
        ``wall``; an axis no motor has written is at its default (the stage at 0)."""
        p = self.world_params
        defaults = (p.default_magnet_height_mm, p.default_magnet_rotation_turns, p.default_focus_nm,
                    0.0, 0.0)  # fmt: skip
        if self._control is None:
            raise HardwareError(f"{self.name}: camera is closed")
        values = self._control.positions(wall)
        return tuple(  # type: ignore[return-value]
            d if values[axis] is None else values[axis]
            for axis, d in zip(
                ("magnet_height", "magnet_rotation", "focus", "stage_x", "stage_y"),
                defaults,
                strict=True,
            )
        )

    def _render(self, number: int, wall: float, exposure_s: float) -> tuple[np.ndarray, FrameTruth]:
        self._ensure_ready()
        assert self._world is not None and self._renderer is not None
        self._configure_renderer()
        height_mm, turns, focus, stage_x, stage_y = self._axis_positions(wall)
        epoch = self._epoch if self._epoch is not None else self._t0_wall
        sample = self._world.step(wall - epoch, exposure_s, height_mm, turns)
        o = self.optics
        x_px = (sample.x_nm + 1000.0 * stage_x) / o.pixel_size_nm
        y_px = (sample.y_nm + 1000.0 * stage_y) / o.pixel_size_nm
        z_rel = sample.z_nm - focus
        distance = o.defocus_offset_nm + z_rel
        outside = distance < MIN_DISTANCE_NM
        image = self._renderer.render(
            x_px,
            y_px,
            np.maximum(distance, MIN_DISTANCE_NM),
            o.pixel_size_nm,
            o.wavelength_in_medium_nm,
            o.contrast,
            o.envelope_nm,
            o.envelope_growth,
        )
        truth = FrameTruth(
            number=number,
            timestamp=wall,
            x_px=x_px,
            y_px=y_px,
            z_nm=sample.z_nm,
            z_rel_nm=z_rel,
            force_pN=sample.force_pN,
            extension_nm=sample.extension_nm,
            is_reference=self._world.is_reference.copy(),
            outside_model=outside,
            focus_nm=float(focus),
            magnet_height_mm=float(height_mm),
            magnet_rotation_turns=float(turns),
            drift_nm=sample.drift_nm,
            stage_um=np.array([stage_x, stage_y], dtype=np.float64),
        )
        return image, truth

    # -- ground truth --------------------------------------------------------------------------
    def truth_for(self, number: int) -> FrameTruth | None:
        """Ground truth of frame ``number``, or None if it is older than the kept history."""
        with self._lock:
            return self._truth.get(number)

    def latest_truth(self) -> FrameTruth | None:
        """Ground truth of the newest frame, or None before the first frame."""
        with self._lock:
            return next(reversed(self._truth.values()), None)

    def truth_dict(self, number: int | None = None) -> dict[str, Any] | None:
        """JSON-ready ground truth of frame ``number`` (default: newest) for the control API."""
        truth = self.latest_truth() if number is None else self.truth_for(number)
        return None if truth is None else truth.to_dict()

    def ground_truth(self, frame: int | None = None) -> dict[str, Any]:
        """:meth:`truth_dict` of frame ``frame`` (this camera's numbering; None: the newest);
        :class:`HardwareError` if it is not kept (too old, or no frame yet)."""
        truth = self.truth_dict(frame)
        if truth is None:
            raise HardwareError(f"{self.name}: no ground truth for frame {frame} (too old)")
        return truth

    def bead_layout(self) -> dict[str, Any]:
        """JSON-ready description of the beads: anchor points (px), reference flags, tethers."""
        with self._lock:
            self._ensure_ready()
            assert self._world is not None
            w = self._world
            px = self.optics.pixel_size_nm
            n_t = self.world_params.n_beads
            return {
                "anchor_x_px": (w.anchors_nm[:, 0] / px).tolist(),
                "anchor_y_px": (w.anchors_nm[:, 1] / px).tolist(),
                "is_reference": w.is_reference.tolist(),
                "contour_length_nm": w.contour_nm.tolist() + [0.0] * (w.n_total - n_t),
                "torsionally_free": w.nicked.tolist() + [False] * (w.n_total - n_t),
            }
