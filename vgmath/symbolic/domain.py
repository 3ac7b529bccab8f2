"""Guards for user expressions: the certified domain check (φ and φ′ finite and real on all
of ℝ, found by SymPy's ``solveset`` within an effort limit, with a witness search where SymPy
cannot decide; φ′ not zero almost everywhere), float formulas NumPy can evaluate (huge
integers as floats), and exact mpmath re-evaluation of points where the float formula
overflowed, which saturates instead of building astronomically large numbers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..core.effort import effort_limit
from ..core.errors import (
    EffortLimitError,
    InvalidArgumentError,
)
from .piecewise import pieces
from .symbols import x


def _float_numbers(expr: sp.Expr) -> sp.Expr:
    """``expr`` with integers beyond int64 (and rationals with such parts) as floats, so that
    NumPy never sees a Python int it cannot hold (``tanh(10**100)``)."""
    big = {
        r: sp.Float(r, 17)
        for r in expr.atoms(sp.Rational)
        if max(abs(int(r.p)), int(r.q)) >= 2**62
    }
    return expr.xreplace(big) if big else expr


_MP_HUGE = mpmath.mpf(2) ** 1100  # beyond any float64 input; exp of more is ±inf or 0


def _huge(u: Any) -> bool:
    return isinstance(u, mpmath.mpf) and mpmath.isfinite(u) and abs(u) > _MP_HUGE


def _saturating(name: str, at_plus: Any, at_minus: Any) -> Callable[[Any], Any]:
    """mpmath's ``name`` whose value at an astronomically large argument is its limit
    (computing it exactly would take time and memory in proportion to the argument's size)."""
    fn = getattr(mpmath, name)

    def guarded(u: Any) -> Any:
        if _huge(u):
            return at_plus if u > 0 else at_minus
        return fn(u)

    return guarded


def _unbounded(name: str) -> Callable[[Any], Any]:
    """mpmath's ``name`` refused at an astronomically large argument (sin, cos, tan: no
    limit to saturate to); the repair then gives up on that point."""
    fn = getattr(mpmath, name)

    def guarded(u: Any) -> Any:
        if _huge(u):
            raise OverflowError(f"{name} of a number beyond 2^1100")
        return fn(u)

    return guarded


def _mp_pow(base: Any, exponent: Any) -> Any:
    """base**exponent with the result's size estimated first: a power whose binary exponent
    would itself be astronomically large saturates to inf or 0 (as a float would) instead of
    building a gigantic integer."""
    b, e = mpmath.mpmathify(base), mpmath.mpmathify(exponent)
    if isinstance(b, mpmath.mpf) and isinstance(e, mpmath.mpf) and b > 0 and mpmath.isfinite(e):
        size = e * mpmath.log(b, 2) if b != 1 else mpmath.mpf(0)
        if abs(size) > _MP_HUGE:
            return mpmath.inf if size > 0 else mpmath.mpf(0)
    return b**e


_INF, _ZERO, _ONE = mpmath.inf, mpmath.mpf(0), mpmath.mpf(1)
_MP_GUARDS: dict[str, Callable[..., Any]] = {
    "exp": _saturating("exp", _INF, _ZERO),
    "sinh": _saturating("sinh", _INF, -_INF),
    "cosh": _saturating("cosh", _INF, _INF),
    "tanh": _saturating("tanh", _ONE, -_ONE),
    "erf": _saturating("erf", _ONE, -_ONE),
    "erfc": _saturating("erfc", _ZERO, mpmath.mpf(2)),
    "atan": _saturating("atan", mpmath.pi / 2, -mpmath.pi / 2),
    "sin": _unbounded("sin"),
    "cos": _unbounded("cos"),
    "tan": _unbounded("tan"),
    "sec": _unbounded("sec"),
    "csc": _unbounded("csc"),
    "cot": _unbounded("cot"),
    "vgpow": _mp_pow,
}

_VGPOW = sp.Function("vgpow")
_MP_MODULES = [_MP_GUARDS, "mpmath"]


def _mp_lambdify(expr: sp.Expr) -> Callable[[Any], Any]:
    """An mpmath evaluator of ``expr`` whose exponentials and powers cannot blow up (exact
    evaluation of ``exp(exp(exp(x)))`` at x = 50 would need a 10²¹-bit integer)."""
    guarded = expr.replace(
        lambda e: isinstance(e, sp.Pow) and not e.exp.is_Integer,
        lambda e: _VGPOW(e.base, e.exp),
    )
    return sp.lambdify(x, guarded, modules=_MP_MODULES)  # type: ignore[no-any-return]


#: points where a user expression is compared with the catalog (see :func:`_catalog_twin`)


#: effort limit of the symbolic domain check (seconds); beyond it only the grid check applies
_DOMAIN_SECONDS = 2.0


def _check_domain(expr: sp.Expr, d_expr: sp.Expr, text: str) -> None:
    """Refuse φ or φ′ that is undefined somewhere on ℝ, *certified* by SymPy's ``solveset``
    rather than sampled: a pole (``1/(x - 0.123)``, ``tan(x)``), a logarithm or a fractional
    power of something that becomes ≤ 0 or < 0 (``log(x + 50.01)``, ``sqrt(x - 60)``) is
    found wherever it is, not only on a grid. Sub-expressions inside a ``Piecewise`` are
    checked on their own piece only. When SymPy cannot decide (an implicit equation) within
    :data:`_DOMAIN_SECONDS`, the grid check of :func:`_check_real_on_the_line` remains."""
    with contextlib.suppress(EffortLimitError), effort_limit(
        "check where the expression is defined", _DOMAIN_SECONDS
    ):
        for label, e in (("φ", expr), ("φ′", d_expr)):
            where = _undefined_point(e, sp.S.Reals)
            if where is not None:
                point, why = where
                raise InvalidArgumentError(
                    "activation", text,
                    f"{label}(x) is not defined on the whole real line: {why} at "
                    f"x = {_show_point(point)}; an activation and its derivative must be "
                    "finite and real everywhere",
                )


def _show_point(p: Any) -> str:
    try:
        text = str(p)
        return text if len(text) <= 30 else f"{float(p):.6g}"
    except (TypeError, ValueError):  # pragma: no cover
        return "?"


def _first_point(s: sp.Set) -> Any | None:
    """A point of the solution set ``s`` (None if empty or undecided)."""
    if s is sp.S.EmptySet or isinstance(s, sp.ConditionSet):
        return None
    if isinstance(s, sp.FiniteSet):
        return min(s, key=lambda v: abs(float(v))) if s else None
    if isinstance(s, sp.Interval):
        if s.start.is_finite and s.end.is_finite:
            return s.start if not s.left_open else (s.start + s.end) / 2
        if s.start.is_finite:
            return s.start if not s.left_open else s.start + 1
        if s.end.is_finite:
            return s.end if not s.right_open else s.end - 1
        return sp.Integer(0)
    if isinstance(s, sp.Union):
        for a in s.args:
            p = _first_point(a)
            if p is not None:
                return p
        return None
    if isinstance(s, sp.ImageSet):
        try:
            return s.lamda(0)
        except (TypeError, ValueError):
            return None
    if isinstance(s, sp.Complement):
        return _first_point(s.args[0])
    return None


#: where an undecided condition is searched for a witness (a sign change of a continuous u)
_WITNESS_GRID = np.linspace(-1000.0, 1000.0, 400001)


def _sign_change(u: sp.Expr, kind: str, region: sp.Set) -> Any | None:
    """A point where ``u`` ≤ 0 / < 0 / changes sign (so has a zero: u is continuous there),
    found on a fine grid of [-1000, 1000] inside ``region``; None if none is seen. A point
    found is a witness (up to float rounding); not finding one proves nothing."""
    fn = sp.lambdify(x, u, modules="numpy")
    with np.errstate(all="ignore"):
        v = np.broadcast_to(np.asarray(fn(_WITNESS_GRID), dtype=float), _WITNESS_GRID.shape)
    try:
        inside = np.asarray([bool(region.contains(sp.Float(t)))
                             for t in _WITNESS_GRID[::4000]])
    except TypeError:
        inside = np.ones(101, dtype=bool)
    mask = np.repeat(inside, 4000)[: v.size] if not inside.all() else np.ones(v.size, bool)
    if kind == "zero":
        s = np.sign(v)
        hits = np.flatnonzero(mask[:-1] & mask[1:] & np.isfinite(v[:-1]) & np.isfinite(v[1:])
                              & (s[:-1] * s[1:] <= 0))
    else:
        hits = np.flatnonzero(mask & ((v <= 0) if kind == "le" else (v < 0)))
    if not hits.size:
        return None
    return sp.Float(_WITNESS_GRID[hits[0]], 6)


def _solve(cond: Any, region: sp.Set) -> sp.Set:
    try:
        return sp.solveset(cond, x, region)
    except (NotImplementedError, ValueError, TypeError):
        return sp.ConditionSet(x, cond, region)


def _undefined_point(e: sp.Expr, region: sp.Set) -> tuple[Any, str] | None:
    """A point of ``region`` where ``e`` is undefined (with why), or None."""
    if region is sp.S.EmptySet or x not in e.free_symbols:
        return None
    if isinstance(e, sp.Piecewise):
        remaining = region
        for f, c in e.args:
            piece = remaining if c is sp.true else sp.Intersection(c.as_set(), remaining)
            found = _undefined_point(f, piece)
            if found is not None:
                return found
            remaining = sp.Complement(remaining, piece)
        return None
    bad: list[tuple[Any, str]] = []
    if isinstance(e, sp.Pow) and x in e.base.free_symbols:
        b, k = e.base, e.exp
        if x in k.free_symbols or not k.is_integer:
            # a real power needs a positive base (SymPy's principal branch is complex else)
            if x in k.free_symbols or k.is_negative:
                bad.append((b, "le", "a power with a non-positive base"))
            else:
                bad.append((b, "lt", "a fractional power of a negative number"))
        elif k.is_negative:
            bad.append((b, "zero", "division by zero"))
    elif isinstance(e, sp.log):
        bad.append((e.args[0], "le", "the logarithm of a non-positive number"))
    elif isinstance(e, sp.tan):
        bad.append((sp.cos(e.args[0]), "zero", "a pole of tan"))
    for u, kind, why in bad:
        cond = {"le": u <= 0, "lt": u < 0, "zero": sp.Eq(u, 0)}[kind]
        s = _solve(cond, region)
        p = _first_point(s)
        if p is None and isinstance(s, sp.ConditionSet):
            p = _sign_change(u, kind, region)  # SymPy cannot decide: look for a witness
        if p is not None:
            return p, why
    for a in e.args:
        if isinstance(a, sp.Expr):
            found = _undefined_point(a, region)
            if found is not None:
                return found
    return None


def _check_gradient_passes(d_expr: sp.Expr, text: str) -> None:
    """Refuse φ whose derivative is zero almost everywhere (``heaviside(x)``, a staircase):
    such a unit passes no gradient at all."""
    try:
        with effort_limit("check the derivative", _DOMAIN_SECONDS):
            pcs = pieces(d_expr)
            flat = all(sp.simplify(f) == 0 for _, f in pcs)
    except (EffortLimitError, TypeError, ValueError, NotImplementedError):
        return
    if flat:
        raise InvalidArgumentError(
            "activation", text,
            "φ′(x) is zero almost everywhere (a step function): the unit passes no gradient",
        )


#: effort limit of one exact re-evaluation of a non-finite float (seconds)
_REPAIR_SECONDS = 0.5


#: total time one array's repairs may take (seconds); the remaining points stay non-finite
_REPAIR_TOTAL = 2.0


def _repair_nonfinite(out: np.ndarray, u: np.ndarray, exact: Callable[[Any], Any]) -> np.ndarray:
    """Where the float formula of a user expression overflowed (inf or NaN at a finite input,
    e.g. exp(x) in x*tanh(log(1+exp(x))) at x = 1e3), evaluate it with mpmath instead.

    Points where the expression is genuinely not real (sqrt of a negative) stay NaN; after 32
    such points without a single repair the rest are left alone (a domain error, not an
    overflow), so a large array outside the domain costs no more than 32 mpmath calls."""
    flat_out, flat_u = out.reshape(-1), u.reshape(-1)
    failures = repaired = 0
    started = time.monotonic()
    for i in np.flatnonzero(~np.isfinite(flat_out) & np.isfinite(flat_u)):
        if (failures >= 32 and not repaired) or time.monotonic() - started > _REPAIR_TOTAL:
            break
        try:
            with effort_limit("repair a non-finite value by exact evaluation", _REPAIR_SECONDS):
                v = mpmath.mpmathify(exact(mpmath.mpf(float(flat_u[i]))))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError, EffortLimitError):
            v = None
        if isinstance(v, mpmath.mpf) and mpmath.isfinite(v):
            flat_out[i] = float(v)
            repaired += 1
        else:
            failures += 1
    return out
