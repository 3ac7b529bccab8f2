"""Chain bounds ∏ φ′(x_i) ≤ (sup|φ′|)^L and the smallest depth below ε (:class:`ChainBound`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import mpmath
import sympy as sp

from ...core.errors import NumericalError
from ..symbols import depth_symbol
from ..typeset import Typeset, latex_equation, latex_expr, latex_number
from .analysis import _require_activation
from .derivative import _flt, _report, derivative_bound
from .interval import MPF, _const, _hi, _ivl, _lo, _precision
from .saturation import _cmp, _depth, _positive
from .tails import _simplify_number

if TYPE_CHECKING:
    from ..catalog import Activation


# =====================================================================================
# ChainBound
# =====================================================================================


@dataclass(frozen=True)
class ChainBound(Typeset):
    r"""The worst-case gradient factor of a chain of L units:
    :math:`\prod_{i=1}^{L}|\varphi'(x_i)| \le s^L` with :math:`s = \sup|\varphi'|`.

    Attributes
    ----------
    activation: the activation's label.
    factor: :math:`s = \sup_x|\varphi'(x)|` (exact SymPy number, or ``Float``); with
        ``factor_exact``, ``factor_error`` and ``factor_interval``.
    expression: :math:`s^L` in the symbol :data:`vgmath.depth_symbol`.
    depth: the depth asked for, or — when only ``eps`` is given — the smallest depth at
        which the bound drops below eps (None if it never does).
    bound: :math:`s^{\mathrm{depth}}` (exact when s is exact), or None.
    bound_interval: ``(lo, hi)`` enclosure of ``bound``.
    eps: the threshold asked for (exact), or None.
    min_depth: smallest L ≥ 1 with :math:`s^L < \varepsilon` (None if s ≥ 1 or no eps).
    vanishes: whether :math:`s < 1`, i.e. whether the bound tends to 0 with depth.
    reason: a sentence explaining the result.

    References: Bengio, Simard & Frasconi 1994 (IEEE TNN 5(2)); Hochreiter 1991.
    """

    activation: str
    factor: sp.Expr
    factor_exact: bool
    factor_error: sp.Expr
    factor_interval: tuple[Any, Any]
    expression: sp.Expr
    depth: int | None
    bound: sp.Expr | None
    bound_interval: tuple[Any, Any] | None
    eps: sp.Expr | None
    min_depth: int | None
    vanishes: bool
    reason: str

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The per-layer factor, the bound at ``depth`` and the vanishing depth
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        s = (latex_expr(self.factor, digits) if self.factor_exact
             else latex_number(float(self.factor), digits) + r"\ldots")
        if s.startswith(r"\approx "):
            s = s[len(r"\approx "):] + r"\ldots"
        out = [("chain bound",
                (r"\prod_{i=1}^{L} |\varphi'(x_i)| \le \Big(\sup_x |\varphi'(x)|\Big)^{L} = "
                rf"\left({s}\right)^{{L}}"))]
        if self.depth is not None and self.bound is not None:
            out.append((f"at depth {self.depth}",
                        latex_equation(rf"s^{{{self.depth}}}", self.bound, digits)))
        if self.eps is not None:
            if self.min_depth is not None:
                out.append(("vanishing depth", (rf"\min\{{L : s^L < {latex_expr(self.eps, digits)}"
                            rf"\}} = {self.min_depth}")))
            else:
                out.append(("vanishing depth", r"\text{the bound never vanishes}"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "factor": str(self.factor),
            "factor_float": _flt(self.factor),
            "factor_exact": self.factor_exact,
            "factor_error": float(self.factor_error),
            "expression": str(self.expression),
            "depth": self.depth,
            "bound": None if self.bound is None else str(self.bound),
            "bound_float": None if self.bound is None else _flt(self.bound),
            "eps": None if self.eps is None else str(self.eps),
            "eps_float": None if self.eps is None else float(self.eps),
            "min_depth": self.min_depth,
            "vanishes": self.vanishes,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        return self.reason


def _power_vs(s: sp.Expr, s_exact: bool, s_enc: tuple[MPF, MPF], L: int, eps: sp.Expr) -> int:
    """Sign of s^L - eps (0 when proved equal)."""
    if s_exact and s.is_Rational and eps.is_Rational:
        a, b = Fraction(int(s.p), int(s.q)) ** L, Fraction(int(eps.p), int(eps.q))
        return (a > b) - (a < b)
    lo, hi = _ivl(s_enc[0]) ** L, _ivl(s_enc[1]) ** L
    e = _const(eps)
    if _hi(hi) < _lo(e):
        return -1
    if _lo(lo) > _hi(e):
        return 1
    if s_exact:
        return _cmp(s**L, (_lo(lo), _hi(hi)), eps)
    raise NumericalError(f"cannot decide whether ({s})^{L} < {eps}")


def chain_bound(act: Activation | str, *, depth: Any = None, eps: Any = None) -> ChainBound:
    r"""The chain bound :math:`(\sup|\varphi'|)^L` at a depth; the depth where it drops below eps.

    >>> import vgmath as vg
    >>> vg.activation("sigmoid").chain_bound(depth=5).bound
    1/1024
    >>> vg.activation("sigmoid").chain_bound(eps=1e-3).depth
    5
    >>> vg.activation("relu").chain_bound(eps=1e-3).depth is None
    True
    """
    act = _require_activation(act)
    L = None if depth is None else _depth(depth)
    e = None if eps is None else _positive("eps", eps)
    b = derivative_bound(act)
    s, s_ex, s_enc = b.sup_abs, b.sup_abs_exact, b.sup_abs_interval
    with _precision():
        if s is sp.oo:
            vanishes = False
            below_one = False
        else:
            below_one = _cmp(s if s_ex else None, s_enc, sp.Integer(1)) < 0
            vanishes = below_one
        bound = bound_ivl = None
        if L is not None and s is not sp.oo:
            if s_ex:
                bound = _simplify_number(s**L)
                be = _const(bound)
                bound_ivl = (_lo(be), _hi(be))
            else:
                lo, hi = _lo(_ivl(s_enc[0]) ** L), _hi(_ivl(s_enc[1]) ** L)
                bound, _, bound_ivl = _report([], (lo, hi), False)
        min_depth = None
        if e is not None and below_one:
            if s == 0 or (s_enc[1] == 0):
                min_depth = 1
            else:
                ratio = mpmath.log(_hi(_const(e))) / mpmath.log(s_enc[1])
                k = max(1, int(mpmath.floor(ratio)) - 1)
                while _power_vs(s, s_ex, s_enc, k, e) < 0 and k > 1:
                    k -= 1
                while _power_vs(s, s_ex, s_enc, k, e) >= 0:
                    k += 1
                min_depth = k
    label = act.label
    s_txt = str(s) if s_ex else f"{s} (± {sp.Float(b.sup_abs_error, 2)})"
    if not vanishes:
        reason = (
            f"sup|φ′| = {s_txt} ≥ 1 for {label}: the bound (sup|φ′|)^L never drops below 1, "
            "so it cannot certify vanishing gradients at any depth"
        )
    elif e is not None:
        reason = (
            f"sup|φ′| = {s_txt} < 1 for {label}: (sup|φ′|)^L < {e} from depth L = {min_depth} on"
        )
    else:
        reason = f"sup|φ′| = {s_txt} < 1 for {label}: the bound decays geometrically with depth"
    if L is not None and bound is not None:
        reason += f"; at depth {L} the bound is {bound}"
    out_depth = L if L is not None else min_depth
    if L is None and min_depth is not None and bound is None:
        if s_ex:
            bound = _simplify_number(s**min_depth)
            be = _const(bound)
            bound_ivl = (_lo(be), _hi(be))
        else:
            with _precision():
                lo = _lo(_ivl(s_enc[0]) ** min_depth)
                hi = _hi(_ivl(s_enc[1]) ** min_depth)
                bound, _, bound_ivl = _report([], (lo, hi), False)
    return ChainBound(
        activation=label,
        factor=s,
        factor_exact=s_ex,
        factor_error=b.sup_abs_error,
        factor_interval=s_enc,
        expression=s**depth_symbol if s is not sp.oo else sp.oo,
        depth=out_depth,
        bound=bound,
        bound_interval=bound_ivl,
        eps=e,
        min_depth=min_depth,
        vanishes=vanishes,
        reason=reason,
    )
