"""Image model of a tethered bead seen through a defocused microscope.

A bead illuminated in transmission acts as a point scatterer a distance ``D`` above the focal
plane; its image is a set of Fresnel rings whose phase grows as ``pi r^2 / (lambda D)``. When the
bead moves up by ``dz`` (or the focus moves down by ``dz``), ``D`` grows by ``dz``: the rings
expand, which is what a Z-LUT measures.

Units: positions in pixels (x = column, y = row, origin at the centre of pixel (0, 0)), lengths in
nm, intensities in photons per pixel. This module is pure numpy and has no state; the simulated
camera and the tracking tests both use it, so the Cramér–Rao bound the tests compute is the bound
of exactly the images the simulator renders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OpticsParams:
    """Parameters of the ring image.

    ``defocus_offset_nm``: distance from the focal plane to the bead's scattering plane when the
    bead's z equals the focal position (z_rel = 0); keeps ``D`` positive over the usable range.
    ``contrast``: ring amplitude relative to the background (< 1 keeps intensities positive).
    ``envelope_nm`` + ``envelope_growth`` * D: 1/e² half-width of the ring envelope.
    """

    pixel_size_nm: float = 100.0
    wavelength_nm: float = 600.0
    refractive_index: float = 1.33
    defocus_offset_nm: float = 3000.0
    contrast: float = 0.6
    envelope_nm: float = 1000.0
    envelope_growth: float = 0.3

    @property
    def wavelength_in_medium_nm(self) -> float:
        return self.wavelength_nm / self.refractive_index


def relative_intensity(
    r_nm: np.ndarray, z_rel_nm: np.ndarray | float, params: OpticsParams = OpticsParams()
) -> np.ndarray:
    """Intensity relative to the background (1.0 = background) at radius ``r_nm`` from the bead.

    ``z_rel_nm`` is the bead's height above the focal plane (bead z minus focus z) in nm; it
    broadcasts against ``r_nm``. Values stay in (1 - contrast, 1 + contrast).
    """
    distance = params.defocus_offset_nm + np.asarray(z_rel_nm, dtype=np.float64)
    if np.any(distance <= 0):
        raise ValueError(
            f"bead lies {-params.defocus_offset_nm:g} nm or more below the focal plane: "
            "outside the image model"
        )
    r2 = np.square(r_nm, dtype=np.float64)
    width = params.envelope_nm + params.envelope_growth * distance
    phase = np.pi * r2 / (params.wavelength_in_medium_nm * distance)
    return 1.0 - params.contrast * np.exp(-r2 / (2.0 * width**2)) * np.cos(phase)


def expected_roi(
    shape: tuple[int, int],
    x_px: float,
    y_px: float,
    z_rel_nm: float,
    background: float,
    params: OpticsParams = OpticsParams(),
) -> np.ndarray:
    """Expected photons per pixel of one bead centred at (``x_px``, ``y_px``) in an ROI.

    ``shape`` is (height, width); returns float64 of that shape. The intensity is sampled at pixel
    centres. ``background`` is the photon count per pixel far from the bead.
    """
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    cols = np.arange(shape[1], dtype=np.float64)[None, :]
    r_nm = np.hypot(cols - x_px, rows - y_px) * params.pixel_size_nm
    return background * relative_intensity(r_nm, z_rel_nm, params)
