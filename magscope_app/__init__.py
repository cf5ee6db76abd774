"""magscope-app: control daemon for magnetic-tweezers microscopes.

The public entry point for scripts and notebooks is :func:`connect`, which returns the typed,
synchronous client of a daemon (see :mod:`magscope_app.client`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("magscope-app")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from .client import (
    CommandError,
    CommandFailed,
    DaemonNotRunning,
    InvalidArgument,
    LimitExceeded,
    Scope,
    connect,
)
from .control import Client

__all__ = [
    "Client",
    "CommandError",
    "CommandFailed",
    "DaemonNotRunning",
    "InvalidArgument",
    "LimitExceeded",
    "Scope",
    "__version__",
    "connect",
]
