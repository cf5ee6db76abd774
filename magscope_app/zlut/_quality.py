"""Quality of per-bead Z-LUTs: can each LUT resolve z, and how precisely?

Noise model. The tracker weighs profile bins by ``W`` = the profile spline's Gram matrix over
the mean intensity (:func:`magscope_app.tracking.profile_gram`), i.e. it assumes the covariance of
one frame's profile is ``s² W⁻¹`` (exact for photon noise with ``s = 1`` when the intensity unit
is photons). The scale ``s²`` of each plane is measured from the scatter of the sweep's rows about
the plane's mean profile: ``s² = Σ rᵀ W r / (n_bins (n - 1))``. With it:

* predicted single-frame precision at a plane: ``σz = s / |∂L/∂z|_W``, where ``∂L/∂z`` (central
  differences of the planes) is taken perpendicular (in ``W``) to the profile itself, because
  the look-up fits a free intensity scale; the squared norm is debiased for the noise of the
  planes it is computed from (a LUT whose slope is pure noise gets ``σz = inf``);
* plane separation of neighbouring planes: the (debiased) distance between their mean profiles,
  again perpendicular to the profile, over the standard deviation of that difference: about
  ``Δz / σ(plane mean difference)``.

Both squared norms are sums over many bins and fluctuate under noise alone; how much depends on
the true shape of the noise (from the pooled covariance of the sweep rows: the null standard
deviation of ``eᵀWe`` is ``sqrt(2 tr((WC)²))``). A slope or a plane step counts only when its
debiased squared norm exceeds ``noise_significance`` null standard deviations; otherwise
``σz = inf`` at that plane and the pair is not separable.

Other measures need no noise estimate: neighbour correlation (Pearson correlation of the
centred profiles of successive planes), contrast (area-weighted RMS of the profile over its
mean, median over planes) and ambiguous planes (planes whose most similar other plane, by the
scale-free ``W`` cosine the look-up effectively uses, is more than 2 planes away: the LUT is not
single-valued in z there).

The bead's own motion while the focus is still (:mod:`._motion`): ``axial_motion_nm``, the median
over the planes of the within-plane z rms (the sweep's rows looked up in the bead's own LUT;
only when the LUT resolves z at a quarter of the planes or more), and
``lateral_motion_nm``, the median over planes of the within-plane lateral rms of the tracks (when
the sweep measured it). They are not criteria (a finer step must not reject a good LUT); when a
rejected bead's own motion explains the rejection (or its track jumped), its ``hint`` says so in
plain words, with the number and what to do (:func:`~magscope_app.zlut.motion_hint`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from magscope_app.tracking import ZLUT, profile_gram

from ._build import BuiltLUTs, PlaneScatter
from ._motion import motion_hint

#: A plane whose most similar other plane is farther than this (in planes) is ambiguous.
AMBIGUITY_WINDOW = 2
#: The bead's z motion is measured only if its LUT resolves z at this fraction of planes.
MIN_RESOLVED_FOR_MOTION = 0.25


@dataclass(frozen=True)
class QualityThresholds:
    """Acceptance thresholds of a bead's Z-LUT (all must hold; a measure that cannot be computed,
    e.g. precision without sweep scatter, is not judged).

    ``min_planes``: planes in the LUT.
    ``min_contrast``: median area-weighted RMS contrast of the profiles (fraction of the mean).
    ``min_median_neighbour_correlation``: median correlation of successive planes' profiles.
    ``min_neighbour_correlation``: lowest such correlation (a jump: bead lost or stuck at a step).
    ``min_plane_separation``, ``min_separable_fraction``: at least this fraction of neighbouring
        plane pairs must be at least this many noise standard deviations apart.
    ``max_ambiguous_fraction``: planes whose most similar plane is not a near neighbour.
    ``max_sigma_z_nm``: median predicted single-frame z precision (nm).
    ``noise_significance``: how many null standard deviations a slope or plane step must stand
        above the noise to count (see the module docstring).
    """

    min_planes: int = 5
    min_contrast: float = 0.02
    min_median_neighbour_correlation: float = 0.9
    min_neighbour_correlation: float = 0.5
    min_plane_separation: float = 6.0
    min_separable_fraction: float = 0.8
    max_ambiguous_fraction: float = 0.1
    max_sigma_z_nm: float = 25.0
    noise_significance: float = 3.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> QualityThresholds:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _json_float(value: float | None) -> float | str | None:
    """JSON has no NaN/inf: NaN -> None, ±inf -> "inf"/"-inf"."""
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _from_json_float(value) -> float | None:
    if value is None:
        return None
    return float(value)  # float("inf") parses "inf"


@dataclass(frozen=True)
class BeadQuality:
    """Quality measures of one bead's Z-LUT and the verdict.

    ``usable``: every judged criterion holds. ``reasons``: one string per failing criterion,
    naming it and its value (empty when usable). Measures are None when they could not be
    computed (no LUT, or no sweep scatter for the noise-based ones). ``sigma_z_nm`` is the median
    over planes of the predicted single-frame precision ``sigma_z_per_plane_nm`` (in the order of
    ``z_nm``; inf where the LUT cannot resolve z). ``axial_motion_nm`` / ``lateral_motion_nm``:
    the bead's own rms motion in z / sideways within a plane (see the module docstring).
    ``hint``: plain-words advice when the bead's motion (or a jumping track) is what spoiled
    its LUT, else "".
    """

    bead_id: int
    usable: bool
    reasons: tuple[str, ...] = ()
    n_planes: int = 0
    z_min_nm: float | None = None
    z_max_nm: float | None = None
    z_step_nm: float | None = None
    min_profiles_per_plane: int | None = None
    contrast: float | None = None
    neighbour_correlation_median: float | None = None
    neighbour_correlation_min: float | None = None
    plane_separation_median: float | None = None
    separable_fraction: float | None = None
    ambiguous_fraction: float | None = None
    noise_scale: float | None = None
    sigma_z_nm: float | None = None
    axial_motion_nm: float | None = None
    lateral_motion_nm: float | None = None
    hint: str = ""
    z_nm: tuple[float, ...] = field(default=(), repr=False)
    sigma_z_per_plane_nm: tuple[float, ...] = field(default=(), repr=False)

    @property
    def reason(self) -> str:
        """All failing criteria as one string ("" when usable)."""
        return "; ".join(self.reasons)

    def sigma_z_at(self, z_nm: float) -> float:
        """Predicted single-frame precision (nm) at height ``z_nm`` (linear interpolation over
        the planes; NaN when unknown or outside the LUT)."""
        if not self.sigma_z_per_plane_nm:
            return math.nan
        z = np.asarray(self.z_nm)
        if not z[0] <= z_nm <= z[-1]:
            return math.nan
        return float(np.interp(z_nm, z, np.asarray(self.sigma_z_per_plane_nm)))

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "reasons":
                value = list(value)
            elif f.name in ("z_nm", "sigma_z_per_plane_nm"):
                value = [_json_float(v) for v in value]
            elif isinstance(value, float):
                value = _json_float(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> BeadQuality:
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in ("reasons",):
                value = tuple(str(v) for v in value)
            elif f.name == "hint":
                value = str(value)
            elif f.name in ("z_nm", "sigma_z_per_plane_nm"):
                value = tuple(math.nan if v is None else float(v) for v in value)
            elif f.name in ("bead_id", "n_planes"):
                value = int(value)
            elif f.name == "usable":
                value = bool(value)
            elif f.name == "min_profiles_per_plane":
                value = None if value is None else int(value)
            else:
                value = _from_json_float(value)
            kwargs[f.name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class QualityReport:
    """Per-bead quality of a set of Z-LUTs (``beads``: bead id -> :class:`BeadQuality`)."""

    beads: Mapping[int, BeadQuality]
    thresholds: QualityThresholds = QualityThresholds()

    def __post_init__(self) -> None:
        object.__setattr__(self, "beads", dict(sorted(self.beads.items())))

    @property
    def usable(self) -> list[int]:
        """Ids of the beads whose LUT passed every criterion."""
        return [b for b, q in self.beads.items() if q.usable]

    @property
    def rejected(self) -> dict[int, str]:
        """Bead id -> reason, for every bead not usable."""
        return {b: q.reason for b, q in self.beads.items() if not q.usable}

    @property
    def hints(self) -> dict[int, str]:
        """Bead id -> plain-words hint, for every bead that has one."""
        return {b: q.hint for b, q in self.beads.items() if q.hint}

    def select(self, luts: Mapping[int, ZLUT]) -> dict[int, ZLUT]:
        """The LUTs of the usable beads."""
        return {b: luts[b] for b in self.usable if b in luts}

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN -> None, inf -> "inf")."""
        return {
            "thresholds": self.thresholds.to_dict(),
            "beads": {str(b): q.to_dict() for b, q in self.beads.items()},
            "usable": self.usable,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> QualityReport:
        beads = {int(k): BeadQuality.from_dict(v) for k, v in data["beads"].items()}
        return cls(beads, QualityThresholds.from_dict(data.get("thresholds", {})))

    def format_report(self) -> str:
        """A human-readable table, one line per bead, reasons below rejected beads."""
        t = self.thresholds
        lines = [
            f"Z-LUT quality: {len(self.usable)} of {len(self.beads)} bead(s) usable",
            f"  thresholds: planes >= {t.min_planes}, contrast >= {t.min_contrast:g}, "
            f"neighbour corr. median >= {t.min_median_neighbour_correlation:g} and min >= "
            f"{t.min_neighbour_correlation:g}, {t.min_separable_fraction:.0%} of plane pairs "
            f">= {t.min_plane_separation:g} sigma apart, ambiguous planes <= "
            f"{t.max_ambiguous_fraction:.0%}, sigma_z <= {t.max_sigma_z_nm:g} nm",
            f"{'bead':>6} {'ok':>3} {'planes':>6} {'z range (nm)':>17} {'step':>6} "
            f"{'contr.':>7} {'corr med/min':>13} {'sep':>6} {'separ.':>6} {'ambig':>6} "
            f"{'sigma_z':>8} {'motion z/xy':>11}",
        ]

        def num(value, spec):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "-"
            return format(value, spec)

        for bead, q in self.beads.items():
            zr = (
                f"{q.z_min_nm:.0f}..{q.z_max_nm:.0f}"
                if q.z_min_nm is not None and q.z_max_nm is not None
                else "-"
            )
            corr = f"{num(q.neighbour_correlation_median, '.3f')}/"
            corr += num(q.neighbour_correlation_min, ".3f")
            motion = f"{num(q.axial_motion_nm, '.0f')}/{num(q.lateral_motion_nm, '.0f')}"
            lines.append(
                f"{bead:>6} {'yes' if q.usable else 'NO':>3} {q.n_planes:>6} {zr:>17} "
                f"{num(q.z_step_nm, '.1f'):>6} {num(q.contrast, '.3f'):>7} {corr:>13} "
                f"{num(q.plane_separation_median, '.1f'):>6} "
                f"{num(q.separable_fraction, '.0%'):>6} {num(q.ambiguous_fraction, '.0%'):>6} "
                f"{num(q.sigma_z_nm, '.2f'):>8} {motion:>11}"
            )
            for reason in q.reasons:
                lines.append(f"{'':>11}- {reason}")
            if q.hint:
                lines.append(f"{'':>11}=> {q.hint}")
        lines.append("sigma_z: predicted single-frame precision (nm), median over planes")
        lines.append(
            "motion z/xy: the bead's own rms motion (nm) in z and sideways within a plane, "
            "median over planes"
        )
        return "\n".join(lines)


# -- the measures --------------------------------------------------------------------------------
class _WForm:
    """The tracker's bin weights W (tridiagonal) for one LUT, and quadratic forms with it."""

    def __init__(self, lut: ZLUT) -> None:
        gd, go = profile_gram(lut.settings)
        mu = np.abs(lut.profiles.mean(axis=0))
        mu = np.maximum(mu, 1e-6 * max(float(mu.max()), 1e-300))
        self.wd = gd / mu
        self.wo = go / np.sqrt(mu[:-1] * mu[1:])
        self.n_bins = mu.size

    def dot(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Row-wise ``aᵀ W b`` of (…, n_bins) arrays."""
        return (
            np.sum(self.wd * a * b, axis=-1)
            + np.sum(self.wo * a[..., :-1] * b[..., 1:], axis=-1)
            + np.sum(self.wo * a[..., 1:] * b[..., :-1], axis=-1)
        )

    def perp_sq(self, v: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """Squared W-norm of ``v`` without its component along ``ref`` (row-wise)."""
        return self.dot(v, v) - self.dot(v, ref) ** 2 / self.dot(ref, ref)


def _noise_per_plane(w: _WForm, scatter: PlaneScatter) -> tuple[np.ndarray, np.ndarray]:
    """Per plane: ``s²`` of one row, and the same for the plane's mean profile (``s²/n`` when
    every row covers every bin; larger where rows lack bins). Planes with too few rows get the
    pooled values of the others."""
    cnt = scatter.n_per_bin.astype(np.float64)
    pair = np.minimum(cnt[:, :-1], cnt[:, 1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(cnt > 1, scatter.sum_sq / (cnt - 1), np.nan)
        cov = np.where(pair > 1, scatter.sum_cross / (pair - 1), np.nan)
        row = (np.sum(w.wd * var, axis=1) + 2 * np.sum(w.wo * cov, axis=1)) / w.n_bins
        mean = (np.sum(w.wd * var / cnt, axis=1) + 2 * np.sum(w.wo * cov / pair, axis=1)) / w.n_bins
    ok = np.isfinite(row) & np.isfinite(mean)
    if ok.any() and not ok.all():
        ratio = float(np.median(mean[ok] / row[ok]))
        row[~ok] = np.median(row[ok])
        mean[~ok] = row[~ok] * ratio
    return row, mean


def _null_spread(w: _WForm, scatter: PlaneScatter) -> float:
    """sqrt(2 tr(M²)) with ``M = W C / s²`` (C: pooled row covariance, s² = tr(WC)/n_bins):
    the null standard deviation of ``eᵀWe`` per unit noise variance (n_bins for white noise)."""
    cov = scatter.pooled_cov
    nu = float(np.sum(scatter.n_profiles - 1))
    nb = w.n_bins
    if not np.all(np.isfinite(cov)) or nu <= 0:
        return math.sqrt(2.0 * nb)
    wmat = np.diag(w.wd) + np.diag(w.wo, 1) + np.diag(w.wo, -1)
    m = wmat @ cov
    t1 = float(np.trace(m))
    if not t1 > 0:
        return math.sqrt(2.0 * nb)
    m *= nb / t1
    t2 = float(np.sum(m * m.T))  # tr(M²)
    t2 = (t2 - nb**2 / nu) / (1.0 + 1.0 / nu)  # Wishart bias of the estimated covariance
    return math.sqrt(2.0 * max(t2, float(nb)))


def _derivatives(z: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finite-difference slopes (m, n_bins) and, per plane, the two planes used (lo, hi)."""
    m = z.size
    lo = np.clip(np.arange(m) - 1, 0, m - 1)
    hi = np.clip(np.arange(m) + 1, 0, m - 1)
    slope = (p[hi] - p[lo]) / (z[hi] - z[lo])[:, None]
    return slope, lo, hi


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / den) if den > 0 else 0.0


def _measure(lut: ZLUT, scatter: PlaneScatter | None, t: QualityThresholds) -> dict:
    z, p = lut.z_nm, lut.profiles
    m = z.size
    w = _WForm(lut)
    out: dict = {
        "n_planes": m,
        "z_min_nm": float(z[0]),
        "z_max_nm": float(z[-1]),
        "z_step_nm": float(np.median(np.diff(z))),
        "z_nm": tuple(float(v) for v in z),
    }
    # contrast: area-weighted RMS over the mean, per plane
    area = profile_gram(lut.settings)[0]
    mean = p @ area / area.sum()
    rms = np.sqrt(((p - mean[:, None]) ** 2) @ area / area.sum())
    out["contrast"] = float(np.median(rms / np.abs(mean)))
    corr = np.array([_corr(p[i], p[i + 1]) for i in range(m - 1)])
    out["neighbour_correlation_median"] = float(np.median(corr))
    out["neighbour_correlation_min"] = float(np.min(corr))
    # ambiguity: most similar other plane by the scale-free W cosine
    gram = np.array([w.dot(p, p[j]) for j in range(m)])  # (m, m)
    norm = np.sqrt(np.diag(gram))
    cos = gram / np.outer(norm, norm)
    np.fill_diagonal(cos, -np.inf)
    nearest = np.argmax(cos, axis=1)
    out["ambiguous_fraction"] = float(np.mean(np.abs(nearest - np.arange(m)) > AMBIGUITY_WINDOW))
    if scatter is None or not np.any(scatter.n_profiles > 1):
        return out
    s2, s2_mean = _noise_per_plane(w, scatter)
    out["min_profiles_per_plane"] = int(scatter.n_profiles.min())
    out["noise_scale"] = float(np.sqrt(np.median(s2)))
    dof = w.n_bins - 1  # dimensions left after projecting out the intensity scale
    # predicted precision
    slope, lo, hi = _derivatives(z, p)
    spread = _null_spread(w, scatter)
    slope_var = (s2_mean[hi] + s2_mean[lo]) / (z[hi] - z[lo]) ** 2
    info = w.perp_sq(slope, p) - dof * slope_var
    significant = info > t.noise_significance * spread * slope_var
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma = np.where(significant, np.sqrt(s2 / info), np.inf)
    out["sigma_z_per_plane_nm"] = tuple(float(v) for v in sigma)
    out["sigma_z_nm"] = float(np.median(sigma))
    # separation of neighbouring planes
    diff = p[1:] - p[:-1]
    var = s2_mean[1:] + s2_mean[:-1]
    excess = w.perp_sq(diff, 0.5 * (p[1:] + p[:-1])) - dof * var
    sep = np.sqrt(np.maximum(excess, 0.0) / var)
    out["plane_separation_median"] = float(np.median(sep))
    separable = (sep >= t.min_plane_separation) & (excess > t.noise_significance * spread * var)
    out["separable_fraction"] = float(np.mean(separable))
    # the bead's z motion, if its LUT resolves z at some planes at least (an empty ROI does not)
    z_var = scatter.z_var_nm2[np.isfinite(scatter.z_var_nm2)]
    if z_var.size and np.mean(np.isfinite(sigma)) >= MIN_RESOLVED_FOR_MOTION:
        out["axial_motion_nm"] = math.sqrt(float(np.median(z_var)))
    return out


def _judge(values: dict, t: QualityThresholds) -> list[str]:
    reasons = []

    def check(key: str, ok: bool, text: str) -> None:
        if values.get(key) is not None and not ok:
            reasons.append(text)

    v = values
    check(
        "n_planes",
        v["n_planes"] >= t.min_planes,
        f"n_planes {v['n_planes']} < min_planes {t.min_planes}",
    )
    check(
        "contrast",
        v.get("contrast", 0) >= t.min_contrast,
        f"contrast {v.get('contrast', 0):.4f} < min_contrast {t.min_contrast:g}",
    )
    c_med = v.get("neighbour_correlation_median", 1.0)
    check(
        "neighbour_correlation_median",
        c_med >= t.min_median_neighbour_correlation,
        f"neighbour_correlation_median {c_med:.3f} < min_median_neighbour_correlation "
        f"{t.min_median_neighbour_correlation:g}",
    )
    c_min = v.get("neighbour_correlation_min", 1.0)
    check(
        "neighbour_correlation_min",
        c_min >= t.min_neighbour_correlation,
        f"neighbour_correlation_min {c_min:.3f} < min_neighbour_correlation "
        f"{t.min_neighbour_correlation:g} (a jump between planes)",
    )
    amb = v.get("ambiguous_fraction", 0.0)
    check(
        "ambiguous_fraction",
        amb <= t.max_ambiguous_fraction,
        f"ambiguous_fraction {amb:.2f} > max_ambiguous_fraction {t.max_ambiguous_fraction:g} "
        "(profile not monotonic in z: planes resemble distant planes)",
    )
    frac = v.get("separable_fraction", 1.0)
    check(
        "separable_fraction",
        frac >= t.min_separable_fraction,
        f"separable_fraction {frac:.2f} < min_separable_fraction {t.min_separable_fraction:g} "
        f"(neighbouring planes less than {t.min_plane_separation:g} noise sigma apart)",
    )
    sz = v.get("sigma_z_nm", 0.0)
    check(
        "sigma_z_nm",
        sz <= t.max_sigma_z_nm,
        f"sigma_z_nm {sz:.3g} > max_sigma_z_nm {t.max_sigma_z_nm:g} (cannot resolve z)",
    )
    return reasons


def assess_bead(
    bead_id: int,
    lut: ZLUT,
    scatter: PlaneScatter | None = None,
    thresholds: QualityThresholds = QualityThresholds(),
    lateral_motion_nm: float | None = None,
) -> BeadQuality:
    """Quality of one bead's LUT (``scatter``: its sweep rows, for the noise-based measures and
    the axial motion; ``lateral_motion_nm``: its lateral rms within a plane, nm, if measured)."""
    values = _measure(lut, scatter, thresholds)
    reasons = _judge(values, thresholds)
    if lateral_motion_nm is not None:
        values["lateral_motion_nm"] = float(lateral_motion_nm)
    hint = ""
    if reasons:
        hint = motion_hint(
            bead_id, values["z_step_nm"], values.get("axial_motion_nm"), lateral_motion_nm
        )
    return BeadQuality(
        bead_id=int(bead_id), usable=not reasons, reasons=tuple(reasons), hint=hint, **values
    )


def assess_luts(
    luts: Mapping[int, ZLUT],
    *,
    scatter: Mapping[int, PlaneScatter] | None = None,
    rejected: Mapping[int, str] | None = None,
    thresholds: QualityThresholds = QualityThresholds(),
    lateral_motion: Mapping[int, float] | None = None,
) -> QualityReport:
    """Quality report of per-bead LUTs and the automatic choice of usable beads.

    ``luts``: bead id -> ZLUT; the result of :func:`build_luts` brings its own ``scatter`` and
    ``rejected`` (used unless given). Without scatter (a LUT loaded or imported) the noise-based
    measures (separation, precision) are not computed nor judged. Beads in ``rejected`` (no LUT)
    appear as not usable with that reason. ``lateral_motion``: bead id -> lateral rms within a
    plane (nm), measured from the tracks during the sweep (see :mod:`._motion`).
    """
    if isinstance(luts, BuiltLUTs):
        scatter = luts.scatter if scatter is None else scatter
        rejected = luts.rejected if rejected is None else rejected
    scatter = scatter or {}
    lateral = {int(b): float(v) for b, v in (lateral_motion or {}).items()}
    beads = {
        int(b): assess_bead(b, lut, scatter.get(b), thresholds, lateral.get(int(b)))
        for b, lut in luts.items()
    }
    steps = [q.z_step_nm for q in beads.values() if q.z_step_nm]
    step = float(np.median(steps)) if steps else None
    for b, reason in (rejected or {}).items():
        if int(b) not in beads:
            beads[int(b)] = BeadQuality(
                bead_id=int(b),
                usable=False,
                reasons=(f"no LUT: {reason}",),
                lateral_motion_nm=lateral.get(int(b)),
                hint=motion_hint(int(b), step, None, lateral.get(int(b))),
            )
    return QualityReport(beads, thresholds)
