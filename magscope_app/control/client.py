"""The plain synchronous client: one command at a time, dicts in and out (used by the CLI).

Scripts, notebooks and the GUI use the typed client, :func:`magscope_app.connect`
(:mod:`magscope_app.client`), which adds objects, handles and live events on top of the same
protocol.
"""

from __future__ import annotations

import itertools
import json
import socket
from typing import Any

from ..paths import instance_paths
from .errors import DaemonNotRunning, error_from_reply
from .protocol import MAX_LINE_BYTES, encode


class Client:
    """A connection to daemon ``instance``.

    Each method sends one command and blocks until the reply (at most ``timeout`` s). A refused or
    failed command raises a :class:`~magscope_app.control.protocol.CommandError` subclass
    (:mod:`magscope_app.control.errors`) with the daemon's error code and message.
    """

    def __init__(self, instance: str = "default", *, timeout: float = 10.0) -> None:
        paths = instance_paths(instance)
        self.instance = instance
        self._timeout = timeout
        try:
            self._token = paths.token.read_text().strip()
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._sock.settimeout(timeout)
            self._sock.connect(str(paths.socket))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonNotRunning(
                f"no magscope-app daemon {instance!r} is running (socket {paths.socket})"
            ) from exc
        self._file = self._sock.makefile("rb")
        self._ids = itertools.count(1)

    def call(self, command: str, **args: Any) -> Any:
        """Send ``command`` with ``args``; return its result or raise :class:`CommandError`."""
        request_id = next(self._ids)
        message = {"id": request_id, "token": self._token, "command": command, "args": args}
        try:
            self._sock.sendall(encode(message))
            line = self._file.readline(MAX_LINE_BYTES)
        except TimeoutError:
            raise TimeoutError(
                f"daemon {self.instance!r} did not answer {command!r} within {self._timeout:g} s"
            ) from None
        except OSError as exc:
            raise DaemonNotRunning(f"lost the connection to {self.instance!r}: {exc}") from None
        if not line:
            raise DaemonNotRunning(f"daemon {self.instance!r} closed the connection")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise error_from_reply(reply.get("error"))
        return reply.get("result")

    # -- convenience --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Daemon status: instance, uptime_s, camera, workers, buffers, faults."""
        return self.call("status")

    def describe(self) -> dict[str, Any]:
        """Every shared-memory buffer's segment names, shape and dtype, to attach to them."""
        return self.call("describe")

    def pause(self) -> None:
        """Pause acquisition."""
        self.call("pause")

    def resume(self) -> None:
        """Resume acquisition."""
        self.call("resume")

    def stop(self) -> None:
        """Ask the daemon to shut down (returns once the request is accepted)."""
        self.call("stop")

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(instance: str = "default", *, timeout: float = 10.0) -> Client:
    """Connect to the running daemon ``instance`` and return a synchronous :class:`Client`."""
    return Client(instance, timeout=timeout)
