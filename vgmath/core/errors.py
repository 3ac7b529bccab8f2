"""The vgmath error hierarchy: one root, messages that name the bad argument and its value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "EffortLimitError",
    "ExpressionError",
    "InvalidArgumentError",
    "NoFixedPointError",
    "NumericalError",
    "OptionalDependencyError",
    "ResourceLimitError",
    "SweepError",
    "UnknownActivationError",
    "VgmathError",
]


class VgmathError(Exception):
    """Root of every error vgmath raises on purpose."""


class InvalidArgumentError(VgmathError, ValueError):
    """An argument has a value vgmath cannot use.

    The message always names the argument and echoes its value.
    """

    def __init__(self, argument: str, value: Any, reason: str) -> None:
        self.argument = argument
        self.value = value
        self.reason = reason
        super().__init__(f"invalid {argument}={value!r}: {reason}")


class UnknownActivationError(InvalidArgumentError):
    """An activation name that is not in the catalog (the message lists the known names)."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__("activation", name, "unknown activation; known: " + ", ".join(known))


class ExpressionError(InvalidArgumentError):
    """A user-written expression was refused by the safe parser (names the offending token)."""

    def __init__(self, expression: str, token: str, reason: str) -> None:
        self.token = token
        super().__init__("expression", expression, f"{reason} (offending token: {token!r})")


class NoFixedPointError(VgmathError):
    """A variance map has no finite, stable fixed point for the given parameters."""


class NumericalError(VgmathError):
    """A numerical routine could not reach the accuracy it promises."""


class EffortLimitError(NumericalError):
    """A computation did not finish within its effort limit (:mod:`vgmath.core.effort`).

    ``what`` names the computation, ``seconds`` the limit that ran out; the message says how
    to raise it (``VGMATH_EFFORT_SECONDS`` or :func:`vgmath.core.effort.effort_limit`).
    """

    def __init__(self, what: str, seconds: float, detail: str = "") -> None:
        self.what = what
        self.seconds = seconds
        self.detail = detail
        tail = f"; {detail}" if detail else ""
        super().__init__(
            f"cannot {what} within the effort limit ({seconds:g} s; raise it with "
            f"VGMATH_EFFORT_SECONDS){tail}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (EffortLimitError, (self.what, self.seconds, self.detail))


class ResourceLimitError(InvalidArgumentError):
    """A request would need more memory (or work) than the configured limit allows.

    Raised *before* anything is allocated; the message gives the estimate, the limit and how
    to override it.
    """

    def __init__(self, argument: str, value: Any, reason: str) -> None:
        super().__init__(argument, value, reason)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ResourceLimitError, (self.argument, self.value, self.reason))


class SweepError(VgmathError):
    """A configuration of a sweep failed while it ran.

    ``index`` is its position in the grid's canonical order, ``parameters`` its plain-data
    parameters, ``error_type`` and ``reason`` the original error; ``details`` holds the
    worker's traceback text (for debugging; not part of the message).
    """

    def __init__(
        self, index: int, total: int, parameters: Mapping[str, Any], error_type: str,
        reason: str, details: str = "",
    ) -> None:
        self.index = index
        self.total = total
        self.parameters = dict(parameters)
        self.error_type = error_type
        self.reason = reason
        self.details = details
        super().__init__(
            f"configuration {index} of {total} failed ({_describe(parameters)}): "
            f"{error_type}: {reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (SweepError, (self.index, self.total, self.parameters, self.error_type,
                             self.reason, self.details))


class OptionalDependencyError(VgmathError, ImportError):
    """An optional extra that a feature needs is not installed (the message names it)."""


def _describe(parameters: Mapping[str, Any]) -> str:
    keys = ("arch", "activation", "init", "depth", "width", "sigma_w2_exact", "sigma_b2_exact",
            "input_q_exact")
    parts = []
    for k in keys:
        if k in parameters and parameters[k] is not None:
            parts.append(f"{k.removesuffix('_exact')}={parameters[k]}")
    return ", ".join(parts)
