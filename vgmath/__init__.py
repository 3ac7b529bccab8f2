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
    # Gaussian expectations
    "gaussian_expectation": "_gaussian",
    "GaussianResult": "_gaussian",
    # theory
    "predict": "_theory",
    "Prediction": "_theory",
    "critical_point": "_theory",
    "CriticalPoint": "_theory",
    # Monte Carlo
    "simulate": "_simulate",
    "Simulation": "_simulate",
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
    from ._errors import (
        ExpressionError,
        InvalidArgumentError,
        NoFixedPointError,
        NumericalError,
        UnknownActivationError,
        VgmathError,
    )
    from ._init import Init, init_variance
    from ._network import Chain, Residual
    from ._symbols import depth_symbol, fan_in, fan_out, layer_symbol, q, x
