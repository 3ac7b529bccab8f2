"""Network descriptions: the one object that both ``predict`` (theory) and ``simulate``
(Monte Carlo) read, so that the two can never drift apart.

Conventions (used everywhere in vgmath)
---------------------------------------
A :class:`Chain` of depth L has widths n_0 (input), n_1, …, n_L and layers l = 1..L::

    h^l = W^l x^{l-1} + b^l,     x^l = φ(h^l),     x^0 = the input,

with W^l of shape (n_l, n_{l-1}), Var(W^l_ij) = v_l from the init rule (fan_in = n_{l-1},
fan_out = n_l) and b^l_i ~ N(0, σ_b²). The input has per-unit second moment
``input_q = ‖x^0‖²/n_0``. The gradient flows back from the output x^L:
g^l = ∂E/∂x^l (the gradient w.r.t. the *input of layer l+1*), δ^l = ∂E/∂h^l = φ′(h^l) ⊙ g^l,
g^{l-1} = (W^l)ᵀ δ^l. Depth profiles index layers 0..L.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from ._activation import Activation, as_activation, to_sympy_number
from ._errors import InvalidArgumentError
from ._init import Init, as_init

__all__ = ["Chain", "Residual"]


@dataclass(frozen=True)
class Residual:
    """A residual block ``x_{l+1} = x_l + alpha · F(x_l)``.

    ``branch_depth`` dense+activation layers form F (1 or 2). ``variant`` is ``"post"``
    (F(x) = φ(W x + b), repeated) or ``"pre"`` (F(x) = W φ(x) + b, repeated: the
    pre-activation ordering of He et al. 2016, arXiv:1603.05027).
    Reference: Yang & Schoenholz 2017, arXiv:1712.08969.
    """

    alpha: Any = 1
    branch_depth: int = 1
    variant: str = "post"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", to_sympy_number("alpha", self.alpha))
        if self.branch_depth not in (1, 2):
            raise InvalidArgumentError("branch_depth", self.branch_depth, "must be 1 or 2")
        if self.variant not in ("post", "pre"):
            raise InvalidArgumentError("variant", self.variant, "must be 'post' or 'pre'")


def _widths(width: Any, depth: int) -> tuple[int, ...]:
    if isinstance(width, bool):
        raise InvalidArgumentError("width", width, "expected a positive integer or a sequence")
    if isinstance(width, int):
        ws: tuple[int, ...] = (width,) * (depth + 1)
    elif isinstance(width, Sequence) and not isinstance(width, str):
        ws = tuple(width)
        if len(ws) != depth + 1:
            raise InvalidArgumentError(
                "width", width, f"a sequence of widths needs depth + 1 = {depth + 1} entries (n_0..n_L)"
            )
    else:
        raise InvalidArgumentError("width", width, "expected a positive integer or a sequence")
    for w in ws:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise InvalidArgumentError("width", width, "widths must be positive integers")
    return ws


@dataclass(frozen=True)
class Chain:
    """A plain (or residual) fully connected chain; *the* description of a network.

    >>> import vgmath as vg
    >>> chain = vg.Chain(activation="relu", init="he", depth=50, width=256)
    >>> chain.widths[:3], chain.sigma_w2s[0]
    ((256, 256, 256), 2)

    ``activation``: catalog name, expression or :class:`vgmath.Activation`; ``init``: scheme
    name, ``{"scheme": ..., **options}`` or :class:`vgmath.Init`; ``width``: one int (square)
    or the sequence n_0..n_L; ``sigma_b2``: bias variance; ``input_q``: per-unit second
    moment of the input; ``residual``: ``None`` or a :class:`vgmath.Residual`.
    """

    activation: Any
    init: Any = "he"
    depth: int = 10
    width: Any = 100
    sigma_b2: Any = 0
    residual: Residual | None = None
    input_q: Any = 1
    widths: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "activation", as_activation(self.activation))
        set_(self, "init", as_init(self.init))
        d = self.depth
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InvalidArgumentError("depth", d, "must be a positive integer")
        set_(self, "widths", _widths(self.width, d))
        sb = to_sympy_number("sigma_b2", self.sigma_b2)
        if sb.is_negative:
            raise InvalidArgumentError("sigma_b2", self.sigma_b2, "must be >= 0")
        set_(self, "sigma_b2", sb)
        iq = to_sympy_number("input_q", self.input_q)
        if not iq.is_positive:
            raise InvalidArgumentError("input_q", self.input_q, "must be > 0")
        set_(self, "input_q", iq)
        if self.residual is not None and not isinstance(self.residual, Residual):
            if isinstance(self.residual, dict):
                set_(self, "residual", Residual(**self.residual))
            else:
                raise InvalidArgumentError("residual", self.residual, "expected a vgmath.Residual")
        if self.residual is not None and len(set(self.widths)) != 1:
            raise InvalidArgumentError("width", self.width, "residual chains need equal widths")

    # typed views (the coercion above guarantees these types)
    @property
    def act(self) -> Activation:
        return self.activation  # type: ignore[no-any-return]

    @property
    def rule(self) -> Init:
        return self.init  # type: ignore[no-any-return]

    @property
    def weight_variances(self) -> tuple[sp.Expr, ...]:
        """v_l = Var(W^l_ij) for l = 1..L (exact SymPy numbers)."""
        ws = self.widths
        return tuple(self.rule.variance(ws[i], ws[i + 1]) for i in range(self.depth))

    @property
    def sigma_w2s(self) -> tuple[sp.Expr, ...]:
        """Mean-field σ_w² of each layer: n_{l-1} · v_l."""
        ws = self.widths
        return tuple(ws[i] * v for i, v in enumerate(self.weight_variances))

    def replace(self, **changes: Any) -> Chain:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description (JSON-ready), enough to rebuild the chain."""
        out: dict[str, Any] = {
            "kind": "chain",
            "activation": self.act.label if not self.act.source else self.act.source,
            "activation_params": {k: str(v) for k, v in self.act.params.items()},
            "init": {
                "name": self.rule.name,
                "scale": str(self.rule.scale),
                "mode": self.rule.mode,
                "distribution": self.rule.distribution,
            },
            "depth": self.depth,
            "widths": list(self.widths),
            "sigma_b2": str(self.sigma_b2),
            "input_q": str(self.input_q),
            "residual": None,
        }
        if self.residual is not None:
            out["residual"] = {
                "alpha": str(self.residual.alpha),
                "branch_depth": self.residual.branch_depth,
                "variant": self.residual.variant,
            }
        return out

    def __str__(self) -> str:
        w = self.widths[0] if len(set(self.widths)) == 1 else list(self.widths)
        extra = "" if self.residual is None else f", residual(alpha={self.residual.alpha})"
        return f"Chain({self.act.label}, {self.rule}, depth={self.depth}, width={w}{extra})"


