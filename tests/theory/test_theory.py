"""Initialisation rules and the mean-field depth profile ``vg.predict``.

Independent references used here:

* the papers' formulas, symbolically: Glorot & Bengio 2010 (AISTATS, eqs. 12 and 16),
  He et al. 2015 (arXiv:1502.01852, eqs. 10 and 15), Klambauer et al. 2017
  (arXiv:1706.02515, the SELU fixed point);
* scipy.stats.truncnorm for the truncated-normal variance factor;
* an mpmath iteration of the mean-field recursion at 20 digits (``mp.quad`` split at the
  kinks), which shares no code with vgmath's Gaussian moments;
* a finite-difference derivative of φ inside a Gauss–Hermite integral for χ (no φ′ used);
* seeded Monte Carlo, with tolerances from the sample size (4–5 standard errors).

Numerical tolerance of the mean-field profile (``profile_rtol``): vgmath's moments are
accurate to 1e-12 relative per evaluation; an error made at layer k is multiplied by at most
the slope s_max of the variance map at each later layer, so after L layers the relative error
is at most 1e-12·L·max(1, s_max)^L (χ adds one more evaluation).
"""

from __future__ import annotations

import functools
import json
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import vgmath as vg
from vgmath.cli import main as cli_main
from vgmath.network import init as init_module
from vgmath.symbolic.piecewise import pieces
from vgmath.theory.profile import FIELDS as PREDICTION_FIELDS

N_IN, N_OUT = vg.fan_in, vg.fan_out
MOMENT_RTOL = 1e-12  # the accuracy vgmath.theory.gaussian promises per moment evaluation


# --------------------------------------------------------------------------- oracles


def mp_gauss(expr: sp.Expr, q: mp.mpf) -> mp.mpf:
    """E_z[expr(√q z)] with mpmath, each smooth piece integrated separately."""
    s = mp.sqrt(q)
    total = mp.mpf(0)
    for iv, e in pieces(expr):
        if iv.measure == 0:
            continue
        f = sp.lambdify(vg.x, sp.N(e, 40), "mpmath")  # constants (SELU's) evaluated once
        a = -mp.inf if iv.start == -sp.oo else mp.mpf(sp.N(iv.start, 30)) / s
        b = mp.inf if iv.end == sp.oo else mp.mpf(sp.N(iv.end, 30)) / s
        pts = [a, *sorted(p for p in (mp.mpf(0), -4 / s, 4 / s) if a < p < b), b]
        total += mp.quad(lambda z, f=f: f(s * z) * mp.exp(-z * z / 2), pts)
    return total / mp.sqrt(2 * mp.pi)


def mp_profile(chain: vg.Chain) -> tuple[list[mp.mpf], list[mp.mpf], float]:
    """(q[0..L], chi[1..L], max slope of the variance map) by mpmath at 20 digits."""
    act = chain.act
    ws = chain.widths
    with mp.workdps(20):
        sb = mp.mpf(sp.N(chain.sigma_b2, 30))
        q = [mp.mpf(sp.N(chain.input_q, 30))]
        m_in = q[0]
        chis = []
        slopes = [1.0]
        for l in range(1, chain.depth + 1):
            v = mp.mpf(sp.N(chain.rule.variance(ws[l - 1], ws[l]), 30))
            sw = ws[l - 1] * v
            ql = sw * m_in + sb
            q.append(ql)
            m_in = mp_gauss(act.expr**2, ql)
            chis.append(ws[l] * v * mp_gauss(act.derivative**2, ql))
            # slope of q ↦ σ_w² E[φ(√q z)²] by a central difference (only sizes a tolerance)
            h = ql * mp.mpf("1e-8")
            d = (mp_gauss(act.expr**2, ql + h) - mp_gauss(act.expr**2, ql - h)) / (2 * h)
            slopes.append(float(abs(sw * d)))
    return q, chis, max(slopes)


def profile_rtol(depth: int, s_max: float) -> float:
    """1e-12·(L+1)·max(1, s_max)^L (see the module docstring)."""
    return MOMENT_RTOL * (depth + 1) * max(1.0, s_max) ** depth


def matches(values: np.ndarray, reference: list[mp.mpf], rtol: float) -> bool:
    """Every value within rtol (relative) of its mpmath reference."""
    ref = np.array([float(r) for r in reference])
    return bool(np.all(np.abs(values - ref) <= rtol * np.abs(ref)))


# --------------------------------------------------------------------------- init rules


def test_glorot_rule_is_symbolic() -> None:
    # Glorot & Bengio 2010, eq. 12: Var(W) = 2/(n_in + n_out)
    assert sp.simplify(vg.init_variance("xavier") - 2 / (N_IN + N_OUT)) == 0
    assert vg.init_variance("glorot", fan_in=100, fan_out=300) == sp.Rational(1, 200)


def test_he_rule_is_symbolic() -> None:
    # He et al. 2015, eq. 10: Var(W) = 2/n_in; LeCun: 1/n_in
    assert sp.simplify(vg.init_variance("he") - 2 / N_IN) == 0
    assert sp.simplify(vg.init_variance("lecun") - 1 / N_IN) == 0


@settings(max_examples=25)
@given(st.fractions(min_value=-3, max_value=3, max_denominator=50))
def test_he_leaky_rule_is_symbolic(a: object) -> None:
    # He et al. 2015, eq. 15: Var(W) = 2/((1 + a²) n_in) for leaky ReLU with slope a
    a_ = sp.Rational(a.numerator, a.denominator)  # type: ignore[attr-defined]
    v = vg.init_variance("he", negative_slope=a_)
    assert sp.simplify(v - 2 / ((1 + a_**2) * N_IN)) == 0


def test_uniform_bounds() -> None:
    # U(−a, a) has variance a²/3, so a = √(3·Var): Glorot eq. 16 gives √6/√(n_in + n_out)
    xav = vg.Init.preset("xavier_uniform")
    assert sp.simplify(xav.uniform_bound() - sp.sqrt(6 / (N_IN + N_OUT))) == 0
    he = vg.Init.preset("he_uniform")
    assert sp.simplify(he.uniform_bound() - sp.sqrt(6 / N_IN)) == 0
    assert sp.simplify(he.uniform_bound() ** 2 / 3 - he.variance()) == 0


def test_truncated_normal_factor_matches_scipy() -> None:
    c = float(init_module.TRUNCATION_VARIANCE_FACTOR)
    assert c == pytest.approx(stats.truncnorm(-2, 2).var(), rel=1e-14)
    # Keras' TruncatedNormal rescale constant is √c = 0.87962566103423978
    assert math.sqrt(c) == pytest.approx(0.87962566103423978, rel=1e-15)


@pytest.mark.parametrize("shape", [(30, 20), (20, 30), (25, 25)])
def test_orthogonal_sampling(shape: tuple[int, int]) -> None:
    fan_in, fan_out = shape
    rule = vg.Init.preset("orthogonal", gain=sp.Rational(3, 2))
    var = float(rule.variance(fan_in, fan_out))
    w = rule.sample(np.random.default_rng(1), fan_in, fan_out, batch=(3,))
    assert w.shape == (3, fan_out, fan_in)
    n = max(fan_in, fan_out)
    for m in w:
        # orthonormal rows (fan_out ≤ fan_in) or columns, scaled by √(Var·max fan)
        gram = m @ m.T if fan_out <= fan_in else m.T @ m
        assert np.allclose(gram, var * n * np.eye(min(shape)), atol=1e-12 * var * n)
        # hence the mean square of the entries is exactly the rule's variance
        assert np.mean(m**2) == pytest.approx(var, rel=1e-12)


def _kurtosis(distribution: str) -> float:
    """E[w⁴]/Var(w)² of each weight law (normal 3, uniform 9/5, truncated normal: scipy)."""
    if distribution == "normal":
        return 3.0
    if distribution == "uniform":
        return 9.0 / 5.0
    return float(stats.truncnorm(-2, 2).stats(moments="k")) + 3.0


@pytest.mark.parametrize("scheme", ["he", "xavier_uniform", "truncated_normal", "lecun_uniform"])
def test_sample_matches_variance(scheme: str) -> None:
    rule = vg.Init.preset(scheme)
    fan_in, fan_out = 300, 200
    var = float(rule.variance(fan_in, fan_out))
    w = rule.sample(np.random.default_rng(20240), fan_in, fan_out, batch=(10,))
    n = w.size
    # SE of the sample mean square is Var·√((kurtosis − 1)/n); of the mean √(Var/n)
    se_var = var * math.sqrt((_kurtosis(rule.distribution) - 1) / n)
    assert abs(np.mean(w**2) - var) < 5 * se_var
    assert abs(np.mean(w)) < 5 * math.sqrt(var / n)


def test_sample_catches_a_wrong_variance() -> None:
    # the same comparison rejects a rule 3% off: 3% of Var is > 40 standard errors here
    rule = vg.Init.preset("he")
    var = float(rule.variance(300, 200))
    w = rule.sample(np.random.default_rng(7), 300, 200, batch=(10,))
    se = var * math.sqrt(2 / w.size)
    assert abs(np.mean(w**2) - 1.03 * var) > 5 * se


# --------------------------------------------------------------------------- exact profiles


def test_relu_he_gradient_is_exactly_constant() -> None:
    # He et al. 2015: Var = 2/n_in keeps E[g²] constant through a ReLU network
    p = vg.predict(vg.Chain("relu", "he", depth=50, width=256))
    ex = p.exact
    assert ex is not None
    assert all(c == 1 and isinstance(c, sp.Integer) for c in ex.chi[1:])
    assert all(g == 1 for g in ex.grad_second_moment)
    assert p.formula == 1
    assert np.all(p.chi[1:] == 1.0) and np.all(p.grad_second_moment == 1.0)


def test_relu_he_non_square_is_exact() -> None:
    widths = [10, 40, 20, 30]
    p = vg.predict(vg.Chain("relu", "he", depth=3, width=widths))
    ex = p.exact
    assert ex is not None
    # χ^l = v_l n_l /2 = n_l/n_{l-1}, so E[(g^l)²]/E[(g^L)²] = n_L/n_l
    for l in range(1, 4):
        assert ex.chi[l] == sp.Rational(widths[l], widths[l - 1])
    for l in range(4):
        assert ex.grad_second_moment[l] == sp.Rational(widths[3], widths[l])
    assert p.formula is None  # χ differs between layers: no single closed form in l


@pytest.mark.parametrize("depth", [10, 50])
def test_relu_xavier_square_is_exactly_two_to_minus_depth(depth: int) -> None:
    # square Xavier: Var = 1/n, χ = E[relu′²] = 1/2 per layer
    p = vg.predict(vg.Chain("relu", "xavier", depth=depth, width=64))
    ex = p.exact
    assert ex is not None
    assert ex.grad_second_moment[0] == sp.Rational(1, 2**depth)
    assert isinstance(ex.grad_second_moment[0], sp.Rational)
    L, l = vg.depth_symbol, vg.layer_symbol
    assert sp.simplify(p.formula - sp.Rational(1, 2) ** (L - l)) == 0
    assert p.formula.subs({L: depth, l: 0}) == ex.grad_second_moment[0]
    assert p.grad_second_moment[0] == pytest.approx(2.0**-depth, rel=1e-15)


def test_linear_xavier_is_constant() -> None:
    # Glorot & Bengio 2010: a linear network with fan_avg keeps both second moments on square
    # layers; on non-square ones χ^l = 2 n_l/(n_{l-1} + n_l)
    p = vg.predict(vg.Chain("identity", "xavier", depth=20, width=32))
    assert p.formula == 1 and p.exact is not None and p.exact.q[-1] == 1
    widths = [8, 24, 16]
    p2 = vg.predict(vg.Chain("identity", "xavier", depth=2, width=widths))
    assert p2.exact is not None
    assert p2.exact.chi[1:] == (sp.Rational(2 * 24, 32), sp.Rational(2 * 16, 40))


def test_exact_profile_with_bias_and_input_q() -> None:
    c = vg.Chain("leaky_relu", "he", depth=4, width=16, sigma_b2=sp.Rational(1, 10), input_q=3)
    p = vg.predict(c)
    ex = p.exact
    assert ex is not None
    a = sp.Rational(1, 100)
    sw = 2  # He with the default negative_slope 0 in the init
    c2 = (1 + a**2) / 2
    q = [sp.Integer(3), sw * 3 + sp.Rational(1, 10)]
    for _ in range(3):
        q.append(sw * c2 * q[-1] + sp.Rational(1, 10))
    assert list(ex.q) == q
    L, l = vg.depth_symbol, vg.layer_symbol
    assert all(p.formulas["q"].subs(l, k) == q[k] for k in range(1, 5))
    assert np.allclose(p.q, [float(v) for v in q], rtol=1e-15)
    # grad_weight = E[δ²]·E[x²] with E[(x⁰)²] = input_q at the first layer
    assert ex.grad_weight_second_moment[1] == ex.grad_preact_second_moment[1] * 3
    assert p.formula.subs({L: 4, l: 0}) == ex.grad_second_moment[0]


# --------------------------------------------------------------------------- numeric profiles


RECURSION_CASES = [
    # (activation, init, widths, sigma_b2, input_q): non-zero-mean φ, biases, fan_avg on
    # non-square layers, a kinked φ
    ("tanh", "xavier", [20, 50, 30, 40, 25], "0.05", 1),
    ("sigmoid", "he", [16, 16, 16, 16], "0", 2),
    ("softplus", "lecun", [10, 30, 20, 10], "0.1", "1/2"),
    ("elu", "xavier", [30, 20, 40, 30], "0.02", 1),
]


@pytest.mark.parametrize(("name", "init", "widths", "sb2", "iq"), RECURSION_CASES)
def test_recursion_matches_mpmath(
    name: str, init: str, widths: list[int], sb2: str, iq: object
) -> None:
    chain = vg.Chain(name, init, depth=len(widths) - 1, width=widths, sigma_b2=sb2, input_q=iq)
    p = vg.predict(chain)
    q_ref, chi_ref, s_max = mp_profile(chain)
    rtol = profile_rtol(chain.depth, s_max)
    assert matches(p.q, q_ref, rtol)
    assert matches(p.chi[1:], chi_ref, rtol)
    # the gradient profile is the product of the χ's
    grad_ref = [mp.fprod(chi_ref[l:]) for l in range(chain.depth)]
    assert matches(p.grad_second_moment[:-1], grad_ref, rtol * chain.depth)


def test_a_wrong_chi_is_caught() -> None:
    # quality: the comparison above rejects a χ 3% off (3% ≫ the 1e-10-level tolerance)
    chain = vg.Chain(*RECURSION_CASES[0][:2], depth=4, width=RECURSION_CASES[0][2], sigma_b2="0.05")
    p = vg.predict(chain)
    q_ref, chi_ref, s_max = mp_profile(chain)
    rtol = profile_rtol(chain.depth, s_max)
    assert matches(p.chi[1:], chi_ref, rtol)
    assert not matches(1.03 * p.chi[1:], chi_ref, rtol)
    assert not matches(p.q * np.r_[1.0, 1.03, 1.0, 1.0, 1.0], q_ref, rtol)


def test_sigmoid_forward_map_uses_the_second_moment() -> None:
    # E[(h^2)²] = σ_w² E[σ(h¹)²] — the second moment (≥ 1/4), not the variance of σ(h¹)
    chain = vg.Chain("sigmoid", "lecun", depth=2, width=50)
    p = vg.predict(chain)
    q1 = mp.mpf(1)
    m2 = mp_gauss(chain.act.expr**2, q1)
    var = m2 - mp_gauss(chain.act.expr, q1) ** 2
    assert p.q[2] == pytest.approx(float(m2), rel=1e-11)
    assert abs(p.q[2] - float(var)) > 0.2  # a variance-based map would be caught


def _fd_dphi2(act: vg.Activation, q: float, eps: float) -> float:
    """E[((φ(h + εs) − φ(h − εs))/(2ε))²], h ~ N(0, q), s ~ N(0, 1) independent, by a
    200×200 Gauss–Hermite rule: → E[φ′(h)²]·E[s²] as ε → 0, with error O(ε²)."""
    z, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()
    h = math.sqrt(q) * z[:, None]
    s = z[None, :]
    d = (act(h + eps * s) - act(h - eps * s)) / (2 * eps)
    return float(w @ (d**2) @ w)


@pytest.mark.parametrize("name", ["tanh", "erf", "gelu", "softplus"])
def test_chi_matches_a_finite_difference(name: str) -> None:
    chain = vg.Chain(name, "xavier", depth=3, width=[40, 60, 50, 30], sigma_b2="0.1")
    p = vg.predict(chain)
    act = chain.act
    for l in range(1, 4):
        v = float(chain.rule.variance(chain.widths[l - 1], chain.widths[l]))
        # Richardson on ε = 1e-2, 5e-3 cancels the ε² term: remainder O(ε⁴) ≈ 1e-8
        d1, d2 = _fd_dphi2(act, p.q[l], 1e-2), _fd_dphi2(act, p.q[l], 5e-3)
        fd = (4 * d2 - d1) / 3
        chi_fd = chain.widths[l] * v * fd
        assert p.chi[l] == pytest.approx(chi_fd, rel=1e-7)
        assert 1.03 * p.chi[l] != pytest.approx(chi_fd, rel=1e-7)


@pytest.mark.slow
def test_selu_fixed_point() -> None:
    # Klambauer et al. 2017: with LeCun weights (σ_w² = 1) SELU maps mean 0, variance 1 to
    # itself: E[selu(z)] = 0 and E[selu(z)²] = 1
    selu = vg.activation("selu")
    m = vg.gaussian_expectation(selu.expr, 1)
    s = vg.gaussian_expectation(selu.expr**2, 1)
    assert abs(float(m)) < 1e-12 and abs(float(s) - 1) < 1e-12
    with mp.workdps(20):
        assert abs(mp_gauss(selu.expr, mp.mpf(1))) < 1e-16
        assert abs(mp_gauss(selu.expr**2, mp.mpf(1)) - 1) < 1e-16
    p = vg.predict(vg.Chain("selu", "lecun", depth=200, width=64))
    assert np.max(np.abs(p.q - 1)) < 1e-12


def test_weight_distributions_share_the_mean_field_prediction() -> None:
    ws = [20, 40, 30]
    orth = vg.predict(vg.Chain("tanh", "orthogonal", depth=2, width=ws))
    same_variance = vg.Init("orthogonal", sp.Integer(1), "fan_max", "normal")
    gauss = vg.predict(vg.Chain("tanh", same_variance, depth=2, width=ws))
    for name in PREDICTION_FIELDS:
        assert np.array_equal(getattr(orth, name), getattr(gauss, name), equal_nan=True)
    assert any("orthogonal weights" in n for n in orth.notes)
    unif = vg.predict(vg.Chain("tanh", "xavier_uniform", depth=2, width=ws))
    norm = vg.predict(vg.Chain("tanh", "xavier", depth=2, width=ws))
    assert np.array_equal(unif.q, norm.q)


def test_first_layer_uses_input_q_and_bias() -> None:
    c = vg.Chain("tanh", "he", depth=3, width=[5, 7, 7, 7], sigma_b2="0.3", input_q=4)
    p = vg.predict(c)
    assert p.q[0] == 4 and p.q[1] == pytest.approx(2 * 4 + 0.3, rel=1e-15)
    assert np.isnan(p.chi[0]) and np.isnan(p.grad_preact_second_moment[0])
    assert p.sigma_w2[1] == 2 and p.grad_second_moment[-1] == 1


def test_deep_profiles_stay_finite() -> None:
    # q → 0 geometrically (GELU, Xavier: σ_w² φ′(0)² = 1/4) and q → ∞ (SELU, He)
    g = vg.predict(vg.Chain("gelu", "xavier", depth=1000, width=64))
    assert np.all(np.isfinite(g.ln_grad_second_moment)) and np.all(g.q >= 0)
    assert g.chi[-1] == pytest.approx(0.25, rel=1e-12)  # σ_w² E[φ′²]₀ with φ′(0) = 1/2
    s = vg.predict(vg.Chain("selu", "he", depth=300, width=64))
    assert np.all(np.isfinite(s.q)) and s.q[-1] > 1e10
    t = vg.predict(vg.Chain("tanh", "he", depth=1000, width=64))
    assert t.converged_at is not None and t.converged_at < 200
    assert np.all(t.q[t.converged_at :] == t.q[-1])


def test_converged_tail_equals_full_iteration() -> None:
    # the early stop at the fixed point changes nothing beyond 4 ulp·s/(1 − s)
    chain = vg.Chain("erf", "he", depth=400, width=64, sigma_b2="0.1")
    p = vg.predict(chain)
    assert p.converged_at is not None
    from vgmath.theory.meanfield import moment_provider

    mom = moment_provider(chain.act)
    q = 2 * 1 + 0.1
    for _ in range(2, 401):
        q = 2 * mom.phi2(q) + 0.1
    assert p.q[-1] == pytest.approx(q, rel=1e-14)


# --------------------------------------------------------------------------- residual


def _residual_mc(chain: vg.Chain, trials: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-block ‖x_l‖²/n and ‖g_l‖²/‖g_L‖² of explicit residual networks (dense Gaussian
    weights, input with i.i.d. N(0, input_q) entries, g_L ~ N(0, I)): per-trial values."""
    res = chain.residual
    assert res is not None
    rng = np.random.default_rng(seed)
    n, L = chain.widths[0], chain.depth
    v = float(chain.rule.variance(n, n))
    sb = math.sqrt(float(chain.sigma_b2))
    alpha = float(res.alpha)
    act = chain.act
    x = rng.standard_normal((trials, n)) * math.sqrt(float(chain.input_q))
    xs, caches = [x], []
    for _ in range(L):
        ws = rng.standard_normal((res.branch_depth, trials, n, n)) * math.sqrt(v)
        bs = rng.standard_normal((res.branch_depth, trials, n)) * sb
        u, layer = x, []
        for k in range(res.branch_depth):
            if res.variant == "post":
                h = np.einsum("tij,tj->ti", ws[k], u) + bs[k]
                layer.append((ws[k], h, "post"))
                u = act(h)
            else:
                layer.append((ws[k], u, "pre"))
                u = np.einsum("tij,tj->ti", ws[k], act(u)) + bs[k]
        x = x + alpha * u
        xs.append(x)
        caches.append(layer)
    g = rng.standard_normal((trials, n))
    g_l = [g]
    for layer in reversed(caches):
        d = alpha * g
        for w, a, kind in reversed(layer):
            if kind == "post":
                d = np.einsum("tij,ti->tj", w, act.grad(a) * d)
            else:
                d = act.grad(a) * np.einsum("tij,ti->tj", w, d)
        g = g + d
        g_l.append(g)
    p = np.stack([np.mean(xx**2, axis=1) for xx in xs], axis=1)
    gg = np.stack([np.sum(gg**2, axis=1) for gg in reversed(g_l)], axis=1)
    return p, gg / gg[:, -1:]


RESIDUAL_CASES = [
    ("relu", "he", "post", 1, 1),
    ("relu", "lecun", "post", 2, "1/2"),
    ("tanh", "xavier", "pre", 2, 1),
]
RESIDUAL_WIDTH, RESIDUAL_TRIALS = 128, 200


@functools.cache
def _residual_case(case: tuple[str, str, str, int, object], seed: int = 11) -> tuple[
    vg.Prediction, np.ndarray, np.ndarray
]:
    name, init, variant, bd, alpha = case
    chain = vg.Chain(name, init, depth=3, width=RESIDUAL_WIDTH, sigma_b2="0.05",
                     residual=vg.Residual(alpha=alpha, branch_depth=bd, variant=variant))
    mc_p, mc_g = _residual_mc(chain, trials=RESIDUAL_TRIALS, seed=seed)
    return vg.predict(chain), mc_p, mc_g


def _residual_tolerance(arr: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """5 standard errors of the trial mean, plus 4/n relative for the O(1/n) finite-width
    bias that mean-field theory neglects (its coefficient is O(1) for three blocks; 4/n ≈ 3%
    at n = 128, about one standard error here)."""
    se = arr.std(axis=0, ddof=1) / math.sqrt(arr.shape[0])
    return 5 * se + 4 / RESIDUAL_WIDTH * np.abs(ref)


@pytest.mark.slow
@pytest.mark.parametrize("case", RESIDUAL_CASES)
def test_residual_matches_monte_carlo(case: tuple[str, str, str, int, object]) -> None:
    # Yang & Schoenholz 2017 (arXiv:1712.08969): mean-field residual recursions, checked
    # against explicit networks (forward second moment and gradient second moment per block)
    p, mc_p, mc_g = _residual_case(case)
    for arr, ref in ((mc_p, p.q), (mc_g, p.grad_second_moment)):
        mean = arr.mean(axis=0)
        assert np.all(np.abs(mean - ref) <= _residual_tolerance(arr, ref)), (mean, ref)


@pytest.mark.slow
def test_residual_mean_term_is_needed() -> None:
    # quality: for ReLU (E[φ] ≠ 0) the post-block cross term 2α μ E[φ] is not zero; the
    # recursion without it, p_l = p_{l-1} + α² E[φ(√q̃ z)²], is rejected by the same comparison
    p, mc_p, _ = _residual_case(RESIDUAL_CASES[0])
    sb2 = 0.05
    naive = [1.0]
    for _ in range(3):
        naive.append(naive[-1] + (2 * naive[-1] + sb2) / 2)  # α = 1, He: σ_w² = 2, Φ₂ = q/2
    mean = mc_p.mean(axis=0)
    assert np.all(np.abs(mean - p.q) <= _residual_tolerance(mc_p, p.q))
    assert np.any(np.abs(mean - np.array(naive)) > _residual_tolerance(mc_p, np.array(naive)))


def test_residual_closed_forms() -> None:
    r = vg.Residual(alpha=sp.Rational(1, 2), branch_depth=2, variant="pre")
    p = vg.predict(vg.Chain("relu", "he", depth=6, width=32, residual=r))
    # χ = 1 + α² σ_w⁴ E[φ′²]² = 1 + (1/4)(2·1/2)² = 5/4 per block
    L, l = vg.depth_symbol, vg.layer_symbol
    assert sp.simplify(p.formula - sp.Rational(5, 4) ** (L - l)) == 0
    ex = p.exact
    assert ex is not None and ex.grad_second_moment[0] == sp.Rational(5, 4) ** 6
    assert ex.q is not None and ex.q[1] == sp.Rational(5, 4)
    post = vg.predict(vg.Chain("relu", "he", depth=3, width=32, residual=vg.Residual()))
    assert post.exact is not None and post.exact.q is None  # the mean involves √q
    assert "mean" in post.extras and post.extras["mean"][1] > 0
    assert np.all(np.isnan(post.mean_ln_chi))


# --------------------------------------------------------------------------- output


def test_plain_data_and_printing() -> None:
    p = vg.predict(vg.Chain("relu", "xavier", depth=5, width=8))
    d = json.loads(p.to_json(include_exact=True))
    assert d["chain"]["depth"] == 5 and d["fields"]["chi"][0] is None
    assert d["fields"]["grad_second_moment"][0] == pytest.approx(1 / 32)
    assert d["exact"]["grad_second_moment"][0] == "1/32"
    assert d["formula"] == str(p.formula)
    assert "L - l" in p.latex() and p._repr_latex_().startswith("$")
    assert len(p.table(rows=6).splitlines()) == 2 + 6
    assert p.profile("chi") is p.chi and p.gradient_ratio == pytest.approx(1 / 32)
    with pytest.raises(vg.InvalidArgumentError):
        p.profile("nosuch")
    t = vg.predict(vg.Chain("tanh", "xavier", depth=5, width=8))
    assert t.formula is None and t.exact is None
    assert r"\approx" in t.latex()
    with pytest.raises(vg.InvalidArgumentError):
        vg.predict("not a chain")  # type: ignore[arg-type]
    # batch normalisation is never silently ignored: its own theory (theory.batchnorm)
    bn = vg.predict(vg.Chain("relu", "he", depth=3, width=8, norm="batch", batch=4))
    assert "batch" in bn.method and bn.q[1] == pytest.approx(2.0)
    assert bn.grad_second_moment[0] != p.grad_second_moment[0]
    with pytest.raises(vg.InvalidArgumentError, match="batch-normalised"):
        vg.predict(bn.chain, finite_width=True)


def test_cli_predict(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["predict", "relu", "--init", "he", "--depth", "5", "--width", "16"]) == 0
    out = capsys.readouterr().out
    assert "grad_second_moment = 1" in out
    assert cli_main(["predict", "tanh", "--depth", "3", "--sigma-b2", "0.05", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["chain"]["sigma_b2"] == "1/20" and len(d["fields"]["q"]) == 4
    args = ["predict", "relu", "--init", "he", "--depth", "4", "--residual", "0.5",
            "--variant", "pre", "--branch-depth", "2", "--json", "--exact"]
    assert cli_main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["chain"]["residual"]["alpha"] == "1/2" and d["exact"]["chi"][1] == "5/4"
    assert cli_main(["predict", "nosuch"]) == 2
    assert "unknown activation" in capsys.readouterr().err
