"""The sections of vgmath's report, in document order (see :mod:`vgmath.reporting.core`).

Each section is independent: it declares the engines it needs and builds its own LaTeX,
figures and data files. Shared results (predictions, simulations, verifications) come from the
:class:`~vgmath.reporting.core.ReportContext` caches, so the depth figure and the χ table read
the same prediction objects.
"""

from __future__ import annotations

# Importing a module registers its sections: the order of these imports is the order of the
# sections in the report.
# isort: off
from . import activations, initialisations, depth, recurrent, criticality, training
# isort: on
from .activations import ActivationsSection
from .common import slug
from .depth import DepthSection
from .initialisations import InitialisationsSection

__all__ = ["ActivationsSection", "DepthSection", "InitialisationsSection", "slug"]
