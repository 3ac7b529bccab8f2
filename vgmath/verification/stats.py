"""Tests of a mean against a claimed value, on a log scale, for positive heavy-tailed samples.

The verification engine compares a claimed per-layer value m_l with T independent simulated
per-network values Y_1..Y_T (one per random network) whose mean estimates E[Y]. Depth
profiles span hundreds of orders of magnitude and, at depth, Y is a product of many random
per-layer factors: close to log-normal and strongly right-skewed. Everything here therefore

* takes the samples as natural logarithms ``ℓ_t = log Y_t`` (zeros are ``-inf``), and works
  with ratios ``R_t = exp(ℓ_t − max ℓ)`` so that nothing overflows or underflows;
* tests the *interval* null hypothesis

  .. math::  H_0:\\ |\\log \\mathbb{E}[Y] - \\log m| \\le b,

  where ``b ≥ 0`` is an explicit tolerance (vgmath uses it for the finite-width bias of the
  mean-field theory; ``b = 0`` is the usual point null). The p-value is the supremum of the
  point-null p-values over the interval, attained at the end nearest the estimate: there
  the test is one-sided, plus the (usually negligible) chance of an equally large deviation
  beyond the far end;
* offers three reference distributions (``method``):

  ``"hall"`` (default)
      the studentised mean :math:`t = \\sqrt{T}(\\bar Y - \\mu_0)/s` passed through Hall's
      skewness-removing transformation

      .. math::  T_1 = t + \\frac{\\hat\\gamma}{3\\sqrt T} t^2
                 + \\frac{\\hat\\gamma^2}{27 T} t^3 + \\frac{\\hat\\gamma}{6\\sqrt T},

      with :math:`\\hat\\gamma` the sample skewness. :math:`T_1` is monotone in t and has
      Student-t tails to O(1/T) where t itself is wrong at O(1/√T) (the Edgeworth term
      :math:`\\gamma(2x^2+1)\\varphi(x)/(6\\sqrt T)` of the studentised mean is removed).
      Nonparametric: needs no model of Y. References: Johnson 1978, JASA 73:536–544;
      Hall 1992, JRSS B 54:221–228.
  ``"lognormal"``
      Cox's method: if log Y ~ N(μ, σ²) then log E[Y] = μ + σ²/2, estimated by
      :math:`\\hat\\mu + \\hat\\sigma^2/2` with standard error
      :math:`\\sqrt{\\hat\\sigma^2/T + \\hat\\sigma^4/(2(T-1))}` (Land 1972; Zhou & Gao 1997,
      Stat. Med. 16:783–790). Exact-ish when the model holds, biased when it does not;
      needs every sample > 0.
  ``"z"``
      the plain delta-method z-test on the log of the sample mean,
      :math:`(\\log\\bar Y - \\log m)/(s/(\\bar Y\\sqrt T))`. Kept for comparison: it is
      anti-conservative for skewed samples (measured in tests/test_calibration.py).

All three use Student's t with T − 1 degrees of freedom as the reference (the exact law of
t for Gaussian samples, and a small conservative correction otherwise). The functions are
vectorised over the columns of a ``(T, K)`` array, so one call tests every layer (or, in the
calibration tests, thousands of synthetic replicates).

Multiplicity across layers is controlled with Holm's step-down procedure (Holm 1979, Scand.
J. Statist. 6:65–70), valid under any dependence — the layers of one simulated network are
strongly dependent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ..core.errors import InvalidArgumentError
from ..montecarlo.tails import pareto_k

__all__ = [
    "METHODS",
    "MeanTest",
    "TypicalTest",
    "binomial_upper_limit",
    "edge_p",
    "holm",
    "log_mean_test",
    "pareto_k",
    "typical_value_test",
]

FloatArray = NDArray[np.float64]

#: The reference distributions :func:`log_mean_test` offers.
METHODS = ("hall", "lognormal", "z")


@dataclass(frozen=True)
class MeanTest:
    """Per-column result of :func:`log_mean_test` (arrays of length K).

    ``estimate`` is the method's estimate of log E[Y] (natural log); ``ci_low``/``ci_high``
    a two-sided (1 − alpha) confidence interval for it (unadjusted for multiplicity);
    ``se`` the delta-method standard error of log Ȳ; ``statistic`` the signed test statistic
    (Student-t scale; 0 when the estimate is inside the tolerance band); ``p_value`` the
    p-value of the interval null at its nearer edge (one-sided when the band is wide compared
    with the standard error, two-sided for a point null: :func:`edge_p`). Columns with no
    finite null value are NaN.
    """

    estimate: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    se: FloatArray
    skewness: FloatArray
    statistic: FloatArray
    p_value: FloatArray
    n: int
    method: str


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise InvalidArgumentError("method", method, f"expected one of {', '.join(METHODS)}")
    return method


def log_mean_test(
    log_samples: ArrayLike,
    log_null: ArrayLike,
    *,
    band: ArrayLike = 0.0,
    alpha: float = 0.01,
    method: str = "hall",
) -> MeanTest:
    """Test H0: |log E[Y] − log_null| ≤ band, column by column.

    ``log_samples``: shape (T,) or (T, K), natural logs of the positive samples (−inf for a
    zero). ``log_null``: shape () or (K,), the claimed log E[Y] (±inf is allowed: a claim of
    0 or ∞ is rejected by any sample with positive, finite mean). ``band``: the tolerance b ≥ 0
    (natural-log units), scalar or (K,).
    """
    _check_method(method)
    ls = np.asarray(log_samples, dtype=np.float64)
    if ls.ndim == 1:
        ls = ls[:, None]
    if ls.ndim != 2:
        raise InvalidArgumentError("log_samples", ls.shape, "expected shape (T,) or (T, K)")
    n, k = ls.shape
    if n < 3:
        raise InvalidArgumentError("trials", n, "need at least 3 samples per test")
    if np.isnan(ls).any() or np.isposinf(ls).any():
        raise InvalidArgumentError("log_samples", "NaN/+inf", "samples must be finite or -inf")
    if not 0 < alpha < 1:
        raise InvalidArgumentError("alpha", alpha, "must be in (0, 1)")
    null = np.broadcast_to(np.asarray(log_null, dtype=np.float64), (k,))
    b = np.broadcast_to(np.asarray(band, dtype=np.float64), (k,))
    if np.isnan(b).any() or (b < 0).any():
        raise InvalidArgumentError("band", band, "tolerances must be >= 0")

    shift = ls.max(axis=0)
    shift = np.where(np.isfinite(shift), shift, 0.0)  # a column of zeros: R = 0, mean 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r = np.exp(ls - shift)  # in [0, 1]; NaN columns when shift = -inf
        rbar = r.mean(axis=0)
        d = r - rbar
        m2 = (d * d).mean(axis=0)
        m3 = (d * d * d).mean(axis=0)
        s = np.sqrt(m2 * n / (n - 1))
        gamma = np.where(m2 > 0, m3 / m2**1.5, 0.0)
        log_mean = shift + np.log(rbar)
        se = s / (rbar * math.sqrt(n))
    tq = float(stats.t.ppf(1 - alpha / 2, n - 1))

    if method == "lognormal":
        if np.isneginf(ls).any():
            raise InvalidArgumentError(
                "method", method, "the log-normal test needs every sample > 0 (a sample is 0)"
            )
        mu = ls.mean(axis=0)
        var = ls.var(axis=0, ddof=1)
        est = mu + var / 2
        se_c = np.sqrt(var / n + var**2 / (2 * (n - 1)))
        ci_lo, ci_hi = est - tq * se_c, est + tq * se_c
        stat, p = _interval_z(est, se_c, null, b, n)
        return MeanTest(est, ci_lo, ci_hi, se, gamma, stat, p, n, method)

    if method == "z":
        ci_lo, ci_hi = log_mean - tq * se, log_mean + tq * se
        stat, p = _interval_z(log_mean, se, null, b, n)
        return MeanTest(log_mean, ci_lo, ci_hi, se, gamma, stat, p, n, method)

    # Hall's transformation of the studentised mean, on the ratio scale R = Y / e^shift
    a = gamma / (3 * math.sqrt(n))
    c0 = gamma / (6 * math.sqrt(n))
    step = s / math.sqrt(n)  # the standard error of R̄

    def log_mu_at(t1: FloatArray) -> FloatArray:
        # the null value μ0 (log scale) at which T1 equals t1: μ0/e^shift = R̄ − t(t1)·s/√T
        t = _hall_inverse(t1, a, c0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return shift + np.log(np.maximum(rbar - t * step, 0.0))

    est = log_mu_at(np.zeros(k))
    ci_lo = log_mu_at(np.full(k, tq))
    ci_hi = log_mu_at(np.full(k, -tq))
    # T1 at both edges of the null interval: the nearer edge gives the statistic, the far
    # edge the (small) probability of a deviation beyond it on the other side
    lo, hi = null - b, null + b
    target = np.clip(est, lo, hi)
    far = np.where(est >= target, lo, hi)

    def t1_at(edge: FloatArray) -> FloatArray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            t = (rbar - np.exp(edge - shift)) / step
        return _hall(t, a, c0)

    inside = (est >= lo) & (est <= hi)
    stat = np.where(inside, 0.0, t1_at(target))
    stat = _degenerate(stat, step, rbar, shift, target)
    far_stat = _degenerate(t1_at(far), step, rbar, shift, far)
    p = edge_p(stat, far_stat, n)
    stat = np.where(np.isnan(null), np.nan, stat)
    p = np.where(np.isnan(null), np.nan, p)
    return MeanTest(est, ci_lo, ci_hi, se, gamma, stat, p, n, method)


def _hall(t: FloatArray, a: FloatArray, c0: FloatArray) -> FloatArray:
    """T1 = t + a t² + a² t³/3 + c0 = ((1 + a t)³ − 1)/(3a) + c0: monotone in t."""
    with np.errstate(invalid="ignore", over="ignore"):
        out = t + a * t * t + a * a * t**3 / 3 + c0
    # ±inf t (a claim of 0 or ∞) stays ±inf: the cubic dominates with the sign of t
    return np.where(np.isinf(t), t, out)


def _hall_inverse(t1: FloatArray, a: FloatArray, c0: FloatArray) -> FloatArray:
    """The t with _hall(t) = t1: t = (cbrt(1 + 3a(t1 − c0)) − 1)/a (t1 − c0 when a = 0)."""
    u = t1 - c0
    with np.errstate(divide="ignore", invalid="ignore"):
        cubic = (np.cbrt(1 + 3 * a * u) - 1) / a
    return np.where(np.abs(a) > 1e-12, cubic, u)


def _interval_z(
    est: FloatArray, se: FloatArray, null: FloatArray, b: FloatArray, n: int
) -> tuple[FloatArray, FloatArray]:
    """Signed statistic and p-value of H0: |θ − null| ≤ b for an estimate with known se."""
    lo, hi = null - b, null + b
    target = np.clip(est, lo, hi)
    far = np.where(est >= target, lo, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (est - target) / se
        far_stat = (est - far) / se
    stat = np.where(est == target, 0.0, stat)
    p = edge_p(stat, far_stat, n)
    return np.where(np.isnan(null), np.nan, stat), np.where(np.isnan(null), np.nan, p)


def _degenerate(
    stat: FloatArray, step: FloatArray, rbar: FloatArray, shift: FloatArray, target: FloatArray
) -> FloatArray:
    """Zero-variance columns (every sample equal): reject unless the value is in the band."""
    zero = ~(step > 0)
    if not zero.any():
        return stat
    with np.errstate(divide="ignore", invalid="ignore"):
        value = shift + np.log(rbar)
        same = (value == target) | (np.abs(value - target) <= 1e-12)
    signed = np.where(value > target, np.inf, -np.inf)
    return np.where(zero, np.where(same, 0.0, signed), stat)


def edge_p(stat: FloatArray, far_stat: FloatArray, n: int) -> FloatArray:
    """p-value of H0: θ ∈ [lo, hi] for a statistic measured from the nearer edge (``stat``)
    and from the far edge (``far_stat``): sf(|stat|) + sf(|far_stat|), the probability, with
    θ at the nearer edge (the least favourable null), of a deviation at least as large on
    either side. For a point null (lo = hi) it is the usual two-sided p-value; for a band
    much wider than the standard error it is the one-sided p-value at the nearer edge."""
    with np.errstate(invalid="ignore"):
        p = stats.t.sf(np.abs(stat), n - 1) + stats.t.sf(np.abs(far_stat), n - 1)
    p = np.where(np.isnan(far_stat), 2 * stats.t.sf(np.abs(stat), n - 1), p)
    p = np.where(stat == 0, 1.0, p)  # inside the band: no evidence against H0
    return np.where(np.isnan(stat), np.nan, np.minimum(p, 1.0))


@dataclass(frozen=True)
class TypicalTest:
    """Per column: the sample mean of ln Y, its standard error, the t statistic from the
    nearer edge of the band, the p-value and the half-width of the interval at the level
    asked for."""

    estimate: FloatArray
    se: FloatArray
    statistic: FloatArray
    p_value: FloatArray
    half_width: FloatArray


def typical_value_test(log_samples: ArrayLike, centre: ArrayLike, band: ArrayLike,
                       level: float, control: tuple[ArrayLike, ArrayLike] | None = None,
                       ) -> TypicalTest:
    """Student's t test of H0: |E[ln Y] − centre| ≤ band, per column of ``log_samples``
    (rows: independent networks). ln Y of a deep network is a sum over layers with light
    tails, so the t interval is accurate where the mean of Y itself is not; the p-value is
    :func:`edge_p`'s, and ``half_width`` that of the two-sided (1 − level) interval.

    ``control = (C, mean)``: a control variate, per network and column, whose expectation
    ``mean`` is known exactly; the regression estimator x̄ − β̂ (C̄ − mean) (β̂ the
    least-squares slope, per column) replaces x̄, with standard error
    s_e √(1/T + (C̄ − mean)²/Σ(C − C̄)²) on T − 2 degrees of freedom (s_e the residual
    standard deviation) — the variance shrinks by the factor 1 − R² (Cochran, Sampling
    Techniques, 3rd ed. 1977, §7.1; Glasserman 2004, §4.1)."""
    x = np.asarray(log_samples, dtype=np.float64)
    n = x.shape[0]
    est = x.mean(axis=0)
    se = x.std(axis=0, ddof=1) / math.sqrt(n)
    dof = n - 1
    if control is not None:
        c = np.asarray(control[0], dtype=np.float64)
        c_mean = np.asarray(control[1], dtype=np.float64)
        if c.shape != x.shape or n < 4:
            raise InvalidArgumentError("control", f"shape {c.shape}",
                                       f"expected {x.shape} with at least 4 rows")
        dc = c - c.mean(axis=0)
        sxx = (dc * dc).sum(axis=0)
        ok = sxx > 1e-12 * np.maximum((c * c).sum(axis=0), 1e-300)
        beta = np.where(ok, (dc * (x - est)).sum(axis=0) / np.where(ok, sxx, 1.0), 0.0)
        resid = x - est - beta * dc
        s_e = np.sqrt((resid * resid).sum(axis=0) / (n - 2))
        gap = c.mean(axis=0) - c_mean
        est = np.where(ok, est - beta * gap, est)
        se = np.where(ok, s_e * np.sqrt(1.0 / n + gap * gap / np.where(ok, sxx, 1.0)), se)
        dof = n - 2
    stat, p = _interval_z(est, se, np.asarray(centre, dtype=np.float64),
                          np.asarray(band, dtype=np.float64), dof + 1)
    half = stats.t.isf(level / 2, dof) * se
    return TypicalTest(est, se, stat, p, half)


def holm(p_values: ArrayLike) -> FloatArray:
    """Holm's step-down adjusted p-values (NaN entries are not tests and stay NaN).

    With the m finite p-values sorted, p_(1) ≤ … ≤ p_(m), the adjusted value of the j-th is
    max_{i ≤ j} min(1, (m − i + 1) p_(i)); rejecting where it is ≤ alpha controls the
    family-wise error rate at alpha under arbitrary dependence (Holm 1979).
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def binomial_upper_limit(trials: int, rate: float, *, level: float = 0.999) -> int:
    """The ``level`` quantile of Binomial(trials, rate): the largest count of false alarms
    still consistent with a true rate ``rate`` (used by the calibration tests)."""
    return int(stats.binom.ppf(level, trials, rate))
