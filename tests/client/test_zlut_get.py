"""``zlut_get`` / ``scope.zlut.get(bead)``: the LUT a bead is tracked with, as numpy arrays,
checked against the same LUT saved to an HDF5 file and read back with the file reader."""

from __future__ import annotations

import numpy as np
import pytest

from magscope_app.client import InvalidArgument
from magscope_app.zlut import load_luts


def test_zlut_get_returns_the_tracked_lut(scope, tmp_path):
    with pytest.raises(InvalidArgument, match="bead 999 has no Z-LUT"):
        scope.zlut.get(999)
    scope.zlut.sweep(start=-300, stop=300, step=100, per_plane=4, settle=0.05).wait(60)
    quality = scope.zlut.show()["report"]["beads"]
    usable = sorted(int(b) for b, q in quality.items() if q["usable"])
    assert usable, "the sweep made no usable LUT"
    for rejected in (int(b) for b, q in quality.items() if not q["usable"]):
        with pytest.raises(InvalidArgument, match=f"bead {rejected} has no Z-LUT"):
            scope.zlut.get(rejected)  # a rejected LUT is not tracked with
    bead = usable[0]
    lut = scope.zlut.get(bead)
    assert lut.bead == bead and not lut.default
    assert lut.z_nm.shape == (7,) and np.all(np.diff(lut.z_nm) > 0)
    assert np.allclose(np.diff(lut.z_nm), 100.0, atol=1.0)
    assert lut.profiles.shape == (7, len(lut.radii_px))
    assert lut.radii_px[0] == 0.0 and np.all(np.diff(lut.radii_px) > 0)
    scope.zlut.save(str(tmp_path / "luts.h5"))
    saved = load_luts(tmp_path / "luts.h5").luts[bead]
    np.testing.assert_allclose(lut.z_nm, saved.z_nm)
    np.testing.assert_allclose(lut.profiles, saved.profiles)
    with pytest.raises(InvalidArgument, match="bead 999 has no Z-LUT"):
        scope.zlut.get(999)
