"""Device emulators for the serial driver tests: each speaks its real protocol on a pseudo
terminal, simulates motion, and injects faults (rejections, garbled replies, silence, a port that
disappears and comes back)."""

from .pi import PIEmulator
from .pty_port import Fault, PtyEmulator
from .zaber import ZaberEmulator

__all__ = ["Fault", "PIEmulator", "PtyEmulator", "ZaberEmulator"]
