"""Per-piece analysis of φ′: monotone stretches between certified critical points (interval branch-
and-bound on φ″, steps 2–4 of the package docstring), cached per activation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp
from mpmath import iv

from ...core.errors import InvalidArgumentError, NumericalError
from ..piecewise import pieces
from ..symbols import x
from .interval import (
    MPF,
    Ivl,
    _compile,
    _const,
    _enclose,
    _float,
    _fraction,
    _hi,
    _is_nan,
    _ivl,
    _lo,
    _mid,
    _nonneg,
    _nonpos,
    _precision,
    _sign,
    _to_rational,
)
from .tails import _exact_roots, _limit, _normal_form, _simplify_number, _tail

if TYPE_CHECKING:
    from ..catalog import Activation


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


def _require_activation(act: Any) -> Activation:
    """The bound functions take a :class:`vgmath.Activation` (``vg.activation(...)`` builds one
    from a name or an expression); anything else is refused with the argument named."""
    if not (hasattr(act, "expr") and hasattr(act, "derivative") and hasattr(act, "_cache")):
        raise InvalidArgumentError(
            "act", act, "expected a vgmath.Activation (build one with vg.activation(...))"
        )
    return act
