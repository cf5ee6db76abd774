"""``magscope-app run`` and ``magscope-app script …`` as a user types them: live output, exit
statuses (0 completed, 1 failed, 2 bad usage, 3 aborted, 5 not started), Ctrl-C, --simulate."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from _daemon_process import wait_for

import magscope_app
from magscope_app.cli._scripts import EXIT_STATUS, parse_params

pytestmark = pytest.mark.timeout(120)


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "magscope_app", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_params_are_json_or_text():
    assert parse_params(["n=3", "heights=[5, 1.5]", "name=run 1", "flag=true", "e="]) == {
        "n": 3, "heights": [5, 1.5], "name": "run 1", "flag": True, "e": "",
    }  # fmt: skip
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_params(["novalue"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_params(["not-a-name=1"])


def test_run_prints_the_output_and_exits_0(sim, write_script):
    script = write_script("""
        import sys
        def main(scope, n=1, label="x"):
            for i in range(n):
                print("line", i, label)
                scope.progress((i + 1) / n, f"step {i}")
            print("a warning", file=sys.stderr)
    """)
    done = cli("run", str(script), "--instance", sim["instance"], "--param", "n=2",
               "--param", "label=two words")  # fmt: skip
    assert done.returncode == EXIT_STATUS["completed"] == 0, done.stderr
    assert done.stdout.splitlines() == ["line 0 two words", "line 1 two words"]
    assert "[ 50 %] step 0" in done.stderr and "a warning" in done.stderr
    assert "completed" in done.stderr.splitlines()[-1]


def test_run_exit_statuses_for_failure_and_bad_usage(sim, write_script, tmp_path):
    instance = ("--instance", sim["instance"])
    failing = write_script("def main(scope):\n    raise RuntimeError('no beads')\n", "fail.py")
    done = cli("run", str(failing), *instance)
    assert done.returncode == EXIT_STATUS["failed"] == 1
    assert "RuntimeError: no beads" in done.stderr and 'fail.py", line 2' in done.stderr
    ok = write_script("def main(scope, n=1):\n    pass\n", "ok.py")
    for args in (
        ("run", str(ok), *instance, "--param", "m=1"),  # main does not take m
        ("run", str(ok), *instance, "--param", "bad"),
        ("run", str(tmp_path / "missing.py"), *instance),
        ("run", str(write_script("def main(:\n", "syntax.py")), *instance),
        ("run", str(ok), *instance, "--config", "x.toml"),  # --config needs --simulate
    ):
        done = cli(*args)
        assert done.returncode == EXIT_STATUS["bad_usage"] == 2, (args, done.stderr)
        assert done.stderr.strip(), args
    done = cli("run", str(ok), "--instance", "nosuchdaemon")
    assert done.returncode == EXIT_STATUS["not_started"] == 5
    assert "--simulate" in done.stderr


def test_ctrl_c_aborts_and_script_commands_control_the_running_script(sim, write_script):
    script = write_script("""
        def main(scope):
            for i in range(1000):
                print("tick", i, flush=True)
                scope.status()
                scope.wait(0.2)
    """)
    instance = ("--instance", sim["instance"])
    run = subprocess.Popen(
        [sys.executable, "-m", "magscope_app", "run", str(script), *instance],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.stdout.readline().startswith("tick 0")
        second = cli("run", str(script), *instance)  # one script at a time
        assert second.returncode == EXIT_STATUS["not_started"]
        assert "script.py) is running" in second.stderr
        status = json.loads(cli("script", "status", *instance, "--json").stdout)
        assert status["state"] == "running" and status["name"] == "script.py"
        assert "paus" in cli("script", "pause", *instance).stdout
        wait_for(lambda: "paused" in cli("script", "status", *instance).stdout, timeout=30)
        assert "running" in cli("script", "resume", *instance).stdout
        run.send_signal(signal.SIGINT)
        assert run.wait(30) == EXIT_STATUS["aborted"] == 3
        assert "aborting the script" in run.stderr.read()
    finally:
        run.kill()
        run.wait()
        run.stdout.close()
        run.stderr.close()
    with magscope_app.connect(sim["instance"]) as scope:
        assert scope.scripts.status().state == "aborted"
    done = cli("script", "abort", *instance)
    assert done.returncode == 1 and "no script is running" in done.stderr


def test_script_abort_from_the_cli_ends_a_run_with_status_3(sim, write_script):
    script = write_script("def main(scope):\n    print('go', flush=True)\n    scope.wait(100)\n")
    instance = ("--instance", sim["instance"])
    run = subprocess.Popen(
        [sys.executable, "-m", "magscope_app", "run", str(script), *instance],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert run.stdout.readline().strip() == "go"
        done = cli("script", "abort", *instance, "--json")
        assert json.loads(done.stdout)["state"] == "aborted"
        assert run.wait(30) == EXIT_STATUS["aborted"]
    finally:
        run.kill()
        run.wait()
        run.stdout.close()


def test_run_simulate_starts_a_daemon_and_stops_it_afterwards(
    daemon_dirs, instance_name, small_sim_config, write_script
):
    script = write_script("def main(scope):\n    print(scope.status().instance)\n")
    done = cli("run", str(script), "--instance", instance_name, "--simulate",
               "--config", str(small_sim_config))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == instance_name
    assert "starting a daemon" in done.stderr and "stopping the daemon" in done.stderr
    with pytest.raises(magscope_app.DaemonNotRunning):
        magscope_app.connect(instance_name)
