"""Every class of CLI error is one plain line on stderr, ``magscope-app: …``, with its documented
exit status (1 failed, 2 bad usage or config, 3 no daemon); no HDF5 or Python internals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from magscope_app.cli import main
from magscope_app.cli._common import EXIT_FAILED, EXIT_NO_DAEMON, EXIT_USAGE
from magscope_app.recording import RecordingWriter

#: Text of HDF5's or Python's internals that must never reach the user.
INTERNALS = ("Unable to", "errno", "sblock", "signature", "Traceback", "h5py", "H5")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``magscope-app ARGV`` in this process: (exit status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exc:  # argparse
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_plain_line(err: str, *phrases: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("magscope-app: "), err
    for phrase in phrases:
        assert phrase in lines[0], err
    for internal in INTERNALS:
        assert internal not in lines[0], err


# -- usage -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["fly"], "invalid choice: 'fly'"),
        (["move", "magnet_height"], "required: value"),
        (["move", "magnet_height", "up"], "not a number: 'up'"),
        (["move", "magnet_height", "nan"], "not a finite number"),
        (["record", "start"], "required: FOLDER"),
        (["record", "start", "/tmp/x", "--mode", "movie"], "invalid choice: 'movie'"),
        (["beads", "add", "10"], "give X Y pairs"),
        (["beads", "remove", "one"], "invalid int value: 'one'"),
        (["tracking", "settings", "xy_iterations"], "expected KEY=VALUE"),
        (["tracking", "settings", "xy_iterations=many"], "not a number: 'many'"),
        (["zlut", "sweep", "--start", "0"], "required"),
        (["zlut", "load", "f.h5", "--bead", "1", "--one-for-all", "2"], "not allowed with"),
        (["status", "--instance", "a/b"], "invalid instance name 'a/b'"),
        (["status", "--instance", "rig-2"], "letters, digits or '_'"),
        (["--instance"], "expected one argument"),
    ],
)
def test_bad_usage_is_one_line_with_status_2(capsys, daemon_dirs, argv, phrase):
    status, out, err = run(capsys, *argv)
    assert status == EXIT_USAGE
    assert_one_plain_line(err, phrase)
    assert out == ""


def test_no_command_launches_the_window_or_headless_daemon(capsys, monkeypatch):
    """Without a subcommand (options allowed) the launcher runs; with one, or --help, it does not
    (the launcher itself is tested in tests/gui/test_lifecycle.py)."""
    from magscope_app.gui import _launch

    launched = []
    monkeypatch.setattr(_launch, "main_default", lambda argv: launched.append(argv) or 0)
    assert run(capsys)[0] == 0
    assert run(capsys, "--instance", "x", "--paused")[0] == 0
    assert launched == [[], ["--instance", "x", "--paused"]]
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "usage: magscope-app" in out and "record" in out
    assert run(capsys, "--instance", "x", "status")[0] == EXIT_NO_DAEMON
    assert len(launched) == 2


def test_help_is_not_an_error(capsys):
    status, out, _ = run(capsys, "record", "start", "--help")
    assert status == 0 and "--instance NAME" in out and "--json" in out


# -- no daemon ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [["status"], ["record", "stop"], ["beads"], ["zlut", "status"], ["move", "focus", "1"]],
)
def test_no_daemon_is_status_3(capsys, daemon_dirs, argv):
    status, _, err = run(capsys, *argv, "--instance", "nobody")
    assert status == EXIT_NO_DAEMON
    assert_one_plain_line(err, "no magscope-app daemon 'nobody' is running")


# -- config files ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("[camera\n", "not valid TOML"),
        ('[camera]\ndriver = "no.such.driver"\n', "no.such.driver"),
        (None, "file not found"),
    ],
)
def test_a_bad_config_file_is_status_2(capsys, daemon_dirs, tmp_path, text, phrase):
    config = tmp_path / "rig.toml"
    if text is not None:
        config.write_text(text)
    status, _, err = run(capsys, "daemon", "--instance", "cfg", "--config", str(config))
    assert status == EXIT_USAGE
    assert_one_plain_line(err, str(config), phrase)


# -- files -------------------------------------------------------------------------------------
def _recording(path):
    """A real, cleanly closed recording with 20 frames of 3 beads."""
    writer = RecordingWriter(path, instance="cli", beads_per_frame=3)
    for frame in range(20):
        rows = np.zeros((3, 9))
        rows[:, 0], rows[:, 1], rows[:, 2] = 100.0 + frame / 50, frame, np.arange(3)
        writer.append_tracks(rows)
    writer.close()
    return path


def test_a_good_recording_is_inspected_and_verified(capsys, tmp_path):
    path = _recording(tmp_path / "run.h5")
    status, out, err = run(capsys, "inspect", str(path))
    assert status == 0 and "closed cleanly" in out, err
    status, out, _ = run(capsys, "inspect", str(path), "--json")
    assert status == 0 and json.loads(out)["track_rows"] == 60
    status, out, _ = run(capsys, "verify", "--json", str(path))
    assert status == 0 and json.loads(out)["ok"] is True


def _folder(tmp_path):
    (tmp_path / "run").mkdir()
    _recording(tmp_path / "run" / "rec-1.h5")
    return tmp_path / "run", ["is a folder, not a recording file", "rec-1.h5"]


def _missing(tmp_path):
    return tmp_path / "nothing.h5", ["no such file"]


def _text(tmp_path):
    (tmp_path / "notes.h5").write_text("not hdf5 at all\n")
    return tmp_path / "notes.h5", ["is not a recording: it is not an HDF5 file"]


def _empty(tmp_path):
    (tmp_path / "empty.h5").touch()
    return tmp_path / "empty.h5", ["is not a recording: the file is empty"]


def _truncated(tmp_path):
    whole = _recording(tmp_path / "whole.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(whole[: len(whole) // 2])
    return tmp_path / "cut.h5", ["is truncated", f"of {len(whole):,} bytes"]


def _truncated_old_format(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:  # the default (version 0) superblock
        f["x"] = np.arange(50_000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, ["is damaged: HDF5 cannot read it"]


def _left_open(tmp_path):
    path = tmp_path / "open.h5"
    f = h5py.File(path, "w", libver="latest")  # marked "open for writing" until closed
    f["x"] = np.arange(10)
    f.flush()
    shutil.copy(path, tmp_path / "crashed.h5")
    f.close()
    return tmp_path / "crashed.h5", ["was left open by a program that did not close it"]


def _other_hdf5(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(10)
    return path, ["not a magscope-recording file"]


@pytest.mark.parametrize(
    "make",
    [_folder, _missing, _text, _empty, _truncated, _truncated_old_format, _left_open, _other_hdf5],
)
@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_unreadable_files_are_named_in_plain_words(capsys, tmp_path, make, command):
    path, phrases = make(tmp_path)
    if command == "verify" and make is _other_hdf5:
        phrases = []  # verify checks any HDF5 file's checksum: "no checksum", exit 1
    status, out, err = run(capsys, command, str(path))
    assert status == EXIT_FAILED
    if phrases:
        assert_one_plain_line(err, str(path), *phrases)
    else:
        assert "no checksum" in out and err == ""


def test_the_console_script_and_python_m_agree(tmp_path):
    """The entry points run the same main (exit status and message of a missing file)."""
    script = Path(sys.executable).with_name("magscope-app")
    for command in ([sys.executable, "-m", "magscope_app"], [str(script)]):
        done = subprocess.run(
            [*command, "inspect", str(tmp_path / "gone.h5")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == EXIT_FAILED
        assert_one_plain_line(done.stderr, "gone.h5: no such file")


def test_ctrl_c_is_one_line_with_status_130(capsys, monkeypatch):
    from magscope_app.cli import _daemon

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_daemon, "_cmd_status", interrupted)
    status, _, err = run(capsys, "status")
    assert status == 130
    assert_one_plain_line(err, "interrupted")
