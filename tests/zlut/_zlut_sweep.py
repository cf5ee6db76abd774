"""Synthetic Z-LUT sweeps: the dict ``ZLUTSweepDataset.peek()`` returns, from simulated images.

Profiles are made by the tracker (``track_xyz``) from ``optics.expected_roi`` images with Poisson
noise, like a sweep of the focus: at step k the focus is at ``FOCUS_NM[k]`` and a bead at height
0 sits at ``z_rel = -focus`` (so with ``motor_z_sign=-1`` the LUT's z is the optics model's
z_rel).
"""

from __future__ import annotations

import numpy as np
from magscope_app.hardware.simulated.optics import expected_roi

from magscope_app.tracking import TrackingSettings, track_xyz

SHAPE = (64, 64)
CENTRE = 31.5
FOCUS_NM = np.arange(41) * 50.0 - 1000.0  # 41 steps, 50 nm apart
FRAMES = 5
BACKGROUND = 1000.0
GOOD, GOOD_DIM, NOISE, STATIC = 0, 3, 7, 9  # bead ids of the shared sweep (conftest.py)


def noisy_rois(rng, z_rel_nm, n, background=BACKGROUND, spread=0.5) -> np.ndarray:
    """n Poisson ROIs of one bead at random sub-pixel centres; z_rel scalar or (n,)."""
    zs = np.broadcast_to(np.asarray(z_rel_nm, dtype=float), (n,))
    xs = CENTRE + rng.uniform(-spread, spread, n)
    ys = CENTRE + rng.uniform(-spread, spread, n)
    mean = np.stack(
        [expected_roi(SHAPE, x, y, z, background) for x, y, z in zip(xs, ys, zs, strict=True)]
    )
    return rng.poisson(mean)


def sweep_rows(rng, bead_id, kind="good", frames=FRAMES, focus=FOCUS_NM, background=BACKGROUND):
    """Rows of one bead: kind "good" (ring images), "noise" (flat background: no bead) or
    "static" (a bead whose image does not change with the focus: stuck to the objective)."""
    rows = {k: [] for k in ("bead_ids", "step_indices", "timestamps", "motor_z_values")}
    profiles, valid = [], []
    for step, f in enumerate(focus):
        if kind == "good":
            rois = noisy_rois(rng, -f, frames, background)
        elif kind == "static":
            rois = noisy_rois(rng, 200.0, frames, background)
        elif kind == "noise":
            rois = rng.poisson(np.full((frames, *SHAPE), background))
        else:
            raise ValueError(kind)
        result = track_xyz(rois, settings=TrackingSettings())
        profiles.append(result.profiles)
        valid.append(result.ok)
        rows["bead_ids"] += [bead_id] * frames
        rows["step_indices"] += [step] * frames
        rows["timestamps"] += list(step + 0.01 * np.arange(frames))
        rows["motor_z_values"] += list(f + rng.normal(0.0, 1.0, frames))  # telemetry jitter
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["bead_ids"] = out["bead_ids"].astype(np.int64)
    out["step_indices"] = out["step_indices"].astype(np.int64)
    out["valid_flags"] = np.concatenate(valid).astype(bool)
    out["profiles"] = np.vstack(profiles)
    return out


def concat(*parts) -> dict:
    """Rows of several beads, interleaved by step as a sweep writes them."""
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(merged["step_indices"], kind="stable")
    return {k: v[order] for k, v in merged.items()}
