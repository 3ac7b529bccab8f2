"""The mean-field maps as SymPy objects: :func:`variance_map`, :func:`chi_map`,
:func:`correlation_map`.

For an activation φ, weight variance σ_w²/n and bias variance σ_b² (z, z₁, z₂ ~ N(0, 1)
independent; Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232):

.. math::

    \\mathcal{V}(q) = \\sigma_w^2\\,\\mathbb{E}[\\varphi(\\sqrt q z)^2] + \\sigma_b^2,\\qquad
    \\chi(q) = \\sigma_w^2\\,\\mathbb{E}[\\varphi'(\\sqrt q z)^2],

    \\mathcal{C}(q, c) = \\frac{\\sigma_w^2\\,\\mathbb{E}[\\varphi(u_1)\\varphi(u_2)]
    + \\sigma_b^2}{\\mathcal{V}(q)},\\quad u_1 = \\sqrt q z_1,\\;
    u_2 = \\sqrt q\\,(c z_1 + \\sqrt{1 - c^2}\\, z_2).

q^l = 𝒱(q^{l−1}) is the forward recursion, E[(g^{l−1})²] = χ(q^l) E[(g^l)²] the backward
one on square layers, and 𝒞 maps the correlation of two inputs of equal second moment q
through one layer (at the fixed point q* it is Poole et al.'s c-map).

Each map is a SymPy ``Lambda``. Closed form first: positively homogeneous φ (identity,
ReLU, leaky ReLU/PReLU, symbolic slopes included) by structure (𝒞 by the arc-cosine kernel
of Cho & Saul 2009: E[relu(u₁)relu(u₂)] = q(√(1−c²) + (π − arccos c)c)/(2π)); other φ
with an exact Gaussian expectation (:func:`vgmath.gaussian_expectation`: erf, ELU, GELU, …)
through it. Otherwise the expectation stays an unevaluated ``Integral`` over z (over z₁, z₂
for 𝒞): exact as a formula, evaluated numerically on substitution (``.evalf()``) or by
``sympy.lambdify``. With ``modules="scipy"`` (scipy's ``quad``/``nquad``) the integrand runs
in floats, where a form such as sigmoid′ = e^{−x}/(1 + e^{−x})² is inf/inf far out and the
result nan; ``modules="mpmath"`` (and ``.evalf()``) has no overflow. The fast, stable
numbers are those of :func:`vgmath.predict`, which never lambdifies these integrals.
A Lambda has no ``method`` attribute: :func:`map_method` says which path was taken.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from ..core.effort import effort_limit
from ..core.errors import EffortLimitError, InvalidArgumentError
from ..symbolic.catalog import Activation, as_activation
from ..symbolic.parse import to_sympy_parameter
from ..symbolic.symbols import q as Q
from ..symbolic.symbols import x as X
from .gaussian import _exact
from .meanfield import homogeneous

__all__ = [
    "chi_map",
    "correlation_map",
    "correlation_symbol",
    "gaussian_integral",
    "map_method",
    "phi2_expectation",
    "variance_map",
]

#: The correlation c of two inputs, argument of :func:`correlation_map`.
correlation_symbol = sp.Symbol("c", real=True)
_Z = sp.Symbol("z", real=True)
_Z1 = sp.Symbol("z_1", real=True)
_Z2 = sp.Symbol("z_2", real=True)

METHOD_HOMOGENEOUS = "closed form (positively homogeneous φ)"
METHOD_EXACT = "closed form (exact Gaussian expectation)"
METHOD_INTEGRAL = "unevaluated integral (no closed form; numeric on substitution)"


def _density(z: sp.Symbol) -> sp.Expr:
    return sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)


def gaussian_integral(f: sp.Expr, q: sp.Expr = Q) -> sp.Integral:
    """E_z[f(√q z)] as an unevaluated ``Integral`` over z ∈ ℝ (the definition itself)."""
    return sp.Integral(f.subs(X, sp.sqrt(q) * _Z) * _density(_Z), (_Z, -sp.oo, sp.oo))


def _expectation(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str]:
    """(E_z[f(√q z)], method): the exact closed form when one is found within the effort
    limit, else the unevaluated integral."""
    try:
        with effort_limit("find a closed form of a Gaussian expectation", 10.0):
            exact = _exact(f, q)
    except EffortLimitError:
        exact = None
    if exact is not None:
        return exact[0], METHOD_EXACT
    return gaussian_integral(f, q), METHOD_INTEGRAL


def _square_moment(act: Activation, which: str, q: sp.Expr) -> tuple[sp.Expr, str]:
    """(E[φ(√q z)²], method) for ``which="phi"``, (E[φ′(√q z)²], method) for ``"dphi"``:
    only the one asked for is searched for a closed form (each search may take its effort
    limit)."""
    h = homogeneous(act)
    if h is not None:
        c2 = sp.factor(h.c2)
        return (c2 * q if which == "phi" else c2), METHOD_HOMOGENEOUS
    return _expectation((act.expr if which == "phi" else act.derivative) ** 2, q)


def phi2_expectation(act: Activation, q: sp.Expr = Q) -> tuple[sp.Expr, sp.Expr, str]:
    """(E[φ(√q z)²], E[φ′(√q z)²], method) as SymPy expressions in q."""
    phi2, m1 = _square_moment(act, "phi", q)
    dphi2, m2 = _square_moment(act, "dphi", q)
    return phi2, dphi2, m1 if m1 == m2 else METHOD_INTEGRAL


def _coerce(act: Any, sigma_w2: Any, sigma_b2: Any) -> tuple[Activation, sp.Expr, sp.Expr]:
    a = act if isinstance(act, Activation) else as_activation(act)
    sw = to_sympy_parameter("sigma_w2", sigma_w2)
    if sw.is_positive is False or (not sw.free_symbols and not sw.is_positive):
        raise InvalidArgumentError("sigma_w2", sigma_w2, "must be > 0")
    sb = to_sympy_parameter("sigma_b2", sigma_b2)
    if sb.is_negative:
        raise InvalidArgumentError("sigma_b2", sigma_b2, "must be >= 0")
    return a, sw, sb


def variance_map(act: Any, sigma_w2: Any = 1, sigma_b2: Any = 0) -> sp.Lambda:
    r"""The variance map :math:`q \mapsto \sigma_w^2 \mathbb{E}[\varphi(\sqrt q z)^2] +
    \sigma_b^2` as a SymPy ``Lambda`` in :data:`vgmath.q` (see the module docstring).

    ``act``: a catalog name, expression or :class:`~vgmath.Activation`; ``sigma_w2``,
    ``sigma_b2``: numbers or SymPy expressions in your own symbols.

    >>> import sympy as sp, vgmath as vg
    >>> s = sp.Symbol("s", positive=True)
    >>> vg.variance_map("relu", s)
    Lambda(q, q*s/2)
    >>> vg.variance_map("tanh", 1)(1).evalf(6)
    0.394295

    References: Poole et al. 2016, arXiv:1606.05340.
    """
    a, sw, sb = _coerce(act, sigma_w2, sigma_b2)
    phi2, _ = _square_moment(a, "phi", Q)
    return sp.Lambda(Q, sw * phi2 + sb)


def chi_map(act: Any, sigma_w2: Any = 1) -> sp.Lambda:
    r"""The gradient factor :math:`q \mapsto \chi(q) = \sigma_w^2
    \mathbb{E}[\varphi'(\sqrt q z)^2]` of one square layer, a SymPy ``Lambda`` in
    :data:`vgmath.q`: E[(g^{l−1})²] = χ(q^l) E[(g^l)²].

    >>> import sympy as sp, vgmath as vg
    >>> a, s = sp.symbols("a s", positive=True)
    >>> vg.chi_map(vg.activation("leaky_relu", slope=a), s)
    Lambda(q, s*(a**2 + 1)/2)

    References: Schoenholz et al. 2017, arXiv:1611.01232; He et al. 2015, arXiv:1502.01852.
    """
    a, sw, _ = _coerce(act, sigma_w2, 0)
    dphi2, _ = _square_moment(a, "dphi", Q)
    return sp.Lambda(Q, sw * dphi2)


def _relu_kernel(q: sp.Expr, c: sp.Expr) -> sp.Expr:
    """E[relu(u₁) relu(u₂)] (Cho & Saul 2009, arc-cosine kernel of degree 1)."""
    return q * (sp.sqrt(1 - c**2) + (sp.pi - sp.acos(c)) * c) / (2 * sp.pi)


def _cross(act: Activation, q: sp.Expr, c: sp.Expr) -> tuple[sp.Expr, str]:
    """(E[φ(u₁)φ(u₂)], method)."""
    h = homogeneous(act)
    if h is not None:
        # φ(u) = c₊ relu(u) − c₋ relu(−u); (u₁, −u₂) has correlation −c
        cp, cm = h.c_plus, h.c_minus
        if h.is_linear:
            return sp.factor(h.c2) * q * c, METHOD_HOMOGENEOUS
        value = (cp**2 + cm**2) * _relu_kernel(q, c) - 2 * cp * cm * _relu_kernel(q, -c)
        return sp.simplify(value), METHOD_HOMOGENEOUS
    u1 = sp.sqrt(q) * _Z1
    u2 = sp.sqrt(q) * (c * _Z1 + sp.sqrt(1 - c**2) * _Z2)
    integrand = act.expr.subs(X, u1) * act.expr.subs(X, u2) * _density(_Z1) * _density(_Z2)
    return (
        sp.Integral(integrand, (_Z2, -sp.oo, sp.oo), (_Z1, -sp.oo, sp.oo)),
        METHOD_INTEGRAL,
    )


def correlation_map(act: Any, sigma_w2: Any = 1, sigma_b2: Any = 0) -> sp.Lambda:
    r"""The correlation map :math:`(q, c) \mapsto (\sigma_w^2\mathbb{E}[\varphi(u_1)
    \varphi(u_2)] + \sigma_b^2)/\mathcal{V}(q)` of two inputs of equal second moment q and
    correlation c (see the module docstring), a SymPy ``Lambda`` in (:data:`vgmath.q`,
    :data:`correlation_symbol`). 𝒞(q, 1) = 1; at the fixed point q* its slope at c = 1 is
    χ(q*) (Schoenholz et al. 2017).

    >>> import vgmath as vg
    >>> vg.correlation_map("relu", 2)(1, 0)
    1/pi

    References: Poole et al. 2016, arXiv:1606.05340; Cho & Saul 2009 (NIPS), arc-cosine
    kernels.
    """
    a, sw, sb = _coerce(act, sigma_w2, sigma_b2)
    c = correlation_symbol
    cross, _ = _cross(a, Q, c)
    phi2, _ = _square_moment(a, "phi", Q)
    return sp.Lambda((Q, c), (sw * cross + sb) / (sw * phi2 + sb))


def map_method(act: Any, which: str = "variance") -> str:
    """Which path the map ``which`` (``"variance"``, ``"chi"``, ``"correlation"``) of ``act``
    takes: a closed form (and which) or the unevaluated integral."""
    a = act if isinstance(act, Activation) else as_activation(act)
    if which in ("variance", "chi"):
        expr, method = _square_moment(a, "phi" if which == "variance" else "dphi", Q)
        return METHOD_INTEGRAL if expr.has(sp.Integral) else method
    if which == "correlation":
        return _cross(a, Q, correlation_symbol)[1]
    raise InvalidArgumentError("which", which, "expected 'variance', 'chi' or 'correlation'")
