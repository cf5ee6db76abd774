"""PI piezo controllers over the PI General Command Set (GCS 2.0).

:class:`PIFocusStage` (focus, nm) has a :class:`GCSProtocol` on a shared serial connection.
"""

from .errors import GCS_ERRORS, describe_error
from .focus import PIFocusStage
from .gcs import GCSProtocol, parse_axis_values

__all__ = ["GCS_ERRORS", "GCSProtocol", "PIFocusStage", "describe_error", "parse_axis_values"]
