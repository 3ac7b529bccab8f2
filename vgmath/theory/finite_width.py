"""Finite-width corrections: exact fourth-moment ratios and the E[log] gap of the gradient.

1. Exact moment ratios (positively homogeneous φ, Gaussian weights)
--------------------------------------------------------------------
Let φ(x) = c₊x (x > 0), c₋x (x ≤ 0) (identity, ReLU, leaky ReLU, …) and W^l_ij ~ N(0, v_l).

*Forward.* Given x^{l-1}, the pre-activations h^l_i = W^l_i·x^{l-1} + b^l_i are i.i.d.
N(0, s²) with s² = v_l‖x^{l-1}‖² + σ_b², and φ(s z)² = s² φ(z)², so

.. math::  \\|x^l\\|^2 = (v_l \\|x^{l-1}\\|^2 + \\sigma_b^2)\\, T_l,\\qquad
           T_l = \\sum_{i=1}^{n_l} Y_i,\\quad Y_i \\overset{iid}{\\sim} \\varphi(z)^2,

with T_l independent of the past. Writing Y = C·z² with C = c_{sign z}² independent of z²
(|z| and sign z are independent), E[Y] = E[C], E[Y²] = 3E[C²]; for ReLU T_l = χ²_{B_l} with
B_l ~ Binomial(n_l, 1/2) (Hanin 2018, arXiv:1801.03744). The first two moments of ‖x^L‖²
follow exactly from a two-moment recursion; with σ_b² = 0 and a fixed input x^0 ≠ 0,

.. math::  \\frac{\\mathbb{E}\\|x^L\\|^4}{(\\mathbb{E}\\|x^L\\|^2)^2}
           = \\prod_{l=1}^{L} \\frac{\\mathbb{E}[T_l^2]}{\\mathbb{E}[T_l]^2}
           = \\prod_{l=1}^{L}\\Big(1 + \\frac{3\\kappa - 1}{n_l}\\Big),\\qquad
           \\kappa = \\frac{\\mathbb{E}[\\varphi'^4]}{\\mathbb{E}[\\varphi'^2]^2},

i.e. ∏(1 + 2/n_l) for a linear chain (κ = 1) and ∏(1 + 5/n_l) for ReLU (κ = 2): the
product runs over the widths n_1..n_L of the layers *after* the input.

*Backward.* g^0 = Jᵀ g^L with J = D_L W_L ⋯ D_1 W_1 (D_l = diag φ′(h^l)) and g^L ~ N(0, I).
Given J, ‖Jᵀg^L‖² = Σ σ_k² ξ_k² over the singular values of J — the same law as ‖J u‖² for
u ~ N(0, I_{n_0}) independent of J. For a fixed unit vector û, ‖J û‖² has the law of
∏_l v_l T_l whatever û is (Hanin & Nica 2019, arXiv:1812.05994: at each layer, with
b = J^{l-1}û = β x̂ + b^⊥, the unit-wise (β|t_i| + s_i)² with s_i ⊥ t_i symmetric has the law
of a centred Gaussian square, so the layer factor is v_l T_l given the past; this needs
σ_b² = 0 unless φ is linear). Hence ‖g^0‖² has the law of χ²_{n_0}·∏_{l=1}^{L} v_l T_l and

.. math::  \\frac{\\mathbb{E}\\|g^0\\|^4}{(\\mathbb{E}\\|g^0\\|^2)^2}
           = \\Big(1 + \\frac{2}{n_0}\\Big)\\prod_{l=1}^{L}\\Big(1 + \\frac{3\\kappa-1}{n_l}\\Big):

the random output gradient's own chi-square χ²_{n_L} does *not* appear; the chi-square
factor that does is that of the input width n_0 (for a linear chain the two views agree:
∏_{l=0}^{L}(1 + 2/n_l)). For g^l with l ≥ 1 replace n_0 by n_l and the product by l+1..L;
when one slope is 0 (ReLU) the input x^l of that sub-network is exactly 0 with probability
1 − ∏_{k≤l}(1 − 2^{−n_k}), and then g^l = φ′(0)^{L−l} W_{l+1}ᵀ⋯W_Lᵀ g^L (0 for ReLU, whose
kink belongs to the zero piece): the moments are the corresponding mixture.

2. E[ln χ] at finite width (``mean_ln_chi``)
----------------------------------------------
For the per-unit ratio R_l = (‖g^{l-1}‖²/n_{l-1})/(‖g^l‖²/n_l), with gradient independence
(the backward W^l independent of the forward pass; exact for linear chains and the last
layer) and h^l_i i.i.d. N(0, q^l):

.. math::  R_l = v_l n_l \\cdot A_l \\cdot \\frac{\\chi^2_{n_{l-1}}}{n_{l-1}},\\qquad
           A_l = \\frac{\\sum_i \\varphi'(h_i)^2 g_i^2}{\\sum_i g_i^2},

the chi-square independent of A_l. The weights w_i = g_i²/Σg² are Dirichlet(½, …, ½), so
E[A] = E[φ′²] exactly and Var(A)/E[A]² = 3(κ−1)/(n_l + 2) exactly. With
E[ln χ²_k] = ψ(k/2) + ln 2 and the delta method for ln A,

.. math::  \\mathbb{E}[\\ln R_l] = \\ln\\chi^l + \\psi\\big(\\tfrac{n_{l-1}}{2}\\big)
           - \\ln\\tfrac{n_{l-1}}{2} - \\frac{3}{2}\\,\\frac{\\kappa_l - 1}{n_l + 2}
           + O(n^{-2}),

exact for linear chains (κ = 1). ψ(k/2) − ln(k/2) = −1/k − 1/(3k²) + …, so to first order
E[ln R] ≈ ln χ − ½(2/n_{l-1} + 3(κ−1)/n_l).

Gradient independence is not exact: the backward pass reuses W^l. Given the forward pass,
(W^l)ᵀδ = x(uᵀδ)/‖x‖² + P⊥W̃ᵀδ (u = W^l x^{l-1}), which multiplies E[R_l] by
1 + c_l/n_{l-1}, c_l = (1 − σ_b²/q^l)(E[z²φ′²]/E[φ′²] − 1) (:func:`coupling_coefficient`;
0 for positively homogeneous φ, where the formula above is already complete); ``mean_ln_chi``
adds c_l/n_{l-1}. Not included: the O(1/n) effect of the
fluctuation of q^l itself across networks (zero for positively homogeneous φ with σ_b² = 0,
where χ does not depend on q). For ReLU at finite width, A_l = 0 with probability 2^{−n_l},
so E[ln R_l] is strictly −∞; the formula describes the non-degenerate part.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray
from scipy import special
from sympy import stats

from ..core.effort import effort_limit
from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from ..symbolic.catalog import Activation, as_activation
from ..symbolic.symbols import depth_symbol
from .meanfield import Homogeneous, activation_key, homogeneous

__all__ = [
    "LayerMoments",
    "coupling_coefficient",
    "finite_width_formula",
    "finite_width_moment_ratio",
    "layer_moments",
    "log_chi_correction",
    "mean_log_chi_profile",
    "width_symbol",
]

FloatArray = NDArray[np.float64]

#: The width n of a square network in :func:`finite_width_formula`.
width_symbol = sp.Symbol("n", integer=True, positive=True)


# --------------------------------------------------------------------------- E[ln R]


def log_chi_correction(n_in: Any, n_out: Any, kappa: Any, coupling: Any = 0.0) -> Any:
    """E[ln R_l] − ln χ^l = ψ(n_in/2) − ln(n_in/2) − (3/2)(κ − 1)/(n_out + 2) + c/n_in
    (vectorised); ``coupling`` is c of :func:`coupling_coefficient` (0 under gradient
    independence)."""
    n_in = np.asarray(n_in, dtype=np.float64)
    n_out = np.asarray(n_out, dtype=np.float64)
    kappa = np.asarray(kappa, dtype=np.float64)
    return (
        special.digamma(n_in / 2)
        - np.log(n_in / 2)
        - 1.5 * (kappa - 1.0) / (n_out + 2.0)
        + np.asarray(coupling, dtype=np.float64) / n_in
    )


def coupling_coefficient(q: Any, dphi2: Any, z2dphi2: Any, sigma_b2: float) -> Any:
    """c_l = (1 − σ_b²/q^l)(E[z²φ′²]/E[φ′²] − 1): the forward/backward coupling of W^l.

    The backward pass uses the same W^l as the forward pass. Conditioned on the forward pass,
    (W^l)ᵀδ = x (uᵀδ)/‖x‖² + P⊥ W̃ᵀδ with u = W^l x^{l-1} (the exact decomposition the
    conditioned sampler uses), so E‖(W^l)ᵀδ‖² gains, relative to gradient independence, the
    factor 1 + c_l/n_{l-1} with u regressed on h = u + b (Var u = q − σ_b²). c = 0 for
    positively homogeneous φ (E[z²φ′²] = E[φ′²]); for sigmoid at its Xavier fixed point
    c ≈ −0.20, the O(1/n) gap the simulator measures.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 - sigma_b2 / np.asarray(q, dtype=np.float64)) * (
            np.asarray(z2dphi2, dtype=np.float64) / np.asarray(dphi2, dtype=np.float64) - 1.0
        )


def mean_log_chi_profile(
    chi: FloatArray,
    dphi2: FloatArray,
    dphi4: FloatArray,
    widths: Sequence[int],
    coupling: FloatArray | float = 0.0,
) -> FloatArray:
    """``mean_ln_chi[l]`` for l = 1..L (NaN at 0), from χ^l, E[φ′²], E[φ′⁴] at q^l and the
    coupling coefficients c_l (:func:`coupling_coefficient`)."""
    L = len(widths) - 1
    w = np.asarray(widths, dtype=np.float64)
    out = np.full(L + 1, np.nan)
    c = np.broadcast_to(np.asarray(coupling, dtype=np.float64), (L + 1,))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = dphi4 / dphi2**2
        out[1:] = np.log(chi[1:]) + log_chi_correction(w[:-1], w[1:], kappa, c)
    return out


# --------------------------------------------------------------------------- exact ratios


@dataclass(frozen=True)
class LayerMoments:
    """Exact moments of one layer's factor T = Σ_{i=1}^{n} Y_i, Y = φ(z)² (see module doc).

    ``y1``, ``y2`` = E[Y], E[Y²]; ``p_zero`` = P(φ(z) = 0); ``d0`` = φ′(0) (kink convention).
    """

    homogeneous: Homogeneous
    y1: sp.Expr
    y2: sp.Expr
    p_zero: sp.Expr
    d0: sp.Expr

    def t1(self, n: Any) -> sp.Expr:
        """E[T] = n E[Y]."""
        return n * self.y1

    def t2(self, n: Any) -> sp.Expr:
        """E[T²] = n E[Y²] + n(n − 1) E[Y]²."""
        return n * self.y2 + n * (n - 1) * self.y1**2

    def ratio(self, n: Any) -> sp.Expr:
        """E[T²]/E[T]² = 1 + (3κ − 1)/n."""
        return sp.simplify(self.t2(n) / self.t1(n) ** 2)


_LAYER: dict[tuple[Any, ...], LayerMoments] = {}


def layer_moments(act: Activation | str) -> LayerMoments:
    """Derive E[Y], E[Y²] for Y = φ(z)² with sympy.stats (positively homogeneous φ only).

    Y = C·z² with C = c₊² (z > 0) or c₋² (z ≤ 0) independent of z² (sign and modulus of a
    centred Gaussian are independent), so E[Y^k] = E[C^k]·E[z^{2k}], C taking the values
    c₊² and c₋² with probability ½ each.
    """
    a = as_activation(act)
    key = activation_key(a)
    lm = _LAYER.get(key)
    if lm is None:
        h = _require_homogeneous(a)
        z = stats.Normal("z", 0, 1)
        # the law of C; equal slopes merge into one atom of probability 1
        density: dict[sp.Expr, sp.Expr] = {}
        for slope in (h.c_plus, h.c_minus):
            key = sp.simplify(slope**2)
            density[key] = density.get(key, sp.Integer(0)) + sp.Rational(1, 2)
        c = stats.FiniteRV("C", density)
        y1 = sp.simplify(stats.E(c) * stats.E(z**2))
        y2 = sp.simplify(stats.E(c**2) * stats.E(z**4))
        p_zero = sp.Rational(1, 2) * (int(h.c_plus == 0) + int(h.c_minus == 0))
        lm = LayerMoments(homogeneous=h, y1=y1, y2=y2, p_zero=p_zero, d0=h.d_at_zero)
        _LAYER[key] = lm
    return lm


def _require_homogeneous(act: Activation) -> Homogeneous:
    h = homogeneous(act)
    if h is None:
        raise InvalidArgumentError(
            "activation",
            act.label,
            "exact finite-width moments are known only for positively homogeneous "
            "activations (φ = c₊x for x > 0, c₋x for x ≤ 0: identity, relu, leaky_relu)",
        )
    if h.c_plus == 0 and h.c_minus == 0:
        raise InvalidArgumentError("activation", act.label, "φ ≡ 0 passes no signal")
    return h


@functools.lru_cache(maxsize=256)
def _chi2_moments(n: Any) -> tuple[sp.Expr, sp.Expr]:
    """E[χ²_n], E[(χ²_n)²] from sympy.stats (cached: one derivation per width)."""
    c = stats.ChiSquared("chi2", n)
    return sp.simplify(stats.moment(c, 1)), sp.simplify(stats.moment(c, 2))


def finite_width_moment_ratio(
    chain: Chain, *, which: str = "gradient", layer: int | None = None
) -> sp.Expr:
    """Exact E[‖v‖⁴]/E[‖v‖²]² at finite width (see the module docstring for the derivation).

    ``which="forward"``: v = x^layer (default layer L), the post-activations, for the fixed
    input of the chain (any σ_b²). ``which="gradient"``: v = g^layer (default 0, the gradient
    w.r.t. the input) with g^L ~ N(0, I); needs σ_b² = 0 unless φ is linear. The ratio of the
    per-unit second moments is the same number. Requires Gaussian weights and a positively
    homogeneous φ; returns an exact Rational for rational slopes.

    >>> import vgmath as vg
    >>> vg.finite_width_moment_ratio(vg.Chain("relu", "he", depth=2, width=[4, 5, 6]))
    11/2

    i.e. (1 + 2/n_0)(1 + 5/n_1)(1 + 5/n_2) = (3/2)·2·(11/6) for widths 4, 5, 6.
    """
    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    chain.require_numeric(
        "finite_width_moment_ratio (vg.predict(chain).finite_width_ratio() is the symbolic one)"
    )
    if chain.residual is not None or getattr(chain, "norm", None) is not None:
        raise InvalidArgumentError(
            "chain", str(chain), "exact finite-width ratios are derived for plain chains only"
        )
    if chain.rule.distribution != "normal":
        raise InvalidArgumentError(
            "init",
            str(chain.rule),
            "exact finite-width ratios need Gaussian weights (the chi-square structure); "
            f"got {chain.rule.distribution}",
        )
    lm = layer_moments(chain.act)
    L = chain.depth
    ws = chain.widths
    # one exact variance per distinct pair of fans (simplifying it per layer took minutes at
    # depth 100,000)
    pair_variance: dict[tuple[int, int], sp.Expr] = {}
    for pair in set(itertools.pairwise(ws)):
        pair_variance[pair] = chain.rule.variance(*pair)
    v = [pair_variance[(ws[i], ws[i + 1])] for i in range(L)]
    if which not in ("forward", "gradient"):
        raise InvalidArgumentError("which", which, "expected 'gradient' or 'forward'")
    # exact rationals grow with depth (about 40 s at 100,000 layers): an effort limit
    with effort_limit(f"compute the exact finite-width ratio of {chain}"):
        return _ratio(chain, lm, v, ws, which, layer)


def _ratio(chain: Chain, lm: LayerMoments, v: list[sp.Expr], ws: Sequence[int], which: str,
           layer: int | None) -> sp.Expr:
    L = chain.depth
    if which == "forward":
        lay = L if layer is None else _check_layer(layer, L)
        return _forward_ratio(lm, v, ws, chain.sigma_b2, chain.input_q, lay)
    if which == "gradient":
        lay = 0 if layer is None else _check_layer(layer, L)
        if chain.sigma_b2 != 0 and not lm.homogeneous.is_linear:
            raise InvalidArgumentError(
                "sigma_b2",
                chain.sigma_b2,
                "the exact gradient law needs σ_b² = 0 for a nonlinear φ (biases break the "
                "sign symmetry behind it)",
            )
        return _gradient_ratio(lm, v, ws, lay)
    raise InvalidArgumentError("which", which, "expected 'gradient' or 'forward'")


def _check_layer(layer: Any, L: int) -> int:
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= L:
        raise InvalidArgumentError("layer", layer, f"must be an integer in 0..{L}")
    return layer


def _forward_ratio(
    lm: LayerMoments, v: list[sp.Expr], ws: Sequence[int], sb2: sp.Expr, iq: sp.Expr, lay: int
) -> sp.Expr:
    """Two-moment recursion S_l = (v_l S_{l-1} + σ_b²) T_l, S_0 = n_0·input_q (fixed)."""
    m1 = ws[0] * iq
    m2 = m1**2
    for k in range(1, lay + 1):
        t1, t2 = lm.t1(ws[k]), lm.t2(ws[k])
        vk = v[k - 1]
        m1, m2 = (vk * m1 + sb2) * t1, (vk**2 * m2 + 2 * vk * sb2 * m1 + sb2**2) * t2
    return sp.simplify(m2 / m1**2)


def _gradient_ratio(lm: LayerMoments, v: list[sp.Expr], ws: Sequence[int], lay: int) -> sp.Expr:
    L = len(v)
    c1, c2 = _chi2_moments(ws[lay])
    a1, a2 = c1, c2  # the sub-network is alive (its input x^lay ≠ 0)
    d1, d2 = c1, c2  # its input is exactly 0: J = φ′(0)^{L−lay} W_L ⋯ W_{lay+1}
    for k in range(lay + 1, L + 1):
        vk = v[k - 1]
        a1, a2 = a1 * vk * lm.t1(ws[k]), a2 * vk**2 * lm.t2(ws[k])
        k1, k2 = _chi2_moments(ws[k])
        d1, d2 = d1 * vk * lm.d0**2 * k1, d2 * vk**2 * lm.d0**4 * k2
    alive = sp.Integer(1)
    for k in range(1, lay + 1):
        alive *= 1 - lm.p_zero ** ws[k]
    m1 = alive * a1 + (1 - alive) * d1
    m2 = alive * a2 + (1 - alive) * d2
    return sp.simplify(m2 / m1**2)


def finite_width_formula(
    activation: Activation | str,
    *,
    which: str = "gradient",
    width: sp.Expr = width_symbol,
    depth: sp.Expr = depth_symbol,
) -> sp.Expr:
    """The ratio of :func:`finite_width_moment_ratio` for a square chain (every n_l = n),
    σ_b² = 0, as a SymPy expression in ``width`` and ``depth`` (gradient: at the input).

    >>> import vgmath as vg
    >>> vg.finite_width_formula("relu")
    (1 + 2/n)*(1 + 5/n)**L
    """
    lm = layer_moments(as_activation(activation))
    r = sp.factor(lm.ratio(width))
    r = sp.expand(r) if r.is_Add else r
    r = 1 + sp.simplify(r - 1)
    if which == "forward":
        return r**depth
    if which == "gradient":
        c1, c2 = _chi2_moments(width)
        chi = 1 + sp.simplify(c2 / c1**2 - 1)
        return sp.powsimp(chi * r**depth)
    raise InvalidArgumentError("which", which, "expected 'gradient' or 'forward'")

