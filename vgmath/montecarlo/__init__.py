"""The Monte Carlo engine: ensembles of independent random networks, measured layer by layer.

Owns: the kernel interface (``kernel``: one architecture's forward and backward pass over a
block of networks, plus log-space statistics), the kernels (``sampler``: plain chains with the
exact conditioned Gaussian sampler; ``architectures``: residual and batch-normalised chains;
``recurrent``: RNN/LSTM/GRU), the dispatch from a description to its kernel (``kernels`` — the
one place a new architecture registers), the driver :func:`simulate` (seeded block streams,
progress, JSON/CSV), gradient clipping, batch-norm pre-activation profiles and sweeps over
grids on any executor (process pool, Dask).

May import: :mod:`vgmath.core`, :mod:`vgmath.symbolic`, :mod:`vgmath.network`,
:mod:`vgmath.theory` (sweeps record the prediction beside the measurement).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "Simulation": "simulation",
    "simulate": "simulation",
    "PreactivationProfile": "batchnorm",
    "bn_relu_gradient_rate": "batchnorm",
    "preactivation_profile": "batchnorm",
    "ClipReport": "clipping",
    "clip_grad_norm": "clipping",
    "clip_report": "clipping",
    "SerialExecutor": "executors",
    "SweepEntry": "sweep_results",
    "SweepResult": "sweep_results",
    "dask_executor": "executors",
    "sweep": "sweeps",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .batchnorm import PreactivationProfile, bn_relu_gradient_rate, preactivation_profile
    from .clipping import ClipReport, clip_grad_norm, clip_report
    from .executors import SerialExecutor, dask_executor
    from .simulation import Simulation, simulate
    from .sweep_results import SweepEntry, SweepResult
    from .sweeps import sweep
