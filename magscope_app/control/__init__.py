"""The public remote API: a JSON-lines control server in the daemon and a synchronous client."""

from .client import Client, DaemonNotRunning, connect
from .protocol import CommandError

__all__ = ["Client", "CommandError", "DaemonNotRunning", "connect"]
