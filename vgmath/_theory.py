"""Mean-field theory through depth: :func:`predict` and :class:`Prediction`.

For a :class:`vgmath.Chain` (conventions in :mod:`vgmath._network`) the infinite-width
(mean-field) theory of Poole et al. 2016 (arXiv:1606.05340) and Schoenholz et al. 2017
(arXiv:1611.01232) gives, layer by layer (v_l = Var(W^l_ij), σ_w²⁽ˡ⁾ = n_{l-1} v_l, z ~ N(0, 1)),

.. math::

    q^1 = \\sigma_w^{2\\,(1)} q_\\text{in} + \\sigma_b^2,\\qquad
    q^l = \\sigma_w^{2\\,(l)}\\,\\mathbb{E}[\\varphi(\\sqrt{q^{l-1}} z)^2] + \\sigma_b^2,

    \\chi^l = v_l\\, n_l\\, \\mathbb{E}[\\varphi'(\\sqrt{q^l} z)^2],\\qquad
    \\mathbb{E}[(g^{l-1}_i)^2] = \\chi^l\\, \\mathbb{E}[(g^l_i)^2].

The forward map uses the *second moment* E[φ²] (not the variance): with zero-mean weights,
E[(h^l_i)²] = n_{l-1} v_l E[(x^{l-1}_j)²] + σ_b² whatever the mean of φ (sigmoid, softplus).
Glorot & Bengio 2010 (χ = 1 for a linear network with fan_avg on square layers) and He et
al. 2015 (arXiv:1502.01852, χ = 1 for ReLU with Var = 2/n_in) are special cases.

Per-layer fields (arrays of length L + 1, NaN where a quantity does not exist) follow the
shared conventions of :mod:`vgmath._network`: ``q``, ``chi``, ``grad_second_moment``
(E[(g^l)²]/E[(g^L)²]), ``grad_preact_second_moment`` (E[(δ^l)²]/E[(g^L)²] =
E[φ′²]·grad_second_moment), ``grad_weight_second_moment`` (E[(∂E/∂W^l_ij)²]/E[(g^L)²] =
E[(δ^l_i)²]·E[(x^{l-1}_j)²]), plus ``sigma_w2`` and ``mean_log_chi`` (the finite-width
E[ln R_l] of :mod:`vgmath._finite_width`).

Weight distributions: mean-field theory only sees second moments, so uniform, truncated-
normal and orthogonal weights with the rule's variance give the same prediction as Gaussian
weights of that variance (for orthogonal matrices this is the mean-field statement; the
finite-width fluctuations differ — Saxe et al. 2014, arXiv:1312.6120).

Closed forms: when E[φ′(√q z)²] does not depend on q (φ positively homogeneous: identity,
ReLU, leaky ReLU, …) χ is an exact number, ``prediction.exact`` holds exact SymPy profiles
(ReLU + He: χ = 1 exactly; ReLU + Xavier on square layers: grad_second_moment[0] = 2^{-L})
and ``prediction.formula`` is E[(g^l)²]/E[(g^L)²] = χ^{L−l} in :data:`vgmath.depth_symbol`
and :data:`vgmath.layer_symbol` when every layer has the same χ. Otherwise the profile is
numeric, with the accuracy of the Gaussian moments (~1e-12 relative per evaluation).

Residual chains (``chain.residual``) dispatch to :mod:`vgmath._residual_theory`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ._criticality import CriticalPoint, critical_point
from ._errors import InvalidArgumentError
from ._finite_width import coupling_coefficient, mean_log_chi_profile
from ._meanfield import Q_MIN, Moments, homogeneous, moment_provider, zero_behaviour
from ._network import Chain
from ._symbols import depth_symbol, layer_symbol

__all__ = [
    "FIELDS",
    "CriticalPoint",
    "ExactProfile",
    "Prediction",
    "critical_point",
    "plain_data",
    "predict",
]

FloatArray = NDArray[np.float64]

#: The shared per-layer fields (also produced by ``vg.simulate``).
FIELDS = (
    "q",
    "chi",
    "grad_second_moment",
    "grad_preact_second_moment",
    "grad_weight_second_moment",
)

_EPS = float(np.finfo(np.float64).eps)
#: Relative step below which q is taken as converged to its fixed point (see ``_q_profile``).
_CONVERGED = 4.0 * _EPS
#: Below this q (σ_b² = 0, φ(0) = 0) the variance map is linear to double precision.
_Q_LINEAR = 1e-40


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ExactProfile:
    """Exact SymPy depth profiles (tuples of length L + 1, ``sympy.nan`` where a quantity does
    not exist); a field is None when it has no exact value (e.g. ``q`` of a post-activation
    ReLU residual chain, whose mean involves √q)."""

    q: tuple[sp.Expr, ...] | None
    chi: tuple[sp.Expr, ...] | None
    grad_second_moment: tuple[sp.Expr, ...] | None
    grad_preact_second_moment: tuple[sp.Expr, ...] | None
    grad_weight_second_moment: tuple[sp.Expr, ...] | None
    sigma_w2: tuple[sp.Expr, ...]

    def to_dict(self) -> dict[str, list[str] | None]:
        out: dict[str, list[str] | None] = {}
        for name in (*FIELDS, "sigma_w2"):
            vals = getattr(self, name)
            out[name] = None if vals is None else [str(v) for v in vals]
        return out


@dataclass(frozen=True, eq=False)
class Prediction:
    """Mean-field depth profile of a chain; see the module docstring for the maths.

    Arrays are read-only float64 of length L + 1 indexed by layer l = 0..L (blocks for a
    residual chain). ``log_grad_second_moment`` is ln(grad_second_moment), computed as a sum
    of logs so that it stays finite where the product underflows.
    ``converged_at``: the layer from which q sits at its fixed point to machine precision
    (the rest of the profile is then constant), or None. ``exact`` (computed on first use)
    holds exact profiles when χ is exact; ``formula`` the closed form of grad_second_moment.
    """

    chain: Chain
    q: FloatArray
    chi: FloatArray
    grad_second_moment: FloatArray
    grad_preact_second_moment: FloatArray
    grad_weight_second_moment: FloatArray
    sigma_w2: FloatArray
    mean_log_chi: FloatArray
    log_grad_second_moment: FloatArray
    formula: sp.Expr | None
    formulas: Mapping[str, sp.Expr]
    method: str
    notes: tuple[str, ...]
    converged_at: int | None
    extras: Mapping[str, FloatArray] = field(default_factory=dict)
    _exact_builder: Callable[[], ExactProfile | None] | None = field(default=None, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- views
    @property
    def depth(self) -> int:
        return self.chain.depth

    @property
    def layers(self) -> NDArray[np.int64]:
        return np.arange(self.chain.depth + 1)

    @property
    def exact(self) -> ExactProfile | None:
        """Exact SymPy profiles (None when χ is not an exact constant of q, or a parameter is
        not rational). Built on first access."""
        if "exact" not in self._cache:
            self._cache["exact"] = None if self._exact_builder is None else self._exact_builder()
        return self._cache["exact"]  # type: ignore[no-any-return]

    @property
    def gradient_ratio(self) -> float:
        """E[(g^0)²]/E[(g^L)²]: the whole-network gradient gain (grad_second_moment[0])."""
        return float(self.grad_second_moment[0])

    def profile(self, name: str) -> FloatArray:
        """A per-layer field by name (one of :data:`FIELDS`, ``sigma_w2``, ``mean_log_chi``,
        ``log_grad_second_moment`` or an ``extras`` key)."""
        if name in (*FIELDS, "sigma_w2", "mean_log_chi", "log_grad_second_moment"):
            return getattr(self, name)  # type: ignore[no-any-return]
        if name in self.extras:
            return self.extras[name]
        raise InvalidArgumentError("name", name, "not a field of this prediction")

    # ---- output
    def to_dict(self, *, include_exact: bool = False) -> dict[str, Any]:
        """Plain data (JSON-ready): the chain description, every field (NaN → None), the
        formula as text and LaTeX, and (on request) the exact profiles as strings."""
        fields = {
            name: _floats(getattr(self, name))
            for name in (*FIELDS, "sigma_w2", "mean_log_chi", "log_grad_second_moment")
        }
        out: dict[str, Any] = {
            "kind": "prediction",
            "chain": self.chain.to_dict(),
            "depth": self.chain.depth,
            "method": self.method,
            "notes": list(self.notes),
            "converged_at": self.converged_at,
            "fields": fields,
            "extras": {k: _floats(v) for k, v in self.extras.items()},
            "formula": None if self.formula is None else str(self.formula),
            "formula_latex": None if self.formula is None else sp.latex(self.formula),
            "formulas": {k: str(v) for k, v in self.formulas.items()},
        }
        if include_exact:
            ex = self.exact
            out["exact"] = None if ex is None else ex.to_dict()
        return out

    def to_json(self, *, include_exact: bool = False, indent: int | None = 2) -> str:
        return json.dumps(
            self.to_dict(include_exact=include_exact), indent=indent, ensure_ascii=False
        )

    def latex(self) -> str:
        """The closed form when there is one, else the recursion and the numeric result."""
        lhs = r"\frac{\mathbb{E}[(g^{l}_i)^2]}{\mathbb{E}[(g^{L}_i)^2]}"
        if self.formula is not None:
            return lhs + " = " + sp.latex(self.formula)
        if self.chain.residual is not None:
            rec = r"\text{residual mean-field recursion (block by block)}"
        else:
            rec = (
                r"q^{l} = \sigma_w^2\,\mathbb{E}\big[\varphi(\sqrt{q^{l-1}}\,z)^2\big]"
                r" + \sigma_b^2,\quad \chi^{l} = \sigma_w^2 \frac{n_l}{n_{l-1}}"
                r"\,\mathbb{E}\big[\varphi'(\sqrt{q^{l}}\,z)^2\big]"
            )
        val = _latex_float(self.gradient_ratio)
        return rec + r",\qquad " + lhs.replace("{l}", "{0}") + r" \approx " + val

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"

    def table(self, *, rows: int = 21) -> str:
        """A text table of the profile (about ``rows`` evenly spaced layers, ends included)."""
        L = self.chain.depth
        idx = sorted({round(i) for i in np.linspace(0, L, min(rows, L + 1))})
        names = ("q", "chi", "grad", "grad_preact", "grad_weight", "mean_log_chi")
        arrays = (
            self.q,
            self.chi,
            self.grad_second_moment,
            self.grad_preact_second_moment,
            self.grad_weight_second_moment,
            self.mean_log_chi,
        )
        head = f"{'l':>5} " + " ".join(f"{n:>13}" for n in names)
        lines = [head, "-" * len(head)]
        for i in idx:
            cells = " ".join(f"{_fmt(a[i]):>13}" for a in arrays)
            lines.append(f"{i:>5} {cells}")
        return "\n".join(lines)

    def summary(self) -> str:
        """A few lines: the chain, the method, the closed form or the overall ratio, notes."""
        lines = [str(self.chain), f"method: {self.method}"]
        if self.formula is not None:
            lines.append(f"E[(g^l)^2]/E[(g^L)^2] = {self.formula}   (L = depth, l = layer)")
        lines.append(f"E[(g^0)^2]/E[(g^L)^2] = {self.gradient_ratio:.6g}")
        if self.converged_at is not None:
            lines.append(f"q reaches its fixed point {self.q[-1]:.6g} at layer {self.converged_at}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"Prediction({self.chain}, gradient_ratio={self.gradient_ratio:.6g})"


def _floats(a: FloatArray) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in a.tolist()]


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "-"
    return f"{v:.6g}"


def _latex_float(v: float) -> str:
    if not math.isfinite(v) or v == 0:
        return str(v)
    e = math.floor(math.log10(abs(v)))
    if -3 <= e <= 3:
        return f"{v:.6g}"
    return rf"{v / 10**e:.4f}\times 10^{{{e}}}"


def plain_data(value: Any) -> dict[str, Any]:
    """``{"exact": str, "float": float | None}`` for a SymPy number (or a float)."""
    if value is None:
        return {"exact": None, "float": None}
    if isinstance(value, sp.Basic):
        try:
            f = float(value)
        except TypeError:
            f = float("nan")
        return {"exact": str(value), "float": f if math.isfinite(f) else None}
    f = float(value)
    return {"exact": None, "float": f if math.isfinite(f) else None}


def _readonly(a: FloatArray) -> FloatArray:
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------- predict


def predict(chain: Chain) -> Prediction:
    """The mean-field depth profile of ``chain`` (see the module docstring).

    >>> import vgmath as vg
    >>> p = vg.predict(vg.Chain(activation="relu", init="he", depth=50, width=256))
    >>> p.exact.chi[1], p.formula
    (1, 1)
    >>> vg.predict(vg.Chain("relu", init="xavier", depth=10, width=64)).exact.grad_second_moment[0]
    1/1024

    References: Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
    arXiv:1611.01232; He et al. 2015, arXiv:1502.01852; Glorot & Bengio 2010.
    """
    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    if getattr(chain, "norm", None) is not None:
        raise InvalidArgumentError(
            "norm",
            chain.norm,
            "vg.predict covers plain and residual chains; the mean-field theory of batch "
            "normalisation (Yang et al. 2019, arXiv:1902.08129) is not part of it — use "
            "vg.simulate for normalised chains",
        )
    if chain.residual is not None:
        from ._residual_theory import predict_residual

        # an exploding or dying profile overflows/underflows to ±inf/0, stated in the notes
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            return predict_residual(chain)
    return _predict_plain(chain)


@dataclass(frozen=True)
class _LayerScales:
    """Exact and float per-layer weight scales, computed once per distinct (n_in, n_out)."""

    unique: tuple[tuple[sp.Expr, sp.Expr, sp.Expr], ...]  # (v, n_in·v, n_out·v) per pair
    index: NDArray[np.int64]  # layer l = 1..L → its entry in ``unique``
    sw2: FloatArray  # σ_w²⁽ˡ⁾ = n_{l-1} v_l, l = 1..L
    vn: FloatArray  # n_l v_l (the χ prefactor)

    @property
    def v(self) -> tuple[sp.Expr, ...]:
        return tuple(self.unique[i][0] for i in self.index.tolist())

    @property
    def sigma_w2(self) -> tuple[sp.Expr, ...]:
        return tuple(self.unique[i][1] for i in self.index.tolist())

    @property
    def gain_out(self) -> tuple[sp.Expr, ...]:
        return tuple(self.unique[i][2] for i in self.index.tolist())


def layer_scales(chain: Chain) -> _LayerScales:
    """Per-layer v_l, σ_w²⁽ˡ⁾ = n_{l-1}v_l and n_l v_l, exact and float, computed once per
    distinct (n_{l-1}, n_l) pair (a square chain has one)."""
    ws = chain.widths
    where: dict[tuple[int, int], int] = {}
    unique: list[tuple[sp.Expr, sp.Expr, sp.Expr]] = []
    index = np.empty(chain.depth, dtype=np.int64)
    for i in range(chain.depth):
        pair = (ws[i], ws[i + 1])
        k = where.get(pair)
        if k is None:
            v = sp.sympify(chain.rule.variance(*pair))
            k = where[pair] = len(unique)
            unique.append((v, pair[0] * v, pair[1] * v))
        index[i] = k
    sw_u = np.array([float(u[1]) for u in unique])
    vn_u = np.array([float(u[2]) for u in unique])
    return _LayerScales(unique=tuple(unique), index=index, sw2=sw_u[index], vn=vn_u[index])


def _q_profile(
    mom: Moments, sw2: FloatArray, input_q: float, sigma_b2: float, *, linear_tail: float | None
) -> tuple[FloatArray, int | None, int | None]:
    """q[0..L] by the recursion; returns (q, converged_at, linear_from).

    Early stop 1 (fixed point): once the layers ahead all share one σ_w² and a step changes q
    by at most 4ε relative, q is at its fixed point to machine precision and the rest of the
    profile is filled with it (if the map's slope at q* is s < 1 the neglected drift is at
    most 4ε·s/(1−s) relative; a slowly-converging critical map never triggers the test,
    since its relative steps are ~q, far above 4ε).
    Early stop 2 (linear regime): with σ_b² = 0 and φ(0) = 0, below q = 1e-40 the map is
    q ↦ σ_w² E[φ′²]₀ q to double precision (corrections are O(√q) relative at a kink and
    O(q) for smooth φ), so the rest is a geometric sequence (``linear_tail`` = E[φ′²]₀).
    """
    L = sw2.size
    sw = sw2.tolist()  # plain floats: the loop below runs per layer
    qs = [float(input_q), sw[0] * input_q + sigma_b2]
    # first layer index (1-based) from which every σ_w² is the same
    tail = L
    while tail > 1 and sw[tail - 2] == sw[L - 1]:
        tail -= 1
    phi2 = mom.phi2_scalar()
    converged_at: int | None = None
    linear_from: int | None = None
    fill: list[float] = []
    prev = qs[1]
    for l in range(2, L + 1):
        cur = sw[l - 1] * phi2(prev) + sigma_b2
        qs.append(cur)
        if not math.isfinite(cur):  # the forward signal overflowed float64
            fill = [math.inf] * (L - l)
            break
        if l >= tail and l < L:
            if abs(cur - prev) <= _CONVERGED * abs(cur):
                fill = [cur] * (L - l)
                converged_at = l
                break
            if linear_tail is not None and cur < _Q_LINEAR:
                a = sw[l - 1] * linear_tail
                with np.errstate(under="ignore"):
                    fill = (cur * a ** np.arange(1, L - l + 1, dtype=np.float64)).tolist()
                linear_from = l
                break
        prev = cur
    q = np.array(qs + fill, dtype=np.float64)
    return q, converged_at, linear_from


def distribution_notes(chain: Chain) -> list[str]:
    """The note every prediction for non-Gaussian weights carries."""
    if chain.rule.distribution == "normal":
        return []
    note = (
        f"{chain.rule.distribution} weights: mean-field theory sees only Var(W) = the rule's "
        "variance, so the prediction equals that of Gaussian weights"
    )
    return [note]


def _predict_plain(chain: Chain) -> Prediction:
    act = chain.act
    mom = moment_provider(act)
    sc = layer_scales(chain)
    input_q = float(chain.input_q)
    sb2 = float(chain.sigma_b2)

    zb = zero_behaviour(act)
    linear_tail = None
    if sb2 == 0 and zb.phi0 == 0 and mom.homogeneous is None:
        linear_tail = float(zb.dphi2_limit)
    with np.errstate(over="ignore", invalid="ignore"):
        q, converged_at, linear_from = _q_profile(
            mom, sc.sw2, input_q, sb2, linear_tail=linear_tail
        )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _finish_plain(chain, mom, sc, q, converged_at, linear_from, input_q)


def _finish_plain(
    chain: Chain,
    mom: Moments,
    sc: _LayerScales,
    q: FloatArray,
    converged_at: int | None,
    linear_from: int | None,
    input_q: float,
) -> Prediction:
    L = chain.depth
    notes: list[str] = []
    if linear_from is not None:
        notes.append(
            f"q < 1e-40 from layer {linear_from}: the variance map is linear there to double "
            "precision and q decays geometrically"
        )
    if np.any(q[1:] < Q_MIN):
        notes.append(
            "q underflows below 1e-300 in deep layers; moments there use the q → 0⁺ limit"
        )
    if np.any(~np.isfinite(q)) or np.any(q > 1e300):
        notes.append(
            "q overflows float64 in deep layers"
            + ("" if mom.homogeneous is not None else "; moments there are evaluated at q = 1e300")
        )

    qa = q[1:]
    d2 = np.asarray(mom.dphi2(qa), dtype=np.float64)
    chi = np.full(L + 1, np.nan)
    chi[1:] = sc.vn * d2
    with np.errstate(divide="ignore"):
        logchi = np.log(chi[1:])
    log_grad = np.zeros(L + 1)
    # log grad[l] = Σ_{k=l+1}^{L} ln χ^k
    log_grad[:-1] = np.cumsum(logchi[::-1])[::-1]
    with np.errstate(under="ignore", over="ignore"):
        grad = np.exp(log_grad)
    preact = np.full(L + 1, np.nan)
    preact[1:] = d2 * grad[1:]
    # E[(x^{l-1}_j)²]: the input's second moment for l = 1, E[φ(√q^{l-1} z)²] after
    m_in = np.empty(L)
    m_in[0] = input_q
    if L > 1:
        m_in[1:] = mom.phi2(q[1:L])
    weight = np.full(L + 1, np.nan)
    with np.errstate(under="ignore", over="ignore"):
        weight[1:] = preact[1:] * m_in
    sigma_w2 = np.full(L + 1, np.nan)
    sigma_w2[1:] = sc.sw2
    d4 = np.asarray(mom.dphi4(qa), dtype=np.float64)
    coupling = np.zeros(L + 1)
    if mom.homogeneous is None:
        coupling[1:] = coupling_coefficient(
            qa, d2, mom.z2dphi2(qa), float(chain.sigma_b2)
        )
    mlc = mean_log_chi_profile(chi, d2, d4, chain.widths, coupling)

    formula, formulas, exact_chi = _plain_formulas(chain, sc)
    method = "mean-field recursion; moments: " + mom.method
    notes.extend(distribution_notes(chain))
    return Prediction(
        chain=chain,
        q=_readonly(q),
        chi=_readonly(chi),
        grad_second_moment=_readonly(grad),
        grad_preact_second_moment=_readonly(preact),
        grad_weight_second_moment=_readonly(weight),
        sigma_w2=_readonly(sigma_w2),
        mean_log_chi=_readonly(mlc),
        log_grad_second_moment=_readonly(log_grad),
        formula=formula,
        formulas=formulas,
        method=method,
        notes=tuple(notes),
        converged_at=converged_at,
        _exact_builder=(lambda: _plain_exact(chain, sc)) if exact_chi else None,
    )


def _plain_formulas(
    chain: Chain, sc: _LayerScales
) -> tuple[sp.Expr | None, dict[str, sp.Expr], bool]:
    """(formula, formulas, χ exact?) for a plain chain (built without ``simplify``: the
    exact numbers involved are already in canonical form)."""
    h = homogeneous(chain.act)
    if h is None:
        return None, {}, False
    c2 = h.c2
    chis = {u[2] * c2 for u in sc.unique}
    formulas: dict[str, sp.Expr] = {}
    formula = None
    L, l = depth_symbol, layer_symbol
    if len(chis) == 1:
        chi = next(iter(chis))
        formula = chi ** (L - l)
        formulas["grad_second_moment"] = formula
        formulas["chi"] = chi
    sws = {u[1] for u in sc.unique}
    if len(sws) == 1:
        sw = next(iter(sws))
        a = sw * c2
        q1 = sw * chain.input_q + chain.sigma_b2
        if a == 1:
            ql = q1 + (l - 1) * chain.sigma_b2
        elif chain.sigma_b2 == 0:
            ql = q1 * a ** (l - 1)
        else:
            ql = a ** (l - 1) * q1 + chain.sigma_b2 * (1 - a ** (l - 1)) / (1 - a)
        formulas["q"] = ql  # valid for l ≥ 1
    return formula, formulas, True


def _as_fraction(e: sp.Expr) -> Fraction | None:
    if isinstance(e, sp.Rational):
        return Fraction(int(e.p), int(e.q))
    return None


def _to_sympy(values: list[Fraction | None]) -> tuple[sp.Expr, ...]:
    return tuple(sp.nan if v is None else sp.Rational(v.numerator, v.denominator) for v in values)


def _plain_exact(chain: Chain, sc: _LayerScales) -> ExactProfile | None:
    """Exact profiles by rational arithmetic (positively homogeneous φ, rational inputs)."""
    h = homogeneous(chain.act)
    assert h is not None
    vals = [h.c2, chain.input_q, chain.sigma_b2, *(e for u in sc.unique for e in u[1:])]
    if not all(isinstance(sp.sympify(v), sp.Rational) for v in vals):
        return None
    c2 = _as_fraction(h.c2)
    iq = _as_fraction(chain.input_q)
    sb2 = _as_fraction(chain.sigma_b2)
    sw = [_as_fraction(e) for e in sc.sigma_w2]
    go = [_as_fraction(e) for e in sc.gain_out]
    assert c2 is not None and iq is not None and sb2 is not None
    L = chain.depth
    q: list[Fraction | None] = [iq]
    m_in: list[Fraction] = [iq]  # E[(x^{l-1})²] for l = 1..L
    for l in range(1, L + 1):
        s = sw[l - 1]
        assert s is not None
        ql = s * m_in[-1] + sb2
        q.append(ql)
        m_in.append(c2 * ql)
    chi: list[Fraction | None] = [None]
    for l in range(1, L + 1):
        g = go[l - 1]
        assert g is not None
        chi.append(g * c2)
    grad: list[Fraction | None] = [None] * (L + 1)
    acc = Fraction(1)
    grad[L] = acc
    for l in range(L, 0, -1):
        c = chi[l]
        assert c is not None
        acc = acc * c
        grad[l - 1] = acc
    pre: list[Fraction | None] = [None] + [c2 * g for g in grad[1:] if g is not None]
    wgt: list[Fraction | None] = [None]
    for l in range(1, L + 1):
        p = pre[l]
        assert p is not None
        wgt.append(p * m_in[l - 1])
    return ExactProfile(
        q=_to_sympy(q),
        chi=_to_sympy(chi),
        grad_second_moment=_to_sympy(grad),
        grad_preact_second_moment=_to_sympy(pre),
        grad_weight_second_moment=_to_sympy(wgt),
        sigma_w2=(sp.nan, *sc.sigma_w2),
    )
