"""The activation catalog's specifications: exact SymPy forms, parameters with their
constraints, and numerically stable NumPy kernels for φ and φ′ (one :class:`_Spec` per
name; :func:`activations` lists them). :mod:`vgmath.symbolic.catalog` turns a spec into an
:class:`~vgmath.symbolic.catalog.Activation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy import special

from ..core.errors import (
    InvalidArgumentError,
)
from .symbols import x

ArrayFn = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- parameters




@dataclass(frozen=True)
class _Param:
    default: sp.Expr
    check: str = "real"  # "real" | "positive" | "nonnegative"
    doc: str = ""

    def validate(self, name: str, value: sp.Expr) -> None:
        # a symbolic value is refused only when SymPy proves it breaks the constraint
        symbolic = bool(value.free_symbols)
        if self.check == "positive" and not value.is_positive and (
            not symbolic or value.is_positive is False
        ):
            raise InvalidArgumentError(name, value, "must be > 0")
        if self.check == "nonnegative" and not value.is_nonnegative and (
            not symbolic or value.is_nonnegative is False
        ):
            raise InvalidArgumentError(name, value, "must be >= 0")


# --------------------------------------------------------------------------- stable numpy kernels


def _sech2(u: np.ndarray) -> np.ndarray:
    """sech(u)^2 = 4 e^{-2|u|} / (1 + e^{-2|u|})^2: no overflow, full relative accuracy."""
    e = np.exp(-2.0 * np.abs(u))
    return 4.0 * e / (1.0 + e) ** 2


def _sigmoid_grad(u: np.ndarray) -> np.ndarray:
    """σ′(u) = e/(1 + e)² with e = e^{−|u|}: one exponential, no overflow, full accuracy."""
    e = np.exp(-np.abs(u))
    return e / (1.0 + e) ** 2


_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


def _np_gelu(u: np.ndarray) -> np.ndarray:
    return u * special.ndtr(u)


def _np_gelu_grad(u: np.ndarray) -> np.ndarray:
    return special.ndtr(u) + u * _INV_SQRT_2PI * np.exp(-0.5 * u * u)


def _np_gelu_tanh(u: np.ndarray) -> np.ndarray:
    # 0.5 u (1 + tanh(a)) = u * sigmoid(2a): stable for large |u|
    a = _GELU_C * (u + _GELU_K * u**3)
    return u * special.expit(2.0 * a)


def _np_gelu_tanh_grad(u: np.ndarray) -> np.ndarray:
    a = _GELU_C * (u + _GELU_K * u**3)
    da = _GELU_C * (1.0 + 3.0 * _GELU_K * u * u)
    s = special.expit(2.0 * a)
    # d/du [u s(2a)] = s + u * 2 s (1-s) a' ; s(1-s) computed as expit(2a) expit(-2a)
    return s + u * 2.0 * s * special.expit(-2.0 * a) * da


def _np_mish(u: np.ndarray) -> np.ndarray:
    return u * np.tanh(np.logaddexp(0.0, u))


def _np_mish_grad(u: np.ndarray) -> np.ndarray:
    sp_ = np.logaddexp(0.0, u)
    return np.tanh(sp_) + u * _sech2(sp_) * special.expit(u)


def _np_softsign(u: np.ndarray) -> np.ndarray:
    return u / (1.0 + np.abs(u))


def _np_softsign_grad(u: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.abs(u)) ** 2


def _np_elu(alpha: float) -> tuple[ArrayFn, ArrayFn]:
    def f(u: np.ndarray) -> np.ndarray:
        return np.where(u <= 0, alpha * np.expm1(np.minimum(u, 0.0)), u)

    def df(u: np.ndarray) -> np.ndarray:
        return np.where(u <= 0, alpha * np.exp(np.minimum(u, 0.0)), 1.0)

    return f, df


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class _Spec:
    name: str
    params: Mapping[str, _Param]
    sym: Callable[..., sp.Expr]
    numpy: Callable[..., tuple[ArrayFn, ArrayFn]]
    doc: str
    reference: str = ""
    aliases: tuple[str, ...] = ()


def _sym_sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


# SELU constants in closed form (Klambauer et al. 2017, arXiv:1706.02515, eqs. (14)-(15)).
_E = sp.E
_ERFC = sp.erfc(1 / sp.sqrt(2))
SELU_ALPHA = -sp.sqrt(2 / sp.pi) / (_ERFC * sp.sqrt(_E) - 1)
SELU_LAMBDA = (
    (1 - _ERFC * sp.sqrt(_E))
    * sp.sqrt(2 * sp.pi)
    * (
        2 * sp.erfc(sp.sqrt(2)) * _E**2
        + sp.pi * _ERFC**2 * _E
        - 2 * (2 + sp.pi) * _ERFC * sp.sqrt(_E)
        + sp.pi
        + 2
    )
    ** sp.Rational(-1, 2)
)

_REAL = "real"
_POS = "positive"

_CATALOG: dict[str, _Spec] = {}


def _register(spec: _Spec) -> None:
    _CATALOG[spec.name] = spec


_register(_Spec("identity", {}, lambda: x, lambda: (lambda u: u * 1.0, np.ones_like), "φ(x) = x"))
_register(
    _Spec(
        "sigmoid",
        {},
        lambda: _sym_sigmoid(x),
        lambda: (special.expit, _sigmoid_grad),
        "logistic sigmoid 1/(1+e^{-x})",
        aliases=("logistic",),
    )
)
_register(_Spec("tanh", {}, lambda: sp.tanh(x), lambda: (np.tanh, _sech2), "hyperbolic tangent"))
_register(
    _Spec(
        "hard_sigmoid",
        {},
        lambda: sp.Piecewise((0, x <= -3), (x / 6 + sp.Rational(1, 2), x < 3), (1, True)),
        lambda: (
            lambda u: np.clip(u / 6.0 + 0.5, 0.0, 1.0),
            lambda u: np.where((u > -3) & (u < 3), 1.0 / 6.0, 0.0),
        ),
        "PyTorch's Hardsigmoid: relu6(x + 3)/6",
    )
)
_register(
    _Spec(
        "hard_tanh",
        {},
        lambda: sp.Piecewise((-1, x <= -1), (x, x < 1), (1, True)),
        lambda: (
            lambda u: np.clip(u, -1.0, 1.0),
            lambda u: np.where((u > -1) & (u < 1), 1.0, 0.0),
        ),
        "clip(x, -1, 1)",
    )
)
_register(
    _Spec(
        "relu",
        {},
        lambda: sp.Piecewise((0, x <= 0), (x, True)),
        lambda: (lambda u: np.maximum(u, 0.0), lambda u: (u > 0).astype(u.dtype)),
        "max(0, x)",
    )
)
_register(
    _Spec(
        "leaky_relu",
        {"slope": _Param(sp.Rational(1, 100), _REAL, "slope for x <= 0")},
        lambda slope: sp.Piecewise((slope * x, x <= 0), (x, True)),
        lambda slope: (
            lambda u: np.where(u <= 0, slope * u, u),
            lambda u: np.where(u <= 0, slope, 1.0),
        ),
        "x for x > 0, slope*x otherwise",
        aliases=("prelu",),
    )
)
_register(
    _Spec(
        "elu",
        {"alpha": _Param(sp.Integer(1), _POS, "saturation value -alpha as x -> -oo")},
        lambda alpha: sp.Piecewise((alpha * (sp.exp(x) - 1), x <= 0), (x, True)),
        _np_elu,
        "x for x > 0, alpha (e^x - 1) otherwise",
        "Clevert et al. 2016, arXiv:1511.07289",
    )
)


def _np_selu(scale: float, alpha: float) -> tuple[ArrayFn, ArrayFn]:
    f, df = _np_elu(alpha)
    return (lambda u: scale * f(u)), (lambda u: scale * df(u))


_register(
    _Spec(
        "selu",
        {
            "scale": _Param(SELU_LAMBDA, _POS, "λ ≈ 1.0507 (closed form of Klambauer et al.)"),
            "alpha": _Param(SELU_ALPHA, _POS, "α ≈ 1.6733 (closed form of Klambauer et al.)"),
        },
        lambda scale, alpha: scale * sp.Piecewise((alpha * (sp.exp(x) - 1), x <= 0), (x, True)),
        _np_selu,
        "scale * elu(x, alpha) with the self-normalising constants",
        "Klambauer et al. 2017, arXiv:1706.02515",
    )
)
_register(
    _Spec(
        "gelu",
        {},
        lambda: x / 2 * (1 + sp.erf(x / sp.sqrt(2))),
        lambda: (_np_gelu, _np_gelu_grad),
        "x Φ(x), the exact (erf) form",
        "Hendrycks & Gimpel 2016, arXiv:1606.08415",
    )
)
_register(
    _Spec(
        "gelu_tanh",
        {},
        lambda: x
        / 2
        * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (x + sp.Rational(44715, 10**6) * x**3))),
        lambda: (_np_gelu_tanh, _np_gelu_tanh_grad),
        "the tanh approximation of GELU",
        "Hendrycks & Gimpel 2016, arXiv:1606.08415",
    )
)


def _np_silu(beta: float) -> tuple[ArrayFn, ArrayFn]:
    def f(u: np.ndarray) -> np.ndarray:
        return u * special.expit(beta * u)

    def df(u: np.ndarray) -> np.ndarray:
        s = special.expit(beta * u)
        return s + beta * u * s * special.expit(-beta * u)

    return f, df


_register(
    _Spec(
        "silu",
        {"beta": _Param(sp.Integer(1), _POS, "steepness of the gate")},
        lambda beta: x * _sym_sigmoid(beta * x),
        _np_silu,
        "x σ(βx) (SiLU for β = 1, Swish in general)",
        "Ramachandran et al. 2017, arXiv:1710.05941",
        aliases=("swish",),
    )
)


def _np_softplus(beta: float) -> tuple[ArrayFn, ArrayFn]:
    return (
        lambda u: np.logaddexp(0.0, beta * u) / beta,
        lambda u: special.expit(beta * u),
    )


_register(
    _Spec(
        "softplus",
        {"beta": _Param(sp.Integer(1), _POS, "sharpness")},
        lambda beta: sp.log(1 + sp.exp(beta * x)) / beta,
        _np_softplus,
        "log(1 + e^{βx})/β",
    )
)
_register(
    _Spec(
        "mish",
        {},
        lambda: x * sp.tanh(sp.log(1 + sp.exp(x))),
        lambda: (_np_mish, _np_mish_grad),
        "x tanh(softplus(x))",
        "Misra 2019, arXiv:1908.08681",
    )
)
_register(
    _Spec(
        "softsign",
        {},
        lambda: sp.Piecewise((x / (1 - x), x <= 0), (x / (1 + x), True)),
        lambda: (_np_softsign, _np_softsign_grad),
        "x/(1+|x|)",
    )
)
_register(
    _Spec(
        "erf",
        {},
        lambda: sp.erf(x),
        lambda: (special.erf, lambda u: (2.0 / math.sqrt(math.pi)) * np.exp(-u * u)),
        "the error function",
    )
)

_ALIASES = {a: s.name for s in _CATALOG.values() for a in s.aliases}


def activations() -> list[str]:
    """The catalog names (aliases such as ``swish`` resolve to their entry)."""
    return list(_CATALOG)


