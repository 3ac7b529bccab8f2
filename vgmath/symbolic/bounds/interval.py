"""Rigorous interval arithmetic (mpmath.iv at 192 bits) and the interval primitives mpmath lacks
(tanh, sinh, cosh, …), plus conversions between mpmath, Fractions and SymPy numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp
from mpmath import iv, mp

from ...core.errors import NumericalError
from ..symbols import x

if TYPE_CHECKING:
    pass


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


