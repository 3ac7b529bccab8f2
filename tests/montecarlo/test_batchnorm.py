"""Batch-normalised chains: the exact backward pass through the normalisation, the exact
conditioned sampler for several inputs per network, where normalisation keeps the
arguments of φ, and the gradient explosion rate of BN + ReLU (Yang et al. 2019).

Statistical tolerances: z statistics with the reported standard errors, Holm-controlled at
family-wise level ALPHA (Holm 1979); systematic allowances are stated where used.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
from scipy import stats

import vgmath as vg
from vgmath import InvalidArgumentError
from vgmath.cli import main
from vgmath.montecarlo.architectures import batchnorm_backward, batchnorm_forward
from vgmath.montecarlo.batchnorm import rate_expression
from vgmath.verification.stats import holm

ALPHA = 1e-3


def interval_p(estimate, se, target, band):
    """Two-sided normal p-values of H0: |E − target| ≤ band."""
    excess = np.maximum(np.abs(np.asarray(estimate) - target) - band, 0.0)
    return 2 * stats.norm.sf(excess / np.asarray(se))


# --------------------------------------------------------------------------- calculus


@pytest.mark.parametrize("eps", [0.0, 1e-5, 0.5])
def test_batchnorm_backward_matches_finite_differences(eps):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((2, 6, 3)) * 2 + 1
    weights = rng.standard_normal(h.shape)

    def loss(x):
        arg, _ = batchnorm_forward(x, eps)
        return (weights * np.tanh(arg)).sum()

    arg, inv = batchnorm_forward(h, eps)
    analytic = batchnorm_backward(weights * (1 - np.tanh(arg) ** 2), arg, inv)
    fd = np.empty_like(h)
    step = 1e-6  # central differences: error O(step²) + O(ε/step) ≈ 1e-10
    for idx in np.ndindex(h.shape):
        e = np.zeros_like(h)
        e[idx] = step
        fd[idx] = (loss(h + e) - loss(h - e)) / (2 * step)
    np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)
    # quality: the frozen-statistics approximation (inv·d) is a different, wrong Jacobian
    frozen = weights * (1 - np.tanh(arg) ** 2) * inv
    assert np.max(np.abs(frozen - fd)) > 1e-2


def test_normalised_arguments_are_centred_with_unit_variance():
    sim = vg.simulate(vg.Chain("tanh", init="xavier", depth=4, width=16, norm="batch", batch=8,
                               sigma_b2=1), trials=8, seed=0)
    # ‖ĥ‖²/(nB) = mean over units of σ²/(σ² + eps): in (1 − eps/σ², 1]
    assert (sim.samples["norm_q"][:, 1:] <= 1 + 1e-12).all()
    assert (sim.samples["norm_q"][:, 1:] > 1 - 1e-3).all()


# --------------------------------------------------------------------------- samplers


@pytest.mark.slow
def test_conditioned_batch_sampler_agrees_with_dense_weights():
    """The conditioned sampler with B inputs (W = A Qᵀ + W̃(I − QQᵀ)) against explicit
    Gaussian weights: two-sample z tests of every mean field and KS tests of per-network
    log-gradients, Holm."""
    chain = vg.Chain("tanh", init={"scheme": "custom", "sigma_w2": 2}, depth=4, width=12,
                     norm="batch", batch=6, sigma_b2="1/10")
    a = vg.simulate(chain, trials=400, seed=1, method="conditioned")
    b = vg.simulate(chain, trials=400, seed=2, method="dense")
    ps = []
    for name in ("q", "grad_second_moment", "grad_preact_second_moment",
                 "grad_weight_second_moment", "abs_arg_q50"):
        x, y = a.fields[name][1:], b.fields[name][1:]
        se = np.hypot(a.fields[name + "_se"][1:], b.fields[name + "_se"][1:])
        ps.append(2 * stats.norm.sf(np.abs(x - y) / se))
    for l in range(chain.depth):
        ps.append([stats.ks_2samp(a.samples["ln_grad_second_moment"][:, l],
                                  b.samples["ln_grad_second_moment"][:, l]).pvalue])
    assert (holm(np.concatenate(ps)) > ALPHA).all()


def test_batch_larger_than_the_width_draws_the_whole_matrix():
    """K ≥ n_in: Q Qᵀ = I and the conditioned sampler draws W = A Qᵀ whole (no W̃ part)."""
    chain = vg.Chain("relu", init="he", depth=3, width=4, norm="batch", batch=9)
    sim = vg.simulate(chain, trials=20, seed=0)
    assert np.isfinite(sim.samples["ln_grad_second_moment"]).all()


def test_seeded_batchnorm_runs_reproduce():
    chain = vg.Chain("relu", init="he", depth=3, width=8, norm="batch", batch=4)
    a = vg.simulate(chain, trials=7, seed=3, block_size=3)
    b = vg.simulate(chain, trials=7, seed=3, block_size=3, chunk_size=6)
    for key in ("ln_grad_second_moment", "abs_arg_q90", "ln_param_grad_norm"):
        np.testing.assert_array_equal(a.samples[key], b.samples[key])
    assert a.to_dict()["chain"]["norm"] == "batch"


# --------------------------------------------------------------------------- saturation


def test_normalisation_keeps_sigmoid_out_of_saturation():
    """A sigmoid chain with σ_w² = 16: its plain pre-activations saturate, the normalised
    ones cannot. Exact facts: layer 1 of the plain chain has h ~ N(0, 16) exactly (Gaussian
    weights, ‖x⁰‖²/n = 1), so the saturated fraction is P(|h| > b) = 2Φ(−b/4) with b the
    certified boundary ln((1 + √0.96)/(1 − √0.96)) ≈ 4.585 of {|σ′| < 1/100}; and every
    normalised entry obeys |ĥ| ≤ √(B − 1) (Σĥ = 0, Σĥ² ≤ B), below b for B ≤ 22."""
    init = {"scheme": "custom", "sigma_w2": 16}
    plain = vg.Chain("sigmoid", init=init, depth=6, width=64)
    B = 16
    p0 = vg.preactivation_profile(plain, batch=B, trials=60, seed=0)
    p1 = vg.preactivation_profile(plain.replace(norm="batch", batch=B), trials=60, seed=0)
    b = float(max(vg.activation("sigmoid").saturation_region("1/100").boundaries))
    assert b == pytest.approx(math.log((1 + math.sqrt(0.96)) / (1 - math.sqrt(0.96))))
    exact = 2 * stats.norm.sf(b / 4)
    z = (p0.saturated_fraction[1] - exact) / p0.saturated_fraction_se[1]
    assert 2 * stats.norm.sf(abs(z)) > ALPHA
    assert (p1.saturated_fraction[1:] == 0).all()
    assert (p1.quantiles[99][1:] <= math.sqrt(B - 1)).all()
    assert (p0.saturated_fraction[1:] > 0.02).all()
    assert p0.quantiles[50][1] > 2 * p1.quantiles[50][1]
    d = p1.to_dict()
    assert d["normalised"] and len(d["quantiles"]["50"]) == 7 and "layer" in p1.table()


# --------------------------------------------------------------------------- Yang et al.


def test_rate_limit_is_pi_over_pi_minus_one():
    B = sp.Symbol("B", positive=True)
    assert sp.simplify(sp.limit(rate_expression(B), B, sp.oo) - sp.pi / (sp.pi - 1)) == 0
    assert vg.bn_relu_gradient_rate() == sp.pi / (sp.pi - 1)
    rates = [float(vg.bn_relu_gradient_rate(b)) for b in (4, 8, 32, 128, 10**6)]
    assert all(x > y for x, y in itertools.pairwise(rates))  # decreasing in B
    assert rates[-1] == pytest.approx(math.pi / (math.pi - 1), rel=1e-5)
    with pytest.raises(InvalidArgumentError, match="batch"):
        vg.bn_relu_gradient_rate(3)


@pytest.mark.parametrize("B", [6, 32])
def test_rate_formula_matches_the_infinite_width_map_by_monte_carlo(B):
    """Independent check of λ(B): sample the per-unit infinite-width backward map with
    explicit matrices — y centred isotropic, J = (√B/‖Py‖)(P − ẑẑᵀ), D = diag(1[ẑ > 0]),
    incoming gradient g ~ N(0, P) — and compare σ_w²·E‖Jᵀ D g‖² / E‖g‖² with the formula,
    where σ_w² κ (the scale of y) comes from E‖P relu(z)‖² of the same samples."""
    rng = np.random.default_rng(B)
    N = 40000
    P = np.eye(B) - 1.0 / B
    y = rng.standard_normal((N, B)) @ P
    norm = np.linalg.norm(y, axis=1)
    zh = y / norm[:, None]
    z = math.sqrt(B) * zh
    x = np.maximum(z, 0.0)
    kappa = np.mean(np.sum((x @ P) ** 2, axis=1)) / (B - 1)  # E‖P x‖²/(B − 1)
    # y = √κ w with w ~ N(0, P): ‖Py‖ = √κ ‖w‖ (σ_w² cancels)
    w_norm = rng.chisquare(B - 1, size=N) ** 0.5 * math.sqrt(kappa)
    g = rng.standard_normal((N, B)) @ P
    dg = (z > 0) * g
    proj = dg - dg.mean(axis=1, keepdims=True) - zh * np.sum(zh * dg, axis=1, keepdims=True)
    out = B / w_norm**2 * np.sum(proj**2, axis=1)
    ratio = out / (np.sum(g**2, axis=1).mean())
    est, se = ratio.mean(), ratio.std(ddof=1) / math.sqrt(N)
    lam = float(vg.bn_relu_gradient_rate(B))
    # κ is itself estimated (relative se ≈ 0.3 %); it enters as 1/κ: add its delta-method se
    k_rel = np.std(np.sum((x @ P) ** 2, axis=1), ddof=1) / math.sqrt(N) / (kappa * (B - 1))
    total_se = math.hypot(se, lam * k_rel)
    assert abs(est - lam) < 4.5 * total_se


@pytest.mark.slow
def test_bn_relu_gradients_explode_at_the_predicted_rate():
    """Simulated per-layer growth chi[l] = E[g²_{l-1}]/E[g²_l] (layers 2..L−1: the top layer's
    incoming gradient is not yet centred over the batch) against λ(B) at B = 32, n = 256.
    Allowance for finite width: 2/n relative — the batch variance of a unit is a quadratic
    form in n activations, and its relative fluctuation raises E[1/σ²] by ≈ 2/n (second-order
    delta method); measured deviation ≈ 0.3 %. Against Yang et al.'s B → ∞ value π/(π − 1)
    the finite-B allowance |λ(B) − π/(π − 1)| (exact, 0.055) is added."""
    B, n, L = 32, 256, 10
    sim = vg.simulate(vg.Chain("relu", init="he", depth=L, width=n, norm="batch", batch=B),
                      trials=120, seed=7)
    chi, se = sim.chi[2:L], sim.chi_se[2:L]
    lam = float(vg.bn_relu_gradient_rate(B))
    limit = math.pi / (math.pi - 1)
    width_band = lam * 2 / n
    assert (holm(interval_p(chi, se, lam, width_band)) > ALPHA).all()
    assert (holm(interval_p(chi, se, limit, abs(lam - limit) + width_band)) > ALPHA).all()
    # quality: without the finite-B allowance π/(π − 1) is rejected at B = 32, and so is
    # the frozen-statistics prediction (no explosion: He init gives chi = 1)
    assert (holm(interval_p(chi, se, limit, width_band)) <= ALPHA).any()
    assert (holm(interval_p(chi, se, 1.0, width_band)) <= ALPHA).any()


def test_cli_batchnorm(capsys):
    assert main(["simulate", "relu", "--init", "he", "--arch", "bn", "--batch", "8",
                 "--depth", "4", "--width", "16", "--trials", "6"]) == 0
    out = capsys.readouterr().out
    assert "batchnorm(batch=8)" in out and "λ(B=8)" in out
    assert main(["simulate", "relu", "--arch", "bn", "--batch", "1", "--trials", "2"]) == 2
    assert "batch" in capsys.readouterr().err


def test_batchnorm_chain_validation():
    with pytest.raises(InvalidArgumentError, match="batch"):
        vg.Chain("relu", norm="batch")
    with pytest.raises(InvalidArgumentError, match="norm"):
        vg.Chain("relu", norm="layer", batch=4)
    with pytest.raises(InvalidArgumentError, match="batch"):
        vg.Chain("relu", batch=4)
    with pytest.raises(InvalidArgumentError, match="residual"):
        vg.Chain("relu", norm="batch", batch=4, residual=vg.Residual())
    # vg.predict covers batch-normalised chains at infinite width only
    assert vg.predict(vg.Chain("relu", norm="batch", batch=4)).chain.norm == "batch"
    with pytest.raises(InvalidArgumentError, match="batch-normalised"):
        vg.predict(vg.Chain("relu", norm="batch", batch=4), finite_width=True)
