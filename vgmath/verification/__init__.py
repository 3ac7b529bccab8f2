"""The verification engine: theory against measurement, with tests that can fail.

Owns: the statistics (log-scale mean tests, Holm's correction, binomial limits) and
verification itself — :func:`verify` (a claimed or predicted depth profile against a
simulation, with the finite-width bias in the tolerance), :func:`verify_bound` and
:func:`verify_gradient_bound` (bound claims checked symbolically and by sampling).

May import: every engine below it (core, symbolic, network, theory, montecarlo).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "BoundVerification": "verify",
    "GradientBoundVerification": "verify",
    "Verification": "verify",
    "verify": "verify",
    "verify_bound": "verify",
    "verify_gradient_bound": "verify",
    "holm": "stats",
    "log_mean_test": "stats",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .stats import holm, log_mean_test
    from .verify import (
        BoundVerification,
        GradientBoundVerification,
        Verification,
        verify,
        verify_bound,
        verify_gradient_bound,
    )
