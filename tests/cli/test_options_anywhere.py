"""``--instance`` and ``--json`` are accepted at every level of every subcommand, and a value
given at one level is not overwritten by another level's default (parsing only, no daemon)."""

from __future__ import annotations

import argparse

import pytest

from magscope_app.cli import build_parser
from magscope_app.cli._common import fill_defaults

#: Every command path with its minimal arguments: (command words, arguments after them).
COMMANDS: list[tuple[list[str], list[str]]] = [
    (["daemon"], []),
    (["status"], []),
    (["stop"], []),
    (["hardware"], []),
    (["move"], ["magnet_height", "1.5"]),
    (["record", "start"], ["/tmp/data"]),
    (["record", "stop"], []),
    (["record", "status"], []),
    (["inspect"], ["file.h5"]),
    (["verify"], ["file.h5"]),
    (["beads"], []),
    (["beads", "list"], []),
    (["beads", "add"], ["10", "20"]),
    (["beads", "remove"], ["3"]),
    (["beads", "move"], ["3", "10", "20"]),
    (["beads", "clear"], []),
    (["beads", "find"], ["--max", "2"]),
    (["beads", "classify"], ["2"]),
    (["tracking"], []),
    (["tracking", "status"], []),
    (["tracking", "settings"], ["xy_iterations=6"]),
    (["tracking", "roi-size"], ["32"]),
    (["tracking", "profile-bead"], ["1"]),
    (["zlut", "sweep"], ["--start=-100", "--stop=100", "--step=50", "--per-plane=2"]),
    (["zlut", "status"], []),
    (["zlut", "cancel"], []),
    (["zlut", "show"], []),
    (["zlut", "save"], ["luts.h5"]),
    (["zlut", "load"], ["luts.h5"]),
    (["lock"], []),
    (["lock", "status"], []),
    (["lock", "refs"], ["1", "2"]),
    (["lock", "z"], ["on", "--target", "600"]),
    (["lock", "xy"], ["off"]),
    (["retrack"], ["run.h5"]),
    (["gui"], ["--attach"]),
    (["run"], ["ramp.py"]),
    (["script", "status"], []),
    (["script", "pause"], []),
    (["script", "resume"], []),
    (["script", "abort"], []),
    (["force", "calibrate"], ["--seconds", "5"]),
    (["force", "fit"], []),
    (["force", "set"], ["5"]),
    (["force", "ramp"], ["--from", "1", "--to", "5", "--rate", "0.5"]),
    (["force", "status"], []),
    (["force", "save"], []),
    (["force", "load"], ["curve.h5"]),
    (["force", "surface"], ["--turns", "5"]),
    (["force", "surface-set"], ["1", "-900"]),
]


def _parse(argv: list[str]) -> argparse.Namespace:
    return fill_defaults(build_parser().parse_args(argv))


def _placements(words: list[str], rest: list[str], options: list[str]) -> list[list[str]]:
    """``options`` before the command, after each command word, and at the very end."""
    lines = [words[:i] + options + words[i:] + rest for i in range(len(words) + 1)]
    return [*lines, words + rest + options]


@pytest.mark.parametrize(("words", "rest"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_instance_and_json_anywhere(words, rest):
    plain = _parse(words + rest)
    assert plain.instance == "default" and plain.json is False
    for argv in _placements(words, rest, ["--instance", "rig_2", "--json"]):
        args = _parse(argv)
        assert (args.instance, args.json) == ("rig_2", True), argv
        assert args.func is plain.func, argv  # the same command, whatever the placement
    for argv in _placements(words, rest, ["--instance=rig_3"]):
        args = _parse(argv)
        assert (args.instance, args.json) == ("rig_3", False), argv


def test_the_last_instance_given_wins():
    args = _parse(["--instance", "a", "record", "--instance", "b", "start", "/tmp/x"])
    assert args.instance == "b"
    args = _parse(["--instance", "a", "zlut", "status", "--json"])
    assert (args.instance, args.json) == ("a", True)
    args = _parse(["--json", "beads", "--instance", "c", "add", "1", "2"])
    assert (args.instance, args.json, args.xy) == ("c", True, [1.0, 2.0])


def _parsers(parser: argparse.ArgumentParser, path: str = "magscope-app"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, f"{path} {name}")


def test_every_parser_of_the_tree_takes_both_options():
    """Also holds for subcommand modules added later: each must pass ``parents=[common]``."""
    seen = 0
    for path, parser in _parsers(build_parser()):
        options = {s for a in parser._actions for s in a.option_strings}
        assert {"--instance", "--json"} <= options, f"{path} lacks --instance or --json"
        defaults = {a.dest: a.default for a in parser._actions if a.dest in ("instance", "json")}
        assert set(defaults.values()) == {argparse.SUPPRESS}, f"{path}: {defaults}"
        seen += 1
    assert seen >= len(COMMANDS)


def test_covers_every_command():
    """COMMANDS above lists every leaf command of the parser (so none escapes the test)."""
    leaves = set()
    for path, parser in _parsers(build_parser()):
        has_children = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if not has_children or parser.get_default("func") is not None:
            leaves.add(path.removeprefix("magscope-app ").strip())
    listed = {" ".join(words) for words, _ in COMMANDS}
    assert leaves - {""} <= listed, sorted(leaves - listed)
