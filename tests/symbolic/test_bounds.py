"""Certified derivative bounds, saturation regions and chain bounds (vgmath/symbolic/bounds.py).

The independent oracle
----------------------
For every catalog activation the certified sup/inf of φ′ is compared with a plain
high-precision search that shares nothing with the certifier except the SymPy expression:
mpmath at 40 digits, ``findroot`` on φ″ from a dense grid of starting points, φ′ at each
kink and just beside it, and φ′ at x = ±10³⁰ as a stand-in for the limits at ±∞.

Every value in that list is a value of φ′ (or a limit of its values), so the oracle's max is
≤ the true sup. When the search finds the maximiser it is equal to the sup up to:

* the root error of findroot at 40 digits (~1e-38): φ′ is stationary there, so its value
  moves by O(error²) plus the 1e-40 rounding;
* kink offsets of 1e-32 times |φ″| ≤ 2, i.e. ≤ 2e-32;
* |φ′(±10³⁰) − limit|, which is below 1e-50 for the catalog (exponential or 1/x² decay).

Hence the slack ``ORACLE_SLACK = 1e-30``. Exact values must agree with the oracle to 25+
digits, and the certified enclosure must contain the oracle value within that slack.
"""

from __future__ import annotations

import json
import math
from functools import cache
from typing import Any

import mpmath
import pytest
import sympy as sp

import vgmath as vg
from vgmath.symbolic.bounds import analysis as _bounds
from vgmath.symbolic.specs import SELU_ALPHA, SELU_LAMBDA

x = vg.x
ORACLE_SLACK = mpmath.mpf("1e-30")  # see the module docstring
DPS = 40

CATALOG = vg.activations()


@pytest.fixture(autouse=True)
def _high_precision() -> Any:
    """mpf arithmetic in these tests runs at 70 digits, above the 192-bit (58-digit)
    enclosures, so no comparison is spoilt by rounding at mpmath's default 53 bits."""
    with mpmath.workdps(70):
        yield


# ------------------------------------------------------------------------ the oracle


@cache
def _oracle(name: str, params: tuple[tuple[str, Any], ...] = ()) -> tuple[Any, Any]:
    """(max, min) of φ′ over critical points, kinks and ±10³⁰, by plain mpmath search."""
    act = vg.activation(name, **dict(params))
    with mpmath.workdps(DPS):
        d1 = sp.lambdify(x, act.derivative, "mpmath")
        d2 = sp.lambdify(x, act.second_derivative, "mpmath")
        values = []
        for k in range(-48, 49):
            x0 = mpmath.mpf(k) / 4  # a grid on [-12, 12] with spacing 1/4
            try:
                r = mpmath.findroot(d2, x0, tol=mpmath.mpf(10) ** (-2 * DPS + 6))
            except (ValueError, ZeroDivisionError, mpmath.libmp.NoConvergence):
                continue
            if isinstance(r, mpmath.mpc) or abs(d2(r)) > mpmath.mpf(10) ** (-DPS + 8):
                continue
            values.append(d1(r))
        delta = mpmath.mpf("1e-32")
        for b in act.breakpoints:
            bm = mpmath.mpf(sp.N(b, DPS))
            values += [d1(bm), d1(bm - delta), d1(bm + delta)]
        big = mpmath.mpf("1e30")
        values += [d1(big), d1(-big), d1(mpmath.mpf(0))]
        values = [mpmath.mpf(v) for v in values]
        return max(values), min(values)


def _mp(v: sp.Expr) -> Any:
    return mpmath.mpf(str(sp.N(v, 80)))


def _within(value: sp.Expr, ivl: tuple[Any, Any], error: sp.Expr) -> bool:
    """|reported value − every point of the enclosure| ≤ the reported error."""
    v = _mp(value)
    return max(abs(v - ivl[0]), abs(ivl[1] - v)) <= _mp(error)


def _check_against_oracle(b: vg.DerivativeBound, oracle: tuple[Any, Any]) -> None:
    o_sup, o_inf = oracle
    for name, value, ivl, o in (
        ("sup", b.sup, b.sup_interval, o_sup),
        ("inf", b.inf, b.inf_interval, o_inf),
    ):
        assert ivl[0] - ORACLE_SLACK <= o <= ivl[1] + ORACLE_SLACK, (name, ivl, o)
        assert abs(_mp(value) - o) < mpmath.mpf("1e-25"), (name, value, o)


SLOW_ORACLE = {"gelu_tanh", "mish", "selu"}  # each takes more than a second


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_ORACLE else n for n in CATALOG]
)
def test_certified_bounds_agree_with_an_independent_mpmath_search(name: str) -> None:
    b = vg.activation(name).derivative_bound()
    _check_against_oracle(b, _oracle(name))
    if not b.sup_exact:
        # rigorous enclosure half-width (the brief asks < 1e-12; we have ~1e-31)
        assert 0 < b.sup_error < 1e-25
        assert _within(b.sup, b.sup_interval, b.sup_error)
    if not b.inf_exact:
        assert 0 < b.inf_error < 1e-25


@pytest.mark.quality
def test_the_oracle_comparison_catches_a_wrong_bound() -> None:
    """A sup off by 1e-20, or an enclosure that misses the true value, is rejected."""
    import dataclasses

    b = vg.activation("silu").derivative_bound()
    lo, hi = b.sup_interval
    shifted = dataclasses.replace(
        b, sup=b.sup + sp.Float("1e-20", 40), sup_interval=(lo + 1e-20, hi + 1e-20)
    )
    with pytest.raises(AssertionError):
        _check_against_oracle(shifted, _oracle("silu"))
    # a textbook mistake: claiming the sigmoid slope bound is 1/2
    s = vg.activation("sigmoid").derivative_bound()
    wrong = dataclasses.replace(s, sup=sp.Rational(1, 2), sup_interval=(0.5, 0.5))
    with pytest.raises(AssertionError):
        _check_against_oracle(wrong, _oracle("sigmoid"))


# ------------------------------------------------------------------------ exact values


def _equal(a: sp.Expr, b: sp.Expr) -> bool:
    return a == b or sp.simplify(a - b) == 0


EXACT = {
    # name: (sup, argsup, attained, inf, arginf, inf_attained)
    "identity": (1, sp.S.Reals, True, 1, sp.S.Reals, True),
    # Bengio, Simard & Frasconi 1994: sigmoid′ ≤ 1/4, attained at 0
    "sigmoid": (sp.Rational(1, 4), 0, True, 0, sp.FiniteSet(-sp.oo, sp.oo), False),
    "tanh": (1, 0, True, 0, sp.FiniteSet(-sp.oo, sp.oo), False),
    "hard_sigmoid": (
        sp.Rational(1, 6),
        sp.Interval.open(-3, 3),
        True,
        0,
        sp.Union(sp.Interval(-sp.oo, -3), sp.Interval(3, sp.oo)),
        True,
    ),
    "hard_tanh": (
        1,
        sp.Interval.open(-1, 1),
        True,
        0,
        sp.Union(sp.Interval(-sp.oo, -1), sp.Interval(1, sp.oo)),
        True,
    ),
    "relu": (1, sp.Interval.open(0, sp.oo), True, 0, sp.Interval(-sp.oo, 0), True),
    "leaky_relu": (
        1,
        sp.Interval.open(0, sp.oo),
        True,
        sp.Rational(1, 100),
        sp.Interval(-sp.oo, 0),
        True,
    ),
    # alpha = 1: φ′ = 1 at the kink (left piece, e^0) and on (0, oo)
    "elu": (1, sp.Interval(0, sp.oo), True, 0, -sp.oo, False),
    "selu": (SELU_LAMBDA * SELU_ALPHA, 0, True, 0, -sp.oo, False),
    # φ″ = (2 - x²) e^{-x²/2}/√(2π): critical points ±√2
    "gelu": (
        sp.Rational(1, 2) + sp.erf(1) / 2 + sp.exp(-1) / sp.sqrt(sp.pi),
        sp.sqrt(2),
        True,
        sp.Rational(1, 2) - sp.erf(1) / 2 - sp.exp(-1) / sp.sqrt(sp.pi),
        -sp.sqrt(2),
        True,
    ),
    "softplus": (1, sp.oo, False, 0, -sp.oo, False),
    "softsign": (1, 0, True, 0, sp.FiniteSet(-sp.oo, sp.oo), False),
    "erf": (2 / sp.sqrt(sp.pi), 0, True, 0, sp.FiniteSet(-sp.oo, sp.oo), False),
}
NUMERIC = ["gelu_tanh", "silu", "mish"]


def test_every_catalog_entry_has_an_expectation() -> None:
    assert set(EXACT) | set(NUMERIC) == set(CATALOG)


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_bounds(name: str) -> None:
    sup, argsup, att, inf, arginf, inf_att = EXACT[name]
    b = vg.activation(name).derivative_bound()
    assert b.exact and b.sup_exact and b.inf_exact
    assert b.sup_error == 0 and b.inf_error == 0
    assert _equal(b.sup, sup), (b.sup, sup)
    assert _equal(b.inf, inf), (b.inf, inf)
    assert b.argsup == argsup and b.attained is att
    assert b.arginf == arginf and b.inf_attained is inf_att


def test_sigmoid_is_exactly_one_quarter() -> None:
    b = vg.activation("sigmoid").derivative_bound()
    assert b.sup == sp.Rational(1, 4) and isinstance(b.sup, sp.Rational)
    assert b.sup_abs == sp.Rational(1, 4) and b.sup_abs_exact
    assert "x=0" in b.sup_method


def test_selu_bound_is_the_published_constant_product() -> None:
    # Klambauer et al. 2017: λ = 1.0507009873554804934193349852946,
    # α = 1.6732632423543772848170429916717; sup selu′ = λα at the kink (left piece)
    b = vg.activation("selu").derivative_bound()
    lam = mpmath.mpf("1.0507009873554804934193349852946")
    alp = mpmath.mpf("1.6732632423543772848170429916717")
    assert abs(_mp(b.sup) - lam * alp) < mpmath.mpf("1e-29")


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_bounds_carry_a_rigorous_error(name: str) -> None:
    b = vg.activation(name).derivative_bound()
    assert not b.exact and not b.sup_exact and not b.inf_exact
    assert isinstance(b.sup, sp.Float) and isinstance(b.inf, sp.Float)
    assert 0 < b.sup_error < 1e-12 and 0 < b.inf_error < 1e-12
    assert _within(b.sup, b.sup_interval, b.sup_error)
    assert _within(b.inf, b.inf_interval, b.inf_error)
    assert b.attained and b.inf_attained
    assert isinstance(b.argsup, sp.Float)


def test_silu_maximum_location_and_value() -> None:
    """silu″ = 0 ⇔ 2 + x(1 − 2σ(x)) = 0 ⇔ x = 2 coth(x/2), whose root is x ≈ 2.39936."""
    b = vg.activation("silu").derivative_bound()
    root = mpmath.findroot(lambda t: t - 2 * mpmath.coth(t / 2), 2.4)
    s = 1 / (1 + mpmath.exp(-root))
    value = s * (1 + root * (1 - s))
    assert abs(_mp(b.argsup) - root) < mpmath.mpf("1e-25")
    assert abs(_mp(b.sup) - value) < mpmath.mpf("1e-25")
    # silu′(x) + silu′(-x) = 1, so inf = 1 - sup at -argsup
    assert abs(_mp(b.inf) - (1 - value)) < mpmath.mpf("1e-25")
    assert abs(_mp(b.arginf) + root) < mpmath.mpf("1e-25")


def test_to_dict_is_json_ready_with_exact_strings() -> None:
    d = vg.activation("sigmoid").derivative_bound().to_dict()
    json.dumps(d)
    assert d["sup"]["value"] == "1/4" and d["sup"]["float"] == 0.25
    assert d["sup"]["exact"] is True and d["sup"]["at"] == "0" and d["sup"]["attained"]
    assert d["inf"]["value"] == "0" and d["inf"]["attained"] is False
    assert d["sup_abs"]["value"] == "1/4" and d["exact"] is True
    d = vg.activation("silu").derivative_bound().to_dict()
    json.dumps(d)
    assert d["sup"]["exact"] is False and 0 < d["sup"]["error"] < 1e-12
    assert d["critical_points"] and d["critical_points"][0]["x_float"] is not None


def test_latex_and_text() -> None:
    b = vg.activation("sigmoid").derivative_bound()
    assert r"\frac{1}{4}" in b.latex() and b._repr_latex_().startswith("$")
    assert "1/4" in str(b)
    assert r"\pm" in vg.activation("silu").derivative_bound().latex()


def test_results_are_cached_on_the_activation() -> None:
    act = vg.activation("mish")
    assert act.derivative_bound() is act.derivative_bound()
    assert act.saturation_region(0.01) is act.saturation_region(0.01)


# ------------------------------------------------------------------------ parameters


@pytest.mark.parametrize("alpha", [sp.Rational(1, 2), 1, sp.Rational(5, 2)])
def test_elu_sup_is_max_of_one_and_alpha(alpha: Any) -> None:
    b = vg.activation("elu", alpha=alpha).derivative_bound()
    assert b.sup == max(sp.Integer(1), sp.sympify(alpha)) and b.exact
    expected_at = {sp.Rational(1, 2): sp.Interval.open(0, sp.oo), 1: sp.Interval(0, sp.oo)}
    assert b.argsup == expected_at.get(alpha, 0)


@pytest.mark.parametrize("slope", [sp.Rational(-3, 2), 0, sp.Rational(1, 5), 2])
def test_leaky_relu_bounds(slope: Any) -> None:
    b = vg.activation("leaky_relu", slope=slope).derivative_bound()
    s = sp.sympify(slope)
    assert b.sup == max(1, s) and b.inf == min(1, s)
    assert b.sup_abs == max(1, abs(s))


@pytest.mark.parametrize("beta", [sp.Rational(1, 8), 3])
def test_silu_beta_rescales_the_argument_only(beta: Any) -> None:
    """silu_β′(x) = silu′(βx): same sup and inf, argsup divided by β."""
    one = vg.activation("silu").derivative_bound()
    b = vg.activation("silu", beta=beta).derivative_bound()
    assert abs(_mp(b.sup) - _mp(one.sup)) < mpmath.mpf("1e-25")
    assert abs(_mp(b.inf) - _mp(one.inf)) < mpmath.mpf("1e-25")
    assert abs(_mp(b.argsup) * _mp(sp.sympify(beta)) - _mp(one.argsup)) < mpmath.mpf("1e-24")


def test_softplus_sup_is_approached_not_attained() -> None:
    b = vg.activation("softplus", beta=4).derivative_bound()
    assert b.sup == 1 and b.argsup == sp.oo and not b.attained
    assert b.inf == 0 and b.arginf == -sp.oo and not b.inf_attained


# ------------------------------------------------------------------------ user expressions


@pytest.mark.slow
def test_user_written_mish_gets_the_same_certified_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = vg.activation("mish").derivative_bound()
    # recompute from scratch rather than from the cache shared by equal expressions
    monkeypatch.setattr(_bounds, "_analysis_of", _bounds._analysis_of.__wrapped__)
    user = vg.activation("x*tanh(log(1+exp(x)))").derivative_bound()
    assert user.sup == catalog.sup and user.inf == catalog.inf
    assert user.sup_interval[0] <= catalog.sup_interval[1]
    assert catalog.sup_interval[0] <= user.sup_interval[1]
    assert not user.exact
    _check_against_oracle(user, _oracle("mish"))


@pytest.mark.slow
def test_user_expressions_with_exact_extrema() -> None:
    # (tanh²)′ = 2 tanh sech²; its extrema at tanh = ±1/√3 are ±4√3/9
    b = vg.activation("tanh(x)**2").derivative_bound()
    assert b.exact and _equal(b.sup, 4 * sp.sqrt(3) / 9) and _equal(b.inf, -4 * sp.sqrt(3) / 9)
    # a x + tanh x with a = -1/2: sup at 0 is 1/2, inf approached at ±oo is -1/2
    b = vg.activation("a*x + tanh(x)", a=-0.5).derivative_bound()
    assert (b.sup, b.inf, b.attained, b.inf_attained) == (
        sp.Rational(1, 2),
        sp.Rational(-1, 2),
        True,
        False,
    )
    # φ′ unbounded: sup = oo, and the chain bound says so
    b = vg.activation("x**3").derivative_bound()
    assert b.sup == sp.oo and b.inf == 0 and b.arginf == 0
    assert vg.activation("x**3").chain_bound(eps=0.001).depth is None


def test_uncertifiable_expression_is_refused_clearly() -> None:
    # x + sin x has infinitely many critical points: no finite certificate exists
    with pytest.raises(vg.NumericalError, match="cannot certify"):
        vg.activation("x + sin(x)").derivative_bound()


# ------------------------------------------------------------------------ saturation


def test_sigmoid_saturation_region_is_the_closed_form() -> None:
    r = vg.activation("sigmoid").saturation_region(0.01)
    s = sp.sqrt(sp.Rational(96, 100))
    L = sp.log((1 + s) / (1 - s))  # |x| > ln((1+√0.96)/(1−√0.96)) ≈ 4.585
    assert r.exact and r.error == 0
    left, right = r.boundaries
    assert sp.simplify(right - L) == 0 and sp.simplify(left + L) == 0
    lo_part, hi_part = sorted(r.region.args, key=lambda s: float(s.inf))
    assert lo_part == sp.Interval.open(-sp.oo, left) and hi_part == sp.Interval.open(right, sp.oo)
    assert r.region.contains(sp.Rational(459, 100))
    assert not r.region.contains(sp.Rational(458, 100))
    assert abs(_mp(right) - mpmath.log(49 + 20 * mpmath.sqrt(6))) < mpmath.mpf("1e-60")


def test_saturation_regions_of_piecewise_activations() -> None:
    assert vg.activation("relu").saturation_region(0.5).region == sp.Interval(-sp.oo, 0)
    assert vg.activation("identity").saturation_region(1).region == sp.S.EmptySet
    assert vg.activation("identity").saturation_region(0.5).region == sp.S.EmptySet
    assert vg.activation("identity").saturation_region(2).region == sp.S.Reals
    assert vg.activation("hard_sigmoid").saturation_region(0.1).region == sp.Union(
        sp.Interval(-sp.oo, -3), sp.Interval(3, sp.oo)
    )
    # |elu′| < eps ⇔ alpha e^x < eps ⇔ x < log(eps/alpha); at eps = alpha the kink is excluded
    assert vg.activation("elu").saturation_region(1).region == sp.Interval.open(-sp.oo, 0)
    r = vg.activation("elu", alpha=2).saturation_region(sp.Rational(1, 10))
    assert r.region == sp.Interval.open(-sp.oo, sp.log(sp.Rational(1, 20)))


def _grad_mp(act: vg.Activation) -> Any:
    return sp.lambdify(x, act.derivative, "mpmath")


@pytest.mark.parametrize(
    "name", ["tanh", "gelu", "gelu_tanh", "silu", "mish", "softsign", "erf", "selu"]
)
def test_saturation_boundaries_solve_the_level_equation(name: str) -> None:
    """|φ′(b)| = eps at every finite boundary (to the reported error), and points just inside
    and outside each boundary are on the right side."""
    act = vg.activation(name)
    eps = sp.Rational(1, 100)
    r = act.saturation_region(eps)
    d1 = _grad_mp(act)
    assert r.boundaries
    for b, ivl in zip(r.boundaries, r.boundary_intervals, strict=True):
        if r.exact:
            assert ivl[0] <= _mp(b) <= ivl[1]
        else:
            assert _within(b, ivl, r.error)
        v = abs(d1(_mp(b)))
        # |φ′(b) ± eps| ≤ |φ″| · |b − root| ≤ 2 · error (|φ″| ≤ 2 for these)
        assert abs(v - mpmath.mpf(1) / 100) <= 2 * _mp(r.error) + mpmath.mpf("1e-35")
        for t in (_mp(b) - mpmath.mpf("1e-6"), _mp(b) + mpmath.mpf("1e-6")):
            inside = bool(r.region.contains(sp.Float(str(t), 40)))
            assert inside == (abs(d1(t)) < mpmath.mpf(1) / 100), (b, t)
    if name in ("tanh", "softsign", "erf", "selu"):
        assert r.exact
    else:
        assert not r.exact and 0 < r.error < 1e-25


def test_saturation_region_agrees_with_a_grid() -> None:
    act = vg.activation("gelu")
    r = act.saturation_region(0.05)
    d1 = _grad_mp(act)
    bounds = [_mp(b) for b in r.boundaries]
    for k in range(-100, 101):
        t = mpmath.mpf(k) / 10
        if any(abs(t - b) < mpmath.mpf("1e-9") for b in bounds):
            continue
        assert bool(r.region.contains(sp.Rational(k, 10))) == (abs(d1(t)) < 0.05)


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf"), "abc", None, True])
def test_bad_eps_names_eps(bad: Any) -> None:
    with pytest.raises(vg.InvalidArgumentError) as err:
        vg.activation("sigmoid").saturation_region(bad)
    assert err.value.argument == "eps"


def test_saturation_to_dict_and_latex() -> None:
    r = vg.activation("sigmoid").saturation_region(0.01)
    d = r.to_dict()
    json.dumps(d)
    assert d["eps"] == "1/100" and d["exact"] is True and len(d["boundaries"]) == 2
    assert d["boundaries"][1]["exact"] is True
    assert d["boundaries"][1]["float"] == pytest.approx(math.log(49 + 20 * math.sqrt(6)), 1e-15)
    assert r"\frac{1}{100}" in r.latex() and "20 \\sqrt{6}" in r.latex()


# ------------------------------------------------------------------------ chain bound


def test_sigmoid_chain_bound() -> None:
    act = vg.activation("sigmoid")
    c = act.chain_bound(eps=1e-3)
    # (1/4)^4 = 1/256 > 1/1000 ≥ (1/4)^5 = 1/1024
    assert c.depth == 5 and c.min_depth == 5 and c.bound == sp.Rational(1, 1024)
    assert c.vanishes and c.factor == sp.Rational(1, 4) and c.factor_exact
    assert act.chain_bound(depth=5).bound == sp.Rational(1, 1024)
    assert act.chain_bound(depth=3).depth == 3
    assert c.expression == sp.Rational(1, 4) ** vg.depth_symbol
    both = act.chain_bound(depth=2, eps=1e-3)
    assert both.depth == 2 and both.min_depth == 5 and both.bound == sp.Rational(1, 16)
    d = c.to_dict()
    json.dumps(d)
    assert d["bound"] == "1/1024" and d["depth"] == 5 and d["factor"] == "1/4"
    assert r"\frac{1}{4}" in c.latex()


def test_chain_depth_is_strict_at_exact_equality() -> None:
    """sup|φ′| = 1/2 for tanh(x)/2: (1/2)^3 = 1/8 is not below 1/8, so the depth is 4."""
    act = vg.activation("tanh(x)/2")
    assert act.derivative_bound().sup_abs == sp.Rational(1, 2)
    assert act.chain_bound(eps=sp.Rational(1, 8)).depth == 4
    assert act.chain_bound(eps=sp.Rational(1, 8) + sp.Rational(1, 10**30)).depth == 3


@pytest.mark.parametrize(
    "name,eps,expected",
    [("hard_sigmoid", 1e-3, 4), ("sigmoid", 1e-6, 10), ("sigmoid", 0.3, 1), ("erf", 1e-3, None)],
)
def test_chain_depths(name: str, eps: float, expected: int | None) -> None:
    c = vg.activation(name).chain_bound(eps=eps)
    assert c.depth == expected
    if expected is not None:
        s = float(c.factor)
        # independent check with floats: smallest L with s^L < eps
        assert s**expected < eps <= s ** (expected - 1) or expected == 1


@pytest.mark.parametrize("name", ["relu", "tanh", "identity", "silu", "softplus", "selu"])
def test_chain_bound_never_vanishes_when_sup_is_at_least_one(name: str) -> None:
    c = vg.activation(name).chain_bound(eps=1e-3)
    assert c.depth is None and c.min_depth is None and not c.vanishes
    assert "never" in c.reason and "≥ 1" in c.reason


@pytest.mark.slow
def test_numeric_factor_chain_bound() -> None:
    # gelu_tanh: sup|φ′| ≈ 1.129 > 1; a scaled user version 0.5*gelu_tanh has s ≈ 0.5645
    act = vg.activation("x/4*(1 + tanh(sqrt(2/pi)*(x + 0.044715*x**3)))")
    c = act.chain_bound(eps=1e-3, depth=3)
    s = float(c.factor)
    assert not c.factor_exact and 0 < c.factor_error < 1e-25
    assert c.min_depth == math.floor(math.log(1e-3) / math.log(s)) + 1
    lo, hi = c.bound_interval
    assert lo <= s**3 * (1 + 1e-15) and s**3 * (1 - 1e-15) <= hi


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3"])
def test_bad_depth_names_depth(bad: Any) -> None:
    with pytest.raises(vg.InvalidArgumentError) as err:
        vg.activation("sigmoid").chain_bound(depth=bad)
    assert err.value.argument == "depth"


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan"), "x"])
def test_bad_chain_eps_names_eps(bad: Any) -> None:
    with pytest.raises(vg.InvalidArgumentError) as err:
        vg.activation("sigmoid").chain_bound(eps=bad)
    assert err.value.argument == "eps"


def test_chain_bound_without_depth_or_eps_gives_the_symbolic_bound() -> None:
    c = vg.activation("hard_sigmoid").chain_bound()
    assert c.depth is None and c.bound is None
    assert c.expression == sp.Rational(1, 6) ** vg.depth_symbol and c.vanishes


# ------------------------------------------------------------------------ speed


@pytest.mark.slow
def test_the_whole_catalog_is_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole catalog's bounds in a few seconds (CPU time: the machine may be shared)."""
    import time

    monkeypatch.setattr(_bounds, "_analysis_of", _bounds._analysis_of.__wrapped__)
    t0 = time.process_time()
    for name in CATALOG:
        vg.activation(name).derivative_bound()
    elapsed = time.process_time() - t0
    assert elapsed < 20, elapsed  # measured ≈ 2 s; generous for slow machines
