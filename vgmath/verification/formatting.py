"""Shared formatting and export for verification results: numbers given by their natural log
printed without under/overflow, p-values, and the JSON/CSV/``save`` API of every result."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ..core.errors import InvalidArgumentError
from ..core.io import save_by_extension
from ..network.description import Chain
from ..symbolic.typeset import Typeset

__all__ = ["LN10", "Report", "fmt_p", "latex_sci", "num", "positive_int", "row_selection",
           "sci", "seed_value", "versions", "widths_text"]

LN10 = math.log(10.0)


def sci(log_value: float, digits: int = 4) -> str:
    """A positive number given by its natural log, printed without under/overflow."""
    if math.isnan(log_value):
        return "-"
    if log_value == -math.inf:
        return "0"
    if log_value == math.inf:
        return "inf"
    l10 = log_value / LN10
    e = math.floor(l10)
    mant = 10 ** (l10 - e)
    if mant >= 10 - 0.5 * 10 ** (1 - digits):  # rounding would print 10.000
        mant, e = mant / 10, e + 1
    if -3 <= e <= 3:
        return f"{math.exp(log_value):.{digits}g}"
    return f"{mant:.{digits - 1}f}e{e:+d}"


def latex_sci(log_value: float, digits: int = 4) -> str:
    text = sci(log_value, digits)
    if "e" in text and text not in ("inf",):
        mant, exp = text.split("e")
        return rf"{mant}\times 10^{{{int(exp)}}}"
    return {"inf": r"\infty", "-": "--"}.get(text, text)


def fmt_p(p: float) -> str:
    if math.isnan(p):
        return "-"
    if p == 0:
        return "0"
    if p < 1e-3:
        return f"{p:.1e}"
    return f"{p:.3f}"


def latex_p(p: float) -> str:
    r"""A p-value for math mode: ``0.153``, ``2.8\times10^{-28}``, ``--`` (no test)."""
    from ..symbolic.typeset import latex_number

    if math.isnan(p):
        return "--"
    if p == 0 or p >= 1e-3:
        return fmt_p(p)
    return latex_number(p, 2)


def num(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def versions() -> dict[str, str]:
    import scipy

    from ..core.version import __version__

    return {
        "vgmath": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sympy": sp.__version__,
        "python": platform.python_version(),
    }


class Report(Typeset):
    """Shared export API: ``to_dict()`` (subclass), ``rows()``, JSON/CSV, ``save(path)``, and
    ``latex(mode, digits)`` (:class:`vgmath.symbolic.typeset.Typeset`)."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every subclass overrides
        raise TypeError("abstract")

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:  # pragma: no cover
        raise TypeError("abstract")

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text of :meth:`to_dict` (NaN and ±inf become ``null``)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        """CSV, one row per table line; metadata on leading ``#`` lines (``comment="#"``)."""
        buf = io.StringIO()
        meta = {k: v for k, v in self.to_dict().items() if k != "rows"}
        for key, value in meta.items():
            text = json.dumps(value, allow_nan=False) if isinstance(value, (dict, list)) else value
            buf.write(f"# {key}: {text}\n")
        header, rows = self._csv_rows()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON (``.json``) or CSV (``.csv``) by extension, atomically."""
        return save_by_extension(path, self.to_json, self.to_csv)




def row_selection(
    layers: NDArray[np.int64], flagged: NDArray[np.bool_], rows: int | None
) -> list[int]:
    n = len(layers)
    if rows is None or n <= rows:
        return list(range(n))
    keep = {round(i) for i in np.linspace(0, n - 1, rows)}
    keep |= {int(i) for i in np.flatnonzero(flagged)}
    return sorted(keep)


def widths_text(chain: Chain) -> str:
    lo, hi = min(chain.widths), max(chain.widths)
    return str(lo) if lo == hi else f"{lo}..{hi}"



def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(name, value, "expected a positive integer")
    return int(value)


def seed_value(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError("seed", seed, "expected a non-negative integer or None")
    return int(seed)

