"""When a layer can be tested: the calibrated finite-width tolerance, the resolution cap and
the heavy-tail diagnostic of :func:`vgmath.verify`.

Finite-width tolerance
----------------------
A claim is an infinite-width statement; at width n the simulated mean differs from it by the
finite-width bias, estimated to first order as B_l (:mod:`vgmath.theory.bias`), with
S_l ≥ |B_l| the sum of the absolute values of its terms (no cancellation assumed between
terms). The tolerance is an envelope of the *measured error of B*:

.. math::  r_l = S_l\\,(\\kappa_0 + \\kappa_1/n) \\quad (S_l < 1), \\qquad r_l = \\infty
           \\quad (S_l \\ge 1: \\text{the expansion has broken down}),

n the smallest width. It scales with S, not |B|: where terms cancel (Mish + He near the
output: B = 0.13, S = 0.83, measured error 0.145) a band proportional to |B| would be too
narrow. The 1/n term is the second-order remainder, relatively larger at small widths.

Calibration (``benchmarks/calibrate_width_bias.py``, data in
``tests/verification/data/width_bias_calibration.json``): every catalog activation ×
{xavier, he, lecun} at depth 20 / width 128 and depth 50 / width 32, 40 × 1000 networks
each; the pooled mean gives the measured deviation from mean field, dev_l, with standard
error se_l. Over the 1784 layers with S < 1 and a trustworthy tail (below), the largest
(|dev_l − B_l| − 3 se_l)/S_l is 0.184 at width 128 (GELU-tanh + He, layer 16) and 0.459 at
width 32 (hard-tanh + LeCun, layer 44); κ₀ = 0.1 and κ₁ = 13 put r 10% above both
(0.2016 S at n = 128, 0.506 S at n = 32). Depth and width changed together between the two
geometries, so other depths and widths are an extrapolation of this two-point fit.

Resolution cap
--------------
A layer counts as *tested* only when its tolerance plus the half-width of its confidence
interval (at the Bonferroni level alpha/m) is at most ``max_tolerance`` = 0.5 (natural-log
units): the test could then tell the truth from any claim off by more than a factor
e^{0.5} ≈ 1.65 in either direction, beyond the bias error. A wider layer is still tested
(it can be rejected) but is no evidence *for* the claim.

Heavy tails
-----------
The per-layer interval is trusted only when the upper tail of the per-network values is
light enough for the central limit theorem at T networks: the generalised-Pareto shape k̂
(:func:`vgmath.verification.stats.pareto_k`; E[Y^p] < ∞ for p < 1/k) must be at most
``TAIL_K_MAX``. Above it the mean is dominated by a handful of networks, the standard error
is itself unreliable (the sample has not seen the tail that carries the mean), and the layer
is reported untestable.

For the gradient quantities a second, forward look is needed: the backward factor of layer
m is φ′(h^m)², whose size depends on the network's own q_m whenever E[φ′(√q z)²] varies
with q (every activation but the positively homogeneous ones). If the forward q_m is
heavy-tailed (k̂ of q_m above ``TAIL_K_MAX``), rare networks that keep q large carry the
mean gradient of every layer l < m, yet a sample of T networks shows them only at the
input, not at layer l: measured for SiLU + He at depth 50, width 32 (k̂ of ‖g^36‖² ≈ 0.35,
but Hall's 95% interval covers the mean of 40 000 networks in 30% of runs). The diagnostic
of a gradient at layer l is therefore max(k̂ of Y_l, median_{m > l} k̂ of q_m) for such
activations, k̂ of Y_l for homogeneous ones (the median, not the maximum, over the later
layers: each k̂ is noisy — about ±0.15 at T = 1000 — and the maximum of hundreds of them
would flag light-tailed chains).

Window (the selection effect). A run's k̂ is low when the run has, by chance, not drawn
the rare networks that carry a heavy tail — and those are exactly the runs whose mean, and
interval, fall short. Trusting a layer whenever its own k̂ ≤ 1/2 therefore selects the
failing runs at layers whose true tail is near or beyond 1/2: measured at depth 50, width 32
(benchmarks/coverage_deep_narrow.py, 200 × 1000 networks per config), softplus + LeCun/Xavier
at layers 30–39 (median k̂ 0.50–0.66): Hall's interval covers in only 68–86% of the runs
that pass k̂ ≤ 1/2, and the config's coverage over trusted cells is 0.85–0.87. Neighbouring
layers share their networks and the true tail shape varies smoothly with depth, so the
diagnostic of layer l is the maximum of the per-layer values above over layers l − 5 … l + 5:
a layer is trusted only when its whole neighbourhood is. On the same data this raises
softplus + LeCun to 0.909 ± 0.015 and softplus + Xavier to 0.887 ± 0.022 (± = standard error
over replicates; the other configs 0.92–0.95), while costing no run of ReLU/leaky ReLU/SELU/
tanh/GELU at depth 20, width 128 a tested layer (12 runs each). A stricter threshold (0.4)
was rejected: it makes a layer of ReLU + He at depth 20, width 128 untestable in a quarter
of the runs. Figures and an independent re-measurement: benchmarks/VERIFY.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..montecarlo.tails import TAIL_K_MAX  # k̂ > 1/2: infinite variance; the window is ours
from .stats import pareto_k

__all__ = ["BIAS_ERROR_CONSTANT", "BIAS_ERROR_PER_WIDTH", "MAX_TOLERANCE", "TAIL_K_MAX",
           "TAIL_WINDOW", "bias_tolerance", "q_sensitive", "tail_shape", "window_max"]

FloatArray = NDArray[np.float64]

#: κ₀: the error of B per unit of S at infinite width (calibrated, module docstring).
BIAS_ERROR_CONSTANT = 0.1
#: κ₁: the width-dependent part of the error of B per unit of S, times n (calibrated).
BIAS_ERROR_PER_WIDTH = 13.0
#: The largest tolerance + interval half-width (natural log) at which a layer counts as
#: tested: an allowed factor of at most e^{0.5} ≈ 1.65.
MAX_TOLERANCE = 0.5
#: Half-width (in layers) of the window over which the per-layer k̂ is maximised.
TAIL_WINDOW = 5


def bias_tolerance(scale: ArrayLike, width: float) -> FloatArray:
    """r = S (κ₀ + κ₁/n) for S < 1, ∞ otherwise (NaN scales count as 0: no correction);
    ``width`` is n, the smallest width of the chain."""
    n = float(width)
    s = np.nan_to_num(np.asarray(scale, dtype=np.float64), nan=0.0)
    r = s * (BIAS_ERROR_CONSTANT + BIAS_ERROR_PER_WIDTH / n)
    return np.where(s < 1.0, r, np.inf)


def q_sensitive(act: Any) -> bool:
    """Whether E[φ′(√q z)²] depends on q (False for positively homogeneous φ: ReLU family,
    identity), checked at q = 10^-2..10^2 to a relative 1e-6."""
    from ..theory.bias import gaussian_moments

    f = [gaussian_moments(act, q)["f"] for q in (0.01, 0.1, 1.0, 10.0, 100.0)]
    return bool(max(f) - min(f) > 1e-6 * max(abs(v) for v in f))


def window_max(k: FloatArray, half: int = TAIL_WINDOW) -> FloatArray:
    """max of k over layers l − half … l + half (NaN ignored; NaN stays NaN where k is NaN:
    a constant column is not heavy-tailed)."""
    out = np.full(k.shape, np.nan)
    for l in range(k.size):
        win = k[max(0, l - half): l + half + 1]
        if np.isfinite(k[l]) and np.isfinite(win).any():
            out[l] = float(np.nanmax(win))
    return out


def tail_shape(chain: Any, samples: Any, quantity: str, *, window: bool = True) -> FloatArray:
    """Per-layer tail diagnostic (length L + 1) of ``quantity`` for the ``samples`` of a
    simulation of ``chain`` (module docstring): k̂ of the quantity itself, raised to the
    median k̂ of the forward q at later layers for gradient quantities of q-sensitive
    activations, then (``window=True``) maximised over layers l ± ``TAIL_WINDOW``. NaN where
    undefined."""
    def wmax(k: FloatArray) -> FloatArray:
        if not window:
            return k
        out = window_max(k)
        if quantity == "grad_second_moment":
            out[-1] = k[-1]  # the output gradient is N(0, I) by construction: its own k̂
        return out

    own = pareto_k(np.asarray(samples[f"ln_{quantity}"], dtype=np.float64))
    if quantity == "q" or not q_sensitive(chain.act):
        return wmax(own)
    kq = pareto_k(np.asarray(samples["ln_q"], dtype=np.float64))
    later = np.full(kq.shape, np.nan)  # median over m > l of k̂(q_m)
    for l in range(kq.size - 1):
        tail = kq[l + 1:]
        if np.isfinite(tail).any():
            later[l] = float(np.nanmedian(tail))
    return wmax(np.fmax(own, later))
