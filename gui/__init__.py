"""The operator's window (PyQt6 + pyqtgraph), a client of the daemon like any other.

Public names (loaded lazily, so ``import magscope_app.gui`` and the CLI do not load Qt):

* :class:`MainWindow` — toolbar, live view, docked panels and plots;
* :class:`Bridge` — runs every client call on a worker thread, results as Qt signals;
* :class:`DaemonEvents` — daemon events as Qt signals (subscribe, or the polling fallback);
* :class:`LiveView`, :class:`BeadSelection`, :class:`DataFeed`, :class:`OwnDaemon`;
* :func:`run_window`, :func:`has_display`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MainWindow": "._window",
    "Bridge": "._bridge",
    "DaemonEvents": "._events",
    "LiveView": "._live_view",
    "BeadSelection": "._selection",
    "DataFeed": "._feed",
    "OwnDaemon": "._daemon",
    "run_window": "._launch",
    "has_display": "._launch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
