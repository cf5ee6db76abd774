"""Z-LUT calibration from the client: ``scope.zlut.sweep(...)`` returns a :class:`SweepHandle`.

Focus positions in nm. The handle follows the daemon's ``zlut`` events (progress per plane, the
outcome) and checks ``zlut_status`` once a second while waiting, so a lost event never hangs it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from ..control.errors import CommandFailed
from ._events import Event
from ._status import SweepProgress

if TYPE_CHECKING:
    from ._scope import Scope

#: Outcomes of a sweep.
FINISHED = ("complete", "failed", "cancelled")
CHECK_S = 1.0


class SweepHandle:
    """A running Z-LUT sweep: :attr:`progress`, :attr:`done`, :meth:`updates`, :meth:`wait`,
    :meth:`cancel`, :attr:`report` (the quality report once complete)."""

    def __init__(self, zlut: ZLUT, accepted: dict[str, Any]) -> None:
        self._zlut = zlut
        self.planes: int = accepted["planes"]
        self.beads: list[int] = accepted["beads"]
        #: Warnings the daemon gave at the start (e.g. beads that move more than the step).
        self.warnings: list[str] = list(accepted.get("warnings", []))
        self._progress = SweepProgress.from_dict({"state": "running", "planes": self.planes})
        self._changed = threading.Event()
        self._finished = threading.Event()

    def _update(self, progress: SweepProgress) -> None:
        self._progress = progress
        if progress.state in FINISHED:
            self._finished.set()
        self._changed.set()

    @property
    def progress(self) -> SweepProgress:
        """The newest progress: state, plane of planes, profiles, eta_s (s), message."""
        return self._progress

    @property
    def done(self) -> bool:
        """True once the sweep is complete, failed or cancelled (focus and acquisition restored)."""
        return self._finished.is_set()

    def updates(self, timeout: float | None = None) -> Iterator[SweepProgress]:
        """Yield the progress now and then each time it changes (a plane done, the outcome),
        ending with the final progress once the sweep is over. TimeoutError if it still runs
        ``timeout`` s from now (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        shown = self._progress
        yield shown
        while not self._finished.is_set():
            step = CHECK_S if deadline is None else min(CHECK_S, deadline - time.monotonic())
            if step <= 0:
                raise TimeoutError(f"Z-LUT sweep still running after {timeout:g} s")
            if not self._changed.wait(step):
                self._update(self._zlut.status())
            self._changed.clear()
            if self._progress != shown:
                shown = self._progress
                yield shown

    def wait(
        self, timeout: float | None = None, *, progress: bool = False, file: TextIO | None = None
    ) -> SweepProgress:
        """Block until the sweep ends (at most ``timeout`` s) and return its final progress.

        ``progress=True`` prints a progress line (to ``file``, default stdout) as planes finish.
        Raises CommandFailed if the sweep failed, TimeoutError if it still runs at the deadline.
        """
        out = file or sys.stdout
        for update in self.updates(timeout):
            if progress:
                end = "" if update.state == "running" else "\n"
                print(f"\r{_line(update)}", end=end, file=out, flush=True)
        final = self._progress
        if final.state == "failed":
            raise CommandFailed("failed", f"Z-LUT sweep failed: {final.message}")
        return final

    def cancel(self) -> SweepProgress:
        """Cancel the sweep; returns once the focus, acquisition and ROIs are restored."""
        if not self.done:
            try:
                self._update(SweepProgress.from_dict(self._zlut._scope.call("zlut_cancel")))
            except CommandFailed:
                self._update(self._zlut.status())  # it ended meanwhile
        return self._progress

    @property
    def report(self) -> dict[str, Any]:
        """The quality report of the LUTs (``zlut_show``): per bead contrast, plane separation,
        predicted σz, rejected beads with the reason, and ``text`` (a readable table)."""
        return self._zlut.show()


def _line(p: SweepProgress) -> str:
    eta = "" if p.eta_s is None else f", {p.eta_s:.0f} s left"
    if p.state == "running":
        return f"Z-LUT sweep: plane {p.plane}/{p.planes}, {p.profiles} profiles{eta}   "
    return f"Z-LUT sweep {p.state}: {p.message or ''}"


@dataclass(frozen=True)
class BeadLUT:
    """One bead's Z-LUT as the trackers use it: ``profiles[i]`` (n_bins values at the radii
    ``radii_px``, px) is the radial profile at height ``z_nm[i]`` (nm, ascending); ``default``:
    the LUT shared by every bead without its own."""

    bead: int
    z_nm: np.ndarray
    profiles: np.ndarray
    radii_px: np.ndarray
    default: bool = False


class ZLUT:
    """Z-LUTs of the daemon: sweep, status, cancel, show, get, save, load."""

    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._handles: list[SweepHandle] = []
        self._listening = False
        self._lock = threading.Lock()

    def sweep(
        self, start: float, stop: float, step: float, per_plane: int, *, settle: float = 0.1
    ) -> SweepHandle:
        """Start recording per-bead Z-LUTs: the focus steps from ``start`` to ``stop`` nm by
        ``step`` nm, capturing ``per_plane`` profiles per bead at each plane after ``settle`` s
        on target. Refused (InvalidArgument) without focus stage or beads, outside the focus
        limits or with fewer than 3 planes."""
        with self._lock:
            if not self._listening:
                self._scope._connection.events.watch("zlut", self._on_event)
                self._listening = True
        accepted = self._scope.call(
            "zlut_sweep", start=start, stop=stop, step=step, per_plane=per_plane, settle_s=settle
        )
        handle = SweepHandle(self, accepted)
        with self._lock:
            self._handles = [h for h in self._handles if not h.done] + [handle]
        return handle

    def _on_event(self, event: Event) -> None:
        if event.topic != "zlut":
            return
        progress = SweepProgress.from_dict(event.payload)
        with self._lock:
            handles = list(self._handles)
        for handle in handles:
            if not handle.done:
                handle._update(progress)

    def status(self) -> SweepProgress:
        """Progress of the current or last sweep (state ``idle`` before any)."""
        return SweepProgress.from_dict(self._scope.call("zlut_status"))

    def cancel(self) -> SweepProgress:
        """Cancel the running sweep (CommandFailed if none runs)."""
        return SweepProgress.from_dict(self._scope.call("zlut_cancel"))

    def show(self) -> dict[str, Any]:
        """The quality report of the LUTs in use (``report`` dict and ``text``)."""
        return self._scope.call("zlut_show")

    def get(self, bead: int) -> BeadLUT:
        """The Z-LUT bead ``bead`` is tracked with (InvalidArgument when it has none): arrays
        ``z_nm`` (m,), ``profiles`` (m, n_bins), ``radii_px`` (n_bins,)."""
        d = self._scope.call("zlut_get", bead=int(bead))
        return BeadLUT(
            bead=int(d["bead"]),
            z_nm=np.asarray(d["z_nm"], dtype=np.float64),
            profiles=np.asarray(d["profiles"], dtype=np.float64).reshape(len(d["z_nm"]), -1),
            radii_px=np.asarray(d["radii_px"], dtype=np.float64),
            default=bool(d.get("default")),
        )

    def save(self, path: str) -> dict[str, Any]:
        """Save the LUTs in use to the HDF5 file ``path`` (on the daemon's machine)."""
        return self._scope.call("zlut_save", path=str(path))

    def load(
        self, path: str, *, bead: int | None = None, one_for_all: int | None = None
    ) -> dict[str, Any]:
        """Load LUTs from ``path`` (HDF5, or a MagScope text LUT for ``bead``); ``one_for_all``:
        apply that bead's LUT to every bead. Refused if made with other profile settings."""
        args: dict[str, Any] = {"path": str(path)}
        if bead is not None:
            args["bead"] = bead
        if one_for_all is not None:
            args["one_for_all"] = one_for_all
        return self._scope.call("zlut_load", **args)
