"""Training studies: does a predicted vanishing gradient stop a network from learning?

Owns: data sets that ship with a package (``data``: scikit-learn's digits, or a local MNIST
file), a NumPy network built from a vgmath description and trained with plain SGD (``mlp``),
ensembles of such runs over a grid with per-layer logging, resumable and seeded (``study``:
:func:`train_study`), and the analyses that tie them to the theory (``analysis``: the
trainability phase diagram against 6ξ_c, mitigations compared).

May import: core, symbolic, network, theory, montecarlo (executors and grids) and
verification. Read by the report (its training section) and the CLI (``vgmath train-study``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "load_dataset": "data",
    "Dataset": "data",
    "MLP": "mlp",
    "train_study": "study",
    "TrainingStudy": "study",
    "Run": "study",
    "trainability": "analysis",
    "Trainability": "analysis",
    "mitigations": "analysis",
    "Mitigations": "analysis",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .analysis import Mitigations, Trainability, mitigations, trainability
    from .data import Dataset, load_dataset
    from .mlp import MLP
    from .study import Run, TrainingStudy, train_study
