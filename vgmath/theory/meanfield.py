"""Shared mean-field machinery for :mod:`vgmath.theory.prediction`,
:mod:`vgmath.theory.criticality` and
:mod:`vgmath.theory.finite_width`: how an activation behaves at 0 and at every scale, and one
moment provider over :mod:`vgmath.theory.gaussian`.

Positively homogeneous activations
----------------------------------
An activation with ``φ(x) = c₊·x`` for x > 0 and ``φ(x) = c₋·x`` for x ≤ 0 (identity,
ReLU, leaky ReLU, ``abs``, any user expression of that shape) satisfies φ(√q z) = √q φ(z), so
every Gaussian moment is an exact elementary function of q *by structure* (no integral):

.. math::

    \\mathbb{E}[\\varphi'(\\sqrt q z)^2] = \\frac{c_+^2 + c_-^2}{2},\\qquad
    \\mathbb{E}[\\varphi(\\sqrt q z)^2] = q\\,\\frac{c_+^2 + c_-^2}{2},\\qquad
    \\mathbb{E}[\\varphi'(\\sqrt q z)^4] = \\frac{c_+^4 + c_-^4}{2},\\qquad
    \\mathbb{E}[\\varphi(\\sqrt q z)] = \\frac{(c_+ - c_-)\\sqrt q}{\\sqrt{2\\pi}}.

These are the cases where χ does not depend on q, and so where depth profiles have closed
forms (He et al. 2015, arXiv:1502.01852). φ′(0) follows vgmath's kink convention (the left
piece owns the kink: relu′(0) = 0); moments at q > 0 do not see it.

Everything else goes through :func:`vgmath.theory.gaussian.moments` (closed forms or Gauss–Legendre
tables accurate to ~1e-12 relative). For φ(0) = 0 and q < 1e-40 the small-q limits are used
(exact to double precision); arguments are clamped to [1e-300, 1e300] before a moment is
evaluated, and above 1e300 E[φ²] is extrapolated linearly in q (its q → ∞ behaviour for the
at most linearly growing catalog activations); :func:`vgmath.predict` says when that happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ..symbolic.catalog import Activation
from ..symbolic.piecewise import pieces
from ..symbolic.symbols import x
from .moments import GaussianMoments, moments, moments_if_built, remember_moments

__all__ = [
    "Q_MAX",
    "Q_MIN",
    "Homogeneous",
    "Moments",
    "ZeroBehaviour",
    "activation_key",
    "homogeneous",
    "moment_provider",
    "zero_behaviour",
]

FloatArray = NDArray[np.float64]

#: Smallest / largest q handed to a moment evaluation (see the module docstring).
Q_MIN = 1e-300
Q_MAX = 1e300

_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def activation_key(act: Activation) -> tuple[Any, ...]:
    """A hashable identity of an activation (name, user text, exact parameters); memoised on
    the activation, since printing SELU's closed-form constants takes milliseconds."""
    key = act._cache.get("meanfield_key")
    if key is None:
        key = (act.name, act.source, tuple(sorted((k, str(v)) for k, v in act.params.items())))
        act._cache["meanfield_key"] = key
    return key  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- homogeneous


@dataclass(frozen=True)
class Homogeneous:
    """φ(x) = c₊x (x > 0), c₋x (x ≤ 0): the exact constants of its Gaussian moments."""

    c_plus: sp.Expr
    c_minus: sp.Expr
    #: φ′(0) under the kink convention (the left piece's slope; the slope itself if smooth)
    d_at_zero: sp.Expr

    @property
    def c2(self) -> sp.Expr:
        """E[φ′(√q z)²] = E[φ(√q z)²]/q = (c₊² + c₋²)/2 (exact, for every q > 0)."""
        return sp.simplify((self.c_plus**2 + self.c_minus**2) / 2)

    @property
    def c4(self) -> sp.Expr:
        """E[φ′(√q z)⁴] = (c₊⁴ + c₋⁴)/2."""
        return sp.simplify((self.c_plus**4 + self.c_minus**4) / 2)

    @property
    def kappa(self) -> sp.Expr:
        """κ = E[φ′⁴]/E[φ′²]² (1 for a linear map, 2 for ReLU)."""
        return sp.simplify(self.c4 / self.c2**2)

    @property
    def mean_coefficient(self) -> sp.Expr:
        """E[φ(√q z)] = mean_coefficient·√q, i.e. (c₊ − c₋)/√(2π)."""
        return (self.c_plus - self.c_minus) / sp.sqrt(2 * sp.pi)

    @property
    def is_linear(self) -> bool:
        return bool(sp.simplify(self.c_plus - self.c_minus) == 0)

    @property
    def zero_slope_sides(self) -> int:
        """How many of the two half-lines have slope 0 (1 for ReLU, 0 for leaky ReLU)."""
        return int(self.c_plus == 0) + int(self.c_minus == 0)


_HOMOGENEOUS: dict[tuple[Any, ...], Homogeneous | None] = {}


def homogeneous(act: Activation) -> Homogeneous | None:
    """The :class:`Homogeneous` description of ``act``, or None if φ is not of that form."""
    key = activation_key(act)
    if key not in _HOMOGENEOUS:
        _HOMOGENEOUS[key] = _classify(act)
    return _HOMOGENEOUS[key]


def _classify(act: Activation) -> Homogeneous | None:
    try:
        parts = pieces(act.expr)
    except TypeError:
        return None
    left: sp.Expr | None = None
    right: sp.Expr | None = None
    for iv, e in parts:
        if iv.measure == 0:
            continue
        slope = sp.diff(e, x)
        if slope.has(x) or sp.simplify(e - slope * x) != 0:
            return None
        for end in (iv.start, iv.end):
            if end.is_finite and end != 0:
                return None
        if iv.start == -sp.oo:
            left = slope
        if iv.end == sp.oo:
            right = slope
    if left is None or right is None:
        return None
    d0 = sp.sympify(act.derivative).subs(x, 0)
    if not d0.is_number:
        d0 = left
    return Homogeneous(c_plus=sp.sympify(right), c_minus=sp.sympify(left), d_at_zero=d0)


# --------------------------------------------------------------------------- behaviour at 0


@dataclass(frozen=True)
class ZeroBehaviour:
    """φ(0), the one-sided slopes φ′(0⁻), φ′(0⁺) (exact) and the small-q limits they imply.

    For q → 0⁺: E[φ(√q z)²] → φ(0)², and when φ(0) = 0,
    E[φ(√q z)²]/q → E[φ′²]₀ := (φ′(0⁻)² + φ′(0⁺)²)/2 = lim E[φ′(√q z)²]
    (``dphi2_limit``; ``dphi2_limit_float`` its float).
    """

    phi0: sp.Expr
    d_left: sp.Expr
    d_right: sp.Expr
    smooth: bool
    dphi2_limit: sp.Expr
    dphi2_limit_float: float
    dphi4_limit_float: float


_ZERO: dict[tuple[Any, ...], ZeroBehaviour] = {}


def zero_behaviour(act: Activation) -> ZeroBehaviour:
    key = activation_key(act)
    zb = _ZERO.get(key)
    if zb is None:
        phi0 = sp.simplify(sp.sympify(act.expr).subs(x, 0))
        left = right = None
        for iv, e in pieces(act.expr):
            d = sp.diff(e, x)
            if (iv.start < 0 or iv.start == -sp.oo) and (iv.end >= 0) and iv.measure != 0:
                left = sp.simplify(d.subs(x, 0))
            if (iv.end > 0 or iv.end == sp.oo) and (iv.start <= 0) and iv.measure != 0:
                right = sp.simplify(d.subs(x, 0))
        if left is None or right is None:  # pragma: no cover - pieces() covers ℝ
            d = sp.simplify(sp.sympify(act.derivative).subs(x, 0))
            left = right = d
        limit = sp.simplify((left**2 + right**2) / 2)
        zb = ZeroBehaviour(
            phi0=phi0,
            d_left=left,
            d_right=right,
            smooth=bool(sp.simplify(left - right) == 0),
            dphi2_limit=limit,
            dphi2_limit_float=float(limit),
            dphi4_limit_float=float((left**4 + right**4) / 2),
        )
        _ZERO[key] = zb
    return zb


# --------------------------------------------------------------------------- moment provider


#: Below this q (with φ(0) = 0) the small-q limits are used: E[φ′²] → E[φ′²]₀,
#: E[φ′⁴] → (φ′(0⁻)⁴ + φ′(0⁺)⁴)/2, E[φ²] → E[φ′²]₀·q; their relative corrections are
#: O(√q) = 1e-20 at a kink and O(q) for smooth φ.
Q_TINY = 1e-40


class Moments:
    """The Gaussian moments one profile needs, with the clamp of the module docstring.

    Homogeneous activations use their exact constants; all others delegate to
    :class:`vgmath.theory.gaussian.GaussianMoments`, except below :data:`Q_TINY` (φ(0) = 0), where
    the small-q limits are exact to double precision. Scalars go through the fast scalar
    path (a few microseconds), arrays through the vectorised one.
    """

    def __init__(self, act: Activation) -> None:
        self.activation = act
        self._gm: GaussianMoments | None = None
        self._tiny: dict[str, float] | None = None
        entry = _load_analysis(act)
        if entry is not None and not entry["homogeneous"]:
            _HOMOGENEOUS.setdefault(activation_key(act), None)
        self.homogeneous = homogeneous(act)
        if entry is not None and entry["homogeneous"] and self.homogeneous is None:
            entry = None  # not what this code finds: recompute (and rewrite the entry)
        #: φ(0) = 0, and E[φ′²]₀ (see :class:`ZeroBehaviour`; set for non-homogeneous φ)
        self.phi0_is_zero = True
        self.dphi2_limit = float("nan")
        if self.homogeneous is None:
            if entry is not None:
                self._gm = _gaussian_from_cache(act, entry)
                if self._gm is None:
                    entry = None  # tables that fail the check: all recomputed, rewritten
            if entry is not None:
                phi0_is_zero = entry["phi0_is_zero"]
                a0, a4 = entry["dphi2_limit"], entry["dphi4_limit"]
            else:
                zb = zero_behaviour(act)
                phi0_is_zero = bool(zb.phi0 == 0)
                a0, a4 = zb.dphi2_limit_float, zb.dphi4_limit_float
            self.phi0_is_zero, self.dphi2_limit = phi0_is_zero, a0
            if phi0_is_zero:
                self._tiny = {
                    "phi2": a0,
                    "dphi2": a0,
                    "dphi4": a4,
                    "z2dphi2": a0,  # E[z²]·E[φ′²]₀: the slopes are constant on each side
                }
        if self.homogeneous is not None:
            h = self.homogeneous
            self._c2 = float(h.c2)
            self._c4 = float(h.c4)
            self._m = float(h.mean_coefficient)
            self.method = "exact (positively homogeneous φ: moments by scaling)"
        else:
            self.method = (
                "vgmath.theory.gaussian moments: " + self.gaussian.method + " (~1e-12 relative)"
            )
        if entry is None:
            _store_analysis(self)

    @property
    def gaussian(self) -> GaussianMoments:
        if self._gm is None:
            self._gm = moments(self.activation)
        return self._gm

    @staticmethod
    def clamp(q: Any) -> Any:
        if isinstance(q, float):
            return Q_MIN if q < Q_MIN else (Q_MAX if q > Q_MAX else q)
        return np.clip(np.asarray(q, dtype=np.float64), Q_MIN, Q_MAX)

    def _phi2_general(self, q: Any) -> Any:
        """E[φ(√q z)²] for non-homogeneous φ. Above Q_MAX, q has all but overflowed: φ grows
        at most linearly, so E[φ²]/q has reached its q → ∞ limit and the value is
        extrapolated linearly (a bounded φ never gets there: q ≤ σ_w² sup φ² + σ_b²)."""
        qc = self.clamp(q)
        v = self._small_q("phi2", qc, self.gaussian.phi2)
        if isinstance(q, float):
            return v * (q / Q_MAX) if q > Q_MAX else v
        big = np.asarray(q) > Q_MAX
        if big.any():
            v = np.array(v, dtype=np.float64)
            v[big] = v[big] * (np.asarray(q)[big] / Q_MAX)
        return v

    def _small_q(self, name: str, q: Any, fn: Any) -> Any:
        """``fn(q)``, with the small-q limit for q < Q_TINY (see :data:`Q_TINY`)."""
        if self._tiny is None:
            return fn(q)
        c = self._tiny[name]
        scale = name == "phi2"
        if isinstance(q, float):
            return fn(q) if q >= Q_TINY else (c * q if scale else c)
        tiny = q < Q_TINY
        if not tiny.any():
            return fn(q)
        out = np.empty_like(q)
        out[tiny] = c * q[tiny] if scale else c
        if (~tiny).any():
            out[~tiny] = fn(q[~tiny])
        return out

    def phi2_scalar(self) -> Callable[[float], float]:
        """A fast scalar E[φ(√q z)²] for the depth recursion (same values as :meth:`phi2`)."""
        if self.homogeneous is not None:
            c2 = self._c2
            return lambda q: c2 * q
        gm_phi2 = self.gaussian.phi2
        general = self._phi2_general

        def f(q: float) -> float:
            if Q_TINY <= q <= Q_MAX:
                return gm_phi2(q)  # type: ignore[no-any-return]
            return general(q)  # type: ignore[no-any-return]

        return f

    # ---- the moments (q may be a float or an array)
    def phi2(self, q: Any) -> Any:
        """E[φ(√q z)²] (exact scaling for homogeneous φ, for every q ≥ 0)."""
        if self.homogeneous is not None:
            return self._c2 * (q if isinstance(q, float) else np.asarray(q, dtype=np.float64))
        return self._phi2_general(q)

    def dphi2(self, q: Any) -> Any:
        """E[φ′(√q z)²]."""
        q = self.clamp(q)
        if self.homogeneous is not None:
            return self._c2 if isinstance(q, float) else np.full_like(q, self._c2)
        return self._small_q("dphi2", q, self.gaussian.dphi2)

    def dphi4(self, q: Any) -> Any:
        """E[φ′(√q z)⁴]."""
        q = self.clamp(q)
        if self.homogeneous is not None:
            return self._c4 if isinstance(q, float) else np.full_like(q, self._c4)
        return self._small_q("dphi4", q, self.gaussian.dphi4)

    def z2dphi2(self, q: Any) -> Any:
        """E[z² φ′(√q z)²] (= E[φ′²] for homogeneous φ: the slope depends on sign(z) only)."""
        q = self.clamp(q)
        if self.homogeneous is not None:
            return self._c2 if isinstance(q, float) else np.full_like(q, self._c2)
        return self._small_q("z2dphi2", q, self.gaussian.z2dphi2)

    def phi_mean(self, q: Any) -> Any:
        """E[φ(√q z)]."""
        q = self.clamp(q)
        if self.homogeneous is not None:
            return self._m * np.sqrt(q) if not isinstance(q, float) else self._m * q**0.5
        return self.gaussian.phi_mean(q)

    def d_phi2_dq(self, q: Any) -> Any:
        """d/dq E[φ(√q z)²]: the slope of the variance map divided by σ_w²."""
        q = self.clamp(q)
        if self.homogeneous is not None:
            return self._c2 if isinstance(q, float) else np.full_like(q, self._c2)
        return self.gaussian.d_phi2_dq(q)

    def cross(self, q: Any, c: Any) -> Any:
        """E[φ(u₁)φ(u₂)] for variances q and correlation c."""
        return self.gaussian.cross(self.clamp(q), c)

    def dcross(self, q: Any, c: Any) -> Any:
        """E[φ′(u₁)φ′(u₂)] for variances q and correlation c."""
        return self.gaussian.dcross(self.clamp(q), c)


# --------------------------------------------------------------------------- on-disk cache
#
# A fresh process pays for the per-activation analysis — SymPy's pieces and limits at 0,
# and the Gaussian moment tables (φ and φ′ at ~460,000 quadrature nodes) — once per
# activation. Its results (a few booleans and floats, the kinks and the Chebyshev
# coefficients of the seven tables) are kept in vgmath's on-disk cache
# (:mod:`vgmath.core.cache`), keyed by the activation and a fingerprint of the code and
# library versions that computed them, and every loaded table is checked against the
# quadrature rule at three q before it is used.

_CACHE_NAMESPACE = "activation-analysis"
_CODE: list[str] = []


def _code_fingerprint() -> str:
    if not _CODE:
        import scipy

        from ..core.cache import source_fingerprint
        from ..symbolic import catalog, domain, piecewise, specs
        from . import moments as moments_module

        files = [m.__file__ or "" for m in (catalog, domain, piecewise, specs, moments_module)]
        files.append(__file__)
        _CODE.append(f"{source_fingerprint(*files)}-numpy{np.__version__}-scipy"
                     f"{scipy.__version__}")
    return _CODE[0]


def _cache_key(act: Activation) -> dict[str, Any]:
    name, source, params = activation_key(act)
    return {"name": name, "source": source, "params": [list(p) for p in params],
            "code": _code_fingerprint()}


def _load_analysis(act: Activation) -> dict[str, Any] | None:
    """The cached analysis of ``act`` with its fields type-checked, or None."""
    from ..core.cache import cache_dir, load

    if cache_dir() is None:  # disabled: no key to hash
        return None
    entry = load(_CACHE_NAMESPACE, _cache_key(act))
    if entry is None or not isinstance(entry.get("homogeneous"), bool):
        return None
    if entry["homogeneous"]:
        return entry
    ok = (isinstance(entry.get("phi0_is_zero"), bool)
          and all(isinstance(entry.get(k), float) for k in ("dphi2_limit", "dphi4_limit"))
          and isinstance(entry.get("kinks"), list)
          and all(isinstance(k, float) for k in entry["kinks"])
          and isinstance(entry.get("tables"), dict))
    return entry if ok else None


def _gaussian_from_cache(act: Activation, entry: dict[str, Any]) -> GaussianMoments | None:
    """The activation's GaussianMoments from cached kinks and tables (checked), or None."""
    known = moments_if_built(act)
    if known is not None:
        return known
    gm = GaussianMoments(act, check=False, kinks=tuple(entry["kinks"]))
    if gm.method != "closed form" and not gm.load_tables(entry["tables"]):
        return None
    remember_moments(act, gm)
    return gm


def _store_analysis(mom: Moments) -> None:
    from ..core.cache import cache_dir, store

    if cache_dir() is None:  # disabled: do not force the tables for nothing
        return
    payload: dict[str, Any] = {"homogeneous": mom.homogeneous is not None}
    if mom.homogeneous is None:
        gm = mom.gaussian
        payload.update(
            phi0_is_zero=mom.phi0_is_zero,
            dphi2_limit=float(mom.dphi2_limit),
            dphi4_limit=float(mom._tiny["dphi4"]) if mom._tiny else float("nan"),
            kinks=[float(k) for k in gm.kinks],
            tables={k: v.reshape(-1).tolist() for k, v in gm.tables().items()},
        )
    store(_CACHE_NAMESPACE, _cache_key(mom.activation), payload)


_PROVIDERS: dict[tuple[Any, ...], Moments] = {}


def moment_provider(act: Activation) -> Moments:
    """The cached :class:`Moments` of an activation."""
    key = activation_key(act)
    m = _PROVIDERS.get(key)
    if m is None:
        m = Moments(act)
        _PROVIDERS[key] = m
    return m
