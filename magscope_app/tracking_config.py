"""The ``[tracking]`` section of the daemon config.

Keys (all optional):

* ``workers`` (int, 0–64, default 2): tracking worker processes; 0 turns live tracking off;
* ``roi_size`` (even int, 16–256, default 64): side of a bead's square ROI (px);
* ``pixel_size_nm`` (float > 0): camera pixel size in the sample plane (nm, i.e. the physical
  pixel divided by the magnification). Default: ``[simulation] pixel_size_nm`` for the simulated
  microscope, else 100 nm (status reports where the value came from);
* any field of :class:`~magscope_app.tracking.TrackingSettings` (``radial_step_px``,
  ``radial_max_px``, ``xy_iterations``, …): the tracking settings live tracking starts with.

A bad value raises :class:`ConfigError` naming the file, the key and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from .hardware.config import ConfigError
from .tracking.settings import TrackingSettings

#: ROI sides accepted for the ``roi_size`` key and the ``set_roi_size`` command (px).
ROI_SIZE_MIN, ROI_SIZE_MAX = 16, 256
MAX_WORKERS = 64
#: Pixel size (nm) of the simulated microscope when neither section gives one.
DEFAULT_PIXEL_SIZE_NM = 100.0

_SETTING_TYPES: dict[str, type] = {
    f.name: (int if f.type in ("int", int) else float) for f in fields(TrackingSettings)
}


def roi_size_problem(size: Any) -> str | None:
    """Why ``size`` is not a valid ROI side, or None if it is."""
    if isinstance(size, bool) or not isinstance(size, int):
        return f"must be an even integer, got {size!r}"
    if size % 2 or not ROI_SIZE_MIN <= size <= ROI_SIZE_MAX:
        return f"must be an even integer in {ROI_SIZE_MIN}…{ROI_SIZE_MAX}, got {size}"
    return None


def settings_from_mapping(values: dict[str, Any], base: TrackingSettings) -> TrackingSettings:
    """``base`` with ``values`` replaced; ValueError naming the key for a bad or unknown one."""
    merged = base.to_dict()
    for key, value in values.items():
        if key not in _SETTING_TYPES:
            raise ValueError(
                f"{key}: unknown tracking setting (known: {', '.join(_SETTING_TYPES)})"
            )
        kind = _SETTING_TYPES[key]
        ok_types = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_types):
            raise ValueError(f"{key}: must be {'an integer' if kind is int else 'a number'}")
        merged[key] = kind(value)
    return TrackingSettings(**merged)  # __post_init__ raises ValueError for bad values


@dataclass(frozen=True)
class TrackingConfig:
    """The parsed ``[tracking]`` section; ``pixel_size_source`` says where the pixel size is from
    (``"tracking"``, ``"simulation"`` or ``"default"``)."""

    workers: int = 2
    roi_size: int = 64
    pixel_size_nm: float = DEFAULT_PIXEL_SIZE_NM
    pixel_size_source: str = "default"
    settings: TrackingSettings = field(default_factory=TrackingSettings)

    @classmethod
    def from_table(
        cls, table: Any, source: str, simulation: dict[str, Any] | None = None
    ) -> TrackingConfig:
        """Validate ``[tracking]`` (``table``) of file ``source``; ``simulation`` is the
        ``[simulation]`` table (for its ``pixel_size_nm``)."""
        if not isinstance(table, dict):
            raise ConfigError(source, "tracking", f"must be a table, got {table!r}")
        table = dict(table)
        workers = table.pop("workers", 2)
        if isinstance(workers, bool) or not isinstance(workers, int):
            raise ConfigError(source, "tracking.workers", f"must be an integer, got {workers!r}")
        if not 0 <= workers <= MAX_WORKERS:
            raise ConfigError(source, "tracking.workers", f"must be in 0…{MAX_WORKERS}")
        roi_size = table.pop("roi_size", 64)
        if problem := roi_size_problem(roi_size):
            raise ConfigError(source, "tracking.roi_size", problem)
        pixel, origin = DEFAULT_PIXEL_SIZE_NM, "default"
        sim_pixel = (simulation or {}).get("pixel_size_nm")
        if sim_pixel is not None:
            pixel, origin = float(sim_pixel), "simulation"
        if "pixel_size_nm" in table:
            value = table.pop("pixel_size_nm")
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(
                    source, "tracking.pixel_size_nm", f"must be a number > 0, got {value!r}"
                )
            pixel, origin = float(value), "tracking"
        try:
            settings = settings_from_mapping(table, TrackingSettings())
        except ValueError as exc:
            key, _, problem = str(exc).partition(": ")
            if key in _SETTING_TYPES and problem:
                raise ConfigError(source, f"tracking.{key}", problem) from None
            raise ConfigError(source, "tracking", str(exc)) from None
        return cls(workers, roi_size, pixel, origin, settings)
