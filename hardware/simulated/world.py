"""The simulated sample: tethered and reference beads, their Brownian motion and the sample drift.

Coordinates: x, y in nm in the camera's field (x = column direction, origin at the centre of
pixel (0, 0)); z in nm in the focus stage's frame, the flow-cell surface at z = drift_z (0 at the
start). A bead's z is the height of its centre, so a tethered bead sits at extension + radius and a
reference bead stuck to the surface at radius. The magnets' field points along x: lateral motion
is a short pendulum along x and a long pendulum along y (Daldrop et al. 2015). The world advances
frame by frame (:meth:`World.step`); the magnet height and rotation of each frame come from the
caller (the camera reads them from the world control block).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from . import physics, placement
from .optics import OpticsParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorldParams:
    """Parameters of the simulated sample (the ``[simulation]`` config section).

    Beads: ``n_beads`` tethered beads and ``n_reference_beads`` stuck to the surface, radius
    ``bead_radius_nm``. Tethers: contour length ``contour_length_nm`` (relative spread
    ``contour_length_spread`` between beads), persistence length ``persistence_length_nm``, twist
    persistence ``twist_persistence_nm``; a fraction ``nicked_fraction`` is torsionally free.
    Force: F = F0·exp(−d/λ) with ``F0_pN``, λ = ``force_decay_mm`` (relative bead-to-bead spread
    ``force_spread``), floored at ``min_force_pN`` (a bead never floats free). Negative
    supercoiling melts DNA above ``melting_force_pN``. Medium: ``temperature_K``, viscosity
    ``viscosity_pN_s_per_nm2`` (1e-9 = water), Faxén/Brenner wall corrections if
    ``surface_correction``. Drift: constant ``drift_velocity_nm_per_s`` (x, y, z) plus a random walk
    of diffusion coefficient ``drift_diffusion_nm2_per_s``, plus a focus drift
    ``focus_drift_nm_per_min``: the focal plane creeps down at this rate, so every bead's z seen
    relative to the focus grows by it (added to the z drift; a Z-lock must cancel it).
    Placement (:mod:`.placement`): every bead, tethered or stuck, at least ``min_separation_px``
    from every other in x or in y (default: ``roi_size_px`` + 6, so the square tracking ROIs of
    that side never share a pixel; the daemon sets ``roi_size_px`` from ``[tracking] roi_size``)
    and ``edge_margin_px`` from the image edge (default: half a ROI + 8 px). A frame too small
    for that gets tighter beads (never closer than a bead's ring radius; a warning is logged) or
    a :class:`~.placement.PlacementError`. The ``default_*`` positions apply to axes no motor has
    written yet. ``seed`` seeds everything (None = random).
    """

    n_beads: int = 20
    n_reference_beads: int = 3
    seed: int | None = 0
    bead_radius_nm: float = 500.0
    contour_length_nm: float = 1000.0
    contour_length_spread: float = 0.03
    persistence_length_nm: float = 50.0
    twist_persistence_nm: float = 100.0
    nicked_fraction: float = 0.0
    F0_pN: float = 40.0
    force_decay_mm: float = 1.0
    force_spread: float = 0.05
    min_force_pN: float = 0.02
    melting_force_pN: float = 0.5
    temperature_K: float = 296.15
    viscosity_pN_s_per_nm2: float = 1e-9
    surface_correction: bool = True
    drift_velocity_nm_per_s: tuple[float, float, float] = (0.2, -0.15, 0.1)
    drift_diffusion_nm2_per_s: float = 0.5
    focus_drift_nm_per_min: float = 0.0
    roi_size_px: int = 64
    min_separation_px: float | None = None
    edge_margin_px: float | None = None
    default_magnet_height_mm: float = 10.0
    default_magnet_rotation_turns: float = 0.0
    default_focus_nm: float = 0.0

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def __post_init__(self) -> None:
        if self.n_beads < 0 or self.n_reference_beads < 0:
            raise ValueError("n_beads and n_reference_beads must be ≥ 0")
        for name in (
            "bead_radius_nm",
            "contour_length_nm",
            "persistence_length_nm",
            "twist_persistence_nm",
            "F0_pN",
            "force_decay_mm",
            "min_force_pN",
            "temperature_K",
            "viscosity_pN_s_per_nm2",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if len(self.drift_velocity_nm_per_s) != 3:
            raise ValueError("drift_velocity_nm_per_s must have three values (x, y, z)")
        if not 0.0 <= self.nicked_fraction <= 1.0:
            raise ValueError("nicked_fraction must lie in [0, 1]")
        if self.roi_size_px < 1:
            raise ValueError(f"roi_size_px must be ≥ 1, got {self.roi_size_px!r}")
        for name in ("min_separation_px", "edge_margin_px"):
            if getattr(self, name) is not None and not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)!r}")

    @property
    def separation_px(self) -> float:
        """Distance (px, in x or in y) asked between any two beads."""
        if self.min_separation_px is not None:
            return float(self.min_separation_px)
        return self.roi_size_px + placement.ROI_GAP_PX

    @property
    def margin_px(self) -> float:
        """Distance (px) asked from a bead's centre to the frame edge."""
        if self.edge_margin_px is not None:
            return float(self.edge_margin_px)
        return self.roi_size_px / 2 + placement.EDGE_GAP_PX

    def layout(self, width: int, height: int, optics: OpticsParams) -> placement.Plan:
        """The bead layout on a ``width`` × ``height`` px frame; :class:`PlacementError` if
        the beads do not fit (see :func:`.placement.plan`)."""
        return placement.plan(
            self.n_beads + self.n_reference_beads,
            width,
            height,
            spacing_px=self.separation_px,
            floor_px=placement.ring_radius_px(optics),
            margin_px=self.margin_px,
        )


@dataclass(frozen=True)
class WorldSample:
    """The world during one exposure; arrays have shape (n_beads + n_reference_beads,).

    ``x_nm``, ``y_nm``, ``z_nm``: bead centres averaged over the exposure (what the image shows).
    ``force_pN``, ``extension_nm``: force and mean extension (0 for reference beads).
    ``drift_nm``: (3,) sample drift (x, y, z).
    """

    time: float
    x_nm: np.ndarray
    y_nm: np.ndarray
    z_nm: np.ndarray
    force_pN: np.ndarray
    extension_nm: np.ndarray
    drift_nm: np.ndarray


class World:
    """The beads of one sample and their state; deterministic for a given seeded ``rng``.

    ``field_nm`` = (width, height) of the camera field in nm; ``pixel_size_nm`` converts the
    placement parameters; ``optics`` (default: the default optics at this pixel size) gives the
    ring radius, the closest two beads may be. Tethered beads are indices ``0 … n_beads−1``,
    reference beads follow. Raises :class:`~.placement.PlacementError` if the beads do not fit.
    """

    def __init__(
        self,
        params: WorldParams,
        field_nm: tuple[float, float],
        pixel_size_nm: float,
        rng: np.random.Generator,
        optics: OpticsParams | None = None,
    ) -> None:
        self.params = params
        self.rng = rng
        self.kt = physics.thermal_energy(params.temperature_K)
        n_t, n_r = params.n_beads, params.n_reference_beads
        n = n_t + n_r
        self.is_reference = np.zeros(n, dtype=bool)
        self.is_reference[n_t:] = True
        optics = OpticsParams(pixel_size_nm=pixel_size_nm) if optics is None else optics
        self.anchors_nm = self._place(field_nm, pixel_size_nm, optics)
        self.contour_nm = params.contour_length_nm * np.clip(
            1.0 + params.contour_length_spread * rng.standard_normal(n_t), 0.5, 1.5
        )
        self.force_factor = np.clip(1.0 + params.force_spread * rng.standard_normal(n_t), 0.5, 1.5)
        self.nicked = rng.random(n_t) < params.nicked_fraction
        self._gamma0 = physics.stokes_drag(params.bead_radius_nm, params.viscosity_pN_s_per_nm2)
        self._state: np.ndarray | None = None  # (3, n_t) bead centres relative to the surface
        self._t_end: float | None = None
        self._t_last: float | None = None
        self._walk = np.zeros(3)
        self._cache_key: tuple[float, float] | None = None
        self._cache: tuple[np.ndarray, ...] | None = None
        self._ou_key: tuple[float, float] | None = None
        self._ou_cache: tuple[np.ndarray, ...] | None = None

    @property
    def n_total(self) -> int:
        return len(self.is_reference)

    def _place(
        self, field_nm: tuple[float, float], pixel_nm: float, optics: OpticsParams
    ) -> np.ndarray:
        """Anchor points (n, 2) in nm: the layout of :meth:`WorldParams.layout`."""
        width, height = (round(f / pixel_nm) for f in field_nm)
        layout = self.params.layout(width, height, optics)
        if layout.degraded:
            log.warning("simulated beads: %s", layout.degraded)
        return placement.place(layout, self.rng) * pixel_nm

    def tether_state(
        self, magnet_height_mm: float, rotation_turns: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(force pN, extension nm, y stiffness pN/nm, axial stiffness pN/nm) per tether.

        The magnets' field points along x. Across it (y) the bead turns about the field axis: a
        long pendulum, k_y = F/(L + R); along it (x) the bead cannot turn, a short pendulum,
        k_x = F/L (Daldrop et al. 2015), see :meth:`_ou_parameters`.
        """
        key = (float(magnet_height_mm), float(rotation_turns))
        if key == self._cache_key and self._cache is not None:
            return self._cache  # type: ignore[return-value]
        p = self.params
        force = np.maximum(
            physics.magnet_force(magnet_height_mm, p.F0_pN, p.force_decay_mm) * self.force_factor,
            p.min_force_pN,
        )
        relaxed = physics.wlc_extension(force, self.contour_nm, p.persistence_length_nm, self.kt)
        extension = physics.supercoiled_extension(
            relaxed,
            force,
            rotation_turns,
            self.contour_nm,
            p.persistence_length_nm,
            p.twist_persistence_nm,
            self.kt,
            p.melting_force_pN,
            self.nicked,
        )
        # axial stiffness: the WLC slope at the same relative extension, for the contour that
        # is not in the plectoneme (Lc_eff = Lc·l/l0)
        k_z0 = physics.wlc_stiffness(relaxed, self.contour_nm, p.persistence_length_nm, self.kt)
        k_z = k_z0 * relaxed / np.maximum(extension, 1.0)
        k_y = force / (extension + p.bead_radius_nm)  # long pendulum across the field
        self._cache_key, self._cache = key, (force, extension, k_y, k_z)
        return force, extension, k_y, k_z

    def _ou_parameters(
        self, magnet_height_mm: float, rotation_turns: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Mean, variance and time constant, each (3, n_tethered), plus force and extension."""
        key = (float(magnet_height_mm), float(rotation_turns))
        if key == self._ou_key and self._ou_cache is not None:
            return self._ou_cache  # type: ignore[return-value]
        p = self.params
        force, extension, k_y, k_z = self.tether_state(magnet_height_mm, rotation_turns)
        k_x = force / np.maximum(extension, 1.0)  # short pendulum along the field
        n_t = p.n_beads
        height = extension + p.bead_radius_nm
        if p.surface_correction:
            f_par, f_perp = physics.surface_drag_factors(p.bead_radius_nm, height)
        else:
            f_par = f_perp = np.ones(n_t)
        mean = np.stack([self.anchors_nm[:n_t, 0], self.anchors_nm[:n_t, 1], height])
        stiffness = np.stack([k_x, k_y, k_z])
        variance = self.kt / stiffness
        tau = np.maximum(self._gamma0 * np.stack([f_par, f_par, f_perp]) / stiffness, 1e-12)
        self._ou_key, self._ou_cache = key, (mean, variance, tau, force, extension)
        return mean, variance, tau, force, extension

    def step(
        self, t: float, exposure: float, magnet_height_mm: float, rotation_turns: float
    ) -> WorldSample:
        """Advance to the exposure centred on ``t`` s (sample time) lasting ``exposure`` s.

        Brownian motion is an exact Ornstein–Uhlenbeck update between exposures and an exact
        joint draw of (end position, exposure average) across each exposure; the tether
        parameters are held at their values for ``t`` during the frame. Times must increase.
        """
        p = self.params
        mean, variance, tau, force, extension = self._ou_parameters(
            magnet_height_mm, rotation_turns
        )
        start = t - 0.5 * exposure
        if self._state is None:
            self._state = mean + np.sqrt(variance) * self.rng.standard_normal(mean.shape)
            dt_drift = 0.0
        else:
            gap = start - (self._t_end if self._t_end is not None else start)
            self._state = physics.ou_step(self._state, mean, variance, tau, gap, self.rng)
            dt_drift = t - (self._t_last if self._t_last is not None else t)
        end, averaged = physics.ou_exposure_step(
            self._state, mean, variance, tau, exposure, self.rng
        )
        floor = p.bead_radius_nm  # a bead cannot enter the surface
        end[2] = np.maximum(end[2], floor)
        averaged[2] = np.maximum(averaged[2], floor)
        self._state = end
        self._t_end = t + 0.5 * exposure
        self._t_last = t
        if dt_drift > 0.0:
            self._walk += np.sqrt(2.0 * p.drift_diffusion_nm2_per_s * dt_drift) * (
                self.rng.standard_normal(3)
            )
        drift = np.asarray(p.drift_velocity_nm_per_s, dtype=np.float64) * t + self._walk
        drift[2] += p.focus_drift_nm_per_min / 60.0 * t
        n = self.n_total
        n_t = p.n_beads
        x = np.empty(n)
        y = np.empty(n)
        z = np.empty(n)
        x[:n_t], y[:n_t], z[:n_t] = averaged
        x[n_t:] = self.anchors_nm[n_t:, 0]
        y[n_t:] = self.anchors_nm[n_t:, 1]
        z[n_t:] = p.bead_radius_nm
        forces = np.zeros(n)
        forces[:n_t] = force
        extensions = np.zeros(n)
        extensions[:n_t] = extension
        return WorldSample(
            time=t,
            x_nm=x + drift[0],
            y_nm=y + drift[1],
            z_nm=z + drift[2],
            force_pN=forces,
            extension_nm=extensions,
            drift_nm=drift,
        )


def simulation_params(
    values: Mapping[str, Any] | None = None, **overrides: Any
) -> tuple[WorldParams, OpticsParams]:
    """Split a flat ``[simulation]`` mapping into (:class:`WorldParams`, :class:`OpticsParams`).

    Keys are the fields of either class (their names do not overlap); ``overrides`` that are not
    None win. Raises ValueError for an unknown key and TypeError/ValueError for a bad value.
    """
    merged = dict(values or {})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    world_keys = set(WorldParams.field_names())
    optics_keys = {f.name for f in fields(OpticsParams)}
    unknown = sorted(set(merged) - world_keys - optics_keys)
    if unknown:
        raise ValueError(f"unknown simulation parameter(s): {', '.join(unknown)}")
    world = {k: v for k, v in merged.items() if k in world_keys}
    if "drift_velocity_nm_per_s" in world:
        world["drift_velocity_nm_per_s"] = tuple(float(v) for v in world["drift_velocity_nm_per_s"])
    optics = {k: float(v) for k, v in merged.items() if k in optics_keys}
    return WorldParams(**world), OpticsParams(**optics)
