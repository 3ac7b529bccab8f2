"""Initialisation gains against their mean-field meaning: PyTorch's ``calculate_gain`` values
and what each implies (fixed point q*, χ₁, phase) under Var(W) = g²/fan_in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sympy as sp

from ..core.errors import NoFixedPointError
from ..symbolic.catalog import Activation, as_activation
from .criticality import _json_float, fixed_point
from .meanfield import homogeneous

__all__ = ["PYTORCH_GAINS", "GainImplication", "GainRow", "format_gain_table", "gain_table"]

# --------------------------------------------------------------------------- gains

#: PyTorch's ``torch.nn.init.calculate_gain`` table (exact), by vgmath catalog name.
PYTORCH_GAINS: dict[str, Any] = {
    "identity": lambda act: sp.Integer(1),
    "sigmoid": lambda act: sp.Integer(1),
    "tanh": lambda act: sp.Rational(5, 3),
    "relu": lambda act: sp.sqrt(2),
    "leaky_relu": lambda act: sp.sqrt(2 / (1 + act.params["slope"] ** 2)),
    "selu": lambda act: sp.Rational(3, 4),
}


@dataclass(frozen=True)
class GainImplication:
    """What a gain g implies under Var(W) = g²/fan_in, σ_b² = 0, from q⁰ = 1: the fixed
    point q* (None: q explodes), χ₁ there, the phase, and the slope χ_q of the variance map
    at q* (> 1: q* repels)."""

    gain: sp.Expr
    sigma_w2: sp.Expr
    q_star: float | None
    chi_1: float | None
    phase: str
    slope: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        from ..symbolic.numbers import plain_data

        return {
            "gain": plain_data(self.gain),
            "sigma_w2": plain_data(self.sigma_w2),
            "q_star": None if self.q_star is None else _json_float(self.q_star),
            "chi_1": None if self.chi_1 is None else _json_float(self.chi_1),
            "phase": self.phase,
            "slope": None if self.slope is None else _json_float(self.slope),
            "note": self.note,
        }


@dataclass(frozen=True)
class GainRow:
    """One activation: the derived gain g = 1/√E[φ(z)²] beside PyTorch's (if it has one)."""

    activation: str
    second_moment: sp.Expr
    derived: GainImplication
    derived_exact: bool
    pytorch: GainImplication | None

    def to_dict(self) -> dict[str, Any]:
        from ..symbolic.numbers import plain_data

        return {
            "activation": self.activation,
            "second_moment": plain_data(self.second_moment),
            "derived": self.derived.to_dict(),
            "derived_exact": self.derived_exact,
            "pytorch": None if self.pytorch is None else self.pytorch.to_dict(),
        }


def _implication(act: Activation, gain: sp.Expr) -> GainImplication:
    sw = sp.simplify(gain**2)
    try:
        fp = fixed_point(act, sw, 0, q0=1.0)
    except NoFixedPointError as err:
        return GainImplication(gain, sw, None, None, "exploding", None, str(err))
    note = fp.note
    if fp.slope > 1:
        note = f"q* = {fp.q_star:g} repels (slope {fp.slope:.6g} > 1); " + note
    return GainImplication(gain, sw, fp.q_star, fp.chi_1, fp.phase, fp.slope, note)


def _second_moment_at_one(act: Activation) -> tuple[sp.Expr, bool]:
    """E[φ(z)²], exact when possible (homogeneous φ by structure, else the exact Gaussian
    expectation of vgmath.theory.gaussian when it has a closed form)."""
    h = homogeneous(act)
    if h is not None:
        return h.c2, True
    from .gaussian import gaussian_expectation

    res = gaussian_expectation(act.expr**2, sp.Integer(1))
    if isinstance(res, sp.Basic) and res.is_number:
        return sp.sympify(res), True
    return sp.Float(float(res), 17), False


def gain_table(activations: Any = None) -> list[GainRow]:
    """Derived gains beside PyTorch's ``calculate_gain`` values, with what each implies.

    Convention: Var(W) = g²/fan_in, σ_b² = 0, and g is *derived* so that q = 1 is a fixed
    point of the forward map: g² E[φ(z)²] = 1, i.e. g = 1/√E[φ(z)²] (exact where E[φ(z)²]
    has a closed form: relu √2, identity 1, leaky_relu √(2/(1+a²))). For each gain the row
    gives σ_w² = g², the fixed point q* reached from q⁰ = 1 and χ₁ there (> 1 chaotic,
    < 1 ordered). PyTorch's table: linear/sigmoid 1, tanh 5/3, relu √2,
    leaky_relu √(2/(1+a²)), selu 3/4 (``torch.nn.init.calculate_gain``).

    >>> import vgmath as vg
    >>> row = vg.gain_table(["relu"])[0]
    >>> row.derived.gain, row.pytorch.gain, row.derived.chi_1
    (sqrt(2), sqrt(2), 1.0)
    """
    if activations is None:
        from ..symbolic.catalog import activations as catalog

        acts = [as_activation(n) for n in catalog()]
    elif isinstance(activations, (str, Activation)):
        acts = [as_activation(activations)]
    else:
        acts = [as_activation(a) for a in activations]
    rows = []
    for act in acts:
        m2, exact = _second_moment_at_one(act)
        gain = sp.sqrt(1 / m2) if exact else sp.Float(1 / math.sqrt(float(m2)), 17)
        gain = sp.simplify(gain) if exact else gain
        pt = PYTORCH_GAINS.get(act.name) if not act.source else None
        rows.append(
            GainRow(
                activation=act.label,
                second_moment=m2,
                derived=_implication(act, gain),
                derived_exact=exact,
                pytorch=None if pt is None else _implication(act, pt(act)),
            )
        )
    return rows


def format_gain_table(rows: list[GainRow]) -> str:
    """A text table of :func:`gain_table` rows: for the derived gain and PyTorch's, the gain,
    the fixed point q* reached from q⁰ = 1 (σ_b² = 0), χ₁ there and the phase."""

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.6g}"

    def part(imp: GainImplication | None) -> str:
        if imp is None:
            return f"{'-':>10} {'-':>11} {'-':>9} {'-':>10}"
        s = imp.slope
        q = f(imp.q_star) + (" " if s is None or s < 1 else ("=" if s == 1 else "!"))
        return f"{float(imp.gain):>10.6g} {q:>11} {f(imp.chi_1):>9} {imp.phase:>10}"

    width = max([10, *(len(r.activation) for r in rows)])
    head = (
        f"{'activation':<{width}} {'E[φ(z)²]':>10} | {'derived g':>10} {'q*':>11} {'χ₁':>9} "
        f"{'phase':>10} | {'PyTorch g':>10} {'q*':>11} {'χ₁':>9} {'phase':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.activation:<{width}} {float(r.second_moment):>10.6g} | {part(r.derived)} | "
            f"{part(r.pytorch)}"
        )
    lines.append(
        "(q* from q⁰ = 1 with σ_b² = 0; '=' every q is a fixed point, '!' a repelling fixed "
        "point: q⁰ = 1 sits on it, a perturbation leaves it)"
    )
    return "\n".join(lines)
