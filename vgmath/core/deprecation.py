"""Renamed public names: the old name keeps working for a while and says what replaced it.

``renamed_alias("ln_claim", "log_claim")`` is a read-only property that returns the new
attribute and emits a :class:`DeprecationWarning` naming both, so scripts written against the
old name keep running and learn the new one (the pattern of NumPy's and SciPy's deprecation
cycles: warn first, remove in a later major version).
"""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["renamed_alias", "warn_renamed"]


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Emit the DeprecationWarning of a renamed name ``old`` → ``new``."""
    warnings.warn(
        f"{old!r} is deprecated and will be removed; use {new!r} (same values)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_alias(new: str, old: str) -> Any:
    """A read-only property ``old`` that returns ``self.<new>`` with a DeprecationWarning."""

    def getter(self: Any) -> Any:
        warn_renamed(old, new)
        return getattr(self, new)

    getter.__name__ = old
    getter.__doc__ = f"Deprecated alias of ``{new}``."
    return property(getter)
