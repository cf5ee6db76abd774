"""connect(): starting a daemon on demand, the protocol version check, a daemon that is not
there, and what a subscriber sees when the daemon stops."""

from __future__ import annotations

import os
import signal

import pytest
from _daemon_process import pid_alive

import magscope_app
from magscope_app.client import _connection
from magscope_app.client._events import DISCONNECTED_EVENT
from magscope_app.config import ConfigError

from .conftest import unique_instance, write_config

pytestmark = pytest.mark.timeout(120)


def test_connect_starts_a_daemon_when_asked_and_shutdown_stops_it(client_env):
    instance = unique_instance()
    with pytest.raises(magscope_app.DaemonNotRunning, match=f"no magscope-app daemon '{instance}'"):
        magscope_app.connect(instance)
    config = write_config(client_env["tmp"])
    scope = magscope_app.connect(instance, start=True, config=config, timeout=30)
    pid = None
    try:
        status = scope.status()
        pid = status.pid
        assert status.instance == instance and set(status.motors) == {"focus", "magnet_height"}
        with magscope_app.connect(instance, start=True) as second:  # already running: attach
            assert second.status().pid == pid
        with scope.events("daemon") as sub:
            scope.shutdown(timeout=60)
            topics = [(e.topic, e.payload.get("state")) for e in sub]
        assert ("daemon", "stopping") in topics
        assert topics[-1][0] == DISCONNECTED_EVENT
        assert not pid_alive(pid)
    finally:
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
        scope.close()


def test_a_bad_config_is_refused_before_anything_starts(client_env, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[camera]\ndriver = "simulated.camera"\nwidth = "wide"\n')
    with pytest.raises(ConfigError, match="width"):
        magscope_app.connect(unique_instance(), start=True, config=bad)


def test_the_client_refuses_a_daemon_with_another_protocol(sim, monkeypatch):
    monkeypatch.setattr(_connection, "PROTOCOL_VERSION", 99)
    with pytest.raises(magscope_app.client.ProtocolMismatch, match="protocol 1, this client 99"):
        magscope_app.connect(sim["instance"])
