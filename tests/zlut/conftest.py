"""Shared synthetic sweep for the Z-LUT tests (built once per session: a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from _zlut_sweep import GOOD, GOOD_DIM, NOISE, STATIC, concat, sweep_rows

from magscope_app.tracking import TrackingSettings
from magscope_app.zlut import assess_luts, build_luts


@pytest.fixture(scope="session")
def sweep():
    """Rows of a 41-step focus sweep, 5 frames per step, of four beads: two good beads
    (1000 and 100 photons/px background), an empty ROI (noise) and a bead whose image does not
    change with the focus (static)."""
    rng = np.random.default_rng(2024)
    return concat(
        sweep_rows(rng, GOOD),
        sweep_rows(rng, GOOD_DIM, background=100.0),
        sweep_rows(rng, NOISE, "noise"),
        sweep_rows(rng, STATIC, "static"),
    )


@pytest.fixture(scope="session")
def built(sweep):
    return build_luts(sweep, TrackingSettings())


@pytest.fixture(scope="session")
def report(built):
    return assess_luts(built)
