"""The verification engine: theory against measurement, with tests that can fail.

Owns: the statistics (log-scale mean tests, Holm's correction, binomial limits) and
verification itself — :func:`verify` (a claimed or predicted depth profile against a
simulation, with the finite-width bias in the tolerance and a PASS/FAIL/INCONCLUSIVE
verdict), :func:`verify_bound` and :func:`verify_gradient_bound` (bound claims checked
symbolically and by sampling). :mod:`.verify` re-exports the entry points.

May import: every engine below it (core, symbolic, network, theory, montecarlo).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "BoundVerification": "bounds",
    "GradientBoundVerification": "bounds",
    "Verification": "profile",
    "verify": "profile",
    "verify_bound": "bounds",
    "verify_gradient_bound": "bounds",
    "Verdict": "verdict",
    "ShapeVerification": "shape",
    "verify_rate": "shape",
    "verify_band": "shape",
    "Coverage": "verdict",
    "RowStatus": "verdict",
    "holm": "stats",
    "log_mean_test": "stats",
    "pareto_k": "stats",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .bounds import (
        BoundVerification,
        GradientBoundVerification,
        verify_bound,
        verify_gradient_bound,
    )
    from .profile import Verification, verify
    from .shape import ShapeVerification, verify_band, verify_rate
    from .stats import holm, log_mean_test, pareto_k
    from .verdict import Coverage, RowStatus, Verdict
