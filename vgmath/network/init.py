"""Initialisation rules as compositions of a fan rule, a scale (gain²) and a distribution.

Every rule gives the *variance* of a weight entry,

.. math::  \\mathrm{Var}(W_{ij}) = \\frac{\\text{scale}}{\\text{fan}(n_\\text{in}, n_\\text{out})},

with ``fan`` one of fan_in, fan_out, fan_avg = (n_in + n_out)/2 or fan_max, and ``scale`` the
square of the gain. Presets are just compositions (as optax's ``adam`` is a chain):

=========================  ===============  ========  ======================================
preset                     scale (gain²)    fan       reference
=========================  ===============  ========  ======================================
xavier / glorot            gain²            fan_avg   Glorot & Bengio 2010
he / kaiming               2/(1+a²)·gain²*  fan_in    He et al. 2015, arXiv:1502.01852
lecun                      gain²            fan_in    LeCun et al. 1998
orthogonal                 gain²            fan_max   Saxe et al. 2014, arXiv:1312.6120
custom                     σ_w²             fan_in    (mean-field convention)
=========================  ===============  ========  ======================================

(*) ``a`` is the leaky slope (``negative_slope``), 0 for ReLU; gain defaults to 1.

Naming convention: ``variance`` is always a variance, ``std`` a standard deviation, ``gain``
multiplies the standard deviation, ``sigma_w2`` is the mean-field σ_w² = fan_in·Var(W).
A uniform rule has bound a = √(3·Var); a truncated normal (at ±2 of its own standard
deviation) is drawn with std = √Var / √c, c = 1 − 4φ(2)/(2Φ(2) − 1) ≈ 0.7737, so that the
truncated draw has exactly the rule's variance (Keras' constant 0.87962566 = √c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..core.effort import effort_limit
from ..core.errors import EffortLimitError, InvalidArgumentError
from ..symbolic.parse import as_sympy, to_sympy_parameter
from ..symbolic.symbols import fan_in as FAN_IN
from ..symbolic.symbols import fan_out as FAN_OUT
from ..symbolic.typeset import Typeset, latex_expr

__all__ = ["INIT_SCHEMES", "TRUNCATION_VARIANCE_FACTOR", "Init", "as_init", "init_variance"]

MODES = ("fan_in", "fan_out", "fan_avg", "fan_max")
DISTRIBUTIONS = ("normal", "uniform", "truncated_normal", "orthogonal")

#: Variance of a standard normal truncated to [-2, 2]: 1 - 4 φ(2) / (2Φ(2) - 1), exact.
TRUNCATION_VARIANCE_FACTOR = 1 - 4 * sp.exp(-2) / sp.sqrt(2 * sp.pi) / sp.erf(sp.sqrt(2))


@dataclass(frozen=True)
class Init(Typeset):
    """A weight initialisation rule: ``Var(W_ij) = scale / fan(n_in, n_out)``.

    Build presets with ``Init.preset("he", negative_slope=0.1)`` or by name where a network
    takes ``init=``; a custom mean-field rule with ``Init.custom(sigma_w2=2)``.
    """

    name: str
    scale: sp.Expr
    mode: str = "fan_in"
    distribution: str = "normal"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidArgumentError("mode", self.mode, f"expected one of {', '.join(MODES)}")
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidArgumentError(
                "distribution", self.distribution, f"expected one of {', '.join(DISTRIBUTIONS)}"
            )
        object.__setattr__(self, "scale", to_sympy_parameter("scale", self.scale))
        if not _positive(self.scale):
            raise InvalidArgumentError("scale", self.scale, "must be > 0")

    # ---- construction
    @classmethod
    def custom(cls, sigma_w2: Any, *, distribution: str = "normal") -> Init:
        """Mean-field rule Var(W) = σ_w²/fan_in; σ_w² a positive number or a SymPy expression
        in positive symbols (``Init.custom(sigma_w2=sp.Symbol("s", positive=True))``)."""
        v = to_sympy_parameter("sigma_w2", sigma_w2)
        if not _positive(v):
            raise InvalidArgumentError("sigma_w2", sigma_w2, "must be > 0")
        return cls("custom", v, "fan_in", distribution)

    @classmethod
    def preset(cls, scheme: str, **options: Any) -> Init:
        """A named preset; see the module table. Options: gain, mode, negative_slope,
        distribution, sigma_w2 (custom only)."""
        return _preset(scheme, **options)

    # ---- views
    def fan(self, fan_in: Any = FAN_IN, fan_out: Any = FAN_OUT) -> sp.Expr:
        fi, fo = as_sympy("fan_in", fan_in), as_sympy("fan_out", fan_out)
        return {
            "fan_in": fi,
            "fan_out": fo,
            "fan_avg": (fi + fo) / 2,
            "fan_max": sp.Max(fi, fo),
        }[self.mode]

    def variance(self, fan_in: Any = FAN_IN, fan_out: Any = FAN_OUT) -> sp.Expr:
        """Var(W_ij) as a SymPy expression (exact for integer fans)."""
        return _tidy(self.scale / self.fan(fan_in, fan_out))

    def sigma_w2(self, fan_in: Any = FAN_IN, fan_out: Any = FAN_OUT) -> sp.Expr:
        """The mean-field σ_w² = fan_in · Var(W_ij)."""
        return _tidy(as_sympy("fan_in", fan_in) * self.variance(fan_in, fan_out))

    def uniform_bound(self, fan_in: Any = FAN_IN, fan_out: Any = FAN_OUT) -> sp.Expr:
        """Bound a of U(−a, a) with the rule's variance: a = √(3·Var)."""
        return sp.sqrt(3 * self.variance(fan_in, fan_out))

    @property
    def is_symbolic(self) -> bool:
        """True when the scale holds symbols of the user's (σ_w² = ``s``, a gain ``g``)."""
        return bool(self.scale.free_symbols)

    @property
    def gaussian(self) -> bool:
        """True when entries are i.i.d. Gaussian (the exact conditioned sampler applies)."""
        return self.distribution == "normal"

    def sample(
        self, rng: np.random.Generator, fan_in: int, fan_out: int, *, batch: tuple[int, ...] = (),
        dtype: Any = np.float64,
    ) -> np.ndarray:
        """Draw weight matrices of shape ``batch + (fan_out, fan_in)`` with this rule."""
        if self.is_symbolic:
            raise InvalidArgumentError(
                "init", str(self.scale), "a symbolic rule cannot be sampled: substitute numbers"
            )
        var = float(self.variance(fan_in, fan_out))
        shape = (*batch, fan_out, fan_in)
        if self.distribution == "normal":
            w = rng.standard_normal(shape, dtype=np.float64) * np.sqrt(var)
        elif self.distribution == "uniform":
            a = np.sqrt(3.0 * var)
            w = rng.uniform(-a, a, size=shape)
        elif self.distribution == "truncated_normal":
            std = np.sqrt(var / float(TRUNCATION_VARIANCE_FACTOR))
            w = _truncated_standard_normal(rng, shape) * std
        else:  # orthogonal (Haar, via QR with sign correction; Mezzadri 2007)
            n, m = max(fan_in, fan_out), min(fan_in, fan_out)
            g = rng.standard_normal((*batch, n, m))
            qm, r = np.linalg.qr(g)
            d = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
            d[d == 0] = 1.0
            qm = qm * d[..., None, :]
            if fan_out < fan_in:
                qm = np.swapaxes(qm, -1, -2)
            # rows/cols orthonormal: entry variance 1/max(fan); rescale to the rule's variance
            w = qm * np.sqrt(var * n)
        return w.astype(dtype, copy=False)

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """``Var(W_ij) = ...`` (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        return [("weight variance",
                 r"\operatorname{Var}(W_{ij}) = " + latex_expr(self.variance(), digits))]

    def __str__(self) -> str:
        suffix = "" if self.distribution in ("normal", self.name) else f"_{self.distribution}"
        return f"{self.name}{suffix}"


def _positive(v: sp.Expr) -> bool:
    """> 0 for a number; for an expression in symbols (taken to be positive reals), not
    provably ≤ 0."""
    if v.free_symbols:
        return v.is_positive is not False and v.is_real is not False
    return bool(v.is_positive)


def _tidy(expr: sp.Expr) -> sp.Expr:
    """``simplify`` for expressions in the fan symbols, within the effort limit (an exact but
    unsimplified expression when it runs out); numbers are left as SymPy's arithmetic made
    them — exact, and never handed to ``simplify``, which can take minutes on a large
    transcendental constant such as ``(e + π)**997/(π + 1)**999``."""
    if not expr.free_symbols:
        return expr
    try:
        with effort_limit("simplify a weight variance"):
            return sp.simplify(expr)
    except EffortLimitError:
        return expr


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal conditioned on |z| <= 2, by rejection (acceptance ≈ 95.4%)."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out


_SCHEMES: dict[str, tuple[str, str, str]] = {
    # alias: (canonical name, mode, distribution)
    "xavier": ("xavier", "fan_avg", "normal"),
    "glorot": ("xavier", "fan_avg", "normal"),
    "xavier_normal": ("xavier", "fan_avg", "normal"),
    "glorot_normal": ("xavier", "fan_avg", "normal"),
    "xavier_uniform": ("xavier", "fan_avg", "uniform"),
    "glorot_uniform": ("xavier", "fan_avg", "uniform"),
    "he": ("he", "fan_in", "normal"),
    "kaiming": ("he", "fan_in", "normal"),
    "he_normal": ("he", "fan_in", "normal"),
    "kaiming_normal": ("he", "fan_in", "normal"),
    "he_uniform": ("he", "fan_in", "uniform"),
    "kaiming_uniform": ("he", "fan_in", "uniform"),
    "lecun": ("lecun", "fan_in", "normal"),
    "lecun_normal": ("lecun", "fan_in", "normal"),
    "lecun_uniform": ("lecun", "fan_in", "uniform"),
    "orthogonal": ("orthogonal", "fan_max", "orthogonal"),
    "truncated_normal": ("lecun", "fan_in", "truncated_normal"),
    "custom": ("custom", "fan_in", "normal"),
}
#: The names (and aliases) ``init=`` accepts.
INIT_SCHEMES = tuple(_SCHEMES)


def _preset(scheme: str, **options: Any) -> Init:
    key = str(scheme).lower().replace("-", "_")
    if key not in _SCHEMES:
        raise InvalidArgumentError(
            "init", scheme, "unknown initialisation; known: " + ", ".join(INIT_SCHEMES)
        )
    name, mode, dist = _SCHEMES[key]
    allowed = {"gain", "mode", "distribution"}
    if name == "he":
        allowed |= {"negative_slope"}
    if name == "custom":
        allowed = {"sigma_w2", "distribution"}
    extra = set(options) - allowed
    if extra:
        bad = sorted(extra)[0]
        raise InvalidArgumentError(
            bad, options[bad], f"not an option of {name} (options: {', '.join(sorted(allowed))})"
        )
    dist = options.get("distribution", dist)
    if name == "custom":
        if "sigma_w2" not in options:
            raise InvalidArgumentError("sigma_w2", None, "custom initialisation needs sigma_w2")
        return Init.custom(options["sigma_w2"], distribution=dist)
    mode = options.get("mode", mode)
    gain = to_sympy_parameter("gain", options.get("gain", 1))
    if not _positive(gain):
        raise InvalidArgumentError("gain", options.get("gain"), "must be > 0")
    scale = gain**2
    if name == "he":
        a = to_sympy_parameter("negative_slope", options.get("negative_slope", 0))
        scale = scale * 2 / (1 + a**2)
    if name == "orthogonal" and dist != "orthogonal":
        raise InvalidArgumentError("distribution", dist, "orthogonal init is its own distribution")
    return Init(name, sp.nsimplify(scale) if scale.is_Float else scale, mode, dist)


def init_variance(
    scheme: str | Init, fan_in: Any = FAN_IN, fan_out: Any = FAN_OUT, **options: Any
) -> sp.Expr:
    """Var(W_ij) of an initialisation rule as a SymPy expression.

    >>> import vgmath as vg
    >>> vg.init_variance("xavier")
    2/(n_in + n_out)
    >>> vg.init_variance("he", fan_in=256)
    1/128
    >>> vg.init_variance("he", negative_slope=sp.Rational(1, 10))
    200/(101*n_in)

    References: Glorot & Bengio 2010 (AISTATS); He et al. 2015, arXiv:1502.01852.
    """
    rule = scheme if isinstance(scheme, Init) else _preset(scheme, **options)
    if isinstance(scheme, Init) and options:
        raise InvalidArgumentError("options", options, "options go with a scheme name, not an Init")
    for arg, v in (("fan_in", fan_in), ("fan_out", fan_out)):
        sv = as_sympy(arg, v)
        if sv.is_number and not (sv.is_integer and sv.is_positive):
            raise InvalidArgumentError(arg, v, "must be a positive integer")
    return rule.variance(fan_in, fan_out)


def as_init(value: Any, argument: str = "init") -> Init:
    """Coerce a scheme name or an :class:`Init`; errors name ``argument``."""
    if isinstance(value, Init):
        return value
    if isinstance(value, str):
        return _preset(value)
    if isinstance(value, dict):
        d = dict(value)
        scheme = d.pop("scheme", None)
        if scheme is None:
            raise InvalidArgumentError(argument, value, "a dict init needs a 'scheme' key")
        return _preset(scheme, **d)
    raise InvalidArgumentError(argument, value, "expected a scheme name or a vgmath.Init")
