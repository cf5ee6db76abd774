"""Frames of beads that the simulator does not make, for the bead finder's tests.

Each family is a radial intensity pattern relative to the background (1.0 = background), drawn
at sub-pixel centres, with Poisson photon noise and optional read noise, a slow illumination
gradient and hot pixels. Positions: x = column, y = row, pixels, origin at the centre of pixel
(0, 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Pattern = Callable[[np.ndarray], np.ndarray]


def bright_rings(r: np.ndarray) -> np.ndarray:
    """Bright centre with rings of constant period (8 px), exponential envelope."""
    return 0.5 * np.cos(2 * np.pi * r / 8.0) * np.exp(-r / 12.0)


def dark_centre(r: np.ndarray) -> np.ndarray:
    """Dark Gaussian core (σ 3 px) with a faint bright halo ring."""
    return -0.6 * np.exp(-0.5 * (r / 3.0) ** 2) + 0.15 * np.exp(-0.5 * ((r - 7.0) / 2.0) ** 2)


def wide_rings(r: np.ndarray) -> np.ndarray:
    """Far out of focus: rings of period 18 px (more than a quarter of a 64 px ROI), dark
    centre, slow Gaussian envelope."""
    return -0.3 * np.cos(2 * np.pi * r / 18.0) * np.exp(-0.5 * (r / 20.0) ** 2)


def low_contrast(r: np.ndarray) -> np.ndarray:
    """Rings of contrast 0.1, chirped (period shrinking outwards), bright centre."""
    return 0.1 * np.cos(0.03 * r**2 + 0.4 * r) * np.exp(-0.5 * (r / 14.0) ** 2)


FAMILIES: dict[str, Pattern] = {
    "bright_rings": bright_rings,
    "dark_centre": dark_centre,
    "wide_rings": wide_rings,
    "low_contrast": low_contrast,
}


def place(rng: np.random.Generator, n: int, shape: tuple[int, int], separation: float,
          margin: float) -> np.ndarray:  # fmt: skip
    """(n, 2) random centres (x, y) at least ``separation`` px apart, ``margin`` px inside."""
    h, w = shape
    points: list[np.ndarray] = []
    while len(points) < n:
        p = np.array([rng.uniform(margin, w - 1 - margin), rng.uniform(margin, h - 1 - margin)])
        if all(np.hypot(*(p - q)) >= separation for q in points):
            points.append(p)
    return np.array(points).reshape(n, 2)


def frame(
    rng: np.random.Generator,
    centres: np.ndarray,
    pattern: Pattern,
    shape: tuple[int, int] = (512, 512),
    *,
    photons: float = 1000.0,
    read_noise: float = 0.0,
    gradient: float = 0.0,
    hot_pixels: int = 0,
) -> np.ndarray:
    """A noisy frame (float64, ADU = photons) of beads at ``centres`` (n, 2) with ``pattern``.

    ``photons``: background per pixel; ``gradient``: relative illumination change across the
    frame (left to right); ``hot_pixels``: pixels set to 4× the background.
    """
    h, w = shape
    rows = np.arange(h, dtype=np.float64)[:, None]
    cols = np.arange(w, dtype=np.float64)[None, :]
    relative = np.ones(shape)
    for x, y in centres:
        r0, r1 = max(int(y) - 64, 0), min(int(y) + 65, h)
        c0, c1 = max(int(x) - 64, 0), min(int(x) + 65, w)
        r = np.hypot(cols[:, c0:c1] - x, rows[r0:r1] - y)
        relative[r0:r1, c0:c1] += pattern(r)
    illumination = photons * (1.0 + gradient * (cols / w - 0.5))
    image = rng.poisson(np.maximum(illumination * relative, 0.0)).astype(np.float64)
    if read_noise:
        image += rng.normal(0.0, read_noise, shape)
    if hot_pixels:
        image[rng.integers(0, h, hot_pixels), rng.integers(0, w, hot_pixels)] = 4 * photons
    return image
