"""Gaussian expectations E[f(√q z)], z ~ N(0, 1): exact, numeric with an error bound, series, fast.

Mean-field signal propagation (Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
arXiv:1611.01232) reduces a deep network at initialisation to one-dimensional Gaussian
integrals of the activation φ and its derivative,

.. math::

    \\mathbb{E}_z[\\varphi(\\sqrt{q} z)^2],\\qquad \\mathbb{E}_z[\\varphi'(\\sqrt{q} z)^2],
    \\qquad z \\sim \\mathcal{N}(0, 1),

and the two-dimensional correlation map E[φ(u₁)φ(u₂)]. This module evaluates them three ways:

* :class:`GaussianMoments` — a fast, vectorised evaluator for depth profiles (closed forms for
  the ReLU family, identity and erf; otherwise a fixed composite Gauss–Legendre rule split at
  the kinks, verified on construction);
* :func:`gaussian_expectation` — exact SymPy results where a closed form exists, otherwise
  adaptive quadrature split at the kinks with an error estimate (:class:`GaussianResult`);
* :func:`gaussian_series` — the small-q Taylor series.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray
from scipy import integrate

from ..core.errors import InvalidArgumentError, NumericalError
from ..symbolic.activation import Activation, as_activation
from ..symbolic.parse import to_sympy_number
from ..symbolic.piecewise import pieces
from ..symbolic.symbols import q as Q_SYMBOL
from ..symbolic.symbols import x as X

__all__ = [
    "CLOSED_FORM_HOOKS",
    "GaussianMoments",
    "GaussianResult",
    "cross_check",
    "expectation_method",
    "gaussian_expectation",
    "gaussian_series",
    "moments",
]

FloatArray = NDArray[np.float64]
ArrayFn = Callable[[FloatArray], FloatArray]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------- the fixed rule


class _Rule:
    """Composite Gauss–Legendre rule for E[g(m + s z)], z ~ N(0, 1), respecting kinks.

    The z-range [−K, K] (K = 10: the Gaussian tail beyond it, even weighted by z⁴, is below
    1e-18 of the mass; faster growth is refused by the construction-time check) is cut at

    * a fixed z-grid (spacing ``h``), which resolves the Gaussian factor e^{−z²/2};
    * the images (p − m)/s of fixed points p of the activation's argument: its kinks and a
      geometric x-grid 0, ±2^k (k = kmin..kmax), which resolves features of φ on the scale
      of its own argument — e.g. sigmoid(√q z) is a near step of width 1/√q for q = 1e4.

    Each sub-interval gets an n-point Gauss–Legendre rule. Intervals that collapse (a point
    outside [−K, K] is clipped to the end) get zero weight, so the node array has a fixed
    shape and the rule is fully vectorised over (m, s).
    """

    def __init__(
        self, kinks: tuple[float, ...], *, n: int = 16, h: float = 2.0, kmin: int = -4,
        kmax: int = 9, K: float = 10.0,
    ) -> None:
        self.K = K
        self.n = n
        self.kinks = kinks
        t, w = np.polynomial.legendre.leggauss(n)
        self._t = t
        self._w = w * _INV_SQRT_2PI
        m = round(2 * self.K / h)
        self._zgrid = np.linspace(-self.K, self.K, m + 1)
        geo = 2.0 ** np.arange(kmin, kmax + 1)
        xp = {0.0, *kinks, *geo.tolist(), *(-geo).tolist()}
        self._xpts = np.array(sorted(xp))

    def nodes(
        self, m: FloatArray, s: FloatArray, extra: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Nodes z (shape (N, M)) and weights (density included) for each pair (m_i, s_i).

        ``extra`` adds split points (in z, the same for every row).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            pz = (self._xpts - m[:, None]) / s[:, None]
        pz[np.isnan(pz)] = self.K
        parts = [np.broadcast_to(self._zgrid, (m.shape[0], self._zgrid.size)), pz]
        if extra is not None:
            parts.append(np.broadcast_to(extra, (m.shape[0], extra.size)))
        pts = np.concatenate(parts, 1)
        np.clip(pts, -self.K, self.K, out=pts)
        pts.sort(axis=1)
        half = 0.5 * (pts[:, 1:] - pts[:, :-1])
        mid = 0.5 * (pts[:, 1:] + pts[:, :-1])
        z = (mid[:, :, None] + half[:, :, None] * self._t).reshape(m.shape[0], -1)
        w = (half[:, :, None] * self._w).reshape(m.shape[0], -1) * np.exp(-0.5 * z * z)
        return z, w

    def centred(self, s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Nodes and weights for E[g(s z)] (m = 0)."""
        return self.nodes(np.zeros_like(s), s)


# --------------------------------------------------------------------------- interpolation in log q


class _Table:
    """Piecewise Chebyshev interpolant of a moment m(q) in t = ln q on [ln 1e-9, ln 1e5].

    A Gaussian moment E[g(√q z)] = ∫ g(x) e^{−x²/(2q)} dx/√(2πq) is analytic in q for
    Re q > 0, i.e. in the strip |Im t| < π/2. On pieces of width ≈ 1 the Bernstein ellipse
    reaching that strip has ρ ≈ 6.4, so degree 20 interpolates to ~ρ^{−20} ≈ 1e-16 of the
    piece's magnitude. The interpolant is checked on construction at one off-node point per
    piece against the rule (a disagreement above 1e-13 of the piece's magnitude, plus the
    rule's rounding floor 1e-15·E|g|, raises :class:`NumericalError`).
    A scalar costs a few microseconds (pure-Python Clenshaw), which is what makes
    1000-layer profiles for the whole catalog cheap.
    """

    T0 = math.log(1e-9)
    T1 = math.log(1e5)
    P = 32
    D = 20

    def __init__(
        self,
        fn: Callable[[FloatArray], FloatArray],
        abs_fn: Callable[[FloatArray], FloatArray],
        *,
        label: str,
    ) -> None:
        self._fn = fn
        self.width = (self.T1 - self.T0) / self.P
        d1 = self.D + 1
        theta = np.pi * (np.arange(d1) + 0.5) / d1
        y = np.cos(theta)
        t = self.T0 + self.width * (np.arange(self.P)[:, None] + (y + 1) / 2)
        vals = fn(np.exp(t).reshape(-1)).reshape(self.P, d1)
        basis = np.cos(np.outer(np.arange(d1), theta)) * (2.0 / d1)
        basis[0] /= 2
        self._coef = vals @ basis.T  # (P, D+1): Chebyshev coefficients per piece
        self._coef_rows = self._coef.tolist()
        # check at an off-node point of every piece
        yc = 0.3711
        tc = self.T0 + self.width * (np.arange(self.P) + (yc + 1) / 2)
        exact = fn(np.exp(tc))
        approx = self.vector(np.exp(tc))
        # relative to the piece's magnitude, with the rounding floor 1e-15·E|g| of the rule
        scale = np.max(np.abs(vals), axis=1)
        bad = np.abs(approx - exact) > 1e-13 * scale + 1e-15 * abs_fn(np.exp(tc)) + 1e-300
        if np.any(bad):
            worst = float(np.max(np.abs(approx - exact) / np.maximum(scale, 1e-300)))
            raise NumericalError(
                f"the log-q interpolant of {label} reaches only {worst:.1e} relative accuracy"
            )

    def scalar(self, q: float) -> float | None:
        """m(q) for one q in the table's range, else None."""
        u = (math.log(q) - self.T0) / self.width
        if not 0.0 <= u <= self.P:
            return None
        k = min(int(u), self.P - 1)
        y = 2.0 * (u - k) - 1.0
        c = self._coef_rows[k]
        y2 = 2.0 * y
        b1 = b2 = 0.0
        for j in range(self.D, 0, -1):
            b1, b2 = c[j] + y2 * b1 - b2, b1
        return c[0] + y * b1 - b2

    def vector(self, q: FloatArray) -> FloatArray:
        """m(q) for a flat array (entries outside the range use the rule directly)."""
        u = (np.log(q) - self.T0) / self.width
        inside = (u >= 0.0) & (u <= self.P)
        k = np.minimum(u.astype(np.int64), self.P - 1)
        k[~inside] = 0
        y = 2.0 * (u - k) - 1.0
        c = self._coef[k]
        y2 = 2.0 * y
        b1 = np.zeros_like(y)
        b2 = np.zeros_like(y)
        for j in range(self.D, 0, -1):
            b1, b2 = c[:, j] + y2 * b1 - b2, b1
        out = c[:, 0] + y * b1 - b2
        if not np.all(inside):
            out[~inside] = self._fn(q[~inside])
        return out


# --------------------------------------------------------------------------- closed forms (numeric)


def _arccos_kernel(q: FloatArray, c: FloatArray) -> FloatArray:
    """E[relu(u₁) relu(u₂)] = q/(2π) (√(1−c²) + (π − arccos c) c) (Cho & Saul 2009, n = 1)."""
    return q / (2 * np.pi) * (np.sqrt(np.maximum(1 - c * c, 0.0)) + (np.pi - np.arccos(c)) * c)


def _step_kernel(c: FloatArray) -> FloatArray:
    """E[H(u₁) H(u₂)] = (π − arccos c)/(2π) (Cho & Saul 2009, n = 0)."""
    return (np.pi - np.arccos(c)) / (2 * np.pi)


class _ClosedForms:
    """Vectorised closed forms of the seven moments for one activation (or absent)."""

    def __init__(self, **fns: Callable[..., FloatArray]) -> None:
        self.fns = fns


def _closed_identity() -> _ClosedForms:
    return _ClosedForms(
        phi2=lambda q: q,
        dphi2=lambda q: np.ones_like(q),
        dphi4=lambda q: np.ones_like(q),
        z2dphi2=lambda q: np.ones_like(q),
        phi_mean=lambda q: np.zeros_like(q),
        dphi_mean=lambda q: np.ones_like(q),
        cross=lambda q, c: q * c,
        dcross=lambda q, c: np.ones_like(q * c),
        d_phi2_dq=lambda q: np.ones_like(q),
    )


def _closed_leaky(a: float) -> _ClosedForms:
    """φ = relu(x) − a·relu(−x); relu is a = 0.

    E[φ²] = (1+a²) q/2, E[φ′^k] = (1+a^k)/2, E[φ] = (1−a)√(q/2π), and the cross moments from
    the arc-cosine kernels K(c) of Cho & Saul 2009: E[φφ] = (1+a²)K₁(c) − 2a K₁(−c),
    E[φ′φ′] = (1+a²)K₀(c) + 2a K₀(−c).
    """
    return _ClosedForms(
        phi2=lambda q: (1 + a * a) * q / 2,
        dphi2=lambda q: np.full_like(q, (1 + a * a) / 2),
        dphi4=lambda q: np.full_like(q, (1 + a**4) / 2),
        z2dphi2=lambda q: np.full_like(q, (1 + a * a) / 2),
        phi_mean=lambda q: (1 - a) * np.sqrt(q / (2 * np.pi)),
        dphi_mean=lambda q: np.full_like(q, (1 + a) / 2),
        cross=lambda q, c: (1 + a * a) * _arccos_kernel(q, c) - 2 * a * _arccos_kernel(q, -c),
        dcross=lambda q, c: (1 + a * a) * _step_kernel(c) + 2 * a * _step_kernel(-c),
        d_phi2_dq=lambda q: np.full_like(q, (1 + a * a) / 2),
    )


def _closed_erf() -> _ClosedForms:
    """φ = erf. E[erf(u₁)erf(u₂)] = (2/π) asin(2qc/(1+2q)) (Williams 1997, Neural Comput.
    10(5)); φ′ = (2/√π)e^{−x²} gives E[φ′(u₁)φ′(u₂)] = (4/π)/√((1+2q)² − 4q²c²),
    E[φ′⁴] = 16/(π²√(1+8q)), E[φ′] = (2/√π)/√(1+2q)."""
    return _ClosedForms(
        phi2=lambda q: (2 / np.pi) * np.arcsin(2 * q / (1 + 2 * q)),
        dphi2=lambda q: 4 / (np.pi * np.sqrt(1 + 4 * q)),
        dphi4=lambda q: 16 / (np.pi**2 * np.sqrt(1 + 8 * q)),
        # E[z² e^{−2qz²}] = (1 + 4q)^{−3/2}
        z2dphi2=lambda q: 4 / (np.pi * (1 + 4 * q) ** 1.5),
        phi_mean=lambda q: np.zeros_like(q),
        dphi_mean=lambda q: 2 / np.sqrt(np.pi * (1 + 2 * q)),
        cross=lambda q, c: (2 / np.pi) * np.arcsin(2 * q * c / (1 + 2 * q)),
        # (1+2q)² − 4q²c² factored, so that c → 1 does not cancel
        dcross=lambda q, c: 4 / (np.pi * np.sqrt((1 + 2 * q * (1 - c)) * (1 + 2 * q * (1 + c)))),
        d_phi2_dq=lambda q: 4 / (np.pi * (1 + 2 * q) * np.sqrt(1 + 4 * q)),
    )


def _closed_forms_for(act: Activation) -> _ClosedForms | None:
    if act.source:  # a user expression: no catalog closed form
        return None
    if act.name == "identity":
        return _closed_identity()
    if act.name == "relu":
        return _closed_leaky(0.0)
    if act.name == "leaky_relu":
        return _closed_leaky(float(act.params["slope"]))
    if act.name == "erf":
        return _closed_erf()
    return None


# --------------------------------------------------------------------------- the evaluator


def _as_q(q: ArrayLike, argument: str = "q") -> FloatArray:
    a = np.asarray(q, dtype=np.float64)
    if not np.all(a > 0) or not np.all(np.isfinite(a)):
        raise InvalidArgumentError(argument, q, "every q must be a finite number > 0")
    return a


class GaussianMoments:
    """Vectorised Gaussian moments of one activation φ, for depth profiles.

    Every method takes q > 0 (a scalar or a NumPy array; the result has q's shape):

    ================  ============================================================
    ``phi2(q)``       E[φ(√q z)²]          — the forward variance map
    ``dphi2(q)``      E[φ′(√q z)²]         — χ = σ_w² E[φ′²]
    ``dphi4(q)``      E[φ′(√q z)⁴]         — finite-width fluctuations
    ``z2dphi2(q)``    E[z² φ′(√q z)²]      — finite-width forward/backward coupling
    ``phi_mean(q)``   E[φ(√q z)]
    ``dphi_mean(q)``  E[φ′(√q z)]
    ``d_phi2_dq(q)``  d/dq E[φ(√q z)²] = E[z φ(√q z) φ′(√q z)]/√q
    ``cross(q, c)``   E[φ(u₁)φ(u₂)]        — the correlation map (Poole et al. 2016)
    ``dcross(q, c)``  E[φ′(u₁)φ′(u₂)]      — χ_c (Schoenholz et al. 2017)
    ================  ============================================================

    with z ~ N(0, 1) and (u₁, u₂) centred Gaussian, E[u₁²] = E[u₂²] = q, E[u₁u₂] = qc.

    Closed forms are used for identity, relu, leaky_relu and erf, which are numerically
    stable for every q. Every other activation uses a fixed composite Gauss–Legendre rule
    (:class:`_Rule`) split at the kinks b/√q and at the images of a geometric grid of φ's
    argument, accurate to ~1e-14 relative for q in ``Q_RANGE`` — including ELU, SELU,
    hard_tanh and hard_sigmoid, whose exact closed forms (see :func:`gaussian_expectation`)
    cancel catastrophically in floating point at small q (q/2 − eˣerfc + … for ELU). The rule
    is checked on construction against a rule of twice the order at 29 probe values of q
    (a disagreement above 1e-12 raises :class:`NumericalError`), and the one-dimensional
    moments are then tabulated once per moment as Chebyshev interpolants in ln q
    (:class:`_Table`, itself checked), so a scalar call costs a few microseconds.

    ``d_phi2_dq`` uses d/dq φ(√q z)² = z φ(√q z) φ′(√q z)/√q under the integral, which needs
    no φ″ and is exact across kinks (φ² is absolutely continuous).

    The cross moments write u₂ = √q (c z₁ + √(1−c²) z₂) and integrate z₂ for each outer node
    z₁ with the same rule, split at the kinks of the inner integrand; c = ±1 reduce exactly to
    one-dimensional integrals (``cross(q, 1) == phi2(q)``). They cost milliseconds per (q, c)
    (the one-dimensional moments cost microseconds: they are interpolated in log q).

    Outside ``Q_RANGE`` = [1e-9, 1e5] the rule is applied directly, without the check.

    ``closed_forms=False`` forces the quadrature rule even where a closed form exists (to
    cross-check one against the other); ``check=False`` skips the construction-time check.

    >>> import vgmath as vg
    >>> from vgmath.theory.gaussian import moments
    >>> m = moments(vg.activation("tanh"))
    >>> round(m.dphi2(1.0), 12)
    0.464402902448
    """

    #: the q range over which the rule and its interpolant are verified on construction
    Q_RANGE = (1e-9, 1e5)

    def __init__(
        self, act: Activation | str, *, closed_forms: bool = True, check: bool = True
    ) -> None:
        act = as_activation(act)
        self.activation = act
        self._f: ArrayFn = act._f
        self._df: ArrayFn = act._df
        kinks = tuple(float(b) for b in act.breakpoints)
        self._rule = _Rule(kinks)
        # the 2-D cross moments use a lighter rule on both axes (12 nodes per interval, x-grid
        # 2^-3..2^7): the same accuracy on the catalog's closed forms (Cho & Saul, Williams)
        # and Mehler expansions in the tests, at half the cost
        self._cross_rule = _Rule(kinks, n=12, kmin=-3, kmax=7)
        self._closed = _closed_forms_for(act) if closed_forms else None
        self._tables: dict[str, _Table] = {}
        self.method = "closed form" if self._closed else "composite Gauss-Legendre split at kinks"
        if check and self._closed is None:
            self._self_check()

    # ---- the generic rule
    def _integrand(self, name: str) -> Callable[[FloatArray, FloatArray], FloatArray]:
        """g(z, u) with u = √q z, such that the moment is E[g] (÷√q for d_phi2_dq)."""
        f, df = self._f, self._df
        integrands: dict[str, Callable[[FloatArray, FloatArray], FloatArray]] = {
            "phi2": lambda z, u: f(u) ** 2,
            "dphi2": lambda z, u: df(u) ** 2,
            "dphi4": lambda z, u: df(u) ** 4,
            "z2dphi2": lambda z, u: z * z * df(u) ** 2,
            "phi_mean": lambda z, u: f(u),
            "dphi_mean": lambda z, u: df(u),
            "d_phi2_dq": lambda z, u: z * f(u) * df(u),
        }
        return integrands[name]

    def _numeric(self, name: str, q: FloatArray, *, absolute: bool = False) -> FloatArray:
        """The moment ``name`` by the rule, for a flat array of q.

        ``absolute=True`` integrates |g| instead: E[|g|]·(a few ulp) is the rounding floor of
        the signed integral (a mean that nearly cancels, like E[elu(√q z)] ≈ q/4 for small q
        from terms of size √q, cannot be more accurate than that).
        """
        g = self._integrand(name)
        s = np.sqrt(q)
        z, w = self._rule.centred(s)
        # the activation kernels are built to saturate correctly through overflowing
        # intermediates (e.g. x³ in gelu_tanh at huge q); a NaN is still caught below
        with np.errstate(over="ignore", under="ignore"):
            vals = g(z, s[:, None] * z)
        if absolute:
            vals = np.abs(vals)
        out = np.einsum("ij,ij->i", w, vals)
        if not np.all(np.isfinite(out)):
            bad = q[~np.isfinite(out)][0]
            raise NumericalError(
                f"E[{name}] of {self.activation.label} is not finite at q = {bad:g}"
            )
        return out / s if name == "d_phi2_dq" else out

    def _eval(self, name: str, q: ArrayLike) -> Any:
        if isinstance(q, (float, int)) and not isinstance(q, bool):
            # scalar fast path: no array round trip
            if not (q > 0 and math.isfinite(q)):
                raise InvalidArgumentError("q", q, "every q must be a finite number > 0")
            if self._closed is not None:
                return float(self._closed.fns[name](float(q)))
            v = self._table(name).scalar(float(q))
            if v is not None:
                return v
            return float(self._numeric(name, np.array([float(q)]))[0])
        qa = _as_q(q)
        flat = qa.reshape(-1)
        if self._closed is not None:
            out = np.asarray(self._closed.fns[name](flat), dtype=np.float64)
        else:
            out = self._table(name).vector(flat)
        return out.reshape(qa.shape) if qa.ndim else float(out[0])

    def _table(self, name: str) -> _Table:
        table = self._tables.get(name)
        if table is None:
            table = _Table(
                lambda q: self._numeric(name, q),
                lambda q: self._numeric(name, q, absolute=True),
                label=f"{self.activation.label} {name}",
            )
            self._tables[name] = table
        return table

    def _self_check(self) -> None:
        """The rule against one of twice the order on a finer grid, and the truncation at
        |z| = K: both rules share it, so the integrand there must be negligible (it is not
        for, say, φ = eˣ at large q, whose mass sits at z = 2√q)."""
        probe = np.exp(np.linspace(_Table.T0, _Table.T1, 29))
        fine = _Rule(self._rule.kinks, n=2 * self._rule.n, h=self._rule.K / 10, kmin=-7, kmax=12)
        edge = np.array([-self._rule.K, self._rule.K])
        for name in ("phi2", "dphi2", "dphi4"):
            coarse_v = self._numeric(name, probe)
            s = np.sqrt(probe)[:, None]
            density = _INV_SQRT_2PI * math.exp(-(self._rule.K**2) / 2)
            with np.errstate(over="ignore", under="ignore"):
                at_edge = np.abs(self._integrand(name)(edge, s * edge))
            tail = np.max(at_edge, axis=1) * density
            if not np.all(tail <= 1e-16 * np.abs(coarse_v)):
                bad = float(probe[np.argmax(~(tail <= 1e-16 * np.abs(coarse_v)))])
                raise NumericalError(
                    f"E[{name}] of {self.activation.label} at q = {bad:.3g}: the integrand is "
                    f"not negligible at |z| = {self._rule.K:g} (it grows too fast for the fixed "
                    "rule); use gaussian_expectation"
                )
            saved, self._rule = self._rule, fine
            try:
                fine_v = self._numeric(name, probe)
            finally:
                self._rule = saved
            scale = np.maximum(np.abs(fine_v), 1e-300)
            err = np.max(np.abs(coarse_v - fine_v) / scale)
            if not err < 1e-12:
                raise NumericalError(
                    f"the Gaussian rule for {self.activation.label} reaches only {err:.1e} "
                    f"relative accuracy for E[{name}] on q in [1e-9, 1e5]"
                )

    # ---- public moments
    def phi2(self, q: ArrayLike) -> Any:
        """E[φ(√q z)²]."""
        return self._eval("phi2", q)

    def dphi2(self, q: ArrayLike) -> Any:
        """E[φ′(√q z)²]."""
        return self._eval("dphi2", q)

    def dphi4(self, q: ArrayLike) -> Any:
        """E[φ′(√q z)⁴]."""
        return self._eval("dphi4", q)

    def z2dphi2(self, q: ArrayLike) -> Any:
        """E[z² φ′(√q z)²] (the finite-width coupling of a layer's forward and backward use
        of the same weights; see :func:`vgmath.theory.finite_width.log_chi_correction`)."""
        return self._eval("z2dphi2", q)

    def phi_mean(self, q: ArrayLike) -> Any:
        """E[φ(√q z)]."""
        return self._eval("phi_mean", q)

    def dphi_mean(self, q: ArrayLike) -> Any:
        """E[φ′(√q z)]."""
        return self._eval("dphi_mean", q)

    def d_phi2_dq(self, q: ArrayLike) -> Any:
        """d/dq E[φ(√q z)²] = E[z φ(√q z) φ′(√q z)]/√q (= E[φ′² + φφ″] away from kinks)."""
        return self._eval("d_phi2_dq", q)

    def cross(self, q: ArrayLike, c: ArrayLike) -> Any:
        """E[φ(u₁)φ(u₂)], (u₁, u₂) centred Gaussian with variances q and correlation c."""
        return self._cross("cross", q, c)

    def dcross(self, q: ArrayLike, c: ArrayLike) -> Any:
        """E[φ′(u₁)φ′(u₂)], (u₁, u₂) centred Gaussian with variances q and correlation c."""
        return self._cross("dcross", q, c)

    def _cross(self, name: str, q: ArrayLike, c: ArrayLike) -> Any:
        qa = _as_q(q)
        ca = np.asarray(c, dtype=np.float64)
        if not (np.all(np.abs(ca) <= 1) and np.all(np.isfinite(ca))):
            raise InvalidArgumentError("c", c, "a correlation must lie in [-1, 1]")
        qb, cb = np.broadcast_arrays(qa, ca)
        shape = qb.shape
        qf, cf = qb.reshape(-1).copy(), cb.reshape(-1).copy()
        if self._closed is not None:
            out = self._closed.fns[name](qf, cf)
        else:
            g = self._f if name == "cross" else self._df
            diag = "phi2" if name == "cross" else "dphi2"
            out = np.empty_like(qf)
            with np.errstate(over="ignore", under="ignore"):
                for i in range(qf.size):
                    if cf[i] == 1.0:  # u₁ = u₂: exactly the one-dimensional moment
                        out[i] = self._eval(diag, float(qf[i]))
                    else:
                        out[i] = self._cross_one(g, qf[i], cf[i])
            if not np.all(np.isfinite(out)):
                raise NumericalError(f"{name} of {self.activation.label} is not finite")
        return out.reshape(shape) if shape else float(out[0])

    def _cross_one(self, g: ArrayFn, q: float, c: float) -> float:
        rule = self._cross_rule
        s = math.sqrt(q)
        sc = math.sqrt((1 - c) * (1 + c))
        extra = None
        if 0.0 < abs(c) < 1.0 and rule.kinks:
            # The inner mean E[g(m + s·sc·z₂)] smooths each kink b over a width
            # eps = sc/|c| (in z₁) around z₁ = b/(√q c): refine geometrically towards it,
            # from eps/8 out to the grid's own scale (ratio 2, like the x-grid).
            eps = sc / abs(c)
            steps = eps * 2.0 ** np.arange(-3, max(2, math.ceil(math.log2(8.0 / eps))) + 1)
            centres = np.array(rule.kinks) / (s * c)
            centres = centres[np.abs(centres) < rule.K]
            extra = (centres[:, None] + np.concatenate([-steps, steps])).reshape(-1)
            extra = np.concatenate([centres, extra])
        z1, w1 = rule.nodes(np.zeros(1), np.array([s]), extra)
        z1, w1 = z1[0], w1[0]
        u1 = s * z1
        g1 = g(u1)
        if abs(c) == 1.0:
            return float(w1 @ (g1 * g(c * u1)))
        keep = w1 > 0
        z1, w1, g1 = z1[keep], w1[keep], g1[keep]
        m = s * c * z1
        s2 = np.full_like(m, s * sc)
        z2, w2 = rule.nodes(m, s2)
        inner = np.einsum("ij,ij->i", w2, g(m[:, None] + s2[:, None] * z2))
        return float(w1 @ (g1 * inner))


_CACHE: dict[tuple[Any, ...], GaussianMoments] = {}


def moments(act: Activation | str) -> GaussianMoments:
    """The cached :class:`GaussianMoments` of an activation (built once per activation)."""
    act = as_activation(act)
    cached = act._cache.get("gaussian_moments")
    if cached is not None:
        return cached
    key = (act.name, act.source, tuple(sorted((k, str(v)) for k, v in act.params.items())))
    gm = _CACHE.get(key)
    if gm is None:
        gm = GaussianMoments(act)
        _CACHE[key] = gm
    act._cache["gaussian_moments"] = gm
    return gm


# =========================================================================== exact and numeric

#: Closed-form base cases ("hooks", as sympy.stats' ``_cdf``): everything else in the exact
#: path is derived from these by Gaussian integration by parts. Keys name the expectation
#: E_{x ~ N(0, v)}[·]; values map (v, a) to the SymPy closed form.
CLOSED_FORM_HOOKS: dict[str, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    # Williams 1997 (Neural Comput. 10(5), "Computing with infinite networks"):
    # E[erf(a x)²] = (2/π) asin(2a²v / (1 + 2a²v)).
    "erf(a*x)**2": lambda v, a: 2 / sp.pi * sp.asin(2 * a**2 * v / (1 + 2 * a**2 * v)),
}

METHOD_PIECEWISE = "closed form (pieces: polynomial × exp, over intervals)"
METHOD_ERF = "closed form (polynomial × Gaussian × erf^m, m ≤ 2; Williams 1997 base case)"
METHOD_ODD = "closed form (odd integrand: 0)"
METHOD_QUAD = "quadrature (scipy quad, split at kinks)"

_ALLOWED_FUNCS = (sp.exp, sp.erf, sp.erfc)


@dataclass(frozen=True)
class GaussianResult:
    """A numerical Gaussian expectation E_z[f(√q z)] with an absolute error estimate.

    ``error`` is the larger of the adaptive quadrature's own estimate and the disagreement
    with an independent composite Gauss–Legendre rule, plus the rounding floor
    ~1e-15·E|f|. ``method`` records the path that produced the value.
    """

    value: float
    error: float
    method: str
    expr: sp.Expr
    q: float

    def __float__(self) -> float:
        return self.value

    def latex(self) -> str:
        r"""``\mathbb{E}_{z}\left[f(\sqrt{q}z)\right] \approx value \pm error`` at this q."""
        z = sp.Symbol("z", real=True)
        inner = sp.latex(self.expr.subs(X, sp.sqrt(Q_SYMBOL) * z))
        return (
            rf"\mathbb{{E}}_{{z}}\left[{inner}\right] \approx {_latex_float(self.value)}"
            rf" \pm {_latex_float(self.error, 2)}, \quad q = {_latex_float(self.q)}"
        )

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python fields (the expression as text), e.g. for JSON."""
        return {
            "value": self.value,
            "error": self.error,
            "method": self.method,
            "expr": str(self.expr),
            "q": self.q,
        }


def _latex_float(v: float, digits: int = 15) -> str:
    if v == 0 or not math.isfinite(v):
        return sp.latex(sp.Float(v)) if v == 0 else str(v)
    text = f"{v:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return text


# --------------------------------------------------------------------------- argument checks


def _as_integrand(f: Any) -> sp.Expr:
    if isinstance(f, Activation):
        return f.expr
    if isinstance(f, bool) or not isinstance(f, (sp.Basic, int, float, np.number)):
        raise InvalidArgumentError(
            "f", f, "expected a SymPy expression in vgmath.x (e.g. act.derivative**2) or an "
            "Activation"
        )
    expr = sp.sympify(f)
    if not isinstance(expr, sp.Expr):
        raise InvalidArgumentError("f", f, "expected a SymPy expression in vgmath.x")
    other = expr.free_symbols - {X}
    if other:
        names = ", ".join(sorted(str(s) for s in other))
        hint = " (use vgmath.x, the real symbol)" if any(str(s) == "x" for s in other) else ""
        raise InvalidArgumentError(
            "f", f, f"must depend on vgmath.x only; it has other free symbols: {names}{hint}"
        )
    return expr


def _as_q_arg(q: Any) -> sp.Expr:
    if isinstance(q, sp.Basic) and getattr(q, "free_symbols", None):
        qe = sp.sympify(q)
        if qe.is_positive is False or qe.is_real is False:
            raise InvalidArgumentError("q", q, "must be positive")
        return qe
    qe = to_sympy_number("q", q)
    if not qe.is_positive:
        raise InvalidArgumentError("q", q, "must be > 0")
    return qe


def _check_rtol(rtol: Any) -> float:
    try:
        r = float(rtol)
    except (TypeError, ValueError):
        raise InvalidArgumentError("rtol", rtol, "expected a number") from None
    if not 1e-13 <= r < 1:
        raise InvalidArgumentError(
            "rtol", rtol, "must lie in [1e-13, 1) (double-precision quadrature)"
        )
    return r


# --------------------------------------------------------------------------- exact: terms


@dataclass(frozen=True)
class _Term:
    """coeff · x^k · exp(lin·x + quad·x²) · erf(a·x)^m."""

    coeff: sp.Expr
    k: int
    lin: sp.Expr
    quad: sp.Expr
    m: int
    a: sp.Expr


def _supported(e: sp.Expr) -> bool:
    """Only polynomials, exp, erf, erfc and integer powers: expanding anything else could hang."""
    for node in sp.preorder_traversal(e):
        if not node.has(X):
            continue
        if isinstance(node, sp.Function) and not isinstance(node, _ALLOWED_FUNCS):
            return False
        if (
            isinstance(node, sp.Pow)
            and node.base.has(X)
            and not isinstance(node.base, sp.exp)
            and not (node.exp.is_Integer and node.exp > 0)
        ):
            return False
        if isinstance(node, sp.Pow) and node.exp.has(X) and node.base is not sp.E:
            return False
    return True


def _terms(e: sp.Expr) -> list[_Term] | None:
    if not _supported(e):
        return None
    e = e.replace(sp.erfc, lambda u: 1 - sp.erf(u))
    out: list[_Term] = []
    for t in sp.Add.make_args(sp.expand(e)):
        if t == 0:
            continue
        coeff, dep = t.as_independent(X, as_Add=False)
        k, m = 0, 0
        lin: sp.Expr = sp.S.Zero
        quad: sp.Expr = sp.S.Zero
        a: sp.Expr | None = None
        for fct in sp.Mul.make_args(dep):
            if fct == 1:
                continue
            base, ex = fct.as_base_exp()
            if base == X and ex.is_Integer and ex > 0:
                k += int(ex)
            elif base is sp.E or isinstance(base, sp.exp):
                arg = sp.expand(ex if base is sp.E else base.args[0] * ex)
                poly = arg.as_poly(X)
                if poly is None or poly.degree() > 2:
                    return None
                c = poly.all_coeffs()[::-1] + [sp.S.Zero] * 3
                coeff, lin, quad = coeff * sp.exp(c[0]), lin + c[1], quad + c[2]
            elif isinstance(base, sp.erf) and ex.is_Integer and ex > 0:
                slope = sp.simplify(base.args[0] / X)
                if slope.has(X) or (a is not None and sp.simplify(slope - a) != 0):
                    return None
                a, m = slope, m + int(ex)
            else:
                return None
        out.append(_Term(coeff, k, lin, quad, m, a if a is not None else sp.S.One))
    return out


# --------------------------------------------------------------------------- exact: integrals


def _t_pow_density(j: int, t: sp.Expr) -> sp.Expr:
    """t^j e^{−t²/2}/√(2π), which vanishes at ±∞."""
    if t in (sp.oo, -sp.oo):
        return sp.S.Zero
    return t**j * sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)


def _std_moment(j: int, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """∫_lo^hi t^j e^{−t²/2} dt/√(2π) (exact), by parts:
    ∫t^j e^{−t²/2} = −t^{j−1}e^{−t²/2} + (j−1)∫t^{j−2}e^{−t²/2}."""
    if j == 0:  # Φ(hi) − Φ(lo), with erfc on half-lines (no 1 − erf cancellation)
        if hi == sp.oo:
            return sp.erfc(lo / sp.sqrt(2)) / 2 if lo != -sp.oo else sp.S.One
        if lo == -sp.oo:
            return sp.erfc(-hi / sp.sqrt(2)) / 2
        return (sp.erf(hi / sp.sqrt(2)) - sp.erf(lo / sp.sqrt(2))) / 2
    if j == 1:
        return _t_pow_density(0, lo) - _t_pow_density(0, hi)
    return _t_pow_density(j - 1, lo) - _t_pow_density(j - 1, hi) + (j - 1) * _std_moment(
        j - 2, lo, hi
    )


def _effective_variance(term: _Term, q: sp.Expr) -> sp.Expr | None:
    """v = q/(1 − 2·quad·q): e^{quad x²} N(x; 0, q) = √(v/q) N(x; 0, v). None if it diverges."""
    lam = 1 - 2 * term.quad * q
    if lam.is_positive is not True:
        return None
    return q / lam


def _interval_term(term: _Term, q: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr | None:
    """E_{x~N(0,q)}[coeff x^k e^{αx+γx²}; lo < x < hi] by completing the square (m = 0)."""
    v = _effective_variance(term, q)
    if v is None or term.m:
        return None
    mu, sv, k = term.lin * v, sp.sqrt(v), term.k
    a, b = ((lo - mu) / sv, (hi - mu) / sv)
    total = sp.S.Zero
    for j in range(k + 1):
        total += sp.binomial(k, j) * mu ** (k - j) * sv**j * _std_moment(j, a, b)
    return term.coeff * sp.sqrt(v / q) * sp.exp(term.lin**2 * v / 2) * total


def _erf_moment(k: int, m: int, v: sp.Expr, a: sp.Expr) -> sp.Expr:
    """G(k, m) = E_{x~N(0,v)}[x^k erf(a x)^m] for m ≤ 2, by Stein's lemma E[x g] = v E[g′].

    G(k, 0) = v^{k/2}(k−1)!!; G(0, 2) is the Williams 1997 hook; for k ≥ 1,
    G(k, m) = v[(k−1) G(k−2, m) + m (2a/√π) E[x^{k−1} erf^{m−1} e^{−a²x²}]], and
    e^{−a²x²} N(x; 0, v) = √(v′/v) N(x; 0, v′) with v′ = v/(1+2a²v).
    """
    if (k + m) % 2:  # odd integrand
        return sp.S.Zero
    if m == 0:
        return v ** sp.Rational(k, 2) * sp.factorial2(k - 1)
    if k == 0:
        return CLOSED_FORM_HOOKS["erf(a*x)**2"](v, a)  # m == 2 here (m == 1 is odd)
    vp = v / (1 + 2 * a**2 * v)
    lower = (k - 1) * _erf_moment(k - 2, m, v, a) if k >= 2 else sp.S.Zero
    shifted = sp.sqrt(vp / v) * _erf_moment(k - 1, m - 1, vp, a)
    return v * (lower + m * 2 * a / sp.sqrt(sp.pi) * shifted)


def _whole_line_term(term: _Term, q: sp.Expr) -> sp.Expr | None:
    if term.m == 0:
        return _interval_term(term, q, -sp.oo, sp.oo)
    if term.m > 2 or term.lin != 0:
        return None
    v = _effective_variance(term, q)
    if v is None:
        return None
    return term.coeff * sp.sqrt(v / q) * _erf_moment(term.k, term.m, v, term.a)


def _is_odd(f: sp.Expr) -> bool:
    """f(−x) = −f(x) on every piece (a cheap numerical screen first, then exact)."""
    for iv, e in pieces(f.subs(X, -X) + f):
        if iv.measure == 0 or e == 0:
            continue
        probes = [p for p in (-2.13, -0.71, 0.37, 1.29) if iv.contains(p) is sp.true]
        if any(abs(complex(e.subs(X, p).evalf(20))) > 1e-12 for p in probes):
            return False
        if sp.expand(e) != 0 and sp.simplify(e) != 0:
            return False
    return True


def _is_one_minus_erf(n: sp.Basic) -> bool:
    if not (n.is_Add and len(n.args) == 2 and sp.S.One in n.args):
        return False
    other = n.args[0] if n.args[1] == 1 else n.args[1]
    return bool(other.is_Mul and other.args[0] == -1 and isinstance(other.args[1], sp.erf))


def _erfc_of(n: sp.Basic) -> sp.Expr:
    other = n.args[0] if n.args[1] == 1 else n.args[1]
    return sp.erfc(other.args[1].args[0])


def _tidy(e: sp.Expr) -> sp.Expr:
    """Simplify a closed form (full ``simplify`` only when small: it can be slow), in erfc or
    erf form, whichever is shorter, and write a remaining 1 − erf(u) as erfc(u)."""
    candidates = [_simplify(e)]
    if e.has(sp.erfc):  # erf and erfc of one argument do not cancel each other: try erf only
        candidates.append(_simplify(e.replace(sp.erfc, lambda u: 1 - sp.erf(u))))
    best = min(candidates, key=sp.count_ops)  # ties keep the erfc form (no cancellation)
    return best.replace(_is_one_minus_erf, _erfc_of)


def _simplify(e: sp.Expr) -> sp.Expr:
    if sp.count_ops(e) <= 150:
        return sp.simplify(e)
    t = sp.together(e)
    return min(sp.cancel(t), sp.factor_terms(t), key=sp.count_ops)


def _closed_form(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str] | None:
    """(exact E_{x~N(0,q)}[f(x)], method) or None; never calls ``integrate``."""
    out = _termwise(f, q)
    if out is None and _is_odd(f):
        return sp.S.Zero, METHOD_ODD
    return out


def _termwise(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str] | None:
    parts = [(iv, e) for iv, e in pieces(f) if iv.measure != 0]
    if len(parts) == 1 and parts[0][0] == sp.Interval(-sp.oo, sp.oo):
        terms = _terms(parts[0][1])
        if terms is None:
            return None
        vals = [_whole_line_term(t, q) for t in terms]
        if any(v is None for v in vals):
            return None
        method = METHOD_ERF if any(t.m for t in terms) else METHOD_PIECEWISE
        return _tidy(sp.Add(*vals)), method
    total = sp.S.Zero
    for iv, e in parts:
        terms = _terms(e)
        if terms is None:
            return None
        for t in terms:
            val = _interval_term(t, q, iv.start, iv.end)
            if val is None:
                return None
            total += val
    return _tidy(total), METHOD_PIECEWISE


# --------------------------------------------------------------------------- numeric


class _Weighted:
    """f(u)·e^{lw} for a piecewise f, in floats where they suffice and in mpmath (30 digits)
    where a piece overflows (sigmoid′ = e^{−x}/(1+e^{−x})² at x = −800 is inf/inf in floats,
    e^{2x}·e^{−z²/2} is inf·0): the product is formed before rounding to a float."""

    def __init__(self, parts: list[tuple[sp.Interval, sp.Expr]]) -> None:
        self.parts = [
            (
                iv,
                float(iv.start),
                float(iv.end),
                sp.lambdify(X, e, modules=["scipy", "numpy"]),
                sp.lambdify(X, e, modules="math"),
                sp.lambdify(X, e, modules="mpmath"),
            )
            for iv, e in parts
        ]

    def _piece(self, u: float) -> tuple[Any, ...]:
        for p in self.parts:
            iv, lo, hi = p[0], p[1], p[2]
            above = lo < u or (lo == u and not iv.left_open)
            if above and (u < hi or (u == hi and not iv.right_open)):
                return p
        raise NumericalError(f"no piece of f contains x = {u}")

    def _slow(self, u: float, lw: float) -> float:
        with mpmath.workdps(30):
            return float(self._piece(u)[5](mpmath.mpf(u)) * mpmath.exp(lw))

    def scalar(self, u: float, lw: float) -> float:
        try:
            v = float(self._piece(u)[4](u)) * math.exp(lw)
        except (OverflowError, ValueError, ZeroDivisionError):
            v = math.nan
        return v if math.isfinite(v) else self._slow(u, lw)

    def vector(self, u: FloatArray, lw: FloatArray) -> FloatArray:
        out = np.empty_like(u)
        for iv, lo, hi, vec, _, _ in self.parts:
            mask = (u > lo) | ((u == lo) & (not iv.left_open))
            mask &= (u < hi) | ((u == hi) & (not iv.right_open))
            if np.any(mask):
                with np.errstate(all="ignore"):
                    vals = np.asarray(vec(u[mask]), dtype=np.float64) * np.exp(lw[mask])
                out[mask] = vals
        for i in np.flatnonzero(~np.isfinite(out)):
            out[i] = self._slow(float(u[i]), float(lw[i]))
        return out


def _rule_estimate(
    fw: _Weighted, kinks: tuple[float, ...], s: float
) -> tuple[float, float]:
    """(E[f(s z)], E|f(s z)|) by the composite Gauss–Legendre rule, widening the z-range
    until the integrand is negligible at its ends (growth like e^{cx} moves the mass out)."""
    for K in (10.0, 20.0, 30.0):
        z, w = _Rule(kinks, n=20, K=K, h=K / 5).centred(np.array([s]))
        z, w = z[0], w[0]
        with np.errstate(divide="ignore"):  # collapsed intervals have w = 0
            lw = np.log(w)  # no underflow: w ≥ ~1e-3·e^{−K²/2} > 1e-200 for K ≤ 30
        vals = fw.vector(s * z, lw)
        if not np.all(np.isfinite(vals)):
            raise NumericalError(f"f(√q z) is not finite for q = {s * s:g}")
        value, abs_scale = float(vals.sum()), float(np.abs(vals).sum())
        ends = np.array([-K, K])
        edge = np.abs(fw.vector(s * ends, np.log(_INV_SQRT_2PI) - 0.5 * ends**2)).max()
        if edge <= 1e-17 * abs_scale:
            break
    return value, abs_scale


def _quadrature(f: sp.Expr, q: float, rtol: float) -> GaussianResult:
    """E_z[f(√q z)] by scipy's adaptive quad on each piece, split at kinks/√q and at the
    images ±2^k/√q of φ's natural scales, cross-checked against the Gauss–Legendre rule."""
    parts = [(iv, e) for iv, e in pieces(f) if iv.measure != 0]
    s = math.sqrt(q)
    fw = _Weighted(parts)
    kinks = tuple(sorted({float(p) for iv, _ in parts for p in (iv.start, iv.end) if p.is_finite}))
    try:
        # independent estimate, and the magnitude E|f| that sets the rounding floor
        rule_value, abs_scale = _rule_estimate(fw, kinks, s)
    except NumericalError as exc:
        raise NumericalError(f"E[f(√q z)] for f = {f} at q = {q}: {exc}") from None
    floor = 1e-15 * abs_scale
    grid = [0.0, *[sg * 2.0**k for k in range(-4, 10) for sg in (-1.0, 1.0)]]
    log_density = math.log(_INV_SQRT_2PI)
    value, err = 0.0, 0.0
    for iv, _ in parts:
        lo = float(iv.start) / s if iv.start.is_finite else -math.inf
        hi = float(iv.end) / s if iv.end.is_finite else math.inf
        cuts = sorted({lo, hi, *(p / s for p in grid if lo < p / s < hi and abs(p / s) < 12)})
        epsabs = 0.1 * rtol * abs_scale / max(1, len(cuts))

        def integrand(t: float) -> float:
            return fw.scalar(s * t, log_density - 0.5 * t * t)

        for a, b in itertools.pairwise(cuts):
            val, est, *_ = integrate.quad(
                integrand, a, b, epsabs=epsabs, epsrel=rtol / 10, limit=200, full_output=1
            )
            value += val
            err += est
    error = max(err, abs(value - rule_value)) + floor
    if not (math.isfinite(value) and error <= max(rtol * abs(value), rtol * abs_scale)):
        raise NumericalError(
            f"E[f(√q z)] for f = {f} at q = {q}: quadrature reached only ±{error:.1e} "
            f"(value {value:.6g}); rtol = {rtol:g}"
        )
    return GaussianResult(value=value, error=error, method=METHOD_QUAD, expr=f, q=q)


# --------------------------------------------------------------------------- public API


@lru_cache(maxsize=512)
def _exact(f: sp.Expr, q: sp.Expr) -> tuple[sp.Expr, str] | None:
    # a symbol of unknown sign is replaced by a positive one for the computation
    qp = q
    subs: dict[sp.Basic, sp.Basic] = {}
    for sym in q.free_symbols:
        if not sym.is_positive:
            d = sp.Dummy(sym.name, positive=True)
            subs[d] = sym
            qp = qp.subs(sym, d)
    out = _closed_form(f, qp)
    if out is None:
        return None
    return (out[0].xreplace(subs) if subs else out[0]), out[1]


def gaussian_expectation(f: Any, q: Any, *, rtol: float = 1e-12) -> sp.Expr | GaussianResult:
    r"""The Gaussian expectation :math:`\mathbb{E}_{z\sim\mathcal{N}(0,1)}[f(\sqrt{q}\,z)]`.

    ``f`` is a SymPy expression in :data:`vgmath.x` (``act.derivative**2``) or an
    :class:`~vgmath.Activation` (meaning φ); ``q`` a positive number or a SymPy expression
    (``vg.q``).

    * **Exact** (a SymPy expression) when a closed form exists — never by calling
      ``integrate``: each smooth piece of ``f`` (split at its kinks,
      ``vgmath.symbolic.piecewise``) is
      expanded into terms ``x^k e^{αx+γx²}`` integrated over the piece's interval by
      completing the square (giving erf/exp terms: ReLU family, hard_tanh, hard_sigmoid,
      ELU, SELU, erf′ᵏ), or, on the whole line, terms ``x^k e^{γx²} erf(ax)^m`` (m ≤ 2)
      reduced by Stein's lemma E[x g(x)] = v E[g′(x)] to the Williams (1997) base case
      E[erf(ax)²] = (2/π) asin(2a²v/(1+2a²v)) (erf, GELU's φ, φ², φ′²); odd integrands give 0.
    * Otherwise **numeric** (a :class:`GaussianResult` with ``.value`` and ``.error``):
      adaptive quadrature on each piece split at the kinks b/√q, cross-checked against a
      composite Gauss–Legendre rule; relative accuracy ``rtol`` (absolute ``rtol·E|f|`` when
      the expectation nearly cancels). A symbolic q without a closed form raises
      :class:`~vgmath.InvalidArgumentError`.

    >>> import vgmath as vg
    >>> relu = vg.activation("relu")
    >>> vg.gaussian_expectation(relu.expr**2, vg.q)
    q/2
    >>> vg.gaussian_expectation(vg.activation("erf").expr**2, 0.5)
    1/3
    >>> r = vg.gaussian_expectation(vg.activation("tanh").derivative**2, 1)
    >>> round(r.value, 12), r.error < 1e-12
    (0.464402902448, True)

    References: Poole et al. 2016 (arXiv:1606.05340); Williams 1997, Neural Comput. 10(5).
    """
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    tol = _check_rtol(rtol)
    exact = _exact(expr, qe)
    if exact is not None:
        return exact[0]
    if qe.free_symbols:
        raise InvalidArgumentError(
            "q", q, f"no closed form is known for E[f(√q z)] with f = {expr}; pass a numeric "
            "q for quadrature, or use gaussian_series(f, q, order) for small q"
        )
    return _quadrature(expr, float(qe), tol)


def expectation_method(f: Any, q: Any) -> str:
    """Which path :func:`gaussian_expectation` takes for (f, q): one of the ``METHOD_*``
    strings ("closed form (…)" naming the rule used, or the quadrature)."""
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    exact = _exact(expr, qe)
    if exact is not None:
        return exact[1]
    if qe.free_symbols:
        return "none (no closed form; q is symbolic)"
    return METHOD_QUAD


def gaussian_series(f: Any, q: Any, order: int) -> sp.Expr:
    r"""Small-q expansion :math:`\mathbb{E}[f(\sqrt{q}z)] = \sum_{k\le n} f^{(2k)}(0)\,
    \frac{(2k-1)!!}{(2k)!}\, q^k + O(q^{n+1})` (n = ``order``), from E[z^{2k}] = (2k−1)!!.

    Valid when f is smooth at 0. Kinks elsewhere (hard_tanh at ±1) only add terms of order
    e^{−b²/(2q)}, beyond every power of q, so the series is still the asymptotic expansion.
    A kink at 0 (ReLU) makes the expansion one in √q: refused.

    >>> import vgmath as vg
    >>> vg.gaussian_series(vg.activation("tanh").expr**2, vg.q, 2)
    -2*q**2 + q
    """
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        raise InvalidArgumentError("order", order, "expected a non-negative integer")
    n = int(order)
    piece = None
    for iv, e in pieces(expr):
        if iv.measure != 0 and iv.contains(0) is sp.true and 0 not in (iv.start, iv.end):
            piece = e
    if piece is None:
        raise InvalidArgumentError(
            "f", f, "f is not smooth at 0 (a kink at x = 0): E[f(√q z)] has no power series "
            "in q there; use gaussian_expectation"
        )
    taylor = sp.series(piece, X, 0, 2 * n + 1).removeO()
    poly = sp.expand(taylor).as_poly(X)
    # SymPy expands towards 0⁺: a fractional power of something vanishing at 0
    # (sqrt(x² + x⁴) = |x|·√(1+x²)) can look analytic from the right only
    if poly is not None and _has_root_at_zero(piece):
        left = sp.series(piece, X, 0, 2 * n + 1, dir="-").removeO()
        if sp.expand(left - taylor) != 0:
            poly = None
    if poly is None:
        raise InvalidArgumentError(
            "f", f, f"f is not analytic at 0 (its expansion is {taylor}); no power series in q"
        )
    total = sp.S.Zero
    for (deg,), coeff in poly.terms():
        if deg % 2 == 0 and deg // 2 <= n:
            total += coeff * sp.factorial2(deg - 1) * qe ** (deg // 2)
    return sp.expand(total)


def _has_root_at_zero(e: sp.Expr) -> bool:
    for node in sp.preorder_traversal(e):
        if (
            isinstance(node, sp.Pow)
            and node.base.has(X)
            and not node.exp.is_Integer
            and sp.limit(node.base, X, 0) == 0
        ):
            return True
    return False


def cross_check(f: Any, q: Any, *, rtol: float = 1e-10) -> float:
    """Relative disagreement between the closed form of E[f(√q z)] and quadrature.

    Raises :class:`NumericalError` when it exceeds ``rtol`` (relative to E|f|, the scale the
    quadrature is accurate to): the test that every closed form must pass.
    """
    expr = _as_integrand(f)
    qe = _as_q_arg(q)
    exact = _exact(expr, qe)
    if exact is None:
        raise InvalidArgumentError("f", f, "has no closed form to check")
    num = _quadrature(expr, float(qe), 1e-12)
    ex = float(sp.N(exact[0], 30))
    parts = [(iv, e) for iv, e in pieces(expr) if iv.measure != 0]
    scale = max(abs(num.value), abs(_abs_expectation(parts, float(qe))))
    rel = abs(ex - num.value) / scale if scale else abs(ex - num.value)
    if rel > rtol:
        raise NumericalError(
            f"closed form of E[f(√q z)] for f = {expr} at q = {qe} disagrees with quadrature: "
            f"{ex!r} vs {num.value!r} ± {num.error:.1e} (relative {rel:.1e} > {rtol:g})"
        )
    return rel


def _abs_expectation(parts: list[tuple[sp.Interval, sp.Expr]], q: float) -> float:
    kinks = tuple(sorted({float(p) for iv, _ in parts for p in (iv.start, iv.end) if p.is_finite}))
    return _rule_estimate(_Weighted(parts), kinks, math.sqrt(q))[1]
