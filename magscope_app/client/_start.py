"""Starting a daemon for ``connect(start=True)``: ``python -m magscope_app daemon`` in its own
session (it outlives the script that started it), then waiting until it answers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ..config import load_daemon_config
from ..control.errors import DaemonNotRunning
from ..paths import instance_paths
from ._connection import Connection


def start_daemon(instance: str, config: str | os.PathLike | None, timeout: float) -> Connection:
    """Start daemon ``instance`` (the simulated microscope unless ``config`` names hardware) and
    return a connection once it answers.

    The config is checked here first, so a bad one raises its ConfigError (one line naming the
    key) before anything starts. DaemonNotRunning if the daemon exits at start or does not answer
    within ``timeout`` s (its log file is named). The daemon's own output goes to its log file.
    """
    command = [sys.executable, "-m", "magscope_app", "daemon", "--instance", instance]
    if config is not None:
        config = Path(config).expanduser()
        load_daemon_config(config)
        command += ["--config", str(config)]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not stopped with the terminal or process group of the script
    )
    log_file = instance_paths(instance).log_file
    deadline = time.monotonic() + timeout
    while True:
        code = process.poll()
        if code is not None:
            raise DaemonNotRunning(
                f"daemon {instance!r} exited at start (status {code}); see {log_file}"
            )
        try:
            connection = Connection(instance, timeout=max(1.0, deadline - time.monotonic()))
            connection.daemon_process = process  # reaped by Scope.shutdown()
            return connection
        except DaemonNotRunning:
            if time.monotonic() > deadline:
                process.terminate()
                raise DaemonNotRunning(
                    f"daemon {instance!r} did not answer within {timeout:g} s; see {log_file}"
                ) from None
        time.sleep(0.1)
