"""Shared builders and the agreement check of the PyTorch adapter's tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

import vgmath as vg

INITS: dict[str, Callable[[torch.Tensor], object]] = {
    "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "xavier": nn.init.xavier_normal_,
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_tanh": lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh")),
    "lecun": lambda w: nn.init.kaiming_normal_(w, nonlinearity="linear"),
    "orthogonal": nn.init.orthogonal_,
    "default": lambda w: None,
}


def mlp(act: Callable[[], nn.Module], init: str, *, depth: int = 8, width: int = 128,
        n0: int | None = None, bias: bool = False, readout: int | None = 10,
        scale_layer: int | None = None, scale: float = 1.2) -> nn.Sequential:
    """Linear → φ, ``depth`` times (input width ``n0``), optional read-out; layer
    ``scale_layer`` (1-based) has its weights multiplied by ``scale`` after the init."""
    layers: list[nn.Module] = []
    widths = [n0 or width, *([width] * depth)]
    for l in range(depth):
        lin = nn.Linear(widths[l], widths[l + 1], bias=bias)
        INITS[init](lin.weight)
        if bias and init != "default":
            nn.init.zeros_(lin.bias)
        if scale_layer == l + 1:
            with torch.no_grad():
                lin.weight.mul_(scale)
        layers += [lin, act()]
    if readout:
        layers.append(nn.Linear(width, readout))
    return nn.Sequential(*layers)


def z_threshold(alpha: float, comparisons: int) -> float:
    """Two-sided normal quantile with a Bonferroni split of ``alpha`` over comparisons."""
    return float(norm.ppf(1 - alpha / (2 * comparisons)))


def assert_agree(a: vg.Simulation, b: vg.Simulation, fields: Sequence[str], *,
                 alpha: float = 1e-3) -> None:
    """Every ensemble mean of ``a`` agrees with ``b`` at every layer: |ln ā − ln b̄| within
    z·√(se_a² + se_b²) (the delta-method standard errors of the log means), z from a
    family-wise false-alarm rate ``alpha`` split over all (field, layer) comparisons."""
    comps = []
    for f in fields:
        la = np.asarray(a.fields[f"log10_{f}"]) * math.log(10)
        lb = np.asarray(b.fields[f"log10_{f}"]) * math.log(10)
        sa = np.asarray(a.fields[f"log10_{f}_se"]) * math.log(10)
        sb = np.asarray(b.fields[f"log10_{f}_se"]) * math.log(10)
        for l in range(len(la)):
            if (np.isnan(la[l]) and np.isnan(lb[l])) or la[l] == lb[l]:
                continue  # absent at this layer in both, or equal (e.g. both ln 0 = -inf)
            se = math.hypot(sa[l], sb[l])
            comps.append((f, l, la[l] - lb[l], se))
    z = z_threshold(alpha, len(comps))
    bad = [(f, l, round(d, 4), round(se, 4)) for f, l, d, se in comps
           if not (abs(d) <= z * se or (se == 0 and abs(d) < 1e-9))]
    assert not bad, f"z = {z:.2f}; (field, layer, ln ratio, se): {bad}"
