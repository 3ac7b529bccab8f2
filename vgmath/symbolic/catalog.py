"""Activation functions: one object per activation with consistent views.

An :class:`Activation` carries

* a SymPy expression ``expr`` in the real symbol :data:`vgmath.x` (piecewise activations are
  ``Piecewise`` expressions), its ``derivative`` and ``second_derivative``;
* a numerically stable NumPy implementation of φ and φ′ (``act(xs)``, ``act.grad(xs)``);
* derived, certified quantities (``derivative_bound()``, ``saturation_region(eps)``,
  ``chain_bound(...)``), computed by :mod:`vgmath.symbolic.bounds`.

Kink convention
---------------
At a kink φ′ takes the value of the piece whose (closed) condition holds there. The catalog's
``Piecewise`` expressions put the kink in the *left* piece, except the upper kinks of
``hard_tanh`` and ``hard_sigmoid``, which belong to the flat right piece: ``relu′(0) = 0``,
``leaky_relu′(0) = slope``, ``elu′(0) = alpha``, ``hard_tanh′(±1) = 0``,
``hard_sigmoid′(±3) = 0``. These are PyTorch's autograd values, and the NumPy gradients use
the same convention (tested).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from scipy import special

from ..core.effort import effort_limit
from ..core.errors import (
    EffortLimitError,
    InvalidArgumentError,
    NumericalError,
    UnknownActivationError,
    VgmathError,
)
from .parse import parse_expression, to_sympy_number
from .piecewise import breakpoints as _breakpoints
from .piecewise import pieces
from .symbols import x

__all__ = ["Activation", "activation", "activations", "as_activation", "to_sympy_number"]

ArrayFn = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- parameters




@dataclass(frozen=True)
class _Param:
    default: sp.Expr
    check: str = "real"  # "real" | "positive" | "nonnegative"
    doc: str = ""

    def validate(self, name: str, value: sp.Expr) -> None:
        if self.check == "positive" and not value.is_positive:
            raise InvalidArgumentError(name, value, "must be > 0")
        if self.check == "nonnegative" and not value.is_nonnegative:
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


# --------------------------------------------------------------------------- the object


#: Default threshold of :meth:`Activation.saturation_region` (|φ′| < 1/100).
_DEFAULT_EPS = sp.Rational(1, 100)


@dataclass(frozen=True, eq=False)
class Activation:
    """An activation φ with its SymPy, NumPy and derived views.

    Build one with :func:`vgmath.activation`; the object is immutable and picklable.
    """

    name: str
    expr: sp.Expr
    params: Mapping[str, sp.Expr]
    _f: ArrayFn = field(repr=False)
    _df: ArrayFn = field(repr=False)
    source: str = field(default="", repr=False)  # the user's text, for user expressions
    doc: str = field(default="", repr=False)
    reference: str = field(default="", repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ---- symbolic views
    @property
    def derivative(self) -> sp.Expr:
        """φ′(x) as a SymPy expression."""
        if "d1" not in self._cache:
            self._cache["d1"] = _clean(sp.diff(self.expr, x))
        return self._cache["d1"]

    @property
    def second_derivative(self) -> sp.Expr:
        """φ″(x) as a SymPy expression (piecewise activations: away from the kinks)."""
        if "d2" not in self._cache:
            self._cache["d2"] = _clean(sp.diff(self.derivative, x))
        return self._cache["d2"]

    @property
    def breakpoints(self) -> tuple[sp.Expr, ...]:
        """Finite points where φ or φ′ switch pieces (the kinks)."""
        if "bp" not in self._cache:
            self._cache["bp"] = _breakpoints(self.expr)
        return self._cache["bp"]

    @property
    def is_piecewise(self) -> bool:
        return bool(self.breakpoints)

    # ---- numeric views
    def __call__(self, xs: Any) -> np.ndarray:
        """φ evaluated elementwise on a NumPy array (float64 unless given float32)."""
        return self._f(_as_float_array(xs))

    def grad(self, xs: Any) -> np.ndarray:
        """φ′ evaluated elementwise on a NumPy array, with the kink convention above."""
        a = _as_float_array(xs)
        out = self._df(a)
        return np.broadcast_to(out, a.shape).astype(a.dtype, copy=False)

    # ---- derived quantities (see vgmath.symbolic.bounds)
    def derivative_bound(self) -> Any:
        """Certified sup and inf of φ′ over ℝ (a :class:`vgmath.DerivativeBound`).

        Runs under the effort limit (:mod:`vgmath.core.effort`); an expression the certifier
        cannot finish raises :class:`vgmath.EffortLimitError` (with a sampled estimate) or
        :class:`vgmath.NumericalError`, never hangs.
        """
        if "bound" not in self._cache:
            from .bounds import derivative_bound

            self._cache["bound"] = self._certified("bound", lambda: derivative_bound(self))
        return self._cache["bound"]

    def saturation_region(self, eps: Any = _DEFAULT_EPS) -> Any:
        """Where |φ′(x)| < eps, exact or certified (a :class:`vgmath.SaturationRegion`)."""
        from .bounds import saturation_region

        return self._certified("saturation region", lambda: saturation_region(self, eps))

    def chain_bound(self, *, depth: Any = None, eps: Any = None) -> Any:
        """∏ φ′(x_i) ≤ (sup|φ′|)^L, and the smallest L with the bound below eps."""
        from .bounds import chain_bound

        return self._certified("chain bound", lambda: chain_bound(self, depth=depth, eps=eps))

    def _certified(self, what: str, compute: Callable[[], Any]) -> Any:
        """Run a certification under the effort limit; one clear error if it cannot finish."""
        try:
            with effort_limit(f"certify the {what} of {self.label}"):
                return compute()
        except EffortLimitError as err:
            raise EffortLimitError(err.what, err.seconds, self._estimate()) from None
        except VgmathError:
            raise
        except (ArithmeticError, TypeError, ValueError, AttributeError, RecursionError) as err:
            # an expression the certifier cannot analyse (a pole, a non-real value): one
            # readable error rather than a traceback; the cause stays chained
            raise NumericalError(
                f"cannot certify the {what} of {self.label}: {type(err).__name__}: {err}; "
                + self._estimate()
            ) from err

    def _estimate(self) -> str:
        """A sampled (uncertified) estimate of sup and inf of φ′ for error messages."""
        grid = np.linspace(-50.0, 50.0, 20001)
        with np.errstate(all="ignore"):
            d = np.asarray(self.grad(grid), dtype=float)
        d = d[np.isfinite(d)]
        if not d.size:
            return "no numeric estimate is available"
        return (
            f"the numeric estimate (sampled on [-50, 50], not certified) is sup φ′ ≈ "
            f"{d.max():.6g}, inf φ′ ≈ {d.min():.6g}"
        )

    # ---- printing
    def latex(self) -> str:
        """LaTeX for ``\\varphi(x) = ...``."""
        return r"\varphi(x) = " + sp.latex(self.expr)

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"Activation({self.name}{', ' + ps if ps else ''})"

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """Short human label: ``leaky_relu(slope=1/100)``."""
        if not self.params or self.name == "selu":
            return self.name
        return self.name + "(" + ", ".join(f"{k}={v}" for k, v in self.params.items()) + ")"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Activation)
            and self.name == other.name
            and dict(self.params) == dict(other.params)
            and sp.simplify(self.expr - other.expr) == 0
        )

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted((k, str(v)) for k, v in self.params.items()))))

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        # Dask hashes task arguments field by field; the NumPy kernels of a user expression
        # are lambdified functions whose globals hold mpmath's context, and hashing them by
        # value corrupts that context in the calling process. The identity is the recipe.
        return ("vgmath.Activation", self.name, self.source, sorted(
            (k, sp.srepr(v)) for k, v in self.params.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuild from the catalog name or the user's text: lambdified functions don't pickle.
        # The exact SymPy parameters pickle as they are (a str() round trip would change the
        # structure of SELU's closed-form constants, and the rebuilt object would differ).
        params = dict(self.params)
        if self.source:
            return (_rebuild_user, (self.source, dict(self.params)))
        return (_rebuild_catalog, (self.name, params))


def _rebuild_catalog(name: str, params: dict[str, Any]) -> Activation:
    return activation(name, **{k: to_sympy_number(k, v) for k, v in params.items()})


def _rebuild_user(source: str, params: dict[str, Any]) -> Activation:
    return activation(source, **params)


def _clean(e: sp.Expr) -> sp.Expr:
    if isinstance(e, sp.Piecewise):
        return sp.piecewise_fold(e)
    return e


def _as_float_array(xs: Any) -> np.ndarray:
    a = np.asarray(xs)
    if a.dtype == np.float32:
        return a
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InvalidArgumentError("xs", xs, "expected an array of real numbers")
    if np.iscomplexobj(a):
        raise InvalidArgumentError("xs", xs, "expected real numbers, got complex")
    return a.astype(np.float64, copy=False)


def activation(name_or_expression: str | Activation, **params: Any) -> Activation:
    """Build an :class:`Activation` from a catalog name or a user-written expression.

    >>> import vgmath as vg
    >>> vg.activation("sigmoid").derivative_bound().sup
    1/4
    >>> vg.activation("leaky_relu", slope=0.2).params["slope"]
    1/5
    >>> vg.activation("a*x + tanh(x)", a=0.1).expr
    x/10 + tanh(x)

    User expressions are parsed safely (a whitelist of functions and operators, one free
    variable ``x``, named parameters given as keyword arguments) — never ``eval``-ed.
    """
    if isinstance(name_or_expression, Activation):
        if params:
            raise InvalidArgumentError(
                "params", params, "cannot re-parameterise an existing Activation object"
            )
        return name_or_expression
    if not isinstance(name_or_expression, str):
        raise InvalidArgumentError(
            "activation", name_or_expression, "expected a catalog name or an expression string"
        )
    text = name_or_expression.strip()
    key = text.lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key in _CATALOG:
        return _from_spec(_CATALOG[key], params)
    if text.isidentifier() and text != "x":
        # a bare word that is not a catalog name: most likely a typo of one
        raise UnknownActivationError(text, activations())
    return _from_expression(text, params)


def _from_spec(spec: _Spec, params: Mapping[str, Any]) -> Activation:
    unknown = set(params) - set(spec.params)
    if unknown:
        bad = sorted(unknown)[0]
        known = ", ".join(spec.params) or "none"
        raise InvalidArgumentError(
            bad, params[bad], f"{spec.name} has no parameter {bad!r} (its parameters: {known})"
        )
    values: dict[str, sp.Expr] = {}
    for pname, p in spec.params.items():
        v = to_sympy_number(pname, params[pname]) if pname in params else p.default
        p.validate(pname, v)
        values[pname] = v
    expr = spec.sym(**values)
    floats = {k: float(v) for k, v in values.items()}
    f, df = spec.numpy(**floats)
    return Activation(
        name=spec.name,
        expr=expr,
        params=values,
        _f=f,
        _df=df,
        doc=spec.doc,
        reference=spec.reference,
    )


def _float_numbers(expr: sp.Expr) -> sp.Expr:
    """``expr`` with integers beyond int64 (and rationals with such parts) as floats, so that
    NumPy never sees a Python int it cannot hold (``tanh(10**100)``)."""
    big = {
        r: sp.Float(r, 17)
        for r in expr.atoms(sp.Rational)
        if max(abs(int(r.p)), int(r.q)) >= 2**62
    }
    return expr.xreplace(big) if big else expr


_MP_HUGE = mpmath.mpf(2) ** 1100  # beyond any float64 input; exp of more is ±inf or 0


def _huge(u: Any) -> bool:
    return isinstance(u, mpmath.mpf) and mpmath.isfinite(u) and abs(u) > _MP_HUGE


def _saturating(name: str, at_plus: Any, at_minus: Any) -> Callable[[Any], Any]:
    """mpmath's ``name`` whose value at an astronomically large argument is its limit
    (computing it exactly would take time and memory in proportion to the argument's size)."""
    fn = getattr(mpmath, name)

    def guarded(u: Any) -> Any:
        if _huge(u):
            return at_plus if u > 0 else at_minus
        return fn(u)

    return guarded


def _unbounded(name: str) -> Callable[[Any], Any]:
    """mpmath's ``name`` refused at an astronomically large argument (sin, cos, tan: no
    limit to saturate to); the repair then gives up on that point."""
    fn = getattr(mpmath, name)

    def guarded(u: Any) -> Any:
        if _huge(u):
            raise OverflowError(f"{name} of a number beyond 2^1100")
        return fn(u)

    return guarded


def _mp_pow(base: Any, exponent: Any) -> Any:
    """base**exponent with the result's size estimated first: a power whose binary exponent
    would itself be astronomically large saturates to inf or 0 (as a float would) instead of
    building a gigantic integer."""
    b, e = mpmath.mpmathify(base), mpmath.mpmathify(exponent)
    if isinstance(b, mpmath.mpf) and isinstance(e, mpmath.mpf) and b > 0 and mpmath.isfinite(e):
        size = e * mpmath.log(b, 2) if b != 1 else mpmath.mpf(0)
        if abs(size) > _MP_HUGE:
            return mpmath.inf if size > 0 else mpmath.mpf(0)
    return b**e


_INF, _ZERO, _ONE = mpmath.inf, mpmath.mpf(0), mpmath.mpf(1)
_MP_GUARDS: dict[str, Callable[..., Any]] = {
    "exp": _saturating("exp", _INF, _ZERO),
    "sinh": _saturating("sinh", _INF, -_INF),
    "cosh": _saturating("cosh", _INF, _INF),
    "tanh": _saturating("tanh", _ONE, -_ONE),
    "erf": _saturating("erf", _ONE, -_ONE),
    "erfc": _saturating("erfc", _ZERO, mpmath.mpf(2)),
    "atan": _saturating("atan", mpmath.pi / 2, -mpmath.pi / 2),
    "sin": _unbounded("sin"),
    "cos": _unbounded("cos"),
    "tan": _unbounded("tan"),
    "sec": _unbounded("sec"),
    "csc": _unbounded("csc"),
    "cot": _unbounded("cot"),
    "vgpow": _mp_pow,
}

_VGPOW = sp.Function("vgpow")
_MP_MODULES = [_MP_GUARDS, "mpmath"]


def _mp_lambdify(expr: sp.Expr) -> Callable[[Any], Any]:
    """An mpmath evaluator of ``expr`` whose exponentials and powers cannot blow up (exact
    evaluation of ``exp(exp(exp(x)))`` at x = 50 would need a 10²¹-bit integer)."""
    guarded = expr.replace(
        lambda e: isinstance(e, sp.Pow) and not e.exp.is_Integer,
        lambda e: _VGPOW(e.base, e.exp),
    )
    return sp.lambdify(x, guarded, modules=_MP_MODULES)  # type: ignore[no-any-return]


#: points where a user expression is compared with the catalog (see :func:`_catalog_twin`)
_FINGERPRINT = np.array([-2.31, -0.73, 0.0, 0.41, 1.87, 3.3])


def _catalog_twin(expr: sp.Expr) -> Activation | None:
    """The catalog activation (with its default parameters) that ``expr`` is an exact
    rewrite of — ``2*sigmoid(2*x) - 1`` is tanh — or None. A float fingerprint picks the
    candidate; SymPy proves the identity (within a short effort limit) before it is used."""
    try:
        fn = sp.lambdify(x, _float_numbers(expr), modules=["scipy", "numpy"])
        with np.errstate(all="ignore"):
            mine = np.broadcast_to(np.asarray(fn(_FINGERPRINT), dtype=float), _FINGERPRINT.shape)
    except (TypeError, ValueError, NameError, ZeroDivisionError):
        return None
    if not np.all(np.isfinite(mine)):
        return None
    for name, spec in _CATALOG.items():
        if name == "identity" or any(p.default is None for p in spec.params.values()):
            continue
        cat = _from_spec(spec, {})
        if not np.allclose(cat(_FINGERPRINT), mine, rtol=1e-12, atol=1e-14):
            continue
        try:
            with effort_limit(f"compare with {name}", 1.0):
                diff = (expr - cat.expr).rewrite(sp.exp)
                same = sp.simplify(diff) == 0 or sp.simplify(sp.piecewise_fold(diff)) == 0
        except (EffortLimitError, TypeError, ValueError, NotImplementedError):
            same = False
        if same:
            return cat
    return None


def _from_expression(text: str, params: Mapping[str, Any]) -> Activation:
    values = {k: to_sympy_number(k, v) for k, v in params.items()}
    expr = parse_expression(text, params=values)
    twin = _catalog_twin(expr) if not values and not expr.has(sp.Piecewise) else None
    if twin is not None:
        # an exact rewrite of a catalog entry: its closed forms and stable float formulas
        # (the theory's quadrature of 2*sigmoid(2*x) - 1 loses digits to cancellation)
        return Activation(
            name=text, expr=twin.expr, params={}, _f=twin._f, _df=twin._df, source=text,
            doc=f"user expression (exactly {twin.name})", reference=twin.reference,
        )
    d_expr = _clean(sp.diff(expr, x))
    f_raw = sp.lambdify(x, _float_numbers(expr), modules=["scipy", "numpy"])
    df_raw = sp.lambdify(x, _float_numbers(d_expr), modules=["scipy", "numpy"])

    f_mp = _mp_lambdify(expr)
    df_mp = _mp_lambdify(d_expr)

    def f(u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = np.broadcast_to(np.asarray(f_raw(u), dtype=u.dtype), u.shape).copy()
        return _repair_nonfinite(out, u, f_mp)

    def df(u: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = np.broadcast_to(np.asarray(df_raw(u), dtype=u.dtype), u.shape).copy()
        return _repair_nonfinite(out, u, df_mp)

    act = Activation(
        name=text, expr=expr, params=values, _f=f, _df=df, source=text, doc="user expression"
    )
    _check_domain(expr, d_expr, text)
    _check_real_on_the_line(act, text)
    with np.errstate(all="ignore"):
        nonzero = bool(np.any(np.asarray(act.grad(_PROBE)) != 0))
    if not nonzero:  # only then is the (slower) symbolic check needed
        _check_gradient_passes(d_expr, text)
    return act


#: effort limit of the symbolic domain check (seconds); beyond it only the grid check applies
_DOMAIN_SECONDS = 2.0


def _check_domain(expr: sp.Expr, d_expr: sp.Expr, text: str) -> None:
    """Refuse φ or φ′ that is undefined somewhere on ℝ, *certified* by SymPy's ``solveset``
    rather than sampled: a pole (``1/(x - 0.123)``, ``tan(x)``), a logarithm or a fractional
    power of something that becomes ≤ 0 or < 0 (``log(x + 50.01)``, ``sqrt(x - 60)``) is
    found wherever it is, not only on a grid. Sub-expressions inside a ``Piecewise`` are
    checked on their own piece only. When SymPy cannot decide (an implicit equation) within
    :data:`_DOMAIN_SECONDS`, the grid check of :func:`_check_real_on_the_line` remains."""
    with contextlib.suppress(EffortLimitError), effort_limit(
        "check where the expression is defined", _DOMAIN_SECONDS
    ):
        for label, e in (("φ", expr), ("φ′", d_expr)):
            where = _undefined_point(e, sp.S.Reals)
            if where is not None:
                point, why = where
                raise InvalidArgumentError(
                    "activation", text,
                    f"{label}(x) is not defined on the whole real line: {why} at "
                    f"x = {_show_point(point)}; an activation and its derivative must be "
                    "finite and real everywhere",
                )


def _show_point(p: Any) -> str:
    try:
        text = str(p)
        return text if len(text) <= 30 else f"{float(p):.6g}"
    except (TypeError, ValueError):  # pragma: no cover
        return "?"


def _first_point(s: sp.Set) -> Any | None:
    """A point of the solution set ``s`` (None if empty or undecided)."""
    if s is sp.S.EmptySet or isinstance(s, sp.ConditionSet):
        return None
    if isinstance(s, sp.FiniteSet):
        return min(s, key=lambda v: abs(float(v))) if s else None
    if isinstance(s, sp.Interval):
        if s.start.is_finite and s.end.is_finite:
            return s.start if not s.left_open else (s.start + s.end) / 2
        if s.start.is_finite:
            return s.start if not s.left_open else s.start + 1
        if s.end.is_finite:
            return s.end if not s.right_open else s.end - 1
        return sp.Integer(0)
    if isinstance(s, sp.Union):
        for a in s.args:
            p = _first_point(a)
            if p is not None:
                return p
        return None
    if isinstance(s, sp.ImageSet):
        try:
            return s.lamda(0)
        except (TypeError, ValueError):
            return None
    if isinstance(s, sp.Complement):
        return _first_point(s.args[0])
    return None


#: where an undecided condition is searched for a witness (a sign change of a continuous u)
_WITNESS_GRID = np.linspace(-1000.0, 1000.0, 400001)


def _sign_change(u: sp.Expr, kind: str, region: sp.Set) -> Any | None:
    """A point where ``u`` ≤ 0 / < 0 / changes sign (so has a zero: u is continuous there),
    found on a fine grid of [-1000, 1000] inside ``region``; None if none is seen. A point
    found is a witness (up to float rounding); not finding one proves nothing."""
    fn = sp.lambdify(x, u, modules="numpy")
    with np.errstate(all="ignore"):
        v = np.broadcast_to(np.asarray(fn(_WITNESS_GRID), dtype=float), _WITNESS_GRID.shape)
    try:
        inside = np.asarray([bool(region.contains(sp.Float(t)))
                             for t in _WITNESS_GRID[::4000]])
    except TypeError:
        inside = np.ones(101, dtype=bool)
    mask = np.repeat(inside, 4000)[: v.size] if not inside.all() else np.ones(v.size, bool)
    if kind == "zero":
        s = np.sign(v)
        hits = np.flatnonzero(mask[:-1] & mask[1:] & np.isfinite(v[:-1]) & np.isfinite(v[1:])
                              & (s[:-1] * s[1:] <= 0))
    else:
        hits = np.flatnonzero(mask & ((v <= 0) if kind == "le" else (v < 0)))
    if not hits.size:
        return None
    return sp.Float(_WITNESS_GRID[hits[0]], 6)


def _solve(cond: Any, region: sp.Set) -> sp.Set:
    try:
        return sp.solveset(cond, x, region)
    except (NotImplementedError, ValueError, TypeError):
        return sp.ConditionSet(x, cond, region)


def _undefined_point(e: sp.Expr, region: sp.Set) -> tuple[Any, str] | None:
    """A point of ``region`` where ``e`` is undefined (with why), or None."""
    if region is sp.S.EmptySet or x not in e.free_symbols:
        return None
    if isinstance(e, sp.Piecewise):
        remaining = region
        for f, c in e.args:
            piece = remaining if c is sp.true else sp.Intersection(c.as_set(), remaining)
            found = _undefined_point(f, piece)
            if found is not None:
                return found
            remaining = sp.Complement(remaining, piece)
        return None
    bad: list[tuple[Any, str]] = []
    if isinstance(e, sp.Pow) and x in e.base.free_symbols:
        b, k = e.base, e.exp
        if x in k.free_symbols or not k.is_integer:
            # a real power needs a positive base (SymPy's principal branch is complex else)
            if x in k.free_symbols or k.is_negative:
                bad.append((b, "le", "a power with a non-positive base"))
            else:
                bad.append((b, "lt", "a fractional power of a negative number"))
        elif k.is_negative:
            bad.append((b, "zero", "division by zero"))
    elif isinstance(e, sp.log):
        bad.append((e.args[0], "le", "the logarithm of a non-positive number"))
    elif isinstance(e, sp.tan):
        bad.append((sp.cos(e.args[0]), "zero", "a pole of tan"))
    for u, kind, why in bad:
        cond = {"le": u <= 0, "lt": u < 0, "zero": sp.Eq(u, 0)}[kind]
        s = _solve(cond, region)
        p = _first_point(s)
        if p is None and isinstance(s, sp.ConditionSet):
            p = _sign_change(u, kind, region)  # SymPy cannot decide: look for a witness
        if p is not None:
            return p, why
    for a in e.args:
        if isinstance(a, sp.Expr):
            found = _undefined_point(a, region)
            if found is not None:
                return found
    return None


def _check_gradient_passes(d_expr: sp.Expr, text: str) -> None:
    """Refuse φ whose derivative is zero almost everywhere (``heaviside(x)``, a staircase):
    such a unit passes no gradient at all."""
    try:
        with effort_limit("check the derivative", _DOMAIN_SECONDS):
            pcs = pieces(d_expr)
            flat = all(sp.simplify(f) == 0 for _, f in pcs)
    except (EffortLimitError, TypeError, ValueError, NotImplementedError):
        return
    if flat:
        raise InvalidArgumentError(
            "activation", text,
            "φ′(x) is zero almost everywhere (a step function): the unit passes no gradient",
        )


#: where a user expression must be real and finite (with its derivative): a grid of step 1/20
#: on [-50, 50] with 0 itself (a sanity check, not a proof: the certified bounds are the proof)
_PROBE = np.union1d(np.linspace(-50.0, 50.0, 2001), [0.0])


def _check_real_on_the_line(act: Activation, text: str) -> None:
    """Refuse φ (or φ′) that is not a finite real number somewhere on the probe grid
    (sqrt(x), log(x), 1/x, x**(1/3), abs(x)**(1/2) …): an activation acts on all of ℝ."""
    with np.errstate(all="ignore"):
        views = (("φ", act(_PROBE)), ("φ′", act.grad(_PROBE)))
    for label, values in views:
        bad = ~np.isfinite(values)
        if bad.any():
            x0 = float(_PROBE[bad][0])
            v0 = float(values[bad][0])
            what = f"{label}(x) is not a finite real number" + (
                " (infinite or beyond float64)" if math.isinf(v0) else ""
            )
            raise InvalidArgumentError(
                "activation",
                text,
                f"{what} at x = {x0:g}; an activation and its "
                "derivative must be defined on the whole real line",
            )


#: effort limit of one exact re-evaluation of a non-finite float (seconds)
_REPAIR_SECONDS = 0.5
#: total time one array's repairs may take (seconds); the remaining points stay non-finite
_REPAIR_TOTAL = 2.0


def _repair_nonfinite(out: np.ndarray, u: np.ndarray, exact: Callable[[Any], Any]) -> np.ndarray:
    """Where the float formula of a user expression overflowed (inf or NaN at a finite input,
    e.g. exp(x) in x*tanh(log(1+exp(x))) at x = 1e3), evaluate it with mpmath instead.

    Points where the expression is genuinely not real (sqrt of a negative) stay NaN; after 32
    such points without a single repair the rest are left alone (a domain error, not an
    overflow), so a large array outside the domain costs no more than 32 mpmath calls."""
    flat_out, flat_u = out.reshape(-1), u.reshape(-1)
    failures = repaired = 0
    started = time.monotonic()
    for i in np.flatnonzero(~np.isfinite(flat_out) & np.isfinite(flat_u)):
        if (failures >= 32 and not repaired) or time.monotonic() - started > _REPAIR_TOTAL:
            break
        try:
            with effort_limit("repair a non-finite value by exact evaluation", _REPAIR_SECONDS):
                v = mpmath.mpmathify(exact(mpmath.mpf(float(flat_u[i]))))
        except (ValueError, ZeroDivisionError, OverflowError, TypeError, EffortLimitError):
            v = None
        if isinstance(v, mpmath.mpf) and mpmath.isfinite(v):
            flat_out[i] = float(v)
            repaired += 1
        else:
            failures += 1
    return out


def as_activation(value: Any, argument: str = "activation") -> Activation:
    """Coerce a name, expression string or Activation; errors name ``argument``."""
    if isinstance(value, Activation):
        return value
    if isinstance(value, str):
        return activation(value)
    raise InvalidArgumentError(argument, value, "expected an activation name, expression or object")
