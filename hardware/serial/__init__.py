"""Serial transport shared by the serial drivers: one connection and one lock per port.

Devices get a connection with :func:`connect` (and give it back with :func:`release`) and talk
through :meth:`SerialConnection.transact`, which holds the port's lock, gives every read a
deadline and reconnects a port that dropped out.
"""

from .connection import Link, SerialConnection
from .registry import connect, open_ports, port_key, release

__all__ = ["Link", "SerialConnection", "connect", "open_ports", "port_key", "release"]
