"""The symbolic engine: SymPy activations, their derivatives and certified bounds.

Owns: the symbols (``x``, ``q``, ``L``, ``l``, fan-in/out), the safe parser that turns user
text into SymPy (``parse`` — the one door for strings and numbers), piecewise decomposition at
kinks, the activation catalog (:class:`Activation`: SymPy expression + NumPy kernels, and the
fused φ/φ′ kernels of ``fused`` the Monte Carlo engine runs) and the certified bounds on φ′
(``bounds/``: interval arithmetic, tail analysis, per-piece analysis, sup/inf, saturation
regions, chain bounds).

May import: :mod:`vgmath.core` only. Everything above (network descriptions, theory, Monte
Carlo, verification, reports, the CLI) reads this package; it reads none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "Activation": "catalog",
    "activation": "catalog",
    "activations": "specs",
    "as_activation": "catalog",
    "parse_expression": "parse",
    "to_sympy_number": "parse",
    "plain_data": "numbers",
    "breakpoints": "piecewise",
    "pieces": "piecewise",
    "depth_symbol": "symbols",
    "fan_in": "symbols",
    "fan_out": "symbols",
    "layer_symbol": "symbols",
    "q": "symbols",
    "x": "symbols",
    "ChainBound": "bounds",
    "DerivativeBound": "bounds",
    "SaturationRegion": "bounds",
    "chain_bound": "bounds",
    "derivative_bound": "bounds",
    "saturation_region": "bounds",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .bounds import (
        ChainBound,
        DerivativeBound,
        SaturationRegion,
        chain_bound,
        derivative_bound,
        saturation_region,
    )
    from .catalog import Activation, activation, as_activation
    from .numbers import plain_data
    from .parse import parse_expression, to_sympy_number
    from .piecewise import breakpoints, pieces
    from .specs import activations
    from .symbols import depth_symbol, fan_in, fan_out, layer_symbol, q, x
