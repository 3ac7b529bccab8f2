"""Modules of the residual protocol that :func:`vgmath.torch.describe` reads.

``describe`` traces a model with ``torch.fx`` and recognises any ``x + α·F(x)`` in the traced
graph, so a user's own residual module works as it is; :class:`ResidualBlock` is a ready-made
one (He et al. 2016, arXiv:1512.03385; the scaled form of Yang & Schoenholz 2017,
arXiv:1712.08969).
"""

from __future__ import annotations

from typing import Any

from .backend import require_torch

__all__ = ["ResidualBlock"]

_torch = require_torch()


class ResidualBlock(_torch.nn.Module):  # type: ignore[misc]
    """``x ↦ x + alpha · branch(x)``.

    ``branch`` is the residual branch F: ``nn.Sequential(nn.Linear(n, n), act)`` (vgmath's
    ``variant="post"``), ``nn.Sequential(act, nn.Linear(n, n))`` (``"pre"``), or the same
    twice (``branch_depth=2``).
    """

    def __init__(self, branch: Any, alpha: float = 1.0) -> None:
        super().__init__()
        self.branch = branch
        self.alpha = float(alpha)

    def forward(self, x: Any) -> Any:
        return x + self.alpha * self.branch(x)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
