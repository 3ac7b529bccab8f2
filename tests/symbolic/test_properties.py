"""Property-based checks of the activations and their certified bounds (Hypothesis).

Over every catalog activation and generated parameter values:

* the certified bound holds: inf ≤ φ′(x) ≤ sup at sampled points, including |x| up to 1e4;
* the bound is tight: φ′(argsup) = sup when attained, φ′ → sup along x → ±∞ when approached;
* the symbolic φ′ agrees with a finite difference of the NumPy φ;
* NumPy and SymPy (evaluated with mpmath at 30 digits) agree.

Parameters are dyadic rationals (k/64), so float(parameter) is exact and NumPy and SymPy
describe the same function.

Float64 accuracy model (the one derived in tests/test_activation.py): a stable formula
returns f(x)(1+δ) with the input perturbed by at most Kε relative, so

    |numpy − f(x)| ≤ Kε·(|f(x)| + |x f′(x)|) + K·tiny·(1 + |x|),   K = 8, ε = 2⁻⁵².

The reference values come from the SymPy expressions evaluated with mpmath at 400 digits
(see ``_ref``: the SymPy forms cancel catastrophically far out in the tails).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, note, settings
from hypothesis import strategies as st

import vgmath as vg

x = vg.x
EPS = float(np.finfo(np.float64).eps)
TINY = float(np.finfo(np.float64).tiny)
K = 8  # see the module docstring
# the certified enclosures are 192-bit and the 30-digit reference is accurate to ~1e-30
# relative: values of φ′ computed with it may overshoot the enclosure by that much
REF_SLACK = mpmath.mpf("1e-28")

Params = tuple[tuple[str, float], ...]


# ------------------------------------------------------------------------ strategies


def _dyadic(lo: int, hi: int, denom: int = 64) -> st.SearchStrategy[float]:
    return st.integers(lo, hi).map(lambda k: k / denom)


# silu/softplus analyses cost ~0.5 s per new β, so β comes from a pool spanning 1/16 .. 16;
# slope and alpha analyses are cheap (piecewise constant / one exponential), so any k/64
BETAS = st.sampled_from(
    [1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1, 5 / 4, 3 / 2, 2, 3, 5, 8, 12, 16]
)
PARAMS: dict[str, dict[str, st.SearchStrategy[float]]] = {
    "silu": {"beta": BETAS},
    "softplus": {"beta": BETAS},
    "leaky_relu": {"slope": _dyadic(-3 * 64, 3 * 64)},  # -3 .. 3, 0 and 1 included
    "elu": {"alpha": _dyadic(1, 8 * 64)},  # 1/64 .. 8
}


@st.composite
def activations(draw: st.DrawFn) -> tuple[str, Params]:
    name = draw(st.sampled_from(vg.activations()))
    params = tuple((k, draw(s)) for k, s in sorted(PARAMS.get(name, {}).items()))
    return name, params


EXTREMES = [0.0, 1e-300, -1e-300, 0.5, -0.5, 3.0, -3.0, 30.0, -30.0, 1e3, -1e3, 1e4, -1e4]
points = st.one_of(
    st.floats(-10, 10, allow_nan=False),
    st.floats(-1e4, 1e4, allow_nan=False),
    st.sampled_from(EXTREMES),
)


# ------------------------------------------------------------------------ references


@cache
def _act(name: str, params: Params) -> vg.Activation:
    return vg.activation(name, **dict(params))


@cache
def _mp_fns(name: str, params: Params) -> tuple[Callable[[Any], Any], ...]:
    act = _act(name, params)
    return tuple(
        sp.lambdify(x, e, "mpmath") for e in (act.expr, act.derivative, act.second_derivative)
    )


REF_DPS = 400


def _ref(fn: Callable[[Any], Any], t: Any) -> Any:
    """fn(t) from the SymPy form at 400 digits.

    The SymPy forms cancel catastrophically in the tails (gelu′(−17) = ½ + erf(…)/2 + …
    sums to ~1e-62 from O(1) terms; at ±1e4 the result is ~e^{-5·10⁷}). With terms of size at
    most ~1e4 the absolute error at 400 digits is ~1e-390, far below the K·tiny·(1+|t|) floor
    of every tolerance here, and the relative error is below 1e-30 wherever the value exceeds
    1e-360. (Comparing two precisions is not enough: both can return the same cancelled 0.)
    """
    with mpmath.workdps(REF_DPS):
        return +mpmath.mpf(fn(mpmath.mpf(t)))


def _near_kink(act: vg.Activation, t: float, h: float) -> bool:
    return any(abs(t - float(b)) <= 2 * h for b in act.breakpoints)


# ------------------------------------------------------------------------ the bound holds


def check_bound_at(
    act: vg.Activation,
    sup_hi: Any,
    inf_lo: Any,
    t: float,
    f1: Callable[[Any], Any],
    f2: Callable[[Any], Any],
) -> None:
    """inf ≤ φ′(t) ≤ sup, for the 30-digit reference value and for the NumPy value."""
    with mpmath.workdps(60):
        exact = _ref(f1, t)
        assert exact <= sup_hi + REF_SLACK, f"φ′({t}) = {exact} > sup {sup_hi}"
        assert exact >= inf_lo - REF_SLACK, f"φ′({t}) = {exact} < inf {inf_lo}"
        num = float(act.grad(np.array([t]))[0])
        # the float64 model (module docstring) with f = φ′ and f′ = φ″
        slope = 0.0 if _near_kink(act, t, 0.0) else abs(t * float(_ref(f2, t)))
        tol = K * EPS * (abs(float(exact)) + slope) + K * TINY * (1 + abs(t))
        assert num <= float(sup_hi) + tol, f"NumPy φ′({t}) = {num} > sup {sup_hi}"
        assert num >= float(inf_lo) - tol, f"NumPy φ′({t}) = {num} < inf {inf_lo}"


@pytest.mark.slow
@given(a=activations(), ts=st.lists(points, min_size=1, max_size=12))
def test_certified_bound_holds_at_sampled_points(a: tuple[str, Params], ts: list[float]) -> None:
    name, params = a
    act = _act(name, params)
    b = act.derivative_bound()
    _, f1, f2 = _mp_fns(name, params)
    for t in ts:
        check_bound_at(act, b.sup_interval[1], b.inf_interval[0], t, f1, f2)


# ------------------------------------------------------------------------ tightness


def _points_of(s: sp.Set) -> list[sp.Expr]:
    """A few points inside a set where the extremum is attained."""
    out = []
    for part in s.args if isinstance(s, sp.Union) else (s,):
        if isinstance(part, sp.FiniteSet):
            out.extend(part)
            continue
        lo, hi = part.inf, part.sup
        if lo.is_finite and hi.is_finite:
            out.append((lo + hi) / 2)
        elif lo.is_finite:
            out += [lo + 1, lo + 100]
        elif hi.is_finite:
            out += [hi - 1, hi - 100]
        else:
            out += [sp.Integer(0), sp.Integer(7)]
        if not part.left_open and lo.is_finite:
            out.append(lo)
        if not part.right_open and hi.is_finite:
            out.append(hi)
    return out


def check_tight(
    value: sp.Expr,
    ivl: tuple[Any, Any],
    where: Any,
    attained: bool,
    f1: Callable[[Any], Any],
) -> None:
    """Attained: φ′ equals the bound where it is attained. Approached: φ′ converges to it."""
    with mpmath.workdps(60):
        target = mpmath.mpf(str(sp.N(value, 60))) if value.is_finite else None
        width = ivl[1] - ivl[0] + REF_SLACK
        if attained:
            pts = [where] if not isinstance(where, sp.Set) else _points_of(where)
            for p in pts:
                # at a critical point φ′ is stationary: a location error δ moves φ′ by
                # O(δ²), far below the enclosure width (δ ≈ 1e-46 here)
                v = _ref(f1, mpmath.mpf(str(sp.N(p, 60))))
                assert abs(v - target) <= width, f"φ′({p}) = {v} ≠ {value}"
            return
        places = list(where) if isinstance(where, sp.FiniteSet) else [where]
        for p in places:
            if p in (sp.oo, -sp.oo):
                sign = 1 if p == sp.oo else -1
                seq = [_ref(f1, sign * mpmath.mpf(10) ** k) for k in (1, 2, 4, 8, 16, 32)]
            else:  # only approached at an open end of a piece
                c = mpmath.mpf(str(sp.N(p, 60)))
                seq = [
                    _ref(f1, c + d * mpmath.mpf(10) ** -k) for k in (2, 4, 8, 16) for d in (1, -1)
                ]
                seq = [v for v in seq if abs(v - target) < 1] or seq
            if target is None:  # unbounded
                assert abs(seq[-1]) > 1e20
                continue
            gaps = [abs(v - target) for v in seq]
            assert gaps[-1] <= mpmath.mpf("1e-12") + width, (p, gaps)
            assert gaps[-1] <= gaps[0] + width, (p, gaps)


@pytest.mark.slow
@given(a=activations())
def test_certified_bound_is_tight(a: tuple[str, Params]) -> None:
    name, params = a
    act = _act(name, params)
    b = act.derivative_bound()
    note(str(b))
    f1 = _mp_fns(name, params)[1]
    check_tight(b.sup, b.sup_interval, b.argsup, b.attained, f1)
    check_tight(b.inf, b.inf_interval, b.arginf, b.inf_attained, f1)


# ------------------------------------------------------------------------ finite differences


@given(a=activations(), t=st.one_of(st.floats(-20, 20, allow_nan=False), st.sampled_from(EXTREMES)))
def test_symbolic_derivative_matches_a_finite_difference(a: tuple[str, Params], t: float) -> None:
    """Forward difference of the NumPy φ against the symbolic φ′.

    Taylor: |(φ(t+h) − φ(t))/h − φ′(t)| ≤ (h/2)·max_{[t,t+h]}|φ″|. The max is taken as twice
    the largest |φ″| at t, t+h/2 and t+h: over an interval of width h ≈ 1.5e-8·max(1,|t|)
    φ″ changes by h·|φ‴|, far less than that factor allows. Rounding: each NumPy φ value
    is off by at most Kε(|φ| + |t φ′|) (module docstring), and the quotient divides two such
    errors by h.
    """
    name, params = a
    act = _act(name, params)
    h0 = 2.0**-26 * max(1.0, abs(t))
    h = (t + h0) - t  # exactly representable step
    if h == 0 or _near_kink(act, t, h):
        return
    f0, f1, f2 = _mp_fns(name, params)
    phi = act(np.array([t, t + h]))
    fd = (float(phi[1]) - float(phi[0])) / h
    with mpmath.workdps(60):
        d1 = _ref(f1, t)
        m2 = 2 * max(abs(_ref(f2, t + s * h)) for s in (0, 0.5, 1))
        rounding = sum(
            K * EPS * (abs(float(_ref(f0, p))) + abs(p * float(_ref(f1, p))))
            + K * TINY * (1 + abs(p))
            for p in (t, t + h)
        )
        tol = float(h / 2 * m2) + rounding / h
        note(f"fd={fd!r} exact={d1} tol={tol}")
        assert abs(fd - float(d1)) <= tol


# ------------------------------------------------------------------------ NumPy against SymPy


@given(a=activations(), ts=st.lists(points, min_size=1, max_size=12))
def test_numpy_agrees_with_sympy_at_30_digits(a: tuple[str, Params], ts: list[float]) -> None:
    name, params = a
    act = _act(name, params)
    f0, f1, f2 = _mp_fns(name, params)
    arr = np.array(ts)
    phi, dphi = act(arr), act.grad(arr)
    for t, p, dp in zip(ts, phi, dphi, strict=True):
        with mpmath.workdps(60):
            e0, e1 = _ref(f0, t), _ref(f1, t)
            if _near_kink(act, t, 0.0):
                continue  # the kink convention is tested in tests/test_activation.py
            e2 = _ref(f2, t)
            tol0 = K * EPS * (abs(float(e0)) + abs(t * float(e1))) + K * TINY * (1 + abs(t))
            tol1 = K * EPS * (abs(float(e1)) + abs(t * float(e2))) + K * TINY * (1 + abs(t))
            assert abs(float(p) - float(e0)) <= tol0, (t, float(p), e0)
            assert abs(float(dp) - float(e1)) <= tol1, (t, float(dp), e1)


# ------------------------------------------------------------------------ quality


@pytest.mark.quality
def test_the_property_check_catches_a_wrong_sigmoid_bound() -> None:
    """Claiming sigmoid′ ≤ 0.24 (the truth is 1/4 at 0) must produce a counterexample."""
    act = vg.activation("sigmoid")
    f1 = sp.lambdify(x, act.derivative, "mpmath")
    f2 = sp.lambdify(x, act.second_derivative, "mpmath")
    wrong_sup = mpmath.mpf("0.24")
    found: list[float] = []

    @settings(max_examples=200, derandomize=True, database=None, deadline=None)
    @given(ts=st.lists(points, min_size=1, max_size=12))
    def prop(ts: list[float]) -> None:
        for t in ts:
            try:
                check_bound_at(act, wrong_sup, mpmath.mpf(0), t, f1, f2)
            except AssertionError:
                found.append(t)
                raise

    with pytest.raises(AssertionError, match="> sup"):
        prop()
    # sigmoid′(t) > 0.24 ⇔ |t| < 2 acosh(1/(2√0.24)) ≈ 0.4012
    assert found and all(abs(t) < 0.41 for t in found)


@pytest.mark.quality
def test_the_tightness_check_catches_a_loose_bound() -> None:
    """A valid but loose claim, sigmoid′ ≤ 0.3 'attained at 0', fails the tightness check;
    so does a wrong location for the true value."""
    f1 = sp.lambdify(x, vg.activation("sigmoid").derivative, "mpmath")
    exact = (mpmath.mpf("0.25"), mpmath.mpf("0.25"))
    with pytest.raises(AssertionError):
        check_tight(sp.Rational(3, 10), (mpmath.mpf("0.3"), mpmath.mpf("0.3")), 0, True, f1)
    with pytest.raises(AssertionError):
        check_tight(sp.Rational(1, 4), exact, sp.Rational(1, 10), True, f1)
    # and the true statement passes
    check_tight(sp.Rational(1, 4), exact, 0, True, f1)
