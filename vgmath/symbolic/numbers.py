"""Exact SymPy numbers from user values, and their plain (JSON) form."""

from __future__ import annotations

import math
from typing import Any

import sympy as sp

__all__ = ["plain_data"]


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
