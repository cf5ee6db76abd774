"""Drift and locks from the client: ``scope.locks`` (reference beads, XY-lock, Z-lock, status).

The drift itself is read from shared memory: ``scope.tracks.latest(seconds, corrected=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._scope import Scope


class Locks:
    """Reference beads and the locks: :meth:`set_references`, :meth:`references`,
    :meth:`zlock`, :meth:`xylock`, :meth:`status`."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def references(self, *, auto: bool = False) -> dict[str, Any]:
        """``reference`` (bead ids), ``used`` / ``rejected`` (by the live drift) and
        ``suggested`` (the beads classified stuck); ``auto=True`` first makes the stuck beads the
        references (CommandFailed if none is classified stuck)."""
        return self._scope.call("reference_beads", auto=auto)

    def set_references(self, ids: list[int]) -> dict[str, Any]:
        """Use beads ``ids`` as references ([] clears); returns like :meth:`references`."""
        return self._scope.call("set_reference_beads", ids=[int(i) for i in ids])

    def zlock(self, on: bool = True, *, target_nm: float | None = None, **params: float) -> dict:
        """Lock (or release) the focus on the reference beads' mean z (``target_nm``; default:
        where they are). ``params``: kp, ki (1/s), deadband_nm, max_step_nm, max_excursion_nm.
        Returns the Z-lock state (``on``, ``state``, ``locked``, ``error_nm``, ``reason``, …)."""
        args: dict[str, Any] = {"on": bool(on), **{k: float(v) for k, v in params.items()}}
        if target_nm is not None:
            args["target_nm"] = float(target_nm)
        return self._scope.call("zlock", **args)

    def xylock(self, on: bool = True, *, threshold_px: float | None = None) -> dict[str, Any]:
        """Let every ROI follow its bead (re-centred beyond ``threshold_px``, default 1 px)."""
        args: dict[str, Any] = {"on": bool(on)}
        if threshold_px is not None:
            args["threshold_px"] = float(threshold_px)
        return self._scope.call("xylock", **args)

    def status(self) -> dict[str, Any]:
        """``reference``, ``drift`` (used, rejected, newest dx/dy/dz nm), ``zlock``, ``xylock``."""
        return self._scope.call("locks")
