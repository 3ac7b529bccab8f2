"""Exact SymPy numbers from user values, and their plain (JSON) form."""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

__all__ = ["exact_text", "plain_data", "short_expr", "short_text"]


def plain_data(value: Any) -> dict[str, Any]:
    """``{"exact": str, "float": float | None}`` for a SymPy number (or a float)."""
    if value is None:
        return {"exact": None, "float": None}
    if isinstance(value, sp.Basic):
        try:
            f = float(value)
        except TypeError:
            f = float("nan")
        return {"exact": str(value), "float": f if math.isfinite(f) else None}
    f = float(value)
    return {"exact": None, "float": f if math.isfinite(f) else None}


def short_text(value: Any, *, max_len: int = 40, digits: int = 6) -> str:
    """``str(value)`` when it is at most ``max_len`` characters, else an approximation
    (``≈1.00000e+300``): 1e300 is not printed as a 301-digit integer, and a number beyond
    Python's 4300-digit ``str`` limit prints at all."""
    import mpmath

    if isinstance(value, sp.Rational):
        p, q = int(value.p), int(value.q)
        if max(abs(p).bit_length(), q.bit_length()) <= 4 * max_len:
            text = str(value)
            if len(text) <= max_len:
                return text
        with mpmath.workdps(digits + 10):
            approx = mpmath.mpf(p) / q
        return "≈" + mpmath.nstr(approx, digits, min_fixed=0, max_fixed=0)
    text = str(value)
    if len(text) <= max_len:
        return text
    if isinstance(value, sp.Basic) and value.is_number:
        try:
            approx = value.evalf(digits + 3)._to_mpmath(4 * digits + 16)
            return "≈" + mpmath.nstr(approx, digits, min_fixed=0, max_fixed=0)
        except (AttributeError, TypeError, ValueError):
            pass
    return text[: max_len - 3] + "..."


#: numbers with more decimal digits than this print as 6-digit floats in expressions
_SHORT_DIGITS = 30


def short_expr(expr: Any, digits: int = 6) -> Any:
    """``expr`` with its long exact numbers (more than 30 digits) replaced by ``digits``-digit
    floats, for display: ``(5e299)**(L - l)`` rather than a 300-digit integer."""
    if not isinstance(expr, sp.Basic):
        return expr
    big = {}
    for r in expr.atoms(sp.Rational):
        if max(abs(int(r.p)).bit_length(), int(r.q).bit_length()) > _SHORT_DIGITS * 3.33:
            big[r] = _approx(r, digits)
    return expr.xreplace(big) if big else expr


def exact_text(expr: Any) -> str:
    """``str(expr)`` exactly when Python can print it (below its 4300-digit limit), else the
    shortened form of :func:`short_expr`."""
    try:
        return str(expr)
    except ValueError:
        return str(short_expr(expr))


def _approx(r: sp.Rational, digits: int) -> sp.Float:
    """A SymPy Float of an exact rational of any size (no int-to-str conversion)."""
    import mpmath

    with mpmath.workdps(digits + 10):
        v = mpmath.mpf(int(r.p)) / int(r.q)
    return sp.Float(v, digits)
