"""Control commands a driver declares (``Device.extra_commands``), answered by its worker.

The core knows no driver: a driver that offers more than its contract (e.g. the simulated
camera's ground truth, ``sim_truth``) declares :class:`~magscope_app.hardware.device.DeviceCommand`
entries; the service owning the device's worker registers one control command per entry, with
its parameters validated like every other command, and forwards the call to the worker.
"""

from __future__ import annotations

import logging
from typing import Any

from ..control.commands import CommandTable, Param
from ..hardware.device import DeviceCommand
from .base import DaemonContext

log = logging.getLogger(__name__)


def register_device_commands(
    table: CommandTable, ctx: DaemonContext, worker: str, driver: type
) -> list[str]:
    """Add the commands ``driver`` declares, forwarded to ``worker``; returns their names. A
    name that is taken already is skipped with a warning (the first owner keeps it)."""
    added = []
    for command in getattr(driver, "extra_commands", ()):
        if command.name in table.names():
            log.warning("%s: command %r exists already; not added", worker, command.name)
            continue
        help = f"{command.help} [declared by the driver {driver.__name__}]"
        table.add(command.name, _forward(ctx, worker, command), *_params(command), help=help)
        added.append(command.name)
    return added


def _params(command: DeviceCommand) -> list[Param]:
    return [
        Param(
            s.name,
            s.kind,
            required=s.name not in command.optional,
            minimum=s.minimum,
            maximum=s.maximum,
            choices=s.choices,
            help=s.description,
            unit=s.unit,
        )
        for s in command.params
    ]


def _forward(ctx: DaemonContext, worker: str, command: DeviceCommand) -> Any:
    async def handler(**args: Any) -> Any:
        return await ctx.request(worker, command.name, **args)

    return handler
