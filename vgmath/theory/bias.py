"""The leading finite-width bias of mean-field predictions, by the delta method.

Mean-field theory (Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
arXiv:1611.01232) is the n → ∞ limit. At width n the per-network pre-activation variance

.. math::  s_l = v_l \\lVert x^{l-1}\\rVert^2 + \\sigma_b^2

is random (h^l_j | s_l are i.i.d. N(0, s_l) for Gaussian weights), and every average over
units carries O(1/√n) noise. Expanding to first order in 1/n (the delta method) around the
mean-field path q_l gives the bias of the ensemble means that vgmath simulates. With
P(q) = E[φ(√q z)²], P₄(q) = E[φ(√q z)⁴], f(q) = E[φ′(√q z)²], C(q) = E[φ′(√q z)²φ(√q z)²],
σ_l² = n_{l-1} v_l and c_l = n_l v_l (so χ_l = c_l f(q_l)), the deviations u_l = s_l − q_l
obey, to O(1/n),

.. math::

    E[u_{l+1}] &= a_l E[u_l] + \\tfrac12 σ_{l+1}^2 P''(q_l)\\,\\mathrm{Var}(u_l), \\qquad
    a_l = σ_{l+1}^2 P'(q_l),\\\\
    \\mathrm{Var}(u_{l+1}) &= a_l^2 \\mathrm{Var}(u_l) + σ_{l+1}^4 (P_4 - P^2)(q_l)/n_l,\\\\
    \\mathrm{Cov}(u_l, u_k) &= a_l a_{l+1}\\cdots a_{k-1} \\mathrm{Var}(u_l)\\quad (k > l).

The backward pass multiplies E[‖g‖²/n] by c_m A_m per layer, A_m = mean_j φ′(h^m_j)² with
E[A_m | s_m] = f(s_m). Writing A_m = f(s_m)(1 + η_m), f(s_m) = f_m(1 + β_m u_m + ½γ_m u_m²)
(β = f′/f, γ = f″/f), and D_m = Cov(η_m, u_{m+1}) = σ_{m+1}²(C − fP)(q_m)/(n_m f_m),

.. math::

    \\ln \\frac{E[\\lVert g^l\\rVert^2/n_l]}{G_l} \\approx
      \\sum_{m>l} \\big(β_m E[u_m] + \\tfrac12 γ_m \\mathrm{Var}(u_m)\\big)
      + \\sum_{l<m<k\\le L} β_k \\big(β_m \\mathrm{Cov}(u_m, u_k)
      + a_{m+1}\\cdots a_{k-1} D_m\\big),

G_l the mean-field value. The double sum is the covariance of the per-layer factors through
the shared random s_m: it grows like (L − l)²/n when the variance map is near-marginal
(a_l ≈ 1), which is why finite-width corrections of E[‖g‖²] are much larger than 1/n for
some activations at moderate depth.

The second part is the correlation between the forward and the backward use of one weight
matrix (what the "gradient independence assumption" drops). Exactly (the conditioned
sampler of :mod:`vgmath.montecarlo.sampler`), g^{l-1} = P⊥y + x κ/‖x‖² with x = x^{l-1},
y ~ N(0, v_l‖δ^l‖² I) and κ = x^{l-1}·g^{l-1}; its second moments obey a closed two-state
linear recursion (:func:`_coherent_recursion`) that is added to the first part. It
vanishes for positively homogeneous activations without bias (Euler: x^l·g^l is then
conserved), consistent with the exactness of mean-field E‖g‖² for ReLU networks (Hanin
2018, NeurIPS). Cross terms between the two parts are O(1/n²). Inputs are fixed
(s_1 = σ_1² input_q + σ_b² exactly); weights are Gaussian.

Besides the bias B, every quantity carries a scale S ≥ |B|: the sum of the absolute values
of the terms of B. :func:`vgmath.verify` uses S for its tolerance, so that a cancellation
between terms (forward fluctuations raising E‖g‖², the weight-sharing term lowering it)
never makes the tolerance smaller than the individual corrections. Measured against
exact simulation over the catalog (depth 20, width 128), B matches the simulated deviation
from mean-field within its statistical error wherever S < 1 (tests/test_verify.py).

All Gaussian integrals use a composite Gauss–Legendre rule in z over [−12, 12] (the
N(0, 1) mass beyond, weighted by a polynomial of degree ≤ 8, is below 1e-28), split at the
activation's kinks b/√q and at the images ±2^k/√q of a geometric grid of φ's argument; the
q-derivatives are 5-point central differences of those integrals (relative step 1e-2;
truncation error O(1e-8) relative, well below the O(1/n²) neglected terms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from ..symbolic.typeset import Typeset, latex_number

__all__ = ["WidthBias", "gaussian_moments", "width_bias"]

FloatArray = NDArray[np.float64]

_Z_MAX = 12.0
_GL_T, _GL_W = np.polynomial.legendre.leggauss(24)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_REL_STEP = 1e-2


def _panels(q: float, kinks: tuple[float, ...]) -> FloatArray:
    s = math.sqrt(q)
    pts = set(np.linspace(-_Z_MAX, _Z_MAX, 49).tolist())  # spacing 0.5 resolves e^{-z²/2}
    geo = 2.0 ** np.arange(-4, 8)
    for xp in (0.0, *kinks, *geo.tolist(), *(-geo).tolist()):
        z = xp / s
        if -_Z_MAX < z < _Z_MAX:
            pts.add(z)
    return np.array(sorted(pts))


def gaussian_moments(act: Any, q: float) -> dict[str, float]:
    """E over z ~ N(0, 1) of φ², φ⁴, φ′², φ′²φ² at argument √q z (kink-split quadrature)."""
    kinks = tuple(float(b) for b in act.breakpoints)
    edges = _panels(q, kinks)
    lo, hi = edges[:-1, None], edges[1:, None]
    half = (hi - lo) / 2
    z = (lo + hi) / 2 + half * _GL_T[None, :]
    w = half * _GL_W[None, :] * _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    x = math.sqrt(q) * z.ravel()
    with np.errstate(all="ignore"):
        p = np.asarray(act(x), dtype=np.float64)
        d = np.asarray(act.grad(x), dtype=np.float64)
    w = w.ravel()
    p2, d2 = p * p, d * d
    return {
        "P": float(w @ p2),
        "P4": float(w @ (p2 * p2)),
        "f": float(w @ d2),
        "C": float(w @ (d2 * p2)),
        "H2": float(w @ (x * x * d2)),
        "HP": float(w @ (x * d * p)),
    }


def _derivs(fn: Any, q: float) -> tuple[float, float, float]:
    """(g(q), g′(q), g″(q)) by 5-point central differences with step 1e-2·q."""
    h = _REL_STEP * q
    v = [fn(q + k * h) for k in (-2, -1, 0, 1, 2)]
    d1 = (v[0] - 8 * v[1] + 8 * v[3] - v[4]) / (12 * h)
    d2 = (-v[0] + 16 * v[1] - 30 * v[2] + 16 * v[3] - v[4]) / (12 * h * h)
    return v[2], d1, d2


@dataclass(frozen=True)
class WidthBias(Typeset):
    """First-order finite-width biases (natural-log units) of per-layer ensemble means.

    ``grad_second_moment[l]`` ≈ ln(E[‖g^l‖²/n_l]/G_l) with G_l the mean-field value;
    ``q[l]`` ≈ ln(E[‖h^l‖²/n_l]/q_l); ``grad_preact_second_moment[l]`` and
    ``grad_weight_second_moment[l]`` likewise. Each ``<name>_scale`` is the sum of the
    absolute values of the terms that make up ``<name>`` (≥ its absolute value): the size
    of the first-order correction if no two terms cancelled. ``mean_field_q`` is the
    mean-field q profile the expansion is taken around.
    """

    grad_second_moment: FloatArray
    grad_preact_second_moment: FloatArray
    grad_weight_second_moment: FloatArray
    q: FloatArray
    grad_second_moment_scale: FloatArray
    grad_preact_second_moment_scale: FloatArray
    grad_weight_second_moment_scale: FloatArray
    q_scale: FloatArray
    mean_field_q: FloatArray

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """Where the bias is largest: the gradient's B^g_l and the forward pass's B^q_l at
        the layer of largest |B|, with its scale S there (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        out: list[tuple[str, str]] = []
        for label, name, sym, ratio in (
            ("gradient", "grad_second_moment", "g",
             r"\frac{\mathbb{E}[\lVert g^l\rVert^2/n_l]}{G_l}"),
            ("forward pass", "q", "q", r"\frac{\mathbb{E}[\lVert h^l\rVert^2/n_l]}{q_l}"),
        ):
            bias, scale = self.for_quantity(name)
            size = np.where(np.isfinite(bias), np.abs(bias), -1.0)
            if size.size == 0 or size.max() < 0:
                continue
            at = int(np.argmax(size))
            out.append((f"{label}: bias", rf"B^{sym}_l \approx \ln{ratio}"))
            out.append((f"{label}: largest |bias|", (
                rf"\max_l\lvert B^{sym}_l\rvert:\ B^{sym}_{{{at}}} = "
                rf"{latex_number(bias[at], digits)}\ "
                rf"(S^{sym}_{{{at}}} = {latex_number(scale[at], digits)})")))
        return out

    def for_quantity(self, quantity: str) -> tuple[FloatArray, FloatArray]:
        """(bias, scale) arrays of one of the shared per-layer quantities."""
        return (
            np.asarray(getattr(self, quantity), dtype=np.float64),
            np.asarray(getattr(self, f"{quantity}_scale"), dtype=np.float64),
        )


def width_bias(chain: Chain) -> WidthBias:
    """The delta-method finite-width bias of ``chain``'s per-layer means (module docstring).

    Plain chains with i.i.d. Gaussian weights only (the derivation uses h | s ~ N(0, s)).
    """
    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    chain.require_numeric("the finite-width bias")
    if chain.residual is not None:
        raise InvalidArgumentError(
            "chain", str(chain), "the finite-width expansion covers plain chains only"
        )
    act = chain.act
    L = chain.depth
    ns = chain.widths
    sig2 = [float(s) for s in chain.sigma_w2s]  # σ_l² for l = 1..L at index l-1
    sb2 = float(chain.sigma_b2)

    cache: dict[float, dict[str, float]] = {}

    def mom(q: float) -> dict[str, float]:
        if q not in cache:
            cache[q] = gaussian_moments(act, q)
        return cache[q]

    q = np.full(L + 1, np.nan)
    q[0] = float(chain.input_q)
    mean_u = np.zeros(L + 1)  # E[u_l], l = 1..L
    var_u = np.zeros(L + 1)
    a = np.zeros(L + 1)  # a_l = dq_{l+1}/dq_l (for l = 1..L-1)
    beta = np.zeros(L + 1)
    gamma = np.zeros(L + 1)
    dcov = np.zeros(L + 1)
    # layer 1: s_1 = σ_1² input_q + σ_b², deterministic (fixed input)
    q[1] = sig2[0] * q[0] + sb2
    for l in range(1, L + 1):
        ql = float(q[l])
        if not (ql > 0 and math.isfinite(ql)):
            raise InvalidArgumentError("chain", str(chain), f"mean-field q[{l}] = {ql} is not > 0")
        P, dP, d2P = _derivs(lambda t: mom(t)["P"], ql)
        f, df, d2f = _derivs(lambda t: mom(t)["f"], ql)
        m = mom(ql)
        beta[l] = df / f if f > 0 else 0.0
        gamma[l] = d2f / f if f > 0 else 0.0
        if l < L:
            s2 = sig2[l]  # σ_{l+1}²
            q[l + 1] = s2 * P + sb2
            a[l] = s2 * dP
            mean_u[l + 1] = a[l] * mean_u[l] + 0.5 * s2 * d2P * var_u[l]
            var_u[l + 1] = a[l] ** 2 * var_u[l] + s2 * s2 * (m["P4"] - P * P) / ns[l]
            dcov[l] = s2 * (m["C"] - f * P) / (ns[l] * f) if f > 0 else 0.0

    # gradient: B_l = sum_{m>l} single(m) + sum_{l<m<k<=L} pair(m, k); S_l the same sum of
    # absolute values (no cancellation assumed between terms)
    single = beta * mean_u + 0.5 * gamma * var_u
    row, row_abs = _pair_rows(beta, a, var_u, dcov)
    # B_l = sum_{m>l} (single_m + row_m): a suffix sum
    per_m = single + row
    per_m_abs = np.abs(single) + row_abs
    fwd = np.zeros(L + 1)
    fwd_abs = np.zeros(L + 1)
    fwd[:-1] = np.cumsum(per_m[::-1])[::-1][1:]
    fwd_abs[:-1] = np.cumsum(per_m_abs[::-1])[::-1][1:]
    # the forward/backward correlation of one weight matrix: exact second-moment recursion
    # of (E‖g^l‖²/n_l, E[(x^l·g^l)²]/‖x^l‖²) with the forward pass at its mean-field values
    gia_grad, gia_preact = _coherent_recursion(chain, q, mom)
    grad = fwd + gia_grad
    grad_abs = fwd_abs + np.abs(gia_grad)
    # δ^l: E[‖δ^l‖²/n_l] carries the factors A_l..A_L, like the gradient of layer l-1
    preact = np.full(L + 1, np.nan)
    preact_abs = np.full(L + 1, np.nan)
    preact[1:] = fwd[:-1] + gia_preact[1:]
    preact_abs[1:] = fwd_abs[:-1] + np.abs(gia_preact[1:])
    # ∂E/∂W^l: ‖δ^l‖²‖x^{l-1}‖²/(n_l n_{l-1}); ‖x^{l-1}‖²/n_{l-1} = (s_l − σ_b²)/σ_l²:
    # an extra factor (1 + u_l/(q_l − σ_b²)) correlated with the later factors
    weight = preact.copy()
    weight_abs = preact_abs.copy()
    for l in range(1, L + 1):
        lin = 1.0 / (q[l] - sb2) if q[l] - sb2 > 0 else 0.0
        terms = [lin * mean_u[l], lin * beta[l] * var_u[l]]
        cov = var_u[l]  # Cov(u_l, u_k), k = l+1, ...
        for k in range(l + 1, L + 1):
            cov *= a[k - 1]
            terms.append(lin * beta[k] * cov)
        weight[l] += sum(terms)
        weight_abs[l] += sum(abs(t) for t in terms)
    qb = np.full(L + 1, np.nan)
    qb[0] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        qb[1:] = mean_u[1:] / q[1:]
    return WidthBias(
        grad_second_moment=grad,
        grad_preact_second_moment=preact,
        grad_weight_second_moment=weight,
        q=qb,
        grad_second_moment_scale=grad_abs,
        grad_preact_second_moment_scale=preact_abs,
        grad_weight_second_moment_scale=weight_abs,
        q_scale=np.abs(qb),
        mean_field_q=q,
    )


def _pair_rows(beta: FloatArray, a: FloatArray, var_u: FloatArray,
               dcov: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The covariance terms of the expansion, row m = Σ_{k>m} β_k (β_m Cov(u_m, u_k) +
    a_{m+1}⋯a_{k−1} D_m), and the same sum of absolute values (the no-cancellation scale)."""
    L = beta.size - 1
    row = np.zeros(L + 1)
    row_abs = np.zeros(L + 1)
    for m in range(1, L):
        k = np.arange(m + 1, L + 1)
        chain_a = np.cumprod(a[m:L])  # a_m, a_m a_{m+1}, ..., a_m..a_{L-1}
        cov = chain_a * var_u[m]  # Cov(u_m, u_k) for k = m+1..L
        prod = np.concatenate([[1.0], np.cumprod(a[m + 1 : L])])  # a_{m+1}..a_{k-1}
        terms = beta[k] * (beta[m] * cov + prod * dcov[m])
        row[m] = terms.sum()
        row_abs[m] = np.abs(terms).sum()
    return row, row_abs


def _coherent_recursion(chain: Chain, q: FloatArray, mom: Any) -> tuple[FloatArray, FloatArray]:
    """ln(E‖g^l‖²/n_l / G_l) and ln(E‖δ^l‖²/n_l / (f_l G_l)) from sharing W^l between the
    forward and backward passes.

    Exactly (see :mod:`vgmath.montecarlo.sampler`), g^{l-1} = P⊥y + x κ/‖x‖² with x = x^{l-1},
    y | δ ~ N(0, v_l‖δ^l‖² I) and κ = x^{l-1}·g^{l-1} = u·δ^l (u = W^l x^{l-1}). Taking
    second moments with the forward pass at its mean-field values (per-unit averages
    replaced by Gaussian expectations at q_l) gives, with Y′_l the variance of the free
    part of g^l and K_l = E[κ_l²]/‖x^l‖²,

        E‖δ^l‖²/n_l = Y′_l f + C/(n_l P) (K_l − Y′_l),
        E[κ_{l-1}²] = n_l [Y′_l M + (R²/P)(K_l − Y′_l)],
        E‖g^{l-1}‖²/n_{l-1} = v_l E‖δ^l‖² (1 − 1/n_{l-1}) + K_{l-1}/n_{l-1},

    M = E[u²φ′(h)²], R = E[u φ′(h) φ(h)], started from Y′_L = K_L = 1 (g^L ~ N(0, I)).
    For positively homogeneous φ without bias R = M = C = P and the correction vanishes
    (Euler: x^l·g^l is conserved), as the exact ReLU results require.
    """
    L = chain.depth
    ns = chain.widths
    vs = [float(v) for v in chain.weight_variances]
    sb2 = float(chain.sigma_b2)
    # the recursion is linear and homogeneous in (Y′, K): both are kept relative to the
    # mean-field profile G_l, so that deep profiles (G ≈ 1e-300) never underflow
    y_free = 1.0
    k_coh = 1.0
    out = np.zeros(L + 1)
    out_d = np.full(L + 1, np.nan)
    for l in range(L, 0, -1):
        ql = float(q[l])
        m = mom(ql)
        rho = (ql - sb2) / ql
        M = rho * rho * m["H2"] + (ql - sb2) * sb2 / ql * m["f"]
        R = rho * m["HP"]
        P, f, C = m["P"], m["f"], m["C"]
        n_l, n_prev = ns[l], ns[l - 1]
        d_mean = y_free * f + C / (n_l * P) * (k_coh - y_free)
        out_d[l] = math.log(d_mean / f)
        kappa2 = n_l * (y_free * M + R * R / P * (k_coh - y_free))
        x_prev2 = (ql - sb2) / vs[l - 1]  # ‖x^{l-1}‖² = (q_l − σ_b²)/v_l
        chi = vs[l - 1] * n_l * f  # the mean-field factor G_{l-1}/G_l
        k_coh = (kappa2 / x_prev2 if x_prev2 > 0 else 0.0) / chi
        y_free = vs[l - 1] * n_l * d_mean / chi
        y_true = y_free * (1 - 1 / n_prev) + k_coh / n_prev
        out[l - 1] = math.log(y_true)
    return out, out_d
