"""Where the simulated beads sit: a jittered lattice whose tracking ROIs do not overlap.

Every bead, tethered or stuck, is one point of the same layout, so every rule below holds
between any two beads. Positions are in pixels (x = column, origin at the centre of pixel
(0, 0)); distances between beads are taken in x or in y (Chebyshev): two square ROIs of side r
share no pixel when their centres are at least r apart in x or in y.

The frame (``width`` × ``height`` px, less ``margin_px`` on every side) is cut into a lattice of
kx × ky cells, the one with the widest spacing that holds the beads; each bead takes a random
cell and a random offset in it, small enough that neighbours stay ``spacing_px`` apart. When the
frame is too small for that (a small test microscope, many beads), the layout degrades step by
step, and :class:`Plan` says how:

1. the spacing shrinks to what the frame allows, down to ``floor_px`` (the radius of a bead's
   ring pattern: closer, one bead would sit inside the other's rings and both would be tracked
   wrong);
2. then the edge margin goes (beads may sit at the edge, their rings cut by it);
3. if even that cannot hold them, :class:`PlacementError` names the numbers. Fewer beads than
   asked are never placed: the bead count is what experiments, scripts and the ground truth are
   numbered by, so a silent shortfall would surface far from its cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .optics import OpticsParams

#: Gap (px) kept between neighbouring ROIs by default: a bead at the lowest force wanders a few
#: px (σ ≈ 4 px across the field), so ROIs that just touch would overlap in some frames.
ROI_GAP_PX = 6.0
#: Default edge margin beyond half a ROI (px): drift and wander keep the ROI inside the frame.
EDGE_GAP_PX = 8.0
#: A bead's ring pattern is visible out to this many σ of its envelope (8 % modulation at 2σ).
RING_RADIUS_SIGMAS = 2.0


class PlacementError(ValueError):
    """The frame cannot hold the beads even at the smallest spacing; the message names the
    numbers."""


def ring_radius_px(optics: OpticsParams) -> float:
    """Radius (px) of a bead's visible ring pattern with the bead in the focal plane: the
    closest two beads may be."""
    sigma_nm = optics.envelope_nm + optics.envelope_growth * optics.defocus_offset_nm
    return RING_RADIUS_SIGMAS * sigma_nm / optics.pixel_size_nm


@dataclass(frozen=True)
class Plan:
    """A bead layout before its random draw: ``kx`` × ``ky`` lattice cells over
    [``margin_x``, ``width − 1 − margin_x``] × [``margin_y``, …] px, neighbours at least
    ``spacing_px`` apart in x or in y. ``degraded``: why the layout is tighter than asked
    (empty: it is not)."""

    n: int
    kx: int
    ky: int
    margin_x: float
    margin_y: float
    span_x: float
    span_y: float
    spacing_px: float
    degraded: str = ""


def _best_lattice(n: int, span_x: float, span_y: float) -> tuple[int, int, float]:
    """(kx, ky, spacing): the lattice of at least ``n`` cells over the spans (px) whose cells
    are farthest apart, and that distance (inf for a single cell)."""
    best = (1, 1, -1.0)
    for kx in range(1, max(n, 1) + 1):
        ky = math.ceil(n / kx) if n else 1
        sx = span_x / (kx - 1) if kx > 1 else math.inf
        sy = span_y / (ky - 1) if ky > 1 else math.inf
        if min(sx, sy) > best[2]:
            best = (kx, ky, min(sx, sy))
    return best


def plan(
    n: int,
    width: int,
    height: int,
    *,
    spacing_px: float,
    floor_px: float,
    margin_px: float,
) -> Plan:
    """The layout of ``n`` beads on a ``width`` × ``height`` px frame (see the module docstring).

    ``spacing_px``: the distance (in x or in y) asked between beads (ROI side plus a gap);
    ``floor_px``: the least distance accepted (a ``spacing_px`` below it is honoured: the caller
    asked for touching beads); ``margin_px``: from bead centres to the frame edge
    (at most half the frame). Raises :class:`PlacementError` if even ``floor_px`` apart and no
    margin the beads do not fit.
    """
    floor_px = min(floor_px, spacing_px)
    for margin in (margin_px, 0.0):
        mx, my = min(margin, (width - 1) / 2), min(margin, (height - 1) / 2)
        span_x, span_y = width - 1 - 2 * mx, height - 1 - 2 * my
        kx, ky, widest = _best_lattice(n, span_x, span_y)
        if widest >= floor_px:
            spacing = min(spacing_px, widest)
            problems = []
            if spacing < spacing_px:
                problems.append(f"beads {spacing:.0f} px apart, not {spacing_px:g}")
            if (mx, my) != (margin_px, margin_px):
                problems.append(f"{min(mx, my):.0f} px from the edge, not {margin_px:g}")
            degraded = (
                f"a {width}×{height} px frame cannot hold {n} beads as asked: "
                f"{' and '.join(problems)} (their ROIs may overlap or leave the frame)"
                if problems
                else ""
            )
            return Plan(n, kx, ky, mx, my, span_x, span_y, spacing, degraded)
    most = (int((width - 1) // floor_px) + 1) * (int((height - 1) // floor_px) + 1)
    raise PlacementError(
        f"{n} beads do not fit a {width}×{height} px frame at least {floor_px:.0f} px apart "
        f"(a bead's ring radius); at most {most} do: lower n_beads + n_reference_beads or "
        "enlarge the frame"
    )


def place(layout: Plan, rng: np.random.Generator) -> np.ndarray:
    """Bead centres (n, 2) px (x, y) of ``layout``: ``n`` distinct random cells, each bead at a
    random offset in its cell; deterministic for the state of ``rng``."""
    cells = rng.permutation(layout.kx * layout.ky)[: layout.n]
    offsets = rng.random((layout.n, 2))
    out = np.empty((layout.n, 2))
    for axis, (k, span, margin) in enumerate(
        ((layout.kx, layout.span_x, layout.margin_x), (layout.ky, layout.span_y, layout.margin_y))
    ):
        index = cells % layout.kx if axis == 0 else cells // layout.kx
        # k cells, each ``jitter`` wide, one ``spacing`` from the end of one to the next
        jitter = (span - (k - 1) * layout.spacing_px) / k
        pitch = layout.spacing_px + jitter
        out[:, axis] = margin + index * pitch + offsets[:, axis] * jitter
    return out
