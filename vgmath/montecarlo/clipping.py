"""Gradient clipping by global norm, on explicit gradients and on simulated ensembles.

The transform (Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063, Algorithm 1; the rule of
``torch.nn.utils.clip_grad_norm_``) rescales the whole parameter gradient of one network,

.. math::  g \\leftarrow g \\cdot \\min\\Big(1, \\frac{c}{\\lVert g\\rVert}\\Big),
           \\qquad \\lVert g\\rVert^2 = \\sum_{\\text{parameters}} \\lVert g_\\theta\\rVert^2 ,

so every clipped norm is at most c and the direction of g is unchanged (all parameters are
scaled by the same factor). PyTorch computes the factor as c/(‖g‖ + 1e-6); the rule here is
the exact one (it differs from PyTorch's by a relative 1e-6/‖g‖).

:func:`clip_grad_norm` applies it to a list of arrays. ``vg.simulate(..., clip_norm=c)``
applies it to every simulated network: from the per-network parameter-gradient norm ‖g‖
(``samples["ln_param_grad_norm"]``) it adds

* ``samples["clip_factor"]`` = min(1, c/‖g‖) and ``samples["ln_clipped_param_grad_norm"]``;
* the per-layer field ``clipped_grad_weight_second_moment`` (ensemble mean of the clipped
  (∂E/∂W^l_ij)², with ``_se``) — what a clipped SGD step would use.

:func:`clip_report` summarises the clipped against the unclipped distribution of the update
norm (η = 1: the update is the gradient itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..core.deprecation import renamed_alias, warn_renamed
from ..core.errors import InvalidArgumentError
from ..symbolic.parse import to_sympy_number
from ..symbolic.typeset import Typeset, latex_number

__all__ = [
    "ClipReport",
    "as_clip_norm",
    "clip_grad_norm",
    "clip_report",
    "clip_simulation",
    "ln_param_grad_norm",
    "log_param_grad_norm",
]

FloatArray = np.ndarray

#: Quantiles of the update norm reported by :func:`clip_report`.
REPORT_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def as_clip_norm(value: Any) -> float:
    """Validate a clipping threshold c > 0 (finite)."""
    c = to_sympy_number("clip_norm", value)
    if not (c.is_positive and c.is_finite):
        raise InvalidArgumentError("clip_norm", value, "must be a finite number > 0")
    return float(c)


def clip_grad_norm(grads: Sequence[Any], clip_norm: Any) -> tuple[list[FloatArray], float]:
    """Clip a list of gradient arrays by their global L2 norm.

    Returns ``(clipped, total_norm)``: new arrays g·min(1, c/‖g‖) (the inputs are not
    modified) and the norm before clipping. ``‖g‖ = 0`` leaves the zeros unchanged.

    >>> clipped, norm = clip_grad_norm([np.array([3.0]), np.array([4.0])], 1)
    >>> norm, [round(float(a[0]), 12) for a in clipped]
    (5.0, [0.6, 0.8])
    """
    c = as_clip_norm(clip_norm)
    arrays = [np.asarray(g, dtype=np.float64) for g in grads]
    if not arrays:
        raise InvalidArgumentError("grads", grads, "expected at least one gradient array")
    total = math.sqrt(sum(float(np.vdot(a, a)) for a in arrays))
    if not math.isfinite(total):
        raise InvalidArgumentError("grads", "non-finite", "the gradient norm is not finite")
    factor = 1.0 if total <= c else c / total
    return [a * factor for a in arrays], total


def ln_param_grad_norm(sim: Any) -> FloatArray:
    """ln ‖∂E/∂θ‖ per network of a simulation.

    Kernels that know their parameters return it (residual, batch-normalised, recurrent).
    For a plain chain it follows from the per-layer samples: ∂E/∂W^l = δ^l x^{l-1}ᵀ and
    ∂E/∂b^l = δ^l, so ‖∂E/∂θ‖² = Σ_l n_l n_{l-1} · grad_weight_sample[l] + n_l ·
    grad_preact_sample[l] (biases count as parameters even when initialised at 0).
    """
    if "ln_param_grad_norm" in sim.samples:
        return np.asarray(sim.samples["ln_param_grad_norm"], dtype=np.float64)
    ws = sim.chain.widths
    lw = sim.samples["ln_grad_weight_second_moment"][:, 1:]
    ld = sim.samples["ln_grad_preact_second_moment"][:, 1:]
    n_out = np.array(ws[1:], dtype=np.float64)
    n_in = np.array(ws[:-1], dtype=np.float64)
    terms = np.concatenate([lw + np.log(n_out * n_in), ld + np.log(n_out)], axis=1)
    top = terms.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return 0.5 * (safe + np.log(np.exp(terms - safe[:, None]).sum(axis=1)))


def log_param_grad_norm(sim: Any) -> FloatArray:
    """Deprecated name of :func:`ln_param_grad_norm` (same values)."""
    warn_renamed("log_param_grad_norm", "ln_param_grad_norm")
    return ln_param_grad_norm(sim)


def clip_simulation(sim: Any, clip_norm: Any) -> Any:
    """A copy of ``sim`` with the clipped fields and samples described in the module
    docstring (``metadata()["clip_norm"]`` records c)."""
    from .kernel import _log_mean

    c = as_clip_norm(clip_norm)
    log_norm = ln_param_grad_norm(sim)
    log_factor = np.minimum(0.0, math.log(c) - log_norm)
    log_factor = np.where(np.isneginf(log_norm), 0.0, log_factor)
    lw = np.asarray(sim.samples["ln_grad_weight_second_moment"], dtype=np.float64)
    clipped = lw + 2.0 * log_factor[:, None]
    clipped[:, 0] = np.nan
    mean, se, log_mean, log_se = _log_mean(np.where(np.isnan(clipped), -np.inf, clipped))
    mean[0] = se[0] = log_mean[0] = log_se[0] = np.nan
    fields = dict(sim.fields)
    name = "clipped_grad_weight_second_moment"
    ln10 = math.log(10.0)
    for key, arr in ((name, mean), (f"{name}_se", se), (f"log10_{name}", log_mean / ln10),
                     (f"log10_{name}_se", log_se / ln10)):
        arr = np.array(arr, dtype=np.float64)
        arr.flags.writeable = False
        fields[key] = arr
    extra = {
        "ln_param_grad_norm": log_norm,
        "clip_factor": np.exp(log_factor),
        "ln_clipped_param_grad_norm": log_norm + log_factor,
        "ln_clipped_grad_weight_second_moment": clipped,
    }
    samples = sim.samples.with_extra(extra)
    setup = dict(getattr(sim, "setup", {}) or {})
    setup["clip_norm"] = c
    setup["clipping"] = "g <- g * min(1, clip_norm / ||g||), g = all parameter gradients"
    return replace(sim, fields=fields, samples=samples, setup=setup)


@dataclass(frozen=True)
class ClipReport(Typeset):
    """Clipped against unclipped update norms (η = 1) over the simulated networks.

    ``quantiles`` are the probabilities of ``unclipped``/``clipped`` (the empirical
    quantiles of ‖g‖ and of ‖clip(g)‖); ``fraction_clipped`` is the share of networks with
    ‖g‖ > c (± its binomial standard error); ``max_clipped`` the largest clipped norm (≤ c).
    """

    clip_norm: float
    trials: int
    quantiles: tuple[float, ...]
    unclipped: tuple[float, ...]
    clipped: tuple[float, ...]
    fraction_clipped: float
    fraction_clipped_se: float
    mean_ln_norm: float
    mean_ln_clipped_norm: float
    max_clipped: float

    #: deprecated aliases: logarithms are named by their base (``ln_`` / ``log10_``)
    mean_log_norm = renamed_alias("mean_ln_norm", "mean_log_norm")
    mean_log_clipped_norm = renamed_alias("mean_ln_clipped_norm", "mean_log_clipped_norm")

    def to_dict(self) -> dict[str, Any]:
        return {
            "clip_norm": self.clip_norm,
            "trials": self.trials,
            "quantiles": list(self.quantiles),
            "unclipped": [_finite(v) for v in self.unclipped],
            "clipped": [_finite(v) for v in self.clipped],
            "fraction_clipped": self.fraction_clipped,
            "fraction_clipped_se": self.fraction_clipped_se,
            "mean_ln_norm": _finite(self.mean_ln_norm),
            "mean_ln_clipped_norm": _finite(self.mean_ln_clipped_norm),
            "max_clipped": _finite(self.max_clipped),
        }

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The clipping threshold and the share of networks clipped, the medians and mean
        natural logs of ‖g‖ and ‖clip(g)‖, and the largest clipped norm
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        def num(v: float) -> str:
            return latex_number(v, digits)

        share = latex_number(100 * self.fraction_clipped, digits) + r"\%"
        if math.isfinite(self.fraction_clipped_se):
            share += r" \pm " + latex_number(100 * self.fraction_clipped_se, 2) + r"\%"
        clip = r"\lVert\operatorname{clip}(g)\rVert"
        out = [("clipping", (rf"c = {num(self.clip_norm)}:\ {share}\ \text{{of }} "
                             rf"T = {self.trials}\ \text{{networks clipped}}"))]
        if 0.5 in self.quantiles:
            i = self.quantiles.index(0.5)
            out.append(("median norm", r"\operatorname{median}\lVert g\rVert = "
                                       + num(self.unclipped[i])))
            out.append(("median clipped norm", rf"\operatorname{{median}}{clip} = "
                                               + num(self.clipped[i])))
        out.append(("mean natural log", r"\overline{\ln\lVert g\rVert} = "
                                        + num(self.mean_ln_norm)))
        out.append(("mean natural log, clipped", rf"\overline{{\ln{clip}}} = "
                                                 + num(self.mean_ln_clipped_norm)))
        out.append(("largest clipped norm", rf"\max{clip} = {num(self.max_clipped)} \le c"))
        return out

    def table(self) -> str:
        head = f"{'quantile':>9} {'||g||':>12} {'||clip(g)||':>12}"
        lines = [(f"gradient clipping by norm, c = {self.clip_norm:g} "
                  f"({self.fraction_clipped:.1%} ± {self.fraction_clipped_se:.1%} of "
                  f"{self.trials} networks clipped)"), head]
        for p, a, b in zip(self.quantiles, self.unclipped, self.clipped, strict=True):
            lines.append(f"{p:>9g} {a:>12.4g} {b:>12.4g}")
        return "\n".join(lines) + "\n"


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def clip_report(sim: Any, clip_norm: Any = None) -> ClipReport:
    """Summarise clipping of a simulation (``clip_norm`` defaults to the one it was
    simulated with)."""
    if clip_norm is None:
        setup = getattr(sim, "setup", {}) or {}
        if "clip_norm" not in setup:
            raise InvalidArgumentError("clip_norm", None, "give clip_norm or simulate with it")
        clip_norm = setup["clip_norm"]
    c = as_clip_norm(clip_norm)
    log_norm = ln_param_grad_norm(sim)
    log_clipped = np.minimum(log_norm, math.log(c))
    T = log_norm.size
    with np.errstate(under="ignore", over="ignore"):
        norm, clipped = np.exp(log_norm), np.exp(log_clipped)
    frac = float(np.mean(log_norm > math.log(c)))
    return ClipReport(
        clip_norm=c,
        trials=T,
        quantiles=REPORT_QUANTILES,
        unclipped=tuple(float(v) for v in np.quantile(norm, REPORT_QUANTILES)),
        clipped=tuple(float(v) for v in np.quantile(clipped, REPORT_QUANTILES)),
        fraction_clipped=frac,
        fraction_clipped_se=math.sqrt(frac * (1 - frac) / T) if T > 1 else math.nan,
        mean_ln_norm=float(np.mean(log_norm)),
        mean_ln_clipped_norm=float(np.mean(log_clipped)),
        max_clipped=float(clipped.max()),
    )

