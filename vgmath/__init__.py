"""vgmath — explain, predict and verify the vanishing (and exploding) gradient problem.

Three engines over one description of a network:

=====================================  ===================================================
what you ask                           what you call
=====================================  ===================================================
an activation and its derivatives      ``vg.activation("sigmoid")``, ``.derivative``
a certified bound on φ′                ``act.derivative_bound()`` → sup 1/4 at 0, exact
where a unit saturates                 ``act.saturation_region(0.01)``
the (1/4)^L chain bound                ``act.chain_bound(eps=1e-3)``
an initialisation rule                 ``vg.init_variance("xavier")`` → 2/(n_in + n_out)
a Gaussian expectation E[f(√q z)]       ``vg.gaussian_expectation(act.derivative**2, q)``
a network description                  ``vg.Chain(activation="tanh", init="xavier", ...)``
theory through depth                   ``vg.predict(chain)``
the edge of chaos                      ``vg.critical_point("tanh", sigma_b2=0.05)``
Monte Carlo through depth              ``vg.simulate(chain, trials=200, seed=0)``
a grid of networks, on any executor    ``vg.sweep(grid, trials=200, seed=0)``
theory against simulation              ``vg.verify(chain)``
=====================================  ===================================================

>>> import vgmath as vg
>>> vg.activation("sigmoid").derivative_bound().sup
1/4

Submodules are imported on first use, so ``import vgmath`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "VgmathError": "_errors",
    "InvalidArgumentError": "_errors",
    "UnknownActivationError": "_errors",
    "ExpressionError": "_errors",
    "NoFixedPointError": "_errors",
    "NumericalError": "_errors",
    # symbols
    "x": "_symbols",
    "q": "_symbols",
    "depth_symbol": "_symbols",
    "layer_symbol": "_symbols",
    "fan_in": "_symbols",
    "fan_out": "_symbols",
    # activations
    "Activation": "_activation",
    "activation": "_activation",
    "activations": "_activation",
    # bounds
    "DerivativeBound": "_bounds",
    "SaturationRegion": "_bounds",
    "ChainBound": "_bounds",
    # initialisation
    "Init": "_init",
    "init_variance": "_init",
    # networks
    "Chain": "_network",
    "Residual": "_network",
    "Recurrent": "_network",
    # Gaussian expectations
    "gaussian_expectation": "_gaussian",
    "GaussianResult": "_gaussian",
    "gaussian_series": "_gaussian",
    # theory
    "predict": "_theory",
    "Prediction": "_theory",
    "critical_point": "_theory",
    "CriticalPoint": "_theory",
    "ExactProfile": "_theory",
    "fixed_point": "_criticality",
    "FixedPoint": "_criticality",
    "critical_line": "_criticality",
    "gain_table": "_criticality",
    "GainRow": "_criticality",
    "finite_width_moment_ratio": "_finite_width",
    "finite_width_formula": "_finite_width",
    # Monte Carlo
    "simulate": "_simulate",
    "Simulation": "_simulate",
    # architectures: batch norm, recurrent networks, gradient clipping
    "preactivation_profile": "_batchnorm",
    "PreactivationProfile": "_batchnorm",
    "bn_relu_gradient_rate": "_batchnorm",
    "clip_grad_norm": "_clipping",
    "clip_report": "_clipping",
    "ClipReport": "_clipping",
    # sweeps
    "sweep": "_sweep",
    "SweepResult": "_sweep",
    "SweepEntry": "_sweep",
    "SweepError": "_errors",
    "SerialExecutor": "_sweep",
    "dask_executor": "_sweep",
    "OptionalDependencyError": "_errors",
    # verification
    "verify": "_verify",
    "Verification": "_verify",
    "verify_bound": "_verify",
    "BoundVerification": "_verify",
    "verify_gradient_bound": "_verify",
    "GradientBoundVerification": "_verify",
    # reports
    "report": "_report",
    "Report": "_report",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vgmath' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from ._activation import Activation, activation, activations
    from ._batchnorm import PreactivationProfile, bn_relu_gradient_rate, preactivation_profile
    from ._bounds import ChainBound, DerivativeBound, SaturationRegion
    from ._clipping import ClipReport, clip_grad_norm, clip_report
    from ._criticality import FixedPoint, GainRow, critical_line, fixed_point, gain_table
    from ._errors import (
        ExpressionError,
        InvalidArgumentError,
        NoFixedPointError,
        NumericalError,
        OptionalDependencyError,
        SweepError,
        UnknownActivationError,
        VgmathError,
    )
    from ._finite_width import finite_width_formula, finite_width_moment_ratio
    from ._gaussian import GaussianResult, gaussian_expectation, gaussian_series
    from ._init import Init, init_variance
    from ._network import Chain, Recurrent, Residual
    from ._report import Report, report
    from ._simulate import Simulation, simulate
    from ._sweep import (
        SerialExecutor,
        SweepEntry,
        SweepResult,
        dask_executor,
        sweep,
    )
    from ._symbols import depth_symbol, fan_in, fan_out, layer_symbol, q, x
    from ._theory import CriticalPoint, ExactProfile, Prediction, critical_point, predict
    from ._verify import (
        BoundVerification,
        GradientBoundVerification,
        Verification,
        verify,
        verify_bound,
        verify_gradient_bound,
    )
