"""Foundations every layer shares: the error hierarchy, atomic file writing, progress
display, lazy re-exports, the version and a small validated on-disk cache (``cache``).
Imports nothing else from vgmath.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "VgmathError": "errors",
    "InvalidArgumentError": "errors",
    "UnknownActivationError": "errors",
    "ExpressionError": "errors",
    "NoFixedPointError": "errors",
    "NumericalError": "errors",
    "EffortLimitError": "errors",
    "ResourceLimitError": "errors",
    "OptionalDependencyError": "errors",
    "SweepError": "errors",
    "__version__": "version",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .errors import (
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
    from .version import __version__
