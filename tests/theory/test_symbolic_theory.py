"""Symbols through the theory: symbolic chains, SymbolicPrediction, the public maps.

Every closed form is checked by substitution into the numeric path (``vg.predict`` on the
chain with numbers), against a literature value, and shown to catch a wrong formula.
"""

from __future__ import annotations

import doctest
import json
import math
import pickle

import numpy as np
import pytest
import sympy as sp

import vgmath as vg
from vgmath.theory import maps, symbolic_profile

s, n, a, sb = sp.symbols("s n a b", positive=True)
L = sp.Symbol("L", integer=True, positive=True)
l = vg.layer_symbol

# predict's profiles come from float recursions of exact rationals: 1e-12 relative is
# ~10^4 ulp, room for the cumulative rounding of 40 layers of products
RTOL = 1e-12


def leaky_chain(**fields: object) -> vg.Chain:
    act = vg.activation("leaky_relu", slope=a)
    base: dict[str, object] = {"init": vg.Init.custom(sigma_w2=s), "depth": L, "width": n}
    base.update(fields)
    return vg.Chain(act, **base)  # type: ignore[arg-type]


def agrees_with_predict(formula: sp.Expr, field: str, values: dict[str, object],
                        layers: range) -> bool:
    """The symbolic ``formula`` (in l) against ``vg.predict`` of the substituted chain."""
    numeric = leaky_chain().subs(**values)
    profile = getattr(vg.predict(numeric), field)
    subs = {sp.Symbol(k, positive=True): sp.nsimplify(v) for k, v in values.items()}
    subs[L] = sp.Integer(int(values["L"]))  # type: ignore[call-overload]
    for layer in layers:
        got = float(formula.xreplace(subs).subs(l, layer))
        if not math.isclose(got, profile[layer], rel_tol=RTOL):
            return False
    return True


# --------------------------------------------------------------------------- closed forms


def test_leaky_relu_ratio_is_the_closed_form_in_every_symbol() -> None:
    p = vg.predict(leaky_chain())
    assert isinstance(p, vg.SymbolicPrediction) and p.exact
    assert p.formula == (s * (1 + a**2) / 2) ** (L - l)
    assert p.ratio(0) == (s * (1 + a**2) / 2) ** L
    # He et al. 2015 (arXiv:1502.01852, eq. 15 with PReLU slope a): σ_w² = 2/(1 + a²)
    # keeps every gradient second moment equal
    assert sp.simplify(p.formula.subs(s, 2 / (1 + a**2))) == 1


def test_catalog_leaky_relu_with_symbolic_sigma_depth_and_width() -> None:
    """The catalog's leaky_relu (slope 1/100) with σ_w² = s, depth L and width n symbols."""
    chain = vg.Chain("leaky_relu", init=vg.Init.custom(sigma_w2=s), depth=L, width=n)
    p = vg.predict(chain)
    chi = s * (1 + sp.Rational(1, 100) ** 2) / 2
    assert sp.simplify(p.formula - chi ** (L - l)) == 0
    ref = vg.predict(chain.subs(s="19/10", L=25, n=50)).grad_second_moment
    for layer in (0, 7, 25):
        got = float(p.ratio(layer).subs({s: sp.Rational(19, 10), L: 25}))
        assert math.isclose(got, ref[layer], rel_tol=RTOL)


@pytest.mark.parametrize(
    "values",
    [
        {"s": 2, "a": "1/10", "L": 30, "n": 64},
        {"s": "3/2", "a": "1/2", "L": 17, "n": 8},
        {"s": 1, "a": 1, "L": 40, "n": 100},
    ],
)
def test_leaky_relu_formulas_match_predict_by_substitution(values: dict[str, object]) -> None:
    p = vg.predict(leaky_chain())
    depth = int(values["L"])  # type: ignore[call-overload]
    assert agrees_with_predict(p.formula, "grad_second_moment", values, range(depth + 1))
    assert agrees_with_predict(p.q(), "q", values, range(1, depth + 1))
    assert agrees_with_predict(p.chi(), "chi", values, range(1, depth + 1))


def test_a_wrong_formula_is_caught_by_the_substitution_check() -> None:
    values = {"s": 2, "a": "1/10", "L": 12, "n": 64}
    wrong = (s * (1 + a) / 2) ** (L - l)  # slope instead of slope squared
    off_by_one = (s * (1 + a**2) / 2) ** (L - l + 1)
    assert not agrees_with_predict(wrong, "grad_second_moment", values, range(13))
    assert not agrees_with_predict(off_by_one, "grad_second_moment", values, range(13))


def test_q_with_a_symbolic_bias_is_exact_including_the_critical_case() -> None:
    p = vg.predict(leaky_chain(sigma_b2=sb, input_q=2))
    q = p.q()
    for sw2, slope, bias in ((1, 1, "1/4"), (2, 1, "1/3"), ("3/2", "1/3", "1/10")):
        numeric = leaky_chain(sigma_b2=sb, input_q=2).subs(s=sw2, a=slope, b=bias, L=9, n=32)
        ref = vg.predict(numeric).q
        sub = {s: sp.nsimplify(sw2), a: sp.nsimplify(slope), sb: sp.nsimplify(bias)}
        for layer in range(1, 10):
            got = float(q.xreplace(sub).subs(l, layer))
            assert math.isclose(got, ref[layer], rel_tol=RTOL)


def test_evaluate_returns_the_numeric_prediction() -> None:
    p = vg.predict(leaky_chain())
    num = p.evaluate(s=2, a=1, L=10, n=64)
    assert isinstance(num, vg.Prediction)
    assert num.grad_second_moment[0] == 2.0**10  # χ = 2·(1 + 1)/2 = 2 exactly
    partial = p.subs(a=1)
    assert isinstance(partial, vg.SymbolicPrediction)
    assert partial.formula == s ** (L - l)
    with pytest.raises(vg.InvalidArgumentError, match="no value for the symbols"):
        p.evaluate(s=2)
    with pytest.raises(vg.InvalidArgumentError, match="not a symbol of this chain"):
        p.evaluate(sigma=2)


def test_glorot_compromise_with_symbolic_fans() -> None:
    n_in, n_out = sp.symbols("n_in n_out", integer=True, positive=True)
    chain = vg.Chain("identity", init="xavier", depth=1, width=[n_in, n_out])
    p = vg.predict(chain)
    forward = sp.simplify(p.q(1) / chain.input_q)
    backward = p.ratio(0)
    # Glorot & Bengio 2010, eq. 12: Var = 2/(n_in + n_out), the compromise of
    # n_in Var = 1 (forward) and n_out Var = 1 (backward)
    assert chain.rule.variance(n_in, n_out) == 2 / (n_in + n_out)
    assert sp.simplify(forward - 2 * n_in / (n_in + n_out)) == 0
    assert sp.simplify(backward - 2 * n_out / (n_in + n_out)) == 0
    assert sp.simplify(forward + backward) == 2
    assert sp.simplify(backward.subs(n_out, n_in)) == 1
    numeric = vg.predict(chain.subs(n_in=100, n_out=300))
    assert math.isclose(float(backward.subs({n_in: 100, n_out: 300})),
                        numeric.grad_second_moment[0], rel_tol=RTOL)


def test_finite_width_ratio_in_symbolic_width_and_depth() -> None:
    relu = vg.Chain("relu", init="he", depth=L, width=n)
    got = vg.predict(relu).finite_width_ratio()
    # Hanin & Nica 2019 (arXiv:1812.05994): (1 + 2/n_0)·∏(1 + 5/n_l) for ReLU
    assert sp.simplify(got - (1 + 2 / n) * (1 + 5 / n) ** L) == 0
    exact = vg.finite_width_moment_ratio(vg.Chain("relu", init="he", depth=3, width=6))
    assert got.subs({n: 6, L: 3}) == exact


# --------------------------------------------------------------------------- recursion


def tanh_chain() -> vg.Chain:
    return vg.Chain("tanh", init=vg.Init.custom(sigma_w2=s), depth=L, width=n,
                    sigma_b2=sp.Rational(1, 20))


def test_tanh_returns_the_recursion_that_evaluates_to_predict() -> None:
    p = vg.predict(tanh_chain())
    assert isinstance(p, vg.SymbolicPrediction) and not p.exact
    assert isinstance(p.ratio(0), sp.Product)
    ref = vg.predict(tanh_chain().subs(s="3/2", L=12, n=100))
    sub = {s: sp.Rational(3, 2), L: 12}
    for layer in (0, 5, 11):
        got = float(p.ratio(layer).xreplace(sub).evalf())
        # the recursion runs predict's own moments: agreement to rounding
        assert math.isclose(got, ref.grad_second_moment[layer], rel_tol=1e-10)
    for layer in (1, 6, 12):
        assert math.isclose(float(p.q(layer).xreplace(sub).evalf()), ref.q[layer], rel_tol=1e-12)
        assert math.isclose(float(p.chi(layer).xreplace(sub).evalf()), ref.chi[layer],
                            rel_tol=1e-12)


def test_tanh_recurrence_integral_agrees_with_the_recursion() -> None:
    """The recurrence's unevaluated Gaussian integrals, lambdified to scipy's adaptive quad
    (an independent route: predict uses split Gauss–Legendre tables), map q^2 to q^3 and
    q^3 to χ^3 as the recursion does (quad's default 1.5e-8 relative sets the tolerance)."""
    p = vg.predict(tanh_chain())
    _, step, chi_eq, _ = p.recurrence
    sub = {s: sp.Rational(3, 2)}
    prev, cur = p.q(2).xreplace(sub), p.q(3).xreplace(sub)
    qsym = sp.Symbol("Q", positive=True)
    v_map = sp.lambdify(qsym, step.rhs.xreplace(sub).subs(l, 3).xreplace({prev: qsym}),
                        modules="scipy")
    c_map = sp.lambdify(qsym, chi_eq.rhs.xreplace(sub).subs(l, 3).xreplace({cur: qsym}),
                        modules="scipy")
    assert math.isclose(v_map(float(prev.evalf())), float(cur.evalf()), rel_tol=1e-8)
    assert math.isclose(c_map(float(cur.evalf())), float(p.chi(3).xreplace(sub).evalf()),
                        rel_tol=1e-8)


# --------------------------------------------------------------------------- descriptions


def test_symbolic_init_and_chain_validation() -> None:
    g = sp.Symbol("g", positive=True)
    assert vg.Init.custom(sigma_w2=s).variance(n, n) == s / n
    assert vg.Init.preset("he", gain=g).variance() == 2 * g**2 / vg.fan_in
    with pytest.raises(vg.InvalidArgumentError, match="sigma_w2"):
        vg.Init.custom(sigma_w2=-s)
    with pytest.raises(vg.InvalidArgumentError, match="symbolic rule cannot be sampled"):
        vg.Init.custom(sigma_w2=s).sample(np.random.default_rng(0), 3, 3)
    with pytest.raises(vg.InvalidArgumentError, match="depth"):
        vg.Chain("relu", depth=-L, width=n)
    with pytest.raises(vg.InvalidArgumentError, match="symbolic depth needs one width"):
        vg.Chain("relu", depth=L, width=[3, 4])
    with pytest.raises(vg.InvalidArgumentError, match="plain chains"):
        vg.Chain("relu", depth=L, width=n, residual=vg.Residual())
    symbolic = vg.Chain("relu", depth=L, width=8)
    with pytest.raises(vg.InvalidArgumentError, match=r"a simulation needs numbers.*symbols L"):
        vg.simulate(symbolic, trials=2, seed=0)
    with pytest.raises(vg.InvalidArgumentError, match="a verification needs numbers"):
        vg.verify(symbolic, trials=3, seed=0)
    with pytest.raises(vg.InvalidArgumentError, match="finite_width_ratio"):
        vg.finite_width_moment_ratio(symbolic)
    with pytest.raises(vg.InvalidArgumentError, match="square layers"):
        vg.predict(vg.Chain("tanh", depth=2, width=[n, 3, n]))
    assert json.loads(json.dumps(symbolic.to_dict()))["depth"] == "L"
    # numeric chains are untouched
    plain = vg.Chain("relu", depth=3, width=8)
    assert not plain.is_symbolic and isinstance(vg.predict(plain), vg.Prediction)
    assert vg.Chain("relu", depth=sp.Integer(3), width=sp.Integer(8)).widths == (8,) * 4


# --------------------------------------------------------------------------- maps


# scipy's quad evaluates the integrands far out, where exp(±z) overflows to inf (times a
# zero density), and nquad's inner integrals of a kinked φ report round-off at 1.5e-8:
# both harmless at the tolerance checked below
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("name", ["tanh", "relu", "erf", "sigmoid", "elu"])
def test_maps_lambdify_and_agree_with_predict(name: str) -> None:
    sw2, sb2 = sp.Rational(3, 2), sp.Rational(1, 10)
    chain = vg.Chain(name, init=vg.Init.custom(sigma_w2=sw2), depth=6, width=50, sigma_b2=sb2)
    ref = vg.predict(chain)
    # sigmoid′ = e^{−x}/(1 + e^{−x})² is inf/inf in floats far out: its integral is
    # lambdified to mpmath (no overflow), as the maps' docstring advises
    mods = "mpmath" if name == "sigmoid" else "scipy"
    vmap = sp.lambdify(vg.q, vg.variance_map(name, sw2, sb2)(vg.q), modules=mods)
    cmap = sp.lambdify(vg.q, vg.chi_map(name, sw2)(vg.q), modules=mods)
    for layer in range(1, 6):
        # quad's default tolerance (1.5e-8 relative) bounds the agreement for integrals
        assert math.isclose(float(vmap(ref.q[layer])), ref.q[layer + 1], rel_tol=1e-8)
        assert math.isclose(float(cmap(ref.q[layer])), ref.chi[layer], rel_tol=1e-8)
    corr = vg.correlation_map(name, sw2, sb2)
    c = maps.correlation_symbol
    fn = sp.lambdify((vg.q, c), corr.expr, modules="scipy")
    mom = vg.theory.meanfield.moment_provider(vg.activation(name))
    for q, cc in ((0.7, 0.3), (2.0, -0.6)):
        expected = (1.5 * mom.cross(q, cc) + 0.1) / (1.5 * mom.phi2(q) + 0.1)
        assert math.isclose(fn(q, cc), float(expected), rel_tol=1e-8)
        assert math.isclose(fn(q, 1.0), 1.0, rel_tol=1e-8)


def test_maps_closed_forms_from_the_literature() -> None:
    q = vg.q
    assert vg.variance_map("relu", s)(q) == s * q / 2  # He et al. 2015
    # Williams 1997: E[erf(u)²] = (2/π) asin(2q/(1 + 2q))
    assert sp.simplify(vg.variance_map("erf", s, sb)(q) - (
        2 * s / sp.pi * sp.asin(2 * q / (1 + 2 * q)) + sb)) == 0
    assert vg.chi_map(vg.activation("leaky_relu", slope=a), s)(q) == s * (a**2 + 1) / 2
    # Cho & Saul 2009: the degree-1 arc-cosine kernel gives c ↦ 1/π at c = 0 (σ_b² = 0)
    assert vg.correlation_map("relu", 2)(1, 0) == 1 / sp.pi
    assert sp.simplify(vg.correlation_map("identity", s)(q, sp.Rational(1, 3))) == \
        sp.Rational(1, 3)
    assert maps.map_method("tanh") == maps.METHOD_INTEGRAL
    assert maps.map_method("relu", "correlation") == maps.METHOD_HOMOGENEOUS
    with pytest.raises(vg.InvalidArgumentError, match="sigma_w2"):
        vg.variance_map("relu", -1)


def test_leaky_correlation_map_against_quadrature() -> None:
    act = vg.activation("leaky_relu", slope="1/5")
    fn = sp.lambdify((vg.q, maps.correlation_symbol), vg.correlation_map(act, 2).expr)
    mom = vg.theory.meanfield.moment_provider(act)
    for cc in (-0.9, -0.2, 0.4, 0.95):
        expected = mom.cross(1.3, cc) / mom.phi2(1.3)
        assert math.isclose(fn(1.3, cc), float(expected), rel_tol=1e-9)


# --------------------------------------------------------------------------- SymPy in/out


def test_gaussian_result_is_a_sympy_number_with_its_error() -> None:
    """Regression: ``r * 2`` raised TypeError and ``sp.Float(r)`` failed on the numeric
    result of gaussian_expectation."""
    r = vg.gaussian_expectation(vg.activation("tanh").derivative ** 2, 1)
    assert isinstance(r, vg.GaussianResult) and isinstance(r, sp.Expr)
    assert math.isclose(float(r * 2), 2 * r.value, rel_tol=1e-15)
    assert float(sp.Float(r)) == r.value and float(sp.exp(r)) == math.exp(r.value)
    assert (r + vg.q).free_symbols == {vg.q}
    assert 0 < r.error < 1e-12 and r.q == 1.0
    back = pickle.loads(pickle.dumps(r))
    assert back == r and back.error == r.error and back.method == r.method
    # Poole et al. 2016: E[tanh′(z)²] at q = 1, reference 0.4644029024 (mpmath, 30 digits)
    assert abs(r.value - 0.46440290244826812) < 1e-14


X = vg.x
EQUIVALENT = [
    (sp.tanh(X), "tanh(x)"),
    (sp.Max(X, 0), "relu(x)"),
    (sp.Min(sp.Max(X, -1), 1), "min(max(x, -1), 1)"),
    (sp.Abs(X), "abs(x)"),
    (X * sp.Heaviside(X), "relu(x)"),
    (sp.Piecewise((X / 10, X <= 0), (X, True)), "max(x, x/10)"),
    (sp.Piecewise((-1, X < -1), (X, X <= 1), (1, True)), "min(max(x, -1), 1)"),
    (sp.Piecewise((sp.exp(X) - 1, X <= 0), (X, True)),
     "x*heaviside(x) + (exp(x) - 1)*(1 - heaviside(x))"),
]


@pytest.mark.parametrize(("expr", "text"), EQUIVALENT)
def test_sympy_expressions_enter_like_text_and_round_trip(expr: sp.Expr, text: str) -> None:
    act = vg.activation(expr)
    ref = vg.activation(text)
    u = np.array([-3.0, -1.0, -0.4, 0.0, 0.3, 1.0, 2.5])
    assert np.array_equal(act(u), ref(u))
    away = np.array([-3.3, -0.7, -0.4, 0.3, 0.8, 2.5])  # off the kinks
    assert np.array_equal(act.grad(away), ref.grad(away))
    if isinstance(expr, sp.Piecewise):
        # at a kink φ′ is that of the piece whose closed condition holds (vgmath's
        # convention), read from the user's own Piecewise
        for k in act.breakpoints:
            assert act.grad(np.array([float(k)]))[0] == float(sp.diff(expr, X).subs(X, k))
    again = vg.activation(act.source)
    assert again.expr == act.expr and again.source == act.source
    assert pickle.loads(pickle.dumps(act)) == act
    assert vg.Chain(expr, depth=2, width=4).act == act


def test_sympy_expressions_are_held_to_the_text_rules() -> None:
    with pytest.raises(vg.ExpressionError, match="gamma"):
        vg.activation(sp.gamma(X))
    with pytest.raises(vg.ExpressionError, match=r"use vgmath\.x"):
        vg.activation(sp.Symbol("x") ** 2)
    with pytest.raises(vg.ExpressionError, match="substitute a number"):
        vg.activation(sp.Symbol("a") * X)
    with pytest.raises(vg.ExpressionError, match="does not depend on x"):
        vg.activation(sp.Integer(3) + 0 * X)
    with pytest.raises(vg.ExpressionError, match="more than 8 kinks"):  # MAX_KINKS
        vg.activation(sum(sp.Abs(X - k) for k in range(10)))
    with pytest.raises(vg.ExpressionError, match="at most 1000"):  # MAX_EXPONENT
        vg.activation(X**5000)
    with pytest.raises(vg.ExpressionError, match="Piecewise condition"):
        vg.activation(sp.Piecewise((X, sp.Eq(X, 0)), (2 * X, True)))


def test_docstring_examples() -> None:
    from vgmath.network import description
    from vgmath.symbolic import parse

    for module in (maps, symbolic_profile, parse, description):
        result = doctest.testmod(module, extraglobs={"sp": sp, "x": vg.x})
        assert result.failed == 0, module.__name__


def test_a_map_searches_only_its_own_expectation(monkeypatch: pytest.MonkeyPatch) -> None:
    # the variance map needs E[φ²] only, the χ map E[φ′²] only: each closed-form search may
    # take its effort limit, so the other one is not attempted
    seen: list[sp.Expr] = []
    real = maps._expectation

    def counting(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str]:
        seen.append(f)
        return real(f, q)

    monkeypatch.setattr(maps, "_expectation", counting)
    act = vg.activation("erf")
    vg.variance_map(act, 1)
    assert seen == [act.expr**2]
    seen.clear()
    vg.chi_map(act, 1)
    assert seen == [act.derivative**2]
    assert maps.map_method(act, "chi") == maps.METHOD_EXACT
