"""A driver's own commands (``Device.extra_commands``) become control commands without the core
knowing the driver: declared parameters are validated, the call reaches the device's method."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from magscope_app.hardware.device import Device, DeviceCommand
from magscope_app.hardware.settings import Setting

from magscope_app.control import CommandError
from magscope_app.control.commands import CommandTable
from magscope_app.ipc import Notify, Request
from magscope_app.services._device_commands import register_device_commands
from magscope_app.workers._requests import RequestHandlers, device_command_handlers


class _Lamp(Device):
    kind = "lamp"
    extra_commands = (
        DeviceCommand(
            "lamp_flash",
            "flash",
            "flash the lamp",
            params=(
                Setting("duration", "float", "s", 0.0, 10.0, description="how long"),
                Setting("colour", "str", choices=("red", "green")),
            ),
            optional=("colour",),
        ),
    )

    def __init__(self) -> None:
        super().__init__("lamp")
        self.flashes: list[tuple[float, Any]] = []

    def settings(self) -> list[Setting]:
        return []

    def _read_setting(self, name: str) -> Any:
        raise KeyError(name)

    def flash(self, duration: float, colour: str | None = None) -> dict[str, Any]:
        if duration == 0:
            raise ValueError("a flash of 0 s is no flash")
        self.flashes.append((duration, colour))
        return {"flashed": duration}


class _Context:
    """Stands in for the daemon context: requests go straight to a worker's handlers."""

    def __init__(self, handlers: RequestHandlers) -> None:
        self.handlers = handlers

    async def request(self, worker: str, command: str, **args: Any) -> Any:
        reply = self.handlers.answer(Request(1, command, args))
        if reply.error is not None:
            raise CommandError("failed", reply.error)
        return reply.result


def test_declared_commands_are_validated_and_reach_the_device():
    lamp = _Lamp()
    handlers = RequestHandlers("lamp", device_command_handlers(lamp))
    table = CommandTable()
    table.add("lamp_flash", _never)  # a name that is taken stays with its first owner
    assert register_device_commands(table, _Context(handlers), "lamp", _Lamp) == []
    table = CommandTable()
    assert register_device_commands(table, _Context(handlers), "lamp", _Lamp) == ["lamp_flash"]
    (described,) = table.describe()
    assert described["help"] == "flash the lamp [declared by the driver _Lamp]"
    duration, colour = described["params"]
    assert (duration["unit"], duration["maximum"], duration["required"]) == ("s", 10.0, True)
    assert (colour["choices"], colour["required"]) == (["red", "green"], False)

    command, args = table.validate("lamp_flash", {"duration": 2.5})
    assert asyncio.run(command.handler(**args)) == {"flashed": 2.5}
    assert lamp.flashes == [(2.5, None)]
    with pytest.raises(CommandError, match="above the maximum"):
        table.validate("lamp_flash", {"duration": 11.0})
    with pytest.raises(CommandError, match="must be one of"):
        table.validate("lamp_flash", {"duration": 1.0, "colour": "blue"})
    command, args = table.validate("lamp_flash", {"duration": 0.0})
    with pytest.raises(CommandError, match="lamp: lamp_flash: a flash of 0 s is no flash"):
        asyncio.run(command.handler(**args))


def test_one_request_base_answers_requests_and_notifications():
    calls: list[int] = []
    handlers = RequestHandlers("w", {"add": lambda n: calls.append(n) or len(calls)})
    assert handlers.answer(Request(3, "add", {"n": 5})).result == 1
    assert "unknown request 'nope' (known: add)" in handlers.answer(Request(4, "nope")).error
    assert "w: add:" in handlers.answer(Request(5, "add", {"m": 1})).error  # bad arguments

    class _Ctx:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def send(self, message: Any) -> None:
            self.sent.append(message)

    ctx = _Ctx()
    assert handlers.serve(ctx, Notify("add", {"n": 6})) and ctx.sent == []  # no reply
    assert handlers.serve(ctx, Request(6, "add", {"n": 7})) and ctx.sent[0].result == 3
    assert not handlers.serve(ctx, object())
    assert calls == [5, 6, 7]


async def _never() -> None:
    raise AssertionError("not called")
