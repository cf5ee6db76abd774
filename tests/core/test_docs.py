"""The command reference page (docs/commands.md) is generated from the code and up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_committed_command_reference_matches_the_code():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = (ROOT / "docs" / "commands.md").read_text()
    for fragment in ("### zlut_sweep", "| `settle_s` | float | s | no | `0.1` |", "### sim_truth",
                     "## Events", "Protocol version"):  # fmt: skip
        assert fragment in page
