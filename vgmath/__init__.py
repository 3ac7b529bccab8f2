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
the same with σ_w², n, L as symbols    ``vg.predict(vg.Chain(..., depth=L, width=n))``
the mean-field maps as SymPy Lambdas   ``vg.variance_map(act, s)``, ``vg.chi_map``
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

from typing import TYPE_CHECKING

from .core.lazy import lazy_exports
from .core.version import __version__

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "VgmathError": "core.errors",
    "InvalidArgumentError": "core.errors",
    "UnknownActivationError": "core.errors",
    "ExpressionError": "core.errors",
    "NoFixedPointError": "core.errors",
    "NumericalError": "core.errors",
    "EffortLimitError": "core.errors",
    "ResourceLimitError": "core.errors",
    "effort_limit": "core.effort",
    # symbols
    "x": "symbolic.symbols",
    "q": "symbolic.symbols",
    "depth_symbol": "symbolic.symbols",
    "layer_symbol": "symbolic.symbols",
    "fan_in": "symbolic.symbols",
    "fan_out": "symbolic.symbols",
    # activations
    "Activation": "symbolic.catalog",
    "activation": "symbolic.catalog",
    "activations": "symbolic.specs",
    # bounds
    "DerivativeBound": "symbolic.bounds",
    "SaturationRegion": "symbolic.bounds",
    "ChainBound": "symbolic.bounds",
    # initialisation
    "Init": "network.init",
    "init_variance": "network.init",
    # networks
    "Chain": "network.description",
    "Residual": "network.description",
    "Recurrent": "network.description",
    # Gaussian expectations
    "gaussian_expectation": "theory.gaussian",
    "GaussianResult": "theory.gaussian",
    "gaussian_series": "theory.gaussian",
    # theory
    "predict": "theory.prediction",
    "SymbolicPrediction": "theory.symbolic_profile",
    "variance_map": "theory.maps",
    "chi_map": "theory.maps",
    "correlation_map": "theory.maps",
    "Prediction": "theory.profile",
    "critical_point": "theory.criticality",
    "CriticalPoint": "theory.criticality",
    "ExactProfile": "theory.profile",
    "PrecisionLimits": "theory.precision",
    "fixed_point": "theory.criticality",
    "FixedPoint": "theory.criticality",
    "critical_line": "theory.criticality",
    "gain_table": "theory.gains",
    "GainRow": "theory.gains",
    "finite_width_moment_ratio": "theory.finite_width",
    "finite_width_formula": "theory.finite_width",
    # Monte Carlo
    "simulate": "montecarlo.simulation",
    "Simulation": "montecarlo.simulation",
    # architectures: batch norm, recurrent networks, gradient clipping
    "preactivation_profile": "montecarlo.batchnorm",
    "PreactivationProfile": "montecarlo.batchnorm",
    "bn_relu_gradient_rate": "montecarlo.batchnorm",
    "clip_grad_norm": "montecarlo.clipping",
    "clip_report": "montecarlo.clipping",
    "ClipReport": "montecarlo.clipping",
    # sweeps
    "sweep": "montecarlo.sweeps",
    "SweepResult": "montecarlo.sweep_results",
    "SweepEntry": "montecarlo.sweep_results",
    "SweepError": "core.errors",
    "SerialExecutor": "montecarlo.executors",
    "dask_executor": "montecarlo.executors",
    "OptionalDependencyError": "core.errors",
    # verification
    "verify": "verification.profile",
    "Verification": "verification.profile",
    "verify_bound": "verification.bounds",
    "BoundVerification": "verification.bounds",
    "verify_gradient_bound": "verification.bounds",
    "GradientBoundVerification": "verification.bounds",
    # training studies
    "train_study": "training.study",
    "TrainingStudy": "training.study",
    "Verdict": "verification.verdict",
    "Coverage": "verification.verdict",
    "verify_rate": "verification.shape",
    "verify_band": "verification.shape",
    "ShapeVerification": "verification.shape",
    # reports
    "report": "reporting.driver",
    "Report": "reporting.driver",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .core.effort import effort_limit
    from .core.errors import (
        EffortLimitError,
        ExpressionError,
        InvalidArgumentError,
        NoFixedPointError,
        NumericalError,
        OptionalDependencyError,
        ResourceLimitError,
        SweepError,
        UnknownActivationError,
        VgmathError,
    )
    from .montecarlo.batchnorm import (
        PreactivationProfile,
        bn_relu_gradient_rate,
        preactivation_profile,
    )
    from .montecarlo.clipping import ClipReport, clip_grad_norm, clip_report
    from .montecarlo.executors import SerialExecutor, dask_executor
    from .montecarlo.simulation import Simulation, simulate
    from .montecarlo.sweep_results import SweepEntry, SweepResult
    from .montecarlo.sweeps import sweep
    from .network.description import Chain, Recurrent, Residual
    from .network.init import Init, init_variance
    from .reporting.driver import Report, report
    from .symbolic.bounds import ChainBound, DerivativeBound, SaturationRegion
    from .symbolic.catalog import Activation, activation
    from .symbolic.specs import activations
    from .symbolic.symbols import depth_symbol, fan_in, fan_out, layer_symbol, q, x
    from .theory.criticality import (
        CriticalPoint,
        FixedPoint,
        critical_line,
        critical_point,
        fixed_point,
    )
    from .theory.finite_width import finite_width_formula, finite_width_moment_ratio
    from .theory.gains import GainRow, gain_table
    from .theory.gaussian import GaussianResult, gaussian_expectation, gaussian_series
    from .theory.maps import chi_map, correlation_map, variance_map
    from .theory.precision import PrecisionLimits
    from .theory.prediction import predict
    from .theory.profile import ExactProfile, Prediction
    from .theory.symbolic_profile import SymbolicPrediction
    from .training.study import TrainingStudy, train_study
    from .verification.bounds import (
        BoundVerification,
        GradientBoundVerification,
        verify_bound,
        verify_gradient_bound,
    )
    from .verification.profile import Verification, verify
    from .verification.shape import ShapeVerification, verify_band, verify_rate
    from .verification.verdict import Coverage, Verdict
