"""Live tracking from the client: ``scope.tracking`` (status and settings of the tracking workers).

Bead positions are in :mod:`._beads` (``scope.beads``), the tracked rows in :mod:`._tracks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._scope import Scope


class Tracking:
    """The tracking workers: :meth:`status`, :meth:`settings`, :meth:`configure`,
    :meth:`select_profile_bead`."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def status(self) -> dict[str, Any]:
        """Workers (running of total), beads, ``rois_per_s``, ``frames_tracked``, ``frames_lost``
        (to worker crashes) and ``latency_ms`` (median, p99, samples) from the daemon's status."""
        return self._scope.call("status")["tracking"]

    def settings(self) -> dict[str, Any]:
        """The tracking settings (``settings``: radial profile, xy fit, …) and their limits."""
        return self._scope.call("tracking_settings")

    def configure(self, **changes: float | int) -> dict[str, Any]:
        """Change tracking settings by name (validated by the daemon; InvalidArgument names a bad
        one and nothing changes); returns the settings now in use, like :meth:`settings`."""
        return self._scope.call("set_tracking_settings", **changes)

    def select_profile_bead(self, id: int | None) -> int | None:
        """Show bead ``id``'s radial profile in the live profile buffer (None: none); returns it."""
        args = {} if id is None else {"id": int(id)}
        return self._scope.call("select_profile_bead", **args)["profile_bead"]
