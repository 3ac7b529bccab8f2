"""Research verification, the public entry points in one place.

The engine is split by concern:

* :mod:`vgmath.verification.profile` — :func:`verify`, a claim about a depth profile tested
  layer by layer against Monte Carlo, with the three-valued verdict of
  :mod:`vgmath.verification.verdict` and the tolerances of
  :mod:`vgmath.verification.tolerance`;
* :mod:`vgmath.verification.shape` — claims users write without an exact prefactor: a
  per-layer rate (:func:`verify_rate`) and a band around the output (:func:`verify_band`);
* :mod:`vgmath.verification.bounds` — bound claims (:func:`verify_bound`,
  :func:`verify_gradient_bound`);
* :mod:`vgmath.verification.claims` — reading claims (text, SymPy, callables, arrays);
* :mod:`vgmath.verification.stats` — the per-layer tests, Holm's correction, the tail
  diagnostic.
"""

from __future__ import annotations

from .bounds import (
    BoundVerification,
    GradientBoundVerification,
    verify_bound,
    verify_gradient_bound,
)
from .claims import parse_claim
from .profile import DEFAULT_TRIALS, QUANTITIES, Verification, verify
from .shape import ShapeVerification, verify_band, verify_rate
from .verdict import EXIT_CODES, Coverage, RowStatus, Verdict

__all__ = [
    "DEFAULT_TRIALS",
    "EXIT_CODES",
    "QUANTITIES",
    "BoundVerification",
    "Coverage",
    "GradientBoundVerification",
    "RowStatus",
    "ShapeVerification",
    "Verdict",
    "Verification",
    "parse_claim",
    "verify",
    "verify_band",
    "verify_bound",
    "verify_gradient_bound",
    "verify_rate",
]
