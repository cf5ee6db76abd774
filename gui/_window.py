"""The main window: toolbar, central live view, docked panels and plots.

Everything is injected: the :class:`~._bridge.Bridge` (all daemon calls), the
:class:`~._events.DaemonEvents` (what happens in the daemon), and, when the window started its
own daemon, the :class:`~._daemon.OwnDaemon` it stops when it closes (an attached window
restarts a daemon that died with ``daemon_config``, and then owns it). The layout is saved per
instance in :class:`QSettings` ("Reset layout" restores the built-in one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import QSettings, Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ._banner import DaemonBanner
from ._bridge import Bridge
from ._camera_panel import CameraPanel
from ._daemon import OwnDaemon
from ._events import DaemonEvents
from ._feed import DataFeed
from ._find_beads import FindBeadsDialog
from ._force_extension_plot import ForceExtensionPlot
from ._force_panel import ForcePanel
from ._live_view import LiveView
from ._lock_panel import LockPanel
from ._log_panel import LogPanel
from ._motor_plots import MotorPlots
from ._motors_panel import MotorsPanel
from ._overview_plot import OverviewPlot
from ._profile_plot import ProfilePlot
from ._recording_panel import RecordingPanel
from ._scripts_panel import ACTIVE as SCRIPT_ACTIVE
from ._scripts_panel import ScriptsPanel
from ._selection import BeadSelection
from ._status_panel import StatusPanel
from ._trace_plots import TracePlots
from ._tracking_panel import TrackingPanel
from ._zlut_panel import ZLUTPanel

#: Bump when the dock set changes, so an old saved layout is not restored onto new docks.
LAYOUT_VERSION = 3
STOP_ALL_SHORTCUT = "Esc"


def window_settings(instance: str) -> QSettings:
    """Where the window of daemon ``instance`` keeps its layout."""
    return QSettings("magscope-app", f"window-{instance}")


class MainWindow(QMainWindow):
    """The operator's window for daemon ``instance``."""

    def __init__(
        self,
        bridge: Bridge,
        events: DaemonEvents,
        *,
        instance: str,
        own_daemon: OwnDaemon | None = None,
        settings: QSettings | None = None,
        daemon_config: Path | None = None,
    ) -> None:
        super().__init__()
        self.bridge, self.events, self.instance = bridge, events, instance
        self.own_daemon = own_daemon
        self.daemon_config = daemon_config
        self.settings = settings if settings is not None else window_settings(instance)
        self.status: dict[str, Any] = {}
        self._closing = False
        self._dialog: FindBeadsDialog | None = None
        self._update_title(False)
        self.resize(1600, 1000)

        self.feed = DataFeed(bridge, events, self)
        self.selection = BeadSelection(self)
        self.banner = DaemonBanner()
        self.live_view = LiveView(bridge, events, self.feed, self.selection)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.live_view, 1)
        self.setCentralWidget(central)

        self.status_panel = StatusPanel(events, self.feed)
        self.camera_panel = CameraPanel(bridge, events)
        self.tracking_panel = TrackingPanel(bridge, events)
        self.motors_panel = MotorsPanel(bridge, events)
        self.zlut_panel = ZLUTPanel(bridge, events)
        self.recording_panel = RecordingPanel(bridge, events)
        self.scripts_panel = ScriptsPanel(bridge, events)
        self.lock_panel = LockPanel(bridge, events, self.selection)
        self.force_panel = ForcePanel(bridge, events, self.selection)
        self.force_extension_plot = ForceExtensionPlot(events, self.feed, self.selection)
        self.trace_plots = TracePlots(self.feed, self.selection)
        self.overview_plot = OverviewPlot(self.feed)
        self.profile_plot = ProfilePlot(bridge, events, self.feed, self.selection)
        self.motor_plots = MotorPlots(self.feed)
        self.log_panel = LogPanel()
        self.docks: dict[str, QDockWidget] = {}
        left = Qt.DockWidgetArea.LeftDockWidgetArea
        right = Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        groups = (  # one tabbed group per area; the first dock of each is shown
            (left, (("Status", self.status_panel), ("Camera", self.camera_panel),
                    ("Tracking", self.tracking_panel))),
            (right, (("Motors", self.motors_panel), ("Z-LUT", self.zlut_panel),
                     ("Recording", self.recording_panel), ("Scripts", self.scripts_panel),
                     ("Locks", self.lock_panel), ("Force", self.force_panel))),
            (bottom, (("Traces", self.trace_plots), ("All beads", self.overview_plot),
                      ("Profile", self.profile_plot), ("Motor plots", self.motor_plots),
                      ("Force plots", self.force_panel.plots),
                      ("Force–extension", self.force_extension_plot), ("Log", self.log_panel))),
        )  # fmt: skip
        for area, docks in groups:
            first = self._add_dock(*docks[0])
            self.addDockWidget(area, first)
            for title, widget in docks[1:]:  # straight into the tabs: no split to undo
                self.tabifyDockWidget(first, self._add_dock(title, widget))
        for name in ("Status", "Motors", "Traces"):
            self.docks[name].raise_()
        self.resizeDocks([self.docks["Status"], self.docks["Motors"]], [340, 460],
                         Qt.Orientation.Horizontal)  # fmt: skip
        self.resizeDocks([self.docks["Traces"]], [300], Qt.Orientation.Vertical)
        self._build_actions()
        self.script_state = QLabel("")
        self.statusBar().addPermanentWidget(self.script_state)
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._restore_layout()
        self._hide_stale_tab_bars()

        events.status.connect(self._on_status)
        events.beads.connect(self._on_beads)
        events.notification.connect(self.notify)
        events.connected.connect(self._on_connected)
        events.disconnected.connect(self._on_disconnected)
        bridge.failed.connect(self._on_failed)
        self.banner.restart_requested.connect(self.restart_daemon)
        events.start()

    # -- building ----------------------------------------------------------------------------------
    def _add_dock(self, title: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        dock.setWidget(widget)
        self.docks[title] = dock
        return dock

    def _build_actions(self) -> None:
        toolbar = QToolBar("Main")
        toolbar.setObjectName("toolbar-main")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(toolbar)
        self.acquire_action = QAction("Acquiring", self, checkable=True)
        self.acquire_action.setToolTip("Pause or resume acquisition")
        self.acquire_action.triggered.connect(self._set_acquiring)
        self.find_action = QAction("Find beads…", self)
        self.find_action.triggered.connect(self.find_beads)
        self.classify_action = QAction("Classify beads", self)
        self.classify_action.setToolTip("Stuck or tethered, from the last seconds of tracks")
        self.classify_action.triggered.connect(self.classify_beads)
        self.stop_all_action = QAction("■ STOP ALL MOTORS", self)
        self.stop_all_action.setShortcut(QKeySequence(STOP_ALL_SHORTCUT))
        self.stop_all_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.stop_all_action.setToolTip(f"Stop every motor now ({STOP_ALL_SHORTCUT})")
        self.stop_all_action.triggered.connect(self.motors_panel.stop_all)
        self.reset_layout_action = QAction("Reset layout", self)
        self.reset_layout_action.triggered.connect(self.reset_layout)
        for action in (self.acquire_action, self.find_action, self.classify_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.stop_all_action)
        toolbar.addSeparator()
        toolbar.addAction(self.reset_layout_action)
        button = toolbar.widgetForAction(self.stop_all_action)
        button.setStyleSheet("color: white; background: #c22; font-weight: bold; padding: 3px 8px;")
        view = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction(self.reset_layout_action)
        beads_menu = self.menuBar().addMenu("&Beads")
        beads_menu.addAction(self.find_action)
        beads_menu.addAction(self.classify_action)
        self.menuBar().addMenu("&Motors").addAction(self.stop_all_action)

    # -- layout ------------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)
            self._hide_stale_tab_bars()

    def _hide_stale_tab_bars(self) -> None:
        """Qt 6.11 leaves a visible copy of a tab group's first tab bar (its first two tabs)
        when a second group is made; hide every bar whose tabs begin a longer bar's tabs."""
        bars = [(bar, [bar.tabText(i) for i in range(bar.count())])
                for bar in self.findChildren(QTabBar)]  # fmt: skip
        for bar, tabs in bars:
            if any(len(other) > len(tabs) and other[: len(tabs)] == tabs for _b, other in bars):
                bar.hide()

    def save_layout(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        """Back to the built-in arrangement of the toolbar and docks."""
        for dock in self.docks.values():
            dock.show()
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self._hide_stale_tab_bars()

    # -- daemon state ------------------------------------------------------------------------------
    def _update_title(self, online: bool) -> None:
        owner = "own daemon" if self.own_daemon is not None else "attached"
        state = "" if online else " — not connected"
        self.setWindowTitle(f"magscope-app — {self.instance} ({owner}){state}")

    def _on_status(self, status: dict[str, Any]) -> None:
        self.status = status
        self.acquire_action.blockSignals(True)
        self.acquire_action.setChecked(bool(status.get("acquiring")))
        self.acquire_action.setText("Acquiring" if status.get("acquiring") else "Paused")
        self.acquire_action.blockSignals(False)
        self.script_state.setText(self.scripts_panel.summary())

    def _on_beads(self, beads: list[dict[str, Any]]) -> None:
        self.trace_plots.set_beads([int(b["id"]) for b in beads])

    def _on_connected(self) -> None:
        self.banner.hide()
        self._update_title(True)

    def _on_disconnected(self, message: str) -> None:
        if self._closing:
            return
        self._update_title(False)
        if self.own_daemon is not None and not self.own_daemon.running:
            message += f" — its last output: {self.own_daemon.output()}"
        self.banner.show_lost(message)
        self.notify("error", "daemon", f"the daemon is not running: {message}")

    def _on_failed(self, command: str, code: str, message: str) -> None:
        if code != "disconnected":
            self.notify("warning", command, message)

    def notify(self, level: str, source: str, text: str) -> None:
        """A non-blocking notification: the status bar (10 s) and the log panel."""
        self.log_panel.add(level, source, text)
        colour = {"error": "#d33", "warning": "#c80"}.get(level, "")
        self.statusBar().setStyleSheet(f"color: {colour};" if colour else "")
        self.statusBar().showMessage(f"{level}: {source}: {text}", 10_000)

    def _set_acquiring(self, on: bool) -> None:
        self.bridge.call("resume" if on else "pause", on_result=self._refresh)

    def _refresh(self, result: Any = None) -> None:
        self.events.refresh()

    def find_beads(self) -> None:
        if self._dialog is None:
            self._dialog = FindBeadsDialog(self.bridge, self.events, self.live_view, self)
        self._dialog.show()
        self._dialog.raise_()
        self._dialog.find()

    def classify_beads(self) -> None:
        """Ask the daemon which beads are stuck (reference candidates) and which tethered."""
        self.bridge.call(
            "classify_beads", on_result=self._classified, on_error=self._not_classified
        )

    def _classified(self, result: Any) -> None:
        kinds = [b.get("kind") for b in (result or {}).get("beads", [])]
        counts = {k: kinds.count(k) for k in sorted(set(map(str, kinds)))}
        self.notify("info", "beads", f"classified: {counts or result}")
        self.events.refresh()

    def _not_classified(self, code: str, message: str) -> None:
        if code == "unknown_command":
            message = "this daemon cannot classify beads yet (no classify_beads command)"
        self.notify("warning", "beads", message)

    # -- restart -----------------------------------------------------------------------------------
    def restart_daemon(self) -> None:
        """Start the daemon again. An attached window starts its own daemon, with
        ``daemon_config`` (the simulated microscope when None), and stops it when it closes."""
        if self.own_daemon is None:
            self.own_daemon = OwnDaemon(self.instance, self.daemon_config)
        own = self.own_daemon
        self.events.stop()
        self.banner.show_restarting()

        def restart() -> Any:
            own.stop(timeout=5.0)
            own.start()
            return own.connect()

        self.bridge.run_in_thread(restart, on_result=self._restarted, on_error=self._restart_failed)

    def _restarted(self, client: Any) -> None:
        self.bridge.set_client(client)
        self.events.reconnected()
        self._update_title(True)

    def _restart_failed(self, code: str, message: str) -> None:
        self.banner.show_lost(f"restart failed: {message}")

    # -- closing -----------------------------------------------------------------------------------
    def confirm_stop_while_recording(self) -> bool:
        """Ask before stopping a daemon that records or runs a script (tests replace this)."""
        answer = QMessageBox.question(
            self, "Recording or script in progress",
            "A recording or an experiment script is running. Closing the window stops the "
            "daemon, ends the recording and aborts the script. Close anyway?",
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: Any) -> None:
        busy = (self.status.get("recording") or {}).get("running") or (
            self.scripts_panel.script.get("state") in SCRIPT_ACTIVE
        )
        own = self.own_daemon is not None and self.own_daemon.running
        if own and busy and self.bridge.connected and not self.confirm_stop_while_recording():
            event.ignore()
            return
        self._closing = True
        self.save_layout()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every timer and thread, detach from shared memory, stop an own daemon."""
        self.events.stop()
        if self._dialog is not None:
            self._dialog.close()
        self.live_view.close()
        self.feed.close()
        self.bridge.close()
        if self.own_daemon is not None:
            self.own_daemon.stop()
