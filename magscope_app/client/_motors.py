"""Motors: ``scope.motors["magnet_height"]``, ``scope.focus``, ``scope.rotation`` and the
:class:`MoveHandle` every motion command returns.

Units are the motor's own (``Motor.unit``): mm for the magnet height, turns for the rotation,
nm for the focus. A target outside the soft limits raises
:class:`~magscope_app.control.errors.LimitExceeded` and nothing moves.

A handle learns that its move is over from the daemon's ``motor`` event ``settled`` (the first
telemetry sample at rest after the command); it also asks ``motor_state`` twice a second while
waiting, so a lost event can delay it but never hang it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ._devices import DeviceSettings
from ._events import Event
from ._status import MotorState

if TYPE_CHECKING:
    from ._scope import Scope

#: Interval (s) of the motor_state check while waiting for a move.
CHECK_S = 0.5


class MoveHandle:
    """A motion (move, home) the daemon accepted.

    ``target`` (motor unit) is where it goes; ``done`` tells whether it is over; ``wait()`` blocks
    until then and returns the final :class:`MotorState`; ``cancel()`` stops the motor.
    """

    def __init__(self, motor: Motor, accepted: dict[str, Any]) -> None:
        self.motor = motor
        self.target: float = accepted["target"]
        self.accepted_time: float = accepted["time"]
        self.cancelled = False
        self._settled = threading.Event()
        self._final: MotorState | None = None
        self._last_check = 0.0

    def _settle(self, state: MotorState) -> None:
        if state.time is not None and state.time >= self.accepted_time:
            self._final = state
            self._settled.set()

    def _check(self) -> bool:
        """Ask the daemon (at most every CHECK_S) whether the motor is at rest since."""
        now = time.monotonic()
        if now - self._last_check >= CHECK_S:
            self._last_check = now
            state = self.motor.state()
            if state.moving is False:
                self._settle(state)
        return self._settled.is_set()

    @property
    def done(self) -> bool:
        """True once the motor is at rest after this command (or a later one)."""
        return self._settled.is_set() or self._check()

    @property
    def final(self) -> MotorState | None:
        """The state at rest after the move, once :attr:`done`."""
        return self._final

    def wait(self, timeout: float | None = None) -> MotorState:
        """Block until the move is over (at most ``timeout`` s; None: no limit) and return the
        state at rest; TimeoutError naming where the motor is if it is still moving."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._settled.is_set():
            step = CHECK_S if deadline is None else min(CHECK_S, deadline - time.monotonic())
            if step <= 0:
                state = self.motor.state()
                raise TimeoutError(
                    f"{self.motor.name} still moving after {timeout:g} s "
                    f"(at {state.position} {self.motor.unit}, target {self.target:g})"
                )
            if not self._settled.wait(step):
                self._check()
        assert self._final is not None
        return self._final

    def cancel(self) -> MotorState:
        """Stop the motor now; returns its state when the stop was accepted."""
        self.cancelled = True
        return self.motor.stop()

    def __repr__(self) -> str:
        state = "done" if self._settled.is_set() else "moving"
        return f"<MoveHandle {self.motor.name} -> {self.target:g} {self.motor.unit} ({state})>"


class Motor:
    """One motor of the daemon, in its ``unit``; ``limits`` are the soft limits (lower, upper)."""

    def __init__(self, scope: Scope, description: dict[str, Any], motors: Motors) -> None:
        self._scope = scope
        self._motors = motors
        self.name: str = description["name"]
        self.kind: str = description.get("kind", "")
        self.unit: str = description.get("unit", "")
        limits = description.get("limits")
        self.limits: tuple[float, float] | None = tuple(limits) if limits else None
        self.settings = DeviceSettings(scope, self.name)

    def state(self) -> MotorState:
        """The newest telemetry (position, target, moving, time, age_s)."""
        return MotorState.from_dict(self._scope.call("motor_state", motor=self.name))

    @property
    def position(self) -> float | None:
        """Position now (motor unit; from telemetry at most ~0.2 s old)."""
        return self.state().position

    @property
    def target(self) -> float | None:
        """Current target (motor unit)."""
        return self.state().target

    @property
    def moving(self) -> bool | None:
        return self.state().moving

    def move_to(
        self, position: float, *, wait: bool = False, timeout: float | None = None
    ) -> MoveHandle:
        """Start an absolute move to ``position`` (motor unit). ``wait=True`` returns once the
        motor is at rest (at most ``timeout`` s). LimitExceeded outside the soft limits."""
        return self._start("move", {"position": position}, wait, timeout)

    def move_by(
        self, delta: float, *, wait: bool = False, timeout: float | None = None
    ) -> MoveHandle:
        """Start a move by ``delta`` (motor unit) from the current target; see :meth:`move_to`."""
        return self._start("move_by", {"delta": delta}, wait, timeout)

    def home(self, *, wait: bool = False, timeout: float | None = None) -> MoveHandle:
        """Start the homing move; see :meth:`move_to`."""
        return self._start("home", {}, wait, timeout)

    def stop(self) -> MotorState:
        """Stop now; returns the state when the stop was accepted."""
        return MotorState.from_dict(self._scope.call("stop_motor", motor=self.name))

    def _start(
        self, command: str, args: dict[str, Any], wait: bool, timeout: float | None
    ) -> MoveHandle:
        self._motors._listen()
        accepted = self._scope.call(command, motor=self.name, **args)
        handle = MoveHandle(self, accepted)
        self._motors._register(handle)
        if wait:
            handle.wait(timeout)
        return handle

    def __repr__(self) -> str:
        return f"<Motor {self.name} ({self.kind}, {self.unit}, limits {self.limits})>"


class Motors(Mapping[str, Motor]):
    """The daemon's motors by name (read from ``devices`` once)."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._motors: dict[str, Motor] | None = None
        self._lock = threading.Lock()
        self._listening = False
        self._handles: list[MoveHandle] = []
        self._last_settled: dict[str, MotorState] = {}

    def _all(self) -> dict[str, Motor]:
        if self._motors is None:
            self._motors = {
                d["name"]: Motor(self._scope, d, self)
                for d in self._scope._devices()
                if d.get("kind") != "camera"
            }
        return self._motors

    def __getitem__(self, name: str) -> Motor:
        motors = self._all()
        if name not in motors:
            raise KeyError(f"unknown motor {name!r} (motors: {', '.join(motors) or 'none'})")
        return motors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def of_kind(self, kind: str, what: str) -> Motor:
        """The one motor of ``kind`` (e.g. ``focus_stage``); LookupError if there is none."""
        for motor in self._all().values():
            if motor.kind == kind:
                return motor
        raise LookupError(f"no {what} is configured (no motor of kind {kind!r})")

    def stop_all(self) -> dict[str, Any]:
        """Stop every motor; answers each motor's state or its error text."""
        return self._scope.call("stop_motors")

    # -- move handles -------------------------------------------------------------------------
    def _listen(self) -> None:
        with self._lock:
            if not self._listening:
                self._scope._connection.events.watch("motor", self._on_event)
                self._listening = True

    def _register(self, handle: MoveHandle) -> None:
        with self._lock:
            last = self._last_settled.get(handle.motor.name)
            if last is not None:
                handle._settle(last)  # the settle event may have come before the reply
            if not handle._settled.is_set():
                self._handles.append(handle)

    def _on_event(self, event: Event) -> None:
        """Reader thread: a ``motor`` event settles the handles of that motor."""
        payload = event.payload
        if event.topic != "motor" or payload.get("state") != "settled":
            return
        motor = payload.get("motor")
        unit = self._motors[motor].unit if self._motors and motor in self._motors else ""
        state = MotorState(
            position=payload.get("position"),
            target=payload.get("target"),
            moving=False,
            unit=unit,
            time=payload.get("time"),
            raw=payload,
        )
        with self._lock:
            self._last_settled[motor] = state
            for handle in self._handles:
                if handle.motor.name == motor:
                    handle._settle(state)
            self._handles = [h for h in self._handles if not h._settled.is_set()]
