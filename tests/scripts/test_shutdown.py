"""A daemon that stops while a script runs aborts it and leaves no script process behind."""

from __future__ import annotations

import pytest
from _daemon_process import pid_alive, wait_for

import magscope_app

pytestmark = pytest.mark.timeout(120)


def test_stopping_the_daemon_aborts_the_running_script(
    start_daemon, instance_name, small_sim_config, write_script
):
    daemon = start_daemon(instance_name, "--config", str(small_sim_config))
    daemon.wait_ready()
    script = write_script("def main(scope):\n    print('up', flush=True)\n    scope.wait(100)\n")
    with magscope_app.connect(instance_name, timeout=30) as scope:
        run = scope.scripts.start(script)
        wait_for(lambda: "up" in run.status().output_tail, timeout=60)
        pid = run.status().pid
        scope.call("stop")
    assert daemon.wait_exit(30) == 0
    assert not pid_alive(pid)
    log = daemon.stderr()
    assert "script 1 (script.py) aborting" in log and "script 1 (script.py) aborted" in log
