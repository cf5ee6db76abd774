"""The daemon's configuration: the hardware part (validated by ``magscope_app.hardware.config``)
plus the core's own ``[daemon]`` section.

``[daemon]`` keys (all optional):

* ``video_stacks`` (int ≥ 2): stacks in the VideoBuffer ring;
* ``images_per_stack`` (int ≥ 1): frames per stack (1 gives the lowest tracking latency);
* ``max_worker_crashes`` (int ≥ 1): crashes within a minute after which a worker is given up;
* ``client_queue_events`` (int ≥ 16): events queued per subscribed client before they are dropped
  (and counted, and reported to that client);
* ``client_stuck_s`` (int ≥ 1): seconds a client's event queue may stay full before the daemon
  disconnects that client.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields, replace
from os import PathLike
from typing import Any

from .hardware.config import ConfigError, DeviceSpec, HardwareConfig, load_config
from .hardware.registry import load_driver
from .tracking_config import TrackingConfig

__all__ = ["ConfigError", "DaemonConfig", "DaemonSettings", "load_daemon_config"]


_MINIMA = {
    "video_stacks": 2,
    "images_per_stack": 1,
    "max_worker_crashes": 1,
    "client_queue_events": 16,
    "client_stuck_s": 1,
}


@dataclass(frozen=True)
class DaemonSettings:
    """The ``[daemon]`` section."""

    video_stacks: int = 32
    images_per_stack: int = 4
    max_worker_crashes: int = 5
    client_queue_events: int = 4096
    client_stuck_s: int = 10

    @classmethod
    def from_table(cls, table: Any, source: str) -> DaemonSettings:
        if not isinstance(table, dict):
            raise ConfigError(source, "daemon", f"must be a table, got {table!r}")
        known = {f.name for f in fields(cls)}
        for key, value in table.items():
            if key not in known:
                raise ConfigError(
                    source, f"daemon.{key}", f"unknown key (known: {', '.join(sorted(known))})"
                )
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(source, f"daemon.{key}", f"must be an integer, got {value!r}")
            if value < _MINIMA[key]:
                raise ConfigError(
                    source, f"daemon.{key}", f"must be at least {_MINIMA[key]}, got {value}"
                )
        return cls(**table)


@dataclass(frozen=True)
class DaemonConfig:
    """Everything the daemon is started with."""

    hardware: HardwareConfig
    daemon: DaemonSettings = DaemonSettings()
    start_paused: bool = False
    tracking: TrackingConfig = TrackingConfig()  # noqa: RUF009 - frozen; the [tracking] section

    @property
    def source(self) -> str:
        return self.hardware.source

    @property
    def camera(self) -> DeviceSpec:
        return self.hardware.camera

    def daemon_resources(self) -> dict[str, Any]:
        """Shared resources the configured drivers need before their workers start (name ->
        ``factory(instance)``; see ``Device.daemon_resources``)."""
        specs = [self.hardware.camera, *self.hardware.motors.values()]
        out: dict[str, Any] = {}
        for spec in specs:
            out.update(load_driver(spec.driver).daemon_resources())
        return out

    def camera_geometry(self) -> dict[str, int]:
        """Frame ``width``, ``height`` (px) and ``bits`` from the camera section, falling back to
        the driver's defaults. Raises ConfigError if neither gives them."""
        spec = self.hardware.camera
        try:
            defaults = inspect.signature(load_driver(spec.driver)).parameters
        except (LookupError, ImportError) as exc:
            raise ConfigError(spec.source, "camera.driver", str(exc)) from exc
        geometry = {}
        for key in ("width", "height", "bits"):
            value = spec.params.get(key, getattr(defaults.get(key), "default", None))
            if not isinstance(value, int) or value is inspect.Parameter.empty:
                raise ConfigError(spec.source, f"camera.{key}", "required by this camera driver")
            geometry[key] = value
        return geometry


def load_daemon_config(
    path: str | PathLike[str] | None = None, *, start_paused: bool = False
) -> DaemonConfig:
    """Load and validate a config file (None: the built-in simulated microscope)."""
    hardware = load_config(path)
    daemon = DaemonSettings.from_table(hardware.other.get("daemon", {}), hardware.source)
    tracking = TrackingConfig.from_table(
        hardware.other.get("tracking", {}), hardware.source, hardware.simulation
    )
    camera = hardware.camera
    if camera.simulation is not None and "roi_size_px" not in camera.simulation:
        # the simulator spaces its beads so that ROIs of the tracking size do not overlap
        simulation = {**camera.simulation, "roi_size_px": tracking.roi_size}
        hardware = replace(hardware, camera=replace(camera, simulation=simulation))
    return DaemonConfig(
        hardware=hardware, daemon=daemon, start_paused=start_paused, tracking=tracking
    )
