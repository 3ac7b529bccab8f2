"""Calibration of the verification engine: false-alarm rates measured, not assumed.

Every rate is compared with a binomial tolerance: over N independent runs at level alpha the
number of false alarms is Binomial(N, alpha) when the test is exact, so a count above its
99.9% quantile means the test is anti-conservative (and one below the 0.1% quantile, where
checked, that it is needlessly conservative). The seeds are fixed, so each test is
deterministic; the tolerances make a wrong test fail, not a lucky seed pass.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import vgmath as vg
from vgmath.verification.stats import binomial_upper_limit, log_mean_test

ALPHA = 0.01


def _lognormal_logs(sigma: float, trials: int, reps: int, seed: int) -> np.ndarray:
    """ln Y for log-normal Y: shape (trials, reps); the true ln E[Y] is sigma²/2."""
    return np.random.default_rng(seed).normal(0.0, sigma, (trials, reps))


@pytest.mark.parametrize("method", ["hall", "lognormal", "z"])
def test_size_on_nearly_gaussian_samples(method: str) -> None:
    """ln Y ~ N(0, 0.05²): Y is nearly Gaussian, every method is close to exact at T = 50
    (Student-t reference); the rejection count must sit inside the two-sided 99.8% band."""
    reps, sigma = 20_000, 0.05
    logs = _lognormal_logs(sigma, 50, reps, seed=7)
    p = log_mean_test(logs, sigma**2 / 2, alpha=ALPHA, method=method).p_value
    k = int(np.sum(p <= ALPHA))
    assert stats.binom.ppf(0.001, reps, ALPHA) <= k <= binomial_upper_limit(reps, ALPHA), k


@pytest.mark.quality
def test_hall_corrects_the_skewness_the_plain_z_test_ignores() -> None:
    """Skewed samples like the gradients of a deep network (ln Y ~ N(0, 0.9²): skewness of
    Y ≈ 3.6, the spread measured at depth 20, width 128 under He init). With T = 200 the
    delta-method z-test rejects a true claim about 1.5·alpha of the time — beyond the 99.9%
    binomial limit — and Hall's correction removes most of that excess (its O(1/T)
    remainder, ≈ 1.2·alpha here, is why verify defaults to 1000 networks)."""
    reps, sigma = 20_000, 0.9
    logs = _lognormal_logs(sigma, 200, reps, seed=8)
    limit = binomial_upper_limit(reps, ALPHA)
    hall = int(np.sum(log_mean_test(logs, sigma**2 / 2, alpha=ALPHA).p_value <= ALPHA))
    z = int(np.sum(log_mean_test(logs, sigma**2 / 2, alpha=ALPHA, method="z").p_value <= ALPHA))
    assert z > limit
    assert hall - reps * ALPHA < 0.6 * (z - reps * ALPHA)


def test_hall_is_calibrated_at_the_default_number_of_networks() -> None:
    """At verify's default T = 1000 and the same skewness, Hall's test is within the
    99.9% binomial limit at alpha."""
    reps, sigma = 8000, 0.9
    logs = _lognormal_logs(sigma, 1000, reps, seed=0)
    hall = int(np.sum(log_mean_test(logs, sigma**2 / 2, alpha=ALPHA).p_value <= ALPHA))
    assert hall <= binomial_upper_limit(reps, ALPHA)


def test_interval_null_size_at_the_band_edge() -> None:
    """The truth at the edge of the tolerance band is the least favourable null: the test is
    one-sided there (p at the nearer edge), so the rejection rate is alpha — not alpha/2, the
    needless conservatism of a two-sided p-value — and within the binomial limits."""
    reps, sigma, band = 20_000, 0.3, 0.05
    logs = _lognormal_logs(sigma, 200, reps, seed=9)
    truth = sigma**2 / 2
    p = log_mean_test(logs, truth - band, band=band, alpha=ALPHA).p_value
    k = int(np.sum(p <= ALPHA))
    assert stats.binom.ppf(0.001, reps, ALPHA) <= k <= binomial_upper_limit(reps, ALPHA), k
    # and inside the band the claim is never rejected more often
    p_in = log_mean_test(logs, truth - band / 2, band=band, alpha=ALPHA).p_value
    assert np.sum(p_in <= ALPHA) <= np.sum(p <= ALPHA)


def test_power_grows_with_the_error() -> None:
    """A claim off by 2%, 5%, 10% in E[Y] (ln Y ~ N(0, 0.3²), T = 1000) is rejected more and
    more often; 10% almost always (the standard error of ln Ȳ is ≈ 0.3/√1000 ≈ 0.0097)."""
    reps, sigma = 2000, 0.3
    logs = _lognormal_logs(sigma, 1000, reps, seed=10)
    rates = [
        float(np.mean(log_mean_test(logs, sigma**2 / 2 + np.log(f), alpha=ALPHA).p_value <= ALPHA))
        for f in (1.02, 1.05, 1.10)
    ]
    assert rates[0] < rates[1] < rates[2]
    assert rates[2] > 0.99


# --------------------------------------------------------------------------- real networks


def _catalog_chains(depth: int, width: int) -> list[tuple[str, str, vg.Chain]]:
    return [
        (name, init, vg.Chain(name, init=init, depth=depth, width=width))
        for name in vg.activations()
        for init in ("xavier", "he", "lecun")
    ]


@pytest.mark.slow
def test_every_catalog_activation_is_never_rejected_at_default_settings() -> None:
    """vgmath's own theory is never rejected for a catalog activation × {xavier, he, lecun}
    at verify's default settings (1000 networks, alpha = 0.01), depth 20, width 128, seeded;
    it passes outright wherever the finite-width expansion holds at every layer (the
    well-behaved majority), and is INCONCLUSIVE — never PASS — where it does not."""
    failed, passed = [], 0
    for i, (name, init, chain) in enumerate(_catalog_chains(20, 128)):
        v = vg.verify(chain, seed=1000 + i)
        if v.verdict is vg.Verdict.FAIL:
            failed.append((name, init, v.rejected_layers))
        passed += v.passed
        assert v.passed == v.coverage.complete
    assert not failed, failed
    assert passed >= 36, passed


@pytest.mark.slow
def test_false_alarm_rate_across_the_catalog() -> None:
    """The family-wise false-alarm rate of verifying vgmath's theory, over the catalog ×
    {xavier, he, lecun} × 5 independent seeds (smaller chains: depth 10, width 64, 400
    networks), must not exceed the 99.9% binomial quantile at alpha = 0.01. The larger run
    of benchmarks/calibrate_verify.py gives the rate itself."""
    runs = alarms = 0
    for i, (_name, _init, chain) in enumerate(_catalog_chains(10, 64)):
        for rep in range(5):
            v = vg.verify(chain, trials=400, seed=10_000 + 100 * i + rep)
            runs += 1
            alarms += v.verdict is vg.Verdict.FAIL
    assert runs == 16 * 3 * 5
    assert alarms <= binomial_upper_limit(runs, ALPHA), (alarms, runs)
