from __future__ import annotations

import pytest

from .daemon_process import DaemonProcess


@pytest.fixture
def start_daemon(daemon_dirs, tmp_path):
    """Factory: ``start_daemon(instance, *args)`` runs a real daemon; all are stopped at the end."""
    started: list[DaemonProcess] = []

    def start(instance: str, *args: str) -> DaemonProcess:
        daemon = DaemonProcess(instance, tmp_path, *args)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()
