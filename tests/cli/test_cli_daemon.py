"""The CLI against a real simulated daemon: every group with ``--instance``/``--json`` at
different levels, results read back, refusals as one line with status 1, then ``stop``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from magscope_app.cli import main
from magscope_app.cli._common import EXIT_FAILED, EXIT_NO_DAEMON

from .test_errors import assert_one_plain_line, run

pytestmark = pytest.mark.timeout(180)


def test_every_group_against_a_daemon(capsys, start_daemon, instance_name, small_sim_config,
                                      tmp_path):  # fmt: skip
    daemon = start_daemon(instance_name, "--config", str(small_sim_config))
    daemon.wait_ready()
    name = instance_name

    def ok(*argv: str) -> str:
        status, out, err = run(capsys, *argv)
        assert status == 0, (argv, err)
        return out

    def refused(*argv: str) -> str:
        status, _, err = run(capsys, *argv)
        assert status == EXIT_FAILED, argv
        assert_one_plain_line(err)
        return err

    assert json.loads(ok("--instance", name, "status", "--json"))["instance"] == name
    assert f"daemon {name!r}" in ok("status", "--instance", name)
    devices = json.loads(ok("hardware", "--instance", name, "--json"))
    assert {d["name"] for d in devices} == {"camera", "focus"}

    # move: the client's handle waits; refusals name the problem
    moved = json.loads(ok("move", "--json", "focus", "400", "--wait", "--instance", name))
    assert moved["target"] == 400 and moved["final"]["position"] == pytest.approx(400, abs=1)
    assert "focus: stopped at 300 nm" in ok("--instance", name, "move", "focus", "-100",
                                            "--relative", "--wait")  # fmt: skip
    assert "limit" in refused("move", "focus", "1e6", "--instance", name)
    assert "unknown motor 'nope'" in refused("--instance", name, "move", "nope", "1")
    assert "still moving after 0.01 s" in refused(
        "move", "focus", "-4000", "--wait", "--timeout", "0.01", "--instance", name
    )

    # beads and tracking
    ids = json.loads(ok("beads", "--instance", name, "add", "60", "70", "--json"))["ids"]
    listed = json.loads(ok("beads", "list", "--json", "--instance", name))
    assert ids[0] in [b["id"] for b in listed["beads"]]
    assert "no beads with ids [999]" in refused("--instance", name, "beads", "remove", "999")
    assert json.loads(ok("tracking", "--json", "--instance", name))["beads"] >= 1
    assert "settings" in json.loads(ok("tracking", "settings", "--instance", name))
    assert "profile bead: " in ok("tracking", "--instance", name, "profile-bead", str(ids[0]))

    # Z-LUT: the sweep's progress comes from the client's sweep handle, one line per plane
    assert json.loads(ok("zlut", "--instance", name, "status", "--json"))["state"] == "idle"
    status, out, err = run(capsys, "zlut", "sweep", "--start=-100", "--stop=100", "--step=100",
                           "--per-plane=2", "--settle=0.02", "--instance", name)  # fmt: skip
    assert "sweep started: 3 planes" in out, err
    assert "plane 3 of 3" in out and out.index("plane 1 of 3") < out.index("plane 3 of 3")
    final = json.loads(ok("zlut", "status", "--instance", name, "--json"))
    assert status == (0 if final["state"] == "complete" else EXIT_FAILED), (out, err)

    # record: started as a new user types it (a separate process), stopped, read back
    started = subprocess.run(
        [sys.executable, "-m", "magscope_app", "record", "--instance", name, "start",
         str(tmp_path), "--name", "cli.h5", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    path = json.loads(started.stdout)["file"]
    assert json.loads(ok("--instance", name, "record", "status", "--json"))["running"] is True
    assert "already" in refused("record", "start", str(tmp_path), "--instance", name)
    assert "stop reason user" in ok("record", "stop", "--instance", name)
    assert "no recording is running" in refused("record", "stop", "--instance", name)
    summary = json.loads(ok("inspect", path, "--json"))
    assert summary["closed_cleanly"] is True
    assert json.loads(ok("verify", path, "--json", "--instance", name))["ok"] is True

    # stop: the daemon exits; afterwards the CLI says there is none (status 3)
    assert json.loads(ok("stop", "--json", "--instance", name)) == {
        "instance": name, "stopped": True,
    }  # fmt: skip
    assert daemon.wait_exit(10) == 0
    assert main(["status", "--instance", name]) == EXIT_NO_DAEMON
