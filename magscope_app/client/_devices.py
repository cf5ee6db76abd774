"""Device settings as a mapping: ``scope.camera.settings["exposure"] = 2.0``.

Reads and writes go to the daemon (``get_setting`` / ``set_setting``), which validates every value
against the device's description (type, unit, range, choices, read-only) and answers
:class:`~magscope_app.control.errors.InvalidArgument` for a bad one; nothing is cached but the
list of names and their descriptions.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._scope import Scope


class DeviceSettings(MutableMapping[str, Any]):
    """The settings of device ``device`` (``"camera"`` or a motor name), values in their units."""

    def __init__(self, scope: Scope, device: str) -> None:
        self._scope = scope
        self.device = device

    def describe(self, name: str | None = None) -> Any:
        """Description of every setting (a dict by name) or of one: kind, unit, minimum, maximum,
        choices, read_only, description and the value when the device list was read."""
        described = {s["name"]: s for s in self._scope._device(self.device).get("settings", [])}
        if name is None:
            return described
        if name not in described:
            known = ", ".join(described)
            raise KeyError(f"{self.device} has no setting {name!r} (settings: {known})")
        return described[name]

    def __getitem__(self, name: str) -> Any:
        return self._scope.call("get_setting", device=self.device, name=name)

    def __setitem__(self, name: str, value: Any) -> None:
        self._scope.call("set_setting", device=self.device, name=name, value=value)

    def set(self, name: str, value: Any) -> Any:
        """Write ``value`` and return the value the device reports back."""
        return self._scope.call("set_setting", device=self.device, name=name, value=value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("device settings cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self.describe())

    def __len__(self) -> int:
        return len(self.describe())

    def __repr__(self) -> str:
        return f"<DeviceSettings of {self.device!r}: {', '.join(self)}>"


class Camera:
    """The camera: ``settings`` (a :class:`DeviceSettings`), acquisition ``pause``/``resume``."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self.settings = DeviceSettings(scope, "camera")

    def pause(self) -> None:
        """Pause acquisition (the camera stops delivering frames)."""
        self._scope.call("pause")

    def resume(self) -> None:
        """Resume acquisition."""
        self._scope.call("resume")

    @property
    def acquiring(self) -> bool:
        """Whether the camera acquires now."""
        return bool(self._scope.call("status")["acquiring"])
