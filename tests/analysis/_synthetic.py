"""Recordings written with RecordingWriter from a bead model of this test (not the simulator's):
beads at known positions, a ROI that moves and a bead that is removed mid-recording, a bead at
the frame edge, and video times missing from the index: frame 5's is in the frame table, frame
0's (taken before the recording started) only in the track rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from magscope_app.recording import RecordingWriter, VideoSpec

HEIGHT, WIDTH, ROI, PIXEL_NM = 128, 160, 32, 80.0
N_FRAMES, MOVE_AT, REMOVE_AT = 24, 10, 15
T0 = 1_700_000_000.0
#: The [tracking] section the "daemon" started with: 32 px ROIs need a shorter profile.
TRACKING = {"roi_size": ROI, "pixel_size_nm": PIXEL_NM, "radial_max_px": 15.0, "xy_radius_px": 22.0}


def truth(k: int) -> dict[int, tuple[float, float]]:
    """True bead centres (x, y) in frame pixels in frame ``k`` (bead 7 exists until removed)."""
    beads = {3: (40.3 + 0.15 * k, 50.6 - 0.05 * k), 9: (9.8, 96.2)}
    if k < REMOVE_AT:
        beads[7] = (111.4, 70.1)
    return beads


def _roi(x: float, y: float, dx: int = 0) -> tuple[int, int, int, int]:
    """The tracking service's ROI around (x, y), clipped to the frame (x0, x1, y0, y1)."""
    x0, y0 = round(x) - ROI // 2 + dx, round(y) - ROI // 2
    return max(x0, 0), min(x0 + ROI, WIDTH), max(y0, 0), min(y0 + ROI, HEIGHT)


def rois_at(k: int) -> dict[int, tuple[int, int, int, int]]:
    rois = {3: _roi(40, 50, dx=5 if k >= MOVE_AT else 0), 9: _roi(10, 96)}
    if k < REMOVE_AT:
        rois[7] = _roi(111, 70)
    return rois


def render(k: int, rng: np.random.Generator) -> np.ndarray:
    """Frame ``k``: dark-centred chirped rings (phase r²/12, Gaussian envelope of 9 px),
    2,000 photons/px, Poisson noise."""
    rows, cols = np.mgrid[:HEIGHT, :WIDTH].astype(np.float64)
    image = np.full((HEIGHT, WIDTH), 2000.0)
    for x, y in truth(k).values():
        r2 = np.square(cols - x) + np.square(rows - y)
        image *= 1.0 - 0.5 * np.cos(r2 / 12.0) * np.exp(-r2 / (2 * 9.0**2))
    return rng.poisson(image).astype(np.uint16)


def time_of(k: int) -> float:
    return T0 + 0.01 * k


def write(path: Path, mode: str, seed: int = 0) -> Path:
    """A recording of N_FRAMES frames with ``mode`` "full" or "roi" video; returns its path."""
    rng = np.random.default_rng(seed)
    spec = (
        VideoSpec("full", (HEIGHT, WIDTH))
        if mode == "full"
        else VideoSpec("roi", (ROI, ROI), compression="lzf")
    )
    settings = {"other_sections": {"tracking": TRACKING}}
    hardware = {"camera": {"params": {"height": HEIGHT, "width": WIDTH}}}
    with RecordingWriter(
        path, instance="synthetic", settings=settings, hardware=hardware, rois=rois_at(0),
        video=spec, start_time=T0 - 0.001, min_free_bytes=None,
    ) as w:  # fmt: skip
        for k in range(N_FRAMES):
            t = time_of(k)
            if k == MOVE_AT:
                w.set_roi(3, *rois_at(k)[3], time=t - 0.005)
            if k == REMOVE_AT:
                w.remove_roi(7, time=t - 0.005)
            if k == 0:
                w.append_tracks(np.array([[t, 100, 3, *[np.nan] * 5, 0]], dtype=np.float64))
            else:
                w.append_frames(np.array([[t, 100 + k, 0]], dtype=np.float64))
            image = render(k, rng)
            index_time = np.nan if k in (0, 5) else t  # times the index lacks
            if mode == "full":
                w.append_video(image, [index_time], [100 + k])
                continue
            crops, rois = [], []
            for bead, (x0, _x1, y0, _y1) in sorted(rois_at(k).items()):
                crop = np.zeros((ROI, ROI), np.uint16)
                part = image[y0 : y0 + ROI, x0 : x0 + ROI]
                crop[: part.shape[0], : part.shape[1]] = part
                crops.append(crop)
                rois.append([100 + k, bead, x0, y0])
            w.append_roi_video([index_time], [100 + k], np.array(crops), np.array(rois))
    return path
