r"""What training studies say about the theory: the trainability phase diagram and mitigations.

**Trainability** (:func:`trainability`). Schoenholz et al. 2017 (arXiv:1611.01232, §5,
Figs. 5–6) trained deep tanh networks over a grid of (σ_w², L) at σ_b² = 0.05 and found that
they train only where the depth is below a few correlation depth scales,
L ≲ 6 ξ_c, with ξ_c = −1/ln χ_c from the mean-field correlation map at the fixed point q*
(:func:`vgmath.fixed_point`): a band around the edge of chaos (σ_w² ≈ 1.76) whose width grows
as ξ_c diverges there. Here every cell is trained for a fixed budget; a cell is *trainable*
when its mean final test accuracy reaches ``threshold`` (default 0.5 on ten classes, where
chance is 0.1 — the accuracies are bimodal, so the exact threshold matters little), and it is
*predicted trainable* when L < ``factor`` · ξ_c (factor 6, the paper's). The agreement is the
fraction of cells where the two coincide.

**Mitigations** (:func:`mitigations`). The deep sigmoid/Xavier chain — the textbook
vanishing-gradient network (Glorot & Bengio 2010) — against ReLU/He, residual connections,
batch normalisation and tanh at the edge of chaos, at several depths: steps to a target test
accuracy, and per-layer relative weight change ‖ΔW^l‖/‖W^l‖ (early layers of the sigmoid chain
barely move; with the mitigations they learn like the late ones). ``early_late_ratio`` is the
mean relative change of the first quarter of the chain's dense layers over that of the last
quarter (read-out excluded) at the end of training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, NoFixedPointError
from ..network.description import Chain, Residual
from ..network.init import Init
from ..symbolic.catalog import as_activation
from ..symbolic.typeset import Typeset, escape_text, latex_number
from ..theory.criticality import critical_point, fixed_point
from .study import TrainingStudy, train_study

__all__ = ["Mitigations", "Trainability", "mitigations", "trainability"]


def _floats(name: str, values: Any, *, integer: bool = False) -> list[Any]:
    try:
        out = [int(v) if integer else float(v) for v in values]
    except (TypeError, ValueError):
        raise InvalidArgumentError(name, values, "expected a list of numbers") from None
    if not out or any(not math.isfinite(v) or v <= 0 for v in out):
        raise InvalidArgumentError(name, values, "expected a non-empty list of numbers > 0")
    return out


@dataclass
class Trainability(Typeset):
    """Accuracy over (σ_w², L) beside the mean-field prediction L < factor·ξ_c."""

    activation: str
    sigma_w2: list[float]
    depths: list[int]
    sigma_b2: float
    threshold: float
    factor: float
    xi_c: np.ndarray  # (n_sigma,)
    accuracy: np.ndarray  # (n_sigma, n_depth), mean final test accuracy
    study: TrainingStudy

    @classmethod
    def from_study(cls, study: TrainingStudy) -> Trainability:
        """The analysis of a study made by :func:`trainability` (e.g. loaded from its file)."""
        m = study.meta
        if m.get("kind") != "trainability":
            raise InvalidArgumentError("study", m.get("kind"), "not a trainability study")
        sws, ds = [float(v) for v in m["sigma_w2"]], [int(v) for v in m["depths"]]
        acc = study.final("test_acc").reshape(len(sws), len(ds))
        act = as_activation(m["activation"])
        xi = np.array([_xi_c(act, sw, m["sigma_b2"]) for sw in sws])
        return cls(act.label, sws, ds, float(m["sigma_b2"]), float(m["threshold"]),
                   float(m["factor"]), xi, acc, study)

    @property
    def trainable(self) -> np.ndarray:
        return self.accuracy >= self.threshold

    @property
    def predicted(self) -> np.ndarray:
        return np.asarray(self.depths)[None, :] < self.factor * self.xi_c[:, None]

    @property
    def agreement(self) -> float:
        """Fraction of cells where "trainable" equals "L < factor·ξ_c"."""
        return float(np.mean(self.trainable == self.predicted))

    def to_dict(self) -> dict[str, Any]:
        return {
            "activation": self.activation, "sigma_w2": self.sigma_w2, "depths": self.depths,
            "sigma_b2": self.sigma_b2, "threshold": self.threshold, "factor": self.factor,
            "xi_c": [None if not math.isfinite(v) else float(v) for v in self.xi_c],
            "accuracy": self.accuracy.tolist(), "trainable": self.trainable.tolist(),
            "predicted": self.predicted.tolist(), "agreement": self.agreement,
        }

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The grid, how many cells trained and how often L < factor·ξ_c agrees
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        n = self.trainable.size
        return [
            ("grid", (rf"\varphi = \text{{{escape_text(self.activation)}}},\ "
                      rf"{len(self.sigma_w2)} \times {len(self.depths)}\ (\sigma_w^2, L)\ "
                      rf"\text{{cells}},\ \sigma_b^2 = {latex_number(self.sigma_b2, digits)}")),
            ("trainable", (rf"{int(self.trainable.sum())}/{n}\ \text{{cells with test accuracy}}"
                           rf" \ge {latex_number(self.threshold, digits)}")),
            ("prediction", (rf"L < {latex_number(self.factor, digits)}\,\xi_c\ "
                            rf"\text{{agrees on}}\ {round(self.agreement * n)}/{n}\ "
                            r"\text{cells}")),
        ]

    def summary(self) -> str:
        n = self.trainable.size
        return (f"trainability of {self.activation} (sigma_b2={self.sigma_b2}): "
                f"{int(self.trainable.sum())}/{n} cells trainable (test accuracy >= "
                f"{self.threshold}); L < {self.factor:g} xi_c agrees on "
                f"{round(self.agreement * n)}/{n} cells ({100 * self.agreement:.0f}%)")


def _xi_c(act: Any, sw: float, sb: float) -> float:
    try:
        return float(fixed_point(act, sw, sb).xi_c)
    except NoFixedPointError:
        return 0.0


def trainability(
    sigma_w2: Sequence[float],
    depths: Sequence[int],
    *,
    activation: Any = "tanh",
    sigma_b2: float = 0.05,
    width: int = 64,
    threshold: float = 0.5,
    factor: float = 6.0,
    **study_options: Any,
) -> Trainability:
    """Train the (σ_w², L) grid and compare trainability with L < factor·ξ_c.

    ``study_options`` go to :func:`vgmath.training.train_study` (``steps``, ``lr``, ``batch``,
    ``replicas``, ``seed``, ``executor``, ``workers``, ``out``, ``progress``, ...).

    Reference: Schoenholz et al. 2017, arXiv:1611.01232, Fig. 5.
    """
    sws = _floats("sigma_w2", sigma_w2)
    ds = _floats("depths", depths, integer=True)
    act = as_activation(activation)
    if not (0 < threshold < 1):
        raise InvalidArgumentError("threshold", threshold, "must be in (0, 1)")
    chains = [Chain(act, init=Init.custom(sw), depth=d, width=width, sigma_b2=sigma_b2)
              for sw in sws for d in ds]
    labels = [f"sigma_w2={sw:g}, L={d}" for sw in sws for d in ds]
    meta = {"kind": "trainability", "activation": act.label, "sigma_w2": sws, "depths": ds,
            "sigma_b2": float(sigma_b2), "threshold": float(threshold), "factor": float(factor)}
    study = train_study(chains, labels=labels, meta=meta, **study_options)
    return Trainability.from_study(study)


#: the mitigations compared by :func:`mitigations` (label -> how the chain is built)
MITIGATIONS = ("sigmoid/xavier", "relu/he", "sigmoid/xavier + residual",
               "sigmoid/xavier + batch norm", "tanh at the edge of chaos")


@dataclass
class Mitigations(Typeset):
    """Steps to a target accuracy and per-layer learning for each mitigation and depth."""

    labels: list[str]
    depths: list[int]
    target: float
    steps_to_target: np.ndarray  # (n_labels, n_depths), median over replicas; NaN: never
    final_accuracy: np.ndarray  # (n_labels, n_depths), mean over replicas
    early_late_ratio: np.ndarray  # (n_labels, n_depths)
    study: TrainingStudy

    @classmethod
    def from_study(cls, study: TrainingStudy) -> Mitigations:
        """The analysis of a study made by :func:`mitigations` (e.g. loaded from its file)."""
        m = study.meta
        if m.get("kind") != "mitigations":
            raise InvalidArgumentError("study", m.get("kind"), "not a mitigations study")
        labs, ds, target = list(m["labels"]), [int(d) for d in m["depths"]], float(m["target"])
        n = (len(labs), len(ds))
        steps = np.full(n, np.nan)
        acc = np.full(n, np.nan)
        ratio = np.full(n, np.nan)
        for i in range(len(labs)):
            for j in range(len(ds)):
                runs = study.runs_of(i * len(ds) + j)
                hits = [r.steps_to(target) for r in runs]
                vals = [h if h is not None else math.inf for h in hits]
                med = float(np.median(vals)) if vals else math.nan
                steps[i, j] = med if math.isfinite(med) else math.nan
                acc[i, j] = float(np.mean([r.final() for r in runs]))
                ratio[i, j] = float(np.mean([early_late_ratio(r.layers["rel_change"][-1])
                                             for r in runs]))
        return cls(labs, ds, float(target), steps, acc, ratio, study)

    def to_dict(self) -> dict[str, Any]:
        def enc(a: np.ndarray) -> list[Any]:
            return [[None if not math.isfinite(v) else float(v) for v in row] for row in a]

        return {"labels": self.labels, "depths": self.depths, "target": self.target,
                "steps_to_target": enc(self.steps_to_target),
                "final_accuracy": enc(self.final_accuracy),
                "early_late_ratio": enc(self.early_late_ratio)}

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """Per mitigation, the median steps to the target test accuracy at each depth
        (∞: never reached) (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        out = [("target", (r"\text{median SGD steps to a test accuracy of at least "
                           rf"{self.target:.{digits}g} (over replicas)}}"))]
        for i, lab in enumerate(self.labels):
            cells = [(str(int(s)) if math.isfinite(s) else r"\infty") + rf"\ (L = {d})"
                     for d, s in zip(self.depths, self.steps_to_target[i], strict=True)]
            out.append((lab, rf"\text{{{escape_text(lab)}}}\colon\ " + r",\ ".join(cells)))
        return out

    def summary(self) -> str:
        head = (f"steps to {self.target:.0%} test accuracy (median; '-' never), final "
                "accuracy, early/late relative weight change:")
        lines = [head]
        for i, lab in enumerate(self.labels):
            cells = []
            for j, d in enumerate(self.depths):
                s = self.steps_to_target[i, j]
                cells.append(f"L={d}: {'-' if not math.isfinite(s) else int(s)} steps, "
                             f"acc {self.final_accuracy[i, j]:.2f}, "
                             f"early/late {self.early_late_ratio[i, j]:.2g}")
            lines.append(f"  {lab}: " + "; ".join(cells))
        return "\n".join(lines)


def _mitigation_chain(label: str, depth: int, width: int, batch: int) -> Chain:
    if label == "sigmoid/xavier":
        return Chain("sigmoid", init="xavier", depth=depth, width=width)
    if label == "relu/he":
        return Chain("relu", init="he", depth=depth, width=width)
    if label == "sigmoid/xavier + residual":
        return Chain("sigmoid", init="xavier", depth=depth, width=width,
                     residual=Residual(alpha=1, variant="pre"))
    if label == "sigmoid/xavier + batch norm":
        return Chain("sigmoid", init="xavier", depth=depth, width=width, norm="batch",
                     batch=batch)
    if label == "tanh at the edge of chaos":
        cp = critical_point("tanh", sigma_b2="1/20")
        return Chain("tanh", init=Init.custom(cp.sigma_w2), depth=depth, width=width,
                     sigma_b2="1/20")
    raise InvalidArgumentError("mitigation", label, "expected one of " + ", ".join(MITIGATIONS))


def early_late_ratio(rel_change: np.ndarray) -> float:
    """Mean relative change of the first quarter of the dense layers (read-out excluded)
    over that of the last quarter."""
    body = rel_change[:-1]
    k = max(1, len(body) // 4)
    late = float(np.mean(body[-k:]))
    return float(np.mean(body[:k])) / late if late > 0 else math.nan


def mitigations(
    depths: Sequence[int] = (10, 30, 50),
    *,
    labels: Sequence[str] = MITIGATIONS,
    width: int = 64,
    target: float = 0.8,
    batch: int = 64,
    **study_options: Any,
) -> Mitigations:
    """Train each mitigation at each depth; see the module docstring."""
    ds = _floats("depths", depths, integer=True)
    labs = [str(x) for x in labels]
    chains = [_mitigation_chain(lab, d, width, batch) for lab in labs for d in ds]
    names = [f"{lab}, L={d}" for lab in labs for d in ds]
    meta = {"kind": "mitigations", "labels": labs, "depths": ds, "target": float(target)}
    study = train_study(chains, labels=names, batch=batch, meta=meta, **study_options)
    return Mitigations.from_study(study)
