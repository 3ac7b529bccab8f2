"""Exp-polynomial normal forms of φ″: certified signs in the tails, limits at ±∞ and exact roots
(see the package docstring, step 1).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mpmath
import sympy as sp

from ...core.errors import NumericalError
from ..symbols import x
from .interval import MPF, _compile, _const, _enclose, _hi, _ivl, _lo, _nonneg, _nonpos, _sign

if TYPE_CHECKING:
    pass


# =====================================================================================
# exp-polynomial normal forms: tails, limits, exact roots
# =====================================================================================

_Y = sp.Symbol("_y", positive=True)


@dataclass(frozen=True)
class _Group:
    """``coeff · var**power · exp(q(var))`` with q a polynomial without constant term."""

    coeff: sp.Expr
    power: sp.Expr
    q: sp.Expr


def _terms(expr: sp.Expr, var: sp.Symbol) -> list[_Group] | None:
    """Split an expanded sum into exp-polynomial groups (None if it is not of that form)."""
    groups: list[_Group] = []
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff: sp.Expr = sp.Integer(1)
        power: sp.Expr = sp.Integer(0)
        q: sp.Expr = sp.Integer(0)
        for f in sp.Mul.make_args(term):
            if not f.has(var):
                if f.has(sp.I):
                    return None
                coeff = coeff * f
            elif f == var:
                power += 1
            elif f.is_Pow and f.base == var and not f.exp.has(var) and f.exp.is_real:
                power += f.exp
            elif isinstance(f, sp.exp):
                q += f.args[0]
            elif f.is_Pow and isinstance(f.base, sp.exp) and not f.exp.has(var):
                q += f.base.args[0] * f.exp
            else:
                return None
        q = sp.expand(q)
        if q.has(var) and not q.is_polynomial(var):
            return None
        q0 = q.subs(var, 0)
        if q0 != 0:
            coeff = coeff * sp.exp(q0)
            q = sp.expand(q - q0)
        for i, gr in enumerate(groups):
            if gr.power == power and sp.expand(gr.q - q) == 0:
                groups[i] = _Group(gr.coeff + coeff, power, gr.q)
                break
        else:
            groups.append(_Group(coeff, power, q))
    out = []
    for gr in groups:
        c = _nonzero_or_none(gr.coeff)
        if c is None:
            return None
        if c:
            out.append(gr)
    return out


def _nonzero_or_none(c: sp.Expr) -> bool | None:
    """True if c ≠ 0, False if c = 0, None if neither could be proved."""
    if c == 0:
        return False
    s = _sign(_const(c))
    if s:
        return True
    c2 = sp.simplify(c)
    if c2 == 0:
        return False
    return bool(_sign(_const(c2))) or None


def _leading_coeff_sign(d: sp.Expr, var: sp.Symbol) -> int:
    """Sign of the leading coefficient of a polynomial in var (0 for the zero polynomial)."""
    d = sp.expand(d)
    if d == 0:
        return 0
    poly = sp.Poly(d, var)
    for c in poly.all_coeffs():
        nz = _nonzero_or_none(c)
        if nz is None:
            raise NumericalError(f"cannot decide the sign of {c}")
        if nz:
            return _sign(_const(c))
    return 0


def _grows_faster(a: _Group, b: _Group, var: sp.Symbol) -> bool:
    """Does a dominate b as var → +oo?"""
    s = _leading_coeff_sign(a.q - b.q, var)
    if s:
        return s > 0
    return bool((a.power - b.power).is_positive)


def _dominant(groups: Sequence[_Group], var: sp.Symbol) -> _Group:
    best = groups[0]
    for gr in groups[1:]:
        if _grows_faster(gr, best, var):
            best = gr
    return best


def _positive_root_bound(p: sp.Expr, var: sp.Symbol) -> MPF:
    """Every positive root of the polynomial p is below the returned value.

    Kioustelidis' bound: for P = Σ c_k y^k with c_n > 0 every positive root is at most
    2·max_{c_k < 0} (|c_k| / c_n)^{1/(n-k)} (0 if no coefficient is negative).
    """
    poly = sp.Poly(sp.expand(p), var)
    cs = [_const(c) for c in poly.all_coeffs()]
    n = len(cs) - 1
    if n <= 0:
        return mpmath.mpf(0)
    if _sign(cs[0]) < 0:
        cs = [-c for c in cs]
    lead = _lo(cs[0])
    best = mpmath.mpf(0)
    for i, c in enumerate(cs[1:], start=1):
        if _lo(c) < 0:  # possibly negative: count it
            best = max(best, (abs(_lo(c)) / lead) ** (mpmath.mpf(1) / i))
    return 2 * best


def _eventual_sign(expr: sp.Expr, var: sp.Symbol) -> tuple[MPF, int, _Group, list[_Group]] | None:
    """``(T, s, lead, groups)``: expr has the sign s on [T, oo) (None if not exp-polynomial)."""
    groups = _terms(expr, var)
    if groups is None or not groups:
        return None
    lead = _dominant(groups, var)
    s = _sign(_const(lead.coeff))
    T = mpmath.mpf(1)
    ratios = []
    for g in groups:
        if g is lead:
            continue
        d = sp.expand(g.q - lead.q)
        a = g.power - lead.power
        # y^a e^{d(y)} is decreasing where a + y d'(y) < 0, i.e. beyond its positive roots
        T = max(T, _positive_root_bound(a + var * sp.diff(d, var), var))
        ratios.append((_hi(abs(_const(g.coeff))), _compile((var**a * sp.exp(d)).subs(var, x))))
    if not ratios:
        return T, s, lead, groups
    c_lead = _lo(abs(_const(lead.coeff)))

    def holds(t: MPF) -> bool:
        tv = _ivl(t)
        return sum((c * _hi(r(tv)) for c, r in ratios), mpmath.mpf(0)) < c_lead

    lo_fail = None
    for _ in range(80):
        if holds(T):
            break
        lo_fail = T
        T *= 2
    else:
        return None
    if lo_fail is not None:  # tighten: the certificate is monotone in T
        for _ in range(6):
            mid = (lo_fail + T) / 2
            if holds(mid):
                T = mid
            else:
                lo_fail = mid
    return T, s, lead, groups


_HYPERBOLIC = [sp.tanh, sp.sinh, sp.cosh, sp.sech, sp.csch, sp.coth]


def _to_exp(expr: sp.Expr) -> sp.Expr:
    """Hyperbolic functions as real exponentials (trigonometric ones are left alone)."""
    return expr.rewrite(_HYPERBOLIC, sp.exp)


def _factored_form(expr: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    return sp.fraction(sp.together(_to_exp(expr)))


def _normal_form(expr: sp.Expr, var: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    num, den = _factored_form(expr)
    return sp.expand(num), sp.expand(den)


def _product_sign(expr: sp.Expr, var: sp.Symbol, depth: int = 0) -> tuple[MPF, int] | None:
    """``(T, s)`` with expr of sign s on [T, oo), certified factor by factor.

    Each factor is a constant, an exp-polynomial (certified by :func:`_eventual_sign`), an
    integer power of a certified factor, or a real power of a factor certified positive.
    """
    if depth > 8:
        return None
    T, s = mpmath.mpf(1), 1
    for fac in sp.Mul.make_args(expr):
        if not fac.has(var):
            c = _sign(_const(fac))
            if c == 0:
                return None
            s *= c
            continue
        if fac.is_Pow and not fac.exp.has(var):
            base = _product_sign(fac.base, var, depth + 1)
            if base is None:
                return None
            if fac.exp.is_Integer:
                T, s = max(T, base[0]), s * base[1] ** int(fac.exp)
                continue
            if base[1] <= 0:
                return None
            T = max(T, base[0])
            continue
        r = _eventual_sign(sp.expand(fac), var)
        if r is None:
            return None
        T, s = max(T, r[0]), s * r[1]
    return T, s


def _side_expr(expr: sp.Expr, side: int) -> sp.Expr:
    return expr.subs(x, side * _Y)


@functools.lru_cache(maxsize=256)
def _tail(g: sp.Expr, side: int) -> tuple[MPF, int]:
    """``(T, s)``: g has the (non-strict) sign s on {side·x ≥ T}."""
    h = _side_expr(g, side)
    num, den = _factored_form(h)
    en, ed = _product_sign(num, _Y), _product_sign(den, _Y)
    if en is not None and ed is not None:
        return max(en[0], ed[0]), en[1] * ed[1]
    # fallback: plain interval evaluation on the unbounded tail
    fn = _compile(g)
    T = mpmath.mpf(8)
    for _ in range(12):
        X = _ivl(T, mpmath.inf) if side > 0 else _ivl(-mpmath.inf, -T)
        v = fn(X)
        if _nonneg(v):
            return T, 1
        if _nonpos(v):
            return T, -1
        T *= 8
    raise NumericalError(
        f"cannot certify the sign of {g} as x -> {'+' if side > 0 else '-'}oo "
        "(not an exp-polynomial, and interval evaluation of the tail is inconclusive)"
    )


@functools.lru_cache(maxsize=256)
def _limit(f: sp.Expr, side: int) -> sp.Expr:
    """lim_{x→side·oo} f, exactly (exp-polynomial leading terms, else SymPy's gruntz)."""
    h = _side_expr(f, side)
    num, den = _normal_form(h, _Y)
    gn, gd = _terms(num, _Y), _terms(den, _Y)
    if gn is not None and gd:
        if not gn:
            return sp.Integer(0)
        ln, ld = _dominant(gn, _Y), _dominant(gd, _Y)
        if _grows_faster(ld, ln, _Y):
            return sp.Integer(0)
        if _grows_faster(ln, ld, _Y):
            return sp.oo * _sign(_const(ln.coeff)) * _sign(_const(ld.coeff))
        return _simplify_number(ln.coeff / ld.coeff)
    return sp.limit(f, x, side * sp.oo)


def _simplify_number(v: sp.Expr) -> sp.Expr:
    """simplify(v) when it is small and simplification makes it shorter."""
    v = sp.sympify(v)
    if v.is_Rational or sp.count_ops(v) > 40:
        return v
    best = v
    tries = [sp.simplify(v)]
    if v.has(*_HYPERBOLIC):
        tries.append(sp.simplify(_to_exp(v)))
    for s in tries:
        if len(str(s)) < len(str(best)) and not s.has(sp.I):
            best = s
    return best


def _real_roots_poly(p: sp.Expr, var: sp.Symbol) -> list[sp.Expr] | None:
    """All real roots of a polynomial, exactly (None if SymPy cannot give them all)."""
    poly = sp.Poly(sp.expand(p), var)
    if poly.degree() <= 0:
        return [] if not poly.is_zero else None
    if poly.domain.is_QQ or poly.domain.is_ZZ:
        return sorted(set(poly.real_roots()), key=lambda r: float(r))
    rts = sp.roots(poly)
    if sum(rts.values()) != poly.degree():
        return None
    out = []
    for r in rts:
        if r.is_real is True:
            out.append(r)
        elif r.is_real is None:
            return None
    return out


@functools.lru_cache(maxsize=256)
def _exact_roots(h: sp.Expr) -> tuple[sp.Expr, ...] | None:
    """Real roots of ``h`` (an expression in x), exactly, when its normal form N/D allows it.

    Two solvable shapes of the numerator N: ``e^{q(x)}·P(x)`` (roots of the polynomial P) and
    a polynomial in one exponential ``E = e^{q0(x)/K}`` without powers of x (positive roots
    E_r, then q0(x) = K log E_r). Every returned r is a root of N with D(r) ≠ 0 certified by
    interval evaluation, hence a root of h. The list may miss roots SymPy cannot express
    (callers only use it inside a box that is proved to hold exactly one root).
    """
    if h.has(sp.Float):
        return None  # polynomial roots over floats are approximate, never claimed exact
    try:
        num, den = _normal_form(h, x)
        roots = _numerator_roots(num)
        if roots is None:
            return None
        return tuple(r for r in roots if _sign(_enclose(den, _const(r))) != 0)
    except (NumericalError, sp.PolynomialError, TypeError, ValueError):
        return None


def _numerator_roots(num: sp.Expr) -> list[sp.Expr] | None:
    groups = _terms(num, x)
    if groups is None:
        return None
    if not groups:
        return None  # h is identically 0
    q_ref = groups[0].q
    if all(sp.expand(g.q - q_ref) == 0 for g in groups):
        if not all(g.power.is_integer and g.power >= 0 for g in groups):
            return None
        poly = sum((g.coeff * x**g.power for g in groups), sp.Integer(0))
        return _real_roots_poly(poly, x)
    if not all(g.power == 0 for g in groups):
        return None
    ref = next(g.q for g in groups if g.q != 0)
    ratios = []
    for g in groups:
        r = sp.cancel(g.q / ref)
        if not r.is_Rational:
            return None
        ratios.append(r)
    K = sp.ilcm(*[r.q for r in ratios]) if len(ratios) > 1 else ratios[0].q
    ms = [int(r * K) for r in ratios]
    m0 = min(ms)
    E = sp.Symbol("_E", positive=True)
    poly = sum((g.coeff * E ** (m - m0) for g, m in zip(groups, ms, strict=True)), sp.Integer(0))
    e_roots = _real_roots_poly(poly, E)
    if e_roots is None:
        return None
    out: list[sp.Expr] = []
    for er in e_roots:
        pos = er.is_positive
        if pos is None:
            s = _sign(_const(er))
            if s == 0:
                return None
            pos = s > 0
        if not pos:
            continue
        xr = _real_roots_poly(ref - K * sp.log(er), x)
        if xr is None:
            return None
        out.extend(xr)
    return out


