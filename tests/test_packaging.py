"""The wheel must contain every package folder, including the remapped hardware/ and gui/."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REMAP = {
    "magscope_app": "magscope_app",
    "hardware": "magscope_app/hardware",
    "gui": "magscope_app/gui",
}


def _expected_package_dirs() -> set[str]:
    expected = set()
    for top, installed in REMAP.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).as_posix()
            expected.add(installed if rel == "." else f"{installed}/{rel}")
    return expected


@pytest.mark.timeout(300)
def test_every_package_folder_is_in_the_wheel(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("magscope_app-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    missing = _expected_package_dirs() - packaged
    assert not missing, f"package folders missing from the wheel (add them to pyproject): {missing}"
    assert not any(n.startswith(("hardware/", "gui/")) for n in names), "generic top-level packages"
