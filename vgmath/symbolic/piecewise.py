"""Splitting a (piecewise) expression in ``x`` into smooth pieces over intervals of the real line.

Shared by the bound certifier and the Gaussian integrator: both must treat kinks exactly
(a quadrature node or a critical-point search across a kink is wrong).
"""

from __future__ import annotations

import functools

import sympy as sp

__all__ = ["breakpoints", "normalize", "pieces"]

_KINKED = (sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign)


def normalize(expr: sp.Expr) -> sp.Expr:
    """Rewrite Abs/Max/Min/Heaviside/sign as Piecewise and fold nested Piecewise to the top."""
    expr = sp.sympify(expr)
    if any(expr.has(k) for k in _KINKED):
        expr = expr.rewrite(sp.Piecewise)
    if expr.has(sp.Piecewise):
        expr = sp.piecewise_fold(expr)
    return expr


def _as_intervals(s: sp.Set) -> list[sp.Interval]:
    if s is sp.S.EmptySet:
        return []
    if isinstance(s, sp.Interval):
        return [s]
    if isinstance(s, sp.FiniteSet):
        return []
    if isinstance(s, sp.Union):
        out: list[sp.Interval] = []
        for a in s.args:
            out.extend(_as_intervals(a))
        return out
    if s == sp.S.Reals:
        return [sp.Interval(-sp.oo, sp.oo)]
    raise TypeError(f"cannot split set {s} into intervals")


def pieces(expr: sp.Expr) -> list[tuple[sp.Interval, sp.Expr]]:
    """Return ``[(interval, smooth_expr), ...]`` covering the real line, ordered left to right.

    Isolated points assigned their own value (``Eq`` conditions) are dropped: they change no
    integral and no limit.

    The intervals are disjoint; their open/closed ends record which piece owns a kink
    (vgmath's convention: the piece whose condition holds at the point, as SymPy evaluates it).
    Results are cached per expression (SymPy expressions are immutable).
    """
    return list(_pieces(sp.sympify(expr)))


@functools.lru_cache(maxsize=256)
def _pieces(expr: sp.Expr) -> tuple[tuple[sp.Interval, sp.Expr], ...]:
    expr = normalize(expr)
    if not isinstance(expr, sp.Piecewise):
        return ((sp.Interval(-sp.oo, sp.oo), expr),)
    remaining: sp.Set = sp.S.Reals
    out: list[tuple[sp.Interval, sp.Expr]] = []
    for e, c in expr.args:
        s = remaining if c is sp.true else sp.Intersection(c.as_set(), remaining)
        s = sp.simplify(s) if not isinstance(s, (sp.Interval, sp.Union, sp.FiniteSet)) else s
        remaining = sp.Complement(remaining, s)
        for iv in _as_intervals(s):
            # a single point (an ``Eq`` condition) is a removable value, not a piece: it
            # changes no integral, and vgmath's parser never creates one
            if isinstance(iv, sp.Interval) and iv.measure > 0:
                out.append((iv, e))
        if remaining is sp.S.EmptySet:
            break
    out.sort(key=lambda p: float(p[0].start) if p[0].start.is_finite else -float("inf"))
    return tuple(out)


def breakpoints(expr: sp.Expr) -> tuple[sp.Expr, ...]:
    """The finite points where the piecewise description of ``expr`` switches pieces."""
    pts: set[sp.Expr] = set()
    for iv, _ in pieces(expr):
        for end in (iv.start, iv.end):
            if end.is_finite:
                pts.add(end)
    return tuple(sorted(pts, key=float))
