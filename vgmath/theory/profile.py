"""The result of a mean-field prediction (:class:`Prediction`, :class:`ExactProfile`) and the
per-layer scales every depth profile shares (plain and residual chains alike).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ..core.deprecation import renamed_alias, warn_renamed
from ..core.effort import effort_limit
from ..core.errors import EffortLimitError, InvalidArgumentError
from ..network.description import Chain
from ..symbolic.numbers import exact_text, short_expr
from ..symbolic.typeset import Typeset, latex_equation, latex_from_ln

if TYPE_CHECKING:  # pragma: no cover
    from .precision import PrecisionLimits

__all__ = [
    "FIELDS",
    "MAX_EXACT_DEPTH",
    "ExactProfile",
    "Prediction",
    "distribution_notes",
    "finite_width_prediction",
    "layer_scales",
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


#: Deepest chain whose exact (SymPy) profiles are built; deeper chains have float profiles
#: only (the exact numbers' sizes grow with depth: 10,000 layers took 12 s).
MAX_EXACT_DEPTH = 2000

@dataclass(frozen=True)
class ExactProfile(Typeset):
    """Exact SymPy depth profiles (tuples of length L + 1, ``sympy.nan`` where a quantity does
    not exist); a field is None when it has no exact value (e.g. ``q`` of a post-activation
    ReLU residual chain, whose mean involves √q)."""

    q: tuple[sp.Expr, ...] | None
    chi: tuple[sp.Expr, ...] | None
    grad_second_moment: tuple[sp.Expr, ...] | None
    grad_preact_second_moment: tuple[sp.Expr, ...] | None
    grad_weight_second_moment: tuple[sp.Expr, ...] | None
    sigma_w2: tuple[sp.Expr, ...]

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The exact gradient ratio at the input, the gradient factors χ^l (one value when
        every layer has the same) and q at the output (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        rows = next((v for v in (self.grad_second_moment, self.q, self.chi) if v is not None),
                    None)
        if rows is None:
            return [("exact profile", r"\text{no exact value}")]
        L = len(rows) - 1
        out = [("depth", f"L = {L}")]
        if self.grad_second_moment is not None:
            out.append(("input layer", latex_equation(
                r"\frac{\mathbb{E}[(g^0_i)^2]}{\mathbb{E}[(g^L_i)^2]}",
                self.grad_second_moment[0], digits)))
        if self.chi is not None and L >= 1:
            chis = self.chi[1:]
            if all(c == chis[0] for c in chis):
                out.append(("gradient factor",
                            latex_equation(rf"\chi^l\ (l = 1, \dots, {L})", chis[0], digits)))
            else:
                out.append(("gradient factor", latex_equation(r"\chi^1", chis[0], digits)
                            + r",\ " + latex_equation(rf"\chi^{{{L}}}", chis[-1], digits)))
        if self.q is not None:
            out.append(("forward pass", latex_equation(rf"q^{{{L}}}", self.q[L], digits)))
        return out

    def to_dict(self) -> dict[str, list[str] | None]:
        out: dict[str, list[str] | None] = {}
        for name in (*FIELDS, "sigma_w2"):
            vals = getattr(self, name)
            out[name] = None if vals is None else [exact_text(v) for v in vals]
        return out


@dataclass(frozen=True, eq=False)
class Prediction(Typeset):
    """Mean-field depth profile of a chain; see the module docstring for the maths.

    Arrays are read-only float64 of length L + 1 indexed by layer l = 0..L (blocks for a
    residual chain). ``ln_grad_second_moment`` is ln(grad_second_moment), computed as a sum
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
    mean_ln_chi: FloatArray
    ln_grad_second_moment: FloatArray
    formula: sp.Expr | None
    formulas: Mapping[str, sp.Expr]
    method: str
    notes: tuple[str, ...]
    converged_at: int | None
    extras: Mapping[str, FloatArray] = field(default_factory=dict)
    _exact_builder: Callable[[], ExactProfile | None] | None = field(default=None, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    #: deprecated: logarithms are named by their base (``ln_`` / ``log10_``)
    log_grad_second_moment = renamed_alias("ln_grad_second_moment", "log_grad_second_moment")
    mean_log_chi = renamed_alias("mean_ln_chi", "mean_log_chi")

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
        not rational, or the chain is deeper than :data:`MAX_EXACT_DEPTH`, or building them
        exceeds the effort limit: exact numbers grow with depth, and a 100,000-layer profile
        needed minutes and 14 GB). Built on first access."""
        if "exact" not in self._cache:
            built: ExactProfile | None = None
            if self._exact_builder is not None and self.chain.depth <= MAX_EXACT_DEPTH:
                try:
                    with effort_limit("build the exact depth profile"):
                        built = self._exact_builder()
                except EffortLimitError:
                    built = None
            self._cache["exact"] = built
        return self._cache["exact"]  # type: ignore[no-any-return]

    @property
    def gradient_ratio(self) -> float:
        """E[(g^0)²]/E[(g^L)²]: the whole-network gradient gain (grad_second_moment[0])."""
        return float(self.grad_second_moment[0])

    def underflow_depth(
        self, dtype: Any = "float16", *, output_second_moment: float = 1.0
    ) -> PrecisionLimits:
        """Where E[(g^l)²] leaves the range of ``dtype`` (float16, bfloat16, float32,
        float64): the number of layers back from the output after which it is no longer a
        normal number, after which it rounds to 0, after which it overflows, and the
        power-of-two loss scale that keeps every layer normal
        (:mod:`vgmath.theory.precision`; E[(g^L)²] = ``output_second_moment``).

        >>> import vgmath as vg
        >>> p = vg.predict(vg.Chain("relu", init="xavier", depth=40, width=64))
        >>> lim = p.underflow_depth("float16")  # E[(g^l)²] = 2^-(L-l)
        >>> lim.normal_depth, lim.subnormal_depth
        (15, 25)
        """
        from .precision import precision_limits

        return precision_limits(
            self.ln_grad_second_moment, dtype, output_second_moment=output_second_moment
        )

    def profile(self, name: str) -> FloatArray:
        """A per-layer field by name (one of :data:`FIELDS`, ``sigma_w2``, ``mean_ln_chi``,
        ``ln_grad_second_moment`` or an ``extras`` key)."""
        renamed = {"log_grad_second_moment": "ln_grad_second_moment",
                   "mean_log_chi": "mean_ln_chi"}
        if name in renamed:
            warn_renamed(name, renamed[name])
            name = renamed[name]
        if name in (*FIELDS, "sigma_w2", "mean_ln_chi", "ln_grad_second_moment"):
            return getattr(self, name)  # type: ignore[no-any-return]
        if name in self.extras:
            return self.extras[name]
        raise InvalidArgumentError("name", name, "not a field of this prediction")

    def ln_grad_quantiles(self, probs: Any) -> FloatArray:
        """Quantiles over networks of ln(‖g^l‖²/n_l), shape (len(probs), L + 1), from the
        finite-width law (``extras``: ``ln_grad_mean``, ``ln_grad_sd``,
        ``ln_grad_skewness``; a Gaussian in ln with a Cornish–Fisher skewness correction,
        :mod:`vgmath.theory.markov`); ``exp`` of the 0.5 row is the median network's
        gradient. Only finite-width predictions carry it."""
        from scipy.special import ndtri

        if "ln_grad_mean" not in self.extras:
            raise InvalidArgumentError(
                "prediction", repr(self),
                "has no law of ln‖g‖²: use vg.predict(chain, finite_width=True)",
            )
        p = np.atleast_1d(np.asarray(probs, dtype=np.float64))
        if not np.all((p > 0) & (p < 1)):
            raise InvalidArgumentError("probs", probs, "expected probabilities in (0, 1)")
        mean = np.asarray(self.extras["ln_grad_mean"])
        sd = np.asarray(self.extras["ln_grad_sd"])
        skew = np.asarray(self.extras.get("ln_grad_skewness", np.zeros_like(mean)))
        z = ndtri(p)[:, None]
        # Cornish–Fisher to first order in the skewness
        return mean[None, :] + sd[None, :] * (z + (z * z - 1) * skew[None, :] / 6)  # type: ignore[no-any-return]

    # ---- output
    def to_dict(self, *, include_exact: bool = False) -> dict[str, Any]:
        """Plain data (JSON-ready): the chain description, every field (NaN → None), the
        formula as text and LaTeX, and (on request) the exact profiles as strings."""
        fields = {
            name: _floats(getattr(self, name))
            for name in (*FIELDS, "sigma_w2", "mean_ln_chi", "ln_grad_second_moment")
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
            "formula": None if self.formula is None else exact_text(self.formula),
            "formula_latex": None if self.formula is None else sp.latex(self.formula),
            "formulas": {k: exact_text(v) for k, v in self.formulas.items()},
        }
        if include_exact:
            ex = self.exact
            out["exact"] = None if ex is None else ex.to_dict()
        return out

    def to_json(self, *, include_exact: bool = False, indent: int | None = 2) -> str:
        return json.dumps(
            self.to_dict(include_exact=include_exact), indent=indent, ensure_ascii=False
        )

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The closed form when there is one, else the recursion and the value at the input
        (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        lhs = r"\frac{\mathbb{E}[(g^{l}_i)^2]}{\mathbb{E}[(g^{L}_i)^2]}"
        lhs0 = lhs.replace("{l}", "{0}")
        out: list[tuple[str, str]] = []
        if self.formula is not None:
            cond = r"\ (l < L)" if self.chain.readout == "linear" else ""
            out.append(("closed form", latex_equation(lhs, self.formula, digits) + cond))
            return out
        if self.chain.residual is not None:
            out.append(("recursion", r"\text{residual mean-field recursion (block by block)}"))
        elif getattr(self.chain, "norm", None) == "batch":
            out.append(("recursion", (r"\Gamma_{l-1} = n_l v_l\,\mathbb{E}\big[\iota^2 M D"
                        r"\,\Gamma_l\,D M\big],\ M = P - \hat h\hat h^\top/B"
                        rf"\ \text{{(batch norm, }}B = {self.chain.batch}\text{{)}}")))
        else:
            out.append(("recursion",
                        (r"q^{l} = \sigma_w^2\,\mathbb{E}\big[\varphi(\sqrt{q^{l-1}}\,z)^2\big]"
                        r" + \sigma_b^2")))
            out.append(("gradient factor",
                        (r"\chi^{l} = \sigma_w^2 \frac{n_l}{n_{l-1}}"
                        r"\,\mathbb{E}\big[\varphi'(\sqrt{q^{l}}\,z)^2\big]")))
        val = latex_from_ln(float(self.ln_grad_second_moment[0]), digits)
        out.append((f"input layer (L = {self.depth})", lhs0 + r" \approx " + val))
        return out

    def table(self, *, rows: int = 21) -> str:
        """A text table of the profile (about ``rows`` evenly spaced layers, ends included)."""
        L = self.chain.depth
        idx = sorted({round(i) for i in np.linspace(0, L, min(rows, L + 1))})
        names = ("q", "chi", "grad", "grad_preact", "grad_weight", "mean_ln_chi")
        arrays = (
            self.q,
            self.chi,
            self.grad_second_moment,
            self.grad_preact_second_moment,
            self.grad_weight_second_moment,
            self.mean_ln_chi,
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
            lines.append(
                f"E[(g^l)^2]/E[(g^L)^2] = {short_expr(self.formula)}   (L = depth, l = layer)"
            )
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


def _readonly(a: FloatArray) -> FloatArray:
    a.setflags(write=False)
    return a


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


def finite_width_prediction(mean_field: Prediction, *, q: Any, chi: Any, grad: Any,
                            preact: Any, weight: Any, sigma_w2: Any, log_grad: Any,
                            method: str, notes: Sequence[str],
                            extras: dict[str, Any]) -> Prediction:
    """A finite-width :class:`Prediction` (arrays read-only) of ``mean_field.chain``: no
    formula, the mean-field prediction's ``mean_ln_chi``, and its profiles kept in ``extras``
    (``mean_field_q``, ``mean_field_grad_second_moment``, …) beside the given ones."""
    mf = {
        "mean_field_q": mean_field.q,
        "mean_field_grad_second_moment": mean_field.grad_second_moment,
        "mean_field_grad_preact_second_moment": mean_field.grad_preact_second_moment,
        "mean_field_grad_weight_second_moment": mean_field.grad_weight_second_moment,
    }
    return Prediction(
        chain=mean_field.chain,
        q=_readonly(np.asarray(q, dtype=np.float64)),
        chi=_readonly(np.asarray(chi, dtype=np.float64)),
        grad_second_moment=_readonly(np.asarray(grad, dtype=np.float64)),
        grad_preact_second_moment=_readonly(np.asarray(preact, dtype=np.float64)),
        grad_weight_second_moment=_readonly(np.asarray(weight, dtype=np.float64)),
        sigma_w2=_readonly(np.asarray(sigma_w2, dtype=np.float64)),
        mean_ln_chi=mean_field.mean_ln_chi,
        ln_grad_second_moment=_readonly(np.asarray(log_grad, dtype=np.float64)),
        formula=None,
        formulas={},
        method=method,
        notes=tuple(notes),
        converged_at=None,
        extras={**mf, **{k: _readonly(v) if isinstance(v, np.ndarray) else v
                         for k, v in extras.items()}},
    )


def layer_scales(chain: Chain) -> _LayerScales:
    """Per-layer v_l, σ_w²⁽ˡ⁾ = n_{l-1}v_l and n_l v_l, exact and float, computed once per
    distinct (n_{l-1}, n_l) pair (a square chain has one)."""
    chain.require_numeric("a numeric profile")
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


def distribution_notes(chain: Chain) -> list[str]:
    """The note every prediction for non-Gaussian weights carries."""
    if chain.rule.distribution == "normal":
        return []
    note = (
        f"{chain.rule.distribution} weights: mean-field theory sees only Var(W) = the rule's "
        "variance, so the prediction equals that of Gaussian weights"
    )
    return [note]


def _as_fraction(e: sp.Expr) -> Fraction | None:
    if isinstance(e, sp.Rational):
        return Fraction(int(e.p), int(e.q))
    return None


def _to_sympy(values: list[Fraction | None]) -> tuple[sp.Expr, ...]:
    return tuple(sp.nan if v is None else sp.Rational(v.numerator, v.denominator) for v in values)
