"""Exceptions raised by devices and drivers. Every message names the device and the problem."""

from __future__ import annotations


class HardwareError(Exception):
    """Base class of every device error."""


class LimitError(HardwareError, ValueError):
    """A requested move or setting lies outside the configured (soft) limits; nothing moved."""


class SettingError(HardwareError, ValueError):
    """A setting name is unknown, read-only, of the wrong type, or out of range."""


class DeviceTimeout(HardwareError, TimeoutError):
    """A device did not answer within its deadline."""


class ProtocolError(HardwareError):
    """A reply could not be parsed (garbled, wrong id, bad checksum)."""


class DeviceRejected(HardwareError):
    """The device understood the command and refused it (it returns an error code or flag)."""


class DeviceNotConnected(HardwareError, ConnectionError):
    """The port is missing or was lost and could not be reopened."""
