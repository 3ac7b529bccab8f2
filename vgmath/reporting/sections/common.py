"""Helpers every section shares: labels, escaping, and the per-configuration prediction cache."""

from __future__ import annotations

import re
from typing import Any

from .. import latex as L
from ..core import ReportContext


def slug(index: int, label: str) -> str:
    """A file-name-safe, unique, deterministic stem: ``03-leaky-relu``."""
    s = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:32].strip("-")
    return f"{index:02d}-{s}" if s else f"{index:02d}"


def _t(text: Any) -> str:
    """User-supplied text (labels): escaped, and breakable in narrow table columns; ``$...$``
    parts in the safe subset of :func:`vgmath.reporting.latex.safe_math` typeset as math."""
    return L.label_text(text)


def _m(tex: str) -> str:
    return "$" + tex + "$"


# --------------------------------------------------------------------------- shared results


def prediction(ctx: ReportContext, a: int, i: int) -> Any:
    """``vg.predict`` of the chain (activation a, init i), cached for every section."""
    o = ctx.options
    (alab, act), (ilab, init) = o.activations[a], o.inits[i]

    def make() -> Any:
        predict = ctx.engine("theory.prediction", "predict")
        with ctx.timed("theory"):
            return predict(o.chain(act, init))

    return ctx.cached(("prediction", alab, ilab), make)


