"""Bead tracking: pure functions on arrays (no processes, no I/O).

``track_xyz(rois, zlut)`` gives each bead's centre (px) and height (nm) and its radial profile;
:class:`ZLUT` holds the profiles recorded at known heights (per bead through :class:`ZLUTSet`);
:class:`TrackingSettings` fixes the profile geometry a LUT is valid for.
"""

from .api import TrackResult, make_zlut, track_xyz
from .profiles import profile_gram, radial_profiles
from .settings import PROFILE_FIELDS, TrackingSettings
from .xy import track_xy
from .zlut import ZLUT, ZLUTSet

__all__ = [
    "PROFILE_FIELDS",
    "ZLUT",
    "TrackResult",
    "TrackingSettings",
    "ZLUTSet",
    "make_zlut",
    "profile_gram",
    "radial_profiles",
    "track_xy",
    "track_xyz",
]
