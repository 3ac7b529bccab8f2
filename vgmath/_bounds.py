r"""Certified bounds on φ′: its supremum and infimum, saturation regions and chain bounds.

The textbook statement of the vanishing-gradient problem — ``sigmoid′(x) ≤ 1/4``, so a chain of
``L`` sigmoid units multiplies a back-propagated gradient by at most :math:`(1/4)^L` — is *derived*
here for any activation, never typed in:

.. math::

    \prod_{i=1}^{L} |\varphi'(x_i)| \le \Big(\sup_{x\in\mathbb R} |\varphi'(x)|\Big)^{L}.

How a bound is certified
------------------------
φ′ is split into smooth pieces (:func:`vgmath._piecewise.pieces`). On each piece:

1. **Tails.** φ″ is rewritten exactly (hyperbolic functions as exponentials, then
   ``together``) as a quotient whose factors are *exp-polynomials*
   :math:`\sum_k c_k\, y^{a_k} e^{q_k(y)}` in :math:`y = \pm x \to +\infty` with polynomials
   :math:`q_k` (or real powers of factors certified positive). For each exp-polynomial the
   dominant term :math:`c_* y^{a_*} e^{q_*}` is found exactly. Every other term divided by it is
   :math:`y^{a} e^{d(y)}`, which decreases on :math:`[T, \infty)` once :math:`T` exceeds
   Kioustelidis' bound on the positive roots of :math:`a + y\,d'(y)`. Then
   :math:`|c_*| > \sum_k |c_k|\, T^{a_k-a_*} e^{d_k(T)}` certifies that the factor has the sign
   of :math:`c_*` on all of :math:`[T, \infty)`. So φ″ has one sign there, φ′ is monotone, and
   its limit is read off the same normal form. When φ″ is not of this form, plain interval
   evaluation on ``[T, ∞]`` is tried. If that fails too, vgmath refuses
   (:class:`~vgmath.NumericalError`) rather than guess: ``x + sin(x)`` has infinitely many
   critical points.
2. **The compact part** ``[-T, T]`` is covered by interval branch-and-bound on φ″
   (:mod:`mpmath.iv`, 192 bits). Each box gets one of three labels: φ″ ≥ 0 on it, φ″ ≤ 0 on it,
   or a box where φ‴ has constant sign and φ″ changes sign strictly between its ends (exactly
   one simple critical point of φ′ inside). Enclosures intersect SymPy's form of φ″ with its
   exact normal form, because SymPy's softplus″ is a difference of nearly equal terms and its
   normal form is not. They also intersect the centred (mean-value) form.
3. Between consecutive critical points φ′ is monotone. Its sup and inf over the piece are
   therefore among: the values at the critical points, the values or one-sided limits at the
   piece's ends, and the limits at ±∞. A closed end attains its value; an open end or an
   infinite end only approaches it.
4. **Exactness.** A critical point is reported exactly when it is *proved*:

   * a box boundary where the sign of φ″ flips from one box to the next (e.g. ``x = 0``);
   * a root of the exact normal form solved algebraically. This covers polynomials times one
     exponential (``(2 - x²) e^{-x²/2}`` → ``±√2``) and polynomials in a single exponential
     (``e^{-x}(1 - e^{-x})`` → ``x = 0``). The root is then matched to the box that certifiably
     holds exactly one root;
   * a simple closed form near the numeric root (``p/q``, ``±√(p/q)``, ``log(p/q)``)
     that survives a 2000-bit interval refutation and satisfies ``simplify(φ″(c)) == 0``.

   Otherwise the value is a SymPy ``Float`` with a rigorous error bound from the interval
   enclosure. The mean-value form ``φ′(m) + φ″(box)(box - m)`` keeps that enclosure tight.

Interval primitives missing from :mod:`mpmath.iv` (``tanh``, ``sinh``, ``cosh``) are built from
``iv.exp``, so they are rigorous. ``erf``, ``erfc``, ``atan`` and ``asinh`` are monotone: their
endpoint values are computed with 40 guard bits and widened by :math:`2^{-190}` relative. This
assumes mpmath's special functions are accurate to far better than :math:`2^{38}` ulps.
Numeric results are 30-digit ``Float`` values whose stated error covers both their binary value
and their printed decimal.

Saturation regions ``{x : |φ′(x)| < ε}`` use the same monotone stretches. On each stretch
``φ′ = ±ε`` has at most one root, which is solved exactly where the normal form allows it and
is otherwise enclosed in a certified bracket.

References
----------
* Hochreiter 1991 (Diplomarbeit, TU München); Bengio, Simard & Frasconi 1994, "Learning
  long-term dependencies with gradient descent is difficult", IEEE TNN 5(2) — the (1/4)^L
  argument.
* Moore, Kearfott & Cloud 2009, *Introduction to Interval Analysis*, SIAM — interval
  branch-and-bound, the mean-value form and certified root isolation.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import mpmath
import sympy as sp
from mpmath import iv, mp

from ._activation import Activation, as_activation, to_sympy_number
from ._errors import InvalidArgumentError, NumericalError
from ._piecewise import pieces
from ._symbols import depth_symbol, x

__all__ = [
    "ChainBound",
    "DerivativeBound",
    "SaturationRegion",
    "chain_bound",
    "derivative_bound",
    "saturation_region",
]

#: Working precision (bits) of every interval computation.
PREC = 192
#: Significant digits of the SymPy Floats that report numeric (non-exact) results.
DIGITS = 30

Ivl = Any  # an mpmath.iv interval (mpmath has no public type for it)
MPF = Any  # an mpmath.mpf


# =====================================================================================
# interval arithmetic
# =====================================================================================


@contextmanager
def _precision(bits: int = PREC) -> Iterator[None]:
    """Set the mpmath interval and float precision; restore them afterwards."""
    old_iv, old_mp = iv.prec, mp.prec
    iv.prec, mp.prec = bits, bits
    try:
        yield
    finally:
        iv.prec, mp.prec = old_iv, old_mp


def _lo(a: Ivl) -> MPF:
    return mp.make_mpf(a._mpi_[0])


def _hi(a: Ivl) -> MPF:
    return mp.make_mpf(a._mpi_[1])


def _ivl(lo: Any, hi: Any | None = None) -> Ivl:
    return iv.mpf([lo, lo if hi is None else hi])


def _unknown() -> Ivl:
    return iv.mpf(["-inf", "inf"])


def _is_nan(a: Ivl) -> bool:
    return bool(mpmath.isnan(_lo(a)) or mpmath.isnan(_hi(a)))


def _hull(a: Ivl, b: Ivl) -> Ivl:
    return _ivl(min(_lo(a), _lo(b)), max(_hi(a), _hi(b)))


def _nonneg(a: Ivl) -> bool:
    return bool(_lo(a) >= 0)


def _nonpos(a: Ivl) -> bool:
    return bool(_hi(a) <= 0)


def _sign(a: Ivl) -> int:
    """+1 / -1 if the interval is strictly positive / negative, 0 if it contains 0."""
    if _lo(a) > 0:
        return 1
    if _hi(a) < 0:
        return -1
    return 0


def _mid(a: Ivl) -> MPF:
    lo, hi = _lo(a), _hi(a)
    if mpmath.isinf(lo) or mpmath.isinf(hi):
        return lo if mpmath.isinf(hi) and not mpmath.isinf(lo) else hi
    return (lo + hi) / 2


def _rel_widen(v: MPF) -> tuple[MPF, MPF]:
    """Enclose a value computed with 40 guard bits: widen by 2^-PREC relative (see module doc)."""
    if mpmath.isinf(v) or v == 0:
        return v, v
    e = abs(v) * mpmath.ldexp(1, -iv.prec + 2)
    return v - e, v + e


def _point_fn(fn: Callable[[MPF], MPF], a: MPF) -> tuple[MPF, MPF]:
    with mp.workprec(iv.prec + 40):
        v = fn(a)
    return _rel_widen(+v)


def _increasing(point: Callable[[MPF], tuple[MPF, MPF]]) -> Callable[[Ivl], Ivl]:
    def ext(a: Ivl) -> Ivl:
        return _ivl(point(_lo(a))[0], point(_hi(a))[1])

    return ext


def _decreasing(point: Callable[[MPF], tuple[MPF, MPF]]) -> Callable[[Ivl], Ivl]:
    def ext(a: Ivl) -> Ivl:
        return _ivl(point(_hi(a))[0], point(_lo(a))[1])

    return ext


def _tanh_point(a: MPF) -> tuple[MPF, MPF]:
    if a == 0:
        return a, a
    if a < 0:
        lo, hi = _tanh_point(-a)
        return -hi, -lo
    # tanh(a) = 1 - 2/(e^{2a} + 1), all in rigorous interval arithmetic
    t = 1 - 2 / (iv.exp(2 * _ivl(a)) + 1)
    return _lo(t), _hi(t)


def _sinh_point(a: MPF) -> tuple[MPF, MPF]:
    if a == 0:
        return a, a
    A = _ivl(a)
    t = (iv.exp(A) - iv.exp(-A)) / 2
    return _lo(t), _hi(t)


def _iv_cosh(a: Ivl) -> Ivl:
    def c(v: MPF) -> Ivl:
        V = _ivl(v)
        return (iv.exp(V) + iv.exp(-V)) / 2

    lo, hi = _lo(a), _hi(a)
    top = max(_hi(c(lo)), _hi(c(hi)))
    if lo <= 0 <= hi:
        return _ivl(1, top)
    bottom = min(_lo(c(lo)), _lo(c(hi)))
    return _ivl(bottom, top)


def _iv_log(a: Ivl) -> Ivl:
    if _lo(a) > 0:
        return iv.log(a)
    if _hi(a) <= 0:
        raise NumericalError("log of a non-positive number: the expression is not real there")
    return _unknown()


def _iv_pow_real(b: Ivl, e: Ivl) -> Ivl:
    if _lo(b) > 0:
        return iv.exp(e * iv.log(b))
    if _hi(b) < 0:
        raise NumericalError("non-integer power of a negative number: not real there")
    return _unknown()


def _iv_intpow(b: Ivl, n: int) -> Ivl:
    if n < 0 and _lo(b) <= 0 <= _hi(b):
        return _unknown()
    try:
        r = b**n
    except ZeroDivisionError:
        return _unknown()
    return _unknown() if _is_nan(r) else r


def _iv_abs(a: Ivl) -> Ivl:
    lo, hi = _lo(a), _hi(a)
    if lo >= 0:
        return a
    if hi <= 0:
        return -a
    return _ivl(0, max(-lo, hi))


def _iv_sin(a: Ivl) -> Ivl:
    return iv.sin(a)


def _iv_cos(a: Ivl) -> Ivl:
    return iv.cos(a)


_UNARY: dict[type, Callable[[Ivl], Ivl]] = {
    sp.exp: iv.exp,
    sp.log: _iv_log,
    sp.tanh: _increasing(_tanh_point),
    sp.sinh: _increasing(_sinh_point),
    sp.cosh: _iv_cosh,
    sp.erf: _increasing(functools.partial(_point_fn, mp.erf)),
    sp.erfc: _decreasing(functools.partial(_point_fn, mp.erfc)),
    sp.atan: _increasing(functools.partial(_point_fn, mp.atan)),
    sp.asinh: _increasing(functools.partial(_point_fn, mp.asinh)),
    sp.sin: _iv_sin,
    sp.cos: _iv_cos,
    sp.Abs: _iv_abs,
}

Node = Callable[[Ivl, dict[sp.Symbol, Ivl]], Ivl]


def _compile_node(e: sp.Expr) -> Node:
    if e is x:
        return lambda X, env: X
    if isinstance(e, sp.Symbol):
        return lambda X, env: env[e]
    if e.is_Integer:
        n = int(e)
        return lambda X, env: iv.mpf(n)
    if e.is_Rational:
        p, q = int(e.p), int(e.q)
        return lambda X, env: iv.mpf(p) / q
    if e.is_Float:
        v = mp.make_mpf(e._mpf_)
        return lambda X, env: iv.mpf(v)
    if e is sp.pi:
        return lambda X, env: iv.pi
    if e is sp.E:
        return lambda X, env: iv.e
    if isinstance(e, sp.CRootOf):
        if not e.is_real:
            raise NumericalError(f"{e} is not real")

        def root(X: Ivl, env: dict[sp.Symbol, Ivl]) -> Ivl:
            # eval_rational refines SymPy's exact isolating interval below dx; the root lies
            # within dx of the returned rational
            dx = sp.Rational(1, 2 ** (iv.prec + 8))
            r = e.eval_rational(dx=dx, dy=dx)
            c = iv.mpf(int(r.p)) / int(r.q)
            d = iv.mpf(1) / 2 ** (iv.prec + 8)
            return _ivl(_lo(c - d), _hi(c + d))

        return root
    if e in (sp.oo, sp.zoo, -sp.oo, sp.nan):
        raise NumericalError(f"expression {e} is not a finite real number")
    if e.is_Add:
        parts = [_compile_node(a) for a in e.args]

        def add(X: Ivl, env: dict[sp.Symbol, Ivl]) -> Ivl:
            s = parts[0](X, env)
            for p in parts[1:]:
                s = s + p(X, env)
            return s

        return add
    if e.is_Mul:
        parts = [_compile_node(a) for a in e.args]

        def mul(X: Ivl, env: dict[sp.Symbol, Ivl]) -> Ivl:
            s = parts[0](X, env)
            for p in parts[1:]:
                s = s * p(X, env)
            return _unknown() if _is_nan(s) else s

        return mul
    if e.is_Pow:
        base, ex = e.args
        cb = _compile_node(base)
        if ex.is_Integer:
            n = int(ex)
            return lambda X, env: _iv_intpow(cb(X, env), n)
        if ex == sp.Rational(1, 2):

            def sqrt(X: Ivl, env: dict[sp.Symbol, Ivl]) -> Ivl:
                b = cb(X, env)
                if _lo(b) >= 0:
                    return iv.sqrt(b)
                if _hi(b) < 0:
                    raise NumericalError("square root of a negative number: not real there")
                return _unknown()

            return sqrt
        ce = _compile_node(ex)
        return lambda X, env: _iv_pow_real(cb(X, env), ce(X, env))
    fn = type(e)
    if fn in _UNARY and len(e.args) == 1:
        inner = _compile_node(e.args[0])
        prim = _UNARY[fn]
        return lambda X, env: prim(inner(X, env))
    if isinstance(e, sp.sech):
        return _compile_node(1 / sp.cosh(e.args[0]))
    if isinstance(e, sp.coth):
        return _compile_node(1 / sp.tanh(e.args[0]))
    if isinstance(e, sp.csch):
        return _compile_node(1 / sp.sinh(e.args[0]))
    if isinstance(e, sp.tan):
        return _compile_node(sp.sin(e.args[0]) / sp.cos(e.args[0]))
    raise NumericalError(f"cannot evaluate {fn.__name__} in certified interval arithmetic")


@functools.lru_cache(maxsize=512)
def _compile(expr: sp.Expr) -> Callable[[Ivl], Ivl]:
    """Compile a SymPy expression in ``x`` to an interval function (common subexpressions once)."""
    reps, (reduced,) = sp.cse([expr], symbols=sp.numbered_symbols("_cse"))
    steps = [(s, _compile_node(r)) for s, r in reps]
    final = _compile_node(reduced)

    def fn(X: Ivl) -> Ivl:
        env: dict[sp.Symbol, Ivl] = {}
        for s, c in steps:
            env[s] = c(X, env)
        out = final(X, env)
        return _unknown() if _is_nan(out) else out

    return fn


def _enclose(expr: sp.Expr, X: Ivl | None = None) -> Ivl:
    """Interval enclosure of ``expr`` (a constant, or a function of x on the interval X)."""
    if X is None:
        X = _ivl(0)
    return _compile(sp.sympify(expr))(X)


def _const(expr: sp.Expr) -> Ivl:
    """Enclosure of a constant expression (±oo allowed)."""
    expr = sp.sympify(expr)
    if expr is sp.oo:
        return _ivl(mpmath.inf)
    if expr is sp.S.NegativeInfinity:
        return _ivl(-mpmath.inf)
    return _enclose(expr)


def _fraction(v: MPF) -> Fraction:
    """An mpf (a binary fraction) exactly as a Fraction."""
    sign, man, exp, _ = mpmath.mpf(v)._mpf_
    if not man:
        if exp:  # ±inf or nan
            raise NumericalError(f"{v} is not a finite number")
        return Fraction(0)
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)


def _to_rational(v: MPF) -> sp.Rational:
    """An mpf exactly as a SymPy Rational."""
    fr = _fraction(v)
    return sp.Rational(fr.numerator, fr.denominator)


def _float(v: MPF, digits: int = DIGITS) -> sp.Float:
    return sp.Float(mpmath.nstr(v, digits + 5, min_fixed=-mpmath.inf, max_fixed=mpmath.inf), digits)


def _sympy_mpf(v: sp.Float) -> MPF:
    return mp.make_mpf(v._mpf_)


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


# =====================================================================================
# per-piece analysis: monotone stretches of φ′ between certified critical points
# =====================================================================================


@dataclass
class _Node:
    """A point where a monotone stretch of φ′ starts or ends, with φ′'s value there."""

    kind: str  # "point" | "box" | "limit" | "open"
    where: sp.Expr  # exact location, Float of a numeric one, or ±oo
    where_ivl: tuple[MPF, MPF]
    value: sp.Expr | None  # exact value (or limit); None when only enclosed
    sup_enc: tuple[MPF, MPF]  # encloses the true value; lower end is a value φ′ takes (or tends to)
    inf_enc: tuple[MPF, MPF]
    attained: bool
    desc: str
    exact_where: bool = True


@dataclass
class _Stretch:
    left: _Node
    right: _Node
    direction: int  # +1 non-decreasing, -1 non-increasing, 0 unknown (uncertified blob)
    left_closed: bool
    right_closed: bool


@dataclass
class _Piece:
    interval: sp.Interval
    f: sp.Expr
    constant: bool
    nodes: list[_Node] = field(default_factory=list)
    stretches: list[_Stretch] = field(default_factory=list)


def _is_constant(f: sp.Expr) -> bool:
    if x not in f.free_symbols:
        return True
    return bool(sp.diff(f, x) == 0)


def _exact_value(f: sp.Expr, where: sp.Expr, direction: str) -> sp.Expr:
    """f at an exact point; the one-sided limit if plain substitution is undefined."""
    v = f.subs(x, where)
    if v.has(sp.nan, sp.zoo) or not v.is_finite:
        v = sp.limit(f, x, where, dir=direction)
    return _simplify_number(v)


def _exact_node(
    f: sp.Expr, where: sp.Expr, attained: bool, desc: str, direction: str = "+-"
) -> _Node:
    v = _exact_value(f, where, direction)
    enc = _const(v)
    w = _const(where)
    return _Node(
        "point" if attained else "open",
        where,
        (_lo(w), _hi(w)),
        v,
        (_lo(enc), _hi(enc)),
        (_lo(enc), _hi(enc)),
        attained,
        desc,
    )


def _limit_node(f: sp.Expr, side: int) -> _Node:
    v = _limit(f, side)
    enc = _const(v)
    where = sp.oo if side > 0 else -sp.oo
    inf = mpmath.inf * side
    return _Node(
        "limit",
        where,
        (inf, inf),
        v,
        (_lo(enc), _hi(enc)),
        (_lo(enc), _hi(enc)),
        False,
        f"limit x→{'+' if side > 0 else '-'}oo",
    )


# ---- branch and bound on φ″ -----------------------------------------------------------

_MAX_BOXES = 40000


def _intersect(a: Ivl, b: Ivl) -> Ivl:
    lo, hi = max(_lo(a), _lo(b)), min(_hi(a), _hi(b))
    return a if lo > hi else _ivl(lo, hi)


def _two_forms(expr: sp.Expr) -> Callable[[Ivl], Ivl]:
    """Interval extension intersecting ``expr`` with its exact normal form ``N/D``.

    SymPy's derivative of e.g. softplus′ is a difference of two nearly equal terms; its
    normal form ``β e^{βx} / (e^{βx} + 1)²`` has no cancellation. Both enclose the same
    function, so their intersection does too.
    """
    f1 = _compile(expr)
    try:
        num, den = _normal_form(expr, x)
        alt = sp.expand(num) / sp.expand(den)
        f2 = _compile(alt) if alt != expr else None
    except (NumericalError, sp.PolynomialError, TypeError, ValueError):
        f2 = None
    if f2 is None:
        return f1

    def both(X: Ivl) -> Ivl:
        a = f1(X)
        try:
            b = f2(X)
        except NumericalError:
            return a
        return _intersect(a, b)

    return both


def _classify(
    g: Callable[[Ivl], Ivl], g1: Callable[[Ivl], Ivl], lo: MPF, hi: MPF
) -> list[tuple[str, MPF, MPF]]:
    """Cover [lo, hi] by boxes labelled '+' (g ≥ 0), '-' (g ≤ 0), 'root' or '?' (unresolved)."""
    out: list[tuple[str, MPF, MPF]] = []
    stack = [(lo, hi)]
    count = 0
    tiny = mpmath.ldexp(1, -iv.prec + 24)
    while stack:
        a, b = stack.pop()
        count += 1
        if count > _MAX_BOXES:
            raise NumericalError("branch-and-bound on φ″ did not terminate (too many boxes)")
        box = _ivl(a, b)
        G = g(box)
        label = None
        if _nonneg(G):
            label = "+"
        elif _nonpos(G):
            label = "-"
        else:
            G1 = g1(box)
            m = (a + b) / 2
            if not _is_nan(G1) and mpmath.isfinite(_lo(G1)) and mpmath.isfinite(_hi(G1)):
                centred = g(_ivl(m)) + G1 * (box - m)
                if _nonneg(centred):
                    label = "+"
                elif _nonpos(centred):
                    label = "-"
            if label is None and _sign(G1) != 0:
                ga, gb = g(_ivl(a)), g(_ivl(b))
                if _nonneg(ga) and _nonneg(gb):
                    label = "+"
                elif _nonpos(ga) and _nonpos(gb):
                    label = "-"
                elif _sign(ga) * _sign(gb) == -1:
                    label = "root"
            if label is None and (b - a) <= tiny * max(1, abs(a), abs(b)):
                label = "?"
        if label is None:
            m = (a + b) / 2
            stack.append((m, b))
            stack.append((a, m))
        else:
            out.append((label, a, b))
    return out


def _refine_root(
    h: Callable[[Ivl], Ivl], h1: Callable[[Ivl], Ivl], a: MPF, b: MPF
) -> tuple[MPF, MPF]:
    """Shrink a bracket [a, b] of a simple root of h (h(a), h(b) of strictly opposite signs)."""
    sa = _sign(h(_ivl(a)))
    sb = _sign(h(_ivl(b)))
    if sa * sb != -1:
        raise NumericalError("root bracket lost its sign change")
    target = mpmath.ldexp(1, -iv.prec + 40)
    r = (a + b) / 2
    for _ in range(400):
        width = b - a
        if width <= target * max(1, abs(a), abs(b)):
            break
        # safeguarded Newton step from r
        hr = h(_ivl(r))
        sr = _sign(hr)
        if sr == 0:
            # h(r) cannot be told from 0: the closest points on either side where its sign is
            # certain make the tightest bracket the evaluation allows
            d = target * max(1, abs(r)) / 4
            lo_, hi_ = a, b
            for k in range(0, 400, 4):
                t = r - d * mpmath.ldexp(1, k)
                if t <= a:
                    break
                if _sign(h(_ivl(t))) == sa:
                    lo_ = t
                    break
            for k in range(0, 400, 4):
                t = r + d * mpmath.ldexp(1, k)
                if t >= b:
                    break
                if _sign(h(_ivl(t))) == sb:
                    hi_ = t
                    break
            return lo_, hi_
        if sr == sa:
            a = r
        else:
            b = r
        d1 = _mid(h1(_ivl(r)))
        nxt = r - _mid(hr) / d1 if d1 != 0 and mpmath.isfinite(d1) else (a + b) / 2
        if not (a < nxt < b) or abs(nxt - r) > (b - a) / 2:
            nxt = (a + b) / 2
        r = nxt
    return a, b


def _bracket_towards_infinity(
    h: Callable[[Ivl], Ivl], start: MPF, side: int, s_start: int
) -> tuple[MPF, MPF]:
    """From a point where h has sign s_start, step outwards until h has the opposite sign."""
    step = max(mpmath.mpf(1), abs(start))
    prev = start
    for _ in range(2000):
        nxt = prev + side * step
        s = _sign(h(_ivl(nxt)))
        if s == -s_start:
            return (prev, nxt) if side > 0 else (nxt, prev)
        prev = nxt
        step *= 2
    raise NumericalError("could not bracket a root on an unbounded stretch")


def _endpoint(v: sp.Expr, side: str) -> MPF:
    e = _const(v)
    return _lo(e) if side == "lo" else _hi(e)


def _analyse_piece(interval: sp.Interval, f: sp.Expr) -> _Piece:
    piece = _Piece(interval, f, _is_constant(f))
    if piece.constant:
        return piece
    A, B = interval.start, interval.end
    if A == B:  # a single point
        piece.nodes = [_exact_node(f, A, True, f"isolated point x={A}")]
        return piece
    g_expr = sp.diff(f, x)
    g1_expr = sp.diff(g_expr, x)
    g, g1 = _two_forms(g_expr), _two_forms(g1_expr)

    # tails and the compact segment
    if A is sp.S.NegativeInfinity:
        T_left, s_left = _tail(g_expr, -1)
        seg_lo = -T_left
    else:
        seg_lo = _endpoint(A, "lo")
    if B is sp.oo:
        T_right, s_right = _tail(g_expr, 1)
        seg_hi = T_right
    else:
        seg_hi = _endpoint(B, "hi")
    if A is sp.S.NegativeInfinity and B is not sp.oo:
        seg_lo = min(seg_lo, seg_hi - 1)
    if B is sp.oo and A is not sp.S.NegativeInfinity:
        seg_hi = max(seg_hi, seg_lo + 1)
    if A is sp.S.NegativeInfinity and B is sp.oo and seg_lo >= seg_hi:
        seg_lo, seg_hi = -max(abs(seg_lo), seg_hi), max(abs(seg_lo), seg_hi)

    items = _classify(g, g1, seg_lo, seg_hi)
    if A is sp.S.NegativeInfinity:
        items.insert(0, ("+" if s_left >= 0 else "-", -mpmath.inf, seg_lo))
    if B is sp.oo:
        items.append(("+" if s_right >= 0 else "-", seg_hi, mpmath.inf))
    items = _merge_unresolved(items, g, g1)

    # nodes and stretches
    if A is sp.S.NegativeInfinity:
        start = _limit_node(f, -1)
    else:
        closed = not interval.left_open
        start = _exact_node(
            f, A, closed, f"{'closed' if closed else 'open'} end x={A} of the piece {interval}", "+"
        )
    nodes = [start]
    directions: list[int] = []
    current = 0
    for k, (label, a, b) in enumerate(items):
        if label in "+-" and len(label) == 1:
            d = 1 if label == "+" else -1
            if current and d != current:
                p = _to_rational(a)
                nodes.append(_exact_node(f, p, True, f"critical point x={p} of φ″ (sign change)"))
                directions.append(current)
            current = d
            continue
        # a box node: a certified simple root ('root') or an unresolved blob ('?')
        if current == 0:
            current = _sign(g(_ivl(a)))
        directions.append(current)
        nodes.append(_box_node(f, g_expr, g, g1, a, b, certified=(label == "root")))
        nxt = items[k + 1][0] if k + 1 < len(items) else None
        current = _sign(g(_ivl(b))) if nxt is None or nxt not in ("+", "-") else 0
    directions.append(current)
    if B is sp.oo:
        nodes.append(_limit_node(f, 1))
    else:
        closed = not interval.right_open
        nodes.append(
            _exact_node(
                f,
                B,
                closed,
                f"{'closed' if closed else 'open'} end x={B} of the piece {interval}",
                "-",
            )
        )
    piece.nodes = nodes
    for i, d in enumerate(directions):
        piece.stretches.append(
            _Stretch(
                nodes[i],
                nodes[i + 1],
                d,
                left_closed=(i > 0 or not interval.left_open) and nodes[i].kind != "limit",
                right_closed=(i + 1 < len(nodes) - 1 or not interval.right_open)
                and nodes[i + 1].kind != "limit",
            )
        )
    return piece


def _merge_unresolved(
    items: list[tuple[str, MPF, MPF]], g: Callable[[Ivl], Ivl], g1: Callable[[Ivl], Ivl]
) -> list[tuple[str, MPF, MPF]]:
    """Merge runs of '?' boxes; a merged run with a strict sign change and monotone g is a root."""
    out: list[tuple[str, MPF, MPF]] = []
    for label, a, b in items:
        if label == "?" and out and out[-1][0] == "?":
            out[-1] = ("?", out[-1][1], b)
        else:
            out.append((label, a, b))
    final = []
    for label, a, b in out:
        if label == "?":
            box = _ivl(a, b)
            ga, gb = _sign(g(_ivl(a))), _sign(g(_ivl(b)))
            if ga * gb == -1 and _sign(g1(box)) != 0:
                label = "root"
            elif ga == gb and ga != 0 and (_sign(g(box)) == ga or _sign(g1(box)) != 0):
                label = "+" if ga > 0 else "-"
        final.append((label, a, b))
    return final


def _box_node(
    f: sp.Expr,
    g_expr: sp.Expr,
    g: Callable[[Ivl], Ivl],
    g1: Callable[[Ivl], Ivl],
    a: MPF,
    b: MPF,
    *,
    certified: bool,
) -> _Node:
    """The extremum of φ′ inside [a, b]: exact if the root of φ″ is proved, else enclosed."""
    fc = _compile(f)
    if certified:
        exact = _identify_root(g_expr, a, b)
        if exact is not None:
            return _exact_node(f, exact, True, f"critical point x={exact} of φ″")
        a, b = _refine_root(g, g1, a, b)
    box = _ivl(a, b)
    m = (a + b) / 2
    fm = fc(_ivl(m))
    enc = fm + g(box) * (box - m)  # mean-value form: φ′(ξ) ∈ φ′(m) + φ″(box)(box - m)
    enc = _ivl(min(_lo(enc), _lo(fm)), max(_hi(enc), _hi(fm)))
    where = _float(m)
    desc = (
        f"critical point x≈{mpmath.nstr(m, 15)} of φ″ (certified bracket of width "
        f"{mpmath.nstr(b - a, 3)})"
        if certified
        else f"unresolved region [{mpmath.nstr(a, 15)}, {mpmath.nstr(b, 15)}] (enclosed)"
    )
    return _Node(
        "box",
        where,
        (a, b),
        None,
        (_lo(fm), _hi(enc)),
        (_lo(enc), _hi(fm)),
        True,
        desc,
        exact_where=False,
    )


def _identify_root(g_expr: sp.Expr, a: MPF, b: MPF) -> sp.Expr | None:
    """An exact root of φ″ inside [a, b] (which holds exactly one), if one can be proved."""
    roots = _exact_roots(g_expr)
    if roots is not None:
        for r in roots:
            e = _const(r)
            if _lo(e) >= a and _hi(e) <= b:
                return r
        return None
    m = (a + b) / 2
    for cand in _candidate_forms(m):
        e = _const(cand)
        if not (_lo(e) >= a and _hi(e) <= b):
            continue
        # cheap refutation first: a candidate that is merely close is rejected at 2000 bits
        with _precision(2000):
            if _sign(_enclose(g_expr, _const(cand))) != 0:
                continue
        if sp.count_ops(g_expr) <= 200 and sp.simplify(g_expr.subs(x, cand)) == 0:
            return cand
    return None


def _candidate_forms(m: MPF) -> list[sp.Expr]:
    """Simple closed forms near m: p/q, ±sqrt(p/q), log(p/q) with small p, q (to be verified)."""
    out: list[sp.Expr] = []
    limit = 10**4

    def small(v: MPF) -> sp.Rational | None:
        if not mpmath.isfinite(v) or abs(v) > limit:
            return None
        fr = _fraction(v).limit_denominator(limit)
        return sp.Rational(fr.numerator, fr.denominator)

    for r in (small(m),):
        if r is not None:
            out.append(r)
    r2 = small(m * m)
    if r2 is not None and r2 > 0:
        out.append(sp.sqrt(r2) if m > 0 else -sp.sqrt(r2))
    re_ = small(mpmath.exp(m)) if abs(m) < 9 else None
    if re_ is not None and re_ > 0:
        out.append(sp.log(re_))
    return [c for c in out if not (c.is_Rational and c.q > limit)]


# =====================================================================================
# the analysis of one activation (cached on the Activation)
# =====================================================================================


@dataclass
class _Analysis:
    pieces: list[_Piece]


def _analysis(act: Activation) -> _Analysis:
    key = "bounds:analysis"
    if key not in act._cache:
        act._cache[key] = _analysis_of(act.derivative)
    return act._cache[key]


@functools.lru_cache(maxsize=128)
def _analysis_of(derivative: sp.Expr) -> _Analysis:
    """The analysis depends on φ′ alone: equal expressions (a catalog entry and the same
    formula typed by a user, or repeated parameter values) share it."""
    with _precision():
        ps = [_analyse_piece(iv_, sp.sympify(f)) for iv_, f in pieces(derivative)]
    return _Analysis(ps)


# =====================================================================================
# DerivativeBound
# =====================================================================================


@dataclass(frozen=True)
class DerivativeBound:
    r"""Certified :math:`\sup_{x\in\mathbb R}\varphi'(x)` and :math:`\inf_{x}\varphi'(x)` over ℝ.

    Attributes
    ----------
    sup, inf:
        SymPy numbers — exact (``Rational(1, 4)``, ``1/2 + erf(1)/2 + exp(-1)/sqrt(pi)``) where
        the extremum is proved exactly, otherwise a ``Float`` of 30 significant digits.
        ``oo``/``-oo`` when φ′ is unbounded.
    argsup, arginf:
        Where the extremum is attained: a SymPy number for a single point, a SymPy ``Set``
        when it is attained on more than one point (relu: ``Interval.open(0, oo)``), or
        ``oo``/``-oo`` when it is only approached in that limit (a finite point when it is
        only approached at an open end of a piece).
    attained, inf_attained:
        Whether the sup / inf is a value φ′ actually takes.
    exact, sup_exact, inf_exact:
        ``exact`` is ``sup_exact and inf_exact``.
    sup_error, inf_error:
        0 when exact; otherwise a rigorous bound on ``|true value - reported Float|``.
    sup_interval, inf_interval:
        ``(lo, hi)`` mpmath numbers (192-bit) enclosing the true value. Comparisons with them
        are exact; arithmetic rounds to the *current* mpmath precision, so widen them inside
        ``mpmath.workdps(...)``.
    sup_method, inf_method, method:
        How each value was derived (``"critical point x=0 of φ″"``, ``"limit x→+oo"``, ...).
    sup_abs:
        :math:`\sup|\varphi'| = \max(|\sup|, |\inf|)`, the factor of the chain bound (with
        ``sup_abs_exact``, ``sup_abs_error``, ``sup_abs_interval``).
    critical_points:
        Every certified interior critical point of φ′ (zero of φ″ where φ′ has a local
        extremum), as ``(location, value)`` pairs — exact or ``Float``.
    """

    activation: str
    sup: sp.Expr
    inf: sp.Expr
    argsup: Any
    arginf: Any
    attained: bool
    inf_attained: bool
    sup_exact: bool
    inf_exact: bool
    sup_error: sp.Expr
    inf_error: sp.Expr
    sup_interval: tuple[Any, Any]
    inf_interval: tuple[Any, Any]
    sup_method: str
    inf_method: str
    sup_abs: sp.Expr
    sup_abs_exact: bool
    sup_abs_error: sp.Expr
    sup_abs_interval: tuple[Any, Any]
    critical_points: tuple[tuple[sp.Expr, sp.Expr], ...] = ()

    @property
    def exact(self) -> bool:
        return self.sup_exact and self.inf_exact

    @property
    def method(self) -> str:
        return f"sup: {self.sup_method}; inf: {self.inf_method}"

    def latex(self) -> str:
        r"""``\sup_x \varphi'(x) = \frac{1}{4}`` (attained at x = 0), and the inf likewise."""
        return (
            _extremum_latex(
                r"\sup", self.sup, self.sup_exact, self.sup_error, self.argsup, self.attained
            )
            + r",\quad "
            + _extremum_latex(
                r"\inf", self.inf, self.inf_exact, self.inf_error, self.arginf, self.inf_attained
            )
        )

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: exact values as strings ("1/4"), floats, errors, intervals, methods."""
        return {
            "activation": self.activation,
            "sup": _value_dict(self.sup, self.sup_exact, self.sup_error, self.sup_interval)
            | {"at": _where_str(self.argsup), "attained": self.attained, "method": self.sup_method},
            "inf": _value_dict(self.inf, self.inf_exact, self.inf_error, self.inf_interval)
            | {
                "at": _where_str(self.arginf),
                "attained": self.inf_attained,
                "method": self.inf_method,
            },
            "sup_abs": _value_dict(
                self.sup_abs, self.sup_abs_exact, self.sup_abs_error, self.sup_abs_interval
            ),
            "exact": self.exact,
            "critical_points": [
                {"x": str(w), "x_float": _flt(w), "value": str(v), "value_float": _flt(v)}
                for w, v in self.critical_points
            ],
        }

    def __str__(self) -> str:
        def part(name: str, v: sp.Expr, exact: bool, err: sp.Expr, at: Any, att: bool) -> str:
            val = str(v) if exact else f"{v} ± {sp.Float(err, 3)}"
            how = "attained at" if att else "approached as x →"
            return f"{name} φ′ = {val} ({how} {_where_str(at)})"

        return (
            part("sup", self.sup, self.sup_exact, self.sup_error, self.argsup, self.attained)
            + "; "
            + part("inf", self.inf, self.inf_exact, self.inf_error, self.arginf, self.inf_attained)
        )


def _flt(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _where_str(w: Any) -> str:
    return str(w)


def _value_dict(v: sp.Expr, exact: bool, err: sp.Expr, ivl: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "value": str(v),
        "float": _flt(v),
        "exact": exact,
        "error": float(err),
        "interval": [float(ivl[0]), float(ivl[1])],
    }


def _extremum_latex(
    op: str, v: sp.Expr, exact: bool, err: sp.Expr, where: Any, attained: bool
) -> str:
    val = sp.latex(v) if exact else f"{sp.latex(v)} \\pm {sp.latex(sp.Float(err, 2))}"
    if attained:
        if isinstance(where, sp.Set):
            how = rf"\text{{ on }} {sp.latex(where)}"
        else:
            how = rf"\text{{ at }} x = {sp.latex(where)}"
    else:
        how = rf"\text{{ as }} x \to {sp.latex(where)}"
    return rf"{op}_{{x}} \varphi'(x) = {val}{how}"


@dataclass
class _Cand:
    node: _Node | None
    value: sp.Expr | None
    enc: tuple[MPF, MPF]
    attained: bool
    where: Any  # sympy number / Set / ±oo
    desc: str


def _candidates(an: _Analysis, which: str) -> list[_Cand]:
    out: list[_Cand] = []
    for p in an.pieces:
        if p.constant:
            v = sp.sympify(p.f)
            e = _const(v)
            out.append(
                _Cand(
                    None,
                    v,
                    (_lo(e), _hi(e)),
                    True,
                    p.interval,
                    f"constant φ′ = {v} on {p.interval}",
                )
            )
            continue
        for n in p.nodes:
            enc = n.sup_enc if which == "sup" else n.inf_enc
            out.append(_Cand(n, n.value, enc, n.attained, n.where, n.desc))
    return out


def _exact_equal(a: sp.Expr, b: sp.Expr) -> bool:
    """Proved equal (by simplification, also via exponentials); False means not proved."""
    if a == b:
        return True
    d = a - b
    if sp.simplify(d) == 0:
        return True
    return bool(d.has(*_HYPERBOLIC) and sp.simplify(_to_exp(d)) == 0)


def _pick(cands: list[_Cand], which: str) -> tuple[list[_Cand], tuple[MPF, MPF], bool]:
    """The candidates achieving the sup (or inf), the enclosure of the value, exactness."""
    sgn = 1 if which == "sup" else -1

    def key_lo(c: _Cand) -> MPF:  # a value the extremum certainly reaches
        return c.enc[0] if sgn > 0 else -c.enc[1]

    def key_hi(c: _Cand) -> MPF:
        return c.enc[1] if sgn > 0 else -c.enc[0]

    bound_lo = max(key_lo(c) for c in cands)
    winners = [c for c in cands if key_hi(c) >= bound_lo]
    if all(c.value is not None for c in winners):
        best = max(winners, key=key_hi)
        tied = [c for c in winners if c is best or _exact_equal(c.value, best.value)]
        if len(tied) == len(winners):
            return tied, best.enc, True
        # distinct exact values with overlapping enclosures: separate them at higher precision
        separated = True
        with _precision(PREC * 8):
            encs = {id(c): _const(c.value) for c in winners}
            vals = [_mid(encs[id(c)]) * sgn for c in winners]
            best = winners[vals.index(max(vals))]
            eb = encs[id(best)]
            for c in winners:
                if c is best or _exact_equal(c.value, best.value):
                    continue
                e = encs[id(c)]
                if (sgn > 0 and _hi(e) >= _lo(eb)) or (sgn < 0 and _lo(e) <= _hi(eb)):
                    separated = False  # equal to 1536 bits, yet not provably equal
        if separated:
            tied = [c for c in winners if c is best or _exact_equal(c.value, best.value)]
            return tied, best.enc, True
    lo = bound_lo
    hi = max(key_hi(c) for c in winners)
    enc = (lo, hi) if sgn > 0 else (-hi, -lo)
    return winners, enc, False


def _as_set(w: Any) -> sp.Set:
    if isinstance(w, sp.Set):
        return w
    return sp.FiniteSet(w)


def _location(tied: list[_Cand]) -> tuple[Any, bool]:
    attained = [c for c in tied if c.attained]
    if attained:
        s: sp.Set = sp.Union(*[_as_set(c.where) for c in attained])
        if isinstance(s, sp.FiniteSet) and len(s) == 1:
            return next(iter(s)), True
        return s, True
    places = [c.where for c in tied]
    uniq: list[Any] = []
    for p in places:
        if p not in uniq:
            uniq.append(p)
    if len(uniq) == 1:
        return uniq[0], False
    return sp.FiniteSet(*uniq), False


def _round_up(v: MPF, digits: int = 3) -> sp.Float:
    """A Float with ``digits`` significant digits that is ≥ v (for error bounds)."""
    if v <= 0:
        return sp.Float(0)
    fr = _fraction(v)
    e = math.floor(math.log10(float(v))) - (digits - 1)
    scale = Fraction(10) ** e
    m = math.ceil(fr * Fraction(10001, 10000) / scale)  # the Float's binary value stays ≥ v
    return sp.Float(sp.Rational(m) * sp.Rational(scale.numerator, scale.denominator), digits + 2)


def _float_with_error(enc: tuple[MPF, MPF]) -> tuple[sp.Float, sp.Float]:
    """The midpoint of an enclosure as a 30-digit Float, and an upper bound on its distance
    to every point of the enclosure — valid for the Float's binary value *and* for its
    printed decimal, whichever a reader uses."""
    with _precision(PREC + 64):
        mid = (enc[0] + enc[1]) / 2
        v = _float(mid)
        readings = (_sympy_mpf(v), mpmath.mpf(str(v)))
        err = max(max(abs(r - enc[0]), abs(enc[1] - r)) for r in readings)
    return v, _round_up(err)


def _report(
    tied: list[_Cand], enc: tuple[MPF, MPF], exact: bool
) -> tuple[sp.Expr, sp.Expr, tuple[MPF, MPF]]:
    if exact:
        v = tied[0].value
        assert v is not None
        return v, sp.Integer(0), enc
    v, err = _float_with_error(enc)
    return v, err, enc


def derivative_bound(act: Activation | str) -> DerivativeBound:
    r"""Certified supremum and infimum of φ′ over ℝ (see the module docstring for the method).

    >>> import vgmath as vg
    >>> b = vg.activation("sigmoid").derivative_bound()
    >>> b.sup, b.argsup, b.attained, b.exact
    (1/4, 0, True, True)
    >>> vg.activation("relu").derivative_bound().argsup
    Interval.open(0, oo)
    """
    act = as_activation(act)
    key = "bounds:derivative_bound"
    if key in act._cache:
        return act._cache[key]
    an = _analysis(act)
    with _precision():
        results = {}
        for which in ("sup", "inf"):
            cands = _candidates(an, which)
            tied, enc, exact = _pick(cands, which)
            value, err, enc = _report(tied, enc, exact)
            where, attained = _location(tied)
            descs = sorted({c.desc for c in tied})
            results[which] = (value, err, enc, where, attained, exact, "; ".join(descs))
        s_v, s_err, s_enc, s_where, s_att, s_ex, s_m = results["sup"]
        i_v, i_err, i_enc, i_where, i_att, i_ex, i_m = results["inf"]
        # sup|φ′| = max(sup, -inf), since inf ≤ sup
        a_v, a_ex, a_err, a_enc = _sup_abs(s_v, s_ex, s_enc, i_v, i_ex, i_enc)
        crit = []
        for p in an.pieces:
            for n in p.nodes[1:-1]:
                crit.append(
                    (
                        n.where,
                        n.value
                        if n.value is not None
                        else _float(_mid(_ivl(n.sup_enc[0], n.sup_enc[1]))),
                    )
                )
    bound = DerivativeBound(
        activation=act.label,
        sup=s_v,
        inf=i_v,
        argsup=s_where,
        arginf=i_where,
        attained=s_att,
        inf_attained=i_att,
        sup_exact=s_ex,
        inf_exact=i_ex,
        sup_error=s_err,
        inf_error=i_err,
        sup_interval=s_enc,
        inf_interval=i_enc,
        sup_method=s_m,
        inf_method=i_m,
        sup_abs=a_v,
        sup_abs_exact=a_ex,
        sup_abs_error=a_err,
        sup_abs_interval=a_enc,
        critical_points=tuple(crit),
    )
    act._cache[key] = bound
    return bound


def _max_exact(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    a, b = _simplify_number(a), _simplify_number(b)
    ea, eb = _const(a), _const(b)
    if _lo(ea) > _hi(eb):
        return a
    if _lo(eb) > _hi(ea):
        return b
    if _exact_equal(a, b):
        return a
    with _precision(PREC * 8):
        ea, eb = _const(a), _const(b)
        if _lo(ea) > _hi(eb):
            return a
        if _lo(eb) > _hi(ea):
            return b
    raise NumericalError(f"cannot order the exact values {a} and {b}")


def _sup_abs(
    s_v: sp.Expr,
    s_ex: bool,
    s_enc: tuple[MPF, MPF],
    i_v: sp.Expr,
    i_ex: bool,
    i_enc: tuple[MPF, MPF],
) -> tuple[sp.Expr, bool, sp.Expr, tuple[MPF, MPF]]:
    """max(sup, -inf) = sup|φ′|, exact when the larger one is exact and certainly larger."""
    n_enc = (-i_enc[1], -i_enc[0])
    if s_ex and i_ex:
        if s_v is sp.oo or i_v is sp.S.NegativeInfinity:
            return sp.oo, True, sp.Integer(0), (mpmath.inf, mpmath.inf)
        try:
            v = _max_exact(s_v, _simplify_number(-i_v))
        except NumericalError:
            pass  # equal to the last bit but not provably so: report the enclosure below
        else:
            e = _const(v)
            return v, True, sp.Integer(0), (_lo(e), _hi(e))
    if s_enc[0] > n_enc[1] and s_ex:
        return s_v, True, sp.Integer(0), s_enc
    if n_enc[0] > s_enc[1] and i_ex:
        return _simplify_number(-i_v), True, sp.Integer(0), n_enc
    enc = (max(s_enc[0], n_enc[0]), max(s_enc[1], n_enc[1]))
    if mpmath.isinf(enc[1]) and mpmath.isinf(enc[0]):
        return sp.oo, True, sp.Integer(0), enc
    v, err, enc = _report([], enc, False)
    return v, False, err, enc


# =====================================================================================
# validation of eps / depth
# =====================================================================================


def _positive(name: str, value: Any) -> sp.Expr:
    if value is None:
        raise InvalidArgumentError(name, value, "must be a positive number")
    v = to_sympy_number(name, value)
    if isinstance(v, sp.Float):  # read a SymPy Float as the decimal it prints as, like floats
        v = sp.Rational(str(v))
    pos = v.is_positive
    if pos is None:
        with _precision():
            pos = _sign(_const(v)) > 0
    if not pos:
        raise InvalidArgumentError(name, value, "must be > 0")
    return v


def _depth(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidArgumentError("depth", value, "must be a positive integer, not a bool")
    try:
        n = operator.index(value)
    except TypeError:
        raise InvalidArgumentError("depth", value, "must be a positive integer") from None
    if n < 1:
        raise InvalidArgumentError("depth", value, "must be a positive integer (>= 1)")
    return n


# =====================================================================================
# comparisons of node values with a level
# =====================================================================================


def _node_enclosure(n: _Node) -> tuple[MPF, MPF]:
    return min(n.sup_enc[0], n.inf_enc[0]), max(n.sup_enc[1], n.inf_enc[1])


def _cmp(value: sp.Expr | None, enc: tuple[MPF, MPF], c: sp.Expr) -> int:
    """Sign of (value - c): -1, 0 (proved equal) or +1."""
    ce = _const(c)
    if enc[1] < _lo(ce):
        return -1
    if enc[0] > _hi(ce):
        return 1
    if value is not None:
        if _exact_equal(value, c):
            return 0
        with _precision(PREC * 8):
            e, ce = _const(value), _const(c)
            if _hi(e) < _lo(ce):
                return -1
            if _lo(e) > _hi(ce):
                return 1
    raise NumericalError(f"cannot compare φ′ = {value if value is not None else enc} with {c}")


# =====================================================================================
# SaturationRegion
# =====================================================================================


@dataclass(frozen=True)
class SaturationRegion:
    r"""The set :math:`\{x \in \mathbb R : |\varphi'(x)| < \varepsilon\}` where a unit passes
    back less than a fraction ε of the gradient.

    Attributes
    ----------
    activation: the activation's label.
    eps: ε as an exact SymPy number.
    region: a SymPy ``Set`` (``Union`` of intervals, ``EmptySet`` or ``Reals``).
    exact: whether every boundary point is exact.
    boundaries: the finite boundary points of ``region``, left to right: exact SymPy numbers
        (roots of φ′ = ±ε solved in closed form, or kinks) or ``Float`` for certified numeric
        roots.
    boundary_intervals: ``(lo, hi)`` enclosures of each boundary point.
    error: the largest ``|true boundary - reported Float|`` (0 when exact).

    Example: sigmoid at ε = 0.01 saturates for
    :math:`|x| > \ln\frac{1+\sqrt{0.96}}{1-\sqrt{0.96}} \approx 4.585`, in closed form.
    """

    activation: str
    eps: sp.Expr
    region: sp.Set
    exact: bool
    boundaries: tuple[sp.Expr, ...]
    boundary_intervals: tuple[tuple[Any, Any], ...]
    error: sp.Expr

    def contains(self, value: Any) -> bool:
        """Is the point ``value`` in the saturation region?"""
        return bool(self.region.contains(sp.sympify(value)))

    def latex(self) -> str:
        return r"\{x : |\varphi'(x)| < " + sp.latex(self.eps) + r"\} = " + sp.latex(self.region)

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def to_dict(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "eps": str(self.eps),
            "eps_float": float(self.eps),
            "region": str(self.region),
            "region_latex": sp.latex(self.region),
            "exact": self.exact,
            "boundaries": [
                {
                    "value": str(b),
                    "float": float(b),
                    "exact": not isinstance(b, sp.Float),
                    "interval": [float(i[0]), float(i[1])],
                }
                for b, i in zip(self.boundaries, self.boundary_intervals, strict=True)
            ],
            "error": float(self.error),
        }

    def __str__(self) -> str:
        return f"{{x : |φ′(x)| < {self.eps}}} = {self.region}"


@dataclass
class _Crossing:
    where: sp.Expr
    enc: tuple[MPF, MPF]
    exact: bool


def _stretch_interval(st: _Stretch, left_open: bool, right_open: bool) -> sp.Set:
    return sp.Interval(st.left.where, st.right.where, left_open, right_open)


def _crossing(piece: _Piece, st: _Stretch, c: sp.Expr) -> _Crossing:
    """The unique root of φ′ = c strictly inside a monotone stretch (c strictly between ends)."""
    L, R = st.left, st.right
    roots = _exact_roots(sp.expand(piece.f - c))
    if roots is not None:
        inside = []
        for r in roots:
            e = _const(r)
            if _lo(e) > L.where_ivl[1] and _hi(e) < R.where_ivl[0]:
                inside.append((r, e))
        if len(inside) == 1:
            r, e = inside[0]
            return _Crossing(_simplify_number(r), (_lo(e), _hi(e)), True)
    h = _compile(sp.expand(piece.f - c))
    h1 = _compile(sp.diff(piece.f, x))
    s0 = _cmp(L.value, _node_enclosure(L), c)
    s1 = -s0
    if L.kind == "limit" and R.kind == "limit":
        start = mpmath.mpf(0)
        s = _sign(h(_ivl(start)))
        if s == 0:
            raise NumericalError(f"φ′ = {c} at x = 0: cannot bracket")
        if s == s0:
            a, b = _bracket_towards_infinity(h, start, 1, s)
        else:
            a, b = _bracket_towards_infinity(h, start, -1, s)
    elif L.kind == "limit":
        xr = R.where_ivl[0]
        a, b = _bracket_towards_infinity(h, xr, -1, s1)
    elif R.kind == "limit":
        xl = L.where_ivl[1]
        a, b = _bracket_towards_infinity(h, xl, 1, s0)
    else:
        a, b = L.where_ivl[1], R.where_ivl[0]
    a, b = _refine_root(h, h1, a, b)
    return _Crossing(_float((a + b) / 2), (a, b), False)


def _sublevel(piece: _Piece, st: _Stretch, c: sp.Expr, sign: int, found: list[_Crossing]) -> sp.Set:
    """{x in the stretch : sign·φ′(x) < sign·c}, with φ′ monotone on the stretch."""
    d = st.direction * sign
    if d == 0:
        raise NumericalError("φ′ is not certified monotone on a stretch; cannot solve φ′ = ±eps")
    u0 = sign * _cmp(st.left.value, _node_enclosure(st.left), c)  # sign of F(L) - C
    u1 = sign * _cmp(st.right.value, _node_enclosure(st.right), c)
    lo_open, hi_open = not st.left_closed, not st.right_closed
    if d > 0:
        if u1 <= 0:
            return _stretch_interval(st, lo_open, hi_open or u1 == 0)
        if u0 >= 0:
            return sp.S.EmptySet
        cr = _crossing(piece, st, c)
        found.append(cr)
        return sp.Interval(st.left.where, cr.where, lo_open, True)
    if u0 <= 0:
        return _stretch_interval(st, lo_open or u0 == 0, hi_open)
    if u1 >= 0:
        return sp.S.EmptySet
    cr = _crossing(piece, st, c)
    found.append(cr)
    return sp.Interval(cr.where, st.right.where, True, hi_open)


_DEFAULT_EPS = sp.Rational(1, 100)


def saturation_region(act: Activation | str, eps: Any = _DEFAULT_EPS) -> SaturationRegion:
    r"""Where a unit saturates: :math:`\{x : |\varphi'(x)| < \varepsilon\}`, exact or certified.

    >>> import vgmath as vg
    >>> vg.activation("relu").saturation_region(0.5).region
    Interval(-oo, 0)
    >>> r = vg.activation("sigmoid").saturation_region(0.01)
    >>> r.exact, [round(float(b), 4) for b in r.boundaries]
    (True, [-4.5849, 4.5849])
    """
    act = as_activation(act)
    c = _positive("eps", eps)
    key = f"bounds:saturation:{c}"
    if key in act._cache:
        return act._cache[key]
    an = _analysis(act)
    parts: list[sp.Set] = []
    found: list[_Crossing] = []
    with _precision():
        for p in an.pieces:
            if p.constant:
                if _cmp(sp.Abs(p.f), _endpoints(_const(sp.Abs(p.f))), c) < 0:
                    parts.append(p.interval)
                continue
            if not p.stretches:  # an isolated point
                n = p.nodes[0]
                if _cmp(sp.Abs(n.value), _endpoints(_const(sp.Abs(n.value))), c) < 0:
                    parts.append(p.interval)
                continue
            for st in p.stretches:
                below = _sublevel(p, st, c, 1, found)
                if below is sp.S.EmptySet:
                    continue
                above = _sublevel(p, st, -c, -1, found)
                parts.append(sp.Intersection(below, above))
        region = sp.Union(*parts) if parts else sp.S.EmptySet
        encs: dict[sp.Expr, tuple[MPF, MPF]] = {cr.where: cr.enc for cr in found}
        bpts = sorted(set(_finite_boundary(region)), key=float)
        ivls = []
        err = mpmath.mpf(0)
        exact = True
        for b in bpts:
            if b in encs and isinstance(b, sp.Float):
                lo, hi = encs[b]
                with _precision(PREC + 64):
                    for r in (_sympy_mpf(b), mpmath.mpf(str(b))):
                        err = max(err, hi - r, r - lo)
                exact = False
            else:
                e = _const(b)
                lo, hi = _lo(e), _hi(e)
            ivls.append((lo, hi))
    out = SaturationRegion(
        activation=act.label,
        eps=c,
        region=region,
        exact=exact,
        boundaries=tuple(bpts),
        boundary_intervals=tuple(ivls),
        error=sp.Integer(0) if exact else _round_up(err),
    )
    act._cache[key] = out
    return out


def _endpoints(e: Ivl) -> tuple[MPF, MPF]:
    return _lo(e), _hi(e)


def _finite_boundary(s: sp.Set) -> list[sp.Expr]:
    if s is sp.S.EmptySet:
        return []
    if isinstance(s, sp.Interval):
        return [p for p in (s.start, s.end) if p.is_finite]
    if isinstance(s, sp.Union):
        out: list[sp.Expr] = []
        for a in s.args:
            out.extend(_finite_boundary(a))
        return out
    if isinstance(s, sp.FiniteSet):
        return list(s)
    return []


# =====================================================================================
# ChainBound
# =====================================================================================


@dataclass(frozen=True)
class ChainBound:
    r"""The worst-case gradient factor of a chain of L units:
    :math:`\prod_{i=1}^{L}|\varphi'(x_i)| \le s^L` with :math:`s = \sup|\varphi'|`.

    Attributes
    ----------
    activation: the activation's label.
    factor: :math:`s = \sup_x|\varphi'(x)|` (exact SymPy number, or ``Float``); with
        ``factor_exact``, ``factor_error`` and ``factor_interval``.
    expression: :math:`s^L` in the symbol :data:`vgmath.depth_symbol`.
    depth: the depth asked for, or — when only ``eps`` is given — the smallest depth at
        which the bound drops below eps (None if it never does).
    bound: :math:`s^{\mathrm{depth}}` (exact when s is exact), or None.
    bound_interval: ``(lo, hi)`` enclosure of ``bound``.
    eps: the threshold asked for (exact), or None.
    min_depth: smallest L ≥ 1 with :math:`s^L < \varepsilon` (None if s ≥ 1 or no eps).
    vanishes: whether :math:`s < 1`, i.e. whether the bound tends to 0 with depth.
    reason: a sentence explaining the result.

    References: Bengio, Simard & Frasconi 1994 (IEEE TNN 5(2)); Hochreiter 1991.
    """

    activation: str
    factor: sp.Expr
    factor_exact: bool
    factor_error: sp.Expr
    factor_interval: tuple[Any, Any]
    expression: sp.Expr
    depth: int | None
    bound: sp.Expr | None
    bound_interval: tuple[Any, Any] | None
    eps: sp.Expr | None
    min_depth: int | None
    vanishes: bool
    reason: str

    def latex(self) -> str:
        s = sp.latex(self.factor) if self.factor_exact else rf"{sp.latex(self.factor)}\ldots"
        out = (
            r"\prod_{i=1}^{L} |\varphi'(x_i)| \le \Big(\sup_x |\varphi'(x)|\Big)^{L} = "
            f"\\left({s}\\right)^{{L}}"
        )
        if self.depth is not None and self.bound is not None:
            out += rf",\quad L = {self.depth}:\ {sp.latex(self.bound)}"
        if self.eps is not None:
            if self.min_depth is not None:
                out += rf",\quad \min\{{L : s^L < {sp.latex(self.eps)}\}} = {self.min_depth}"
            else:
                out += r",\quad \text{the bound never vanishes}"
        return out

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def to_dict(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "factor": str(self.factor),
            "factor_float": _flt(self.factor),
            "factor_exact": self.factor_exact,
            "factor_error": float(self.factor_error),
            "expression": str(self.expression),
            "depth": self.depth,
            "bound": None if self.bound is None else str(self.bound),
            "bound_float": None if self.bound is None else _flt(self.bound),
            "eps": None if self.eps is None else str(self.eps),
            "eps_float": None if self.eps is None else float(self.eps),
            "min_depth": self.min_depth,
            "vanishes": self.vanishes,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        return self.reason


def _power_vs(s: sp.Expr, s_exact: bool, s_enc: tuple[MPF, MPF], L: int, eps: sp.Expr) -> int:
    """Sign of s^L - eps (0 when proved equal)."""
    if s_exact and s.is_Rational and eps.is_Rational:
        a, b = Fraction(int(s.p), int(s.q)) ** L, Fraction(int(eps.p), int(eps.q))
        return (a > b) - (a < b)
    lo, hi = _ivl(s_enc[0]) ** L, _ivl(s_enc[1]) ** L
    e = _const(eps)
    if _hi(hi) < _lo(e):
        return -1
    if _lo(lo) > _hi(e):
        return 1
    if s_exact:
        return _cmp(s**L, (_lo(lo), _hi(hi)), eps)
    raise NumericalError(f"cannot decide whether ({s})^{L} < {eps}")


def chain_bound(act: Activation | str, *, depth: Any = None, eps: Any = None) -> ChainBound:
    r"""The chain bound :math:`(\sup|\varphi'|)^L` at a depth; the depth where it drops below eps.

    >>> import vgmath as vg
    >>> vg.activation("sigmoid").chain_bound(depth=5).bound
    1/1024
    >>> vg.activation("sigmoid").chain_bound(eps=1e-3).depth
    5
    >>> vg.activation("relu").chain_bound(eps=1e-3).depth is None
    True
    """
    act = as_activation(act)
    L = None if depth is None else _depth(depth)
    e = None if eps is None else _positive("eps", eps)
    b = derivative_bound(act)
    s, s_ex, s_enc = b.sup_abs, b.sup_abs_exact, b.sup_abs_interval
    with _precision():
        if s is sp.oo:
            vanishes = False
            below_one = False
        else:
            below_one = _cmp(s if s_ex else None, s_enc, sp.Integer(1)) < 0
            vanishes = below_one
        bound = bound_ivl = None
        if L is not None and s is not sp.oo:
            if s_ex:
                bound = _simplify_number(s**L)
                be = _const(bound)
                bound_ivl = (_lo(be), _hi(be))
            else:
                lo, hi = _lo(_ivl(s_enc[0]) ** L), _hi(_ivl(s_enc[1]) ** L)
                bound, _, bound_ivl = _report([], (lo, hi), False)
        min_depth = None
        if e is not None and below_one:
            if s == 0 or (s_enc[1] == 0):
                min_depth = 1
            else:
                ratio = mpmath.log(_hi(_const(e))) / mpmath.log(s_enc[1])
                k = max(1, int(mpmath.floor(ratio)) - 1)
                while _power_vs(s, s_ex, s_enc, k, e) < 0 and k > 1:
                    k -= 1
                while _power_vs(s, s_ex, s_enc, k, e) >= 0:
                    k += 1
                min_depth = k
    label = act.label
    s_txt = str(s) if s_ex else f"{s} (± {sp.Float(b.sup_abs_error, 2)})"
    if not vanishes:
        reason = (
            f"sup|φ′| = {s_txt} ≥ 1 for {label}: the bound (sup|φ′|)^L never drops below 1, "
            "so it cannot certify vanishing gradients at any depth"
        )
    elif e is not None:
        reason = (
            f"sup|φ′| = {s_txt} < 1 for {label}: (sup|φ′|)^L < {e} from depth L = {min_depth} on"
        )
    else:
        reason = f"sup|φ′| = {s_txt} < 1 for {label}: the bound decays geometrically with depth"
    if L is not None and bound is not None:
        reason += f"; at depth {L} the bound is {bound}"
    out_depth = L if L is not None else min_depth
    if L is None and min_depth is not None and bound is None:
        if s_ex:
            bound = _simplify_number(s**min_depth)
            be = _const(bound)
            bound_ivl = (_lo(be), _hi(be))
        else:
            with _precision():
                lo = _lo(_ivl(s_enc[0]) ** min_depth)
                hi = _hi(_ivl(s_enc[1]) ** min_depth)
                bound, _, bound_ivl = _report([], (lo, hi), False)
    return ChainBound(
        activation=label,
        factor=s,
        factor_exact=s_ex,
        factor_error=b.sup_abs_error,
        factor_interval=s_enc,
        expression=s**depth_symbol if s is not sp.oo else sp.oo,
        depth=out_depth,
        bound=bound,
        bound_interval=bound_ivl,
        eps=e,
        min_depth=min_depth,
        vanishes=vanishes,
        reason=reason,
    )
