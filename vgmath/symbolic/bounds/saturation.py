"""Saturation regions {x : |φ′(x)| < ε}, exact or certified (:class:`SaturationRegion`), and the
validation of ε and depth shared with chain bounds.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from ...core.errors import InvalidArgumentError, NumericalError
from ..parse import as_sympy, to_sympy_number
from ..symbols import x
from ..typeset import Typeset, latex_equation, latex_expr
from .analysis import (
    _analysis,
    _bracket_towards_infinity,
    _Node,
    _Piece,
    _refine_root,
    _require_activation,
    _Stretch,
)
from .derivative import _exact_equal, _round_up
from .interval import (
    MPF,
    PREC,
    Ivl,
    _compile,
    _const,
    _float,
    _hi,
    _ivl,
    _lo,
    _precision,
    _sign,
    _sympy_mpf,
)
from .tails import _exact_roots, _simplify_number

if TYPE_CHECKING:
    from ..catalog import Activation


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
class SaturationRegion(Typeset):
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
        point = as_sympy("value", value)
        if getattr(point, "free_symbols", None):
            raise InvalidArgumentError("value", value, "expected a number")
        return bool(self.region.contains(point))

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """``{x : |φ′(x)| < ε} = region`` (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        lhs = r"\{x : |\varphi'(x)| < " + latex_expr(self.eps, digits) + r"\}"
        return [("saturation region", latex_equation(lhs, self.region, digits))]

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
    act = _require_activation(act)
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


