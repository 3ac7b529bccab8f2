"""Fixed points, the edge of chaos and initialisation gains (mean-field theory).

With W_ij ~ N(0, σ_w²/n) and b ~ N(0, σ_b²) (Poole et al. 2016, arXiv:1606.05340;
Schoenholz et al. 2017, arXiv:1611.01232, eqs. (2)–(9)), z ~ N(0, 1):

* variance map  q ↦ f(q) = σ_w² E[φ(√q z)²] + σ_b², fixed point q* = f(q*), slope
  χ_q = f′(q*) = σ_w² d/dq E[φ(√q z)²] = σ_w² E[φ′² + φφ″] (Gaussian integration by parts),
  depth scale ξ_q = −1/ln χ_q;
* correlation map  c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q*, (u₁, u₂) with variances q* and
  correlation c; c = 1 is always a fixed point, with slope χ₁ = σ_w² E[φ′(√q* z)²];
  in the chaotic phase (χ₁ > 1) a second fixed point c* < 1 attracts; χ_c = σ_w² E[φ′(u₁)φ′(u₂)]
  at c*, ξ_c = −1/ln χ_c;
* edge of chaos: χ₁ = 1 (ordered below, chaotic above). The gradient's second moment is
  multiplied by χ₁ per layer at the fixed point, so this is where it neither vanishes nor
  explodes exponentially.

Exact cases: for σ_b² = 0 and φ(0) = 0 with φ smooth at 0, q* = 0 attracts at criticality
and χ₁ = σ_w² φ′(0)², so σ_w² = 1/φ′(0)² exactly: tanh → 1, erf → π/4 (φ′(0) = 2/√π).
For positively homogeneous φ (ReLU family) χ₁ = σ_w²(c₊² + c₋²)/2 does not depend on q:
ReLU is critical exactly at σ_w² = 2 (He et al. 2015), where with σ_b² = 0 *every* q is a
fixed point and with σ_b² > 0 there is no finite fixed point at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from scipy import optimize

from ..core.errors import InvalidArgumentError, NoFixedPointError, NumericalError
from ..symbolic.catalog import Activation, as_activation
from ..symbolic.parse import to_sympy_number
from ..symbolic.typeset import Typeset, latex_equation, latex_expr, latex_number
from .meanfield import Moments, homogeneous, moment_provider, zero_behaviour

__all__ = [
    "MOMENT_ACCURACY",
    "CriticalPoint",
    "FixedPoint",
    "critical_line",
    "critical_point",
    "fixed_point",
]

_EPS = float(np.finfo(np.float64).eps)
#: Relative accuracy of the Gaussian moments from vgmath.theory.gaussian (its stated bound).
MOMENT_ACCURACY = 1e-12
#: Largest q searched for a fixed point before declaring that q grows without bound.
_Q_SEARCH_MAX = 1e15
#: |χ₁ − 1| below this is reported as the critical phase.
_CRITICAL_TOL = 1e-9


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> sp.Expr:
    v = to_sympy_number(name, value)
    if v.is_negative or (v.is_zero and not allow_zero):
        raise InvalidArgumentError(name, value, "must be >= 0" if allow_zero else "must be > 0")
    return v


def _xi(slope: float) -> float:
    """Depth scale −1/ln(slope): ∞ for slope ≥ 1, 0 for slope = 0."""
    if slope <= 0:
        return 0.0
    if slope >= 1:
        return math.inf
    return -1.0 / math.log(slope)


def _phase(chi_1: float) -> str:
    if abs(chi_1 - 1.0) <= _CRITICAL_TOL:
        return "critical"
    return "ordered" if chi_1 < 1 else "chaotic"


# --------------------------------------------------------------------------- fixed points


@dataclass(frozen=True)
class FixedPoint(Typeset):
    """The fixed point q* of the variance map reached from ``q0`` and what it implies.

    ``slope`` = χ_q (stable when < 1); ``chi_1`` = σ_w² E[φ′(√q* z)²]; ``c_star`` the
    attracting correlation (None when the correlation map is the identity, e.g. q* = 0 for
    smooth φ); ``chi_c`` its slope; ``xi_q``, ``xi_c`` the depth scales (∞ when the
    approach is slower than exponential). ``q_star_exact`` when known in closed form.
    """

    activation: Activation
    sigma_w2: sp.Expr
    sigma_b2: sp.Expr
    q_star: float
    q_star_exact: sp.Expr | None
    slope: float
    stable: bool
    chi_1: float
    c_star: float | None
    chi_c: float
    xi_q: float
    xi_c: float
    phase: str
    note: str = ""

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """q*, χ₁ and the depth scales (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        q = (latex_equation("q^*", self.q_star_exact, digits) if self.q_star_exact is not None
             else rf"q^* \approx {latex_number(self.q_star, digits)}")
        return [
            ("fixed point", q + (r"\ (\text{stable})" if self.stable else r"\ (\text{unstable})")),
            ("gradient factor", rf"\chi_1 = {latex_number(self.chi_1, digits)}"),
            ("depth scales", (rf"\xi_q = {latex_number(self.xi_q, digits)},\ "
             rf"\xi_c = {latex_number(self.xi_c, digits)}")),
        ]

    def to_dict(self) -> dict[str, Any]:
        from ..symbolic.numbers import plain_data

        return {
            "activation": self.activation.label,
            "sigma_w2": plain_data(self.sigma_w2),
            "sigma_b2": plain_data(self.sigma_b2),
            "q_star": plain_data(
                self.q_star_exact if self.q_star_exact is not None else self.q_star
            ),
            "slope": _json_float(self.slope),
            "stable": self.stable,
            "chi_1": _json_float(self.chi_1),
            "c_star": None if self.c_star is None else _json_float(self.c_star),
            "chi_c": _json_float(self.chi_c),
            "xi_q": _json_float(self.xi_q),
            "xi_c": _json_float(self.xi_c),
            "phase": self.phase,
            "note": self.note,
        }


def _json_float(v: float) -> float | str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


def fixed_point(
    activation: Activation | str,
    sigma_w2: Any,
    sigma_b2: Any = 0,
    *,
    q0: float = 1.0,
) -> FixedPoint:
    """The fixed point q* = σ_w² E[φ(√q* z)²] + σ_b² reached from q0, with χ₁, c*, ξ's.

    Raises :class:`vgmath.NoFixedPointError` when q grows without bound from q0.

    >>> import vgmath as vg
    >>> fp = vg.fixed_point("tanh", 2, 0.05)
    >>> round(fp.q_star, 6), fp.stable, fp.phase
    (0.721762, True, 'chaotic')

    Reference: Schoenholz et al. 2017, arXiv:1611.01232, eqs. (2)–(9).
    """
    act = as_activation(activation)
    sw = _positive("sigma_w2", sigma_w2)
    sb = _positive("sigma_b2", sigma_b2, allow_zero=True)
    if not (isinstance(q0, (int, float)) and math.isfinite(q0) and q0 > 0):
        raise InvalidArgumentError("q0", q0, "must be a finite number > 0")
    mom = moment_provider(act)
    if mom.homogeneous is not None:
        return _fixed_point_homogeneous(act, mom, sw, sb, float(q0))
    q_star = _q_star(mom, act, float(sw), float(sb), float(q0))
    return _describe(act, mom, sw, sb, q_star)


def _variance_map_limit_slope(act: Activation) -> float | None:
    """lim_{q→0⁺} E[φ(√q z)²]/q = (φ′(0⁻)² + φ′(0⁺)²)/2 when φ(0) = 0, else None."""
    zb = zero_behaviour(act)
    if zb.phi0 != 0:
        return None
    return zb.dphi2_limit_float


def _q_star(mom: Moments, act: Activation, sw: float, sb: float, q0: float) -> float:
    """Bracket and solve F(q) = σ_w² E[φ(√q z)²] + σ_b² − q = 0 from q0 (Brent, 4ε relative).

    For an increasing variance map this is the fixed point the iteration from q0 converges
    to: upwards while F > 0, downwards while F < 0. Returns 0.0 when q → 0 (σ_b² = 0,
    φ(0) = 0 and the small-q slope σ_w² E[φ′²]₀ ≤ 1: geometrically below 1, algebraically at
    1 — tanh at σ_w² = 1, where the map's own rounding would otherwise leave a spurious root
    near 1e-20).
    """

    def F(q: float) -> float:
        return float(sw * mom.phi2(q) + sb - q)

    f0 = F(q0)
    if abs(f0) <= 4 * MOMENT_ACCURACY * q0:
        return q0  # q0 is itself a fixed point to the accuracy of the moments
    if f0 > 0:
        lo, hi = q0, 2 * q0
        while F(hi) > 0:
            lo, hi = hi, 2 * hi
            if hi > _Q_SEARCH_MAX:
                raise NoFixedPointError(
                    f"{act.label} with sigma_w2={sw:g}, sigma_b2={sb:g}: the variance map "
                    f"stays above q for every q up to {_Q_SEARCH_MAX:g} (starting from "
                    f"q0={q0:g}); q grows without bound, so there is no finite fixed point"
                )
    else:
        a0 = _variance_map_limit_slope(act)
        lo, hi = q0 / 2, q0
        while F(lo) < 0:
            if lo < 1e-12 and sb == 0 and a0 is not None and sw * a0 <= 1:
                return 0.0  # the linear regime: q decays to 0
            if lo < 1e-290:
                return 0.0
            # halve down to 1e-12, then take steps of 1e-4 (Brent refines the bracket)
            lo, hi = (lo / 2 if lo > 1e-12 else lo * 1e-4), lo
    root = optimize.brentq(F, lo, hi, xtol=1e-300, rtol=4 * _EPS, maxiter=500)
    return float(root)


def _describe(act: Activation, mom: Moments, sw: sp.Expr, sb: sp.Expr, q: float) -> FixedPoint:
    swf, sbf = float(sw), float(sb)
    if q == 0.0:
        a0 = _variance_map_limit_slope(act)
        assert a0 is not None
        slope = swf * a0
        chi_1 = slope
        return FixedPoint(
            activation=act,
            sigma_w2=sw,
            sigma_b2=sb,
            q_star=0.0,
            q_star_exact=sp.Integer(0),
            slope=slope,
            stable=slope <= 1,
            chi_1=chi_1,
            c_star=None,
            chi_c=1.0,
            xi_q=_xi(slope),
            xi_c=math.inf,
            phase=_phase(chi_1),
            note="q* = 0: the signal dies out; near q = 0 the network is linear and the "
            "correlation map is the identity (chi_c = 1)",
        )
    slope = swf * float(mom.d_phi2_dq(q))
    chi_1 = swf * float(mom.dphi2(q))
    c_star, chi_c = _correlation_fixed_point(mom, swf, sbf, q, chi_1)
    return FixedPoint(
        activation=act,
        sigma_w2=sw,
        sigma_b2=sb,
        q_star=q,
        q_star_exact=None,
        slope=slope,
        stable=slope < 1,
        chi_1=chi_1,
        c_star=c_star,
        chi_c=chi_c,
        xi_q=_xi(slope),
        xi_c=_xi(chi_c),
        phase=_phase(chi_1),
        note="numeric: q* by Brent's method to 4 ulp on the map evaluated to ~1e-12 relative",
    )


def _correlation_fixed_point(
    mom: Moments, sw: float, sb: float, q: float, chi_1: float
) -> tuple[float, float]:
    """(c*, χ_c): c* = 1 when χ₁ ≤ 1, else the attracting root of C(c) = c below 1."""
    if chi_1 <= 1:
        return 1.0, chi_1

    def G(c: float) -> float:
        return float((sw * mom.cross(q, c) + sb) / q - c)

    delta = 1e-2
    g_hi = G(1 - delta)
    while g_hi >= 0 and delta > 1e-12:
        delta /= 10
        g_hi = G(1 - delta)
    if g_hi >= 0:  # the chaotic root has merged with c = 1 to our resolution
        return 1.0, chi_1
    lo = 0.0
    g_lo = G(lo)
    if g_lo <= 0:
        # C(0) = c·0: an odd φ with σ_b² = 0. c* = 0 attracts if C′(0) = σ_w² E[φ′(u₁)φ′(u₂)]
        # at c = 0 is below 1; otherwise the attracting root lies in (0, 1).
        slope0 = sw * float(mom.dcross(q, 0.0))
        if slope0 < 1:
            return 0.0, slope0
        lo = 1e-3
        while G(lo) <= 0 and lo < 0.5:
            lo *= 2
    c_star = float(optimize.brentq(G, lo, 1 - delta, xtol=1e-14, rtol=4 * _EPS))
    chi_c = sw * float(mom.dcross(q, c_star))
    return c_star, chi_c


def _fixed_point_homogeneous(
    act: Activation, mom: Moments, sw: sp.Expr, sb: sp.Expr, q0: float
) -> FixedPoint:
    """q ↦ a q + σ_b² with a = σ_w²(c₊² + c₋²)/2 exactly: q* = σ_b²/(1 − a) if a < 1."""
    h = mom.homogeneous
    assert h is not None
    a = sp.simplify(sw * h.c2)
    af = float(a)
    common = {"activation": act, "sigma_w2": sw, "sigma_b2": sb, "slope": af, "chi_1": af}
    phase = "critical" if a == 1 else ("ordered" if af < 1 else "chaotic")
    if a == 1 and sb == 0:
        return FixedPoint(
            **common,
            q_star=q0,
            q_star_exact=None,
            stable=False,
            c_star=None if h.is_linear else 1.0,
            chi_c=1.0,
            xi_q=math.inf,
            xi_c=math.inf,
            phase=phase,
            note=f"every q > 0 is a fixed point (the variance map is the identity); "
            f"returned q0 = {q0:g}",
        )
    if af >= 1:
        growth = "linearly (q^l = q^0 + l·σ_b²)" if a == 1 else f"geometrically (×{af:.6g})"
        raise NoFixedPointError(
            f"{act.label} with sigma_w2={sw}, sigma_b2={sb}: chi_1 = sigma_w2·E[φ′²] = {a} "
            f"does not depend on q, and q grows {growth}; no finite fixed point exists "
            f"above or (with sigma_b2 > 0) at criticality sigma_w2 = {sp.simplify(1 / h.c2)}"
        )
    q_exact = sp.simplify(sb / (1 - a))
    qf = float(q_exact)
    if qf == 0:
        c_star, chi_c, xi_c = (None if h.is_linear else 1.0), 1.0, math.inf
        note = (
            "q* = 0: the signal dies geometrically; the correlation map does not depend on q "
            "and has c = 1 with slope 1 (polynomial approach)"
        )
    else:
        c_star, chi_c = _correlation_fixed_point(mom, float(sw), float(sb), qf, af)
        xi_c = _xi(chi_c)
        note = "exact q* = σ_b²/(1 − σ_w² E[φ′²])"
    return FixedPoint(
        **common,
        q_star=qf,
        q_star_exact=q_exact,
        stable=True,
        c_star=c_star,
        chi_c=chi_c,
        xi_q=_xi(af),
        xi_c=xi_c,
        phase=phase,
        note=note,
    )


# --------------------------------------------------------------------------- edge of chaos


@dataclass(frozen=True)
class CriticalPoint(Typeset):
    """The edge of chaos χ₁ = 1 at a given σ_b².

    ``sigma_w2`` is exact (SymPy, e.g. ``pi/4``) when ``exact`` is True, else a SymPy Float
    accurate to ``error_bound`` (absolute; first-order propagation of the 1e-12 relative
    accuracy of the moments through the implicit equations). ``q_star`` is None when every
    q is a fixed point (ReLU family, σ_b² = 0). ``slope`` is χ_q at q*, ``xi_q`` its depth
    scale; at criticality χ_c = χ₁ = 1 and ξ_c = ∞.
    """

    activation: Activation
    sigma_b2: sp.Expr
    sigma_w2: sp.Expr
    q_star: sp.Expr | None
    chi_1: float
    slope: float
    xi_q: float
    xi_c: float
    exact: bool
    method: str
    error_bound: float
    note: str = ""

    @property
    def sigma_w2_float(self) -> float:
        return float(self.sigma_w2)

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """σ_w² at the edge of chaos, q* and the depth scale ξ_q
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        sw = (latex_equation(r"\sigma_w^2", self.sigma_w2, digits) if self.exact else
              rf"\sigma_w^2 = {latex_number(float(self.sigma_w2), digits)} \pm "
              rf"{latex_number(self.error_bound, 1)}")
        out = [("edge of chaos", (rf"\chi_1 = 1:\ {sw}\ (\sigma_b^2 = "
                rf"{latex_expr(self.sigma_b2, digits)})"))]
        if self.q_star is not None:
            out.append(("fixed point", latex_equation("q^*", self.q_star, digits)))
        out.append(("depth scale", rf"\xi_q = {latex_number(self.xi_q, digits)}"))
        return out

    @property
    def q_star_float(self) -> float | None:
        return None if self.q_star is None else float(self.q_star)

    def to_dict(self) -> dict[str, Any]:
        """Plain data: exact values as strings beside floats."""
        from ..symbolic.numbers import plain_data

        return {
            "kind": "critical_point",
            "activation": self.activation.label,
            "sigma_b2": plain_data(self.sigma_b2),
            "sigma_w2": plain_data(self.sigma_w2 if self.exact else None)
            | {"float": self.sigma_w2_float},
            "q_star": plain_data(self.q_star if self.exact else None)
            | {"float": self.q_star_float},
            "chi_1": _json_float(self.chi_1),
            "slope": _json_float(self.slope),
            "xi_q": _json_float(self.xi_q),
            "xi_c": _json_float(self.xi_c),
            "exact": self.exact,
            "error_bound": self.error_bound,
            "method": self.method,
            "note": self.note,
        }

    def __str__(self) -> str:
        sw = str(self.sigma_w2) if self.exact else f"{self.sigma_w2_float:.12g}"
        qs = "any q > 0" if self.q_star is None else (
            str(self.q_star) if self.exact else f"{float(self.q_star):.12g}"
        )
        acc = "exact" if self.exact else f"± {self.error_bound:.1e}"
        lines = [
            f"edge of chaos of {self.activation.label} at sigma_b2 = {self.sigma_b2}:",
            f"  sigma_w2 = {sw}  ({acc}; ≈ {self.sigma_w2_float:.12g})",
            f"  q*       = {qs}",
            (
                f"  chi_1 = {self.chi_1:.12g}, chi_q = {self.slope:.12g}, "
                f"xi_q = {self.xi_q:.6g}, xi_c = {self.xi_c:.6g}"
            ),
            f"  method: {self.method}",
        ]
        if self.note:
            lines.append(f"  note: {self.note}")
        return "\n".join(lines)


def critical_point(
    activation: Activation | str, *, sigma_b2: Any = 0, q0: float = 1.0
) -> CriticalPoint:
    """The edge of chaos: σ_w² with χ₁ = σ_w² E[φ′(√q* z)²] = 1 at the fixed point q*
    reached from q⁰ = ``q0`` (the chain's input_q; it matters only where the variance map
    has several attracting fixed points, e.g. GELU with σ_b² = 0).

    >>> import vgmath as vg
    >>> vg.critical_point("erf").sigma_w2
    pi/4
    >>> vg.critical_point("tanh").sigma_w2
    1
    >>> round(vg.critical_point("tanh", sigma_b2=0.05).sigma_w2_float, 6)
    1.760955

    Raises :class:`vgmath.NoFixedPointError` when no σ_w² has χ₁ = 1 at a finite fixed point
    (ReLU family with σ_b² > 0: the line σ_w² = 2 has no finite q*).
    References: Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
    arXiv:1611.01232 (Fig. 1: the critical line of tanh starts at (σ_w², σ_b²) = (1, 0)).
    """
    act = as_activation(activation)
    sb = _positive("sigma_b2", sigma_b2, allow_zero=True)
    if not (isinstance(q0, (int, float)) and math.isfinite(q0) and q0 > 0):
        raise InvalidArgumentError("q0", q0, "must be a finite number > 0")
    mom = moment_provider(act)
    h = mom.homogeneous
    if h is not None:
        return _critical_homogeneous(act, sb)
    exact = _critical_exact_at_zero(act, mom, sb)
    if exact is not None:
        return exact
    return _critical_numeric(act, mom, sb, float(q0))


def _critical_homogeneous(act: Activation, sb: sp.Expr) -> CriticalPoint:
    h = homogeneous(act)
    assert h is not None
    sw = sp.simplify(1 / h.c2)
    if sb != 0:
        raise NoFixedPointError(
            f"{act.label}: chi_1 = sigma_w2·{h.c2} does not depend on q, so chi_1 = 1 needs "
            f"sigma_w2 = {sw}; there, with sigma_b2 = {sb} > 0, the variance map "
            f"q ↦ q + sigma_b2 has no finite fixed point (q^l grows linearly). Below "
            f"sigma_w2 = {sw} the network is ordered (chi_1 < 1) for every sigma_b2."
        )
    return CriticalPoint(
        activation=act,
        sigma_b2=sb,
        sigma_w2=sw,
        q_star=None,
        chi_1=1.0,
        slope=1.0,
        xi_q=math.inf,
        xi_c=math.inf,
        exact=True,
        method="exact: positively homogeneous φ, chi_1 = sigma_w2·(c₊² + c₋²)/2 for every q",
        error_bound=0.0,
        note=f"every q > 0 is a fixed point at sigma_w2 = {sw} (the variance map is the "
        "identity); above it q and the gradients grow geometrically, below they decay",
    )


def _critical_exact_at_zero(act: Activation, mom: Moments, sb: sp.Expr) -> CriticalPoint | None:
    """σ_b² = 0, φ(0) = 0: q* = 0 and χ₁ = σ_w² E[φ′²]₀ with E[φ′²]₀ = (φ′(0⁻)² + φ′(0⁺)²)/2
    (= φ′(0)² for smooth φ), so σ_w² = 1/E[φ′²]₀ — provided q = 0 attracts there."""
    zb = zero_behaviour(act)
    if sb != 0 or zb.phi0 != 0:
        return None
    a0 = zb.dphi2_limit
    if a0 == 0:
        return None
    sw = sp.simplify(1 / a0)
    swf = float(sw)
    # q* = 0 attracts at sw when f(q) = sw·E[φ(√q z)²] ≤ q for every q > 0. A repelling
    # q = 0 shows up as f(q) − q ≥ c·q^{3/2} (kink) or c·q² (smooth) > 1e-12·q on this grid;
    # f(q) − q may vanish to the moments' accuracy (hard_tanh: exponentially small), which is
    # still no fixed point above 0.
    grid = np.logspace(-8, 6, 57)
    excess = swf * np.asarray(mom.phi2(grid)) - grid
    if not np.all(excess <= MOMENT_ACCURACY * grid):
        return None
    return CriticalPoint(
        activation=act,
        sigma_b2=sb,
        sigma_w2=sw,
        q_star=sp.Integer(0),
        chi_1=1.0,
        slope=1.0,
        xi_q=math.inf,
        xi_c=math.inf,
        exact=True,
        method="exact: sigma_b2 = 0 and φ(0) = 0, so q* = 0 and chi_1 = sigma_w2·E[φ′²]₀ "
        "with E[φ′²]₀ = (φ′(0⁻)² + φ′(0⁺)²)/2; q = 0 attracts (σ_w² E[φ(√q z)²] ≤ q "
        "checked on q ∈ [1e-8, 1e6])",
        error_bound=0.0,
        note="at q* = 0 the approach to the fixed point is algebraic (xi_q = ∞)",
    )


def _chi_1_at(mom: Moments, act: Activation, s: float, sb: float, q0: float) -> tuple[float, float]:
    """(χ₁ − 1, q*) at σ_w² = s for the fixed point reached from q0; raises
    NoFixedPointError when q diverges or the fixed point met is unstable (χ_q > 1: q0 sits
    exactly on a repelling fixed point, which no perturbed iteration stays at)."""
    q = _q_star(mom, act, s, sb, q0)
    if q == 0.0:
        a0 = _variance_map_limit_slope(act)
        assert a0 is not None
        return s * a0 - 1.0, 0.0
    if s * float(mom.d_phi2_dq(q)) > 1.0:
        raise NoFixedPointError(f"{act.label}: the fixed point q* = {q:g} at sigma_w2 = {s} repels")
    return s * float(mom.dphi2(q)) - 1.0, q


def _critical_numeric(act: Activation, mom: Moments, sb: sp.Expr, q0: float) -> CriticalPoint:
    """Scan σ_w² on a log grid for the first sign change of χ₁ − 1 at the fixed point reached
    from q0; where q starts to diverge between two grid points, bisect the boundary so that
    a crossing at a large (but finite) q* is not missed; then Brent."""
    sbf = float(sb)

    def G(s: float) -> tuple[float, float] | None:
        try:
            return _chi_1_at(mom, act, s, sbf, q0)
        except NoFixedPointError:
            return None

    grid = np.logspace(-2, 3, 81).tolist()
    prev: tuple[float, float] | None = None  # (s, χ₁ − 1) at the last finite fixed point
    bracket: tuple[float, float] | None = None
    diverged_at: float | None = None
    for s in grid:
        r = G(s)
        if r is None:
            diverged_at = s
            if prev is not None:
                lo, hi = prev[0], s
                for _ in range(60):
                    mid = 0.5 * (lo + hi)
                    rm = G(mid)
                    if rm is None:
                        hi = mid
                    elif rm[0] >= 0:
                        bracket = (lo, mid)
                        break
                    else:
                        lo = mid
            break
        if prev is not None and prev[1] < 0 <= r[0]:
            bracket = (prev[0], s)
            break
        prev = (s, r[0])
    if bracket is None:
        where = (
            f"the variance map has no finite fixed point (from q0 = {q0:g}) from sigma_w2 ≈ "
            f"{diverged_at:.4g} on"
            if diverged_at is not None
            else "chi_1 < 1 for every sigma_w2 up to 1e3"
        )
        raise NoFixedPointError(
            f"{act.label} at sigma_b2 = {sb}: no edge of chaos with a finite fixed point — "
            f"chi_1 stays below 1 where q* is finite and {where}"
        )

    def g_only(s: float) -> float:
        r = G(s)
        if r is None:  # pragma: no cover - the bracket ends are finite and Brent stays inside
            raise NumericalError(f"{act.label}: the fixed point disappeared at sigma_w2 = {s}")
        return r[0]

    s_star = float(optimize.brentq(g_only, *bracket, xtol=1e-15, rtol=4 * _EPS, maxiter=200))
    g, q = _chi_1_at(mom, act, s_star, sbf, q0)
    if abs(g) > 1e-8:
        # χ₁ jumps across 1 (the attracting fixed point changes branch): no edge of chaos
        raise NoFixedPointError(
            f"{act.label} at sigma_b2 = {sb}: chi_1 jumps across 1 at sigma_w2 ≈ {s_star:.10g} "
            f"(the attracting fixed point reached from q0 = {q0:g} changes branch there); "
            "there is no sigma_w2 with chi_1 = 1 at a stable fixed point"
        )
    slope = s_star * float(mom.d_phi2_dq(q)) if q > 0 else 1.0
    err = _error_bound(mom, act, s_star, sbf, q, slope, q0)
    return CriticalPoint(
        activation=act,
        sigma_b2=sb,
        sigma_w2=sp.Float(s_star, 17),
        q_star=sp.Float(q, 17),
        chi_1=g + 1.0,
        slope=slope,
        xi_q=_xi(slope),
        xi_c=math.inf,
        exact=False,
        method="numeric: Brent root of chi_1(sigma_w2) − 1, with q* solved to 4 ulp at each "
        "step (moments from vgmath.theory.gaussian, ~1e-12 relative)",
        error_bound=err,
    )


def _error_bound(
    mom: Moments, act: Activation, s: float, sb: float, q: float, slope: float, q0: float
) -> float:
    """First-order bound on |Δσ_w²| from relative moment errors ε = 1e-12.

    G(s) = s·D(q*(s)) − 1 with D = E[φ′²]: an error ε·D in D and an error
    ε·s·E[φ²]/(1 − χ_q) in q* (the implicit fixed-point equation) give
    |ΔG| ≤ ε·(s·D + s·|D′(q*)|·s·E[φ²]/(1 − χ_q)); divided by |dG/ds| (central difference),
    plus the 4-ulp tolerance of the root itself. When q* is not strictly stable (χ_q ≥ 1)
    the q*-term is unbounded at first order and the bound is reported as inf.
    """
    if slope >= 1 or q <= 0:
        return math.inf
    eps = MOMENT_ACCURACY
    D = float(mom.dphi2(q))
    dq = 1e-6 * q
    Dp = (float(mom.dphi2(q + dq)) - float(mom.dphi2(q - dq))) / (2 * dq)
    dG_err = eps * (s * D + s * abs(Dp) * s * float(mom.phi2(q)) / (1 - slope))
    h = 1e-6 * s
    gp = (_chi_1_at(mom, act, s + h, sb, q0)[0] - _chi_1_at(mom, act, s - h, sb, q0)[0]) / (2 * h)
    if gp == 0:
        raise NumericalError(f"{act.label}: chi_1 does not vary with sigma_w2 near {s}")
    return float(abs(dG_err / gp) + 4 * _EPS * s)


def critical_line(activation: Activation | str, sigma_b2_values: Any) -> np.ndarray:
    """σ_w² on the edge of chaos χ₁ = 1 for each σ_b² (a float array).

    For positively homogeneous φ χ₁ does not depend on q, so the line is σ_w² = 1/E[φ′²]
    for every σ_b² (with no finite q* on it when σ_b² > 0); entries where no σ_w² has
    χ₁ = 1 at a finite fixed point are NaN.

    >>> import vgmath as vg
    >>> [round(v, 4) for v in vg.critical_line("tanh", [0, 0.05, 0.1]).tolist()]
    [1.0, 1.761, 1.9861]

    Reference: Schoenholz et al. 2017, arXiv:1611.01232, Fig. 1 (tanh).
    """
    act = as_activation(activation)
    vals = np.atleast_1d(np.asarray(sigma_b2_values, dtype=np.float64))
    if vals.ndim != 1 or not np.all(np.isfinite(vals)) or np.any(vals < 0):
        raise InvalidArgumentError(
            "sigma_b2_values", sigma_b2_values, "expected finite values >= 0"
        )
    h = homogeneous(act)
    out = np.empty(vals.size)
    for i, v in enumerate(vals.tolist()):
        if h is not None:
            out[i] = float(1 / h.c2)
            continue
        try:
            out[i] = critical_point(act, sigma_b2=v).sigma_w2_float
        except NoFixedPointError:
            out[i] = np.nan
    return out


