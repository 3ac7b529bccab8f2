"""The certified supremum and infimum of φ′ over ℝ (:class:`DerivativeBound`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from ...core.errors import NumericalError
from ..typeset import Typeset, latex_equation, latex_expr, latex_number
from .analysis import _Analysis, _analysis, _Node, _require_activation
from .interval import (
    MPF,
    PREC,
    _const,
    _float,
    _fraction,
    _hi,
    _ivl,
    _lo,
    _mid,
    _precision,
    _sympy_mpf,
)
from .tails import _HYPERBOLIC, _simplify_number, _to_exp

if TYPE_CHECKING:
    from ..catalog import Activation


# =====================================================================================
# DerivativeBound
# =====================================================================================


@dataclass(frozen=True)
class DerivativeBound(Typeset):
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

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        r"""``\sup_x \varphi'(x) = \frac{1}{4}`` (attained at x = 0), and the inf likewise
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        return [
            ("supremum", _extremum_latex(r"\sup", self.sup, self.sup_exact, self.sup_error,
                                         self.argsup, self.attained, digits)),
            ("infimum", _extremum_latex(r"\inf", self.inf, self.inf_exact, self.inf_error,
                                        self.arginf, self.inf_attained, digits)),
        ]

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
    op: str, v: sp.Expr, exact: bool, err: sp.Expr, where: Any, attained: bool, digits: int
) -> str:
    lhs = rf"{op}_{{x}} \varphi'(x)"
    if exact:
        val = latex_equation(lhs, v, digits)
    else:  # a certified enclosure: the value and its error bound
        val = rf"{lhs} = {latex_number(float(v), digits)} \pm {latex_number(float(err), 2)}"
    if attained:
        if isinstance(where, sp.Set):
            how = rf"\text{{ on }} {latex_expr(where, digits)}"
        else:
            how = r"\text{ at } " + latex_equation("x", where, digits)
    else:
        how = rf"\text{{ as }} x \to {latex_expr(where, digits)}"
    return val + how


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
    act = _require_activation(act)
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


