"""The Qt window (PyQt6 + pyqtgraph). It gets a connected client injected; the core never imports
this package."""
