"""The tracking service's bead table: bead centres, their ROIs and the BeadRoiBuffer, and each
bead's kind (stuck / tethered / unknown, from ``classify_beads``)."""

from __future__ import annotations

import math
import time
from typing import Any

from ..buffers import BeadRoiBuffer
from ..control.protocol import CommandError

Roi = tuple[int, int, int, int]


class BeadTable:
    """Bead centres (px, full frame, x = column) keyed by bead id, mirrored as ROIs into the
    BeadRoiBuffer (the source of truth for the workers).

    A ROI is the ``size × size`` square around the centre's pixel, clipped to the frame
    (``(x0, x1, y0, y1)``, exclusive ends); the workers flag beads whose ROI touches or crosses
    the edge. Every method validates first and raises :class:`CommandError` (changing nothing)
    for a bad request.
    """

    def __init__(self, buffer: BeadRoiBuffer, width: int, height: int, size: int) -> None:
        self.buffer = buffer
        self.width, self.height, self.size = width, height, size
        self.centres: dict[int, tuple[float, float]] = {}
        #: "stuck" | "tethered" (from classify_beads); a bead not listed is "unknown".
        self.kinds: dict[int, str] = {}
        #: When each bead got its current centre (time.time() s): older track rows are not its.
        self.since: dict[int, float] = {}
        #: Reference beads (drift and Z-lock; set by the lock service), dropped with their bead.
        self.references: set[int] = set()

    # -- geometry -------------------------------------------------------------------------------
    def roi(self, x: float, y: float, size: int | None = None) -> Roi:
        """Clipped ROI ``(x0, x1, y0, y1)`` of a bead centred at pixel ``(x, y)``."""
        s = self.size if size is None else size
        x0 = math.floor(x + 0.5) - s // 2
        y0 = math.floor(y + 0.5) - s // 2
        return (max(x0, 0), min(x0 + s, self.width), max(y0, 0), min(y0 + s, self.height))

    def at_edge(self, x: float, y: float) -> bool:
        x0 = math.floor(x + 0.5) - self.size // 2
        y0 = math.floor(y + 0.5) - self.size // 2
        return x0 <= 0 or y0 <= 0 or x0 + self.size >= self.width or y0 + self.size >= self.height

    def _centre(self, command: str, value: Any) -> tuple[float, float]:
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in value)
            or not all(math.isfinite(v) for v in value)
        ):
            raise CommandError(
                "invalid_argument", f"{command}: a bead centre must be [x, y] in pixels; got "
                f"{value!r}"
            )  # fmt: skip
        x, y = float(value[0]), float(value[1])
        if not (0 <= x <= self.width - 1 and 0 <= y <= self.height - 1):
            raise CommandError(
                "invalid_argument",
                f"{command}: bead centre ({x:g}, {y:g}) is outside the frame "
                f"(0…{self.width - 1}, 0…{self.height - 1})",
            )
        return x, y

    def _existing(self, command: str, ids: list[Any]) -> list[int]:
        bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, int)]
        if bad:
            raise CommandError("invalid_argument", f"{command}: bead ids must be integers: {bad}")
        missing = sorted({i for i in ids if i not in self.centres})
        if missing:
            raise CommandError("invalid_argument", f"{command}: no beads with ids {missing}")
        return [int(i) for i in ids]

    def _free_ids(self, count: int) -> list[int]:
        top = max(self.centres) + 1 if self.centres else 0
        candidates = [*range(top, self.buffer.capacity)]
        candidates += [i for i in range(top) if i not in self.centres]
        if len(candidates) < count:
            raise CommandError(
                "invalid_argument",
                f"add_beads: {count} beads do not fit ({len(self.centres)} of "
                f"{self.buffer.capacity} bead ids are taken)",
            )
        return candidates[:count]

    # -- changes ----------------------------------------------------------------------------------
    def add(self, centres: Any) -> list[int]:
        if not isinstance(centres, list) or not centres:
            raise CommandError("invalid_argument", "add_beads: rois must be a list of [x, y]")
        points = [self._centre("add_beads", c) for c in centres]
        ids = self._free_ids(len(points))
        self.buffer.add_beads({i: self.roi(*p) for i, p in zip(ids, points, strict=True)})
        self.centres.update(zip(ids, points, strict=True))
        self.since.update(dict.fromkeys(ids, time.time()))
        return ids

    def remove(self, ids: Any) -> list[int]:
        if not isinstance(ids, list) or not ids:
            raise CommandError("invalid_argument", "remove_beads: ids must be a list of bead ids")
        ids = self._existing("remove_beads", ids)
        self.buffer.remove_beads(ids)
        for i in ids:
            self.centres.pop(i, None)
            self.kinds.pop(i, None)
            self.since.pop(i, None)
            self.references.discard(i)
        return ids

    def move(self, bead: int, x: float, y: float) -> None:
        (bead,) = self._existing("move_bead", [bead])
        point = self._centre("move_bead", [x, y])
        self.buffer.update_beads({bead: self.roi(*point)})
        self.centres[bead] = point
        self.kinds.pop(bead, None)  # another bead now
        self.references.discard(bead)
        self.since[bead] = time.time()

    def recentre(self, bead: int, x: float, y: float) -> None:
        """Move a bead's ROI to follow the same bead (the XY-lock): unlike :meth:`move` the
        bead keeps its kind, reference flag and track history."""
        (bead,) = self._existing("recentre", [bead])
        point = self._centre("recentre", [x, y])
        self.buffer.update_beads({bead: self.roi(*point)})
        self.centres[bead] = point

    def clear(self) -> int:
        count = len(self.centres)
        self.buffer.clear_beads()
        self.centres.clear()
        self.kinds.clear()
        self.since.clear()
        self.references.clear()
        return count

    def resize(self, size: int) -> None:
        """New ROI side for every bead (validated by the caller)."""
        self.size = size
        self.buffer.replace_beads({i: self.roi(*p) for i, p in self.centres.items()})

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "id": i,
                "x": x,
                "y": y,
                "roi": list(self.roi(x, y)),
                "at_edge": self.at_edge(x, y),
                "kind": self.kinds.get(i, "unknown"),
                "reference": i in self.references,
            }
            for i, (x, y) in sorted(self.centres.items())
        ]
