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


# ---- recurrent and clipping samples: every former log_ name reads the ln_ values and warns

_RNN_SAMPLES = ("jacobian_norm", "pascanu_bound", "param_grad_norm", "recurrent_norm")


@pytest.fixture(scope="module")
def rnn() -> vg.Simulation:
    net = vg.Recurrent("rnn", activation="identity", hidden=6, steps=4,
                       init={"scheme": "orthogonal", "gain": "6/5"}, jacobian="spectral")
    return vg.simulate(net, trials=8, seed=3)


def test_recurrent_ln_values_are_natural_logs(rnn) -> None:
    # independent route: a linear RNN with W = 1.2·Q (Q orthogonal) has ∂h_T/∂h_t = W^(T−t),
    # whose spectral norm numpy computes directly for any orthogonal Q
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    direct = np.array([np.linalg.norm(np.linalg.matrix_power(1.2 * q, 4 - t), 2)
                       for t in range(5)])
    np.testing.assert_allclose(np.exp(rnn.samples["ln_jacobian_norm"]),
                               np.broadcast_to(direct, (8, 5)), rtol=1e-9)
    np.testing.assert_allclose(np.exp(rnn.samples["ln_recurrent_norm"]), 1.2, rtol=1e-9)
    # the per-step field is the ensemble mean of the per-network natural logs
    np.testing.assert_allclose(rnn.fields["ln_jacobian_norm"], np.log(direct), rtol=1e-9)
    assert "log_jacobian_norm" not in rnn.fields and "log_jacobian_norm" not in list(rnn.samples)


@pytest.mark.parametrize("name", _RNN_SAMPLES)
def test_recurrent_old_sample_names_warn(rnn, name: str) -> None:
    new = rnn.samples[f"ln_{name}"]
    with pytest.warns(DeprecationWarning, match=f"ln_{name}"):
        np.testing.assert_array_equal(rnn.samples[f"log_{name}"], new)


@pytest.mark.parametrize("name", ["jacobian_norm", "jacobian_norm_se", "pascanu_bound"])
def test_recurrent_old_field_names_warn(rnn, name: str) -> None:
    new = rnn.fields[f"ln_{name}"]
    with pytest.warns(DeprecationWarning, match=f"ln_{name}"):
        np.testing.assert_array_equal(rnn.fields[f"log_{name}"], new)
    with pytest.warns(DeprecationWarning, match=f"ln_{name}"):
        np.testing.assert_array_equal(getattr(rnn, f"log_{name}"), new)
    with pytest.warns(DeprecationWarning, match=f"ln_{name}"):
        np.testing.assert_array_equal(rnn.profile(f"log_{name}"), new)
    with pytest.raises(KeyError):
        rnn.fields["log_nonexistent"]


def test_lstm_forget_product_names() -> None:
    net = vg.Recurrent("lstm", hidden=4, steps=3, input_size=2)
    sim = vg.simulate(net, trials=6, seed=0)
    ln = sim.samples["ln_forget_product"]
    # a forget gate is a sigmoid in (0, 1): each ln f_k < 0, so the tail sums decrease to 0
    assert (ln[:, :-1] < 0).all() and (ln[:, -1] == 0).all()
    with pytest.warns(DeprecationWarning, match="ln_forget_product"):
        np.testing.assert_array_equal(sim.samples["log_forget_product"], ln)
    with pytest.warns(DeprecationWarning, match="ln_forget_product"):
        np.testing.assert_array_equal(sim.fields["log_forget_product"],
                                      sim.fields["ln_forget_product"])


def test_clipped_sample_names() -> None:
    from vgmath.montecarlo import clipping

    sim = vg.simulate(vg.Chain("relu", init="he", depth=3, width=8), trials=10, seed=4,
                      clip_norm=0.5)
    # independent route: the global norm from the per-layer samples, written out
    ws = sim.chain.widths
    sq = sum(ws[l] * ws[l - 1] * sim.samples["grad_weight_second_moment"][:, l]
             + ws[l] * sim.samples["grad_preact_second_moment"][:, l] for l in range(1, 4))
    ln = sim.samples["ln_param_grad_norm"]
    np.testing.assert_allclose(np.exp(ln), np.sqrt(sq), rtol=1e-9)
    np.testing.assert_allclose(sim.samples["ln_clipped_param_grad_norm"],
                               np.log(np.minimum(np.sqrt(sq), 0.5)), rtol=1e-9)
    for name in ("param_grad_norm", "clipped_param_grad_norm",
                 "clipped_grad_weight_second_moment"):
        with pytest.warns(DeprecationWarning, match=f"ln_{name}"):
            np.testing.assert_array_equal(sim.samples[f"log_{name}"],
                                          sim.samples[f"ln_{name}"])
    with pytest.warns(DeprecationWarning, match="ln_param_grad_norm"):
        np.testing.assert_array_equal(clipping.log_param_grad_norm(sim), ln)


def test_rate_export_named_by_base() -> None:
    rate = vg.verify_rate(vg.Chain("tanh", init="xavier", depth=3, width=16), "9/10",
                          trials=20, seed=0)
    d = rate.to_dict()
    assert "claimed_log" not in d and "log_rate_se" not in d
    # the claimed rate 9/10 and its natural log; the rate is exp of the ln estimate
    assert d["claimed_ln"] == pytest.approx(math.log(0.9), rel=1e-12)
    assert d["rate"] == pytest.approx(math.exp(rate.estimate), rel=1e-12)
    assert d["ln_rate_se"] == pytest.approx(rate.se, rel=1e-12)
