"""LUT files: HDF5 round trip, refusals, apply-one-to-all, MagScope text import, last LUT."""

from __future__ import annotations

import json
from dataclasses import replace

import h5py
import numpy as np
import pytest
from _zlut_sweep import GOOD, GOOD_DIM, STATIC, noisy_rois
from magscope_app.hardware.simulated.optics import relative_intensity

import magscope_app
from magscope_app.analysis.force_curve import fit_force_curve
from magscope_app.tracking import ZLUT, TrackingSettings, ZLUTSet, track_xyz
from magscope_app.zlut import (
    LUTFileError,
    LUTFileNotFoundError,
    import_magscope_lut,
    last_lut,
    load_force_curves,
    load_luts,
    remember_last,
    save_force_curves,
    save_luts,
)


@pytest.fixture
def lut_file(tmp_path, built, report):
    return save_luts(
        tmp_path / "luts" / "sweep.h5", built, roi_size=64, pixel_size_nm=100.0, report=report
    )


def test_round_trip(lut_file, built, report):
    loaded = load_luts(
        lut_file, expected_settings=TrackingSettings(), roi_size=(64, 64), pixel_size_nm=100.0
    )
    assert loaded.bead_ids == sorted(built)
    for bead, lut in built.items():
        np.testing.assert_array_equal(loaded.luts[bead].z_nm, lut.z_nm)
        np.testing.assert_array_equal(loaded.luts[bead].profiles, lut.profiles)
    assert loaded.settings == TrackingSettings()
    assert loaded.roi_size == (64, 64) and loaded.pixel_size_nm == 100.0
    assert loaded.software_version == magscope_app.__version__
    assert loaded.created.startswith("20")
    assert loaded.report.usable == report.usable
    assert loaded.report.beads[STATIC].reasons == report.beads[STATIC].reasons
    assert not list(lut_file.parent.glob(".*tmp"))  # no temporary file left behind


def test_settings_mismatch_is_refused_naming_the_difference(lut_file):
    other = TrackingSettings(radial_step_px=0.5, min_coverage=0.5)
    with pytest.raises(LUTFileError) as info:
        load_luts(lut_file, expected_settings=other)
    text = str(info.value)
    assert str(lut_file) in text
    assert "radial_step_px: file 0.25, current 0.5" in text
    assert "min_coverage: file 0.3, current 0.5" in text
    assert "xy_step_px" not in text
    xy_only = TrackingSettings(xy_iterations=2, xy_tolerance_px=5e-4)  # profiles unchanged
    assert load_luts(lut_file, expected_settings=xy_only).luts
    with pytest.raises(LUTFileError, match=r"roi_size: file \[64, 64\], current \[48, 48\]"):
        load_luts(lut_file, roi_size=48)
    with pytest.raises(LUTFileError, match="pixel_size_nm: file 100, current 65"):
        load_luts(lut_file, pixel_size_nm=65.0)


def test_luts_of_one_file_must_make_the_same_profiles(tmp_path, built):
    (bead, lut), *_ = built.items()
    xy_only = ZLUT(lut.z_nm, lut.profiles, replace(lut.settings, xy_iterations=2))
    other = ZLUT(lut.z_nm, lut.profiles, replace(lut.settings, profile_regularization=0.1))
    saved = save_luts(tmp_path / "ok.h5", {bead: lut, bead + 100: xy_only}, roi_size=64,
                      pixel_size_nm=100.0)  # fmt: skip
    assert sorted(load_luts(saved).luts) == [bead, bead + 100]
    with pytest.raises(ValueError, match="same profile settings"):
        save_luts(tmp_path / "bad.h5", {bead: lut, bead + 100: other}, roi_size=64,
                  pixel_size_nm=100.0)  # fmt: skip
    assert not (tmp_path / "bad.h5").exists()


def test_missing_corrupt_and_truncated_files(tmp_path, lut_file):
    missing = tmp_path / "nope.h5"
    with pytest.raises(LUTFileNotFoundError, match=r"nope\.h5 does not exist"):
        load_luts(missing)
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError
        load_luts(missing)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(LUTFileError, match=r"garbage\.h5 cannot be read"):
        load_luts(garbage)
    truncated = tmp_path / "truncated.h5"
    data = lut_file.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(LUTFileError, match=r"truncated\.h5"):
        load_luts(truncated)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1, 2])
    with pytest.raises(LUTFileError, match="not a magscope-app Z-LUT file"):
        load_luts(other)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(data)
    with h5py.File(broken, "a") as f:
        del f[f"beads/{GOOD}/z_nm"]
    with pytest.raises(LUTFileError, match=r"broken\.h5 is corrupt or incomplete"):
        load_luts(broken)


def test_save_refuses_bad_input(tmp_path, built):
    with pytest.raises(ValueError, match="no Z-LUTs"):
        save_luts(tmp_path / "a.h5", {}, roi_size=64, pixel_size_nm=100.0)
    with pytest.raises(ValueError, match="pixel_size_nm"):
        save_luts(tmp_path / "a.h5", built, roi_size=64, pixel_size_nm=0.0)
    assert not (tmp_path / "a.h5").exists()


def test_one_lut_applied_to_all_beads(lut_file):
    loaded = load_luts(lut_file)
    one = loaded.as_zlut_set(bead=GOOD)
    assert isinstance(one, ZLUTSet)
    assert one.get(GOOD) is loaded.luts[GOOD] and one.get(12345) is loaded.luts[GOOD]
    rng = np.random.default_rng(3)
    rois = noisy_rois(rng, 250.0, 4)
    z = track_xyz(rois, one, bead_ids=[GOOD, GOOD_DIM, 40, 41]).z
    assert np.all(np.abs(z - 250.0) < 10)
    per_bead = loaded.as_zlut_set()
    assert per_bead.get(GOOD_DIM) is loaded.luts[GOOD_DIM] and per_bead.get(12345) is None
    usable = loaded.as_zlut_set(usable_only=True)
    assert sorted(usable.luts) == loaded.report.usable
    with pytest.raises(KeyError, match="no LUT of bead 55"):
        loaded.as_zlut_set(bead=55)


def _write_magscope(path, z, profiles, sep):
    rows = [z, *np.asarray(profiles).T]  # row 0: z; rows 1…: bins; one column per plane
    path.write_text("\n".join(sep.join(f"{v:.10g}" for v in row) for row in rows) + "\n")


@pytest.mark.parametrize("sep", [",", ", ", "\t", "  ", ";"])
def test_magscope_text_import(tmp_path, built, sep):
    lut = built[GOOD]
    path = tmp_path / "magscope_lut.txt"
    # MagScope may store planes in descending z
    _write_magscope(path, lut.z_nm[::-1], lut.profiles[::-1], sep)
    imported = import_magscope_lut(path, TrackingSettings())
    np.testing.assert_allclose(imported.z_nm, lut.z_nm, rtol=1e-9)
    np.testing.assert_allclose(imported.profiles, lut.profiles, rtol=1e-9)


def test_magscope_import_checks_bins_and_resamples_when_told(tmp_path):
    settings = TrackingSettings()
    z = np.linspace(-1000.0, 1000.0, 21)

    def model(radii_px):  # noise-free profiles of the optics model, 100 nm pixels
        return 1000.0 * relative_intensity(radii_px[None, :] * 100.0, z[:, None])

    coarse = model(np.arange(65) * 0.5)  # MagScope-like sampling: 65 bins, 0.5 px apart
    path = tmp_path / "coarse.txt"
    _write_magscope(path, z, coarse, ",")
    with pytest.raises(
        LUTFileError, match="65 radial bins but the current tracking settings give 129"
    ):
        import_magscope_lut(path, settings)
    resampled = import_magscope_lut(path, settings, source_radial_step_px=0.5)
    np.testing.assert_allclose(resampled.profiles[:, ::2], coarse, rtol=1e-9)
    fine = model(settings.radii_px)
    error = np.max(np.abs(resampled.profiles - fine))
    print(f"resampling error {error:.2f} of a profile range {np.ptp(fine):.0f}")
    assert error < 0.05 * np.ptp(fine)
    with pytest.raises(LUTFileError, match="extrapolating"):
        import_magscope_lut(path, settings, source_radial_step_px=0.25)


def test_magscope_import_refuses_bad_text(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("0,50,100\n1,2,3\n1,2\n")
    with pytest.raises(LUTFileError, match=r"bad.txt, line 3: 2 columns"):
        import_magscope_lut(path)
    path.write_text("0 50 100\n1 x 3\n")
    with pytest.raises(LUTFileError, match="line 2: not a row of numbers"):
        import_magscope_lut(path)
    with pytest.raises(LUTFileNotFoundError, match=r"absent\.txt"):
        import_magscope_lut(tmp_path / "absent.txt")


def test_last_lut_memory(tmp_path, lut_file):
    state = tmp_path / "state"
    assert last_lut(state) is None
    record = remember_last(state, lut_file)
    assert json.loads(record.read_text())["path"] == str(lut_file.resolve())
    assert last_lut(state) == lut_file.resolve()
    lut_file.unlink()
    assert last_lut(state) is None  # the file is gone
    record.write_text("{broken")
    assert last_lut(state) is None


def test_file_of_another_version_with_other_xy_fit_settings_loads(lut_file):
    """Only the profile settings matter: a file that names xy-fit settings this version does not
    have (e.g. an older first guess's) loads; one that lacks a profile setting is refused."""
    with h5py.File(lut_file, "r+") as f:
        stored = json.loads(f.attrs["tracking_settings"])
        f.attrs["tracking_settings"] = json.dumps(stored | {"guess_smooth_px": 1.5})
    assert load_luts(lut_file, expected_settings=TrackingSettings()).luts
    with h5py.File(lut_file, "r+") as f:
        del stored["radial_step_px"]
        f.attrs["tracking_settings"] = json.dumps(stored)
    with pytest.raises(LUTFileError, match="does not say its profile settings"):
        load_luts(lut_file)


def test_luts_and_force_curve_share_a_file_and_survive_each_others_saves(tmp_path, built):
    """force_curve_save puts the curve into the LUT file in use; a later zlut_save must keep it
    (and saving the curve again must keep the LUTs), read back from the file each time."""
    heights = np.linspace(1.0, 5.0, 6)
    forces = 40.0 * np.exp(-heights) + 3.0 * np.exp(-heights / 0.4)
    curve = fit_force_curve(heights, forces, 0.03 * forces)
    path = save_luts(tmp_path / "both.h5", built, roi_size=64, pixel_size_nm=100.0)
    save_force_curves(path, {None: curve, 3: curve}, {3: -812.5})

    fewer = {b: built[b] for b in sorted(built)[:1]}
    save_luts(path, fewer, roi_size=64, pixel_size_nm=100.0)  # the LUTs saved again
    assert load_luts(path).bead_ids == sorted(fewer)
    curves, surfaces = load_force_curves(path)
    assert set(curves) == {None, 3} and surfaces == {3: -812.5}
    np.testing.assert_allclose(curves[None].params, curve.params)

    save_force_curves(path, {None: curve}, {})  # and the curve saved again keeps the LUTs
    assert load_luts(path).bead_ids == sorted(fewer)
    assert set(load_force_curves(path)[0]) == {None}
    assert not list(tmp_path.glob(".*tmp"))

    plain = save_luts(tmp_path / "plain.h5", fewer, roi_size=64, pixel_size_nm=100.0)
    with pytest.raises(LUTFileError, match="no force curve"):
        load_force_curves(plain)
