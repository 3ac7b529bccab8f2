"""The vgmath error hierarchy: one root, messages that name the bad argument and its value."""

from __future__ import annotations

from typing import Any

__all__ = [
    "VgmathError",
    "InvalidArgumentError",
    "UnknownActivationError",
    "ExpressionError",
    "NoFixedPointError",
    "NumericalError",
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
