"""Figures of training studies: the trainability phase diagram and the mitigations compared.

Both take the result objects of :mod:`vgmath.training.analysis` and write a PDF and a PNG
(:func:`vgmath.reporting.figures.save`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..core.version import __version__
from . import figures as F

__all__ = ["draw_mitigations", "draw_trainability", "mitigations_figure",
           "trainability_figure"]


def trainability_figure(tr: Any, directory: Path, stem: str = "trainability") -> tuple[Path, Path]:
    """:func:`draw_trainability` saved as ``directory/stem.pdf`` and ``.png``."""
    return F.save(draw_trainability(tr), Path(directory), stem, version=__version__)


def mitigations_figure(m: Any, directory: Path, stem: str = "mitigations",
                       depth: int | None = None) -> tuple[Path, Path]:
    """:func:`draw_mitigations` saved as ``directory/stem.pdf`` and ``.png``."""
    return F.save(draw_mitigations(m, depth), Path(directory), stem, version=__version__)


def draw_trainability(tr: Any) -> Any:
    """Final test accuracy over (σ_w², L) with the curve L = factor·ξ_c(σ_w²) on top."""
    with F.figure_context():
        fig = F.new_figure(5.0, 3.6)
        ax = fig.add_subplot(1, 1, 1)
        sw = np.asarray(tr.sigma_w2, dtype=float)
        ds = np.asarray(tr.depths, dtype=float)

        def edges(v: np.ndarray) -> np.ndarray:
            mid = (v[1:] + v[:-1]) / 2 if len(v) > 1 else np.array([])
            lo = v[0] - (mid[0] - v[0] if len(mid) else 0.5)
            hi = v[-1] + (v[-1] - mid[-1] if len(mid) else 0.5)
            return np.concatenate([[lo], mid, [hi]])

        mesh = ax.pcolormesh(edges(sw), edges(ds), tr.accuracy.T, vmin=0.0, vmax=1.0,
                             cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label="test accuracy")
        grid = np.linspace(sw.min(), sw.max(), 120)
        from ..theory.criticality import fixed_point

        xi = []
        for s in grid:
            try:
                xi.append(fixed_point(tr.activation, float(s), tr.sigma_b2).xi_c)
            except Exception:  # no fixed point: no curve there
                xi.append(math.nan)
        curve = tr.factor * np.asarray(xi, dtype=float)
        ax.plot(grid, np.clip(curve, None, ds.max() * 1.05), color="white", lw=1.5,
                label=f"$L = {tr.factor:g}\\,\\xi_c$")
        ax.set_ylim(edges(ds)[0], edges(ds)[-1])
        ax.set_xlabel(r"$\sigma_w^2$")
        ax.set_ylabel("depth $L$")
        ax.set_title(F.mpl_text(tr.activation) + f", $\\sigma_b^2 = {tr.sigma_b2:g}$: "
                     f"trainable $\\Leftrightarrow L < {tr.factor:g}\\,\\xi_c$ on "
                     f"{100 * tr.agreement:.0f}% of the cells", fontsize=9)
        ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
        fig.subplots_adjust(left=0.13, right=0.97, top=0.9, bottom=0.14)
        return fig


def draw_mitigations(m: Any, depth: int | None = None) -> Any:
    """Left: test accuracy against SGD steps at ``depth`` (the deepest by default), one
    curve per mitigation. Right: the relative weight change ‖ΔW^l‖/‖W^l_0‖ per layer at the
    end of training (early layers of the sigmoid chain barely move)."""
    j = len(m.depths) - 1 if depth is None else m.depths.index(depth)
    d = m.depths[j]
    with F.figure_context():
        fig = F.new_figure(7.0, 3.0)
        left = fig.add_subplot(1, 2, 1)
        right = fig.add_subplot(1, 2, 2)
        for i, lab in enumerate(m.labels):
            runs = m.study.runs_of(i * len(m.depths) + j)
            if not runs:
                continue
            steps = runs[0].steps
            acc = np.mean([r.metrics["test_acc"] for r in runs], axis=0)
            left.plot(steps, acc, label=lab, lw=1.2)
            rel = np.mean([r.layers["rel_change"][-1][:-1] for r in runs], axis=0)
            right.semilogy(np.arange(1, len(rel) + 1), np.maximum(rel, 1e-300), lw=1.2)
        left.axhline(m.target, color="0.5", lw=0.8, ls=":")
        left.set_xlabel("SGD step")
        left.set_ylabel("test accuracy")
        left.set_title(f"depth {d}", fontsize=9)
        left.legend(fontsize=6, loc="lower right")
        right.set_xlabel("dense layer (input side first)")
        right.set_ylabel(r"$\|\Delta W^l\| / \|W^l_0\|$")
        right.set_title("what each layer learnt", fontsize=9)
        fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.16, wspace=0.3)
        return fig
