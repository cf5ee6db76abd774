"""magscope-app: control daemon for magnetic-tweezers microscopes.

The public entry point for scripts and notebooks is :func:`connect`, which returns a synchronous
client of a running daemon (see :mod:`magscope_app.control`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("magscope-app")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from .control import Client, CommandError, DaemonNotRunning, connect

__all__ = ["Client", "CommandError", "DaemonNotRunning", "__version__", "connect"]
