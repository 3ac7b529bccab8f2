"""Gaussian expectations E[f(√q z)], z ~ N(0, 1): exact, numeric with an error bound, series, fast.

Mean-field signal propagation (Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
arXiv:1611.01232) reduces a deep network at initialisation to one-dimensional Gaussian
integrals of the activation φ and its derivative,

.. math::

    \\mathbb{E}_z[\\varphi(\\sqrt{q} z)^2],\\qquad \\mathbb{E}_z[\\varphi'(\\sqrt{q} z)^2],
    \\qquad z \\sim \\mathcal{N}(0, 1),

and the two-dimensional correlation map E[φ(u₁)φ(u₂)]. This module evaluates them three ways:

* :class:`GaussianMoments` — a fast, vectorised evaluator for depth profiles (closed forms for
  the ReLU family, identity and erf; otherwise a fixed composite Gauss–Legendre rule split at
  the kinks, verified on construction);
* :func:`gaussian_expectation` — exact SymPy results where a closed form exists, otherwise
  adaptive quadrature split at the kinks with an error estimate (:class:`GaussianResult`);
* :func:`gaussian_series` — the small-q Taylor series.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from scipy import integrate

from ..core.errors import InvalidArgumentError, NumericalError
from ..symbolic.catalog import Activation
from ..symbolic.parse import to_sympy_number
from ..symbolic.piecewise import pieces
from ..symbolic.symbols import q as Q_SYMBOL
from ..symbolic.symbols import x as X
from ..symbolic.typeset import Typeset, latex_expr, latex_number
from .moments import _INV_SQRT_2PI, FloatArray, _Rule

__all__ = [
    "CLOSED_FORM_HOOKS",
    "GaussianResult",
    "cross_check",
    "expectation_method",
    "gaussian_expectation",
    "gaussian_series",
]


CLOSED_FORM_HOOKS: dict[str, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    # Williams 1997 (Neural Comput. 10(5), "Computing with infinite networks"):
    # E[erf(a x)²] = (2/π) asin(2a²v / (1 + 2a²v)).
    "erf(a*x)**2": lambda v, a: 2 / sp.pi * sp.asin(2 * a**2 * v / (1 + 2 * a**2 * v)),
}

METHOD_PIECEWISE = "closed form (pieces: polynomial × exp, over intervals)"
METHOD_ERF = "closed form (polynomial × Gaussian × erf^m, m ≤ 2; Williams 1997 base case)"
METHOD_ODD = "closed form (odd integrand: 0)"
METHOD_QUAD = "quadrature (scipy quad, split at kinks)"

_ALLOWED_FUNCS = (sp.exp, sp.erf, sp.erfc)


_RESULT_FIELDS = frozenset({"value", "error", "method", "expr", "q"})


class GaussianResult(Typeset, sp.Float):
    """A numerical Gaussian expectation E_z[f(√q z)]: a SymPy ``Float`` (53 bits, the
    double it was computed in) that carries its absolute error estimate.

    It is a SymPy number like any other — ``r * 2``, ``r + vg.q``, ``sp.exp(r)``,
    ``sp.Float(r)``, ``float(r)`` and ``lambdify`` all work, and ``r == 0.4644…`` compares
    the value — so :func:`gaussian_expectation` always returns a SymPy expression. The extra
    fields are read-only attributes: ``value`` (the float), ``error`` (absolute), ``method``
    (the path that produced it), ``expr`` (the integrand f in :data:`vgmath.x`) and ``q``.
    Arithmetic returns plain SymPy numbers: the error belongs to this value only, not to
    expressions built from it (propagate it yourself, e.g. ``2*r`` has error ``2*r.error``).
    ``.latex(mode, digits)`` writes the value with its error (:mod:`vgmath.symbolic.typeset`).

    ``error`` is the larger of the adaptive quadrature's own estimate and the disagreement
    with an independent composite Gauss–Legendre rule, plus the rounding floor
    ~1e-15·E|f|.
    """

    __slots__ = ("_vg_error", "_vg_expr", "_vg_method", "_vg_q")

    def __new__(
        cls, value: float, error: float, method: str, expr: sp.Expr, q: float
    ) -> GaussianResult:
        obj = sp.Float.__new__(cls, float(value), precision=53)
        if not isinstance(obj, GaussianResult):  # SymPy's cached zero: a fresh instance
            obj = sp.Expr.__new__(cls)
            obj._mpf_ = sp.Float(float(value), precision=53)._mpf_
            obj._prec = 53
        obj._vg_error = float(error)
        obj._vg_method = str(method)
        obj._vg_expr = expr
        obj._vg_q = float(q)
        return obj  # type: ignore[no-any-return]

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RESULT_FIELDS:  # read-only, as the frozen record it replaces
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super().__setattr__(name, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (GaussianResult, (self.value, self.error, self.method, self.expr, self.q))

    @property
    def value(self) -> float:
        """The expectation as a Python float."""
        return float(self)

    @property
    def error(self) -> float:
        """Absolute error estimate of :attr:`value`."""
        return self._vg_error  # type: ignore[no-any-return]

    @property
    def method(self) -> str:
        """The path that produced the value (:data:`METHOD_QUAD`)."""
        return self._vg_method  # type: ignore[no-any-return]

    @property
    def expr(self) -> sp.Expr:
        """The integrand f (an expression in :data:`vgmath.x`)."""
        return self._vg_expr  # type: ignore[no-any-return]

    @property
    def q(self) -> float:
        """The second moment q at which E_z[f(√q z)] was evaluated."""
        return self._vg_q  # type: ignore[no-any-return]

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        r"""``\mathbb{E}_{z}\left[f(\sqrt{q}z)\right] \approx value \pm error`` at this q
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        z = sp.Symbol("z", real=True)
        inner = latex_expr(self.expr.subs(X, sp.sqrt(Q_SYMBOL) * z), digits, max_chars=10**9)
        return [
            ("expectation", (rf"\mathbb{{E}}_{{z}}\left[{inner}\right] \approx "
             rf"{latex_number(self.value, digits)} \pm {latex_number(self.error, 2)}")),
            ("at", rf"q = {latex_number(self.q, digits)}"),
        ]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python fields (the expression as text), e.g. for JSON."""
        return {
            "value": self.value,
            "error": self.error,
            "method": self.method,
            "expr": str(self.expr),
            "q": self.q,
        }


# --------------------------------------------------------------------------- argument checks


def _as_integrand(f: Any) -> sp.Expr:
    if isinstance(f, Activation):
        return f.expr
    if isinstance(f, bool) or not isinstance(f, (sp.Basic, int, float, np.number)):
        raise InvalidArgumentError(
            "f", f, "expected a SymPy expression in vgmath.x (e.g. act.derivative**2) or an "
            "Activation"
        )
    expr = sp.sympify(f)
    if not isinstance(expr, sp.Expr):
        raise InvalidArgumentError("f", f, "expected a SymPy expression in vgmath.x")
    other = expr.free_symbols - {X}
    if other:
        names = ", ".join(sorted(str(s) for s in other))
        hint = " (use vgmath.x, the real symbol)" if any(str(s) == "x" for s in other) else ""
        raise InvalidArgumentError(
            "f", f, f"must depend on vgmath.x only; it has other free symbols: {names}{hint}"
        )
    return expr


def _as_q_arg(q: Any) -> sp.Expr:
    if isinstance(q, sp.Basic) and getattr(q, "free_symbols", None):
        qe = sp.sympify(q)
        if qe.is_positive is False or qe.is_real is False:
            raise InvalidArgumentError("q", q, "must be positive")
        return qe
    qe = to_sympy_number("q", q)
    if not qe.is_positive:
        raise InvalidArgumentError("q", q, "must be > 0")
    return qe


def _check_rtol(rtol: Any) -> float:
    try:
        r = float(rtol)
    except (TypeError, ValueError):
        raise InvalidArgumentError("rtol", rtol, "expected a number") from None
    if not 1e-13 <= r < 1:
        raise InvalidArgumentError(
            "rtol", rtol, "must lie in [1e-13, 1) (double-precision quadrature)"
        )
    return r


# --------------------------------------------------------------------------- exact: terms


@dataclass(frozen=True)
class _Term:
    """coeff · x^k · exp(lin·x + quad·x²) · erf(a·x)^m."""

    coeff: sp.Expr
    k: int
    lin: sp.Expr
    quad: sp.Expr
    m: int
    a: sp.Expr


def _supported(e: sp.Expr) -> bool:
    """Only polynomials, exp, erf, erfc and integer powers: expanding anything else could hang."""
    for node in sp.preorder_traversal(e):
        if not node.has(X):
            continue
        if isinstance(node, sp.Function) and not isinstance(node, _ALLOWED_FUNCS):
            return False
        if (
            isinstance(node, sp.Pow)
            and node.base.has(X)
            and not isinstance(node.base, sp.exp)
            and not (node.exp.is_Integer and node.exp > 0)
        ):
            return False
        if isinstance(node, sp.Pow) and node.exp.has(X) and node.base is not sp.E:
            return False
    return True


def _terms(e: sp.Expr) -> list[_Term] | None:
    if not _supported(e):
        return None
    e = e.replace(sp.erfc, lambda u: 1 - sp.erf(u))
    out: list[_Term] = []
    for t in sp.Add.make_args(sp.expand(e)):
        if t == 0:
            continue
        coeff, dep = t.as_independent(X, as_Add=False)
        k, m = 0, 0
        lin: sp.Expr = sp.S.Zero
        quad: sp.Expr = sp.S.Zero
        a: sp.Expr | None = None
        for fct in sp.Mul.make_args(dep):
            if fct == 1:
                continue
            base, ex = fct.as_base_exp()
            if base == X and ex.is_Integer and ex > 0:
                k += int(ex)
            elif base is sp.E or isinstance(base, sp.exp):
                arg = sp.expand(ex if base is sp.E else base.args[0] * ex)
                poly = arg.as_poly(X)
                if poly is None or poly.degree() > 2:
                    return None
                c = poly.all_coeffs()[::-1] + [sp.S.Zero] * 3
                coeff, lin, quad = coeff * sp.exp(c[0]), lin + c[1], quad + c[2]
            elif isinstance(base, sp.erf) and ex.is_Integer and ex > 0:
                slope = sp.simplify(base.args[0] / X)
                if slope.has(X) or (a is not None and sp.simplify(slope - a) != 0):
                    return None
                a, m = slope, m + int(ex)
            else:
                return None
        out.append(_Term(coeff, k, lin, quad, m, a if a is not None else sp.S.One))
    return out


# --------------------------------------------------------------------------- exact: integrals


def _t_pow_density(j: int, t: sp.Expr) -> sp.Expr:
    """t^j e^{−t²/2}/√(2π), which vanishes at ±∞."""
    if t in (sp.oo, -sp.oo):
        return sp.S.Zero
    return t**j * sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)


def _std_moment(j: int, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """∫_lo^hi t^j e^{−t²/2} dt/√(2π) (exact), by parts:
    ∫t^j e^{−t²/2} = −t^{j−1}e^{−t²/2} + (j−1)∫t^{j−2}e^{−t²/2}."""
    if j == 0:  # Φ(hi) − Φ(lo), with erfc on half-lines (no 1 − erf cancellation)
        if hi == sp.oo:
            return sp.erfc(lo / sp.sqrt(2)) / 2 if lo != -sp.oo else sp.S.One
        if lo == -sp.oo:
            return sp.erfc(-hi / sp.sqrt(2)) / 2
        return (sp.erf(hi / sp.sqrt(2)) - sp.erf(lo / sp.sqrt(2))) / 2
    if j == 1:
        return _t_pow_density(0, lo) - _t_pow_density(0, hi)
    return _t_pow_density(j - 1, lo) - _t_pow_density(j - 1, hi) + (j - 1) * _std_moment(
        j - 2, lo, hi
    )


def _effective_variance(term: _Term, q: sp.Expr) -> sp.Expr | None:
    """v = q/(1 − 2·quad·q): e^{quad x²} N(x; 0, q) = √(v/q) N(x; 0, v). None if it diverges."""
    lam = 1 - 2 * term.quad * q
    if lam.is_positive is not True:
        return None
    return q / lam


def _interval_term(term: _Term, q: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr | None:
    """E_{x~N(0,q)}[coeff x^k e^{αx+γx²}; lo < x < hi] by completing the square (m = 0)."""
    v = _effective_variance(term, q)
    if v is None or term.m:
        return None
    mu, sv, k = term.lin * v, sp.sqrt(v), term.k
    a, b = ((lo - mu) / sv, (hi - mu) / sv)
    total = sp.S.Zero
    for j in range(k + 1):
        total += sp.binomial(k, j) * mu ** (k - j) * sv**j * _std_moment(j, a, b)
    return term.coeff * sp.sqrt(v / q) * sp.exp(term.lin**2 * v / 2) * total


def _erf_moment(k: int, m: int, v: sp.Expr, a: sp.Expr) -> sp.Expr:
    """G(k, m) = E_{x~N(0,v)}[x^k erf(a x)^m] for m ≤ 2, by Stein's lemma E[x g] = v E[g′].

    G(k, 0) = v^{k/2}(k−1)!!; G(0, 2) is the Williams 1997 hook; for k ≥ 1,
    G(k, m) = v[(k−1) G(k−2, m) + m (2a/√π) E[x^{k−1} erf^{m−1} e^{−a²x²}]], and
    e^{−a²x²} N(x; 0, v) = √(v′/v) N(x; 0, v′) with v′ = v/(1+2a²v).
    """
    if (k + m) % 2:  # odd integrand
        return sp.S.Zero
    if m == 0:
        return v ** sp.Rational(k, 2) * sp.factorial2(k - 1)
    if k == 0:
        return CLOSED_FORM_HOOKS["erf(a*x)**2"](v, a)  # m == 2 here (m == 1 is odd)
    vp = v / (1 + 2 * a**2 * v)
    lower = (k - 1) * _erf_moment(k - 2, m, v, a) if k >= 2 else sp.S.Zero
    shifted = sp.sqrt(vp / v) * _erf_moment(k - 1, m - 1, vp, a)
    return v * (lower + m * 2 * a / sp.sqrt(sp.pi) * shifted)


def _whole_line_term(term: _Term, q: sp.Expr) -> sp.Expr | None:
    if term.m == 0:
        return _interval_term(term, q, -sp.oo, sp.oo)
    if term.m > 2 or term.lin != 0:
        return None
    v = _effective_variance(term, q)
    if v is None:
        return None
    return term.coeff * sp.sqrt(v / q) * _erf_moment(term.k, term.m, v, term.a)


def _is_odd(f: sp.Expr) -> bool:
    """f(−x) = −f(x) on every piece (a cheap numerical screen first, then exact)."""
    for iv, e in pieces(f.subs(X, -X) + f):
        if iv.measure == 0 or e == 0:
            continue
        probes = [p for p in (-2.13, -0.71, 0.37, 1.29) if iv.contains(p) is sp.true]
        if any(abs(complex(e.subs(X, p).evalf(20))) > 1e-12 for p in probes):
            return False
        if sp.expand(e) != 0 and sp.simplify(e) != 0:
            return False
    return True


def _is_one_minus_erf(n: sp.Basic) -> bool:
    if not (n.is_Add and len(n.args) == 2 and sp.S.One in n.args):
        return False
    other = n.args[0] if n.args[1] == 1 else n.args[1]
    return bool(other.is_Mul and other.args[0] == -1 and isinstance(other.args[1], sp.erf))


def _erfc_of(n: sp.Basic) -> sp.Expr:
    other = n.args[0] if n.args[1] == 1 else n.args[1]
    return sp.erfc(other.args[1].args[0])


def _tidy(e: sp.Expr) -> sp.Expr:
    """Simplify a closed form (full ``simplify`` only when small: it can be slow), in erfc or
    erf form, whichever is shorter, and write a remaining 1 − erf(u) as erfc(u)."""
    candidates = [_simplify(e)]
    if e.has(sp.erfc):  # erf and erfc of one argument do not cancel each other: try erf only
        candidates.append(_simplify(e.replace(sp.erfc, lambda u: 1 - sp.erf(u))))
    best = min(candidates, key=sp.count_ops)  # ties keep the erfc form (no cancellation)
    return best.replace(_is_one_minus_erf, _erfc_of)


def _simplify(e: sp.Expr) -> sp.Expr:
    if sp.count_ops(e) <= 150:
        return sp.simplify(e)
    t = sp.together(e)
    return min(sp.cancel(t), sp.factor_terms(t), key=sp.count_ops)


def _closed_form(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str] | None:
    """(exact E_{x~N(0,q)}[f(x)], method) or None; never calls ``integrate``."""
    out = _termwise(f, q)
    if out is None and _is_odd(f):
        return sp.S.Zero, METHOD_ODD
    return out


def _termwise(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str] | None:
    parts = [(iv, e) for iv, e in pieces(f) if iv.measure != 0]
    if len(parts) == 1 and parts[0][0] == sp.Interval(-sp.oo, sp.oo):
        terms = _terms(parts[0][1])
        if terms is None:
            return None
        vals = [_whole_line_term(t, q) for t in terms]
        if any(v is None for v in vals):
            return None
        method = METHOD_ERF if any(t.m for t in terms) else METHOD_PIECEWISE
        return _tidy(sp.Add(*vals)), method
    total = sp.S.Zero
    for iv, e in parts:
        terms = _terms(e)
        if terms is None:
            return None
        for t in terms:
            val = _interval_term(t, q, iv.start, iv.end)
            if val is None:
                return None
            total += val
    return _tidy(total), METHOD_PIECEWISE


# --------------------------------------------------------------------------- numeric


class _Weighted:
    """f(u)·e^{lw} for a piecewise f, in floats where they suffice and in mpmath (30 digits)
    where a piece overflows (sigmoid′ = e^{−x}/(1+e^{−x})² at x = −800 is inf/inf in floats,
    e^{2x}·e^{−z²/2} is inf·0): the product is formed before rounding to a float."""

    def __init__(self, parts: list[tuple[sp.Interval, sp.Expr]]) -> None:
        self.parts = [
            (
                iv,
                float(iv.start),
                float(iv.end),
                sp.lambdify(X, e, modules=["scipy", "numpy"]),
                sp.lambdify(X, e, modules="math"),
                sp.lambdify(X, e, modules="mpmath"),
            )
            for iv, e in parts
        ]

    def _piece(self, u: float) -> tuple[Any, ...]:
        for p in self.parts:
            iv, lo, hi = p[0], p[1], p[2]
            above = lo < u or (lo == u and not iv.left_open)
            if above and (u < hi or (u == hi and not iv.right_open)):
                return p
        raise NumericalError(f"no piece of f contains x = {u}")

    def _slow(self, u: float, lw: float) -> float:
        with mpmath.workdps(30):
            return float(self._piece(u)[5](mpmath.mpf(u)) * mpmath.exp(lw))

    def scalar(self, u: float, lw: float) -> float:
        try:
            v = float(self._piece(u)[4](u)) * math.exp(lw)
        except (OverflowError, ValueError, ZeroDivisionError):
            v = math.nan
        return v if math.isfinite(v) else self._slow(u, lw)

    def vector(self, u: FloatArray, lw: FloatArray) -> FloatArray:
        out = np.empty_like(u)
        for iv, lo, hi, vec, _, _ in self.parts:
            mask = (u > lo) | ((u == lo) & (not iv.left_open))
            mask &= (u < hi) | ((u == hi) & (not iv.right_open))
            if np.any(mask):
                with np.errstate(all="ignore"):
                    vals = np.asarray(vec(u[mask]), dtype=np.float64) * np.exp(lw[mask])
                out[mask] = vals
        for i in np.flatnonzero(~np.isfinite(out)):
            out[i] = self._slow(float(u[i]), float(lw[i]))
        return out


def _rule_estimate(
    fw: _Weighted, kinks: tuple[float, ...], s: float
) -> tuple[float, float]:
    """(E[f(s z)], E|f(s z)|) by the composite Gauss–Legendre rule, widening the z-range
    until the integrand is negligible at its ends (growth like e^{cx} moves the mass out)."""
    for K in (10.0, 20.0, 30.0):
        z, w = _Rule(kinks, n=20, K=K, h=K / 5).centred(np.array([s]))
        z, w = z[0], w[0]
        with np.errstate(divide="ignore"):  # collapsed intervals have w = 0
            lw = np.log(w)  # no underflow: w ≥ ~1e-3·e^{−K²/2} > 1e-200 for K ≤ 30
        vals = fw.vector(s * z, lw)
        if not np.all(np.isfinite(vals)):
            raise NumericalError(f"f(√q z) is not finite for q = {s * s:g}")
        value, abs_scale = float(vals.sum()), float(np.abs(vals).sum())
        ends = np.array([-K, K])
        edge = np.abs(fw.vector(s * ends, np.log(_INV_SQRT_2PI) - 0.5 * ends**2)).max()
        if edge <= 1e-17 * abs_scale:
            break
    return value, abs_scale


def _quadrature(f: sp.Expr, q: float, rtol: float) -> GaussianResult:
    """E_z[f(√q z)] by scipy's adaptive quad on each piece, split at kinks/√q and at the
    images ±2^k/√q of φ's natural scales, cross-checked against the Gauss–Legendre rule."""
    parts = [(iv, e) for iv, e in pieces(f) if iv.measure != 0]
    s = math.sqrt(q)
    fw = _Weighted(parts)
    kinks = tuple(sorted({float(p) for iv, _ in parts for p in (iv.start, iv.end) if p.is_finite}))
    try:
        # independent estimate, and the magnitude E|f| that sets the rounding floor
        rule_value, abs_scale = _rule_estimate(fw, kinks, s)
    except NumericalError as exc:
        raise NumericalError(f"E[f(√q z)] for f = {f} at q = {q}: {exc}") from None
    floor = 1e-15 * abs_scale
    grid = [0.0, *[sg * 2.0**k for k in range(-4, 10) for sg in (-1.0, 1.0)]]
    log_density = math.log(_INV_SQRT_2PI)
    value, err = 0.0, 0.0
    for iv, _ in parts:
        lo = float(iv.start) / s if iv.start.is_finite else -math.inf
        hi = float(iv.end) / s if iv.end.is_finite else math.inf
        cuts = sorted({lo, hi, *(p / s for p in grid if lo < p / s < hi and abs(p / s) < 12)})
        epsabs = 0.1 * rtol * abs_scale / max(1, len(cuts))

        def integrand(t: float) -> float:
            return fw.scalar(s * t, log_density - 0.5 * t * t)

        for a, b in itertools.pairwise(cuts):
            val, est, *_ = integrate.quad(
                integrand, a, b, epsabs=epsabs, epsrel=rtol / 10, limit=200, full_output=1
            )
            value += val
            err += est
    error = max(err, abs(value - rule_value)) + floor
    if not (math.isfinite(value) and error <= max(rtol * abs(value), rtol * abs_scale)):
        raise NumericalError(
            f"E[f(√q z)] for f = {f} at q = {q}: quadrature reached only ±{error:.1e} "
            f"(value {value:.6g}); rtol = {rtol:g}"
        )
    return GaussianResult(value=value, error=error, method=METHOD_QUAD, expr=f, q=q)


# --------------------------------------------------------------------------- public API


@lru_cache(maxsize=512)
def _exact(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str] | None:
    # a symbol of unknown sign is replaced by a positive one for the computation
    qp = q
    subs: dict[sp.Basic, sp.Basic] = {}
    for sym in q.free_symbols:
        if not sym.is_positive:
            d = sp.Dummy(sym.name, positive=True)
            subs[d] = sym
            qp = qp.subs(sym, d)
    out = _closed_form(f, qp)
    if out is None:
        return None
    return (out[0].xreplace(subs) if subs else out[0]), out[1]


def gaussian_expectation(f: Any, q: Any, *, rtol: float = 1e-12) -> sp.Expr:
    r"""The Gaussian expectation :math:`\mathbb{E}_{z\sim\mathcal{N}(0,1)}[f(\sqrt{q}\,z)]`.

    ``f`` is a SymPy expression in :data:`vgmath.x` (``act.derivative**2``) or an
    :class:`~vgmath.Activation` (meaning φ); ``q`` a positive number or a SymPy expression
    (``vg.q``).

    * **Exact** (a SymPy expression) when a closed form exists — never by calling
      ``integrate``: each smooth piece of ``f`` (split at its kinks,
      ``vgmath.symbolic.piecewise``) is
      expanded into terms ``x^k e^{αx+γx²}`` integrated over the piece's interval by
      completing the square (giving erf/exp terms: ReLU family, hard_tanh, hard_sigmoid,
      ELU, SELU, erf′ᵏ), or, on the whole line, terms ``x^k e^{γx²} erf(ax)^m`` (m ≤ 2)
      reduced by Stein's lemma E[x g(x)] = v E[g′(x)] to the Williams (1997) base case
      E[erf(ax)²] = (2/π) asin(2a²v/(1+2a²v)) (erf, GELU's φ, φ², φ′²); odd integrands give 0.
    * Otherwise **numeric**: a :class:`GaussianResult`, a SymPy ``Float`` carrying
      ``.value`` and ``.error`` (so the result is a SymPy expression either way):
      adaptive quadrature on each piece split at the kinks b/√q, cross-checked against a
      composite Gauss–Legendre rule; relative accuracy ``rtol`` (absolute ``rtol·E|f|`` when
      the expectation nearly cancels). A symbolic q without a closed form raises
      :class:`~vgmath.InvalidArgumentError`.

    >>> import vgmath as vg
    >>> relu = vg.activation("relu")
    >>> vg.gaussian_expectation(relu.expr**2, vg.q)
    q/2
    >>> vg.gaussian_expectation(vg.activation("erf").expr**2, 0.5)
    1/3
    >>> r = vg.gaussian_expectation(vg.activation("tanh").derivative**2, 1)
    >>> round(r.value, 12), r.error < 1e-12
    (0.464402902448, True)

    References: Poole et al. 2016 (arXiv:1606.05340); Williams 1997, Neural Comput. 10(5).
    """
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    tol = _check_rtol(rtol)
    exact = _exact(expr, qe)
    if exact is not None:
        return exact[0]
    if qe.free_symbols:
        raise InvalidArgumentError(
            "q", q, f"no closed form is known for E[f(√q z)] with f = {expr}; pass a numeric "
            "q for quadrature, or use gaussian_series(f, q, order) for small q"
        )
    return _quadrature(expr, float(qe), tol)


def expectation_method(f: Any, q: Any) -> str:
    """Which path :func:`gaussian_expectation` takes for (f, q): one of the ``METHOD_*``
    strings ("closed form (…)" naming the rule used, or the quadrature)."""
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    exact = _exact(expr, qe)
    if exact is not None:
        return exact[1]
    if qe.free_symbols:
        return "none (no closed form; q is symbolic)"
    return METHOD_QUAD


def gaussian_series(f: Any, q: Any, order: int) -> sp.Expr:
    r"""Small-q expansion :math:`\mathbb{E}[f(\sqrt{q}z)] = \sum_{k\le n} f^{(2k)}(0)\,
    \frac{(2k-1)!!}{(2k)!}\, q^k + O(q^{n+1})` (n = ``order``), from E[z^{2k}] = (2k−1)!!.

    Valid when f is smooth at 0. Kinks elsewhere (hard_tanh at ±1) only add terms of order
    e^{−b²/(2q)}, beyond every power of q, so the series is still the asymptotic expansion.
    A kink at 0 (ReLU) makes the expansion one in √q: refused.

    >>> import vgmath as vg
    >>> vg.gaussian_series(vg.activation("tanh").expr**2, vg.q, 2)
    -2*q**2 + q
    """
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise InvalidArgumentError("order", order, "expected a non-negative integer")
    n = int(order)
    piece = None
    for iv, e in pieces(expr):
        if iv.measure != 0 and iv.contains(0) is sp.true and 0 not in (iv.start, iv.end):
            piece = e
    if piece is None:
        raise InvalidArgumentError(
            "f", f, "f is not smooth at 0 (a kink at x = 0): E[f(√q z)] has no power series "
            "in q there; use gaussian_expectation"
        )
    taylor = sp.series(piece, X, 0, 2 * n + 1).removeO()
    poly = sp.expand(taylor).as_poly(X)
    # SymPy expands towards 0⁺: a fractional power of something vanishing at 0
    # (sqrt(x² + x⁴) = |x|·√(1+x²)) can look analytic from the right only
    if poly is not None and _has_root_at_zero(piece):
        left = sp.series(piece, X, 0, 2 * n + 1, dir="-").removeO()
        if sp.expand(left - taylor) != 0:
            poly = None
    if poly is None:
        raise InvalidArgumentError(
            "f", f, f"f is not analytic at 0 (its expansion is {taylor}); no power series in q"
        )
    total = sp.S.Zero
    for (deg,), coeff in poly.terms():
        if deg % 2 == 0 and deg // 2 <= n:
            total += coeff * sp.factorial2(deg - 1) * qe ** (deg // 2)
    return sp.expand(total)


def _has_root_at_zero(e: sp.Expr) -> bool:
    for node in sp.preorder_traversal(e):
        if (
            isinstance(node, sp.Pow)
            and node.base.has(X)
            and not node.exp.is_Integer
            and sp.limit(node.base, X, 0) == 0
        ):
            return True
    return False


def cross_check(f: Any, q: Any, *, rtol: float = 1e-10) -> float:
    """Relative disagreement between the closed form of E[f(√q z)] and quadrature.

    Raises :class:`NumericalError` when it exceeds ``rtol`` (relative to E|f|, the scale the
    quadrature is accurate to): the test that every closed form must pass.
    """
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    exact = _exact(expr, qe)
    if exact is None:
        raise InvalidArgumentError("f", f, "has no closed form to check")
    num = _quadrature(expr, float(qe), 1e-12)
    ex = float(sp.N(exact[0], 30))
    parts = [(iv, e) for iv, e in pieces(expr) if iv.measure != 0]
    scale = max(abs(num.value), abs(_abs_expectation(parts, float(qe))))
    rel = abs(ex - num.value) / scale if scale else abs(ex - num.value)
    if rel > rtol:
        raise NumericalError(
            f"closed form of E[f(√q z)] for f = {expr} at q = {qe} disagrees with quadrature: "
            f"{ex!r} vs {num.value!r} ± {num.error:.1e} (relative {rel:.1e} > {rtol:g})"
        )
    return rel


def _abs_expectation(parts: list[tuple[sp.Interval, sp.Expr]], q: float) -> float:
    kinks = tuple(sorted({float(p) for iv, _ in parts for p in (iv.start, iv.end) if p.is_finite}))
    return _rule_estimate(_Weighted(parts), kinks, math.sqrt(q))[1]
