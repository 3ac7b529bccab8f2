"""The tail diagnostic k̂ and the checked fourth-moment ratio of vg.Simulation."""

from __future__ import annotations

import numpy as np

import vgmath as vg
from vgmath.montecarlo.tails import bootstrap_moment_ratio, pareto_k


def test_pareto_k_recovers_known_tail_shapes() -> None:
    """Pareto(α) samples have k = 1/α; averaged over 40 columns of T = 1000 the estimate is
    within 0.06 of it (per-column noise ≈ 0.12 at M = 94 tail points, /√40 ≈ 0.02; the
    weak prior towards 0.5 biases small k up by ≈ 0.05·(0.5 − k))."""
    rng = np.random.default_rng(0)
    for alpha in (1.5, 2.5, 5.0):
        logs = np.log1p(rng.pareto(alpha, (1000, 40)))
        k = pareto_k(logs)
        assert abs(float(np.mean(k)) - 1 / alpha) < 0.06, (alpha, np.mean(k))
    # light tails (log-normal with small σ) stay well below 1/2; constant columns give NaN
    light = pareto_k(rng.normal(0, 0.3, (1000, 20)))
    assert float(np.max(light)) < 0.4
    assert np.isnan(pareto_k(np.zeros((100, 1)))[0])


def test_bootstrap_moment_ratio_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    logs = rng.normal(0, 0.5, 2000)
    y = np.exp(logs)
    ratio = float(np.mean(y * y) / np.mean(y) ** 2)
    lo, hi = bootstrap_moment_ratio(logs, seed=3)
    assert lo < ratio < hi and hi - lo < 0.2
    assert bootstrap_moment_ratio(logs, seed=3) == (lo, hi)  # seeded


def test_moment_ratio_check_flags_heavy_tails() -> None:
    """tanh + Xavier: light tails, the delta-method error is usable; SiLU + He at width 128:
    k̂ > 1 at the input gradient, the ratio's error cannot be trusted."""
    ok = vg.simulate(vg.Chain("tanh", init="xavier", depth=20, width=128), trials=1000, seed=0)
    check = ok.moment_ratio_check()
    assert check["reliable"] and check["tail_k"] < 0.2
    lo, hi = check["bootstrap_ci"]
    assert lo < check["ratio"] < hi
    heavy = vg.simulate(vg.Chain("silu", init="he", depth=20, width=128), trials=1000, seed=0)
    assert not heavy.moment_ratio_check()["reliable"]
    d = heavy.to_dict()["moment_ratios"]
    assert d["gradient_se_reliable"] is False and d["gradient_tail_k"] > 0.5
    assert heavy.tail_shape().shape == (21,)
