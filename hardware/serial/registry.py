"""One :class:`SerialConnection` (and so one lock) per port, shared by every device on it."""

from __future__ import annotations

import os
import threading

from .connection import SerialConnection

_registry_lock = threading.Lock()
_connections: dict[str, SerialConnection] = {}
_users: dict[str, int] = {}


def port_key(port: str) -> str:
    """The registry key of ``port``: URLs as given, device paths made absolute.

    Paths are not resolved through symlinks: a stable symlink (``/dev/serial/by-id/...``) stays
    the same key when the device behind it comes back under a new name.
    """
    return port if "://" in port else os.path.abspath(port)


def connect(
    port: str, *, baudrate: int, timeout: float, reconnect_timeout: float = 10.0
) -> SerialConnection:
    """Open ``port`` (or join its already open connection) and return the shared connection.

    Every device on one port gets the same object, so they share one lock and one file handle.
    Raises ``ValueError`` if the port is already open with another baud rate and
    :class:`DeviceNotConnected` if it cannot be opened. Pair every call with :func:`release`.
    """
    key = port_key(port)
    with _registry_lock:
        conn = _connections.get(key)
        if conn is None:
            conn = SerialConnection(
                port,
                baudrate=baudrate,
                timeout=timeout,
                reconnect_timeout=reconnect_timeout,
                lock=threading.RLock(),
            )
            conn.open()
            _connections[key] = conn
            _users[key] = 0
        elif conn.baudrate != baudrate:
            raise ValueError(
                f"{port}: already open at {conn.baudrate} baud, cannot share it at {baudrate}"
            )
        else:
            conn.reconnect_timeout = max(conn.reconnect_timeout, reconnect_timeout)
        _users[key] += 1
        return conn


def release(conn: SerialConnection) -> None:
    """Give back a connection from :func:`connect`; the last user closes the port."""
    key = port_key(conn.port)
    with _registry_lock:
        if _connections.get(key) is not conn:
            return
        _users[key] -= 1
        if _users[key] <= 0:
            del _connections[key], _users[key]
            conn.close()


def open_ports() -> list[str]:
    """Keys of the ports currently open (for diagnostics and leak checks in tests)."""
    with _registry_lock:
        return sorted(_connections)
