"""The report: LaTeX and matplotlib write-ups of the three engines' results.

Owns: LaTeX helpers (escaping, number formatting, tables, compiling with pdflatex and reading
its log), figures, the section registry and context (``core``), the sections themselves
(``sections``) and the driver :func:`report` that writes a report folder atomically.

May import: every engine below it. A new section registers itself in ``sections``; it reads
theory, Monte Carlo and verification results through their public functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "Report": "driver",
    "report": "driver",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .driver import Report, report
