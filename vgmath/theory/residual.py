"""Mean-field theory of residual chains x_l = x_{l-1} + α·F(x_{l-1}) (Yang & Schoenholz 2017,
arXiv:1712.08969), for the four blocks of :class:`vgmath.Residual`.

Notation: block l maps x_{l-1} → x_l; p_l = E[(x_{l,i})²] (the per-unit second moment of the
block output = input of block l+1; p_0 = input_q), μ_l = E[x_{l,i}], σ_w² = n·Var(W) (square
layers), z ~ N(0, 1), Φ₂(q) = E[φ(√q z)²], M(q) = E[φ(√q z)], D₂(q) = E[φ′(√q z)²].
Mean-field rules used: a fresh W (zero mean, independent of everything before it) makes
its output Gaussian given the layer input, with variance σ_w²·(input second moment) + σ_b²,
and uncorrelated with anything independent of W; in the backward pass W is treated as
independent of the forward pass (gradient independence), so cross terms E[g·Wᵀδ] vanish.

post, one layer: F = φ(h), h = W x + b, q̃_l = σ_w² p_{l-1} + σ_b²::

    μ_l = μ_{l-1} + α M(q̃_l)
    p_l = p_{l-1} + 2α μ_{l-1} M(q̃_l) + α² Φ₂(q̃_l)
    E[g_{l-1}²] = E[g_l²] (1 + α² σ_w² D₂(q̃_l))

The cross term 2α E[x_{l-1,i} φ(h_i)] = 2α μ_{l-1} M(q̃_l) factorises because h_i depends on
x_{l-1} only through ‖x_{l-1}‖²; it vanishes for odd φ (tanh: Yang & Schoenholz's recursion
p_l = p_{l-1} + α² Φ₂(q̃_l)) but not for ReLU, whose branch output has mean √(q̃/2π).
Assumes an input with per-unit mean μ_0 = 0. When M ≠ 0 the block outputs share a growing
common-mode component; through the forward/backward coupling of each W, every block adds to
the gradient a component along it, coherently across blocks, so the finite-width correction to
the gradient grows with depth much faster than for plain chains (ReLU, α = 1/2, 10 blocks:
simulated/predicted 1.72, 1.22, 1.05 at n = 32, 128, 512, converging to this recursion). The
prediction then carries a warning note; for ReLU and leaky ReLU without bias
``predict(chain, finite_width=True)`` carries that component
(:mod:`vgmath.theory.residual_finite_width`).

post, two layers: F = φ(h₂), h₂ = W₂ φ(h₁) + b₂, h₁ = W₁ x + b₁; q₁ = σ_w² p_{l-1} + σ_b²,
q₂ = σ_w² Φ₂(q₁) + σ_b²; μ, p as above with q̃ = q₂; the gradient factor is
1 + α² σ_w⁴ D₂(q₁) D₂(q₂).

pre, one layer: F = W φ(x) + b: the branch is zero-mean Gaussian with variance
s_l = σ_w² Φ₂(p_{l-1}) + σ_b² and uncorrelated with x, so p_l = p_{l-1} + α² s_l and the
gradient factor is 1 + α² σ_w² D₂(p_{l-1}). Here φ acts on x itself, so its moments need the
per-unit law of x: with an input of i.i.d. N(0, input_q) entries every x_l is N(0, p_l)
(a sum of independent centred Gaussians) — the assumption made.

pre, two layers: F = W₂ φ(W₁ φ(x) + b₁) + b₂; q₁ = σ_w² Φ₂(p_{l-1}) + σ_b²,
p_l = p_{l-1} + α²(σ_w² Φ₂(q₁) + σ_b²), factor 1 + α² σ_w⁴ D₂(p_{l-1}) D₂(q₁).

Fields (per block l): ``q[l]`` = p_l; ``chi[l]`` the gradient factor above;
``grad_preact_second_moment[l]`` and ``grad_weight_second_moment[l]`` refer to the branch's
*last* dense layer (post: ∂E/∂h_last = α φ′(h_last) g_l; pre: ∂E/∂(W_last u + b) = α g_l),
``extras["mean"]`` = μ_l and ``extras["branch_q1"]`` (``"branch_q2"``) the second moments of
the arguments of the branch's first (second) φ — for the pre variant the first is x_{l-1}.
``mean_ln_chi`` is not derived for residual blocks (NaN).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from ..network.description import Chain
from ..symbolic.symbols import depth_symbol, layer_symbol
from .meanfield import Moments, homogeneous, moment_provider
from .profile import (
    ExactProfile,
    Prediction,
    _readonly,
    _to_sympy,
    distribution_notes,
    layer_scales,
)

__all__ = ["predict_residual"]


def predict_residual(chain: Chain) -> Prediction:
    """Mean-field profile of a residual chain (see the module docstring)."""
    res = chain.residual
    assert res is not None
    act = chain.act
    mom = moment_provider(act)
    L = chain.depth
    sc = layer_scales(chain)
    sw = float(sc.sw2[0])
    sb = float(chain.sigma_b2)
    alpha = float(res.alpha)
    a2 = alpha * alpha
    post = res.variant == "post"
    two = res.branch_depth == 2

    p = np.empty(L + 1)
    mu = np.zeros(L + 1)
    bq1 = np.full(L + 1, np.nan)
    bq2 = np.full(L + 1, np.nan)
    chi = np.full(L + 1, np.nan)
    pre_factor = np.full(L + 1, np.nan)  # E[(∂E/∂h_last)²] / E[g_l²]
    w_input = np.full(L + 1, np.nan)  # E[(input of W_last)²]
    p[0] = float(chain.input_q)
    for l in range(1, L + 1):
        pp, mp = float(p[l - 1]), float(mu[l - 1])
        if post:
            q1 = sw * pp + sb
            bq1[l] = q1
            if two:
                q2 = sw * mom.phi2(q1) + sb
                bq2[l] = q2
                last = q2
                w_input[l] = mom.phi2(q1)
                chi[l] = 1 + a2 * sw * sw * mom.dphi2(q1) * mom.dphi2(q2)
            else:
                last = q1
                w_input[l] = pp
                chi[l] = 1 + a2 * sw * mom.dphi2(q1)
            m = mom.phi_mean(last)
            p[l] = pp + 2 * alpha * mp * m + a2 * mom.phi2(last)
            mu[l] = mp + alpha * m
            pre_factor[l] = a2 * mom.dphi2(last)
        else:
            bq1[l] = pp  # φ acts on the block input itself
            if two:
                q1 = sw * mom.phi2(pp) + sb
                bq2[l] = q1
                s = sw * mom.phi2(q1) + sb
                w_input[l] = mom.phi2(q1)
                chi[l] = 1 + a2 * sw * sw * mom.dphi2(pp) * mom.dphi2(q1)
            else:
                s = sw * mom.phi2(pp) + sb
                w_input[l] = mom.phi2(pp)
                chi[l] = 1 + a2 * sw * mom.dphi2(pp)
            p[l] = pp + a2 * s
            pre_factor[l] = a2

    log_grad = np.zeros(L + 1)
    log_grad[:-1] = np.cumsum(np.log(chi[1:])[::-1])[::-1]
    with np.errstate(under="ignore", over="ignore"):
        grad = np.exp(log_grad)
        preact = pre_factor * grad
        weight = preact * w_input
    preact[0] = weight[0] = np.nan
    sigma_w2 = np.full(L + 1, np.nan)
    sigma_w2[1:] = sc.sw2

    formula, formulas, exact_builder = _residual_closed_forms(chain, mom)
    extras = {"mean": _readonly(mu), "branch_q1": _readonly(bq1)}
    if two:
        extras["branch_q2"] = _readonly(bq2)
    notes = [
        "residual mean-field recursion (Yang & Schoenholz 2017); "
        + (
            "assumes an input with per-unit mean 0"
            if post
            else "assumes an input with i.i.d. N(0, input_q) entries"
        ),
        "grad_preact/grad_weight refer to the last dense layer of each block's branch",
        "mean_ln_chi is not derived for residual blocks (NaN)",
    ]
    notes.extend(distribution_notes(chain))
    from .residual_finite_width import residual_finite_width_refusal

    covered = not residual_finite_width_refusal(chain)
    coherent = post and bool(np.any(np.abs(mu[1:]) > 1e-9 * np.sqrt(np.abs(p[1:]))))
    if coherent:
        notes.append(
            "warning: the branch output has a non-zero mean, so every block adds to the "
            "gradient a component along the shared mean direction, coherently from block to "
            "block; the finite-width correction to the gradient moments grows with depth "
            "much faster than for plain chains"
            + (" — this is the infinite-width limit; vg.predict(chain, finite_width=True) "
               "predicts the means at the chain's width"
               if covered else
               " and vgmath has no finite-width prediction for it (it covers positively "
               "homogeneous φ without bias) — this is the infinite-width limit")
            + ". Measured (ReLU + He, 1000 networks, "
            "simulated / predicted E[g_0^2]): alpha = 1/2, one-layer branch, 10 blocks: "
            "1.43, 1.22, 1.06 at widths 64, 128, 512; alpha = 1, two-layer branch: 2.8, "
            "1.9, 1.27 after 10 blocks and 97, 50, 13.5 after 20; the forward moments are "
            "off by O(l/n) only (q_L 0.955 at width 64 after 20 blocks)"
        )
    elif not post:
        notes.append(
            "warning: finite-width corrections are not modelled (at finite width the block "
            "output is not Gaussian; vgmath has no finite-width prediction for "
            "pre-activation residual chains). Measured (He, alpha = 1, one-layer branch, "
            "20 blocks, 1000 networks, simulated / predicted): ReLU q_L 1.20 ± 0.07, "
            "1.09 ± 0.03, 1.03 ± 0.01 at widths 64, 128, 512; GELU q_L 1.14 ± 0.07 and "
            "E[g_0^2] 1.17 ± 0.05 at width 64; tanh "
            "E[g_0^2] 1.08 ± 0.04 at width 64, 1.00 ± 0.01 at 512"
        )
    else:
        notes.append(
            "infinite-width limit: vg.predict(chain, finite_width=True) predicts the means "
            "at the chain's width" if covered else
            "infinite-width limit: vgmath has no finite-width prediction for this residual "
            "chain (it covers post-activation blocks with ReLU or leaky ReLU and no bias)")
    return Prediction(
        chain=chain,
        q=_readonly(p),
        chi=_readonly(chi),
        grad_second_moment=_readonly(grad),
        grad_preact_second_moment=_readonly(preact),
        grad_weight_second_moment=_readonly(weight),
        sigma_w2=_readonly(sigma_w2),
        mean_ln_chi=_readonly(np.full(L + 1, np.nan)),
        ln_grad_second_moment=_readonly(log_grad),
        formula=formula,
        formulas=formulas,
        method=f"residual mean-field recursion ({res.variant}, {res.branch_depth}-layer "
        f"branch, alpha={res.alpha}); moments: {mom.method}",
        notes=tuple(notes),
        converged_at=None,
        extras=extras,
        _exact_builder=exact_builder,
    )


def _residual_closed_forms(
    chain: Chain, mom: Moments
) -> tuple[sp.Expr | None, dict[str, sp.Expr], object]:
    """χ per block is exact for positively homogeneous φ: 1 + α²σ_w²c₂ (one layer) or
    1 + α²σ_w⁴c₂² (two layers), c₂ = E[φ′²]."""
    h = homogeneous(chain.act)
    res = chain.residual
    assert res is not None
    if h is None:
        return None, {}, None
    sw = sp.sympify(chain.sigma_w2s[0])
    c2 = h.c2
    alpha = res.alpha
    k = sw * c2 if res.branch_depth == 1 else (sw * c2) ** 2
    chi = sp.simplify(1 + alpha**2 * k)
    formula = sp.simplify(chi ** (depth_symbol - layer_symbol))
    formulas = {"chi": chi, "grad_second_moment": formula}

    def build() -> ExactProfile | None:
        return _residual_exact(chain, chi)

    return formula, formulas, build


def _fr(e: sp.Expr) -> Fraction | None:
    e = sp.sympify(e)
    if isinstance(e, sp.Rational):
        return Fraction(int(e.p), int(e.q))
    return None


def _residual_exact(chain: Chain, chi_exact: sp.Expr) -> ExactProfile | None:
    h = homogeneous(chain.act)
    res = chain.residual
    assert h is not None and res is not None
    vals = [_fr(v) for v in (chain.sigma_w2s[0], h.c2, res.alpha, chain.sigma_b2, chain.input_q)]
    chi = _fr(chi_exact)
    if chi is None or any(v is None for v in vals):
        return None
    sw, c2, alpha, sb, iq = vals  # type: ignore[misc]
    assert sw is not None and c2 is not None and alpha is not None and sb is not None
    assert iq is not None
    L = chain.depth
    a2 = alpha * alpha
    post, two = res.variant == "post", res.branch_depth == 2
    q_exact = not post or h.is_linear  # a nonlinear post block adds a mean with √q
    p: list[Fraction | None] = [iq]
    w_in: list[Fraction | None] = [None]
    for _ in range(L):
        pp = p[-1]
        if pp is None:
            p.append(None)
            w_in.append(None)
            continue
        if post:
            q1 = sw * pp + sb
            if two:
                q2 = sw * c2 * q1 + sb
                w_in.append(c2 * q1)
                p.append(pp + a2 * c2 * q2 if q_exact else None)
            else:
                w_in.append(pp)
                p.append(pp + a2 * c2 * q1 if q_exact else None)
        else:
            if two:
                q1 = sw * c2 * pp + sb
                w_in.append(c2 * q1)
                p.append(pp + a2 * (sw * c2 * q1 + sb))
            else:
                w_in.append(c2 * pp)
                p.append(pp + a2 * (sw * c2 * pp + sb))
    grads: list[Fraction | None] = [None] * (L + 1)
    acc = Fraction(1)
    grads[L] = acc
    for l in range(L, 0, -1):
        acc = acc * chi
        grads[l - 1] = acc
    fac = a2 * c2 if post else a2
    pre: list[Fraction | None] = [None] + [fac * g for g in grads[1:] if g is not None]
    wgt: list[Fraction | None] = [None]
    for l in range(1, L + 1):
        wi, pr = w_in[l], pre[l]
        wgt.append(None if wi is None or pr is None else pr * wi)
    return ExactProfile(
        q=_to_sympy(p) if q_exact else None,
        chi=(sp.nan, *([sp.Rational(chi.numerator, chi.denominator)] * L)),
        grad_second_moment=_to_sympy(grads),
        grad_preact_second_moment=_to_sympy(pre),
        grad_weight_second_moment=_to_sympy(wgt) if q_exact else None,
        sigma_w2=(sp.nan, *chain.sigma_w2s),
    )
