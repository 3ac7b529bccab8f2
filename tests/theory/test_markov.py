"""Finite-width predictions (``vg.predict(chain, finite_width=True)``) against exact results
and against Monte Carlo with tolerances from the sample size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import vgmath as vg
from vgmath.core.errors import InvalidArgumentError

FIELDS = ("q", "grad_second_moment", "grad_preact_second_moment",
          "grad_weight_second_moment")


def test_relu_he_gradient_is_exactly_preserved() -> None:
    # ReLU without bias: E‖g^l‖²/n_l = 1 exactly at every width (Hanin 2018), and
    # E‖h^l‖²/n_l is the mean-field value (the variance map is linear)
    chain = vg.Chain("relu", init="he", depth=12, width=8)
    p = vg.predict(chain, finite_width=True)
    np.testing.assert_allclose(p.grad_second_moment, 1.0, rtol=1e-5)
    np.testing.assert_allclose(p.q, vg.predict(chain).q, rtol=1e-6)


def test_linear_chain_with_bias_is_the_mean_field() -> None:
    # φ(x) = x: E[s'] = σ² E[s] + σ_b² and E‖Wᵀg‖² = v n ‖g‖², exactly at any width; the
    # weight-sharing terms must cancel (they do not vanish term by term with a bias)
    chain = vg.Chain("identity", init="he", depth=10, width=8, sigma_b2=0.5)
    p = vg.predict(chain, finite_width=True)
    m = vg.predict(chain)
    for name in FIELDS:
        a, b = np.asarray(getattr(p, name)), np.asarray(getattr(m, name))
        ok = np.isfinite(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=1e-6)


def test_second_layer_mean_is_the_gaussian_integral() -> None:
    # E[s_2] = σ² E[tanh(√s_1 z)²] + σ_b² with s_1 fixed: computed independently by quad
    chain = vg.Chain("tanh", init="he", depth=3, width=8, sigma_b2=0.1)
    s1 = 2.0 * 1.0 + 0.1

    def integrand(z: float) -> float:
        return math.tanh(math.sqrt(s1) * z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    val, _ = integrate.quad(integrand, -40, 40, epsabs=1e-14, epsrel=1e-13)
    p = vg.predict(chain, finite_width=True)
    assert p.q[1] == pytest.approx(s1, rel=1e-12)
    # the fitted transition law leaks ~1e-6 of its mass below σ_b², put at the lowest node
    assert p.q[2] == pytest.approx(2.0 * val + 0.1, rel=1e-5)


@pytest.mark.parametrize(
    ("act", "init", "width", "depth", "trials"),
    [
        ("gelu", "he", 64, 20, 2000),  # mean field is off by a factor ~100 here
        ("gelu", "he", 256, 20, 1000),
        ("gelu", "he", 1024, 20, 1000),
        ("tanh", "xavier", 8, 10, 3000),
        ("sigmoid", "he", 8, 10, 3000),
        ("selu", "lecun", 32, 15, 1500),
    ],
)
def test_matches_simulation_within_three_standard_errors(
    act: str, init: str, width: int, depth: int, trials: int
) -> None:
    chain = vg.Chain(act, init=init, depth=depth, width=width)
    p = vg.predict(chain, finite_width=True)
    sim = vg.simulate(chain, trials=trials, seed=7)
    for name in FIELDS:
        a = np.asarray(getattr(p, name))
        mean, se = sim.fields[name], sim.fields[f"{name}_se"]
        ok = np.isfinite(se) & (se > 0)
        # 3 SE plus the prediction's own stated error (relative, ln units)
        allowed = 3.0 * se[ok] + np.asarray(p.extras["error"])[ok] * np.abs(mean[ok])
        assert np.all(np.abs(a[ok] - mean[ok]) <= allowed), (name, (a - mean) / se)


def test_mean_field_beside_it_and_stated_error() -> None:
    chain = vg.Chain("tanh", init="xavier", depth=6, width=64)
    p = vg.predict(chain, finite_width=True)
    m = vg.predict(chain)
    np.testing.assert_array_equal(p.extras["mean_field_q"], m.q)
    np.testing.assert_array_equal(p.extras["mean_field_grad_second_moment"],
                                  m.grad_second_moment)
    err = np.asarray(p.extras["error"])
    assert np.all((err > 0) & (err < 0.01))
    assert "finite-width" in p.method


def test_residual_chain_is_refused_with_a_reason() -> None:
    # post-activation ReLU blocks without bias have their own finite-width prediction
    # (tests/theory/test_residual_finite_width.py); the rest is refused with the reason
    covered = vg.Chain("relu", init="he", depth=4, width=16, residual=vg.Residual())
    assert "error" in vg.predict(covered, finite_width=True).extras
    for chain, why in [
        (covered.replace(residual=vg.Residual(variant="pre")), "variant='pre'"),
        (covered.replace(activation="tanh"), "positively homogeneous"),
        (covered.replace(sigma_b2="1/10"), "without bias"),
    ]:
        with pytest.raises(InvalidArgumentError, match=why):
            vg.predict(chain, finite_width=True)
    # the plain-chain Markov chain itself models plain chains only
    from vgmath.theory.markov import finite_width_profile

    with pytest.raises(InvalidArgumentError, match="plain chains"):
        finite_width_profile(covered, vg.predict(covered))


def test_deep_prediction_is_fast() -> None:
    import time

    chain = vg.Chain("tanh", init="he", depth=50, width=128)
    vg.predict(chain)  # moment tables
    t0 = time.perf_counter()
    vg.predict(chain, finite_width=True)
    assert time.perf_counter() - t0 < 5.0  # ~0.5 s alone; generous for a loaded machine


def test_cli_finite_width(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from vgmath.cli import main as cli_main

    args = ["predict", "gelu", "--init", "he", "--depth", "6", "--width", "16",
            "--finite-width", "--json"]
    assert cli_main(args) == 0
    d = json.loads(capsys.readouterr().out)
    chain = vg.Chain("gelu", init="he", depth=6, width=16)
    fw = vg.predict(chain, finite_width=True)
    assert d["fields"]["grad_second_moment"][0] == pytest.approx(fw.grad_second_moment[0])
    assert d["extras"]["mean_field_grad_second_moment"][0] == pytest.approx(
        vg.predict(chain).grad_second_moment[0])
    assert "finite-width" in d["method"]


@pytest.mark.parametrize(("act", "init"), [("relu", "he"), ("leaky_relu", "he")])
def test_typical_values_match_simulation(act: str, init: str) -> None:
    # positively homogeneous φ without bias: the law of ln(‖g^l‖²/n_l) is expanded to
    # O(L/n²) (Hanin & Nica 2019); mean, spread and median within 3 standard errors
    chain = vg.Chain(act, init=init, depth=20, width=32)
    p = vg.predict(chain, finite_width=True)
    T = 4000
    sim = vg.simulate(chain, trials=T, seed=11)
    logs = np.asarray(sim.samples["ln_grad_second_moment"])
    mean, sd = logs.mean(axis=0), logs.std(axis=0, ddof=1)
    np.testing.assert_array_less(np.abs(p.extras["ln_grad_mean"] - mean), 3 * sd / math.sqrt(T))
    # standard error of a sample standard deviation: sd·√((kurtosis − 1)/(4T))
    kurt = ((logs - mean) ** 4).mean(axis=0) / sd**4
    # plus the spread's stated accuracy, 2 % (terms of O(L/n²) left out)
    np.testing.assert_array_less(np.abs(p.extras["ln_grad_sd"] - sd),
                                 3 * sd * np.sqrt((kurt - 1) / (4 * T)) + 0.02 * sd)
    median_pred = p.ln_grad_quantiles([0.5])[0]
    median_sim = sim.ln_grad_quantiles([0.5])[0]
    # the sample median's standard error is √(π/2)·sd/√T for a Gaussian
    np.testing.assert_array_less(np.abs(median_pred - median_sim),
                                 3 * math.sqrt(math.pi / 2) * sd / math.sqrt(T))
    # the mean network is not the typical one: E‖g⁰‖² = 1 but the median is well below
    assert math.exp(median_pred[0]) < 0.5 * p.grad_second_moment[0]


@pytest.mark.parametrize(("act", "init", "width", "seed"),
                         [("tanh", "xavier", 32, 21), ("gelu", "he", 64, 22),
                          ("softplus", "he", 128, 23), ("silu", "he", 128, 24)])
def test_typical_value_within_its_allowance(act: str, init: str, width: int, seed: int) -> None:
    # any φ: E[ln(‖g^l‖²/n_l)] lies within the law's stated allowance (extras
    # "ln_grad_error") plus 3 standard errors of 2000 simulated networks, at every layer.
    # softplus + He is the case whose component along x^l grows most (shift 1.8 at layer
    # 0, measured error 0.006 ± 0.005 with 200 000 networks)
    chain = vg.Chain(act, init=init, depth=30, width=width)
    p = vg.predict(chain, finite_width=True)
    T = 2000
    logs = np.asarray(vg.simulate(chain, trials=T, seed=seed).samples["ln_grad_second_moment"])
    mean, sd = logs.mean(axis=0), logs.std(axis=0, ddof=1)
    se = sd / math.sqrt(T)
    gap = np.abs(p.extras["ln_grad_mean"] - mean)
    np.testing.assert_array_less(gap, p.extras["ln_grad_error"] + 3 * se)
    # the allowance is a share of the along-x shift, not a blanket: where that shift is
    # large (softplus + He: 1.8), dropping it would be caught
    along = np.asarray(p.extras["ln_grad_along"])
    if np.max(np.abs(along)) > 1.0:
        worst = int(np.argmax(np.abs(along)))
        assert abs(p.extras["ln_grad_mean"][worst] - along[worst] - mean[worst]) > (
            p.extras["ln_grad_error"][worst] + 3 * se[worst])
    # the spread: within the stated 12 % (broad He laws; 5 % otherwise) plus 3 standard
    # errors of a sample standard deviation, sd·√((kurtosis − 1)/(4T))
    kurt = ((logs - mean) ** 4).mean(axis=0) / sd**4
    rel = np.abs(p.extras["ln_grad_sd"] / sd - 1)
    np.testing.assert_array_less(rel, 0.12 + 3 * np.sqrt((kurt - 1) / (4 * T)))


@pytest.mark.parametrize(("width", "depth", "init"), [(16, 20, "lecun"), (64, 30, "xavier"),
                                                      (8, 30, "he")])
def test_linear_chains_have_the_exact_law(width: int, depth: int, init: str) -> None:
    # identity φ, no bias: g⁰ = W₁ᵀ…W_Lᵀ g^L with independent Gaussian W, so by rotation
    # invariance ‖g^l‖²/n = (‖g^L‖²/n) Π σ_w² χ²_n/n exactly: E Λ_l = (L − l + 1)(ψ(n/2) −
    # ln(n/2)) + (L − l) ln σ_w², Var Λ_l = (L − l + 1) ψ′(n/2) — whatever the coupling to
    # the forward pass (Hanin & Nica 2019)
    from scipy.special import digamma, polygamma

    p = vg.predict(vg.Chain("identity", init=init, depth=depth, width=width),
                   finite_width=True)
    sw2 = {"lecun": 1.0, "xavier": 1.0, "he": 2.0}[init]
    k = depth - np.arange(depth + 1)
    mean = (k + 1) * (digamma(width / 2) - math.log(width / 2)) + k * math.log(sw2)
    sd = np.sqrt((k + 1) * polygamma(1, width / 2))
    err = np.abs(p.extras["ln_grad_mean"] - mean)
    np.testing.assert_array_less(err, p.extras["ln_grad_error"])
    if width >= 16:  # O(L/n²): 0.008 at width 16, 0.0007 at 64
        np.testing.assert_array_less(err, 3.0 * depth / width**2)
        np.testing.assert_allclose(p.extras["ln_grad_sd"], sd, rtol=0.02)


def test_relu_layers_stay_independent_on_the_joint_grid() -> None:
    # ReLU without bias: t² = F·β with β ~ Beta(1/2, (k−1)/2) independent of the layer's
    # factor χ²_k (Beta–Gamma), so the along-x component shifts nothing (Hanin 2018); the
    # joint grid reproduces it to 0.03 at width 32, depth 30 (the law's O(L/n²))
    p = vg.predict(vg.Chain("relu", init="he", depth=30, width=32), finite_width=True)
    assert np.max(np.abs(p.extras["ln_grad_along"])) < 0.03


def test_the_cross_term_is_needed_and_a_wrong_map_is_caught(monkeypatch) -> None:
    # softplus + Xavier at width 32: the backward form's cross term (correlated with the
    # innovation of t) moves E ln‖g⁰‖² by 0.15; with it the law is within the chain's error +
    # 3 SE of 20 000 networks, without it the error is beyond 8 SE
    import vgmath.theory.markov as mk

    chain = vg.Chain("softplus", init="xavier", depth=30, width=32)
    T = 20000
    logs = np.asarray(vg.simulate(chain, trials=T, seed=31).samples["ln_grad_second_moment"])
    mean, se = logs[:, 0].mean(), logs[:, 0].std(ddof=1) / math.sqrt(T)
    good = vg.predict(chain, finite_width=True).extras
    assert abs(good["ln_grad_mean"][0] - mean) < good["error"][0] + 3 * se
    real = mk._layer_terms
    monkeypatch.setattr(mk, "_layer_terms",
                        lambda *a: real(*a)._replace(cross=np.zeros_like(a[1])))
    bad = vg.predict(chain, finite_width=True).extras
    assert abs(bad["ln_grad_mean"][0] - mean) > 8 * se


def test_typical_values_need_a_finite_width_prediction() -> None:
    chain = vg.Chain("tanh", init="xavier", depth=4, width=16)
    with pytest.raises(InvalidArgumentError, match="finite_width=True"):
        vg.predict(chain).ln_grad_quantiles([0.5])
    with pytest.raises(InvalidArgumentError):
        vg.predict(chain, finite_width=True).ln_grad_quantiles([1.5])
    q = vg.predict(chain, finite_width=True).ln_grad_quantiles([0.1, 0.5, 0.9])
    assert q.shape == (3, 5) and np.all(np.diff(q, axis=0) > 0)


def test_finite_width_prediction_refuses_what_it_does_not_model() -> None:
    """A linear read-out and symbolic chains get a clear error, not a silently wrong profile
    (the Markov chain puts φ′ on the output layer); verify falls back to mean field there."""
    import sympy as sp

    lin = vg.Chain("tanh", init="xavier", depth=4, width=16, readout="linear")
    with pytest.raises(vg.InvalidArgumentError, match="read-out"):
        vg.predict(lin, finite_width=True)
    n = sp.Symbol("n", positive=True)
    with pytest.raises(vg.InvalidArgumentError, match="numeric"):
        vg.predict(vg.Chain("relu", init="he", depth=3, width=n), finite_width=True)


def test_recurrent_nets_are_refused_with_where_the_theory_stops() -> None:
    net = vg.Recurrent("rnn", activation="tanh", hidden=16, steps=5)
    for fw in (False, True):
        with pytest.raises(InvalidArgumentError, match="same W at every step") as err:
            vg.predict(net, finite_width=fw)
        assert "vg.simulate" in str(err.value) and "mean_field_chain()" in str(err.value)
        assert len(str(err.value)) < 700
    with pytest.raises(InvalidArgumentError, match="gated cells"):
        vg.predict(vg.Recurrent("lstm", hidden=16, steps=5))


@pytest.mark.parametrize("variant", ["post", "pre"])
def test_residual_predictions_warn_that_they_are_infinite_width(variant: str) -> None:
    chain = vg.Chain("relu", init="he", depth=6, width=64,
                     residual=vg.Residual(alpha=1, variant=variant))
    notes = " ".join(vg.predict(chain).notes)
    assert "warning" in notes
    if variant == "pre":
        assert "no finite-width prediction" in notes
        with pytest.raises(InvalidArgumentError, match="residual"):
            vg.predict(chain, finite_width=True)
    else:  # post-activation ReLU: the finite-width prediction exists and the note says so
        assert "infinite-width limit" in notes and "finite_width=True" in notes
        assert "error" in vg.predict(chain, finite_width=True).extras


def test_the_check_rejects_mean_field_for_gelu_he_even_at_width_1024() -> None:
    # the same 3-SE criterion has power here: mean field is off by a factor ~1.7 in q at
    # depth 20 even at width 1024 (GELU + He's variance map is marginal)
    chain = vg.Chain("gelu", init="he", depth=20, width=1024)
    sim = vg.simulate(chain, trials=1000, seed=7)
    mf = vg.predict(chain)
    mean, se = sim.fields["q"], sim.fields["q_se"]
    ok = np.isfinite(se) & (se > 0)
    assert np.any(np.abs(np.asarray(mf.q)[ok] - mean[ok]) > 3.0 * se[ok])
