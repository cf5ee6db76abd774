"""Tracking on bead images the simulator does not make; prints one JSON line.

The four bead-image families of tests/tracking/bead_models.py (bright centre with Bessel rings,
dark centre with rings, a defocused sphere with rings wider than a quarter of the ROI,
low-contrast chirped rings), 64 x 64 ROIs with the bead within +-3 px of the centre, Poisson
noise at 1,000 and 10,000 photons/px, z over the whole LUT range (0–2,000 nm) in bands of
250 nm. Per family and photon level, per band: ``lost`` (fraction of ROIs whose xy is NaN or
more than 0.5 px off), ``unflagged_wrong`` (xy fits more than 0.5 px off returned without
FIT_FAILED), ``xy_crlb`` and ``z_crlb`` (std of the error over the Cramér–Rao bound of the
model).
Usage: python scripts/bench_tracking_models.py [--rois-per-band N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "tracking"))

from bead_models import MODELS, evaluate, model_zlut

BACKGROUNDS = (1_000, 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois-per-band", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.monotonic()
    out: dict = {"rois_per_band": args.rois_per_band, "z_bands_nm": None, "families": {}}
    for name, model in MODELS.items():
        lut = model_zlut(model)
        for background in BACKGROUNDS:
            stats = evaluate(model, background, args.rois_per_band, args.seed + background, lut)
            out["z_bands_nm"] = [list(s.z_band) for s in stats]
            out["families"][f"{name}@{background}"] = {
                "lost": [round(s.lost, 4) for s in stats],
                "unflagged_wrong": [s.wrong_unflagged for s in stats],
                "xy_crlb": [round(s.xy_ratio, 3) for s in stats],
                "z_crlb": [round(s.z_ratio, 3) for s in stats],
            }
    out["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
