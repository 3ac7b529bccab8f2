"""Heavy tails of per-network samples: the generalised-Pareto tail shape k̂.

A Monte Carlo mean over T independent networks has a √T central limit theorem only when the
variance of the per-network value Y is finite; at moderate T it is accurate only when the
tail of Y is well inside that limit. k̂ estimates the tail shape (E[Y^p] < ∞ for p < 1/k):
k ≥ 1/2 means an infinite variance; the standard error of a ratio of E[Y²] to E[Y]² needs
E[Y⁴] < ∞, i.e. k < 1/4. Used by :mod:`vgmath.verification` (which layers can be tested)
and by :class:`vgmath.Simulation` (whether the fourth-moment ratios' errors can be trusted).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["TAIL_K_MAX", "bootstrap_log_mean_interval", "bootstrap_moment_ratio", "pareto_k"]

#: The largest tail shape k̂ at which an interval for a mean is trusted: a generalised Pareto
#: tail with shape k has finite moments of order < 1/k, so beyond k = 1/2 the variance of
#: the per-network values is infinite and no central-limit interval holds (Vehtari et al.,
#: PSIS, arXiv:1507.02646, use the same threshold). vg.verify maximises k̂ over nearby layers.
TAIL_K_MAX = 0.5

FloatArray = NDArray[np.float64]


def _gpd_shape(exceed: FloatArray) -> float:
    """Zhang & Stephens (2009, Technometrics 51:316–325) estimate of the generalised Pareto
    shape ξ of positive exceedances (sorted ascending), with the weak prior of Vehtari et al.
    (PSIS, arXiv:1507.02646) shrinking ξ towards 0.5 by 10 pseudo-observations."""
    n = exceed.size
    m = 30 + int(math.sqrt(n))
    b = 1.0 - np.sqrt(m / (np.arange(1, m + 1, dtype=np.float64) - 0.5))
    b /= 3.0 * exceed[int(n / 4 + 0.5) - 1]
    b += 1.0 / exceed[-1]
    k = np.log1p(-b[:, None] * exceed[None, :]).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        prof = n * (np.log(-(b / k)) - k - 1.0)
        w = 1.0 / np.exp(prof[None, :] - prof[:, None]).sum(axis=1)
    w = np.where(np.isfinite(w), w, 0.0)
    if w.sum() <= 0:
        return math.nan
    w /= w.sum()
    b_post = float(np.sum(b * w))
    xi = float(np.log1p(-b_post * exceed).mean())
    return (n * xi + 10 * 0.5) / (n + 10)


def pareto_k(log_samples: ArrayLike) -> FloatArray:
    """The tail diagnostic of each column: the generalised-Pareto shape k̂ of the upper tail of
    Y = exp(ℓ), fitted to the M = min(T/5, 3√T) largest values (Vehtari, Simpson, Gelman, Yao
    & Gabry, "Pareto smoothed importance sampling", JMLR 25 (2024), arXiv:1507.02646).

    k̂ estimates 1/(tail index): E[Y^p] is finite for p < 1/k. The variance of Y is infinite
    for k ≥ 1/2 and the sample mean then obeys no √T central limit theorem; for k below 1/2
    but not far below, the convergence to the normal law is slow and the studentised mean
    under-covers at moderate T. Columns with fewer than 20 positive values give NaN.
    Scale-free (computed on Y / max Y).
    """
    ls = np.asarray(log_samples, dtype=np.float64)
    if ls.ndim == 1:
        ls = ls[:, None]
    n = ls.shape[0]
    m = int(min(n / 5, 3 * math.sqrt(n)))
    out = np.full(ls.shape[1], np.nan)
    if m < 5:
        return out
    for j in range(ls.shape[1]):
        col = np.sort(ls[:, j])
        if not np.isfinite(col[-1]) or np.isneginf(col[-m - 1]):
            continue
        with np.errstate(under="ignore"):
            y = np.exp(col - col[-1])
        exceed = y[-m:] - y[-m - 1]
        if not (exceed[-1] > 0):
            continue
        exceed = np.maximum(exceed, 1e-300)
        out[j] = _gpd_shape(exceed)
    return out


def bootstrap_moment_ratio(
    logs: ArrayLike, *, resamples: int = 2000, level: float = 0.95, seed: int = 0,
    method: str = "percentile",
) -> tuple[float, float]:
    """Bootstrap interval of E[Y²]/E[Y]² from ln Y samples (resampling the networks; Efron
    & Tibshirani 1993, ch. 12–13), seeded. Scale-free. ``method="percentile"``: quantiles of
    the resampled ratio; ``"t"``: studentised (percentile-t) on the log of the ratio, with the
    delta-method standard error of ln(m₂/m₁²) recomputed in each resample. The bootstrap is
    more honest than the delta method under moderate tails, but no method is reliable when
    the tail shape k̂ of Y exceeds 1/4 (E[Y⁴] = ∞): check :func:`pareto_k` first."""
    if method not in ("percentile", "t"):
        raise ValueError(f"method must be 'percentile' or 't', not {method!r}")
    ls = np.asarray(logs, dtype=np.float64)
    top = float(np.max(ls))
    with np.errstate(under="ignore"):
        y = np.exp(ls - top)
    n = y.size
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 4])))
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)
    y2 = y * y
    m1 = counts @ y / n
    m2 = counts @ y2 / n
    ratio = m2 / (m1 * m1)
    a = (1 - level) / 2
    if method == "percentile":
        lo, hi = np.quantile(ratio, [a, 1 - a])
        return float(lo), float(hi)

    def log_ratio_se(c1, c2, c3, c4):  # type: ignore[no-untyped-def]
        v11 = c2 - c1 * c1
        v12 = c3 - c1 * c2
        v22 = c4 - c2 * c2
        var = 4 * v11 / (c1 * c1) - 4 * v12 / (c1 * c2) + v22 / (c2 * c2)
        return np.sqrt(np.maximum(var, 0.0) / n)

    m3 = counts @ (y2 * y) / n
    m4 = counts @ (y2 * y2) / n
    est = math.log(float(np.mean(y2)) / float(np.mean(y)) ** 2)
    se = float(log_ratio_se(np.mean(y), np.mean(y2), np.mean(y2 * y), np.mean(y2 * y2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = (np.log(ratio) - est) / log_ratio_se(m1, m2, m3, m4)
    t_star = t_star[np.isfinite(t_star)]
    if t_star.size == 0 or not math.isfinite(se):  # a constant sample: no interval
        return math.nan, math.nan
    q_lo, q_hi = np.quantile(t_star, [a, 1 - a])
    with np.errstate(over="ignore"):
        return float(np.exp(est - q_hi * se)), float(np.exp(est - q_lo * se))


def bootstrap_log_mean_interval(
    log_samples: ArrayLike, *, resamples: int = 999, level: float = 0.95, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """Studentised-bootstrap (percentile-t) interval of ln E[Y], column by column, from ln Y
    samples of shape (T,) or (T, K) (resampling the networks, the same resamples for every
    column; Efron & Tibshirani 1993, ch. 12.5; Hall 1992, *The Bootstrap and Edgeworth
    Expansion*, §3.5). The quantiles of t* = (Ȳ* − Ȳ)/s*(Ȳ*) replace Student's t: second-
    order accurate like Hall's transformation, and it also follows skewness the sample
    skewness under-estimates. Seeded; scale-free. A lower end at or below 0 gives −inf.
    Like every interval for a mean, it cannot be trusted when k̂ ≥ 1/2 (:func:`pareto_k`).
    """
    ls = np.asarray(log_samples, dtype=np.float64)
    if ls.ndim == 1:
        ls = ls[:, None]
    n = ls.shape[0]
    top = ls.max(axis=0)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore"):
        y = np.exp(ls - top)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 5])))
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    mean = y.mean(axis=0)
    se = y.std(axis=0, ddof=1) / math.sqrt(n)
    m1 = counts @ y / n
    m2 = counts @ (y * y) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        se_star = np.sqrt(np.maximum(m2 - m1 * m1, 0.0) * n / (n - 1) / n)
        t_star = (m1 - mean) / se_star
    t_star = np.where(np.isfinite(t_star), t_star, np.nan)
    a = (1 - level) / 2
    q_lo, q_hi = np.nanquantile(t_star, [a, 1 - a], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = top + np.log(np.maximum(mean - q_hi * se, 0.0))
        hi = top + np.log(mean - q_lo * se)
    return lo, hi
