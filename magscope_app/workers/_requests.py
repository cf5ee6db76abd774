"""How every worker serves the manager's requests: one table of handlers by command name.

A :class:`~magscope_app.ipc.Request` is answered by exactly one
:class:`~magscope_app.ipc.Reply`; a :class:`~magscope_app.ipc.Notify` runs the same handler with
no reply (an error is logged). A handler returns a picklable result or raises; a bad request or
a device error (limits, settings, timeouts, rejections, a lost port) becomes the reply's
``error`` text and the worker keeps running, so one faulty request never takes a worker (and its
device) down. :func:`setting_handlers` gives the handlers every device has, and
:func:`device_command_handlers` the commands a device declares (``Device.extra_commands``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..hardware.device import Device
from ..hardware.errors import HardwareError, SettingError
from ..ipc import Notify, Reply, Request
from ._runtime import WorkerContext

log = logging.getLogger(__name__)

Handler = Callable[..., Any]


class RequestHandlers:
    """The request handlers of one worker; ``owner`` names it in error texts. Exceptions of the
    ``expected`` types (and :class:`HardwareError`) are answered with their own text."""

    def __init__(
        self,
        owner: str,
        handlers: Mapping[str, Handler] | None = None,
        *,
        expected: tuple[type[Exception], ...] = (),
    ) -> None:
        self.owner = owner
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.expected = (HardwareError, *expected)

    def add(self, handlers: Mapping[str, Handler]) -> None:
        """Add (or replace) handlers by command name."""
        self.handlers.update(handlers)

    def serve(self, ctx: WorkerContext, message: Any) -> bool:
        """Carry out ``message`` if it is a Request (reply sent) or Notify; False otherwise."""
        if isinstance(message, Request):
            ctx.send(self.answer(message))
            return True
        if isinstance(message, Notify):
            reply = self.answer(Request(0, message.command, message.args))
            if reply.error is not None:
                log.warning("%s: %s", self.owner, reply.error)
            return True
        return False

    def answer(self, request: Request) -> Reply:
        """Run the handler of ``request.command`` with ``request.args`` and wrap the outcome."""
        handler = self.handlers.get(request.command)
        if handler is None:
            known = ", ".join(sorted(self.handlers))
            return Reply(
                request.request_id,
                error=f"{self.owner}: unknown request {request.command!r} (known: {known})",
            )
        try:
            return Reply(request.request_id, result=handler(**request.args))
        except self.expected as exc:
            return Reply(request.request_id, error=str(exc))
        except (TypeError, ValueError, LookupError) as exc:  # bad arguments or a refused value
            return Reply(request.request_id, error=f"{self.owner}: {request.command}: {_text(exc)}")
        except Exception as exc:
            log.exception("%s: %s request failed", self.owner, request.command)
            return Reply(request.request_id, error=f"{self.owner}: {type(exc).__name__}: {exc}")


def _text(exc: BaseException) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return text or type(exc).__name__


def setting_handlers(device: Device, *, fixed: Collection[str] = ()) -> dict[str, Handler]:
    """``describe``, ``get_setting {name}`` and ``set_setting {name, value}`` for ``device``.

    Settings named in ``fixed`` cannot be changed while the daemon runs (e.g. a camera's frame
    size, from which the video buffer is sized). ``set_setting`` answers the value read back.
    """

    def set_setting(name: str, value: Any) -> Any:
        if name in fixed:
            raise SettingError(
                f"{device.name}: setting {name!r} is fixed while the daemon runs; "
                "change it in the config file and restart the daemon"
            )
        device.set_setting(name, value)
        return device.get_setting(name)

    return {
        "describe": device.describe,
        "get_setting": device.get_setting,
        "set_setting": set_setting,
    }


def device_command_handlers(device: Device) -> dict[str, Handler]:
    """One handler per command ``device`` declares (``type(device).extra_commands``), under
    the command's name; the daemon registers the matching control commands."""
    return {c.name: getattr(device, c.method) for c in type(device).extra_commands}
