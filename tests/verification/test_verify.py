"""vg.verify, vg.verify_bound, vg.verify_gradient_bound and ``vgmath verify``.

Every verdict asserted here is either a mathematical fact (an exact supremum, an exact
mean-field profile such as ReLU + He, whose E‖g^l‖² is exact at every width — Hanin 2018,
NeurIPS, "Which neural net architectures give rise to exploding and vanishing gradients?")
or a deliberately wrong claim that must be caught. Tests that show vgmath catches what it
should are marked ``quality``.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import vgmath as vg
from vgmath.cli import main
from vgmath.theory.bias import gaussian_moments, width_bias
from vgmath.verification.claims import parse_claim
from vgmath.verification.stats import holm, log_mean_test
from vgmath.verification.tolerance import bias_tolerance

L_SYM, DEPTH_SYM = vg.layer_symbol, vg.depth_symbol


def _chain(act: str = "relu", init: str = "he", depth: int = 20, width: int = 128) -> vg.Chain:
    return vg.Chain(act, init=init, depth=depth, width=width)


@pytest.fixture(scope="module")
def relu_he() -> tuple[vg.Chain, vg.Simulation]:
    chain = _chain("relu", "he", depth=10, width=64)
    return chain, vg.simulate(chain, trials=1000, seed=11)


# --------------------------------------------------------------------------- verify: API


def test_exact_theory_passes_and_result_api(relu_he, tmp_path: Path) -> None:
    chain, sim = relu_he
    v = vg.verify(chain, simulation=sim)
    assert isinstance(v, vg.Verification)
    assert v.passed and v.rejected_layers == []
    assert list(v.layers) == list(range(11))
    # ReLU + He: E[(g^l)²]/E[(g^L)²] = 1 exactly, and the finite-width bias is exactly 0
    np.testing.assert_allclose(v.ln_claim, 0.0, atol=1e-12)
    # (up to the rounding of 5-point differences, ~ε/(1e-2)² ≈ 1e-12 per term)
    np.testing.assert_allclose(v.bias, 0.0, atol=1e-9)
    # the CI covers the estimate, the adjusted p-values dominate the raw ones
    assert np.all(v.ln_ci_low <= v.ln_estimate) and np.all(v.ln_estimate <= v.ln_ci_high)
    assert np.all(v.p_adjusted >= v.p_value - 1e-15)
    text = v.table()
    for column in ("claim", "fw bias", "tol", "simulated", "stat", "p adj", "status", "PASS"):
        assert column in text
    assert v.verdict is vg.Verdict.PASS and v.verdict == "PASS"
    cov = v.coverage
    assert (cov.tested, cov.claimed, cov.layer0_tested) == (10, 10, True)  # layer 10 = L excluded
    assert v.status[-1] == "untestable" and v.reason[-1] == "normalisation layer"
    assert r"\begin{tabular}" in v.latex(mode="table")
    assert v._repr_latex_().startswith("$$\\begin{array}")
    d = v.to_dict()
    assert d["passed"] is True and d["verdict"] == "PASS" and d["parameters"]["seed"] == 11
    assert d["coverage"] == {"tested": 10, "claimed": 10, "fraction": 1.0, "layer0_tested": True}
    assert d["parameters"]["alpha"] == 0.01 and d["parameters"]["method"] == "hall"
    assert set(d["versions"]) >= {"vgmath", "numpy", "scipy", "sympy"}
    assert d["chain"]["widths"] == [64] * 11 and len(d["rows"]) == 11
    # save: JSON and CSV by extension, atomically (no temporary file left behind)
    pj = v.save(tmp_path / "v.json")
    assert json.loads(pj.read_text())["rows"][0]["layer"] == 0
    pc = v.save(tmp_path / "v.csv")
    lines = pc.read_text().splitlines()
    assert any(line.startswith("# versions:") for line in lines)
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert len(rows) == 11 and rows[3]["status"] == "pass" and rows[10]["status"] == "untestable"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.csv", "v.json"]
    with pytest.raises(vg.InvalidArgumentError, match=r"json or \.csv"):
        v.save(tmp_path / "v.txt")


def test_claim_forms_agree(relu_he) -> None:
    """The same (true) claim as text, SymPy, callable and array gives the same p-values."""
    chain, sim = relu_he  # ReLU + He: the profile is 1 at every layer
    forms = [
        "1",
        "2**(L - L)",
        sp.Integer(1) + 0 * L_SYM,
        DEPTH_SYM / DEPTH_SYM,
        lambda l: 1.0,
        np.ones(11),
        vg.predict(chain),
    ]
    results = [vg.verify(chain, c, simulation=sim) for c in forms]
    for r in results:
        np.testing.assert_allclose(r.p_value, results[0].p_value, rtol=1e-12)
        assert r.passed


@pytest.mark.quality
def test_wrong_closed_form_rejected(relu_he) -> None:
    chain, sim = relu_he
    # 2^{-L} is the ReLU + Xavier... no: ReLU + He keeps E‖g‖² constant; 2^{-L} is wrong
    v = vg.verify(chain, "2**(-L)", simulation=sim)
    assert not v.passed and 0 in v.rejected_layers
    v2 = vg.verify(chain, "2**(-(L - l))", simulation=sim)  # the Xavier-style halving per layer
    assert not v2.passed
    # the right closed form for ReLU + Xavier on square layers (χ = 1/2) passes
    xav = _chain("relu", "xavier", depth=10, width=64)
    assert vg.verify(xav, "2**(-(L - l))", seed=3).passed


@pytest.mark.quality
@pytest.mark.slow
@pytest.mark.parametrize(("act", "init"), [("tanh", "xavier"), ("relu", "he"), ("selu", "lecun")])
def test_chi_off_by_three_percent_rejected(act: str, init: str) -> None:
    """A claim χ_l × 1.03 per layer (off by 1.03^{L−l}) over 20 layers, default settings."""
    chain = _chain(act, init)
    p = vg.predict(chain)
    steps = chain.depth - np.arange(chain.depth + 1)
    wrong = np.exp(p.ln_grad_second_moment + steps * math.log(1.03))
    sim = vg.simulate(chain, trials=1000, seed=2024)
    assert vg.verify(chain, simulation=sim).passed  # the truth passes on the same networks
    v = vg.verify(chain, wrong, simulation=sim)
    assert not v.passed
    assert v.rejected_layers  # and it says where


def test_finite_width_band_is_needed_and_stated() -> None:
    """softplus + Xavier at width 128: the simulated E‖g^0‖² exceeds its mean-field limit by
    e^{0.18} (mostly the forward/backward sharing of each W); the first-order bias B ≈ 0.17
    accounts for it, and without it the (correct, infinite-width) theory is rejected."""
    chain = _chain("softplus", "xavier")
    sim = vg.simulate(chain, trials=1000, seed=5)
    mean_field = vg.predict(chain)  # an infinite-width claim: verified with the bias band
    with_band = vg.verify(chain, mean_field, simulation=sim)
    assert with_band.passed
    assert 0.1 < with_band.bias[0] < 0.25 and np.all(np.isfinite(with_band.tolerance))
    # the default claim is the finite-width prediction itself: no shift, a narrow tolerance
    at_width = vg.verify(chain, simulation=sim)
    assert at_width.passed
    assert np.all(at_width.bias == 0) and np.all(at_width.tolerance < 0.01)
    without = vg.verify(chain, mean_field, simulation=sim, finite_width=False)
    assert not without.passed
    assert any("finite_width=False" in n for n in without.notes)


def test_large_finite_width_bias_makes_layers_untestable() -> None:
    """softplus + He: B ≈ 1.39 at l = 0 (a factor e^{1.39} ≈ 4 from the mean-field limit,
    confirmed by simulation in test_width_bias_predicts_simulated_deviation): the layers near
    the input are untestable at this width, the ones near the output are still tested — and
    the verdict is INCONCLUSIVE, never PASS."""
    chain = _chain("softplus", "he")
    v = vg.verify(chain, vg.predict(chain), seed=5)  # the infinite-width claim
    assert v.verdict is vg.Verdict.INCONCLUSIVE and not v.passed and v.bias[0] > 1.0
    assert 0 in v.untestable_layers and 15 not in v.untestable_layers
    assert np.all(np.isfinite(v.tolerance[10:]))
    assert not v.coverage.layer0_tested and 0 < v.coverage.tested < v.coverage.claimed


def test_tolerance_is_not_vacuous_for_well_behaved_chains() -> None:
    """tanh + Xavier: the allowed finite-width deviation stays below 0.2 (ln units) at
    depth 20, width 128 — far below the 0.59 of a 3%-per-layer error."""
    b, scale = width_bias(_chain("tanh", "xavier")).for_quantity("grad_second_moment")
    assert np.max(scale) < 0.2 and np.max(np.abs(b)) <= np.max(scale)


def test_untestable_layers_are_reported() -> None:
    chain = _chain("gelu", "he")
    v = vg.verify(chain, vg.predict(chain), seed=0, trials=300)
    assert 0 in v.untestable_layers and v.verdict == "INCONCLUSIVE"
    assert any("cannot be tested" in n for n in v.notes)
    assert np.isnan(v.p_value[0]) and np.isinf(v.tolerance[0]) and not v.tested[0]
    assert v.status[0] == "untestable" and "S >= 1" in v.reason[0]
    assert v.worst_layer in v.layers[np.isfinite(v.p_adjusted)]
    assert "INCONCLUSIVE" in v.summary() and "layer 0 NOT tested" in v.summary()


def test_other_quantities(relu_he) -> None:
    chain, sim = relu_he
    for quantity in ("q", "grad_preact_second_moment", "grad_weight_second_moment"):
        v = vg.verify(chain, simulation=sim, quantity=quantity)
        assert v.passed, quantity
    # ReLU + He with input_q = 1: q[0] = 1 (the fixed input), q[l] = 2 for l ≥ 1
    v = vg.verify(chain, "2", simulation=sim, quantity="q")
    assert v.rejected_layers == [0]
    v = vg.verify(chain, "3", simulation=sim, quantity="q")
    assert v.rejected_layers == list(range(11))


@pytest.mark.slow
def test_underflowing_profiles_are_handled() -> None:
    """sigmoid + Xavier at depth 250: E‖g^0‖² ≈ 1e-314 is below float64's normal range; the
    test runs on logs, and a claim 10× too small there is still rejected."""
    chain = vg.Chain("sigmoid", init="xavier", depth=250, width=256)
    p = vg.predict(chain)
    assert p.ln_grad_second_moment[0] / math.log(10) < -308
    sim = vg.simulate(chain, trials=100, seed=1)
    v = vg.verify(chain, simulation=sim)
    # 100 networks cannot resolve 250 layers at the Bonferroni level (INCONCLUSIVE), but
    # nothing is rejected, and layer 0 carries a test (it can still be rejected)
    assert v.verdict is not vg.Verdict.FAIL and np.isfinite(v.p_value[0])
    assert np.isfinite(v.ln_estimate[0]) and v.ln_estimate[0] / math.log(10) < -308
    assert "e-31" in v.table()
    wrong = p.ln_grad_second_moment.copy()
    wrong[0] -= math.log(10)
    # the claim as exact SymPy numbers (exp of a log never underflows in SymPy)
    claim = [sp.exp(sp.Float(w, 30)) for w in wrong]
    bad = vg.verify(chain, np.array(claim, dtype=object), simulation=sim)
    assert bad.rejected_layers == [0]


def test_bad_claims_are_refused_safely(relu_he) -> None:
    chain, sim = relu_he
    for text in ("__import__('os').system('true')", "x + 1", "l +", "open('f')", "L.real"):
        with pytest.raises(vg.InvalidArgumentError):
            vg.verify(chain, text, simulation=sim)
    with pytest.raises(vg.InvalidArgumentError, match="L \\+ 1"):
        vg.verify(chain, np.ones(5), simulation=sim)
    with pytest.raises(vg.InvalidArgumentError, match=">= 0"):
        vg.verify(chain, lambda l: -1.0, simulation=sim)
    with pytest.raises(vg.InvalidArgumentError, match="raised at l=0"):
        vg.verify(chain, lambda l: 1 / 0, simulation=sim)
    with pytest.raises(vg.InvalidArgumentError, match="only depend on l and L"):
        vg.verify(chain, sp.Symbol("k") * L_SYM, simulation=sim)
    with pytest.raises(vg.InvalidArgumentError):
        vg.verify(chain, quantity="chi", simulation=sim)
    with pytest.raises(vg.InvalidArgumentError):
        vg.verify(chain, alpha=1.5, simulation=sim)
    with pytest.raises(vg.InvalidArgumentError):
        vg.verify(chain, simulation=vg.simulate(_chain("tanh", depth=10, width=64), trials=10))
    assert parse_claim("2**(-(L - l))", chain) == 2 ** (L_SYM - 10)
    assert parse_claim("n/l", _chain(width=7, depth=2)) == 7 / L_SYM


def test_claim_of_zero_is_rejected(relu_he) -> None:
    chain, sim = relu_he
    v = vg.verify(chain, np.zeros(11), simulation=sim)
    assert not v.passed and len(v.rejected_layers) == 11


# --------------------------------------------------------------------------- finite width


def test_width_bias_moments_match_gaussian_module() -> None:
    """Two independent quadratures of E[φ²] and E[φ′²] agree (kinked and smooth φ)."""
    from vgmath.theory.moments import GaussianMoments

    for name in ("tanh", "relu", "hard_tanh", "selu", "gelu", "softplus"):
        act = vg.activation(name)
        gm = GaussianMoments(act)
        for q in (0.05, 1.0, 7.5):
            m = gaussian_moments(act, q)
            assert m["P"] == pytest.approx(float(gm.phi2(q)), rel=1e-9)
            assert m["f"] == pytest.approx(float(gm.dphi2(q)), rel=1e-9)


def test_width_bias_vanishes_for_positively_homogeneous_activations() -> None:
    for name, init in (("relu", "he"), ("leaky_relu", "xavier"), ("identity", "lecun")):
        w = width_bias(_chain(name, init))
        np.testing.assert_allclose(w.grad_second_moment, 0.0, atol=1e-9)
        np.testing.assert_allclose(w.q[1:], 0.0, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("act", "init"),
    [("tanh", "he"), ("softplus", "he"), ("selu", "xavier"), ("hard_tanh", "xavier")],
)
def test_width_bias_predicts_simulated_deviation(act: str, init: str) -> None:
    """ln(simulated/mean-field) at l = 0 and l = L/2 lies within B ± (r + 4 se): the stated
    tolerance r = S/(1 − S) plus 4 standard errors of the simulated log-mean (4000 nets)."""
    chain = _chain(act, init)
    p = vg.predict(chain)
    sim = vg.simulate(chain, trials=4000, seed=17)
    b, s = width_bias(chain).for_quantity("grad_second_moment")
    r = bias_tolerance(s, chain.widths[0])  # the rule of vg.verify
    for l in (0, chain.depth // 2):
        dev = sim.log10_grad_second_moment[l] * math.log(10) - p.ln_grad_second_moment[l]
        se = sim.log10_grad_second_moment_se[l] * math.log(10)
        assert abs(dev - b[l]) <= r[l] + 4 * se, (l, dev, b[l], r[l], se)


# --------------------------------------------------------------------------- statistics


def test_hall_ci_and_inverse_round_trip() -> None:
    rng = np.random.default_rng(0)
    logs = rng.normal(0, 0.8, (500, 3))
    t = log_mean_test(logs, np.log(np.exp(logs).mean(axis=0)), alpha=0.05)
    # the null at the estimate has statistic 0 (p = 1) only up to the skewness shift; the CI
    # endpoints, fed back as nulls, have two-sided p = alpha
    at_lo = log_mean_test(logs, t.ci_low, alpha=0.05)
    at_hi = log_mean_test(logs, t.ci_high, alpha=0.05)
    np.testing.assert_allclose(at_lo.p_value, 0.05, rtol=1e-6)
    np.testing.assert_allclose(at_hi.p_value, 0.05, rtol=1e-6)
    at_est = log_mean_test(logs, t.estimate, alpha=0.05)
    np.testing.assert_allclose(at_est.p_value, 1.0)
    # a band containing the estimate gives p = 1; a band ending 1 se short does not
    wide = log_mean_test(logs, t.estimate + 0.2, band=0.25, alpha=0.05)
    np.testing.assert_allclose(wide.p_value, 1.0)


def test_degenerate_and_extreme_nulls() -> None:
    logs = np.zeros((10, 2))  # every sample equal to 1
    t = log_mean_test(logs, np.array([0.0, 0.1]))
    assert t.p_value[0] == 1.0 and t.p_value[1] == 0.0
    rng = np.random.default_rng(1)
    logs = rng.normal(0, 0.3, (50, 3))
    t = log_mean_test(logs, np.array([-np.inf, np.inf, np.nan]))
    assert t.p_value[0] < 1e-10 and t.p_value[1] == 0.0 and np.isnan(t.p_value[2])


def test_holm_matches_definition() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        p = rng.uniform(0, 0.2, 7)
        p[rng.integers(0, 7)] = np.nan
        adj = holm(p)
        finite = np.flatnonzero(~np.isnan(p))
        m = finite.size
        order = finite[np.argsort(p[finite])]
        expect = np.full(7, np.nan)
        running = 0.0
        for j, i in enumerate(order):
            running = max(running, min(1.0, (m - j) * p[i]))
            expect[i] = running
        np.testing.assert_allclose(adj, expect)


# --------------------------------------------------------------------------- bound claims


def test_verify_bound_exact_supremum() -> None:
    ok = vg.verify_bound("sigmoid", "1/4", seed=0)
    assert ok.holds is True and ok.passed and ok.counterexample is None
    assert ok.certified_sup == sp.Rational(1, 4) and ok.sup_exact
    assert "HOLDS" in ok.table() and r"\frac{1}{4}" in ok.latex()


@pytest.mark.quality
def test_verify_bound_finds_counterexamples() -> None:
    bad = vg.verify_bound("sigmoid", 0.24, seed=0)
    assert bad.holds is False and bad.counterexample is not None
    xc, val = bad.counterexample
    assert val > sp.Rational(6, 25) and abs(xc) < 1  # sigmoid′ > 0.24 only near 0
    # GELU's sup 1/2 + erf(1)/2 + e^{-1}/√π ≈ 1.12890 (attained at √2)
    assert vg.verify_bound("gelu", "1.128", seed=0).holds is False
    assert vg.verify_bound("gelu", "1.129", seed=0).holds is True
    # ReLU: φ′ ≤ 1 holds, ≤ 0.99 fails at some x > 0
    assert vg.verify_bound("relu", 1, seed=0).holds is True
    relu_bad = vg.verify_bound("relu", "0.99", seed=0)
    assert relu_bad.holds is False and relu_bad.counterexample[0] > 0
    # |φ′| for leaky ReLU with a negative slope −2: sup φ′ = 1 but sup |φ′| = 2
    leaky = vg.activation("leaky_relu", slope=-2)
    assert vg.verify_bound(leaky, 1, seed=0).holds is True
    assert vg.verify_bound(leaky, 1, absolute=True, seed=0).holds is False


def test_verify_bound_undecidable_inside_the_enclosure() -> None:
    """silu's sup φ′ ≈ 1.0998393201 is numeric (a Float with a rigorous error bound): a c
    inside the certified enclosure is undecided (float sampling cannot get that close to the
    supremum); just outside it the verdict is certain either way."""
    b = vg.activation("silu").derivative_bound()
    assert not b.sup_exact and 0 < float(b.sup_error) < 1e-25
    sup, err = sp.Float(b.sup, 60), sp.Float(b.sup_error, 60)
    inside = sp.Rational(sup + err / 2)
    undecided = vg.verify_bound("silu", inside, seed=0)
    assert undecided.holds is None and not undecided.passed
    assert "UNDECIDED" in undecided.table()
    assert vg.verify_bound("silu", sp.Rational(sup + 2 * err), seed=0).holds is True
    assert vg.verify_bound("silu", "1.09983932", seed=0).holds is False


def test_verify_bound_bad_input() -> None:
    with pytest.raises(vg.InvalidArgumentError, match="invalid c="):
        vg.verify_bound("tanh", "abc")
    with pytest.raises(vg.InvalidArgumentError):
        vg.verify_bound("tanh", 1, samples=0)


@pytest.mark.quality
def test_gradient_bound_quarter_power_fails_with_weights() -> None:
    """The textbook ‖g^0‖ ≤ (1/4)^L ‖g^L‖ for sigmoid ignores the weights: Xavier weight
    matrices have operator norm ≈ 2, and simulated networks violate it."""
    chain = _chain("sigmoid", "xavier", depth=10, width=64)
    v = vg.verify_gradient_bound(chain, "1/4", trials=200, seed=0)
    assert not v.passed and v.worst_margin > 0 and v.rejected_layers
    ok = vg.verify_gradient_bound(chain, 1, trials=200, seed=0)  # the gradient does shrink
    assert ok.passed and ok.worst_margin < 0
    assert "rule of three" in ok.table()
    d = ok.to_dict()
    assert d["passed"] is True and len(d["rows"]) == 10


def test_gradient_bound_reads_norms_exactly(relu_he) -> None:
    chain, sim = relu_he
    v = vg.verify_gradient_bound(chain, 1.5, simulation=sim)
    lg = sim.samples["ln_grad_second_moment"]
    worst0 = np.max(0.5 * (lg[:, 0] - lg[:, -1]))  # equal widths: n_l cancels
    assert v.worst[0] == pytest.approx(worst0)
    assert v.ln_bound[0] == pytest.approx(10 * math.log(1.5))


# --------------------------------------------------------------------------- CLI


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["verify", "relu", "--init", "he", "--depth", "8", "--width", "64", "--trials", "300"]
    assert main(base) == 0
    assert "verdict: PASS" in capsys.readouterr().out
    assert main([*base, "--claim", "2**(-L)"]) == 1
    assert "verdict: FAIL" in capsys.readouterr().out
    assert main([*base, "--claim", "__import__('os').system('echo hi')"]) == 2
    assert "not allowed" in capsys.readouterr().err
    assert main([*base, "--claim", "l +"]) == 2
    assert main([*base, "--json", "--out", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["passed"] is True and (tmp_path / "r.csv").exists()
    assert main([*base, "--out", str(tmp_path / "r.txt")]) == 2


def test_cli_bound(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["verify", "sigmoid", "--init", "xavier", "--depth", "8", "--width", "64",
            "--trials", "200"]
    assert main([*base, "--bound", "1/4"]) == 1  # φ′ ≤ 1/4 holds, the gradient bound fails
    out = capsys.readouterr().out
    assert "HOLDS" in out and "FAILS" in out
    assert main([*base, "--bound", "1"]) == 0
    assert main([*base, "--bound", "abc"]) == 2
    assert main([*base, "--bound", "1", "--claim", "1"]) == 2
