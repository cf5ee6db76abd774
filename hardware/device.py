"""The base of every device: lifecycle and introspectable settings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .errors import SettingError
from .settings import Setting


@dataclass(frozen=True)
class DeviceCommand:
    """A control command a driver adds to the daemon (e.g. the simulator's ground truth).

    The daemon registers a command ``name`` whose arguments are ``params`` (name, kind, unit,
    range and description as for settings; those named in ``optional`` may be left out and are
    then None); the device's worker answers it by calling ``getattr(device, method)(**args)``,
    which returns a JSON-ready value or raises :class:`~.errors.HardwareError` / ValueError.
    For a camera, a parameter named ``frame`` is a frame counter in the daemon's numbering (the
    Frames buffer): the camera worker passes the camera's own number of that frame (None: the
    newest) and adds ``frame`` to a dict result.
    """

    name: str
    method: str
    help: str
    params: tuple[Setting, ...] = ()
    optional: tuple[str, ...] = ()


class Device(ABC):
    """A device with a name, an open/close lifecycle and a list of settings.

    Subclasses describe their settings in :meth:`settings` and implement :meth:`_read_setting`
    and :meth:`_write_setting`; :meth:`set_setting` validates against the description before the
    device is touched, so a bad value never reaches the hardware.
    """

    #: The device kind: "camera", "linear_motor", "rotary_motor" or "focus_stage".
    kind: str = "device"
    #: Control commands this driver adds to the daemon (see :class:`DeviceCommand`).
    extra_commands: ClassVar[tuple[DeviceCommand, ...]] = ()

    @classmethod
    def daemon_resources(cls) -> dict[str, Callable[[str], Any]]:
        """Shared resources the daemon must create before the devices of this driver start:
        name -> ``factory(instance)`` returning an object with ``unlink()`` (called at stop).
        Drivers returning the same name share one resource (created once)."""
        return {}

    def __init__(self, name: str) -> None:
        self.name = name

    def open(self) -> None:  # noqa: B027 - optional hook
        """Connect to the hardware. Idempotent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the hardware. Idempotent; never raises for a device already closed."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def settings(self) -> list[Setting]:
        """Every setting this device has, in display order."""

    @abstractmethod
    def _read_setting(self, name: str) -> Any: ...

    def _write_setting(self, name: str, value: Any) -> None:
        raise SettingError(f"{self.name}: setting {name!r} cannot be written")

    def _setting(self, name: str) -> Setting:
        for setting in self.settings():
            if setting.name == name:
                return setting
        known = ", ".join(s.name for s in self.settings())
        raise SettingError(f"{self.name}: no setting {name!r} (known: {known})")

    def get_setting(self, name: str) -> Any:
        """Current value of setting ``name``."""
        self._setting(name)
        return self._read_setting(name)

    def set_setting(self, name: str, value: Any) -> None:
        """Validate ``value`` against the setting's description, then write it."""
        self._write_setting(name, self._setting(name).validate(value, device=self.name))

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: name, kind, driver and every setting with its current value."""
        return {
            "name": self.name,
            "kind": self.kind,
            "driver": f"{type(self).__module__}.{type(self).__qualname__}",
            "settings": [
                {**s.to_dict(), "value": self._read_setting(s.name)} for s in self.settings()
            ],
        }
