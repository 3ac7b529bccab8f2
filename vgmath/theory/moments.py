"""Fast Gaussian moments of one activation at many variances: E[φ²], E[φ′²], E[zφφ′], … at
√q z, z ~ N(0, 1), by closed forms where they exist and otherwise a fixed Gauss–Legendre
rule split at the kinks, tabulated as Chebyshev series in ln q with self-checks
(~1e-14 relative). :func:`moments` caches one evaluator per activation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core.errors import InvalidArgumentError, NumericalError
from ..symbolic.catalog import Activation, as_activation

__all__ = ["GaussianMoments", "moments"]

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
        abs_fn: Callable[[FloatArray], FloatArray] | None = None,
        *,
        label: str,
        values: tuple[FloatArray, FloatArray, FloatArray] | None = None,
        coef: FloatArray | None = None,
    ) -> None:
        """Tabulate ``fn`` and check it; ``values`` = (fn on :meth:`grid`, fn and abs_fn on
        :meth:`check_points`) when already computed; ``coef`` a table already built and
        checked (loaded from the cache: the caller checks it with :meth:`agrees`)."""
        self._fn = fn
        self.width = (self.T1 - self.T0) / self.P
        if coef is not None:
            self._coef = np.array(coef, dtype=np.float64).reshape(self.P, self.D + 1)
            self._coef_rows = self._coef.tolist()
            return
        d1 = self.D + 1
        theta = np.pi * (np.arange(d1) + 0.5) / d1
        if values is None:
            assert abs_fn is not None
            qc = self.check_points()
            values = (fn(self.grid()), fn(qc), abs_fn(qc))
        vals = np.asarray(values[0], dtype=np.float64).reshape(self.P, d1)
        basis = np.cos(np.outer(np.arange(d1), theta)) * (2.0 / d1)
        basis[0] /= 2
        self._coef = vals @ basis.T  # (P, D+1): Chebyshev coefficients per piece
        self._coef_rows = self._coef.tolist()
        # check at an off-node point of every piece
        tc = self.check_points()
        exact, abs_exact = values[1], values[2]
        approx = self.vector(tc)
        # relative to the piece's magnitude, with the rounding floor 1e-15·E|g| of the rule
        scale = np.max(np.abs(vals), axis=1)
        bad = np.abs(approx - exact) > 1e-13 * scale + 1e-15 * abs_exact + 1e-300
        if np.any(bad):
            worst = float(np.max(np.abs(approx - exact) / np.maximum(scale, 1e-300)))
            raise NumericalError(
                f"the log-q interpolant of {label} reaches only {worst:.1e} relative accuracy"
            )

    @classmethod
    def grid(cls) -> FloatArray:
        """The q values the table interpolates (P pieces × D + 1 Chebyshev nodes, flat)."""
        d1 = cls.D + 1
        y = np.cos(np.pi * (np.arange(d1) + 0.5) / d1)
        width = (cls.T1 - cls.T0) / cls.P
        t = cls.T0 + width * (np.arange(cls.P)[:, None] + (y + 1) / 2)
        return np.exp(t).reshape(-1)

    @classmethod
    def check_points(cls) -> FloatArray:
        """One off-node q per piece, where the interpolant is checked."""
        width = (cls.T1 - cls.T0) / cls.P
        return np.exp(cls.T0 + width * (np.arange(cls.P) + (0.3711 + 1) / 2))

    @property
    def coef(self) -> FloatArray:
        """The Chebyshev coefficients, shape (P, D + 1)."""
        return self._coef

    def agrees(self, q: FloatArray, exact: FloatArray, abs_exact: FloatArray) -> bool:
        """Whether the interpolant matches the rule's ``exact`` values at ``q`` to the
        construction tolerance (relative to the values themselves)."""
        approx = self.vector(q)
        tol = 1e-13 * np.abs(exact) + 1e-15 * abs_exact + 1e-300
        return bool(np.all(np.abs(approx - exact) <= tol))

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

#: The one-dimensional moments tabulated in ln q (all built together).
TABLED = ("phi2", "dphi2", "dphi4", "z2dphi2", "phi_mean", "dphi_mean", "d_phi2_dq")


#: which of φ ("f") and φ′ ("d") the integrand of each moment needs
_NEEDS = {"phi2": "f", "dphi2": "d", "dphi4": "d", "z2dphi2": "d", "phi_mean": "f",
          "dphi_mean": "d", "d_phi2_dq": "fd"}


def _combine(name: str, z: FloatArray, fu: Any, dfu: Any, dfu2: Any) -> FloatArray:
    """The integrand of moment ``name`` from φ(u), φ′(u), φ′(u)² and z (u = √q z); only
    those in :data:`_NEEDS` of ``name`` are used."""
    if name == "phi2":
        return fu * fu
    if name == "dphi2":
        return dfu2
    if name == "dphi4":
        return dfu2 * dfu2
    if name == "z2dphi2":
        return z * z * dfu2
    if name == "phi_mean":
        return fu
    if name == "dphi_mean":
        return dfu
    return z * fu * dfu  # d_phi2_dq (÷ √q afterwards)



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
    >>> from vgmath.theory.moments import moments
    >>> m = moments(vg.activation("tanh"))
    >>> round(m.dphi2(1.0), 12)
    0.464402902448
    """

    #: the q range over which the rule and its interpolant are verified on construction
    Q_RANGE = (1e-9, 1e5)

    def __init__(
        self, act: Activation | str, *, closed_forms: bool = True, check: bool = True,
        kinks: tuple[float, ...] | None = None,
    ) -> None:
        act = as_activation(act)
        self.activation = act
        self._f: ArrayFn = act._f
        self._df: ArrayFn = act._df
        if kinks is None:  # ``kinks``: the breakpoints as floats, when already known
            kinks = tuple(float(b) for b in act.breakpoints)
        self.kinks = kinks
        self._rule = _Rule(kinks)
        # the 2-D cross moments use a lighter rule on both axes (12 nodes per interval, x-grid
        # 2^-3..2^7): the same accuracy on the catalog's closed forms (Cho & Saul, Williams)
        # and Mehler expansions in the tests, at half the cost
        self._cross_rule = _Rule(kinks, n=12, kmin=-3, kmax=7)
        self._closed = _closed_forms_for(act) if closed_forms else None
        self._tables: dict[str, _Table] = {}
        self._loaded = False  # tables from the on-disk cache (see :meth:`load_tables`)
        self.method = "closed form" if self._closed else "composite Gauss-Legendre split at kinks"
        if check and self._closed is None:
            self._self_check()

    # ---- the generic rule
    def _integrand(self, name: str) -> Callable[[FloatArray, FloatArray], FloatArray]:
        """g(z, u) with u = √q z, such that the moment is E[g] (÷√q for d_phi2_dq): the
        integrand of :func:`_combine`, evaluating only the kernels it needs."""
        f, df = self._f, self._df
        need = _NEEDS[name]

        def g(z: FloatArray, u: FloatArray) -> FloatArray:
            fu = f(u) if "f" in need else None
            dfu = df(u) if "d" in need else None
            return _combine(name, z, fu, dfu, None if dfu is None else dfu * dfu)

        return g

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
        return self._finish(name, q, s, np.einsum("ij,ij->i", w, vals))

    def _finish(self, name: str, q: FloatArray, s: FloatArray, out: FloatArray) -> FloatArray:
        """Refuse a non-finite integral; divide ``d_phi2_dq`` by √q."""
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
            self._build_tables()
            table = self._tables[name]
        return table

    def _build_tables(self) -> None:
        """Every moment of :data:`TABLED` at once: one set of rule nodes for the tables' q
        grid and check points, and one evaluation of φ and φ′ there, shared by all seven
        (each integrand is the same expression in φ(u), φ′(u) and z as :meth:`_integrand`)."""
        grid, qc = _Table.grid(), _Table.check_points()
        values = self._shared_values(np.concatenate([grid, qc]), absolute_from=grid.size)
        k = grid.size
        for name in TABLED:
            out, absolute = values[name]
            self._tables[name] = _Table(
                lambda qq, n=name: self._numeric(n, qq),
                label=f"{self.activation.label} {name}",
                values=(out[:k], out[k:], absolute),
            )

    def _shared_values(
        self, q: FloatArray, *, absolute_from: int = 0
    ) -> dict[str, tuple[FloatArray, FloatArray]]:
        """Every tabulated moment by the rule at ``q`` from one evaluation of φ and φ′:
        name -> (E[g] at q, E[|g|] at q[absolute_from:])."""
        s = np.sqrt(q)
        z, w = self._rule.centred(s)
        with np.errstate(over="ignore", under="ignore"):
            u = s[:, None] * z
            fu = self._f(u)
            dfu = self._df(u)
            dfu2 = dfu * dfu
        k = absolute_from
        out = {}
        for name in TABLED:
            with np.errstate(over="ignore", under="ignore"):
                vals = _combine(name, z, fu, dfu, dfu2)
            signed = self._finish(name, q, s, np.einsum("ij,ij->i", w, vals))
            absolute = self._finish(
                name, q[k:], s[k:], np.einsum("ij,ij->i", w[k:], np.abs(vals[k:]))
            )
            out[name] = (signed, absolute)
        return out

    def tables(self) -> dict[str, FloatArray]:
        """The Chebyshev coefficients of every tabulated moment (built if needed)."""
        if self._closed is not None:
            return {}
        return {name: self._table(name).coef for name in TABLED}

    def load_tables(self, coefs: dict[str, Any]) -> bool:
        """Use tables built earlier (the on-disk cache) after checking every one against
        the rule at the off-node point of each piece, as on construction; False (nothing
        loaded) if any disagrees or is malformed."""
        if self._closed is not None or set(coefs) != set(TABLED):
            return False
        qc = _Table.check_points()
        loaded: dict[str, _Table] = {}
        try:
            values = self._shared_values(qc)
            for name in TABLED:
                arr = np.asarray(coefs[name], dtype=np.float64)
                if arr.size != _Table.P * (_Table.D + 1) or not np.all(np.isfinite(arr)):
                    return False
                table = _Table(lambda qq, n=name: self._numeric(n, qq), label=name, coef=arr)
                if not table.agrees(qc, *values[name]):
                    return False
                loaded[name] = table
        except (ValueError, TypeError, NumericalError):
            return False
        self._tables.update(loaded)
        self._loaded = True
        return True

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


def moments_if_built(act: Activation) -> GaussianMoments | None:
    """The activation's GaussianMoments if this process has built one, else None."""
    cached = act._cache.get("gaussian_moments")
    if cached is None:
        cached = _CACHE.get(_key(act))
    return cached


def remember_moments(act: Activation, gm: GaussianMoments) -> None:
    """Make ``gm`` what :func:`moments` returns for ``act`` from now on."""
    _CACHE[_key(act)] = gm
    act._cache["gaussian_moments"] = gm


def _key(act: Activation) -> tuple[Any, ...]:
    return (act.name, act.source, tuple(sorted((k, str(v)) for k, v in act.params.items())))


def moments(act: Activation | str) -> GaussianMoments:
    """The cached :class:`GaussianMoments` of an activation (built once per activation)."""
    act = as_activation(act)
    cached = act._cache.get("gaussian_moments")
    if cached is not None:
        return cached
    key = _key(act)
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
