"""Gaussian expectations E[f(√q z)]: exact, numeric, series and the fast evaluator.

Every value is checked against something independent:

* an mpmath computation at 30 significant digits (``mp.quad`` split at the kinks), which
  shares no code with vgmath's Gauss–Legendre rule, scipy quadrature or closed forms;
* literature closed forms (Williams 1997; Cho & Saul 2009; Klambauer et al. 2017);
* finite differences (for d/dq) and the exact Taylor expansion of a closed form (series).

Tolerances: the module promises ~1e-12 relative; the contract tested here is 1e-10 relative
(two orders of headroom over the promise, six over double-precision rounding) unless a
comment says otherwise. A mean (E[φ], E[φ′]) can cancel, so its error is measured relative
to √E[φ²] ≥ E|φ| (Cauchy–Schwarz), the scale that rounding is proportional to.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import vgmath as vg
from vgmath.symbolic.piecewise import pieces
from vgmath.theory import gaussian as G
from vgmath.theory import moments as GM

x, Q = vg.x, vg.q
CATALOG = vg.activations()
QS = (0.01, 0.5, 1.0, 3.0, 50.0)
RTOL = 1e-10  # the tested contract (see module docstring)


# --------------------------------------------------------------------------- the mpmath oracle


@functools.cache
def mp_expectation(expr: sp.Expr, q: float, dps: int = 30) -> mp.mpf:
    """E_z[expr(√q z)] with mpmath at ``dps`` digits: tanh–sinh on each smooth piece, split
    at 0 and at ±1, ±4 (and ±16 for q ≥ 100) in units of φ's argument, so that a step-like
    sigmoid(√q z) at q = 1e4 is resolved."""
    with mp.workdps(dps):
        qm = mp.mpf(q)
        s = mp.sqrt(qm)
        total = mp.mpf(0)
        for iv, e in pieces(expr):
            if iv.measure == 0:
                continue
            f = sp.lambdify(x, sp.N(e, dps + 10), "mpmath")
            a = -mp.inf if iv.start == -sp.oo else mp.mpf(sp.N(iv.start, dps + 10)) / s
            b = mp.inf if iv.end == sp.oo else mp.mpf(sp.N(iv.end, dps + 10)) / s
            scales = (1, 4, 16) if q >= 100 else (1, 4)
            cuts = {mp.mpf(0), *(sg * mp.mpf(v) / s for v in scales for sg in (-1, 1))}
            pts = [a, *sorted(p for p in cuts if a < p < b), b]
            total += mp.quad(lambda z, f=f: f(s * z) * mp.exp(-z * z / 2), pts)
        return total / mp.sqrt(2 * mp.pi)


def moment_expr(act: vg.Activation, name: str) -> sp.Expr:
    return {
        "phi2": act.expr**2,
        "dphi2": act.derivative**2,
        "dphi4": act.derivative**4,
        "phi_mean": act.expr,
        "dphi_mean": act.derivative,
    }[name]


def scale_of(act: vg.Activation, name: str, q: float, ref: mp.mpf) -> float:
    """|reference|, or for a mean the Cauchy–Schwarz bound √E[g²] ≥ E|g| (see docstring)."""
    if name == "phi_mean":
        return max(abs(float(ref)), math.sqrt(float(mp_expectation(act.expr**2, q))))
    if name == "dphi_mean":
        return max(abs(float(ref)), math.sqrt(float(mp_expectation(act.derivative**2, q))))
    return abs(float(ref))


def as_float(value: sp.Expr | G.GaussianResult) -> float:
    if isinstance(value, G.GaussianResult):
        return value.value
    return float(sp.N(value, 30))


# --------------------------------------------------------------------------- the whole catalog


def exact_at(f: sp.Expr) -> tuple[sp.Expr, object] | None:
    """(closed form in q, an mpmath function of q) when E[f(√q z)] has a closed form."""
    exact = G._exact(f, Q)
    if exact is None:
        return None
    return exact[0], sp.lambdify(Q, exact[0], "mpmath")


@pytest.mark.parametrize("name", ["phi2", "dphi2", "dphi4", "phi_mean"])
@pytest.mark.parametrize("act_name", CATALOG)
def test_catalog_against_mpmath(act_name: str, name: str) -> None:
    """gaussian_expectation (exact or numeric) and GaussianMoments against 30-digit mpmath.

    A closed form is derived once for symbolic q and evaluated at each q with mpmath at 30
    digits; the numeric-q call of the public function is exercised at q = 1/2 (the same
    closed form, substituted and simplified)."""
    act = vg.activation(act_name)
    f = moment_expr(act, name)
    fast = GM.moments(act)
    exact = exact_at(f)
    for q in QS:
        ref = mp_expectation(f, q)
        scale = scale_of(act, name, q, ref)
        if exact is None or q == 0.5:
            value = as_float(vg.gaussian_expectation(f, q))
        else:
            with mp.workdps(30):
                value = float(exact[1](mp.mpf(q)))
        assert abs(value - float(ref)) <= RTOL * scale, (act_name, name, q)
        assert abs(getattr(fast, name)(q) - float(ref)) <= RTOL * scale, (act_name, name, q)


@pytest.mark.parametrize("act_name", CATALOG)
def test_fast_moments_at_the_ends_of_the_q_range(act_name: str) -> None:
    """q = 1e-8 (linear regime) and q = 1e4 (sigmoid(√q z) is a near step of width 0.01).
    The oracle runs at 20 digits here (plenty for a 1e-10 check, and twice as fast)."""
    act = vg.activation(act_name)
    fast = GM.moments(act)
    for q in (1e-8, 1e4):
        for name in ("phi2", "dphi2"):
            ref = mp_expectation(moment_expr(act, name), q, dps=20)
            assert abs(getattr(fast, name)(q) - float(ref)) <= RTOL * float(ref), (name, q)


@pytest.mark.parametrize("act_name", ["hard_tanh", "hard_sigmoid", "elu", "selu", "gelu"])
def test_fast_moments_against_exact_closed_forms_over_the_q_range(act_name: str) -> None:
    """The rule + log-q interpolant against the exact closed forms (evaluated with mpmath at
    30 digits), q = 1e-8 … 1e4, 13 points."""
    act = vg.activation(act_name)
    fast = GM.moments(act)
    qs = np.logspace(-8, 4, 13)
    phi2 = exact_at(act.expr**2)
    assert phi2 is not None
    for name in ("phi2", "dphi2", "phi_mean"):
        exact = exact_at(moment_expr(act, name))
        assert exact is not None
        got = getattr(fast, name)(qs)
        with mp.workdps(30):
            for qv, g in zip(qs, got, strict=True):
                ref = float(exact[1](mp.mpf(qv)))
                scale = abs(ref)
                if name == "phi_mean":
                    scale = max(scale, math.sqrt(float(phi2[1](mp.mpf(qv)))))
                assert abs(g - ref) <= RTOL * scale, (name, qv)


# --------------------------------------------------------------------------- exact closed forms


def test_closed_forms_from_the_literature() -> None:
    relu = vg.activation("relu")
    assert vg.gaussian_expectation(relu.expr**2, Q) == Q / 2
    assert vg.gaussian_expectation(relu.derivative**2, Q) == sp.Rational(1, 2)
    assert vg.gaussian_expectation(relu, Q) == sp.sqrt(Q) / sp.sqrt(2 * sp.pi)
    assert vg.gaussian_expectation(vg.activation("identity").expr**2, Q) == Q
    a = sp.Rational(1, 5)
    leaky = vg.activation("leaky_relu", slope=a)
    assert vg.gaussian_expectation(leaky.expr**2, Q) == (1 + a**2) * Q / 2
    assert vg.gaussian_expectation(leaky.derivative**2, Q) == (1 + a**2) / 2
    erf = vg.activation("erf")
    # Williams 1997, Neural Comput. 10(5): E[erf(√q z)²] = (2/π) asin(2q/(1+2q))
    assert sp.simplify(
        vg.gaussian_expectation(erf.expr**2, Q) - 2 / sp.pi * sp.asin(2 * Q / (1 + 2 * Q))
    ) == 0
    assert sp.simplify(
        vg.gaussian_expectation(erf.derivative**2, Q) - 4 / (sp.pi * sp.sqrt(1 + 4 * Q))
    ) == 0
    assert vg.gaussian_expectation(erf.expr**2, sp.Rational(1, 2)) == sp.Rational(1, 3)
    # odd activations have mean zero, exactly
    assert vg.gaussian_expectation(vg.activation("tanh"), Q) == 0
    # hard_tanh: E[φ′²] = P(|√q z| < 1) = erf(1/√(2q))
    assert sp.simplify(
        vg.gaussian_expectation(vg.activation("hard_tanh").derivative**2, Q)
        - sp.erf(1 / sp.sqrt(2 * Q))
    ) == 0


def test_selu_is_self_normalising_exactly() -> None:
    """Klambauer et al. 2017 (arXiv:1706.02515): with their λ, α, the map (μ, ν) = (0, 1) is a
    fixed point: E[selu(z)] = 0 and E[selu(z)²] = 1 for z ~ N(0, 1) — exactly."""
    selu = vg.activation("selu")
    assert vg.gaussian_expectation(selu.expr**2, 1) == 1
    assert vg.gaussian_expectation(selu, 1) == 0


def test_gelu_closed_forms_match_their_derivation() -> None:
    """GELU = xΦ(x), x ~ N(0, q). By Stein's lemma (derived in the module's _erf_moment):
    E[φ] = q/√(2π(1+q)), E[φ′] = 1/2,
    E[φ²] = q/4 + q asin(q/(1+q))/(2π) + q²/(π(1+q)√(1+2q))."""
    gelu = vg.activation("gelu")
    assert sp.simplify(
        vg.gaussian_expectation(gelu, Q) - Q / sp.sqrt(2 * sp.pi * (1 + Q))
    ) == 0
    assert vg.gaussian_expectation(gelu.derivative, Q) == sp.Rational(1, 2)
    want = Q / 4 + Q * sp.asin(Q / (1 + Q)) / (2 * sp.pi) + Q**2 / (
        sp.pi * (1 + Q) * sp.sqrt(1 + 2 * Q)
    )
    got = vg.gaussian_expectation(gelu.expr**2, Q)
    for qv in (sp.Rational(1, 3), 2, 17):
        assert abs(sp.N((got - want).subs(Q, qv), 40)) < 1e-35


ALL_MOMENTS = ("phi2", "dphi2", "dphi4", "phi_mean", "dphi_mean")
#: the closed forms the module promises (checked to exist, then checked numerically)
CLOSED_CASES = [
    *((a, n) for a in ("relu", "leaky_relu", "identity", "hard_tanh", "hard_sigmoid", "elu",
                       "selu", "erf") for n in ALL_MOMENTS),
    *(("gelu", n) for n in ("phi2", "dphi2", "phi_mean", "dphi_mean")),
    ("tanh", "phi_mean"),
    ("softsign", "phi_mean"),
]


def test_closed_form_coverage() -> None:
    for a, n in CLOSED_CASES:
        method = G.expectation_method(moment_expr(vg.activation(a), n), Q)
        assert method.startswith("closed form"), (a, n, method)
    for a, n in (("tanh", "phi2"), ("gelu", "dphi4"), ("sigmoid", "phi_mean")):
        assert G.expectation_method(moment_expr(vg.activation(a), n), Q).startswith("none")


@pytest.mark.parametrize(("act_name", "name"), CLOSED_CASES)
def test_every_closed_form_passes_the_quadrature_cross_check(act_name: str, name: str) -> None:
    f = moment_expr(vg.activation(act_name), name)
    # cross_check raises NumericalError above its rtol = 1e-10 (relative to E|f|); the
    # catalog test above checks the same closed forms against mpmath at five more q
    assert G.cross_check(f, sp.Rational(7, 10)) <= 1e-10


@pytest.mark.quality
def test_a_wrong_closed_form_hook_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Perturb the Williams base case (drop the factor 2 in asin's argument): the closed
    forms built on it (erf², GELU², GELU′²) must fail the numeric cross-check."""
    gelu, erf = vg.activation("gelu"), vg.activation("erf")
    G._exact.cache_clear()
    monkeypatch.setitem(
        G.CLOSED_FORM_HOOKS,
        "erf(a*x)**2",
        lambda v, a: 2 / sp.pi * sp.asin(a**2 * v / (1 + 2 * a**2 * v)),
    )
    try:
        for f in (erf.expr**2, gelu.expr**2, gelu.derivative**2):
            with pytest.raises(vg.NumericalError, match="disagrees with quadrature"):
                G.cross_check(f, 1)
    finally:
        G._exact.cache_clear()


def fast_disagreement(exact: GM.GaussianMoments, rule: GM.GaussianMoments) -> float:
    """Largest disagreement of two evaluators over q ∈ [1e-6, 1e3], relative to each
    moment's scale (√E[g²] for the means)."""
    qs = np.logspace(-6, 3, 10)
    worst = 0.0
    for m in ("phi2", "dphi2", "dphi4", "phi_mean", "dphi_mean", "d_phi2_dq"):
        a, b = getattr(exact, m)(qs), getattr(rule, m)(qs)
        scale = np.abs(a)
        if m == "phi_mean":
            scale = np.maximum(scale, np.sqrt(exact.phi2(qs)))
        if m == "dphi_mean":
            scale = np.maximum(scale, np.sqrt(exact.dphi2(qs)))
        worst = max(worst, float(np.max(np.abs(a - b) / scale)))
    return worst


@pytest.mark.quality
def test_fast_closed_forms_agree_with_the_rule_and_a_wrong_one_is_caught() -> None:
    for name in ("relu", "leaky_relu", "erf", "identity"):
        exact, rule = GM.GaussianMoments(name), GM.GaussianMoments(name, closed_forms=False)
        assert fast_disagreement(exact, rule) <= RTOL, name
    wrong = GM.GaussianMoments("erf")
    assert wrong._closed is not None
    # Williams' form with asin's argument off by the factor 2: a plausible typo
    wrong._closed.fns["phi2"] = lambda q: (2 / np.pi) * np.arcsin(q / (1 + 2 * q))
    assert fast_disagreement(wrong, GM.GaussianMoments("erf", closed_forms=False)) > 0.1


@pytest.mark.quality
def test_the_rule_checks_itself() -> None:
    """A too-coarse rule (4 nodes per interval) is refused on construction, and an
    interpolant of a function with a jump in log q is refused by the table's own check."""
    m = GM.GaussianMoments("tanh", check=False)
    m._rule = GM._Rule(m._rule.kinks, n=4)
    with pytest.raises(vg.NumericalError, match="relative accuracy"):
        m._self_check()
    with pytest.raises(vg.NumericalError, match="interpolant"):
        GM._Table(lambda q: np.where(q < 0.37, 1.0, 2.0), lambda q: np.ones_like(q), label="jump")


# --------------------------------------------------------------------------- numeric results


def test_numeric_result_object() -> None:
    tanh = vg.activation("tanh")
    r = vg.gaussian_expectation(tanh.derivative**2, 2)
    assert isinstance(r, vg.GaussianResult)
    assert r.method == G.METHOD_QUAD == G.expectation_method(tanh.derivative**2, 2)
    assert float(r) == r.value and r.q == 2.0 and r.expr == tanh.derivative**2
    ref = mp_expectation(tanh.derivative**2, 2.0)
    # the reported error bounds the actual error (and is not absurdly pessimistic)
    assert abs(r.value - float(ref)) <= r.error < 1e-12 * r.value
    tex = r.latex()
    assert tex.startswith(r"\mathbb{E}_{z}\left[") and r"\pm" in tex and "q = 2" in tex
    assert r._repr_latex_() == f"${tex}$"
    d = r.to_dict()
    assert d == {"value": r.value, "error": r.error, "method": r.method, "expr": str(r.expr),
                 "q": 2.0}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 0.0  # type: ignore[misc]


def test_expectation_method_names_the_path() -> None:
    assert G.expectation_method(vg.activation("relu").expr**2, Q) == G.METHOD_PIECEWISE
    assert G.expectation_method(vg.activation("erf").expr**2, Q) == G.METHOD_ERF
    assert G.expectation_method(vg.activation("tanh").expr, Q) == G.METHOD_ODD
    assert G.expectation_method(vg.activation("tanh").expr ** 2, 1) == G.METHOD_QUAD
    assert G.expectation_method(vg.activation("tanh").expr ** 2, Q).startswith("none")


def test_kinks_are_split_not_smeared() -> None:
    """A kink at b/√q inside a Gauss–Hermite-style node set is badly wrong; both numeric
    paths split there. A user activation with kinks at ±1/2 (no closed form: tanh) against
    mpmath."""
    act = vg.activation("max(min(x, 1/2), -1/2)**3 + tanh(x)/10")
    fast = GM.moments(act)
    for q in (0.05, 30.0):
        ref = mp_expectation(act.derivative**2, q)
        num = vg.gaussian_expectation(act.derivative**2, q)
        assert abs(as_float(num) - float(ref)) <= RTOL * float(ref)
        assert abs(fast.dphi2(q) - float(ref)) <= RTOL * float(ref)


def test_numeric_path_survives_overflowing_pieces() -> None:
    """sigmoid′ = e^{−x}/(1+e^{−x})² overflows to inf/inf for x < −710 (q = 1e4, z ≈ −7):
    those points are re-evaluated with mpmath instead of poisoning the integral."""
    sig = vg.activation("sigmoid")
    r = vg.gaussian_expectation(sig.derivative**2, 1e4)
    ref = mp_expectation(sig.derivative**2, 1e4)
    assert abs(r.value - float(ref)) <= RTOL * float(ref)


def test_numeric_path_follows_mass_that_moves_out() -> None:
    """E[e^{2√q z}] = e^{2q} (the Gaussian moment generating function): at q = 30 the mass sits
    at z = 2√q ≈ 11, beyond the default |z| ≤ 10 of the cross-checking rule, which must widen.
    tanh adds 0 by oddness and forces the numeric path."""
    for q in (1, 30):
        r = vg.gaussian_expectation(sp.exp(2 * x) + sp.tanh(x), q)
        assert isinstance(r, vg.GaussianResult)
        want = mp.exp(2 * q)
        assert abs(r.value - float(want)) <= r.error <= 1e-12 * r.value
    with pytest.raises(vg.NumericalError):
        GM.GaussianMoments(vg.activation("exp(x)"))  # the fixed rule refuses, with a reason


def test_symbol_of_unknown_sign_is_treated_as_positive() -> None:
    s = sp.Symbol("s")
    assert vg.gaussian_expectation(vg.activation("relu").expr ** 2, s) == s / 2
    assert vg.gaussian_expectation(x**4, 2 * Q) == 12 * Q**2


# --------------------------------------------------------------------------- the fast evaluator


def test_fast_moments_shapes_and_scalars() -> None:
    m = GM.moments("tanh")
    assert GM.moments(vg.activation("tanh")) is m  # cached per activation
    qs = np.array([[0.1, 1.0], [2.0, 30.0]])
    out = m.phi2(qs)
    assert out.shape == (2, 2)
    assert isinstance(m.phi2(1.0), float) and isinstance(m.phi2(np.float64(1.0)), float)
    assert out[1, 0] == pytest.approx(m.phi2(2.0), rel=1e-15, abs=0)
    assert m.cross(np.array([1.0, 2.0]), 0.5).shape == (2,)


@pytest.mark.parametrize("act_name", ["tanh", "hard_tanh", "relu", "elu", "softsign", "gelu"])
def test_d_phi2_dq_against_finite_differences(act_name: str) -> None:
    """Five-point stencil on phi2 (itself checked against mpmath above). With h = 2e-3·q the
    truncation (h⁴/30)·f⁽⁵⁾ is ~1e-11 relative (measured: 1e-8 at h = 1e-2·q, scaling as h⁴)
    and the rounding, ~1e-14·phi2/h from phi2's own accuracy, ~1e-11: 1e-9 leaves headroom."""
    m = GM.moments(act_name)
    for q in (0.05, 0.7, 4.0):
        h = 2e-3 * q
        f = [m.phi2(q + k * h) for k in (-2, -1, 1, 2)]
        fd = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
        assert m.d_phi2_dq(q) == pytest.approx(fd, rel=1e-9)


def test_d_phi2_dq_by_stein_for_a_smooth_activation() -> None:
    """For smooth φ, d/dq E[φ(√q z)²] = E[φ′² + φφ″] (Gaussian integration by parts), computed
    here independently with mpmath."""
    tanh = vg.activation("tanh")
    g = tanh.derivative**2 + tanh.expr * tanh.second_derivative
    for q in (0.3, 2.5):
        assert GM.moments(tanh).d_phi2_dq(q) == pytest.approx(float(mp_expectation(g, q)),
                                                             rel=RTOL)


def mp_cross_2d(act: vg.Activation, q: float, c: float, derivative: bool) -> mp.mpf:
    """E[g(u₁)g(u₂)] by 2-D mpmath quadrature (15 digits) in the (u₁, u₂) plane against the
    bivariate normal density, split at the kinks along both axes — independent of the
    module's nested rule, but slow (seconds)."""
    expr = act.derivative if derivative else act.expr
    with mp.workdps(15):
        fs = []
        for iv, e in pieces(expr):
            lo = -mp.inf if iv.start == -sp.oo else mp.mpf(sp.N(iv.start, 30))
            hi = mp.inf if iv.end == sp.oo else mp.mpf(sp.N(iv.end, 30))
            fs.append((lo, hi, sp.lambdify(x, sp.N(e, 30), "mpmath")))

        def g(u: mp.mpf) -> mp.mpf:
            return next(f(u) for lo, hi, f in fs if lo <= u <= hi)

        qm, cm = mp.mpf(q), mp.mpf(c)
        var = qm * (1 - cm * cm)
        norm = 1 / (2 * mp.pi * qm * mp.sqrt(1 - cm * cm))

        def integrand(u1: mp.mpf, u2: mp.mpf) -> mp.mpf:
            quad_form = u1 * u1 - 2 * cm * u1 * u2 + u2 * u2
            return g(u1) * g(u2) * norm * mp.exp(-quad_form / (2 * var))

        cuts = sorted({mp.mpf(0), *(mp.mpf(sp.N(b, 30)) for b in act.breakpoints)})
        pts = [-mp.inf, *cuts, mp.inf]
        return mp.quad(integrand, pts, pts)


def mp_cross_mehler(expr: sp.Expr, q: float, c: float) -> mp.mpf:
    """Mehler's expansion E[g(√q z₁)g(√q z₂)] = Σₙ cⁿ bₙ²/n!, bₙ = E[g(√q z) Heₙ(z)], with the
    bₙ from one 30-digit Gauss–Legendre rule (mpmath's nodes, 48 per interval of length 2 on
    [−16, 16]: exact for the polynomial part up to degree 95, and tanh's poles at distance
    π/(2√q) > 1 give a Bernstein ratio > 2.9, i.e. < 1e-40; beyond |z| = 16,
    |Heₙ(z)|e^{−z²/2}/√(n!) < 1e-30 for n ≤ 40; Heₙ by its three-term recurrence). The tail
    beyond N is at most |c|^{N+1}·E[g²] (Cauchy–Schwarz on the coefficients): N is chosen
    with |c|^{N+1} < 1e-13."""
    from mpmath.calculus.quadrature import GaussLegendre

    n_max = math.ceil(math.log(1e-13) / math.log(abs(c)))
    with mp.workdps(30):
        f = sp.lambdify(x, expr, "mpmath")
        s = mp.sqrt(q)
        rule = GaussLegendre(mp.mp)
        b = [mp.mpf(0)] * (n_max + 1)
        for lo in range(-16, 16, 2):
            for z, w in rule.get_nodes(mp.mpf(lo), mp.mpf(lo + 2), 5, mp.mp.prec):
                weight = w * f(s * z) * mp.exp(-z * z / 2) / mp.sqrt(2 * mp.pi)
                he_prev, he = mp.mpf(0), mp.mpf(1)
                for n in range(n_max + 1):
                    b[n] += weight * he
                    he_prev, he = he, z * he - n * he_prev
        return mp.fsum(mp.mpf(c) ** n * b[n] ** 2 / mp.factorial(n) for n in range(n_max + 1))


@pytest.mark.slow
def test_cross_against_mpmath_2d() -> None:
    """hard_tanh (kinks at ±1 in both variables), q = 2, c = −0.3 (about 1 s)."""
    act = vg.activation("hard_tanh")
    m = GM.moments(act)
    ref = mp_cross_2d(act, 2.0, -0.3, derivative=True)
    assert abs(m.dcross(2.0, -0.3) - float(ref)) <= RTOL * m.dphi2(2.0)


@pytest.mark.parametrize(("q", "c"), [(1.5, 0.3), (0.4, -0.45)])
def test_cross_against_mehler_expansion(q: float, c: float) -> None:
    """tanh: |E[g g]| ≤ E[g²] (Cauchy–Schwarz) sets the scale of the error."""
    tanh = vg.activation("tanh")
    m = GM.moments(tanh)
    ref = mp_cross_mehler(tanh.expr, q, c)
    assert abs(m.cross(q, c) - float(ref)) <= RTOL * m.phi2(q)
    ref = mp_cross_mehler(tanh.derivative, q, c)
    assert abs(m.dcross(q, c) - float(ref)) <= RTOL * m.dphi2(q)


@pytest.mark.parametrize("act_name", ["relu", "leaky_relu", "erf"])
def test_cross_rule_against_arccos_and_williams_kernels(act_name: str) -> None:
    """The generic 2-D rule (closed forms off) against Cho & Saul 2009's arc-cosine kernels
    (relu, leaky_relu) and Williams 1997 (erf), including c → ±1 where the inner integral
    becomes a near-step in z₁ for kinked φ."""
    exact = GM.GaussianMoments(act_name)
    rule = GM.GaussianMoments(act_name, closed_forms=False)
    for q in (1e-4, 0.5, 3.0, 100.0):
        for c in (-1.0, -0.99, -0.2, 0.0, 0.5, 0.999999, 1.0):
            for name, norm in (("cross", exact.phi2(q)), ("dcross", exact.dphi2(q))):
                a, b = getattr(rule, name)(q, c), getattr(exact, name)(q, c)
                assert abs(a - b) <= RTOL * norm, (name, q, c)


@pytest.mark.parametrize("act_name", CATALOG)
def test_cross_limits(act_name: str) -> None:
    m = GM.moments(act_name)
    q = 0.8
    assert m.cross(q, 1.0) == pytest.approx(m.phi2(q), rel=1e-12)
    assert m.dcross(q, 1.0) == pytest.approx(m.dphi2(q), rel=1e-12)
    # continuity into c = 1 (the cross moment is Lipschitz in c up to (1−c)^{1/2} terms)
    assert m.cross(q, 1 - 1e-10) == pytest.approx(m.phi2(q), rel=1e-4)
    # c = 0: independent factors
    assert m.cross(q, 0.0) == pytest.approx(m.phi_mean(q) ** 2, rel=1e-10, abs=1e-13 * q)
    assert m.dcross(q, 0.0) == pytest.approx(m.dphi_mean(q) ** 2, rel=1e-10)


# --------------------------------------------------------------------------- series


@pytest.mark.parametrize("act_name", ["tanh", "sigmoid", "silu", "softplus", "erf"])
def test_series_error_is_the_next_term(act_name: str) -> None:
    """|E − S_n| should be the size of the first omitted term T_{n+1}: between 1/2 and 3/2 of
    it for q small enough that T_{n+2}/T_{n+1} < 1/10 (checked), so a wrong coefficient in
    any kept order (or a wrong double factorial) fails."""
    act = vg.activation(act_name)
    f = act.derivative**2
    full = sp.Poly(vg.gaussian_series(f, Q, 4), Q)

    def upto(n: int) -> sp.Expr:
        return sum((cf * Q**k for (k,), cf in full.terms() if k <= n), sp.S.Zero)

    for n in (1, 2):
        s_n, s_n1, s_n2 = upto(n), upto(n + 1), upto(n + 2)
        q = 0.01
        t1 = float((s_n1 - s_n).subs(Q, q))
        t2 = float((s_n2 - s_n1).subs(Q, q))
        if t1 == 0:
            continue
        assert abs(t2) < abs(t1) / 10
        err = float(mp_expectation(f, q)) - float(s_n.subs(Q, q))
        assert 0.5 * abs(t1) <= abs(err) <= 1.5 * abs(t1), (n, err, t1)


def test_series_equals_the_expansion_of_closed_forms() -> None:
    for f in (vg.activation("erf").expr**2, vg.activation("gelu").expr**2,
              vg.activation("erf").derivative**2):
        exact = vg.gaussian_expectation(f, Q)
        want = sp.series(exact, Q, 0, 5).removeO()
        assert sp.simplify(vg.gaussian_series(f, Q, 4) - want) == 0
    assert vg.gaussian_series(vg.activation("tanh").expr**2, Q, 2) == Q - 2 * Q**2
    assert vg.gaussian_series(vg.activation("tanh").expr**2, sp.Rational(1, 10), 2) == (
        sp.Rational(1, 10) - sp.Rational(2, 100)
    )
    # kinks away from 0 only add e^{−1/(2q)} terms: the series of hard_tanh² is q
    assert vg.gaussian_series(vg.activation("hard_tanh").expr**2, Q, 3) == Q


def test_series_refuses_a_kink_at_zero() -> None:
    for name in ("relu", "leaky_relu", "elu"):
        with pytest.raises(vg.InvalidArgumentError, match="not smooth at 0") as info:
            vg.gaussian_series(vg.activation(name).expr**2, Q, 2)
        assert info.value.argument == "f"
    with pytest.raises(vg.InvalidArgumentError) as info:
        vg.gaussian_series(sp.sqrt(x**2 + x**4), Q, 2)
    assert info.value.argument == "f"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad_q", [0, -1, 0.0, -2.5, sp.Integer(-2), float("nan"), float("inf"),
                                   "abc", True, -Q])
def test_bad_q_is_named(bad_q: object) -> None:
    with pytest.raises(vg.InvalidArgumentError) as info:
        vg.gaussian_expectation(x**2, bad_q)
    assert info.value.argument == "q"


@pytest.mark.parametrize("bad_q", [0.0, -1.0, np.array([1.0, -1.0]), np.array([np.nan])])
def test_bad_q_fast_is_named(bad_q: object) -> None:
    m = GM.moments("tanh")
    with pytest.raises(vg.InvalidArgumentError) as info:
        m.phi2(bad_q)
    assert info.value.argument == "q"
    with pytest.raises(vg.InvalidArgumentError) as info:
        m.cross(1.0, 1.5)
    assert info.value.argument == "c"


def test_bad_f_is_named() -> None:
    y = sp.Symbol("y")
    for bad in (x * y, sp.Symbol("x") ** 2, "x**2", None, Q * x):
        with pytest.raises(vg.InvalidArgumentError) as info:
            vg.gaussian_expectation(bad, 1)
        assert info.value.argument == "f"
    with pytest.raises(vg.InvalidArgumentError, match=r"vgmath\.x"):
        vg.gaussian_expectation(sp.Symbol("x") ** 2, 1)


def test_symbolic_q_without_closed_form_suggests_alternatives() -> None:
    with pytest.raises(vg.InvalidArgumentError, match=r"numeric q.*gaussian_series") as info:
        vg.gaussian_expectation(vg.activation("tanh").expr ** 2, Q)
    assert info.value.argument == "q"


def test_bad_options_are_named() -> None:
    for bad in (0, 1e-20, 2, "x"):
        with pytest.raises(vg.InvalidArgumentError) as info:
            vg.gaussian_expectation(x**2, 1, rtol=bad)
        assert info.value.argument == "rtol"
    for bad in (-1, 1.5, True):
        with pytest.raises(vg.InvalidArgumentError) as info:
            vg.gaussian_series(x**2, Q, bad)  # type: ignore[arg-type]
        assert info.value.argument == "order"


def test_exports() -> None:
    assert vg.gaussian_expectation is G.gaussian_expectation
    assert vg.GaussianResult is G.GaussianResult
    assert vg.gaussian_series is G.gaussian_series


@pytest.mark.parametrize("act_name", CATALOG)
def test_z2dphi2_against_mpmath(act_name: str) -> None:
    # E[z² φ′(√q z)²] = E[u² φ′(u)²]/q with u = √q z; the same 30-digit oracle, 1e-10 relative
    act = vg.activation(act_name)
    m = GM.moments(act)
    for q in (0.3, 2.0):
        ref = mp_expectation(x**2 * act.derivative**2, q) / q
        assert m.z2dphi2(q) == pytest.approx(float(ref), rel=1e-10), (act_name, q)
