"""The network description that every engine reads.

Owns: initialisation rules (:class:`Init`: a fan rule × gain² × a weight distribution, with the
Xavier/Glorot, He/Kaiming, LeCun, orthogonal and truncated-normal presets) and the descriptions
themselves — :class:`Chain` (plain, residual via :class:`Residual`, batch-normalised) and
:class:`Recurrent` (vanilla RNN, LSTM, GRU). A description is data: it says what the network
is, never how to predict or simulate it.

May import: :mod:`vgmath.core` and :mod:`vgmath.symbolic`. Read by theory, Monte Carlo,
verification, reports and the CLI; a new architecture starts here as a new description (or a
new field of one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "Init": "init",
    "init_variance": "init",
    "as_init": "init",
    "Chain": "description",
    "Recurrent": "description",
    "Residual": "description",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .description import Chain, Recurrent, Residual
    from .init import Init, as_init, init_variance
