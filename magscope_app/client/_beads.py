"""Beads: ``scope.beads`` lists, adds, moves, removes, finds and classifies tracked beads.

Positions are bead centres in full-frame camera pixels (x = column, y = row).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._scope import Scope


class Beads:
    """The daemon's bead set (one ROI per bead, ``roi_size`` px square)."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope

    def list(self) -> list[dict[str, Any]]:
        """Every bead: ``id``, centre (px), ``roi`` (x0, x1, y0, y1 px), ``at_edge`` and any
        per-bead properties the daemon keeps (e.g. its class after :meth:`classify`)."""
        return self._scope.call("beads")["beads"]

    @property
    def roi_size(self) -> int:
        """Side of every bead's square ROI (px)."""
        return int(self._scope.call("beads")["roi_size"])

    @roi_size.setter
    def roi_size(self, size: int) -> None:
        self._scope.call("set_roi_size", size=size)

    def add(self, centres: Sequence[float] | Iterable[Sequence[float]]) -> list[int]:
        """Add beads at ``centres`` (one ``(x, y)`` or a list of them, px); returns their ids."""
        centres = list(centres)
        if len(centres) == 2 and all(isinstance(v, (int, float)) for v in centres):
            centres = [centres]
        return self._scope.call("add_beads", rois=[[float(x), float(y)] for x, y in centres])["ids"]

    def remove(self, ids: int | Iterable[int]) -> list[int]:
        """Remove beads by id; returns the ids removed."""
        ids = [ids] if isinstance(ids, int) else [int(i) for i in ids]
        return self._scope.call("remove_beads", ids=ids)["removed"]

    def move(self, id: int, x: float, y: float) -> dict[str, Any]:
        """Move bead ``id``'s centre to (``x``, ``y``) px; returns its new ROI."""
        return self._scope.call("move_bead", id=id, x=float(x), y=float(y))

    def clear(self) -> int:
        """Remove every bead; returns how many were removed."""
        return int(self._scope.call("clear_beads")["removed"])

    def find(
        self,
        *,
        add: bool = False,
        max: int | None = None,
        min_distance: float | None = None,
        frames: int | None = None,
        min_score: float | None = None,
    ) -> dict[str, Any]:
        """Detect bead candidates on the newest frames (daemon command ``find_beads``): each with
        a score, and the ones refused with the reason (ROI off the image, overlap). ``add``: add
        the accepted ones; ``max``: at most this many; ``min_distance``: px between centres;
        ``frames``: search the mean of this many newest frames; ``min_score``: score threshold
        (None: the daemon's defaults)."""
        options = {"max": max, "min_distance": min_distance, "frames": frames,
                   "min_score": min_score}  # fmt: skip
        args = {k: v for k, v in options.items() if v is not None}
        return self._scope.call("find_beads", add=add, **args)

    def classify(self, seconds: float | None = None) -> dict[str, Any]:
        """Classify the tracked beads as stuck or tethered from ``seconds`` s of their tracked
        motion (daemon command ``classify_beads``; None: the daemon's default)."""
        args = {} if seconds is None else {"seconds": seconds}
        return self._scope.call("classify_beads", **args)

    def __len__(self) -> int:
        return len(self.list())
