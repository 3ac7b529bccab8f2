"""Logarithms are named by their base everywhere (``ln_`` / ``log10_``); the former ``log_``
names still work and warn."""

from __future__ import annotations

import math

import numpy as np
import pytest

import vgmath as vg


@pytest.fixture(scope="module")
def pair() -> tuple[vg.Prediction, vg.Simulation]:
    chain = vg.Chain("tanh", init="xavier", depth=4, width=16)
    return vg.predict(chain), vg.simulate(chain, trials=20, seed=1)


def test_prediction_ln_field_is_natural_log(pair) -> None:
    pred, _ = pair
    # independent route: the product of χ^l written out, then math.log (base e)
    expect = math.log(float(np.prod(pred.chi[1:])))
    assert pred.ln_grad_second_moment[0] == pytest.approx(expect, rel=1e-12)
    with pytest.warns(DeprecationWarning, match="ln_grad_second_moment"):
        old = pred.log_grad_second_moment
    np.testing.assert_array_equal(old, pred.ln_grad_second_moment)
    with pytest.warns(DeprecationWarning):
        np.testing.assert_array_equal(pred.profile("log_grad_second_moment"), old)


def test_simulation_samples_named_by_base(pair) -> None:
    _, sim = pair
    ln = sim.samples["ln_grad_second_moment"]
    log10 = sim.samples["log10_grad_second_moment"]
    np.testing.assert_allclose(ln / math.log(10.0), log10, rtol=1e-12)
    assert "ln_q" in sim.samples and "log_q" not in list(sim.samples)
    with pytest.warns(DeprecationWarning, match="ln_grad_second_moment"):
        np.testing.assert_array_equal(sim.samples["log_grad_second_moment"], ln)
    with pytest.warns(DeprecationWarning, match="ln_gradient_slope"):
        assert sim.log_gradient_slope(0) == sim.ln_gradient_slope(0)
    with pytest.raises(KeyError):
        sim.samples["log_nonexistent"]
    # E[ln R_l]: natural log, so named mean_ln_chi (mean_log_chi kept as an alias)
    with pytest.warns(DeprecationWarning, match="mean_ln_chi"):
        np.testing.assert_array_equal(sim.mean_log_chi, sim.mean_ln_chi)
    with pytest.warns(DeprecationWarning, match="mean_ln_chi"):
        np.testing.assert_array_equal(sim.profile("mean_log_chi"), sim.mean_ln_chi)


def test_mean_ln_chi_is_natural_log(pair) -> None:
    pred, sim = pair
    # the simulated mean of ln R_l from the per-network natural logs, independently
    lg = sim.samples["ln_grad_second_moment"]
    np.testing.assert_allclose(sim.mean_ln_chi[1:], (lg[:, :-1] - lg[:, 1:]).mean(axis=0),
                               rtol=1e-12)
    with pytest.warns(DeprecationWarning, match="mean_ln_chi"):
        np.testing.assert_array_equal(pred.mean_log_chi, pred.mean_ln_chi)


def test_clip_report_names() -> None:
    sim = vg.simulate(vg.Chain("relu", init="he", depth=3, width=8), trials=20, seed=2)
    rep = vg.clip_report(sim, 1.0)
    with pytest.warns(DeprecationWarning, match="mean_ln_norm"):
        assert rep.mean_log_norm == rep.mean_ln_norm


def test_verification_fields_named_by_base() -> None:
    v = vg.verify(vg.Chain("relu", init="he", depth=3, width=32), trials=40, seed=0)
    with pytest.warns(DeprecationWarning, match="ln_estimate"):
        np.testing.assert_array_equal(v.log_estimate, v.ln_estimate)
    with pytest.warns(DeprecationWarning, match="ln_claim"):
        np.testing.assert_array_equal(v.log_claim, v.ln_claim)
