"""Motors: one telemetry buffer and one worker per configured motor, the motion and device
commands of the control API, and each motor's latest state in ``status``.

Commands (every argument validated before anything is sent; a move outside the soft limits is
refused before the device is touched, with an error naming the limit: code ``invalid_argument``,
reason ``limit``; a setting value is checked against the device's description the same way):

* ``devices``: the camera and every motor with kind, driver and settings (with values);
* ``get_setting {device, name}``, ``set_setting {device, name, value}``;
* ``move {motor, position}`` (absolute), ``move_by {motor, delta}``, ``home {motor}``;
* ``stop_motor {motor}``, ``stop_motors`` (all of them);
* ``motor_state {motor}``: the latest telemetry row (position, target, moving, unit, age).

Events (topic ``motor``): ``{motor, state, position, target, time}`` with state ``moving`` (a
move was accepted), ``homing``, ``stopping`` (a stop was requested) and ``settled`` (the first
telemetry sample at rest after a motion command; time is that sample's time).

At daemon shutdown every motor is told to stop before the workers are.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from ..buffers import MatrixBuffer
from ..buffers.layouts import MOTOR_COLUMNS
from ..control.commands import CommandTable, Param
from ..control.protocol import CommandError
from ..hardware.config import ConfigError, DeviceSpec
from ..hardware.errors import SettingError
from ..hardware.registry import load_driver
from ..hardware.settings import Setting
from ..ipc import Ready, Stats, WorkerMessage
from ..workers._runtime import WorkerSpec
from ..workers.motor import buffer_name, worker_name
from ._device_commands import register_device_commands
from .base import DaemonContext, Service
from .camera import CAMERA_WORKER

log = logging.getLogger(__name__)

#: Rows per telemetry buffer: 4096 rows are ~2.7 min at 25 Hz, plenty for a recorder that
#: drains the buffer at least once a second.
TELEMETRY_ROWS = 4096
#: Deadline (s) of a motor request (a serial device answers in well under a second).
REQUEST_TIMEOUT_S = 5.0
#: Deadline (s) of each motor's stop at shutdown.
SHUTDOWN_STOP_TIMEOUT_S = 1.0


class MotorService(Service):
    """Owns the ``Motor_<name>`` buffers and the ``motor:<name>`` workers."""

    name = "motors"

    def __init__(self, ctx: DaemonContext, *, telemetry_rows: int = TELEMETRY_ROWS) -> None:
        super().__init__(ctx)
        self.telemetry_rows = telemetry_rows
        self.specs: dict[str, DeviceSpec] = dict(ctx.config.hardware.motors)
        self.units = {m: _driver_attribute(s, "unit", "") for m, s in self.specs.items()}
        self._buffers: dict[str, MatrixBuffer] = {}  # unlinked by the manager at shutdown
        self._errors: dict[str, str | None] = {}
        self.limits: dict[str, tuple[float, float]] = {
            m: tuple(s.limits) for m, s in self.specs.items() if s.limits is not None
        }
        self._targets: dict[str, float] = {}  # last target a motion command set, per motor
        self._settings: dict[str, dict[str, Setting]] = {}  # device -> described settings

    # -- start --------------------------------------------------------------------------------
    def start(self) -> None:
        ctx = self.ctx
        for motor, spec in self.specs.items():
            name = buffer_name(motor)
            if not name.replace("_", "").isalnum() or not name.isascii():
                raise ConfigError(
                    spec.source,
                    spec.section,
                    f"motor name {motor!r} must use only letters, digits and '_'",
                )
            ctx.new_lock(name)
            self._buffers[motor] = ctx.add_buffer(
                name,
                MatrixBuffer(
                    create=True,
                    locks=ctx.locks,
                    instance=ctx.instance,
                    name=name,
                    shape=(self.telemetry_rows, len(MOTOR_COLUMNS)),
                ),
            )
        assert ctx.supervisor is not None
        for motor, spec in self.specs.items():
            ctx.supervisor.start(
                WorkerSpec(
                    worker_name(motor),
                    "magscope_app.workers.motor:run",
                    {"instance": ctx.instance, "motor_spec": spec, "locks": ctx.locks},
                )
            )

    # -- commands -----------------------------------------------------------------------------
    def add_commands(self, table: CommandTable) -> None:
        motor = Param("motor", "str", help="motor name (see 'devices')")
        device = Param("device", "str", help="'camera' or a motor name")
        setting = Param("name", "str", help="setting name (see 'devices')")
        table.add("devices", self._devices, help="camera and motors with their settings")
        table.add("get_setting", self._get_setting, device, setting, help="read a setting")
        table.add(
            "set_setting",
            self._set_setting,
            device,
            setting,
            Param("value", "any", help="new value, in the setting's unit"),
            help="change a setting",
        )
        table.add(
            "move",
            self.move_to,
            motor,
            Param("position", "float", help="absolute target in the motor's unit"),
            help="start an absolute move (refused outside the soft limits)",
        )
        table.add(
            "move_by",
            self._move_by,
            motor,
            Param("delta", "float", help="relative move in the motor's unit"),
            help="start a move relative to the current target",
        )
        table.add("home", self._home, motor, help="start the homing move")
        table.add("stop_motor", self._stop_motor, motor, help="stop one motor now")
        table.add("stop_motors", self._stop_motors, help="stop every motor now")
        table.add("motor_state", self._motor_state, motor, help="latest telemetry of a motor")
        for name, spec in self.specs.items():  # commands a motor driver declares
            register_device_commands(table, self.ctx, worker_name(name), load_driver(spec.driver))

    def _check_motor(self, motor: str) -> str:
        if motor not in self.specs:
            known = ", ".join(self.specs) or "none configured"
            raise CommandError("invalid_argument", f"unknown motor {motor!r} (motors: {known})")
        return worker_name(motor)

    async def _request(self, motor: str, command: str, **args: Any) -> Any:
        return await self.ctx.request(
            self._check_motor(motor), command, timeout=REQUEST_TIMEOUT_S, **args
        )

    async def move_to(self, motor: str, position: float) -> dict[str, Any]:
        """Start an absolute move of ``motor`` to ``position`` (motor unit), as the ``move``
        command does: refused before anything moves with a :class:`CommandError` (code
        ``invalid_argument``, reason ``limit``) outside the soft limits or for an unknown motor;
        publishes the ``motor`` event ``moving``. Returns the motor's state once the move has
        started (it does not wait for the end: follow :meth:`latest`)."""
        self._check_limits(motor, position)
        return self._moved(motor, "moving", await self._request(motor, "move", position=position))

    async def _move_by(self, motor: str, delta: float) -> dict[str, Any]:
        self._check_motor(motor)
        target = self._targets.get(motor, self.latest(motor)["target"])
        if target is not None:
            self._check_limits(motor, target + delta)
        return self._moved(motor, "moving", await self._request(motor, "move_by", delta=delta))

    async def _home(self, motor: str) -> dict[str, Any]:
        return self._moved(motor, "homing", await self._request(motor, "home"))

    async def _stop_motor(self, motor: str) -> dict[str, Any]:
        return self._moved(motor, "stopping", await self._request(motor, "stop"))

    def _check_limits(self, motor: str, target: float) -> None:
        """Refuse a target outside the soft limits (invalid_argument, reason "limit")."""
        self._check_motor(motor)
        if motor not in self.limits:
            return  # the worker has not said yet; it checks the target itself
        lower, upper = self.limits[motor]
        unit = self.units[motor]
        where = (
            f"below the lower limit {lower:g} {unit}"
            if target < lower
            else f"above the upper limit {upper:g} {unit}"
            if target > upper
            else None
        )
        if where is not None:
            raise CommandError(
                "invalid_argument", f"{motor}: target {target:g} {unit} is {where}", reason="limit"
            )

    def _moved(self, motor: str, state: str, reply: dict[str, Any]) -> dict[str, Any]:
        """Remember the new target and publish the motion event; returns ``reply``."""
        self._targets[motor] = reply["target"]
        self.ctx.publish("motor", {"motor": motor, "state": state, **_motion(reply)})
        return reply

    async def _stop_motors(self) -> dict[str, Any]:
        """Stop every motor; answers each motor's state, or its error text."""
        results = await asyncio.gather(
            *(self._request(m, "stop") for m in self.specs), return_exceptions=True
        )
        out: dict[str, Any] = {}
        for motor, result in zip(self.specs, results, strict=True):
            if isinstance(result, CommandError):
                out[motor] = {"error": result.message}
            elif isinstance(result, BaseException):
                raise result
            else:
                out[motor] = self._moved(motor, "stopping", result)
        return out

    async def _motor_state(self, motor: str) -> dict[str, Any]:
        self._check_motor(motor)
        return self.latest(motor)

    async def _get_setting(self, device: str, name: str) -> Any:
        if device == "camera":
            return await self.ctx.request(CAMERA_WORKER, "get_setting", name=name)
        return await self._request(self._device_motor(device), "get_setting", name=name)

    async def _set_setting(self, device: str, name: str, value: Any) -> Any:
        await self._check_setting(device, name, value)
        if device == "camera":
            result = await self.ctx.request(CAMERA_WORKER, "set_setting", name=name, value=value)
        else:
            result = await self._request(
                self._device_motor(device), "set_setting", name=name, value=value
            )
        self.ctx.event(f"setting {device}.{name} = {result!r}")
        return result

    async def _check_setting(self, device: str, name: str, value: Any) -> None:
        """Refuse (invalid_argument) an unknown setting or a value its description forbids."""
        worker = CAMERA_WORKER if device == "camera" else worker_name(self._device_motor(device))
        if device not in self._settings:
            described = await self.ctx.request(worker, "describe", timeout=REQUEST_TIMEOUT_S)
            fields = Setting.__dataclass_fields__
            self._settings[device] = {
                d["name"]: Setting(**{k: v for k, v in d.items() if k in fields})
                for d in described["settings"]
            }
        settings = self._settings[device]
        if name not in settings:
            raise CommandError(
                "invalid_argument",
                f"{device}: no setting {name!r} (settings: {', '.join(settings)})",
            )
        try:
            settings[name].validate(value, device=device)
        except SettingError as exc:
            raise CommandError("invalid_argument", str(exc)) from None

    def _device_motor(self, device: str) -> str:
        if device not in self.specs:
            known = ", ".join(["camera", *self.specs])
            raise CommandError("invalid_argument", f"unknown device {device!r} (devices: {known})")
        return device

    async def _devices(self) -> dict[str, Any]:
        """Every device with kind, driver (config name and class) and settings with values."""
        camera = self.ctx.config.camera
        names = [CAMERA_WORKER, *(worker_name(m) for m in self.specs)]
        specs = [camera, *self.specs.values()]
        answers = await asyncio.gather(
            *(self.ctx.request(w, "describe", timeout=REQUEST_TIMEOUT_S) for w in names),
            return_exceptions=True,
        )
        devices = []
        for spec, described in zip(specs, answers, strict=True):
            entry: dict[str, Any] = {"name": spec.name, "driver": spec.driver}
            if isinstance(described, CommandError):
                kind = _driver_attribute(spec, "kind", "device")
                entry |= {"kind": kind, "error": described.message, "settings": []}
            elif isinstance(described, BaseException):
                raise described
            else:
                entry |= {**described, "name": spec.name, "driver": spec.driver}
                entry["driver_class"] = described.get("driver")
            devices.append(entry)
        return {"devices": devices}

    # -- telemetry ----------------------------------------------------------------------------
    def latest(self, motor: str) -> dict[str, Any]:
        """The newest telemetry row of ``motor`` as a dict (values None before the first)."""
        rows = self._buffers[motor].peek_last(1)
        state: dict[str, Any] = {"unit": self.units[motor]}
        if len(rows) == 0 or math.isnan(rows[0, 0]):
            return state | dict.fromkeys(("time", "position", "target", "moving", "age_s"))
        t, position, target, moving = (float(v) for v in rows[0])
        return state | {
            "time": t,
            "position": position,
            "target": target,
            "moving": bool(moving),
            "age_s": max(0.0, time.time() - t),
        }

    def on_message(self, worker: str, message: WorkerMessage) -> None:
        """A motor worker reports telemetry errors (and their end) as Stats ``{"error": …}``,
        the end of a commanded motion as Stats ``{"settled": state}`` and its limits in Ready."""
        if not worker.startswith("motor:"):
            return
        motor = worker.removeprefix("motor:")
        if isinstance(message, Ready) and message.info.get("limits"):
            self.limits[motor] = tuple(message.info["limits"])
        if isinstance(message, Stats) and "error" in message.values:
            self._errors[motor] = message.values["error"]
        if isinstance(message, Stats) and "settled" in message.values:
            state = message.values["settled"]
            self._targets[motor] = state["target"]
            self.ctx.publish("motor", {"motor": motor, "state": "settled", **_motion(state)})

    def on_worker_started(self, worker: str) -> None:
        if worker == CAMERA_WORKER:
            self._settings.pop("camera", None)
        if worker.startswith("motor:"):
            motor = worker.removeprefix("motor:")
            self._errors.pop(motor, None)
            self._targets.pop(motor, None)
            self._settings.pop(motor, None)

    def status(self) -> dict[str, Any]:
        return {
            motor: self.latest(motor) | {"error": self._errors.get(motor)} for motor in self.specs
        }

    # -- stop ---------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop every motor (each worker stops its motor again when it is shut down)."""
        results = await asyncio.gather(
            *(
                self.ctx.request(worker_name(m), "stop", timeout=SHUTDOWN_STOP_TIMEOUT_S)
                for m in self.specs
            ),
            return_exceptions=True,
        )
        for motor, result in zip(self.specs, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("motor %s: stop at shutdown failed: %s", motor, result)


def _motion(state: dict[str, Any]) -> dict[str, Any]:
    """The motion fields of a motor state for an event."""
    return {k: state.get(k) for k in ("position", "target", "time")}


def _driver_attribute(spec: DeviceSpec, attribute: str, default: str) -> str:
    """A class attribute (``unit``, ``kind``) of the driver of ``spec``."""
    try:
        return str(getattr(load_driver(spec.driver), attribute, default))
    except (LookupError, ImportError):
        return default
