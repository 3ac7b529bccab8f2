"""Batch normalisation: where it keeps pre-activations, and the gradient explosion it causes.

Two views of a batch-normalised :class:`vgmath.Chain` (``norm="batch"``, kernel in
:mod:`vgmath.montecarlo.architectures`):

* :func:`preactivation_profile` — per layer, percentiles of |ĥ| (the argument of φ) and the
  fraction of units in φ's certified saturation region {x : |φ′(x)| < ε}
  (:meth:`vgmath.Activation.saturation_region`), for a chain with or without normalisation.
  Batch normalisation pins every unit to mean 0 and variance 1 over the batch, so a
  sigmoid or tanh chain whose plain pre-activations drift into saturation stays where
  φ′ is large.
* :func:`bn_relu_gradient_rate` — the per-layer growth factor λ of the gradient second
  moment, E[(g^{l-1})²] = λ E[(g^l)²], of a deep BN + ReLU chain at initialisation.

Yang, Pennington, Rao, Sohl-Dickstein & Schoenholz 2019 ("A mean field theory of batch
normalization", ICLR, arXiv:1902.08129) show that gradients of batch-normalised chains explode
exponentially with depth at initialisation, whatever the weight variance and the
activation; for ReLU the rate tends to π/(π − 1) ≈ 1.467 as the batch grows. That limit
also follows from the large-batch argument below.

The finite-batch rate (infinite width, gradient independence)
-------------------------------------------------------------
Derived here (and verified against the simulation in tests/test_batchnorm.py). At the
permutation-symmetric fixed point of the batch covariance, one unit's pre-activations over
the batch, y ∈ ℝ^B, have a centred part Py (P = I − 11ᵀ/B) that is isotropic Gaussian in
the (B − 1)-dimensional centred subspace; so ẑ = Py/‖Py‖ is uniform on its unit sphere,
independent of ‖Py‖² ~ σ_w² κ χ²_{B−1}, and the normalised pre-activation is z = √B ẑ.
The exact BN Jacobian is (√B/‖Py‖)(P − ẑẑᵀ), so with D = diag(1[z > 0]) and a centred
isotropic incoming gradient,

.. math::  \\lambda(B) = \\frac{\\mathbb E[m(1 - 2/B) + m^2/B^2 - A]}{(B - 3)\\,\\mathbb E[A]},
           \\qquad m = \\#\\{b : z_b > 0\\},\\quad
           A = \\sum_{z_b>0} \\hat z_b^2 - \\tfrac1B \\Big(\\sum_{z_b>0} \\hat z_b\\Big)^2,

using E[1/χ²_{B−1}] = 1/(B − 3). Every expectation is elementary: the coordinates of Py have
variance (B − 1)/B and correlation ρ = −1/(B − 1), so E[m] = B/2,
E[m²] = B/2 + B(B − 1)(1/4 + arcsin ρ/(2π)), and E[A] = 1/2 − E[(Σ relu(Py)_b)²]/(B(B − 1))
with the arc-cosine kernel E[relu(u) relu(v)] = (√(1 − ρ²) + (π − arccos ρ) ρ)/(2π) for
unit-variance u, v of correlation ρ (Cho & Saul 2009). λ(B) decreases to π/(π − 1) as
B → ∞ (λ(32) ≈ 1.522, λ(128) ≈ 1.480); it exists for B ≥ 4 (for B ≤ 3, E[1/σ²] diverges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from .architectures import ARG_QUANTILES, BatchKernel, region_intervals

__all__ = [
    "PreactivationProfile",
    "bn_relu_gradient_rate",
    "bn_relu_gradient_rate_limit",
    "preactivation_profile",
    "rate_expression",
]

FloatArray = np.ndarray


def bn_relu_gradient_rate_limit() -> sp.Expr:
    """π/(π − 1): the B → ∞ limit of :func:`bn_relu_gradient_rate` (Yang et al. 2019)."""
    return sp.pi / (sp.pi - 1)


def bn_relu_gradient_rate(batch: Any = None) -> sp.Expr:
    """Per-layer growth factor λ(B) of E[(g^l)²] in a deep BN + ReLU chain (exact SymPy).

    Infinite width, gradient-independence assumption; ``batch=None`` gives the B → ∞ limit
    π/(π − 1). See the module docstring for the derivation.

    >>> import vgmath as vg
    >>> vg.bn_relu_gradient_rate()
    pi/(-1 + pi)
    >>> round(float(vg.bn_relu_gradient_rate(32)), 4)
    1.522
    """
    if batch is None:
        return bn_relu_gradient_rate_limit()
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 4:
        raise InvalidArgumentError(
            "batch", batch, "needs an integer batch >= 4 (for B <= 3 E[1/σ²] diverges)"
        )
    return rate_expression(sp.Integer(int(batch)))


def rate_expression(B: sp.Expr) -> sp.Expr:
    """λ(B) of :func:`bn_relu_gradient_rate` as a SymPy expression in B (a number or a
    positive symbol; ``sympy.limit(rate_expression(B), B, oo)`` is π/(π − 1))."""
    rho = -1 / (B - 1)
    em = B / 2
    em2 = B / 2 + B * (B - 1) * (sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi))
    s2 = (B - 1) / B
    kernel = (sp.sqrt(1 - rho**2) + (sp.pi - sp.acos(rho)) * rho) / (2 * sp.pi)
    relu_sum2 = B * s2 / 2 + B * (B - 1) * s2 * kernel
    ea = sp.Rational(1, 2) - relu_sum2 / (B * (B - 1))
    etr = em * (1 - 2 / B) + em2 / B**2 - ea
    return etr / (ea * (B - 3))


@dataclass(frozen=True, eq=False)
class PreactivationProfile:
    """Per-layer distribution of |ĥ^l| (the argument of φ) over an ensemble of networks.

    ``quantiles[p]`` (p in 10, 50, 90, 99) is the ensemble mean of each network's p-th
    percentile of |ĥ^l| over units and inputs, with ``quantiles_se[p]``;
    ``saturated_fraction`` the mean fraction of units in the saturation region
    {x : |φ′(x)| < eps} (``region``, certified), with ``saturated_fraction_se``;
    ``norm_q`` the mean of ‖ĥ^l‖²/(n B). Arrays have length L + 1 (NaN at layer 0).
    """

    chain: Chain
    batch: int
    normalised: bool
    eps: sp.Expr
    region: sp.Set
    trials: int
    seed: int
    quantiles: dict[int, FloatArray]
    quantiles_se: dict[int, FloatArray]
    saturated_fraction: FloatArray
    saturated_fraction_se: FloatArray
    norm_q: FloatArray
    norm_q_se: FloatArray

    def to_dict(self) -> dict[str, Any]:
        def fl(a: FloatArray) -> list[float | None]:
            return [float(v) if math.isfinite(v) else None for v in a]

        return {
            "kind": "preactivation_profile",
            "chain": self.chain.to_dict(),
            "batch": self.batch,
            "normalised": self.normalised,
            "eps": str(self.eps),
            "saturation_region": str(self.region),
            "trials": self.trials,
            "seed": self.seed,
            "quantiles": {str(p): fl(v) for p, v in self.quantiles.items()},
            "quantiles_se": {str(p): fl(v) for p, v in self.quantiles_se.items()},
            "saturated_fraction": fl(self.saturated_fraction),
            "saturated_fraction_se": fl(self.saturated_fraction_se),
            "norm_q": fl(self.norm_q),
        }

    def table(self) -> str:
        head = (f"{'layer':>6} " + " ".join(f"{'|h| q' + str(p):>10}" for p in ARG_QUANTILES)
                + f" {'saturated':>10} {'± se':>8}")
        lines = [
            (f"{self.chain}: |argument of φ| per layer, {self.trials} networks x {self.batch} "
             f"input(s), {'batch-normalised' if self.normalised else 'not normalised'}"),
            f"saturation region {{x : |φ′(x)| < {self.eps}}} = {self.region}",
            head,
        ]
        for l in range(1, self.chain.depth + 1):
            qs = " ".join(f"{self.quantiles[p][l]:>10.4g}" for p in ARG_QUANTILES)
            lines.append(f"{l:>6} {qs} {self.saturated_fraction[l]:>10.4g} "
                         f"{self.saturated_fraction_se[l]:>8.2g}")
        return "\n".join(lines) + "\n"


def preactivation_profile(
    chain: Chain,
    *,
    eps: Any = "1/100",
    trials: int = 100,
    seed: int = 0,
    batch: int | None = None,
    method: str = "auto",
    dtype: Any = np.float64,
) -> PreactivationProfile:
    """Percentiles of |ĥ^l| and the saturated fraction per layer (see the class).

    A batch-normalised chain uses its own batch; a plain chain pushes ``batch`` inputs
    (default 1) through each network without normalisation, so that
    ``preactivation_profile(chain, batch=B)`` and
    ``preactivation_profile(chain.replace(norm="batch", batch=B))`` compare the same
    inputs with and without batch normalisation. Networks are seeded as in
    :func:`vgmath.simulate` (block k from ``SeedSequence(seed, spawn_key=(k,))``).
    """
    from .simulation import (
        _block_rng,
        _block_sizes,
        _int_arg,
        _resolve_dtype,
        default_block_size,
        resolve_method,
    )

    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    if chain.norm == "batch":
        if batch is not None and batch != chain.batch:
            raise InvalidArgumentError("batch", batch, f"the chain's batch is {chain.batch}")
        K = int(chain.batch)  # type: ignore[arg-type]
    else:
        K = 1 if batch is None else _int_arg("batch", batch, minimum=1)
    n_trials = _int_arg("trials", trials, minimum=2)
    seed_value = _int_arg("seed", seed, minimum=0)
    region = chain.act.saturation_region(eps)
    kernel = BatchKernel(
        chain,
        method=resolve_method(chain, method),
        dtype=_resolve_dtype(dtype),
        batch=K,
        normalise=chain.norm == "batch",
        saturation=region_intervals(region.region),
    )
    sizes = _block_sizes(n_trials, default_block_size(kernel))
    parts = [kernel.run(_block_rng(seed_value, k), size) for k, size in enumerate(sizes)]

    def stat(name: str) -> tuple[FloatArray, FloatArray]:
        vals = np.concatenate([p[name] for p in parts], axis=0)
        with np.errstate(invalid="ignore"):
            return vals.mean(axis=0), vals.std(axis=0, ddof=1) / math.sqrt(n_trials)

    quantiles, quantiles_se = {}, {}
    for p in ARG_QUANTILES:
        quantiles[p], quantiles_se[p] = stat(f"abs_arg_q{p}")
    sat, sat_se = stat("saturated_fraction")
    nq, nq_se = stat("norm_q")
    return PreactivationProfile(
        chain=chain,
        batch=K,
        normalised=chain.norm == "batch",
        eps=region.eps,
        region=region.region,
        trials=n_trials,
        seed=seed_value,
        quantiles=quantiles,
        quantiles_se=quantiles_se,
        saturated_fraction=sat,
        saturated_fraction_se=sat_se,
        norm_q=nq,
        norm_q_se=nq_se,
    )
