"""Finite-width predictions of post-activation residual chains
(``vg.predict(chain, finite_width=True)``, :mod:`vgmath.theory.residual_finite_width`)
against seeded simulations, with tolerances from the sample size: every layer within
3 standard errors of the simulated mean plus the prediction's stated error."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

import vgmath as vg
from vgmath.core.errors import InvalidArgumentError

TRIALS = 2000
SEED = 11
CASES = [("1/2", 1, 10), ("1", 2, 10), ("1", 2, 20)]
WIDTHS = [64, 128, 512, 1024]


def chain_for(alpha: str, branch: int, depth: int, width: int, act: str = "relu") -> vg.Chain:
    return vg.Chain(act, init="he", depth=depth, width=width,
                    residual=vg.Residual(alpha=alpha, branch_depth=branch, variant="post"))


@cache
def simulated(alpha: str, branch: int, depth: int, width: int) -> vg.Simulation:
    return vg.simulate(chain_for(alpha, branch, depth, width), trials=TRIALS, seed=SEED)


def excess(sim: vg.Simulation, claim: np.ndarray, error: np.ndarray,
           name: str = "grad_second_moment") -> np.ndarray:
    """Per layer: |ln(simulated/claim)| beyond the stated error, in standard errors of the
    simulated ln mean (se/mean); ≤ 3 passes."""
    est = np.asarray(sim.fields[name], dtype=float)
    se = np.asarray(sim.fields[name + "_se"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (np.abs(np.log(est / np.asarray(claim, dtype=float))) - error) / (se / est)
    return out[np.isfinite(out)]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("alpha", "branch", "depth"), CASES)
def test_gradient_profile_matches_simulation(alpha: str, branch: int, depth: int,
                                             width: int) -> None:
    chain = chain_for(alpha, branch, depth, width)
    pred = vg.predict(chain, finite_width=True)
    sim = simulated(alpha, branch, depth, width)
    err = np.asarray(pred.extras["error"])
    assert np.all(excess(sim, pred.grad_second_moment, err) <= 3.0)
    assert np.all(excess(sim, pred.grad_preact_second_moment, err,
                         "grad_preact_second_moment") <= 3.0)
    assert np.all(excess(sim, pred.grad_weight_second_moment,
                         np.asarray(pred.extras["weight_error"]),
                         "grad_weight_second_moment") <= 3.0)
    assert np.all(excess(sim, pred.q, np.asarray(pred.extras["q_error"]), "q") <= 3.0)


@pytest.mark.parametrize(("alpha", "branch", "depth", "width"),
                         [("1/2", 1, 10, 64), ("1", 2, 10, 64), ("1", 2, 10, 128),
                          ("1", 2, 20, 128), ("1", 2, 20, 512), ("1", 2, 20, 1024)])
def test_mean_field_is_rejected_by_the_same_check(alpha: str, branch: int, depth: int,
                                                  width: int) -> None:
    # the check above can fail: the mean-field profile (gradient independence) misses the
    # gradient's coherent component along the common mode by far more than 3 standard errors
    chain = chain_for(alpha, branch, depth, width)
    pred = vg.predict(chain, finite_width=True)
    mean_field = vg.predict(chain)
    sim = simulated(alpha, branch, depth, width)
    assert excess(sim, mean_field.grad_second_moment, np.asarray(pred.extras["error"])).max() > 5
    np.testing.assert_array_equal(pred.extras["mean_field_grad_second_moment"],
                                  mean_field.grad_second_moment)


def test_leaky_relu_matches_simulation() -> None:
    act = vg.activation("leaky_relu", slope="1/5")
    chain = vg.Chain(act, init="he", depth=20, width=64,
                     residual=vg.Residual(alpha=1, branch_depth=2))
    pred = vg.predict(chain, finite_width=True)
    sim = vg.simulate(chain, trials=TRIALS, seed=SEED)
    assert np.all(excess(sim, pred.grad_second_moment, np.asarray(pred.extras["error"])) <= 3)
    assert sim.fields["grad_second_moment"][0] > 5 * vg.predict(chain).grad_second_moment[0]


@pytest.mark.parametrize("branch", [1, 2])
def test_linear_residual_chain_is_its_mean_field_profile_exactly(branch: int) -> None:
    # φ(x) = x: the backward Jacobians do not depend on the forward pass, so
    # E‖g_l‖²/n = (1 + α²σ_w²)^{L−l} (two layers: (1 + α²σ_w⁴)) at any width; the terms along
    # the forward directions must cancel
    chain = vg.Chain("identity", init="he", depth=15, width=8,
                     residual=vg.Residual(alpha="1/2", branch_depth=branch))
    pred = vg.predict(chain, finite_width=True)
    mean_field = vg.predict(chain)
    np.testing.assert_allclose(pred.grad_second_moment, mean_field.grad_second_moment,
                               rtol=1e-10)
    np.testing.assert_allclose(pred.q, mean_field.q, rtol=1e-12)


def test_wide_limit_is_the_mean_field_profile() -> None:
    chain = chain_for("1", 2, 10, 10**8)
    pred = vg.predict(chain, finite_width=True)
    np.testing.assert_allclose(pred.grad_second_moment, vg.predict(chain).grad_second_moment,
                               rtol=1e-5)


def test_prediction_fields_and_error() -> None:
    chain = chain_for("1", 2, 20, 128)
    pred = vg.predict(chain, finite_width=True)
    L = chain.depth
    for key in ("error", "q_error", "weight_error", "mean_field_q",
                "mean_field_grad_second_moment", "mean_field_grad_preact_second_moment",
                "mean_field_grad_weight_second_moment", "along_share", "mean"):
        assert len(pred.extras[key]) == L + 1, key
    err = np.asarray(pred.extras["error"])
    # the error is 1e-3 at the output and grows with the share carried along the forward
    # directions and the number of blocks above
    assert err[L] == pytest.approx(1e-3) and np.all(np.diff(err) <= 0) and err[0] < 0.05
    assert pred.grad_second_moment[L] == pytest.approx(1.0)
    np.testing.assert_allclose(pred.chi[1:], pred.grad_second_moment[:-1]
                               / pred.grad_second_moment[1:], rtol=1e-12)
    # the share of E‖g_l‖² along the forward directions (the rest, the bulk, is fed by it
    # too: the free part of Wᵀδ has the norm of δ, coherent part included)
    along = np.asarray(pred.extras["along_share"])
    assert along[L] == pytest.approx(0.0, abs=1e-12) and 0.05 < along[0] < 1
    assert "finite-width" in pred.method or "finite-width" in " ".join(pred.notes)


def test_verify_uses_the_finite_width_prediction_by_default() -> None:
    chain = chain_for("1", 2, 10, 128)
    ver = vg.verify(chain, seed=0)
    assert ver.verdict.value == "PASS"
    assert any("finite-width prediction" in n for n in ver.notes)
    assert vg.verify(chain, seed=0, quantity="q").verdict.value == "PASS"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"activation": "relu", "residual": vg.Residual(alpha=1, variant="pre")}, "variant='pre'"),
    ({"activation": "tanh", "residual": vg.Residual(alpha=1)}, "positively homogeneous"),
    ({"activation": "gelu", "residual": vg.Residual(alpha=1, branch_depth=2)},
     "positively homogeneous"),
    ({"activation": "relu", "residual": vg.Residual(alpha=1), "sigma_b2": "1/20"},
     "without bias"),
])
def test_uncovered_residual_chains_are_refused_with_a_reason(kwargs: dict, match: str) -> None:
    chain = vg.Chain(init="he", depth=6, width=32, **kwargs)
    with pytest.raises(InvalidArgumentError, match=match):
        vg.predict(chain, finite_width=True)
    from vgmath.verification.profile import finite_width_exact

    assert not finite_width_exact(chain)
    assert vg.predict(chain).grad_second_moment[0] > 0  # the mean-field prediction remains
