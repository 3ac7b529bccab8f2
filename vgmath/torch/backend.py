"""The one place that imports PyTorch, with a clear error when the extra is missing."""

from __future__ import annotations

from typing import Any

from ..core.errors import OptionalDependencyError

__all__ = ["require_torch"]


def require_torch() -> Any:
    """Import and return the ``torch`` module, or raise :class:`vgmath.OptionalDependencyError`
    naming the extra that provides it."""
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised where torch is absent
        raise OptionalDependencyError(
            "vgmath.torch needs PyTorch: pip install 'vgmath[torch]' "
            f"(import torch failed: {err})"
        ) from err
    return torch
