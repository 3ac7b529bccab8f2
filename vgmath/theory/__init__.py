"""The theory engine: what a network description predicts, exactly where possible.

Owns: Gaussian expectations E[f(√q z)] (closed forms, split quadrature, series), the
mean-field maps (variance map, χ, the correlation map; as SymPy Lambdas in ``maps``) and their
moment tables, depth profiles (:func:`predict` → :class:`Prediction`; residual chains in
``residual``, batch-normalised chains in ``batchnorm``; symbolic chains →
:class:`SymbolicPrediction` in ``symbolic_profile``), fixed
points, the edge of chaos and gain tables (``criticality``), finite-width moments and the
first-order finite-width bias used by verification (``finite_width``, ``width_bias``).

May import: :mod:`vgmath.core`, :mod:`vgmath.symbolic`, :mod:`vgmath.network`. It never
simulates: Monte Carlo reads theory (for sweeps), not the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "GaussianResult": "gaussian",
    "gaussian_expectation": "gaussian",
    "gaussian_series": "gaussian",
    "predict": "prediction",
    "SymbolicPrediction": "symbolic_profile",
    "variance_map": "maps",
    "chi_map": "maps",
    "correlation_map": "maps",
    "ExactProfile": "profile",
    "Prediction": "profile",
    "CriticalPoint": "criticality",
    "FixedPoint": "criticality",
    "GainRow": "gains",
    "critical_line": "criticality",
    "critical_point": "criticality",
    "fixed_point": "criticality",
    "gain_table": "gains",
    "finite_width_formula": "finite_width",
    "finite_width_moment_ratio": "finite_width",
    "WidthBias": "bias",
    "PrecisionLimits": "precision",
    "float_format": "precision",
    "width_bias": "bias",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .bias import WidthBias, width_bias
    from .criticality import (
        CriticalPoint,
        FixedPoint,
        critical_line,
        critical_point,
        fixed_point,
    )
    from .finite_width import finite_width_formula, finite_width_moment_ratio
    from .gains import GainRow, gain_table
    from .gaussian import GaussianResult, gaussian_expectation, gaussian_series
    from .maps import chi_map, correlation_map, variance_map
    from .precision import PrecisionLimits, float_format
    from .prediction import predict
    from .profile import ExactProfile, Prediction
    from .symbolic_profile import SymbolicPrediction
