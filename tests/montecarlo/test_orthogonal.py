"""The conditioned sampler for Haar-orthogonal weights (vgmath.montecarlo.sampler): exact
identities every network satisfies, and the same joint law as dense QR sampling.

Tolerances follow tests/montecarlo/test_simulate.py: two-sample z statistics from the reported
standard errors and two-sample Kolmogorov–Smirnov tests on per-network samples, Holm across
layers and fields at family-wise level ALPHA; exact identities to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_simulate import ALPHA, equivalence_pvalues, holm_rejects  # shared test functions

import vgmath as vg
from vgmath import InvalidArgumentError
from vgmath.montecarlo.kernels import make_kernel

ORTHOGONAL_CHAINS = [
    # square, tall and wide layers with a bias (the forward pass at its true scale)
    vg.Chain("tanh", init="orthogonal", depth=5, width=[7, 12, 5, 9, 3, 6], sigma_b2="1/10"),
    # positively homogeneous, no bias: the rescaled forward pass; width 2 layers die often
    vg.Chain("relu", init={"scheme": "orthogonal", "gain": 2**0.5}, depth=6,
             width=[5, 4, 9, 2, 6, 6, 3]),
    # width-1 layers with large weights: where the forward/backward correlation shows most
    vg.Chain("sigmoid", init={"scheme": "orthogonal", "gain": 4}, depth=6,
             width=[3, 1, 2, 1, 4, 1, 2]),
]


@pytest.mark.slow
@pytest.mark.parametrize("chain", ORTHOGONAL_CHAINS, ids=str)
def test_conditioned_orthogonal_matches_dense_qr(chain):
    """Same joint law as W = c·Q with Q from a sign-corrected QR (Init.sample): same means at
    every layer (two-sample z) and same per-network distributions (two-sample KS)."""
    a = vg.simulate(chain, trials=3000, seed=100, method="conditioned")
    b = vg.simulate(chain, trials=3000, seed=200, method="dense")
    assert a.method == "conditioned" and b.method == "dense"
    assert not holm_rejects(equivalence_pvalues(a, b))


@pytest.mark.quality
def test_equivalence_test_tells_orthogonal_from_gaussian_weights():
    """The procedure above has power here: Gaussian weights of the same variance (which the
    mean-field theory cannot tell apart from orthogonal ones) are rejected at this size."""
    chain = ORTHOGONAL_CHAINS[0]
    gaussian_like = vg.Chain("tanh", init=vg.Init("custom", 1, "fan_max"), depth=5,
                             width=list(chain.widths), sigma_b2="1/10")
    assert gaussian_like.rule.gaussian
    a = vg.simulate(chain, trials=3000, seed=100, method="dense")
    b = vg.simulate(gaussian_like, trials=3000, seed=200, method="conditioned")
    assert holm_rejects(equivalence_pvalues(a, b))


def test_exact_norm_identities_of_each_network():
    """Per network, to rounding: a layer with n_l ≥ n_{l-1} preserves the forward norm
    (‖W x‖ = c‖x‖) and one with n_{l-1} ≥ n_l the backward norm (‖Wᵀδ‖ = c‖δ‖), with
    c² = Var·max(n_{l-1}, n_l) = gain² = 1 here; a linear chain makes both visible."""
    widths = [5, 8, 3, 3, 6, 2]
    chain = vg.Chain("identity", init="orthogonal", depth=5, width=widths)
    sim = vg.simulate(chain, trials=200, seed=4)
    assert sim.method == "conditioned"
    q = sim.samples["q"]  # ‖h^l‖²/n_l
    g = sim.samples["grad_second_moment"]  # ‖g^l‖²/n_l
    norms_h = q * np.array(widths)
    norms_g = g * np.array(widths)
    for l in range(1, 6):
        n_in, n_out = widths[l - 1], widths[l]
        if n_out >= n_in:
            np.testing.assert_allclose(norms_h[:, l], norms_h[:, l - 1], rtol=1e-12)
        else:  # a strict contraction in general
            assert (norms_h[:, l] < norms_h[:, l - 1] * (1 - 1e-9)).mean() > 0.99
        if n_in >= n_out:
            np.testing.assert_allclose(norms_g[:, l - 1], norms_g[:, l], rtol=1e-12)
        else:
            assert (norms_g[:, l - 1] < norms_g[:, l] * (1 - 1e-9)).mean() > 0.99


def test_a_wide_layer_has_the_exact_beta_law():
    """W (2 × 6) with orthonormal rows: ‖W x‖²/‖x‖² ~ Beta(1, 2) exactly (the squared length
    of 2 coordinates of a uniform unit vector in R^6; Gaussian weights give a scaled χ²_2
    instead), KS against the exact law; backward, ‖Wᵀδ‖ = ‖δ‖ for every network."""
    chain = vg.Chain("identity", init="orthogonal", depth=1, width=[6, 2])
    sim = vg.simulate(chain, trials=4000, seed=9)
    ratio = sim.samples["q"][:, 1] * 2 / 6  # ‖h‖²/‖x^0‖² with gain 1 (c = 1)
    assert stats.kstest(ratio, stats.beta(1, 2).cdf).pvalue > ALPHA
    assert stats.kstest(ratio, stats.chi2(2, scale=1 / 6).cdf).pvalue < ALPHA
    g = sim.samples["grad_second_moment"]
    np.testing.assert_allclose(g[:, 0] * 6, g[:, 1] * 2, rtol=1e-12)


def test_orthogonal_draws_are_reproducible_and_counted():
    chain = vg.Chain("tanh", init="orthogonal", depth=3, width=[4, 6, 6, 2])
    a = vg.simulate(chain, trials=30, seed=5, block_size=8)
    b = vg.simulate(chain, trials=30, seed=5, block_size=8, chunk_size=7)
    for key in a.samples:
        assert np.array_equal(a.samples[key], b.samples[key], equal_nan=True), key
    kernel = make_kernel(chain, method="conditioned", dtype=np.float64)
    # normals: forward 6+6+2, backward 4+6+6, g^L 2; χ²: layer 1 (both ways), layer 3
    assert kernel.draws_per_network() == 14 + 16 + 2 + 2


def test_conditioned_orthogonal_only_where_it_is_exact():
    resnet = vg.Chain("tanh", init="orthogonal", depth=2, width=4, residual=vg.Residual())
    assert vg.simulate(resnet, trials=2, seed=0).method == "dense"
    with pytest.raises(InvalidArgumentError, match="Gaussian"):
        vg.simulate(resnet, trials=2, seed=0, method="conditioned")
    uniform = vg.Chain("tanh", init="xavier_uniform", depth=2, width=4)
    with pytest.raises(InvalidArgumentError, match="orthogonal"):
        vg.simulate(uniform, trials=2, seed=0, method="conditioned")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_deep_wide_orthogonal_chain_runs_at_conditioned_cost(dtype):
    """Width 512, depth 50 (941 s for 50 networks with dense QR): a few networks, finite,
    ReLU + orthogonal(√2) keeps q = 2 at every layer in expectation."""
    chain = vg.Chain("relu", init={"scheme": "orthogonal", "gain": math.sqrt(2)}, depth=50,
                     width=512)
    sim = vg.simulate(chain, trials=40, seed=1, dtype=dtype)
    assert sim.method == "conditioned"
    assert np.isfinite(sim.samples["ln_grad_second_moment"]).all()
    z = (sim.q[1:] - 2.0) / sim.q_se[1:]
    assert not holm_rejects(2 * stats.norm.sf(np.abs(z)))
