"""Tracking settings: one frozen value object shared by live tracking and Z-LUT recording."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: The settings that define a radial profile, and so what a Z-LUT is valid with; the others only
#: steer the xy fit (how the centre is found), not what a profile about that centre is.
PROFILE_FIELDS = ("radial_step_px", "radial_max_px", "profile_regularization", "min_coverage")


@dataclass(frozen=True)
class TrackingSettings:
    """Parameters of the xy fit and of the radial profile.

    The radial profile is a least-squares linear spline in the distance ``r`` (pixels) from the
    tracked centre, with nodes at ``r_k = k * radial_step_px`` for ``k = 0 .. n_bins - 1``; node
    values are in the ROI's intensity unit. Defaults suit 64 x 64 ROIs; a Z-LUT is only valid with
    the profile settings (:data:`PROFILE_FIELDS`) it was made with.

    ``radial_step_px``: node spacing (px). Fine nodes keep the profile independent of the bead's
        sub-pixel position, which is what limits Z precision at high photon counts.
    ``radial_max_px``: radius of the outermost node (px); pixels farther out are not used.
    ``xy_step_px``, ``xy_radius_px``: node spacing and outer radius (px) of the profile spline
        fitted jointly with the centre. A coarser spline converges in fewer steps; a large radius
        uses the ROI corners, which hold much of the xy information.
    ``xy_iterations``: maximum Gauss–Newton steps of the radial-model xy fit.
    ``xy_tolerance_px``, ``xy_tolerance_sigma``: the xy fit stops after a step shorter than
        ``xy_tolerance_px`` and than ``xy_tolerance_sigma`` times the fit's own standard error
        (so bright beads, whose bound is a few thousandths of a pixel, converge further than
        dim ones); stopping there adds a few per cent to the xy standard deviation.
    ``guess_tolerance_px``: a fit that ends farther than this from the symmetry centre (the
        first guess, accurate to ~0.2 px) is flagged failed, and a starting centre ``xy0``
        farther than this from it is not used (px).
    ``profile_regularization``: weight of the first-difference penalty that fixes spline nodes
        with (almost) no pixels, relative to one pixel of full weight.
    ``min_coverage``: a profile node is NaN when less than this fraction of its circle lies in
        the ROI (bead near the ROI edge).
    """

    radial_step_px: float = 0.25
    radial_max_px: float = 32.0
    xy_step_px: float = 0.5
    xy_radius_px: float = 45.0
    xy_iterations: int = 4
    xy_tolerance_px: float = 0.02
    xy_tolerance_sigma: float = 1.0
    guess_tolerance_px: float = 0.5
    profile_regularization: float = 1e-3
    min_coverage: float = 0.3

    def __post_init__(self) -> None:
        if not self.radial_step_px > 0:
            raise ValueError(f"radial_step_px must be > 0, got {self.radial_step_px}")
        if not self.radial_max_px >= 4 * self.radial_step_px:
            raise ValueError(
                f"radial_max_px ({self.radial_max_px}) must be at least 4 radial steps "
                f"({4 * self.radial_step_px})"
            )
        if not (self.xy_step_px > 0 and self.xy_radius_px >= 4 * self.xy_step_px):
            raise ValueError(
                f"need xy_step_px > 0 and xy_radius_px >= 4 * xy_step_px, got {self.xy_step_px}, "
                f"{self.xy_radius_px}"
            )
        if not (self.xy_tolerance_px > 0 and self.xy_tolerance_sigma > 0):
            raise ValueError(
                f"xy_tolerance_px and xy_tolerance_sigma must be > 0, got {self.xy_tolerance_px}, "
                f"{self.xy_tolerance_sigma}"
            )
        if self.xy_iterations < 1:
            raise ValueError(f"xy_iterations must be >= 1, got {self.xy_iterations}")
        if not self.guess_tolerance_px > 0:
            raise ValueError(f"guess_tolerance_px must be > 0, got {self.guess_tolerance_px}")
        if self.profile_regularization < 0:
            raise ValueError("profile_regularization must be >= 0")
        if not 0 < self.min_coverage <= 1:
            raise ValueError(f"min_coverage must be in (0, 1], got {self.min_coverage}")

    @property
    def n_bins(self) -> int:
        """Number of profile nodes (bins)."""
        return round(self.radial_max_px / self.radial_step_px) + 1

    @property
    def n_xy_nodes(self) -> int:
        """Number of nodes of the profile spline of the xy fit."""
        return round(self.xy_radius_px / self.xy_step_px) + 1

    @property
    def radii_px(self):
        """Radii of the profile nodes (px), shape (n_bins,)."""
        import numpy as np

        return np.arange(self.n_bins, dtype=np.float64) * self.radial_step_px

    def same_profiles(self, other: TrackingSettings) -> bool:
        """True if ``other`` makes the same radial profiles (equal :data:`PROFILE_FIELDS`), so a
        Z-LUT made with one is valid with the other."""
        return all(getattr(self, f) == getattr(other, f) for f in PROFILE_FIELDS)

    def to_dict(self) -> dict:
        """Plain dict (for storing next to a Z-LUT in a file)."""
        return asdict(self)
