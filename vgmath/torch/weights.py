"""The initialisation read from a model's weights: per-layer empirical variance with its
standard error, the distribution (normal, uniform, truncated normal, orthogonal) and the
``torch.nn.init`` scheme it matches (see :mod:`vgmath.torch.model` for the rules and their
false-mismatch rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..network.init import Init
from ..symbolic.catalog import Activation, activation
from .backend import require_torch

#: |v̂ − v| ≤ MATCH_Z · SE decides that a layer follows a scheme (two-sided normal tail
#: 2(1 − Φ(5)) ≈ 5.7e-7 per layer for a layer that does follow it).
MATCH_Z = 5.0


def _scheme_candidates(act: Activation) -> list[tuple[str, Init]]:
    """(torch.nn.init call, the vgmath rule it draws from), most specific first."""
    gains = [("relu", sp.sqrt(2)), ("tanh", sp.Rational(5, 3)), ("selu", sp.Rational(3, 4)),
             ("linear", sp.Integer(1))]
    slope = act.params.get("slope") if act.name == "leaky_relu" else None
    out: list[tuple[str, Init]] = []
    for dist in ("normal", "uniform"):
        out.append((f"kaiming_{dist}_(nonlinearity='relu')", Init.preset("he", distribution=dist)))
        if slope is not None:
            out.append((f"kaiming_{dist}_(a={slope}, nonlinearity='leaky_relu')",
                        Init.preset("he", negative_slope=slope, distribution=dist)))
    out.append(("nn.Linear default: kaiming_uniform_(a=√5)",
                Init.preset("he", negative_slope=sp.sqrt(5), distribution="uniform")))
    for dist in ("normal", "uniform"):
        for label, g in gains:
            gtext = "" if g == 1 else f", gain=calculate_gain('{label}')"
            out.append((f"xavier_{dist}_(w{gtext})", Init.preset("xavier", gain=g,
                                                                 distribution=dist)))
        for label, g in gains[1:]:
            out.append((f"kaiming_{dist}_(nonlinearity='{label}')",
                        Init.preset("lecun", gain=g, distribution=dist)))
        out.append((f"kaiming_{dist}_(nonlinearity='relu', mode='fan_out')",
                    Init.preset("he", mode="fan_out", distribution=dist)))
    for label, g in gains:
        gtext = "" if g == 1 else f", gain=calculate_gain('{label}')"
        out.append((f"orthogonal_(w{gtext})", Init.preset("orthogonal", gain=g)))
    out.append(("trunc_normal_ (LeCun variance)", Init.preset("truncated_normal")))
    return out


@dataclass(frozen=True)
class LayerInfo:
    """One ``nn.Linear`` of the model as vgmath reads it.

    ``layer``: the index l of the description (residual chains: the block), ``role``:
    ``"hidden"``, ``"branch1"``/``"branch2"`` (residual branches) or ``"readout"``;
    ``variance`` = v̂ = ΣW²/N with ``variance_se``; ``sigma_w2`` = n_in·v̂; ``distribution``
    as recognised; ``scheme``: the torch.nn.init call it matches (None: none);
    ``expected_variance``: the description's Var(W) for this layer and ``ratio`` = v̂/that;
    ``matches``: whether v̂ agrees with the description (|v̂ − v| ≤ 5 SE); ``bias``:
    ``"none"``, ``"zero"``, ``"default"`` (U(±1/√n_in)) or ``"empirical"`` and
    ``bias_variance``.
    """

    layer: int
    role: str
    path: str
    fan_in: int
    fan_out: int
    variance: float
    variance_se: float
    kurtosis: float
    distribution: str
    scheme: str | None
    expected_variance: float
    matches: bool
    bias: str
    bias_variance: float

    @property
    def sigma_w2(self) -> float:
        return self.fan_in * self.variance

    @property
    def ratio(self) -> float:
        return self.variance / self.expected_variance

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "role": self.role, "path": self.path, "fan_in": self.fan_in,
            "fan_out": self.fan_out, "variance": self.variance, "variance_se": self.variance_se,
            "sigma_w2": self.sigma_w2, "distribution": self.distribution, "scheme": self.scheme,
            "expected_variance": self.expected_variance, "ratio": self.ratio,
            "matches": self.matches, "bias": self.bias, "bias_variance": self.bias_variance,
        }


@dataclass
class _WeightStats:
    path: str
    fan_in: int
    fan_out: int
    v: float
    se: float
    kurt: float
    dist: str
    bias: str
    bias_var: float
    bias_n: int
    bias_sumsq: float


def _weight_stats(path: str, mod: Any) -> _WeightStats:
    return _tensor_stats(path, mod.weight, mod.bias)


def _tensor_stats(path: str, weight: Any, bias: Any, *, fan_out: int | None = None,
                  bias2: Any = None) -> _WeightStats:
    """Statistics of a weight (n_out × n_in; ``fan_out`` overrides n_out for stacked gate
    blocks) and its bias (``bias2``: a second bias added to it, as b_ih + b_hh)."""
    torch = require_torch()
    with torch.no_grad():
        w = weight.detach().to(torch.float64).cpu().numpy()
    rows, n_in = w.shape
    n_out = rows if fan_out is None else fan_out
    w2 = w * w
    v = float(w2.mean())
    m4 = float((w2 * w2).mean())
    se = math.sqrt(max(m4 - v * v, 0.0) / w.size)
    kurt = m4 / (v * v) if v > 0 else math.nan
    dist = "normal"
    # orthogonal: the (shorter) columns/rows are orthonormal up to a common scale; 16 of them
    # decide it at O(16² n) (a Gaussian matrix has off-diagonal cosines of order 1/√n ≫ 1e-4)
    m = min(n_in, rows)
    vecs = (w if rows >= n_in else w.T)[:, : min(m, 16)]
    gram = vecs.T @ vecs
    c = float(np.trace(gram)) / gram.shape[0]
    if c > 0 and m > 1 and np.abs(gram / c - np.eye(gram.shape[0])).max() < 1e-4:
        dist = "orthogonal"
    elif kurt < 2.1:
        dist = "uniform"
    elif kurt < 2.7:
        dist = "truncated_normal"
    kind, bvar, bn, bss = "none", 0.0, 0, 0.0
    if bias is not None:
        b = bias.detach().to(torch.float64).cpu().numpy()
        bound = 1.0 / math.sqrt(n_in if bias2 is None else n_out)
        parts = [b] if bias2 is None else [b, bias2.detach().to(torch.float64).cpu().numpy()]
        total = sum(parts)
        bn, bss = total.size, float((total * total).sum())
        if not any(np.any(p) for p in parts):
            kind = "zero"
        elif all(np.abs(p).max() <= bound * (1 + 1e-6) and (
                p.size < 20 or (p**4).mean() / (p**2).mean() ** 2 < 2.3) for p in parts):
            kind, bvar = "default", len(parts) * bound**2 / 3.0
        else:
            kind, bvar = "empirical", bss / bn
    return _WeightStats(path, n_in, n_out, v, se, kurt, dist, kind, bvar, bn, bss)


def _matches(s: _WeightStats, rule: Init) -> bool:
    if rule.distribution != s.dist:
        return False
    v = float(rule.variance(s.fan_in, s.fan_out))
    return abs(s.v - v) <= MATCH_Z * s.se + 1e-12 * v


def _choose_rule(stats: list[_WeightStats], act: Activation) -> tuple[Init, str | None,
                                                                       list[str]]:
    """The rule matching most layers (ties: the first candidate), its label, and notes."""
    best: tuple[int, int, str, Init] | None = None
    for k, (label, rule) in enumerate(_scheme_candidates(act)):
        hits = sum(_matches(s, rule) for s in stats)
        if hits and (best is None or (hits, -k) > (best[0], best[1])):
            best = (hits, -k, label, rule)
    if best is not None and best[0] * 2 > len(stats):
        return best[3], best[2], []
    dists = [s.dist for s in stats]
    dist = max(set(dists), key=dists.count)
    if dist == "orthogonal":
        dist = "normal"
    s2 = float(np.median([s.fan_in * s.v for s in stats]))
    rule = Init.custom(f"{s2:.4g}", distribution=dist)
    return rule, None, [(f"no torch.nn.init scheme matches most layers; σ_w² = n_in·Var(W) = "
                        f"{s2:.4g} is the median over the layers ({dist} weights)")]


def _readout_info(s: _WeightStats, layer: int, act: Activation) -> LayerInfo:
    """The read-out is not part of the description: compare it with its own scheme."""
    for label, cand in _scheme_candidates(act):
        if _matches(s, cand):
            return LayerInfo(layer, "readout", s.path, s.fan_in, s.fan_out, s.v, s.se, s.kurt,
                             s.dist, label, float(cand.variance(s.fan_in, s.fan_out)), True,
                             s.bias, s.bias_var)
    return LayerInfo(layer, "readout", s.path, s.fan_in, s.fan_out, s.v, s.se, s.kurt, s.dist,
                     None, s.v, True, s.bias, s.bias_var)


def _layer_info(s: _WeightStats, layer: int, role: str, rule: Init,
                scheme: str | None) -> LayerInfo:
    expected = float(rule.variance(s.fan_in, s.fan_out))
    ok = _matches(s, rule) or (rule.name == "custom" and abs(s.v - expected)
                               <= MATCH_Z * s.se + 1e-12 * expected)
    own = None
    if not ok:
        for label, cand in _scheme_candidates(activation("relu")):
            if _matches(s, cand):
                own = label
                break
    return LayerInfo(layer, role, s.path, s.fan_in, s.fan_out, s.v, s.se, s.kurt, s.dist,
                     scheme if ok else own, expected, ok, s.bias, s.bias_var)


def _sigma_b2(stats: list[_WeightStats]) -> tuple[Any, list[str]]:
    kinds = {s.bias for s in stats}
    if kinds <= {"none", "zero"}:
        return 0, []
    if kinds == {"default"}:
        fans = [s.fan_in for s in stats]
        n = max(set(fans), key=lambda f: (fans.count(f), f))
        notes = [("biases: nn.Linear's default U(−1/√n_in, 1/√n_in), σ_b² = 1/(3 n_in); vgmath's "
                  "simulate draws N(0, σ_b²) biases (the same variance)")]
        other = [k + 1 for k, f in enumerate(fans) if f != n]
        if other:
            notes.append(f"the description has one σ_b² = 1/(3·{n}); the biases of layers "
                         f"{other} have variance 1/(3 n_in) with another n_in (measure keeps "
                         "them)")
        return sp.Rational(1, 3 * n), notes
    n = sum(s.bias_n for s in stats)
    est = sum(s.bias_sumsq for s in stats) / max(n, 1)
    return f"{est:.3g}", [(f"σ_b² = {est:.3g} estimated from the {n} bias entries "
                          f"(relative standard error ≈ {math.sqrt(2 / max(n, 1)):.1%} for "
                          "Gaussian biases)")]
