"""Answering :class:`~magscope_app.ipc.Request` messages about a device inside its worker.

A worker builds a table of request handlers (:func:`setting_handlers` gives the ones every
device has: ``describe``, ``get_setting``, ``set_setting``) and turns each request into a
:class:`~magscope_app.ipc.Reply` with :func:`answer`. A device error (limits, settings, timeouts,
rejections, a lost port) becomes the reply's ``error`` text; the worker keeps running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from ..hardware.device import Device
from ..hardware.errors import HardwareError, SettingError
from ..ipc import Reply, Request

log = logging.getLogger(__name__)

Handler = Callable[..., Any]


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


def answer(request: Request, handlers: dict[str, Handler], device: str) -> Reply:
    """Run the handler of ``request.command`` with ``request.args`` and wrap the outcome.

    Device errors and bad requests become ``Reply.error`` (named after ``device``); an
    unexpected exception is logged with its traceback and also answered, so that one faulty
    request never takes the worker (and the device) down.
    """
    handler = handlers.get(request.command)
    if handler is None:
        known = ", ".join(sorted(handlers))
        return Reply(
            request.request_id, error=f"{device}: unknown request {request.command!r} ({known})"
        )
    try:
        return Reply(request.request_id, result=handler(**request.args))
    except HardwareError as exc:
        return Reply(request.request_id, error=str(exc))
    except TypeError as exc:  # wrong or missing arguments
        return Reply(request.request_id, error=f"{device}: bad {request.command!r} request: {exc}")
    except Exception as exc:
        log.exception("%s: %s request failed", device, request.command)
        return Reply(request.request_id, error=f"{device}: {type(exc).__name__}: {exc}")
