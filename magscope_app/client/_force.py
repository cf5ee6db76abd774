"""Force calibration from the client: ``scope.force`` (calibrate, fit_curve, set, ramp, curve,
surface). Forces in pN, magnet heights in mm, z in nm.

Long actions (calibration, ramp, surface search) return a :class:`ForceAction` handle that
follows the daemon's ``force`` events and checks ``force_status`` once a second while waiting,
so a lost event never hangs it; each action has an ``id``, so the events of an earlier action of
the same kind never end a handle.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from ..control.errors import CommandFailed
from ._events import Event

if TYPE_CHECKING:
    from ._scope import Scope

FINISHED = ("complete", "failed", "cancelled")
CHECK_S = 1.0


@dataclass(frozen=True)
class BeadCalibration:
    """One bead's calibration: ``force_pN`` ± ``force_error_pN`` (1σ; None if it failed),
    ``corner_hz``, ``corner_over_frame_rate`` (fc/fs), ``flag`` (None, or why the value is
    doubtful or failed), ``extension_nm`` used for the pendulum, ``height_mm`` of the magnets."""

    bead: int
    force_pN: float | None
    force_error_pN: float | None
    corner_hz: float | None
    corner_over_frame_rate: float | None
    flag: str | None
    extension_nm: float | None
    height_mm: float
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def spectra(self) -> dict[str, dict[str, list[float]]]:
        """Per axis ("x", "y"): the binned power spectrum for a plot, ``frequency_hz``, ``psd``
        (nm²/Hz), the fitted ``model`` and the plain ``lorentzian`` at the same frequencies
        (:func:`magscope_app.analysis.force.binned_spectrum`); empty if the bead failed."""
        return self.raw.get("spectra") or {}

    @classmethod
    def from_dict(cls, data: dict[str, Any], height_mm: float) -> BeadCalibration:
        names = ("force_pN", "force_error_pN", "corner_hz", "corner_over_frame_rate", "flag",
                 "extension_nm")  # fmt: skip
        return cls(data["bead"], *(data.get(n) for n in names), height_mm, data)


class ForceAction:
    """A running force action (``force_calibrate``, ``force_ramp`` or ``surface_find``):
    :attr:`progress` (dict: action, state, fraction, message), :attr:`done`, :meth:`wait`,
    :meth:`cancel`, :attr:`result` once complete."""

    def __init__(self, force: Force, started: dict[str, Any]) -> None:
        self._force = force
        self.action: str = started["action"]
        #: The daemon's number of this action (events and status of other actions are ignored).
        self.id: int = started["id"]
        self._progress: dict[str, Any] = dict(started)
        self._changed = threading.Event()
        self._finished = threading.Event()
        self._status: dict[str, Any] | None = None

    def _update(self, progress: dict[str, Any]) -> None:
        if progress.get("id") != self.id:
            return
        self._progress = progress
        if progress.get("state") in FINISHED:
            self._finished.set()
        self._changed.set()

    @property
    def progress(self) -> dict[str, Any]:
        return dict(self._progress)

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(
        self, timeout: float | None = None, *, progress: bool = False, file: TextIO | None = None
    ) -> Any:
        """Block until the action ends (at most ``timeout`` s) and return its result.

        ``progress=True`` prints a progress line (to ``file``, default stdout). Raises
        CommandFailed if it failed or was cancelled, TimeoutError at the deadline."""
        out = file or sys.stdout
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.is_set():
            step = CHECK_S if deadline is None else min(CHECK_S, deadline - time.monotonic())
            if step <= 0:
                raise TimeoutError(f"{self.action} still running after {timeout:g} s")
            if not self._changed.wait(step):
                self._update(self._force._scope.call("force_status"))
            self._changed.clear()
            if progress:
                p = self._progress
                print(f"\r{self.action}: {100 * (p.get('fraction') or 0):3.0f} % "
                      f"{p.get('message') or ''}   ", end="", file=out, flush=True)  # fmt: skip
        if progress:
            print(file=out)
        status = self._force._scope.call("force_status")
        self._status = status if status.get("id") == self.id else self._progress
        state = self._status.get("state")
        if state != "complete":
            raise CommandFailed("failed", f"{self.action} {state}: {self._status.get('message')}")
        return self.result

    @property
    def result(self) -> Any:
        """The daemon's result dict (None until complete)."""
        return (self._status or {}).get("result")

    def cancel(self) -> dict[str, Any]:
        """Cancel the action (magnets left where the action was; a surface search restores
        them)."""
        if not self.done:
            try:
                self._update(self._force._scope.call("force_cancel"))
            except CommandFailed:
                self._update(self._force._scope.call("force_status"))
        return self.progress


class Force:
    """The daemon's force calibration: calibrate, points, fit_curve, curve, save/load, set,
    ramp, force of every bead now, surface positions."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._handles: list[ForceAction] = []
        self._listening = False
        self._lock = threading.Lock()

    def _start(self, command: str, **args: Any) -> ForceAction:
        with self._lock:
            if not self._listening:
                self._scope._connection.events.watch("force", self._on_event)
                self._listening = True
        started = self._scope.call(command, **{k: v for k, v in args.items() if v is not None})
        handle = ForceAction(self, started)  # an event missed meanwhile: wait() polls the status
        with self._lock:
            self._handles = [h for h in self._handles if not h.done] + [handle]
        return handle

    def _on_event(self, event: Event) -> None:
        with self._lock:
            handles = list(self._handles)
        for handle in handles:
            if not handle.done:
                handle._update(event.payload)

    def calibrate(
        self,
        seconds: float,
        beads: list[int] | None = None,
        *,
        axis: str = "x",
        method: str = "spectrum",
        drag: str = "free",
        surface_z: float | None = None,
        bead_radius_nm: float | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> list[BeadCalibration] | ForceAction:
        """Calibrate the force on the tethered beads (or ``beads``) at the current magnet height
        from ``seconds`` of Brownian motion along ``axis`` (x: along the field; y: across; xy:
        both combined) fitted by ``method`` (spectrum, allan, both) with the ``drag`` free or
        fixed (stokes, faxen).
        Returns one :class:`BeadCalibration` per bead, or the handle if ``wait`` is False."""
        handle = self._start(
            "force_calibrate", seconds=seconds, beads=beads, axis=axis, method=method, drag=drag,
            surface_z=surface_z, bead_radius_nm=bead_radius_nm,
        )  # fmt: skip
        if not wait:
            return handle
        result = handle.wait(timeout)
        return [BeadCalibration.from_dict(b, result["height_mm"]) for b in result["beads"]]

    def points(self) -> dict[int, list[dict[str, float]]]:
        """Calibration points per bead: [{height_mm, force_pN, force_error_pN}]."""
        return {int(b): p for b, p in self._scope.call("force_points")["points"].items()}

    def fit_curve(self, terms: int = 2) -> dict[str, Any]:
        """Fit force against magnet height (per bead and pooled) from the points."""
        return self._scope.call("force_curve_fit", terms=terms)

    def curve(self) -> dict[str, Any]:
        """The force curves in use: {"pooled" or bead id: {params, height_range_mm, …}}."""
        return self._scope.call("force_curve")["curves"]

    def save(self, path: str | None = None) -> str:
        """Save the curves (default: into the Z-LUT file in use); returns the file's path."""
        return self._scope.call("force_curve_save", **({"path": path} if path else {}))["path"]

    def load(self, path: str | None = None) -> dict[str, Any]:
        """Load curves (default: from the Z-LUT file in use)."""
        return self._scope.call("force_curve_load", **({"path": path} if path else {}))

    def set(self, pN: float, bead: int | None = None) -> float:
        """Move the magnets to the height giving ``pN``; returns the height (mm). InvalidArgument
        outside the calibrated range."""
        args = {"pN": pN} | ({"bead": bead} if bead is not None else {})
        return self._scope.call("force_set", **args)["height_mm"]

    def ramp(
        self, from_pN: float, to_pN: float, rate_pN_per_s: float, bead: int | None = None
    ) -> ForceAction:
        """Change the force from ``from_pN`` to ``to_pN`` at ``rate_pN_per_s``; ``.wait()``."""
        return self._start("force_ramp", from_pN=from_pN, to_pN=to_pN,
                           rate_pN_per_s=rate_pN_per_s, bead=bead)  # fmt: skip

    def now(self) -> dict[int, float]:
        """Each bead's force (pN) at the current magnet height."""
        forces = self._scope.call("status")["force"]["forces_pN"]
        return {int(b): f for b, f in forces.items()}

    def status(self) -> dict[str, Any]:
        """The current or last force action (action, state, fraction, message, result)."""
        return self._scope.call("force_status")

    def find_surface(
        self,
        seconds: float = 3.0,
        beads: list[int] | None = None,
        *,
        height_mm: float | None = None,
        turns: float | None = None,
        wait: bool = True,
    ) -> dict[str, Any] | ForceAction:
        """Find each bead's surface z (magnets far away, optionally ``turns`` turned)."""
        handle = self._start("surface_find", seconds=seconds, beads=beads, height_mm=height_mm,
                             turns=turns)  # fmt: skip
        return handle.wait() if wait else handle

    def set_surface(self, bead: int, z_nm: float) -> None:
        """Set bead ``bead``'s surface z (nm) by hand."""
        self._scope.call("surface_set", bead=bead, z_nm=z_nm)
