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

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..core.effort import effort_limit
from ..core.errors import (
    EffortLimitError,
    InvalidArgumentError,
    NumericalError,
    UnknownActivationError,
    VgmathError,
)
from .domain import (
    _check_domain,
    _check_gradient_passes,
    _float_numbers,
    _mp_lambdify,
    _repair_nonfinite,
)
from .fused import FusedFn, fused_kernel
from .parse import expression_text, parse_expression, to_sympy_number, to_sympy_parameter
from .piecewise import breakpoints as _breakpoints
from .specs import _ALIASES, _CATALOG, ArrayFn, _Spec, activations
from .symbols import x
from .typeset import Typeset, latex_expr

__all__ = ["Activation", "activation", "activations", "as_activation", "to_sympy_number"]


# --------------------------------------------------------------------------- the object


#: Default threshold of :meth:`Activation.saturation_region` (|φ′| < 1/100).
_DEFAULT_EPS = sp.Rational(1, 100)


@dataclass(frozen=True, eq=False)
class Activation(Typeset):
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
    _fg: FusedFn | None = field(default=None, repr=False, compare=False)

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

    def value_and_grad(
        self, xs: np.ndarray, out: np.ndarray, grad_out: np.ndarray,
        scratch: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """φ(xs) into ``out`` and φ′(xs) into ``grad_out`` (float32 or float64 arrays of xs's
        shape and dtype); ``scratch`` two more such arrays, overwritten. Catalog activations
        use a fused kernel (:mod:`vgmath.symbolic.fused`) that allocates no temporaries;
        the values agree with ``act(xs)`` and ``act.grad(xs)`` to a few ulp."""
        if self._fg is not None:
            self._fg(xs, out, grad_out, scratch[0], scratch[1])
            return
        np.copyto(out, self(xs), casting="unsafe")
        np.copyto(grad_out, self.grad(xs), casting="unsafe")

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
    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """``\\varphi(x) = ...`` (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        return [("activation", r"\varphi(x) = " + latex_expr(self.expr, digits, max_chars=10**9))]

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
    return activation(name, **{k: to_sympy_parameter(k, v) for k, v in params.items()})


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
    variable ``x``, named parameters given as keyword arguments) — never ``eval``-ed. A
    SymPy expression in :data:`vgmath.x` is accepted too, under the same rules: it is written
    in the parser's grammar (``Max``, ``Min``, ``Abs``, ``Heaviside``, ``Piecewise``
    included; :func:`vgmath.symbolic.parse.expression_text`) and that text is parsed, so
    ``act.source`` holds it.

    >>> vg.activation(sp.Max(vg.x, 0)).source
    'max(0, x)'
    """
    if isinstance(name_or_expression, Activation):
        if params:
            raise InvalidArgumentError(
                "params", params, "cannot re-parameterise an existing Activation object"
            )
        return name_or_expression
    if isinstance(name_or_expression, sp.Expr):
        # SymPy in: written in the parser's grammar and read by the same door as user text
        name_or_expression = expression_text(name_or_expression)
    if not isinstance(name_or_expression, str):
        raise InvalidArgumentError(
            "activation", name_or_expression,
            "expected a catalog name, an expression string or a SymPy expression in vgmath.x",
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
        v = to_sympy_parameter(pname, params[pname]) if pname in params else p.default
        p.validate(pname, v)
        values[pname] = v
    expr = spec.sym(**values)
    symbolic = sorted(k for k, v in values.items() if v.free_symbols)
    if symbolic:
        # a symbolic parameter (a slope ``a``): the SymPy views and the theory work, the
        # NumPy kernels need numbers
        f = df = _needs_numbers(spec.name, symbolic[0], values[symbolic[0]])
        fg = None
    else:
        floats = {k: float(v) for k, v in values.items()}
        f, df = spec.numpy(**floats)
        fg = fused_kernel(spec.name, floats)
    return Activation(
        name=spec.name,
        expr=expr,
        params=values,
        _f=f,
        _df=df,
        doc=spec.doc,
        reference=spec.reference,
        _fg=fg,
    )


def _needs_numbers(name: str, param: str, value: sp.Expr) -> ArrayFn:
    def refuse(u: np.ndarray) -> np.ndarray:
        raise InvalidArgumentError(
            param, value, f"{name} has a symbolic parameter: substitute a number before "
            "evaluating it on arrays (vg.activation(name, **{param: number}))"
        )

    return refuse


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


def as_activation(value: Any, argument: str = "activation") -> Activation:
    """Coerce a name, expression string or Activation; errors name ``argument``."""
    if isinstance(value, Activation):
        return value
    if isinstance(value, (str, sp.Expr)):
        return activation(value)
    raise InvalidArgumentError(argument, value, "expected an activation name, expression or object")
