"""The PyTorch adapter: a user's ``nn.Module`` as a vgmath description, measured like ``simulate``.

Owns: reading a model (``describe``: its layers, activations and the initialisation read from
its actual weights, recognised against ``torch.nn.init``), measuring it (``measure``:
per-layer gradient and activation second moments over re-initialisations, as a
:class:`vgmath.Simulation` that ``vg.verify`` compares with theory), monitoring it during
training (``GradientMonitor``) and the residual-block protocol (``ResidualBlock``).

PyTorch is an optional extra (``pip install 'vgmath[torch]'``): it is imported only when a
name of this package is used, and a missing install raises
:class:`vgmath.OptionalDependencyError`.

May import: every layer below it (:mod:`vgmath.core` … :mod:`vgmath.reporting`); only the
public API (lazily) and :mod:`vgmath.cli` import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.lazy import lazy_exports

#: public name -> the module of this package that defines it (imported on first use)
_EXPORTS: dict[str, str] = {
    "describe": "model",
    "read_model": "model",
    "ModelInfo": "model",
    "LayerInfo": "weights",
    "UnsupportedModelError": "model",
    "measure": "measurement",
    "GradientMonitor": "monitor",
    "load_monitor": "monitor",
    "plot_monitor": "monitor",
    "ResidualBlock": "modules",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover - static view of the lazy exports
    from .measurement import measure
    from .model import ModelInfo, UnsupportedModelError, describe, read_model
    from .modules import ResidualBlock
    from .monitor import GradientMonitor, load_monitor, plot_monitor
    from .weights import LayerInfo
