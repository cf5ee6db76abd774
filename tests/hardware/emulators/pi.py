"""A PI E-709-like piezo controller speaking GCS 2.0 on a pty.

Understands ``*IDN?``, ``ERR?``, ``SVO``/``SVO?``, ``MOV``/``MOV?``, ``MVR``, ``POS?``,
``ONT?``, ``VEL``/``VEL?``, ``STP``, ``TMN?``/``TMX?``. Queries without an axis answer for every
axis, one line each (all but the last end with a space). Errors set the error register, which
``ERR?`` reads and clears; a query that fails sends no reply.

Faults (see :meth:`PtyEmulator.inject`): "silence" (ignore the line), "garble" (answer a query
with noise), "error" (value: the code the command leaves in the error register).
"""

from __future__ import annotations

from pathlib import Path

from .motion import Axis
from .pty_port import PtyEmulator

IDN = "(c)2024 Emulated Instruments, E-709 emulator, 0000000000, 1.0.0"


class PIEmulator(PtyEmulator):
    """Controller with axes ``axes`` (travel 0..``travel_um`` µm) moving at ``velocity`` µm/s."""

    def __init__(
        self,
        link_path: Path,
        *,
        axes: tuple[str, ...] = ("1",),
        travel_um: float = 100.0,
        velocity: float = 5000.0,
        start_um: float = 10.0,
    ) -> None:
        super().__init__(link_path)
        self.travel_um = travel_um
        self.axes = {a: Axis(start_um, velocity) for a in axes}
        self.servo = dict.fromkeys(axes, False)
        self.error = 0

    def handle_line(self, line: bytes) -> bytes | None:
        text = line.decode("ascii", "replace").strip()
        self.received.append(text)
        fault = self.take_fault(text)
        if fault and fault.kind == "silence":
            return None
        if fault and fault.kind == "garble" and "?" in text:
            return b"\x00\x7f1=\x1b[garbage\n"
        if fault and fault.kind == "error":
            self.error = int(fault.value)  # type: ignore[arg-type]
            return None
        words = text.split()
        if not words:
            return None
        reply = self._execute(words[0], words[1:])
        if reply is None:
            return None
        return (" \n".join(reply) + "\n").encode("ascii")

    def _fail(self, code: int) -> None:
        if self.error == 0:  # the register keeps the first error until read
            self.error = code

    def _execute(self, name: str, args: list[str]) -> list[str] | None:
        if name == "*IDN?":
            return [IDN]
        if name == "ERR?":
            code, self.error = self.error, 0
            return [str(code)]
        if name == "STP":
            for axis in self.axes.values():
                axis.stop()
            self._fail(10)
            return None
        queries = {
            "POS?": lambda a: f"{self.axes[a].position():.6f}",
            "MOV?": lambda a: f"{self.axes[a].target:.6f}",
            "ONT?": lambda a: "1" if self.servo[a] and not self.axes[a].moving() else "0",
            "SVO?": lambda a: "1" if self.servo[a] else "0",
            "VEL?": lambda a: f"{self.axes[a].speed:.6f}",
            "TMN?": lambda a: "0.000000",
            "TMX?": lambda a: f"{self.travel_um:.6f}",
        }
        if name in queries:
            axes = args or list(self.axes)
            if any(a not in self.axes for a in axes):
                self._fail(15)
                return None
            return [f"{a}={queries[name](a)}" for a in axes]
        if name in ("SVO", "MOV", "MVR", "VEL"):
            self._set(name, args)
            return None
        self._fail(2)
        return None

    def _set(self, name: str, args: list[str]) -> None:
        if not args or len(args) % 2:
            self._fail(1)
            return
        pairs = list(zip(args[::2], args[1::2], strict=True))
        for axis, value in pairs:
            if axis not in self.axes:
                self._fail(15)
                return
            try:
                number = float(value)
            except ValueError:
                self._fail(1)
                return
            if name == "SVO":
                self.servo[axis] = number != 0
            elif name == "VEL":
                if number <= 0:
                    self._fail(17)
                    return
                self.axes[axis].speed = number
            else:
                if not self.servo[axis]:
                    self._fail(5)
                    return
                target = number + (self.axes[axis].target if name == "MVR" else 0.0)
                if not 0.0 <= target <= self.travel_um:
                    self._fail(7)
                    return
                self.axes[axis].move_to(target)
