"""Finite-width gradient profiles of post-activation residual chains: the isotropic bulk
plus the gradient's components along the forward directions, carried exactly block by block.

``vg.predict(chain, finite_width=True)`` on a residual chain x_l = x_{l-1} + α F(x_{l-1})
with F = φ(W x) or φ(W₂ φ(W₁ x)) (``Residual(variant="post")``), φ positively homogeneous
(ReLU, leaky ReLU: φ(z) = c₊ z for z > 0, c₋ z for z < 0), no bias, predicts the ensemble
means that ``vg.simulate`` measures at the chain's width n.

Why mean field misses it
------------------------
A ReLU branch output has a per-unit mean, so x_l carries a growing common-mode component
μ_l·1. With the exact coupling of each Gaussian W (:mod:`vgmath.montecarlo.sampler`),
W = W′ P⊥_x + (W x) xᵀ/‖x‖², W′ independent of u = W x, the backward pass of a block is
(δ = α φ′(h) ⊙ g, and h·δ = α φ(h)·g because hφ′(h) = φ(h))

.. math::  g_{l-1} = g_l + α\\,\\frac{(φ_l\\cdot g_l)}{\\lVert x_{l-1}\\rVert^2}\\,x_{l-1}
           + P^\\perp_{x_{l-1}}\\,y_l,\\qquad y_l \\sim N(0,\\,v\\lVert δ_l\\rVert^2 I),

φ_l the block output before the factor α. The middle term is what gradient independence
drops: it moves the gradient's component along 1 (through φ_l·1 ≈ n M) onto x_{l-1} (whose
component along 1 is μ_{l-1}), with a gain of O(1) per block. g_L ~ N(0, I) has only O(1/n)
of its norm along 1, but that part is amplified coherently from block to block: E‖g_0‖²/n =
bulk + (1/n)·(a product of per-block gains) — a 1/n effect exponential in depth, which a 1/n
expansion around mean field does not capture (ReLU + He, α = 1, two-layer branch, 20 blocks:
simulated/mean field 89 at n = 64, 25 at n = 256).

Two-layer branch: with u = φ(h₁) the inner activations, W₂ = W₂′P⊥_u + h₂uᵀ/‖u‖² gives
δ₁ = φ′(h₁) ⊙ (P⊥_u y₂ + u β), β = α(φ₂·g)/‖u‖², and h₁·δ₁ = u·P⊥_u y₂ + β‖u‖² =
α(φ₂·g): the same along-x term, and
E‖δ₁‖² = v α²‖φ′(h₂) ⊙ g‖² (tr D₁ − uᵀD₁u/‖u‖²) + β² uᵀD₁u, D₁ = diag φ′(h₁)²
(uᵀD₁u/‖u‖² = C/P, C = E φ′²φ², P = E φ²; 1 for ReLU).

The recursion (exact given the forward pass)
--------------------------------------------
Given the forward pass, Σ_l = E[g_l g_lᵀ | forward] obeys a *linear* recursion, Σ_L = I,

.. math::  Σ_{l-1} = J_l Σ_l J_l^\\top + v\\,N_l(Σ_l)\\,P^\\perp_{x_{l-1}},\\qquad
           J_l = I + α\\,x_{l-1} φ_l^\\top/\\lVert x_{l-1}\\rVert^2,

N_l = α² tr(D_l Σ_l) (one layer; D_l = diag φ′(h_l)²) or
v α² tr(D₂Σ)(tr D₁ − C/P) + α² (C/P) φ₂ᵀΣφ₂/‖u‖² (two layers). Every J_l is the identity
plus rank one, so Σ_l = a_l·I on the orthogonal complement of the forward directions and a
(L + 2) × (L + 2) matrix S_l on them. Since h_l = W_l x_{l-1} is N(0, v‖x_{l-1}‖² I) whatever
the direction of x_{l-1}, the block outputs are φ_l = √s_l φ(z_l) with z_1, …, z_L
independent standard normal vectors (dependent only through the scalars s_l); the forward
directions are e_0 = 1/√n, e_x = x_0/‖x_0‖ and e_k, the direction of the centred output
φ_k − √s_k M·1 (k = 1..L), and in them (per √n)

.. math::  φ_l = \\sqrt{s_l}\\,(M e_0 + \\sqrt{w}\\,e_l),\\qquad
           x_l = \\sqrt{q_0}\\,e_x + \\mathrm{μ}_l e_0 + α\\sum_{k\\le l}\\sqrt{s_k w}\\,e_k,

M = E φ(z), w = Var φ(z), ‖x_l‖²/n = p_l (the mean-field recursion of
:mod:`vgmath.theory.residual`). The quadratic forms of D_l are, per n, E φ′² on every
direction independent of z_l, E[φ′²(φ − M)]/√w between e_0 and e_l and E[φ′²(φ − M)²]/w on
e_l. Then a_{l-1} = a_l + v N_l, S_{l-1} = J S Jᵀ + v N_l (I − x̂x̂ᵀ), and
E‖g_l‖²/n = a_l + (tr S_l − (L + 2) a_l)/n: the bulk a_l grows by mean field's factor per
block up to O(1/n) plus what the along-x part feeds it (the free part of Wᵀδ has the norm
of δ), the second term the part along the forward directions, carried to
all orders in depth. Two-layer branch: the inner norm t = ‖u‖²/E‖u‖² (an average of n
i.i.d. φ(z)²/E φ²) enters J_l through √t; J_l is averaged over it, E√t = 1 − Var(t)/8 with
Var(t) = (E φ⁴/(E φ²)² − 1)/n (ReLU: 1 − 5/(8n); exact value 1 − 5/(8n) + O(n⁻²)).

What is exact and what is not
-----------------------------
Exact: the conditional recursion above (the weight sharing gradient independence drops, for
Gaussian W). Approximated: the forward quadratic forms (Gram matrices of 1, x_0, φ_k and
their D_l-weighted versions, and the inner norm beside the √t average) are replaced by their
means. Their fluctuations are O(n^{-1/2}) relative and enter at second order: O(1/n) per
block of the part along the forward directions. Stated error (natural-log units,
``extras["error"]`` for ``grad_second_moment`` and ``grad_preact_second_moment``)::

    error_l = 1e-3 + K · f_l · (L − l)/n,   f_l = 1 − mean field_l / prediction_l,

f_l the share of the prediction beyond mean field (the finite-width excess), K =
:data:`ALONG_ERROR` (0.15), measured where the deviation is resolved (ReLU + He, n = 16, 32,
64, 40000 networks; α ∈ {1/2, 1}, one- and two-layer branches, 10 and 20 blocks):
|ln(simulated/predicted E‖g_0‖²)| per f_0 L/n was at most 0.15 ± 0.07 (n = 64, α = 1, two
layers, 10 blocks) and 0.12 ± 0.03 (n = 32, 20 blocks), 0.04–0.09 elsewhere; without the √t
average the two-layer branch was 0.13–0.18 too high. Over 50 runs (n = 16 … 1024, 2000–40000
networks, 890 layers) every layer was within the error plus 2.2 standard errors, and so were
deeper and narrower chains (8000 networks; simulated/mean field up to 6·10¹²): α = 1/2, one
layer, 60 blocks at n = 32 (simulated/predicted 1.05 ± 0.03) and 100 blocks at n = 64
(1.02 ± 0.03); α = 1/4, two layers, 80 blocks at n = 32 (1.14 ± 0.04, error 0.38) — the
forward directions outnumber the units there ((L + 2)/n = 2.6) and the orthonormal
idealisation is coarse, but within the stated error. Xavier and LeCun scales, α = 2 and
input_q = 4 behave the same. Cost: O(L³) (L = 20: under 10 ms after the first call, which
classifies φ; L = 1000: 5 s).
``q`` and ``extras["mean"]`` are the mean-field forward moments: their finite-width
corrections (Jensen gaps of √‖x‖² and √t in the branch mean, correlated with the common
mode) are O(l/n) and not summed; ``extras["q_error"]`` = 1e-3 + :data:`FORWARD_ERROR`·l/n
(0.35 l/n; measured |ln(simulated/predicted q_l)| at most 0.27 l/n — ReLU + He, two-layer
branch, α = 1, 20 blocks at n = 1024; 0.12–0.16 l/n at n = 16–64), and
``grad_weight_second_moment`` (the mean-field input moment of the last W times the
predicted δ moment) carries ``extras["weight_error"]`` = error_l + q_error_{l-1}.
``vg.verify`` uses each of them for its quantity.

Not covered (``finite_width_refusal`` says so): pre-activation blocks (the branch adds
W φ(x): the along-x term is then carried by φ(x), which is not Gaussian given the norms),
φ not positively homogeneous (h φ′(h) ≠ φ(h): the along-x term needs a second direction per
block), biases (h = W x + b is not N(0, v‖x‖²)), non-Gaussian weights (the exact coupling
needs rotation invariance; predicted as Gaussian, with a note). Typical values (the law of
ln ‖g‖²) are not derived for residual chains.

References: Yang & Schoenholz 2017 (arXiv:1712.08969) for the mean-field residual recursion;
Hanin 2018 (arXiv:1801.03744) and Hanin & Nica 2019 (arXiv:1812.05994) for gradients of
finite-width ReLU networks; Roberts, Yaida & Hanin 2022 (The Principles of Deep Learning
Theory) for the 1/n expansion this recursion sums in depth.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from .meanfield import homogeneous
from .profile import Prediction, finite_width_prediction, layer_scales

__all__ = ["ALONG_ERROR", "FORWARD_ERROR", "residual_finite_width_profile",
           "residual_finite_width_refusal"]

FloatArray = NDArray[np.float64]

#: numerical error allowance (ln units)
NUMERICAL_ERROR = 1e-3
#: K of the stated error K·f_l·(L − l)/n of the gradient moments (ln units; measured)
ALONG_ERROR = 0.15
#: allowance per block, times l/n, for the forward moments (ln units; measured)
FORWARD_ERROR = 0.35


def residual_finite_width_refusal(chain: Chain) -> str:
    """Why the finite-width prediction does not cover the residual chain ``chain`` ("" when
    it does): post-activation blocks, φ positively homogeneous, no bias."""
    res = chain.residual
    if res is None:
        return "not a residual chain"
    if res.variant != "post":
        return ("finite-width predictions cover post-activation residual blocks (ReLU, "
                "leaky ReLU, no bias); variant='pre' (F = W φ(x) + b) has the mean-field "
                "prediction only (finite_width=False)")
    if homogeneous(chain.act) is None:
        return ("finite-width predictions of residual chains need a positively homogeneous "
                "φ (ReLU, leaky ReLU: h φ'(h) = φ(h)); "
                f"{chain.act.name if hasattr(chain.act, 'name') else chain.act} has the "
                "mean-field prediction only (finite_width=False)")
    sb = chain.sigma_b2
    if sb != 0:
        return ("finite-width predictions of residual chains cover chains without bias "
                f"(sigma_b2 = {sb}); with a bias h = W x + b is not N(0, v|x|^2 I) and the "
                "mean-field prediction only is available (finite_width=False)")
    return ""


def residual_finite_width_profile(chain: Chain, mean_field: Prediction) -> Prediction:
    """The finite-width prediction of a post-activation residual chain (module docstring),
    built beside its mean-field prediction ``mean_field``."""
    why = residual_finite_width_refusal(chain)
    if why:
        raise InvalidArgumentError("finite_width", True, why)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        return _profile(chain, mean_field)


def _moments(chain: Chain) -> dict[str, float]:
    h = homogeneous(chain.act)
    assert h is not None
    cp, cm = float(h.c_plus), float(h.c_minus)
    M = float(h.mean_coefficient)  # E φ(z)
    P = A = float(h.c2)  # E φ² = E φ′²
    C = float(h.c4)  # E φ′²φ² = E φ′⁴ = (c₊⁴ + c₋⁴)/2
    P4 = 3 * C  # E φ⁴
    d2p = (cp**3 - cm**3) / math.sqrt(2.0 * math.pi)  # E φ′²φ
    w = P - M * M
    return {
        "M": M, "P": P, "A": A, "C": C, "P4": P4, "w": w,
        "d_0l": (d2p - M * A) / math.sqrt(w) if w > 0 else 0.0,
        "d_ll": (C - 2 * M * d2p + M * M * A) / w if w > 0 else A,
    }


def _profile(chain: Chain, mean_field: Prediction) -> Prediction:
    res = chain.residual
    assert res is not None
    L = chain.depth
    n = int(chain.widths[0])
    sw = float(layer_scales(chain).sw2[0])
    v = sw / n
    alpha = float(res.alpha)
    a2 = alpha * alpha
    two = res.branch_depth == 2
    mo = _moments(chain)
    M, P, A, C, w = mo["M"], mo["P"], mo["A"], mo["C"], mo["w"]
    cp_ratio = C / P if P > 0 else 0.0
    # E√t over the inner norm of a two-layer branch (1 for one layer)
    sqrt_t = 1.0 - (mo["P4"] / (P * P) - 1.0) / (8.0 * n) if two and P > 0 else 1.0

    d = L + 2  # coordinates: e_0 (common mode), e_x (input), e_1..e_L (centred outputs)
    # the forward vectors are kept divided by ‖x_{l-1}‖/√n (the backward maps depend on
    # x_{l-1}φ_lᵀ/‖x_{l-1}‖² and φ_l/‖u‖ only), with ln p_l carried beside them
    xs = np.zeros((L + 1, d))  # x_{l}/√p_l
    xs[0, 1] = 1.0
    outs = np.zeros((L + 1, d))  # φ_l/√p_{l-1}
    ln_p = np.empty(L + 1)
    ln_p[0] = math.log(float(chain.input_q))
    gain = sw * P * sw if two else sw  # s_l / p_{l-1}
    for l in range(1, L + 1):
        outs[l, 0] = math.sqrt(gain) * M
        outs[l, l + 1] = math.sqrt(gain * w)
        nxt = xs[l - 1] + alpha * outs[l]
        r2 = float(nxt @ nxt)
        xs[l] = nxt / math.sqrt(r2)
        ln_p[l] = ln_p[l - 1] + math.log(r2)
    inner_ratio = P * sw  # ‖u‖²/(n p_{l-1}) of a two-layer branch

    a = 1.0
    S = np.eye(d)
    logscale = 0.0
    log_grad = np.zeros(L + 1)
    log_pre = np.full(L + 1, np.nan)
    along = np.zeros(L + 1)
    for l in range(L, 0, -1):
        x, ph = xs[l - 1], outs[l]  # x̂_{l-1} and φ_l/‖x_{l-1}‖ (per √n)
        k = l + 1
        # tr(D_l Σ_l): D_l = A on the bulk and on directions independent of z_l
        d_sp_diag = np.full(d, A)
        d_sp_diag[k] = mo["d_ll"]
        tr_d = a * (n * A - float(d_sp_diag.sum())) + float(d_sp_diag @ np.diag(S)) \
            + 2.0 * mo["d_0l"] * float(S[0, k])
        log_pre[l] = math.log(max(a2 * tr_d / n, 1e-300)) + logscale
        if two:
            phs = float(ph @ S @ ph)
            nu = v * (v * a2 * tr_d * (n * A - cp_ratio) + a2 * cp_ratio * phs / inner_ratio)
        else:
            nu = v * a2 * tr_d
        u = alpha * x  # J = I + u φᵀ (x = x̂, φ per ‖x‖)
        sp_ = S @ ph  # S φ
        S = (S + sqrt_t * (np.outer(u, sp_) + np.outer(sp_, u))
             + float(ph @ sp_) * np.outer(u, u))
        S -= nu * np.outer(x, x)
        S[np.diag_indices(d)] += nu
        a += nu
        top = max(abs(a), float(np.max(np.abs(S))))
        if not (top > 0 and math.isfinite(top)):
            raise InvalidArgumentError("chain", str(chain), "the gradient left float64 range")
        a /= top
        S /= top
        logscale += math.log(top)
        g = a + (float(np.trace(S)) - d * a) / n
        log_grad[l - 1] = math.log(max(g, 1e-300)) + logscale
        along[l - 1] = (float(np.trace(S)) - d * a) / n / g

    ln_w_input = np.full(L + 1, np.nan)  # ln of the last W's input moment
    ln_w_input[1:] = ln_p[:-1] + (math.log(inner_ratio) if two else 0.0)
    with np.errstate(over="ignore", under="ignore"):
        q = np.exp(ln_p)
        grad = np.exp(log_grad)
        pre = np.exp(log_pre)
        weight = np.exp(log_pre + ln_w_input)
    chi = np.full(L + 1, np.nan)
    chi[1:] = np.exp(log_grad[:-1] - log_grad[1:])
    mf_log = np.asarray(mean_field.ln_grad_second_moment, dtype=np.float64)
    share = np.clip(1.0 - np.exp(mf_log - log_grad), 0.0, 1.0)
    blocks_above = L - np.arange(L + 1)
    err = NUMERICAL_ERROR + ALONG_ERROR * share * blocks_above / n
    q_err = NUMERICAL_ERROR + FORWARD_ERROR * np.arange(L + 1) / n
    w_err = np.full(L + 1, np.nan)
    w_err[1:] = err[1:] + q_err[:-1]

    notes = [
        (f"finite-width prediction at width {n}: the gradient's bulk and its components "
         "along the forward directions (common mode, input, block outputs), carried exactly "
         "through the forward/backward weight sharing with the forward Gram matrices at "
         "their means; q and the means are the mean-field forward moments "
         "(extras['q_error'])"),
        "grad_preact/grad_weight refer to the last dense layer of each block's branch",
        "mean_ln_chi is not derived for residual blocks (NaN); no typical-value law",
    ]
    if not chain.rule.gaussian:
        notes.append(
            f"the finite-width residual prediction assumes i.i.d. Gaussian weights; "
            f"{chain.rule.distribution} weights of the same variance differ at O(1/n)")
    extras = {
        "error": err,
        "q_error": q_err,
        "weight_error": w_err,
        "along_share": np.asarray(along, dtype=np.float64),
    }
    for key in ("mean", "branch_q1", "branch_q2"):
        if key in mean_field.extras:
            extras[key] = mean_field.extras[key]
    return finite_width_prediction(
        mean_field, q=q, chi=chi, grad=grad, preact=pre, weight=weight,
        sigma_w2=mean_field.sigma_w2, log_grad=log_grad,
        method=f"finite-width residual recursion ({res.branch_depth}-layer post branch, "
        f"alpha={res.alpha}): bulk + {d} forward directions",
        notes=notes, extras=extras,
    )
