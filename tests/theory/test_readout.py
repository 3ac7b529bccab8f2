"""The read-out convention: ``Chain(readout="activation" | "linear")`` in theory, simulation
and verification, and the factor between the two."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from scipy import integrate

import vgmath as vg
from vgmath.core.errors import InvalidArgumentError


def _e_dphi2_tanh(q: float) -> float:
    """E[tanh′(√q z)²], z ~ N(0, 1), by adaptive quadrature (independent of vgmath)."""
    def f(z: float) -> float:
        return (1.0 - math.tanh(math.sqrt(q) * z) ** 2) ** 2 * math.exp(-z * z / 2)

    return integrate.quad(f, -np.inf, np.inf, epsabs=1e-13)[0] / math.sqrt(2 * math.pi)


def test_default_is_activation_and_round_trip() -> None:
    c = vg.Chain("relu", depth=3, width=8)
    assert c.readout == "activation"
    lin = c.replace(readout="linear")
    assert vg.Chain.from_dict(lin.to_dict()) == lin
    assert "readout=linear" in str(lin)
    with pytest.raises(InvalidArgumentError, match="readout='softmax'"):
        vg.Chain("relu", readout="softmax")
    with pytest.raises(InvalidArgumentError, match="readout"):
        vg.Chain("relu", residual=vg.Residual(), readout="linear")


def test_exact_reference_values() -> None:
    # hand-derived: ReLU, E[φ′²] = 1/2. He (n v = 2): χ = 1 on φ layers, χ^L = n v = 2 on a
    # linear read-out. Xavier on square layers (n v = 1): χ = 1/2, read-out χ^L = 1.
    L = 6
    he = vg.predict(vg.Chain("relu", init="he", depth=L, width=32, readout="linear"))
    assert he.exact.grad_second_moment == (*([sp.Integer(2)] * L), sp.Integer(1))
    assert he.exact.grad_preact_second_moment[L] == 1  # δ^L = g^L
    xa = vg.predict(vg.Chain("relu", init="xavier", depth=L, width=32, readout="linear"))
    assert xa.exact.grad_second_moment[0] == sp.Rational(1, 2 ** (L - 1))
    act = vg.predict(vg.Chain("relu", init="xavier", depth=L, width=32))
    assert act.exact.grad_second_moment[0] == sp.Rational(1, 2**L)
    # the closed form (valid for l < L) agrees with the exact profile
    f = xa.formula.subs(vg.depth_symbol, L)
    assert all(f.subs(vg.layer_symbol, l) == xa.exact.grad_second_moment[l] for l in range(L))


@pytest.mark.parametrize("init", ["xavier", {"scheme": "custom", "sigma_w2": "3/2"}])
def test_the_two_conventions_differ_by_one_over_e_dphi2(init) -> None:
    chain = vg.Chain("tanh", init=init, depth=12, width=100, sigma_b2="1/20")
    act = vg.predict(chain)
    lin = vg.predict(chain.replace(readout="linear"))
    np.testing.assert_array_equal(act.q, lin.q)  # the forward pass is unchanged
    factor = 1.0 / _e_dphi2_tanh(float(act.q[-1]))
    # quad and vgmath's moments are both accurate to ~1e-12: 1e-9 leaves room for 12 layers
    np.testing.assert_allclose(
        lin.grad_second_moment[:-1] / act.grad_second_moment[:-1], factor, rtol=1e-9
    )
    assert lin.grad_second_moment[-1] == act.grad_second_moment[-1] == 1
    assert lin.chi[-1] == pytest.approx(float(chain.sigma_w2s[-1]), rel=1e-15)  # n_L v_L
    assert any("linear read-out" in n for n in lin.notes)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["conditioned", "dense"])
def test_simulation_matches_theory_for_both_conventions(method) -> None:
    # ReLU + He: E[(g^l)²]/E[(g^L)²] is exact at finite width (φ′ ∈ {0, 1} independent of the
    # backward weights; no forward/backward coupling for homogeneous φ), so the only error
    # is Monte Carlo: |mean − claim| < 4.5 se has probability ≈ 1 − 7e-6 per layer, and with
    # 5 layers × 2 conventions a false alarm has probability < 1e-4.
    T = 1500
    base = vg.Chain("relu", init="he", depth=4, width=24)
    sims = {}
    for ro in ("activation", "linear"):
        chain = base.replace(readout=ro)
        pred = vg.predict(chain)
        sim = vg.simulate(chain, trials=T, seed=3, method=method)
        z = (sim.grad_second_moment - pred.grad_second_moment) / sim.grad_second_moment_se
        assert np.all(np.abs(z[:-1]) < 4.5), (ro, z)
        sims[ro] = sim
    # the factor between the conventions, 1/E[φ′²] = 2, is resolved: the two 4.5-se bands
    # around 1 and 2 are disjoint at T = 1500 (se ≈ 0.04 and 0.08)
    lo = sims["linear"].grad_second_moment[0] - 4.5 * sims["linear"].grad_second_moment_se[0]
    hi = (sims["activation"].grad_second_moment[0]
          + 4.5 * sims["activation"].grad_second_moment_se[0])
    assert lo > hi


@pytest.mark.slow
@pytest.mark.quality
def test_verify_compares_like_with_like() -> None:
    # tanh (not homogeneous): vg.verify's finite-width tolerance applies. Its own prediction
    # passes for a linear read-out; the activation read-out's prediction — off by
    # 1/E[φ′²] ≈ e^{0.2} at every layer — is rejected for the same networks.
    chain = vg.Chain("tanh", init="xavier", depth=6, width=64, readout="linear")
    sim = vg.simulate(chain, trials=2000, seed=11)
    own = vg.verify(chain, simulation=sim, seed=11)
    assert own.verdict is not vg.Verdict.FAIL
    wrong = vg.verify(chain, vg.predict(chain.replace(readout="activation")),
                      simulation=sim, seed=11)
    assert wrong.verdict is vg.Verdict.FAIL


def test_a_symbolic_chain_with_a_linear_readout_is_refused() -> None:
    # the symbolic engines would build χ^L from E[φ′²] (s⁵/32 for ReLU where the numeric
    # chain at s = 2 gives 2): refused, with the way out named
    s = sp.Symbol("s", positive=True)
    chain = vg.Chain("relu", init=vg.Init.custom(sigma_w2=s), depth=5, width=16,
                     readout="linear")
    with pytest.raises(InvalidArgumentError, match="substitute numbers"):
        vg.predict(chain)
    assert vg.predict(chain.subs({s: 2})).grad_second_moment[0] == pytest.approx(2.0)
