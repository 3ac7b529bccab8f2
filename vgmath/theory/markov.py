"""Finite-width depth profiles: the per-network variance as a one-dimensional Markov chain.

``vg.predict(chain, finite_width=True)`` predicts the ensemble means that ``vg.simulate``
measures *at the chain's widths*, not their n → ∞ limits.

Forward pass (exact up to the stated numerics)
----------------------------------------------
For i.i.d. Gaussian weights W^l_ij ~ N(0, v_l) and biases b^l_i ~ N(0, σ_b²), given the
previous layer the pre-activations are h^l = √s_l · z with z ~ N(0, I_{n_l}) and

.. math::  s_l = \\sigma_l^2\\,B_{l-1} + \\sigma_b^2,\\qquad
           B_{l-1} = \\frac{1}{n_{l-1}}\\sum_{i=1}^{n_{l-1}} \\varphi(\\sqrt{s_{l-1}}\\,z_i)^2,

σ_l² = n_{l-1} v_l, s_1 = σ_1² input_q + σ_b² (the input is fixed). So s_1, s_2, … is a
Markov chain on (0, ∞) whose transition law is that of an average of n_{l-1} i.i.d. copies
of Y = φ(√s z)², and E[‖h^l‖²/n_l] = E[s_l] exactly. The chain is carried numerically: the
law of s_l lives on a grid in ln s, placed per layer: a bulk of evenly spaced points over ±6
standard deviations of ln s_l (72, or more for a broad law so that the spacing stays ≤ 0.15 —
the hat functions below conserve E[s], not E[ln s], and at spacing 0.65 E[ln s] drifted by
0.2 in 30 layers; at most 320) and 12 more on each side,
spaced geometrically out to ±12 transition standard deviations (and not below 1e-45). The
transition from a node is the law with the first three cumulants of B,

.. math::  κ_1 = P(s),\\quad κ_2 = \\frac{P_4 - P^2}{n},\\quad
           κ_3 = \\frac{P_6 - 3 P_4 P + 2 P^3}{n^2},\\qquad P_k(s) = E[φ(\\sqrt{s} z)^k],

represented by a shifted gamma law (a Gaussian when the skewness is below 1e-4; where the
three-cumulant gamma would reach below σ_b², the gamma starting at σ_b² with two cumulants,
as for ReLU at small n) and spread onto the grid with linear hat functions, which carry the
mean exactly. The cumulants of order ≥ 4 of the true transition are O(n^{-3}); matching three
makes the error of a smooth expectation after L layers O(L n^{-3}) (O(L n^{-2}) where only two
are matched). The fitted law's mass outside the grid (below σ_b² for a bounded φ: ~1e-6 at
n = 8) is put at the end nodes. The Gaussian moments come from kink-split Gauss–Legendre
quadrature (relative error ~1e-12) on a lattice in ln s (step 1/32) interpolated by a local
cubic (in ln of the moment where it is positive; relative error ~1e-9).

Backward pass
-------------
The conditioned sampler of :mod:`vgmath.montecarlo.sampler` writes the backward pass of
layer l exactly as g^{l-1} = P⊥y + x κ/‖x‖² (x = x^{l-1}, P⊥ the projector off x,
y | δ^l ~ N(0, v_l‖δ^l‖² I), κ = u·δ^l, u = W^l x). With Y_l = v_{l+1}‖δ^{l+1}‖² (the free
part of g^l) and K_l = κ_l²/‖x^l‖² (its part along x^l), taking the expectation over y
given the forward pass,

.. math::

    \\lVert δ^l\\rVert^2 &= Y_l\\,(n A - C/P) + K_l\\,C/P,\\qquad
    κ_{l-1}^2 = Y_l\\,n (M - R^2/P) + K_l\\,n R^2/P,\\\\
    E\\lVert g^{l-1}\\rVert^2 &= (n_{l-1} - 1)\\,Y_{l-1} + K_{l-1},

with the unit averages over layer l (n = n_l) A = mean φ′², C = mean φ′²φ², P = mean φ²,
M = mean u²φ′², R = mean uφ′φ, started from Y_L = K_L = 1 (g^L ~ N(0, I)). The pair
(Y, K) is a linear function of the one above it, with coefficients that are averages over
the units of layer l — the same units whose φ² average sets s_{l+1}. So V_l(s) =
E[(Y_{l-1}, K_{l-1}) | s_l = s] is carried down the grids:

.. math::  E[\\bar a\\,V_{l+1}(s_{l+1}) \\mid s_l = s] = E[a]\\,\\tilde E_a[V_{l+1}(s_{l+1})],

Ẽ_a the transition with one of the n summands tilted by a/E[a] (exact, by exchangeability;
its cumulants from E[a φ^{2k}], k = 0..3). The single averages (A, M) are handled this way
exactly; the ratios C/P and R²/P are linearised in the fluctuations of the averages
(R²/P ↦ (R̄²/P̄)(2Ẽ_R − Ẽ_P), C/P untilted), which neglects O(n^{-2}) per layer relative to
E‖g‖². This keeps the correlation between the forward fluctuations and the backward factors
(the part of the finite-width bias that grows like L²/n near a marginal variance map: GELU
+ He is off by a factor ~100 at depth 20, n = 64 in mean field) and the forward/backward
sharing of each W (which the gradient independence assumption drops). Checks: ReLU without
bias gives E‖g^l‖²/n_l = 1 exactly (Hanin 2018) and a linear chain with bias its exact
mean-field profile, to ~1e-7 (tests/theory/test_markov.py).

Error budget (natural-log units, ``extras["error"]``): :data:`NUMERICAL_ERROR` (1e-3) plus
:data:`SECOND_ORDER` × Σ_l 1/n_l² (2 per layer) for the neglected O(n^{-2}) terms — a
stated allowance, not a proof: at n = 8 the error allowance is 0.3 at depth 10.
Measured against ``vg.simulate``: within 3 standard errors at every layer for tanh, sigmoid,
SELU, erf at n = 8 (T = 3000–4000) and GELU + He at n = 64, 256, 1024 (T = 2000); over the
catalog × {Xavier, He, LeCun} at n = 32, depth 30, T = 2000, in 99.7 % of the layers whose
per-network values are not heavy-tailed (benchmarks/finite_width.py).

Typical values
--------------
The mean of ‖g^l‖² is carried by rare networks; the typical network is described by the law
of Λ_l = ln(‖g^l‖²/n_l) (``extras["ln_grad_mean"]``, ``extras["ln_grad_sd"]``,
``extras["ln_grad_skewness"]``; :meth:`vgmath.Prediction.ln_grad_quantiles` takes it
Gaussian — the log-normal limit of Hanin & Nica 2019, arXiv:1812.05994, at L/n fixed — with
a Cornish–Fisher correction for the skewness). With the exact coupling above, write the
gradient below layer m per network as g^m = √Y_m (P⊥ζ + t_m x̂^m), ζ ~ N(0, I) fresh: Y_m
the variance of one free direction and t_m the signed component along the activations
x^m in units of it (t_L ~ N(0, 1)). Then, exactly given the forward pass,

.. math::  \\frac{Y_{m-1}}{Y_m} = v_m n Ā\\,(G + ε t_m^2 + c\\,t_m ζ'),\\qquad
           t_{m-1} = \\frac{â\\,t_m + \\hat b\\,ζ}{\\sqrt{G + ε t_m^2 + c\\,t_m ζ'}},\\qquad
           Λ_l = \\ln Y_l + \\ln\\frac{χ^2_{n_l-1} + t_l^2}{n_l},

G = ζᵀP⊥AP⊥ζ/(nĀ) (A = diag φ′(h^m)², mean 1 − ε, ε = C/(P n Ā)), â t_m + b̂ ζ the
normalised κ_{m-1} = κ_m R/P + innovation (â² = R̂²/(P̂ (s−σ_b²) Â), b̂² =
(M̂ − R̂²/P̂)/((s−σ_b²) Â)), and c t ζ' the cross term 2t (D²x̂)·P⊥ζ of ‖δ^m‖², kept through
its correlation with the innovation (its own variance is O(n^{-2})). The law of (s_m, |t_m|)
is carried on a joint grid — s on 16 bins of equal mass of the forward law, |t| on
c·sinh(j du) nodes — down the reversed forward chain (given s_m, s_{m-1} does not depend on
the layers above), with the mass-weighted first three moments of Σ ln(Y_{m-1}/Y_m): G on
the Gauss–Laguerre nodes of its gamma law (exact for ReLU, where G = χ²_{k−1}/k), â² = a²F
with F gamma of mean and variance from the delta method in the unit averages (R̂, P̂, Â),
E[b̂²] to O(1/n), ζ on Gauss–Hermite nodes, and the rest of E ln Ā, E ln T and their
variances expanded to O(n^{-2}) as before (the forward part's correlation with s_{m+1}
through the φ′²-tilted transition, first order). The |t| grid's O(du²) error is removed by
Richardson extrapolation from du and 2du; the size of that correction is the stated
numerical error. ReLU without bias: Beta–Gamma independence makes the layers' factors
independent χ²_k (Hanin 2018), which the joint grid reproduces (along-x shift ≤ 0.03 at
n = 32, depth 30). Linear chains: Λ_l is exactly a sum of independent ln(σ_w² χ²_n/n); the
law's mean is within 0.008 of it at n = 16, depth 20, and its spread within 1 %.

``extras["ln_grad_along"]`` is the shift of E Λ_l by the along-x component (≈ 1.8 at layer
0 for softplus + He at n = 128: leaving it out puts the typical value 1.8 too low), and
``extras["ln_grad_base"]`` = E Σ_{m>l} base_m(s_m) + E ln(χ²_{n_l}/n_l), the part of E Λ_l
that is a function of the forward path (:func:`forward_part` gives it per network; vg.verify
uses it as a control variate).

Allowance (``extras["ln_grad_error"]``, ln units): the forward/backward error above, the
numerical error, and :data:`ALONG_SHARE` (0.12) of |shift| — measured, not derived. With
200 000 networks per config (He init, depth 30, widths 64 and 128) the largest errors
relative to the shift are 0.099 ± 0.011 (Mish, n = 128: 0.053 of 0.54), 0.086 ± 0.011 (GELU,
n = 128), 0.084 (SiLU, n = 64), 0.067 (SELU) and 0.003 (softplus: 0.006 of 1.79); over the
catalog × {Xavier, He, LeCun} at widths 32, 64 and 128 (20 000 networks per config) every one
of the 3 × 1488 layers lies within the allowance plus 2 standard errors. The predicted
spread ``ln_grad_sd`` is within 1–5 % of the simulated one for Xavier and LeCun and up to
12 % low for the broad He laws (GELU, softplus, SiLU, Mish at layer 0: the correlation of
the forward factor F with s_{m+1} is not carried).

Residual chains have their own finite-width prediction
(:mod:`vgmath.theory.residual_finite_width`: post-activation blocks, positively homogeneous
φ, no bias); batch-normalised and recurrent chains are not covered (``predict`` raises and
says so); weights other than Gaussian are treated as Gaussian of the same variance (the
forward law above needs rotation invariance), with a note, and ``vg.verify`` does not use
the prediction for them.

References: Hanin & Nica 2019 (arXiv:1812.05994) for products of random layers at finite
width; Yaida 2019 (arXiv:1910.00019) and Roberts, Yaida & Hanin 2022 (The Principles of
Deep Learning Theory, ch. 4–5) for the 1/n expansion that the Markov chain sums to all
orders in the forward pass.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import special

from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from .meanfield import homogeneous
from .moments import _Rule
from .profile import Prediction, finite_width_prediction, layer_scales

__all__ = ["GRID_POINTS", "finite_width_profile", "finite_width_refusal", "forward_part"]

FloatArray = NDArray[np.float64]

#: Grid points per layer for the bulk of the law of s_l (evenly spaced in ln s) and for
#: each of its two tails (spacing growing geometrically outwards).
_BULK = 72
_TAIL = 12
GRID_POINTS = _BULK + 2 * _TAIL
#: Broad laws get a finer bulk: spacing at most this in ln s (hat functions conserve E[s],
#: not E[ln s]; at spacing 0.65 the error in E[ln s] reached 0.2 after 30 layers)
_STEP_MAX = 0.15
_BULK_MAX = 320
#: Lattice step in ln s of the cached Gaussian moments.
_LATTICE = 1.0 / 32.0
#: Half-width of the target grid in transition standard deviations.
_SPAN = 12.0
#: Nodes with less mass than this (relative to the total) are dropped.
_MASS_FLOOR = 1e-15
_Z_MAX = 12.0
#: The grid stops here: below, sixth moments of φ underflow (the mass below is put at it).
_S_MIN = 1e-45
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: numerical error allowance of the Markov chain (ln units)
NUMERICAL_ERROR = 1e-3
#: allowance per layer, times 1/n_l², for the neglected second-order terms (ln units)
SECOND_ORDER = 2.0
#: share of the along-x shift of E[Λ_l] allowed as its error (typical values; measured:
#: the largest error relative to the shift is 0.099 ± 0.011, module docstring)
ALONG_SHARE = 0.12


def _base_moments(act: Any, s: FloatArray) -> FloatArray:
    """Columns (z ~ N(0, 1), h = √s z): E[φ^{2k}] k = 1..4; E[φ′²φ^{2k}] k = 0..4;
    E[h²φ′²φ^{2k}] k = 0..3; E[hφ′φ^{2k+1}] k = 0..3; E[φ′⁴], E[φ′⁶]; E[hφ′³φ], E[φ′⁴φ²],
    E[h²φ′⁴] (the kink-split Gauss–Legendre rule of :mod:`vgmath.theory.moments`, on
    |z| ≤ 12 with a z-grid of spacing 1/2 and 12 nodes per piece)."""
    root = np.sqrt(s)
    rule = _Rule(tuple(float(b) for b in act.breakpoints), n=12, h=0.5, kmin=-4, kmax=7,
                 K=_Z_MAX)
    z, w = rule.centred(root)
    x = root[:, None] * z
    with np.errstate(all="ignore"):
        p = np.asarray(act(x.ravel()), dtype=np.float64).reshape(x.shape)
        d = np.asarray(act.grad(x.ravel()), dtype=np.float64).reshape(x.shape)
    p2 = p * p
    pows = [np.ones_like(p2), p2, p2 * p2, p2 * p2 * p2, p2 * p2 * p2 * p2]
    d2 = d * d
    cols = [pows[k] for k in (1, 2, 3, 4)]
    cols += [d2 * pows[k] for k in range(5)]
    cols += [x * x * d2 * pows[k] for k in range(4)]
    cols += [x * d * p * pows[k] for k in range(4)]
    cols += [d2 * d2, d2 * d2 * d2, x * d2 * d * p, d2 * d2 * p2, x * x * d2 * d2]
    return np.stack([(w * c).sum(axis=1) for c in cols], axis=1)


class _MomentLattice:
    """The columns of :func:`_base_moments` on a lattice in ln s (step :data:`_LATTICE`),
    computed on demand and interpolated by a local cubic in ln s."""

    def __init__(self, act: Any) -> None:
        self.act = act
        self.table: dict[int, FloatArray] = {}

    def __call__(self, s: FloatArray) -> FloatArray:
        u = np.log(s) / _LATTICE
        i0 = np.floor(u).astype(np.int64)
        need = np.unique(np.concatenate([i0 - 1, i0, i0 + 1, i0 + 2]))
        missing = np.array([k for k in need.tolist() if k not in self.table], dtype=np.int64)
        if missing.size:
            vals = _base_moments(self.act, np.exp(missing * _LATTICE))
            for i, k in enumerate(missing.tolist()):
                self.table[k] = vals[i]
        t = (u - i0)[:, None]
        wts = (
            -t * (t - 1) * (t - 2) / 6,
            (t + 1) * (t - 1) * (t - 2) / 2,
            -(t + 1) * t * (t - 2) / 2,
            (t + 1) * t * (t - 1) / 6,
        )
        rows = np.stack([np.stack([self.table[k] for k in (i0 + off).tolist()])
                         for off in (-1, 0, 1, 2)])  # (4, len(s), columns)
        lin = sum(w * r for w, r in zip(wts, rows, strict=True))
        # positive moments (most of them grow like powers of s) are interpolated in ln
        pos = np.all(rows > 0, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(np.where(rows > 0, rows, 1.0))
        log_interp = np.exp(sum(w * r for w, r in zip(wts, logs, strict=True)))
        return np.where(pos, log_interp, lin)


def _cumulants(m1: FloatArray, m2: FloatArray, m3: FloatArray) -> tuple[FloatArray, ...]:
    k2 = np.maximum(m2 - m1 * m1, 0.0)
    k3 = m3 - 3.0 * m2 * m1 + 2.0 * m1**3
    return m1, k2, k3


def _hat_weights(
    k1: FloatArray, k2: FloatArray, k3: FloatArray, grid: FloatArray, lower: float = 0.0
) -> FloatArray:
    """Row j: E[hat_k(X_j)] for X_j with cumulants (k1, k2, k3)[j] (shifted gamma law, or
    Gaussian when nearly symmetric, or a point mass), hat_k the linear hat functions on
    ``grid`` (mass outside the grid goes to the end nodes).

    X ≥ ``lower`` (s' ≥ σ_b²): where the three-cumulant gamma would start below it, the
    gamma law starting at ``lower`` with the first two cumulants is used instead (its third
    cumulant is then off by O(n^{-2}); ReLU-like φ at small n)."""
    M = grid.size
    sd = np.sqrt(k2)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(sd > 0, k3 / np.maximum(sd, 1e-300) ** 3, 0.0)
        room = np.maximum(k1 - lower, 0.0)
        min_skew = np.where(room > 0, 2.0 * sd / np.where(room > 0, room, 1.0), np.inf)
    skew = np.where((skew > 0) & (skew < min_skew) & np.isfinite(min_skew), min_skew, skew)
    k3 = skew * sd**3
    x = grid[None, :]
    mu, sdv = k1[:, None], sd[:, None]
    F = np.empty((k1.size, M))
    G = np.empty((k1.size, M))
    point = sd <= 1e-12 * np.abs(k1)
    gauss = ~point & (np.abs(skew) < 1e-4)
    gam = ~point & ~gauss
    if gauss.any():
        zz = (x - mu[gauss]) / sdv[gauss]
        F[gauss] = special.ndtr(zz)
        G[gauss] = mu[gauss] * F[gauss] - sdv[gauss] * np.exp(-0.5 * zz * zz) * _INV_SQRT_2PI
    if gam.any():
        th = np.broadcast_to((k3[gam] / (2.0 * k2[gam]))[:, None], (int(gam.sum()), M))
        a = np.broadcast_to((4.0 / skew[gam] ** 2)[:, None], th.shape)  # shape 4/skew²
        c = mu[gam] - a * th
        zz = (x - mu[gam]) / sdv[gam]
        # outside ±14 sd a law with shape a ≥ 50 (skewness ≤ 0.28) has no mass to speak of
        # (< 1e-20): the CDF is 0 or 1 there and the gamma function is not evaluated
        band = (np.abs(zz) < 14.0) | (a < 50.0)
        Fg = (zz > 0).astype(float)
        Gg = Fg * mu[gam]
        tb, ab, cb = th[band], a[band], c[band]
        y = np.maximum((np.broadcast_to(x, th.shape)[band] - cb) / tb, 0.0)
        Pa = special.gammainc(ab, y)
        with np.errstate(divide="ignore", under="ignore"):
            # P(a + 1, y) = P(a, y) − y^a e^{−y}/Γ(a + 1)
            term = np.where(y > 0, np.exp(ab * np.log(np.where(y > 0, y, 1.0)) - y
                                          - special.gammaln(ab + 1.0)), 0.0)
        Pa1 = Pa - term
        pos = tb > 0
        Fg[band] = np.where(pos, Pa, 1.0 - Pa)
        Gg[band] = np.where(pos, cb * Pa + tb * ab * Pa1,
                            cb * (1.0 - Pa) + tb * ab * (1.0 - Pa1))
        F[gam], G[gam] = Fg, Gg
    if point.any():
        F[point] = (x >= mu[point]).astype(float)
        G[point] = F[point] * mu[point]
    W = np.zeros((k1.size, M))
    # below the grid: to node 0; above: to node M-1
    W[:, 0] += F[:, 0]
    W[:, -1] += 1.0 - F[:, -1]
    if M > 1:
        dF = np.maximum(np.diff(F, axis=1), 0.0)
        dG = np.diff(G, axis=1)
        # the mean of X within each bin, clipped to the bin: robust to the cancellation
        # in dG where the bin carries almost no mass
        with np.errstate(divide="ignore", invalid="ignore"):
            mid = np.where(dF > 0, dG / np.where(dF > 0, dF, 1.0), 0.0)
        mid = np.clip(mid, grid[None, :-1], grid[None, 1:])
        h = np.diff(grid)[None, :]
        W[:, :-1] += dF * (grid[None, 1:] - mid) / h
        W[:, 1:] += dF * (mid - grid[None, :-1]) / h
    if point.any():  # a point mass: linear interpolation between its two nodes
        for j in np.flatnonzero(point):
            W[j] = 0.0
            v = float(np.clip(k1[j], grid[0], grid[-1]))
            i = int(np.clip(np.searchsorted(grid, v) - 1, 0, max(M - 2, 0)))
            if M == 1:
                W[j, 0] = 1.0
            else:
                t = (v - grid[i]) / (grid[i + 1] - grid[i])
                W[j, i], W[j, i + 1] = 1.0 - t, t
    W /= W.sum(axis=1, keepdims=True)
    return W


def _transition(
    mom: FloatArray, n: int, sw2: float, sb2: float, weight: FloatArray | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Cumulants of s' = σ² B + σ_b² given s; with ``weight`` (columns E[w φ^{2k}],
    k = 0..3), one of the n summands of B is tilted by w/E[w] (the law under which
    E[w(h_1) F(B)] = E[w] Ẽ[F(B)])."""
    k1, k2, k3 = _cumulants(mom[:, 0], mom[:, 1], mom[:, 2])
    if weight is None:
        c1, c2, c3 = k1, k2 / n, k3 / n**2
    else:
        w0 = weight[:, 0]
        safe = np.abs(w0) > 1e-300
        w0s = np.where(safe, w0, 1.0)
        t1, t2, t3 = _cumulants(*(np.where(safe, weight[:, k] / w0s, mom[:, k - 1])
                                  for k in (1, 2, 3)))
        c1 = (t1 + (n - 1) * k1) / n
        c2 = np.maximum((t2 + (n - 1) * k2) / n**2, 0.0)
        c3 = (t3 + (n - 1) * k3) / n**3
    return sw2 * c1 + sb2, sw2 * sw2 * c2, sw2**3 * c3


def _next_grid(k1: FloatArray, k2: FloatArray, mass: FloatArray) -> FloatArray:
    """Target grid of the next layer: :data:`_BULK` points evenly in ln s over ±6 standard
    deviations of ln s' around its mean (the bulk), and :data:`_TAIL` more on each side out
    to ±12 transition standard deviations of the extreme source nodes (the tails)."""
    keep = mass > _MASS_FLOOR * mass.max()
    mu, sd, w = k1[keep], np.sqrt(k2[keep]), mass[keep] / mass[keep].sum()
    rel = sd / mu
    lo = max(float(np.min(mu * np.exp(-_SPAN * np.minimum(rel, 3.0)))), _S_MIN)
    hi = float(np.max(mu + _SPAN * sd * np.maximum(1.0, 0.5 * rel)))
    if not (hi > lo > 0) or not math.isfinite(hi):
        raise InvalidArgumentError("chain", "", "the per-network variance left float64 range")
    if hi <= lo * (1 + 1e-12):
        return np.array([float(mu.mean())])
    mean = float(w @ mu)
    var = float(w @ (sd * sd) + w @ (mu - mean) ** 2)
    sig = math.sqrt(math.log1p(var / mean**2))
    centre = math.log(mean) - 0.5 * sig * sig
    b_lo = max(math.log(lo), centre - 6.0 * sig)
    b_hi = min(math.log(hi), centre + 6.0 * sig)
    if not b_hi > b_lo:
        b_lo, b_hi = math.log(lo), math.log(hi)
    bulk = max(_BULK, min(_BULK_MAX, math.ceil((b_hi - b_lo) / _STEP_MAX) + 1))
    parts = [np.linspace(b_lo, b_hi, bulk)]
    step = (b_hi - b_lo) / (bulk - 1)
    if math.log(lo) < b_lo - step:
        parts.insert(0, (b_lo - np.geomspace(step, b_lo - math.log(lo), _TAIL))[::-1])
    if math.log(hi) > b_hi + step:
        parts.append(b_hi + np.geomspace(step, math.log(hi) - b_hi, _TAIL))
    return np.exp(np.concatenate(parts))


def finite_width_profile(chain: Chain, mean_field: Prediction) -> Prediction:
    """The finite-width prediction of a plain chain (module docstring), built beside the
    mean-field ``mean_field`` (whose profiles are kept in ``extras``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _profile(chain, mean_field)


def finite_width_refusal(chain: Chain) -> str:
    """Why the finite-width prediction does not cover ``chain`` ("" when it does): it models
    plain chains whose output layer applies φ (this module) and post-activation residual
    chains with a positively homogeneous φ and no bias
    (:mod:`vgmath.theory.residual_finite_width`). (Non-Gaussian weights are predicted as if
    Gaussian, with a note; :func:`vgmath.verification.profile.finite_width_exact` adds that
    condition for testing.)"""
    if getattr(chain, "norm", None) is not None:
        return ("finite-width predictions cover plain and post-activation residual chains; "
                "batch-normalised chains have the infinite-width prediction at their batch "
                "only (finite_width=False; its notes give the measured width effect)")
    if chain.residual is not None:
        from .residual_finite_width import residual_finite_width_refusal

        return residual_finite_width_refusal(chain)
    if getattr(chain, "readout", "activation") != "activation":
        return (f"finite-width predictions cover the activation read-out; readout="
                f"{chain.readout!r} has the mean-field prediction only (finite_width=False)")
    return ""


def forward_part(chain: Chain, activation_second_moment: Any) -> FloatArray:
    """Per network (rows) and layer l: Σ_{m>l} base_m(s_m) + E ln(χ²_{n_l}/n_l), the part of
    Λ_l = ln(‖g^l‖²/n_l) that the typical-value law (module docstring) takes as a function
    of the network's forward path s_m = σ_m² ‖x^{m−1}‖²/n_{m−1} + σ_b², read from
    ``activation_second_moment`` (rows: networks, columns: layers 0..L, as
    ``vg.simulate(chain).samples`` has them). Its mean under the law is
    ``extras["ln_grad_base"]`` of ``vg.predict(chain, finite_width=True)``: a control
    variate for the typical value, exact in the forward pass (Gaussian weights)."""
    why = finite_width_refusal(chain) or (
        "the forward part is defined for plain chains" if chain.residual is not None else "")
    if why:
        raise InvalidArgumentError("chain", str(chain), why)
    act2 = np.asarray(activation_second_moment, dtype=np.float64)
    L = chain.depth
    if act2.ndim != 2 or act2.shape[1] != L + 1:
        raise InvalidArgumentError("activation_second_moment", f"shape {act2.shape}",
                                   f"expected (networks, {L + 1})")
    ns = chain.widths
    sc = layer_scales(chain)
    sb2 = float(chain.sigma_b2)
    lat = chain.act._cache.get("markov_lattice")
    if lat is None:
        lat = chain.act._cache["markov_lattice"] = _MomentLattice(chain.act)
    out = np.zeros((act2.shape[0], L + 1))
    for m in range(L, 0, -1):
        s = np.maximum(float(sc.sw2[m - 1]) * act2[:, m - 1] + sb2, _S_MIN)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            base = _layer_terms(lat(s), s, ns[m], float(sc.v[m - 1]), sb2).base
        out[:, m - 1] = out[:, m] + base
    return out + np.array([_chi_mean(k) for k in ns])


def _profile(chain: Chain, mean_field: Prediction) -> Prediction:
    why = finite_width_refusal(chain) or (
        "this Markov chain models plain chains; vg.predict(chain, finite_width=True) routes "
        "residual chains to vgmath.theory.residual_finite_width" if chain.residual is not None
        else "")
    if why:
        raise InvalidArgumentError("finite_width", True, why)
    L = chain.depth
    ns = chain.widths
    sc = layer_scales(chain)
    sw2 = sc.sw2.tolist()
    vs = [float(v) for v in sc.v]
    sb2 = float(chain.sigma_b2)
    # one lattice per activation: the Gaussian moments at a lattice point never change
    lat = chain.act._cache.get("markov_lattice")
    if lat is None:
        lat = chain.act._cache["markov_lattice"] = _MomentLattice(chain.act)

    # ---- forward: grids and laws of s_1..s_L
    grids: list[FloatArray] = [np.array([float(chain.input_q)])]
    laws: list[FloatArray] = [np.array([1.0])]
    moms: list[FloatArray] = [np.zeros((1, 22))]
    s1 = sw2[0] * float(chain.input_q) + sb2
    if not s1 > 0:
        raise InvalidArgumentError("chain", str(chain), "the first layer's variance is 0")
    grids.append(np.array([s1]))
    laws.append(np.array([1.0]))
    fwd: dict[int, FloatArray] = {}
    for l in range(1, L + 1):
        moms.append(lat(grids[l]))
        if l == L:
            break
        k1, k2, k3 = _transition(moms[l], ns[l], sw2[l], sb2)
        nxt = _next_grid(k1, k2, laws[l])
        fwd[l] = _hat_weights(k1, k2, k3, nxt, sb2)  # reused by the backward pass
        p = laws[l] @ fwd[l]
        p[p <= _MASS_FLOOR * p.max()] = 0.0
        grids.append(nxt)
        laws.append(p / p.sum())
    q = np.array([float(chain.input_q)] + [float(laws[l] @ grids[l]) for l in range(1, L + 1)])

    # ---- backward: V_m(s) = E[(Y_{m-1}, K_{m-1}) | s_m = s], carried with a log scale
    V: list[FloatArray] = [np.zeros((1, 2))] * (L + 2)
    mats: dict[int, tuple[FloatArray, FloatArray]] = {}  # plain and φ′²-tilted transitions
    logscale = np.zeros(L + 2)
    for m in range(L, 0, -1):
        s = grids[m]
        mo = moms[m]
        n = ns[m]
        rho = (s - sb2) / s
        P, D, E, F = mo[:, 0:4], mo[:, 4:9], mo[:, 9:13], mo[:, 13:17]
        f, C = D[:, 0], D[:, 1]
        Pm = P[:, 0]
        Mw = rho[:, None] ** 2 * E + (rho * sb2)[:, None] * D[:, :4]  # E[u²φ′²φ^{2k}]
        Rw = rho[:, None] * F  # E[uφ′φ·φ^{2k}]
        Pw = np.concatenate([np.ones((s.size, 1)), P[:, :3]], axis=1)
        if m == L:
            ones = np.ones((s.size, 2))
            e_plain = e_d = e_m = e_r = e_p = ones
        else:
            nxt = V[m + 1]

            def tilt(w: FloatArray | None, m: int = m, mo: FloatArray = mo) -> FloatArray:
                k1, k2, k3 = _transition(mo, ns[m], sw2[m], sb2, w)
                return _hat_weights(k1, k2, k3, grids[m + 1], sb2)

            mats[m] = (fwd[m], tilt(D[:, :4]))
            e_plain, e_d = mats[m][0] @ nxt, mats[m][1] @ nxt
            e_m, e_r, e_p = tilt(Mw) @ nxt, tilt(Rw) @ nxt, tilt(Pw) @ nxt
        Mm, Rm = Mw[:, 0], Rw[:, 0]
        Pd = np.where(Pm > 0, Pm, 1.0)  # P = 0: x = 0, the terms below vanish with it
        ratio = np.where(Pm > 0, C / Pd, 0.0)
        r2p = np.where(Pm > 0, Rm * Rm / Pd, 0.0)
        e_r2p = 2.0 * e_r - e_p  # E[(R²/P) V]/(R̄²/P̄), linearised in the averages
        # ‖δ‖² = Y′(n A − C/P) + K′ C/P;  κ² = Y′ n(M − R²/P) + K′ n R²/P
        dd = (n * f)[:, None] * e_d[:, :1] - ratio[:, None] * e_plain[:, :1]
        dd = np.concatenate([dd, ratio[:, None] * e_plain[:, 1:]], axis=1)
        kk = (n * Mm)[:, None] * e_m[:, :1] - (n * r2p)[:, None] * e_r2p[:, :1]
        kk = np.concatenate([kk, (n * r2p)[:, None] * e_r2p[:, 1:]], axis=1)
        x_prev2 = np.maximum(s - sb2, 0.0) / vs[m - 1]  # ‖x^{m-1}‖²
        y_new = vs[m - 1] * dd.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            k_new = np.where(x_prev2 > 0, kk.sum(axis=1) / x_prev2, 0.0)
        out = np.stack([y_new, k_new], axis=1)
        top = float(np.max(np.abs(out)))
        if not (top > 0 and math.isfinite(top)):
            raise InvalidArgumentError("chain", str(chain), "the gradient left float64 range")
        V[m] = out / top
        logscale[m] = logscale[m + 1] + math.log(top)
    log_grad = np.zeros(L + 1)
    log_pre = np.full(L + 1, np.nan)
    log_wt = np.full(L + 1, np.nan)
    for l in range(1, L + 1):
        ev = laws[l] @ V[l]  # E[(Y_{l-1}, K_{l-1})]
        g = (ns[l - 1] - 1) * ev[0] + ev[1]
        log_grad[l - 1] = math.log(max(g, 1e-300)) + logscale[l] - math.log(ns[l - 1])
        log_pre[l] = math.log(max(ev[0], 1e-300)) + logscale[l] - math.log(vs[l - 1] * ns[l])
        x_prev = np.maximum(grids[l] - sb2, 0.0) / sw2[l - 1]  # ‖x^{l-1}‖²/n_{l-1}
        ew = float(laws[l] @ (x_prev * V[l][:, 0]))
        log_wt[l] = (math.log(ew) if ew > 0 else -math.inf) + logscale[l] - math.log(
            vs[l - 1] * ns[l])
    law = _log_gradient_law(chain, vs, grids, laws, moms, mats)
    err = np.full(L + 1, NUMERICAL_ERROR + SECOND_ORDER * sum(1.0 / k**2 for k in ns[1:]))
    with np.errstate(over="ignore", under="ignore"):
        grad = np.exp(log_grad)
        pre = np.exp(log_pre)
        wt = np.exp(log_wt)
    chi = np.full(L + 1, np.nan)
    chi[1:] = np.exp(log_grad[:-1] - log_grad[1:])
    sigma_w2 = np.full(L + 1, np.nan)
    sigma_w2[1:] = sc.sw2
    notes = [
        "finite-width prediction at "
        + (f"width {ns[1]}" if len(set(ns)) == 1 else "widths " + ", ".join(map(str, ns)))
        + ": exact forward Markov chain of the per-network variance, backward pass with "
        "the forward/backward weight sharing carried along it; mean_ln_chi is the "
        "first-order formula of the mean-field prediction",
    ]
    homog = sb2 == 0 and homogeneous(chain.act) is not None
    if not homog:
        notes.append(
            "ln_grad_mean/ln_grad_sd (typical values): the gradient's component along the "
            "activations is carried per network, its unit averages' fluctuations to first "
            "order in 1/n; measured mean error up to 0.1 of that component's shift "
            "(allowance: extras['ln_grad_error']); spread up to 12 % low for broad He laws"
        )
    if not chain.rule.gaussian:
        notes.append(
            f"the finite-width Markov chain assumes i.i.d. Gaussian weights; "
            f"{chain.rule.distribution} weights of the same variance differ at O(1/n)"
        )
    return finite_width_prediction(
        mean_field, q=q, chi=chi, grad=grad, preact=pre, weight=wt, sigma_w2=sigma_w2,
        log_grad=log_grad,
        method="finite-width Markov chain of the per-network variance (grid of "
        f"at least {GRID_POINTS} points per layer); moments: kink-split Gauss-Legendre",
        notes=notes,
        extras={
            "error": err,
            "ln_grad_mean": law.mean,
            "ln_grad_sd": law.sd,
            "ln_grad_skewness": law.skewness,
            "ln_grad_along": law.along,
            "ln_grad_base": law.base,
            "ln_grad_error": err + law.numerical_error + ALONG_SHARE * np.abs(law.along),
        },
    )


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(60)
_GH_W = _GH_W / _GH_W.sum()

#: |t| grid (module docstring, "Typical values"): t_j = c·sinh(j·du), spacing c·du near 0
#: where the law starts (|N(0, 1)|) and relative spacing du in the tail; mass beyond the
#: last node is put there. The grid error is O(du²): the law is computed at du and 2du and
#: Richardson-extrapolated
_TAU_C = 1.0
_TAU_DU = 0.05
_TAU_MAX = 1e4
#: bins of s (about equal mass) on which the joint law of (s, |t|) is carried
_S_BINS = 16
#: cells of the joint grid with less mass than this (relative) are not moved
_CELL_FLOOR = 1e-16
#: Gauss–Hermite nodes of the innovation ζ of t; Gauss–Laguerre nodes of the gamma laws
#: of the backward quadratic form G and of the forward factor F
_ZX, _ZW = np.polynomial.hermite_e.hermegauss(4)
_ZW = _ZW / _ZW.sum()
_G_NODES = 4
_F_NODES = 3


class _Terms(NamedTuple):
    """Per node of s_m, layer m's terms of the typical-value law (module docstring,
    "Typical values"): t_{m−1} = (a√F t_m + b ζ)/√(G + ε t_m² + c t_m ζ)."""

    base: FloatArray  # E ln(Y_{m−1}/Y_m) for an isotropic g^m
    var: FloatArray  # variance of its forward part (Ā given s)
    k3: FloatArray  # third cumulant of its forward part
    a: FloatArray
    b: FloatArray
    eps: FloatArray
    g_mean: FloatArray  # G = ζᵀP⊥AP⊥ζ/(nĀ)
    g_var: FloatArray
    f_mean: FloatArray  # F = â²/a²
    f_var: FloatArray
    cross: FloatArray  # c


def _layer_terms(mo: FloatArray, s: FloatArray, n: int, v: float, sb2: float) -> _Terms:
    """:class:`_Terms` of a layer of width n with weight variance v at the nodes s (Gaussian
    moments ``mo`` from :func:`_base_moments`)."""
    f = np.maximum(mo[:, 4], 1e-300)
    M2, M3 = mo[:, 17], mo[:, 18]  # E[φ′⁴], E[φ′⁶]
    V = np.maximum(M2 - f * f, 0.0) / n  # Var(Ā | s), Ā = mean φ′(h_i)²
    k3 = (M3 - 3 * M2 * f + 2 * f**3) / n**2
    cov = (M3 - M2 * f) / n  # Cov(mean φ′⁴, Ā)
    # E[ln Ā | s] to O(n^-2)
    log_a = np.log(f) - V / (2 * f * f) + k3 / (3 * f**3) - 3 * V * V / (4 * f**4)
    # E[ln T / (n Ā)], T = Σ a_i ζ_i² a weighted chi-square, to O(n^-2)
    ratio = M2 / (f * f) * (1 + 3 * V / (f * f) - 2 * cov / np.maximum(M2 * f, 1e-300))
    log_t = -ratio / n + (8 * M3 / 3 - 3 * M2 * M2 / f) / (n * n * f**3)
    # Var(ln x) for x with relative variance σ², relative third moment μ₃: σ² − μ₃ + 5σ⁴/2
    # (normal-like fourth moment); third cumulant μ₃ − 3σ⁴ (leading order)
    sa, ma = V / (f * f), k3 / f**3
    # the map of t: u = h − b, unit averages P = φ², R = uφ′φ, M = u²φ′², C = φ′²φ²
    P = mo[:, 0]
    live = (P > 0) & (s > sb2)
    Pd = np.where(live, P, 1.0)
    rho = (s - sb2) / s
    M = rho**2 * mo[:, 9] + rho * sb2 * f
    R = rho * mo[:, 13]
    Rd = np.where(np.abs(R) > 1e-300, R, 1.0)
    spread = np.where(live, s - sb2, 1.0)  # (s − σ_b²) = v‖x^{m−1}‖²
    cp = mo[:, 5] / Pd
    r2p = R * R / Pd
    # relative (co)variances per unit of R, P, Ā (r, p, α)
    vr = (rho**2 * mo[:, 10] + rho * sb2 * mo[:, 5]) / Rd**2 - 1.0
    vp = mo[:, 1] / (Pd * Pd) - 1.0
    crp = rho * mo[:, 14] / (Rd * Pd) - 1.0
    cra = rho * mo[:, 19] / (Rd * f) - 1.0
    cpa = cp / f - 1.0
    has_r = live & (np.abs(R) > 1e-300)
    # F = â²/a², â = R̂/√(P̂ (s − σ_b²) Â): mean and Var(ln) by the delta method
    f_mean = 1.0 + np.where(has_r, vr + vp + sa * n - 2 * crp - 2 * cra + cpa, 0.0) / n
    f_var = np.where(has_r, np.maximum(4 * vr + vp + sa * n - 4 * crp - 4 * cra + 2 * cpa,
                                       0.0), 0.0) / n
    # E[b̂²], b̂² = (M̂ − R̂²/P̂)/((s − σ_b²) Â), to O(1/n)
    d_bar = M - r2p * (1.0 + (vr + vp - 2 * crp) / n)
    cov_da = (rho**2 * mo[:, 21] + rho * sb2 * M2 - M * f) / n - r2p * f * (2 * cra - cpa) / n
    b2 = (d_bar / f * (1.0 + sa) - cov_da / (f * f)) / spread
    # the backward form's cross term 2t (D²e)·P⊥ζ through its correlation with the
    # innovation (D u)·P⊥ζ: c = 2 Cov/(σ₁ n Ā)
    sig1 = np.sqrt(np.maximum(M - r2p, 0.0))
    cov12 = rho * mo[:, 19] - R * cp
    cross = np.where(live & (sig1 > 1e-12 * np.sqrt(np.abs(M) + 1e-300)),
                     2 * cov12 / (np.sqrt(Pd) * np.where(sig1 > 0, sig1, 1.0) * n * f), 0.0)
    eps = np.where(live, cp / (n * f), 0.0)
    return _Terms(
        base=math.log(v * n) + log_a + log_t,
        var=sa - ma + 2.5 * sa * sa,
        k3=ma - 3 * sa * sa,
        a=np.where(live, R / np.sqrt(Pd * spread * f), 0.0),
        b=np.where(live, np.sqrt(np.maximum(b2, 0.0)), 1.0),
        eps=eps,
        g_mean=np.maximum(1.0 - eps, 1e-3),
        # 2 tr((P⊥AP⊥)²)/(nĀ)²
        g_var=2 * np.maximum(n * M2 - 2 * mo[:, 20] / Pd + cp * cp, 0.0) / (n * f) ** 2,
        f_mean=f_mean,
        f_var=f_var,
        cross=cross,
    )


class _BinTerms(NamedTuple):
    """:class:`_Terms` averaged over bins of s, with the product nodes (S, K) of G, F, ζ."""

    mass: FloatArray
    terms: _Terms
    g_q: FloatArray
    f_root: FloatArray  # √F
    z_q: FloatArray
    w_q: FloatArray
    iso: FloatArray  # E ln(G + ε ξ²): an isotropic vector's value of ln(G + ε t²)


def _binned(terms: _Terms, law: FloatArray, agg: FloatArray) -> _BinTerms:
    w = agg * law[:, None]
    mass = w.sum(axis=0)
    avg = _Terms(*((w.T @ c) / mass for c in terms))
    avg = avg._replace(b=np.sqrt((w.T @ terms.b**2) / mass))  # b enters as b²
    g_nodes, g_w = _gamma_nodes(avg.g_mean, avg.g_var / avg.g_mean**2, _G_NODES)
    f_nodes, f_w = _gamma_nodes(avg.f_mean, avg.f_var, _F_NODES)
    z_nodes, z_w = (_ZX, _ZW) if np.any(avg.b > 1e-12) else (np.zeros(1), np.ones(1))
    S, K = mass.size, (g_w.shape[1], f_w.shape[1], z_w.size)
    return _BinTerms(
        mass=mass, terms=avg,
        g_q=np.broadcast_to(g_nodes[:, :, None, None], (S, *K)).reshape(S, -1),
        f_root=np.sqrt(np.broadcast_to(f_nodes[:, None, :, None], (S, *K)).reshape(S, -1)),
        z_q=np.broadcast_to(z_nodes, K).ravel(),
        w_q=(g_w[:, :, None, None] * f_w[:, None, :, None] * z_w).reshape(S, -1),
        iso=_ln_iso(g_nodes, g_w, avg.eps),
    )


def _tau_grid(top: float, du: float) -> FloatArray:
    top = min(max(top, 8.0), _TAU_MAX)
    size = math.ceil(math.asinh(top / _TAU_C) / du) + 2
    return _TAU_C * np.sinh(np.arange(size) * du)


def _tau_split(tau: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Lower node index and upper weight of |x| on the grid ``tau`` (a :func:`_tau_grid`),
    linear in t² (E t² is carried exactly; mass beyond the last node goes to it)."""
    x = np.abs(x)
    du = math.asinh(tau[1] / _TAU_C)
    j = np.clip(np.floor(np.arcsinh(x / _TAU_C) / du).astype(np.int64), 0, tau.size - 2)
    lo2, hi2 = tau[j] ** 2, tau[j + 1] ** 2
    return j, np.clip((x * x - lo2) / (hi2 - lo2), 0.0, 1.0)


def _tau_start(tau: FloatArray) -> FloatArray:
    """|t| for t ~ N(0, 1) on the grid."""
    out = np.zeros(tau.size)
    j, w = _tau_split(tau, _GH_X)
    np.add.at(out, j, _GH_W * (1.0 - w))
    np.add.at(out, j + 1, _GH_W * w)
    return out


def _gamma_nodes(mean: FloatArray, relvar: FloatArray,
                 size: int) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights, (S, size) each, of the gamma law with this mean and relative
    variance (Gauss–Laguerre by Golub–Welsch): the law of a weighted chi-square, exact for
    ReLU, where G is χ²_{k−1}/k."""
    shape = 1.0 / np.clip(relvar, 1e-6, 10.0)
    i = np.arange(size)
    jac = np.zeros((mean.size, size, size))
    jac[:, i, i] = 2 * i + shape[:, None]
    off = np.sqrt(i[1:] * (i[1:] + shape[:, None] - 1.0))
    jac[:, i[1:], i[:-1]] = off
    jac[:, i[:-1], i[1:]] = off
    x, vec = np.linalg.eigh(jac)
    return mean[:, None] * x / shape[:, None], vec[:, 0, :] ** 2


def _ln_iso(g: FloatArray, gw: FloatArray, eps: FloatArray) -> FloatArray:
    """E ln(G + ε ξ²) over the nodes ``g`` (weights ``gw``) of G and ξ ~ N(0, 1)."""
    v = g[:, :, None] + eps[:, None, None] * _GH_X**2
    return ((np.log(np.maximum(v, 1e-300)) @ _GH_W) * gw).sum(axis=1)


def _tau_step(tau: FloatArray, X: FloatArray, bt: _BinTerms) -> FloatArray:
    """One layer m of the joint law: X (S, 4, N) holds, per bin of s_m and node |t_m| =
    tau_i, the mass and the mass-weighted moments 1–3 of the sum of the increments of ln Y
    above; layer m's increment is added and t_m moved to t_{m−1}, over the product nodes of
    G, F and ζ. Cells without mass are skipped."""
    tm = bt.terms
    S, N = X.shape[0], tau.size
    si, ti = np.nonzero(X[:, 0, :] > _CELL_FLOOR * X[:, 0, :].sum())
    t = tau[ti]
    q = np.maximum(bt.g_q[si] + (tm.eps[si] * t * t)[:, None]
                   + (tm.cross[si] * t)[:, None] * bt.z_q, 1e-3 * bt.g_q[si])  # (C, K)
    inc = (tm.base[si] - bt.iso[si])[:, None] + np.log(q)
    p, s1, s2, s3 = (X[si, k, ti][:, None] for k in range(4))
    v, k3 = tm.var[si][:, None], tm.k3[si][:, None]
    inc2 = inc * inc
    mom = (p, s1 + inc * p, s2 + 2 * inc * s1 + (inc2 + v) * p,
           s3 + 3 * inc * s2 + 3 * (inc2 + v) * s1 + (inc2 * inc + 3 * inc * v + k3) * p)
    x = ((tm.a[si] * t)[:, None] * bt.f_root[si] + tm.b[si][:, None] * bt.z_q) / np.sqrt(q)
    j, w = _tau_split(tau, x)
    idx = (si[:, None] * N + j).ravel()
    wq = bt.w_q[si]
    lo, hi = wq * (1.0 - w), wq * w
    out = np.empty((S, 4, N))
    for k, mk in enumerate(mom):
        out[:, k, :] = (np.bincount(idx, (mk * lo).ravel(), minlength=S * N)
                        + np.bincount(idx + 1, (mk * hi).ravel(), minlength=S * N)
                        ).reshape(S, N)
    return out


def _bins(law: FloatArray) -> FloatArray:
    """(S, B) one-hot: consecutive grid nodes grouped into at most :data:`_S_BINS` bins of
    about equal mass."""
    cm = np.cumsum(law) - 0.5 * law
    label = np.minimum((cm / cm[-1] * _S_BINS).astype(np.int64) if cm[-1] > 0
                       else np.zeros(law.size, dtype=np.int64), _S_BINS - 1)
    _, label = np.unique(label, return_inverse=True)
    out = np.zeros((law.size, int(label.max()) + 1))
    out[np.arange(law.size), label] = 1.0
    return out


class _Law(NamedTuple):
    """The law of Λ_l = ln(‖g^l‖²/n_l) per layer (module docstring, "Typical values")."""

    mean: FloatArray
    sd: FloatArray
    skewness: FloatArray
    along: FloatArray  # the shift of the mean by the gradient's component along x^l
    base: FloatArray  # E Σ_{m>l} base_m(s_m): the mean's forward-path part
    numerical_error: FloatArray  # of the mean: the size of the Richardson correction


def _log_gradient_law(
    chain: Chain,
    vs: list[float],
    grids: list[FloatArray],
    laws: list[FloatArray],
    moms: list[FloatArray],
    mats: dict[int, tuple[FloatArray, FloatArray]],
) -> _Law:
    """The law of Λ_l = ln(‖g^l‖²/n_l) (module docstring, "Typical values") from the forward
    chain's grids, laws, Gaussian moments and transitions (plain and φ′²-tilted)."""
    L = chain.depth
    ns = list(chain.widths)
    sb2 = float(chain.sigma_b2)
    terms = {m: _layer_terms(moms[m], grids[m], ns[m], vs[m - 1], sb2) for m in range(1, L + 1)}
    # the base part's correlation with the forward chain (φ′²-tilted transition, first
    # order): the variance it adds, D_m = E[Σ base (tilted) − Σ base (plain) | s_m] carried
    # down as D_m = 2 (W̃ − W) U1_{m+1} + W D_{m+1}, U1 the conditional mean of the sum
    U1: FloatArray = np.zeros(1)
    D: FloatArray = np.zeros(1)
    tilt = np.zeros(L + 1)
    base_sum = np.zeros(L + 1)
    for m in range(L, 0, -1):
        tm = terms[m]
        if m == L:
            U1, D = tm.base, np.zeros_like(tm.base)
        else:
            Wp, Wd = mats[m]
            e1 = Wp @ U1
            D = 2.0 * (Wd @ U1 - e1) + Wp @ D
            U1 = tm.base + e1
        tilt[m - 1] = float(laws[m] @ D)
        base_sum[m - 1] = float(laws[m] @ U1)
    agg = {m: _bins(laws[m]) for m in range(1, L + 1)}
    binned = {m: _binned(terms[m], laws[m], agg[m]) for m in range(1, L + 1)}
    top2 = 1.0  # the range of |t|: E t² carried through the worst bin
    for m in range(L, 0, -1):
        tm = binned[m].terms
        top2 = min(float(np.max((tm.a**2 * tm.f_mean * top2 + tm.b**2)
                                / np.maximum(tm.g_mean, 1e-3))), _TAU_MAX**2)
    top = 10.0 * math.sqrt(top2) + 6.0
    rev = {}
    for m in range(2, L + 1):  # P(s_{m−1} bin | s_m bin)
        joint = agg[m - 1].T @ (laws[m - 1][:, None] * mats[m - 1][0]) @ agg[m]
        col = joint.sum(axis=0)
        rev[m] = joint / np.where(col > 0, col, 1.0)
    fine = _tau_chain(_tau_grid(top, _TAU_DU), binned, rev, ns, base_sum, tilt)
    coarse = _tau_chain(_tau_grid(top, 2 * _TAU_DU), binned, rev, ns, base_sum, tilt)
    mean, sd, skew, along = (f + (f - c) / 3.0 for f, c in zip(fine, coarse, strict=True))
    base = base_sum + np.array([_chi_mean(k) for k in ns])
    return _Law(mean, sd, skew, along, base, np.abs(fine[0] - coarse[0]) / 3.0)


def _chi_mean(n: int) -> float:
    """E ln(χ²_n/n)."""
    return float(special.digamma(n / 2) - math.log(n / 2))


def _tau_chain(tau: FloatArray, binned: dict[int, _BinTerms], rev: dict[int, FloatArray],
               ns: list[int], base_sum: FloatArray, tilt: FloatArray,
               ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Mean, standard deviation, skewness and along-x shift of Λ_l, with the grid ``tau``
    of |t|."""
    L = len(ns) - 1
    t2 = tau * tau
    mean = np.full(L + 1, np.nan)
    sd = np.full(L + 1, np.nan)
    skew = np.full(L + 1, np.nan)
    along = np.zeros(L + 1)
    out_var = float(special.polygamma(1, ns[L] / 2))
    mean[L], sd[L] = _chi_mean(ns[L]), math.sqrt(out_var)
    skew[L] = float(special.polygamma(2, ns[L] / 2)) / out_var**1.5
    X = binned[L].mass[:, None, None] * np.concatenate(
        [_tau_start(tau)[None, :], np.zeros((3, tau.size))])[None, :, :]
    for m in range(L, 0, -1):
        X = _tau_step(tau, X, binned[m])
        # Λ_{m-1} = ln Y_{m-1} + ln((χ²_{n-1} + t²)/n): the chi-square's share as for an
        # isotropic vector, and the shift by t² − 1 of one of its directions
        n_prev = ns[m - 1]
        e_prev = np.array([1.0 / n_prev])
        tail = np.log(np.maximum(1.0 + (t2 - 1.0) / n_prev, 1e-300)) - _ln_iso(
            1.0 - e_prev[:, None], np.ones((1, 1)), e_prev)[0]
        tot = X.sum(axis=0)  # (4, N)
        m1 = float(tot[1].sum() + tot[0] @ tail)
        m2 = float(tot[2].sum() + 2 * tot[1] @ tail + tot[0] @ (tail * tail))
        m3 = float(tot[3].sum() + 3 * tot[2] @ tail + 3 * tot[1] @ (tail * tail)
                   + tot[0] @ tail**3)
        mean[m - 1] = m1 + _chi_mean(n_prev)
        along[m - 1] = m1 - base_sum[m - 1]
        v_tot = max(m2 - m1 * m1 + tilt[m - 1], 0.0) + float(special.polygamma(1, n_prev / 2))
        sd[m - 1] = math.sqrt(v_tot)
        c3 = m3 - 3 * m1 * m2 + 2 * m1**3
        skew[m - 1] = (c3 + float(special.polygamma(2, n_prev / 2))) / v_tot**1.5
        if m > 1:  # s_m → s_{m−1}: given s_m, s_{m−1} does not depend on the layers above
            X = (rev[m] @ X.reshape(X.shape[0], -1)).reshape(-1, 4, tau.size)
    return mean, sd, skew, along
