"""Zaber stages over the Zaber ASCII protocol.

:class:`ZaberLinearStage` (magnet height, mm) and :class:`ZaberRotaryStage` (magnet rotation,
turns) each have a :class:`ZaberProtocol` on a shared serial connection.
"""

from .messages import WARNING_FLAGS, Alert, Info, Reply, encode_command, parse_message
from .protocol import ZaberProtocol
from .stages import ZaberLinearStage, ZaberRotaryStage

__all__ = [
    "WARNING_FLAGS",
    "Alert",
    "Info",
    "Reply",
    "ZaberLinearStage",
    "ZaberProtocol",
    "ZaberRotaryStage",
    "encode_command",
    "parse_message",
]
