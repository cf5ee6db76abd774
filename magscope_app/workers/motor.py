"""Motor worker: one process per configured motor (worker name ``motor:<name>``).

It builds the motor from its config section, opens it and then does two things on one thread:

* **Telemetry**: a row ``(time, position, target, moving)`` (see
  :data:`~magscope_app.buffers.layouts.MOTOR_COLUMNS`; time in s since the epoch, position and
  target in the motor's unit, moving 0/1) goes to the MatrixBuffer ``Motor_<name>`` at
  ``rate_hz`` (default 25 Hz) while the motor moves or was commanded within the last
  ``idle_after_s`` seconds, and at ``idle_rate_hz`` (default 5 Hz) after that. Samples follow a
  fixed schedule; between them the worker blocks on its pipe (``receive(timeout=...)`` until
  the next sample is due), so it never spins.
* **Requests**: ``move {position}``, ``move_by {delta}``, ``stop``, ``home``, ``state``,
  ``get_setting {name}``, ``set_setting {name, value}``, ``describe``, each answered with a
  :class:`~magscope_app.ipc.Reply`. A device error (a target outside the soft limits, a bad
  setting, a timeout, a rejected command) is answered as an error; the worker keeps running.
* **Settling**: the first telemetry sample at rest after a motion request is also reported to the
  manager as ``Stats {"settled": state}`` (the ``motor`` event "settled" of the control API).

An exception while building or opening the motor is a crash (the supervisor restarts the worker
with back-off). On :class:`~magscope_app.ipc.Shutdown` (or any exit but a kill) the motor is
stopped, for safety, and closed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from ..buffers import MatrixBuffer
from ..hardware.config import DeviceSpec, create_device
from ..hardware.errors import HardwareError
from ..hardware.motors import Motor, MotorState
from ..ipc import Request, Shutdown, Stats
from ._requests import RequestHandlers, device_command_handlers, setting_handlers
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

#: Telemetry rate while moving or recently commanded (Hz).
RATE_HZ = 25.0
#: Telemetry rate of a motor at rest (Hz).
IDLE_RATE_HZ = 5.0
#: Seconds at rest (no motion, no command) after which the idle rate applies.
IDLE_AFTER_S = 3.0
#: Requests that start or change motion (telemetry switches to the fast rate at once).
MOTION_REQUESTS = frozenset({"move", "move_by", "stop", "home"})


def buffer_name(motor: str) -> str:
    """Name of the telemetry MatrixBuffer of motor ``motor``."""
    return f"Motor_{motor}"


def worker_name(motor: str) -> str:
    """Name of the worker process of motor ``motor``."""
    return f"motor:{motor}"


def state_dict(state: MotorState, unit: str) -> dict[str, Any]:
    """JSON-ready motor state (time in s since the epoch, position/target in ``unit``)."""
    return {
        "time": state.time,
        "position": state.position,
        "target": state.target,
        "moving": bool(state.moving),
        "unit": unit,
    }


def run(
    ctx: WorkerContext,
    *,
    instance: str,
    motor_spec: DeviceSpec,
    locks: dict[str, Any],
    rate_hz: float = RATE_HZ,
    idle_rate_hz: float = IDLE_RATE_HZ,
    idle_after_s: float = IDLE_AFTER_S,
) -> None:
    """Worker job; returns on :class:`Shutdown` or when the manager goes away."""
    motor = create_device(motor_spec, instance=instance)
    if not isinstance(motor, Motor):
        raise TypeError(f"{motor_spec.name}: driver {motor_spec.driver!r} is not a motor")
    telemetry = MatrixBuffer(
        create=False, locks=locks, instance=instance, name=buffer_name(motor_spec.name)
    )
    try:
        motor.open()
        try:
            _MotorLoop(ctx, motor, telemetry, rate_hz, idle_rate_hz, idle_after_s).run()
        finally:
            _stop_safely(motor)
    finally:
        motor.close()
        telemetry.close()


def _stop_safely(motor: Motor) -> None:
    try:
        motor.stop()
    except Exception as exc:  # closing must go on; the error is worth a loud log line
        log.error("%s: could not stop the motor on exit: %s", motor.name, exc)


class _MotorLoop:
    """The worker's loop: fixed-rate telemetry plus request handling on one thread."""

    def __init__(
        self,
        ctx: WorkerContext,
        motor: Motor,
        telemetry: MatrixBuffer,
        rate_hz: float,
        idle_rate_hz: float,
        idle_after_s: float,
    ) -> None:
        self.ctx = ctx
        self.motor = motor
        self.telemetry = telemetry
        self.period = 1.0 / rate_hz
        self.idle_period = 1.0 / min(idle_rate_hz, rate_hz)
        self.idle_after_s = idle_after_s
        self.last_active = time.monotonic()  # last time the motor moved or was commanded
        self.error: str | None = None  # the sampling error being reported, if any
        self.settle_pending = False  # a motion request was answered; report when at rest
        self.requests = RequestHandlers(motor.name, setting_handlers(motor))
        self.requests.add(device_command_handlers(motor))
        self.requests.add({
            "describe": self._describe,
            "move": lambda position: self._moved(motor.move_to(position)),
            "move_by": lambda delta: self._moved(motor.move_by(delta)),
            "stop": lambda: self._moved(motor.stop()),
            "home": lambda: self._moved(motor.home()),
            "state": lambda: state_dict(motor.state(), motor.unit),
        })  # fmt: skip

    def run(self) -> None:
        motor = self.motor
        self.ctx.ready(kind=motor.kind, unit=motor.unit, limits=list(motor.limits))
        log.info(
            "motor worker %s: %s (%s) publishing to %s",
            motor.name, type(motor).__name__, motor.unit, self.telemetry.describe()["shm_name"],
        )  # fmt: skip
        next_due = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_due:
                self._sample()
                next_due += self._current_period(now)
                if next_due < now:  # fell behind (a slow device): resume the schedule from now
                    next_due = now + self._current_period(now)
            message = self.ctx.receive(timeout=max(0.0, next_due - time.monotonic()))
            if isinstance(message, Shutdown):
                return
            self.requests.serve(self.ctx, message)
            if isinstance(message, Request) and message.command in MOTION_REQUESTS:
                self.settle_pending = True
                self.last_active = time.monotonic()
                next_due = self.last_active  # show the new motion at once, at the fast rate
            # Pause/Resume concern the camera; nothing else is expected.

    def _current_period(self, now: float) -> float:
        if now - self.last_active < self.idle_after_s:
            return self.period
        return self.idle_period

    def _sample(self) -> None:
        """Write one telemetry row; a device error is reported (once) instead of a row."""
        try:
            state = self.motor.state()
        except HardwareError as exc:
            if self.error != str(exc):
                log.warning("%s: telemetry failed: %s", self.motor.name, exc)
                self._report_error(str(exc))
            return
        if self.error is not None:
            log.info("%s: telemetry works again", self.motor.name)
            self._report_error(None)
        if state.moving:
            self.last_active = time.monotonic()
        self.telemetry.write(
            np.array([state.time, state.position, state.target, float(state.moving)])
        )
        if self.settle_pending and not state.moving:
            self.settle_pending = False
            self.ctx.send(Stats(self.ctx.name, {"settled": state_dict(state, self.motor.unit)}))

    def _report_error(self, error: str | None) -> None:
        self.error = error
        self.ctx.send(Stats(self.ctx.name, {"error": error}))

    def _moved(self, _: None) -> dict[str, Any]:
        """Reply to a motion request: the state right after the command was accepted."""
        return state_dict(self.motor.state(), self.motor.unit)

    def _describe(self) -> dict[str, Any]:
        return {
            **self.motor.describe(),
            "unit": self.motor.unit,
            "limits": list(self.motor.limits),
        }
