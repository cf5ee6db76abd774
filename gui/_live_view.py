"""The live view: the newest camera frame, bead ROIs, pixel readout, rates.

Frames come from the :class:`~._frames.FrameGrabber` thread (the VideoBuffer's lock-free
``peek_image``: the camera is never held back, nothing goes through the socket), one at a time,
at most ~30 per second; a heartbeat timer measures how long the GUI thread was ever busy. Levels
belong to the view (the histogram widget, or "Auto levels" once), never re-computed per frame;
the histogram itself is refreshed at :data:`HISTOGRAM_MS`.

Mouse: a left click on the image adds a bead there (``add_beads``) when "Add beads on click" is
on; dragging a ROI moves its bead (``move_bead``); a click on a ROI selects it (Ctrl: add to the
selection); a right click on a ROI, or Delete, removes the selected beads (``remove_beads``).
Bead coordinates are the daemon's: pixel (0, 0)'s centre is (0, 0), so image-item coordinates are
bead coordinates + 0.5.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut, QTransform
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsSimpleTextItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from magscope_app.buffers.layouts import TrackFlags

from ._bridge import Bridge
from ._events import DaemonEvents
from ._feed import DataFeed
from ._history import FLAGS, LOST_FLAGS, TIME, X_PX
from ._selection import BeadSelection

#: Heartbeat period (ms) of the GUI-thread stall measurement.
HEARTBEAT_MS = 33
#: Histogram refresh period (ms).
HISTOGRAM_MS = 500
#: Bead overlay state refresh period (ms).
STATE_MS = 500
#: A bead with no track row for this long (s) while others have rows is shown as lost.
LOST_AFTER_S = 2.0
#: The longest rates readout expected (sets its fixed width).
RATES_TEMPLATE = "frame 000000000  ·  camera 000.0 fps  ·  display 00/s  ·  frames lost 00000000"
COLORMAPS = ("grey", "viridis", "inferno", "magma", "cividis")
#: Pen colours of the bead states.
STATE_COLOURS = {
    "tracked": (60, 220, 90),
    "selected": (255, 200, 0),
    "reference": (0, 200, 255),
    "flagged": (230, 90, 230),
    "lost": (255, 60, 60),
}


def colormap(name: str) -> pg.ColorMap:
    if name == "grey":
        return pg.ColorMap([0.0, 1.0], [(0, 0, 0), (255, 255, 255)])
    return pg.colormap.get(name)


class _Image(pg.ImageItem):
    """The frame; reports left clicks that no ROI took (image-item coordinates)."""

    clicked = pyqtSignal(float, float, object)

    def mouseClickEvent(self, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            pos = ev.pos()
            self.clicked.emit(pos.x(), pos.y(), ev.modifiers())
        else:
            ev.ignore()


class _BeadItem(pg.ROI):
    """One bead's ROI square with its id; dragging it moves the bead."""

    def __init__(self, bead: int, size: int) -> None:
        pen = pg.mkPen(STATE_COLOURS["tracked"], width=1.5)
        super().__init__((0, 0), (size, size), movable=True, rotatable=False, resizable=False,
                         removable=False, pen=pen)  # fmt: skip
        self.bead = bead
        self.bead_state = "tracked"
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton)
        # the id: a plain Qt item (painted without calls into Python), screen-sized at any zoom
        self.label = QGraphicsSimpleTextItem(str(bead), self)
        self.label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.label.setBrush(pg.mkBrush(STATE_COLOURS["tracked"]))
        height = self.label.boundingRect().height()  # above the square's top-left corner
        self.label.setTransform(QTransform.fromTranslate(0, -height))
        self._bounds: QRectF | None = None
        for item in (self, self.label):  # a pixmap each: 100 ROIs redrawn with every frame
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def boundingRect(self) -> QRectF:
        """Cached (Qt asks several times per paint; pg.ROI computes it anew every time)."""
        if self._bounds is None:
            self._bounds = super().boundingRect()
        return self._bounds

    def prepareGeometryChange(self) -> None:
        self._bounds = None
        super().prepareGeometryChange()

    def place(self, x: float, y: float, size: int) -> None:
        """Centre on bead coordinates (x, y) px without emitting a move."""
        if self.isMoving:
            return
        if self.size()[0] != size:
            self.setSize((size, size), update=False, finish=False)
        target = (x + 0.5 - size / 2, y + 0.5 - size / 2)
        if tuple(self.pos()) != target:  # a move costs ~0.3 ms (pg.ROI's state and signals)
            self.setPos(target, update=True, finish=False)

    def centre(self) -> tuple[float, float]:
        """Bead coordinates of the square's centre."""
        pos, size = self.pos(), self.size()
        return pos.x() + size[0] / 2 - 0.5, pos.y() + size[1] / 2 - 0.5

    def set_state(self, state: str) -> None:
        if state != self.bead_state:
            self.bead_state = state
            colour = STATE_COLOURS[state]
            self.setPen(pg.mkPen(colour, width=2.5 if state == "selected" else 1.5))
            self.label.setBrush(pg.mkBrush(colour))


class LiveView(QWidget):
    """Central live view. For benchmarks: ``display_updates`` counts frames shown;
    ``max_gap_ms`` is the longest wall time between two heartbeat ticks (a GUI-thread stall,
    whatever its cause); ``max_busy_ms`` the most CPU time the GUI thread used between two ticks
    (the part of a stall caused by the window's own work, not by a loaded machine)."""

    pixel = pyqtSignal(float, float, float)  # x, y, value under the mouse

    def __init__(
        self,
        bridge: Bridge,
        events: DaemonEvents,
        feed: DataFeed,
        selection: BeadSelection,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge, self._events, self._feed, self._selection = bridge, events, feed, selection
        self._items: dict[int, _BeadItem] = {}
        self._roi_size = 64
        self._frame_number: int | None = None
        self._frame: np.ndarray | None = None
        self._levels_set = False
        self._status: dict[str, Any] = {}
        self._rate: list[float] = []
        self._last_tick: tuple[float, float] | None = None
        self._candidates: list[pg.GraphicsObject] = []
        self._rates_shown = 0.0
        self.display_updates = 0
        self.max_gap_ms = 0.0
        self.max_busy_ms = 0.0

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewbox = self.graphics.addViewBox(lockAspect=True, invertY=True)
        self.viewbox.setMenuEnabled(False)
        self.image = _Image(axisOrder="row-major")
        self.image.setAutoDownsample(True)  # draw a 1024² frame at the view's resolution
        self.viewbox.addItem(self.image)
        self.histogram = pg.HistogramLUTWidget()
        self.histogram.setImageItem(self.image)
        self.image.sigImageChanged.disconnect(self.histogram.item.imageChanged)

        self.colormap_box = QComboBox()
        self.colormap_box.addItems(COLORMAPS)
        self.colormap_box.currentTextChanged.connect(self.set_colormap)
        self.add_on_click = QCheckBox("Add beads on click")
        self.add_on_click.setChecked(True)
        auto = QPushButton("Auto levels")
        auto.clicked.connect(self.auto_levels)
        self.rates = QLabel("no frames yet")
        # fixed width: a label that grew with its numbers would re-lay out (and widen) the whole
        # window several times a second, and every plot would redraw its axes
        self.rates.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.rates.setFixedWidth(self.rates.fontMetrics().horizontalAdvance(RATES_TEMPLATE))
        self.readout = QLabel("")
        self.readout.setMinimumWidth(220)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Colormap"))
        bar.addWidget(self.colormap_box)
        bar.addWidget(auto)
        bar.addWidget(self.add_on_click)
        bar.addStretch(1)
        bar.addWidget(self.readout)
        bar.addWidget(self.rates)
        body = QHBoxLayout()
        body.addWidget(self.graphics, 1)
        body.addWidget(self.histogram)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addLayout(body, 1)

        self.image.clicked.connect(self._on_image_clicked)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        delete = QShortcut(QKeySequence(Qt.Key.Key_Delete), self)
        delete.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        delete.activated.connect(self.remove_selected)
        events.beads.connect(self.set_beads)
        events.status.connect(self._on_status)
        selection.changed.connect(self._refresh_states)
        feed.attached.connect(self._on_attached)

        feed.frames.frame.connect(self._on_frame)
        self._heartbeat = QTimer(self)  # a heartbeat: how long the GUI thread was busy
        self._heartbeat.timeout.connect(self._tick)
        self._heartbeat.start(HEARTBEAT_MS)
        feed.every(HISTOGRAM_MS, self._update_histogram)
        feed.every(STATE_MS, self._refresh_states)
        self.set_colormap("grey")

    # -- frames ------------------------------------------------------------------------------------
    def _on_attached(self) -> None:
        self._frame_number = None

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self._last_tick is not None:
            self.max_gap_ms = max(self.max_gap_ms, (now - self._last_tick[0]) * 1e3)
            self.max_busy_ms = max(self.max_busy_ms, (cpu - self._last_tick[1]) * 1e3)
        self._last_tick = (now, cpu)

    def _on_frame(self, number: int, image: np.ndarray) -> None:
        """A new frame from the grabber thread: show it, then let the grabber pull the next."""
        try:
            self._show(number, image)
        finally:
            self._feed.frames.taken()

    def _show(self, number: int, image: np.ndarray) -> None:
        now = time.perf_counter()
        self._frame_number, self._frame = number, image
        self.image.setImage(self._frame, autoLevels=False)
        if not self._levels_set:
            self.auto_levels()
            self.viewbox.autoRange(padding=0.0)
        self.display_updates += 1
        self._rate = [t for t in self._rate if now - t < 2.0] + [now]
        if now - self._rates_shown > 0.25:  # a label update re-lays out the bar: 4 per second
            self._rates_shown = now
            self._show_rates()

    def auto_levels(self) -> None:
        """Set the levels once from the current frame (0.5 and 99.8 percentiles)."""
        if self._frame is None:
            return
        sample = self._frame[::4, ::4]
        low, high = np.percentile(sample, (0.5, 99.8))
        self.histogram.item.setLevels(float(low), float(max(high, low + 1)))
        top = 2 ** max(8, int(np.ceil(np.log2(float(self._frame.max()) + 1)))) - 1
        self.histogram.item.setHistogramRange(0, top)  # the camera's bit depth, 8 to 16 bits
        self._levels_set = True
        self._update_histogram()

    def levels(self) -> tuple[float, float]:
        return tuple(self.histogram.item.getLevels())

    def _update_histogram(self) -> None:
        if self._frame is not None and self.isVisible():
            self.histogram.item.imageChanged(autoLevel=False)

    def set_colormap(self, name: str) -> None:
        self.histogram.item.gradient.setColorMap(colormap(name))
        if self.colormap_box.currentText() != name:
            self.colormap_box.setCurrentText(name)

    def _on_status(self, status: dict[str, Any]) -> None:
        self._status = status
        self._show_rates()

    def _show_rates(self) -> None:
        camera = self._status.get("camera", {})
        tracking = self._status.get("tracking") or {}
        lost = camera.get("frames_lost", 0) + tracking.get("frames_lost", 0)
        shown = max(len(self._rate) - 1, 0) / 2.0
        self.rates.setText(
            f"frame {self._frame_number if self._frame_number is not None else '-'}  ·  "
            f"camera {camera.get('fps', 0.0):.1f} fps  ·  display {shown:.0f}/s  ·  "
            f"frames lost {lost}"
        )
        self.rates.setStyleSheet("color: #d33;" if lost else "")

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._frame is None:
            return
        point = self.viewbox.mapSceneToView(scene_pos)  # the image sits at the view's origin
        col, row = math.floor(point.x()), math.floor(point.y())
        height, width = self._frame.shape
        if 0 <= col < width and 0 <= row < height:
            value = float(self._frame[row, col])
            self.readout.setText(f"x {col}  y {row}  value {value:g}")
            self.pixel.emit(col, row, value)
        else:
            self.readout.setText("")

    # -- beads -------------------------------------------------------------------------------------
    def set_beads(self, beads: list[dict[str, Any]]) -> None:
        """Show the daemon's bead list (``beads`` command entries)."""
        present = {int(b["id"]) for b in beads}
        for bead in [b for b in self._items if b not in present]:
            self.viewbox.removeItem(self._items.pop(bead))
        for entry in beads:
            bead = int(entry["id"])
            self._roi_size = int(entry.get("roi_size", self._roi_size))
            item = self._items.get(bead)
            if item is None:
                item = self._items[bead] = _BeadItem(bead, self._roi_size)
                item.sigRegionChangeFinished.connect(self._on_dragged)
                item.sigClicked.connect(self._on_bead_clicked)
                self.viewbox.addItem(item)
            item.reference = _is_reference(entry)
            item.place(float(entry["x"]), float(entry["y"]), self._roi_size)
        self._selection.keep_only(present)
        self._refresh_states()

    def bead_items(self) -> dict[int, _BeadItem]:
        return dict(self._items)

    def _refresh_states(self) -> None:
        history = self._feed.history
        selected = set(self._selection.ids)
        luts = bool((self._status.get("tracking") or {}).get("zluts"))
        for bead, item in self._items.items():
            item.set_state(_bead_state(bead, item, selected, history, luts))

    def _on_image_clicked(self, x: float, y: float, modifiers: Any) -> None:
        self.graphics.setFocus()
        if not self.add_on_click.isChecked():
            self._selection.set([])
            return
        self.add_bead(x - 0.5, y - 0.5)

    def add_bead(self, x: float, y: float) -> None:
        """Ask the daemon to add a bead centred at (x, y) px."""
        self._bridge.call("add_beads", on_result=self._changed, rois=[[round(x, 2), round(y, 2)]])

    def _on_dragged(self, item: _BeadItem) -> None:
        x, y = item.centre()
        self._bridge.call("move_bead", on_result=self._changed, on_error=self._undo_drag,
                          id=item.bead, x=round(x, 2), y=round(y, 2))  # fmt: skip

    def _undo_drag(self, code: str, message: str) -> None:
        self._events.refresh()  # the daemon's bead list puts the ROI back

    def _on_bead_clicked(self, item: _BeadItem, ev: Any) -> None:
        self.graphics.setFocus()
        if ev.button() == Qt.MouseButton.RightButton:
            self._bridge.call("remove_beads", on_result=self._changed, ids=[item.bead])
        elif ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._selection.toggle(item.bead)
        else:
            self._selection.set([item.bead])

    def remove_selected(self) -> None:
        ids = self._selection.ids
        if ids:
            self._bridge.call("remove_beads", on_result=self._changed, ids=ids)

    def _changed(self, result: Any) -> None:
        self._events.refresh()

    # -- find-beads preview ------------------------------------------------------------------------
    def show_candidates(self, candidates: list[tuple[float, float, float]]) -> None:
        """Preview candidate beads ``(x, y, score)`` as circles with their score."""
        self.clear_candidates()
        for x, y, score in candidates:
            circle = pg.QtWidgets.QGraphicsEllipseItem(x + 0.5 - 8, y + 0.5 - 8, 16, 16)
            circle.setPen(pg.mkPen((255, 200, 0), width=1.5, style=Qt.PenStyle.DashLine))
            text = pg.TextItem(f"{score:.2g}", color=(255, 200, 0), anchor=(0, 0))
            text.setPos(x + 8, y + 8)
            for item in (circle, text):
                self.viewbox.addItem(item)
                self._candidates.append(item)

    def clear_candidates(self) -> None:
        for item in self._candidates:
            self.viewbox.removeItem(item)
        self._candidates.clear()

    def closeEvent(self, event: Any) -> None:
        self._heartbeat.stop()
        super().closeEvent(event)


def _is_reference(entry: dict[str, Any]) -> bool:
    kind = entry.get("class") or entry.get("kind") or entry.get("classification")
    return bool(entry.get("reference")) or kind in ("stuck", "reference")


def _bead_state(
    bead: int, item: _BeadItem, selected: set[int], history: Any, luts_loaded: bool
) -> str:
    if bead in selected:
        return "selected"
    row = history.latest(bead)
    if row is not None:
        stale = history.latest_time - row[TIME] > LOST_AFTER_S
        flags = int(row[FLAGS])
        if stale or flags & LOST_FLAGS or not math.isfinite(row[X_PX]):
            return "lost"
        if not luts_loaded:  # without a Z-LUT every bead has Z_INVALID: not worth a flag
            flags &= ~int(TrackFlags.Z_INVALID)
        if flags:
            return "flagged"
    if getattr(item, "reference", False):
        return "reference"
    return "tracked"
