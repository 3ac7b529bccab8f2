"""Lazy re-exports for package ``__init__`` modules.

A package lists ``{public name: submodule}``; the submodule is imported the first time the
name is looked up, so ``import vgmath`` (and ``import vgmath.theory``) stays cheap and a
package's ``__init__`` never imports its own modules eagerly (which would make every module
of the package depend on every other through the package).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` re-exporting ``exports`` lazily.

    ``exports`` maps a public name to the module that defines it, relative to ``package``
    (``"activation"`` or ``"symbolic.catalog"``). The looked-up value is cached in
    ``namespace`` (the package's ``globals()``), so each name is resolved once.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*exports, *namespace.get("__all__", ())})

    return __getattr__, __dir__
