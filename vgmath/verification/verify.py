"""Research verification: a claim about a depth profile, tested against Monte Carlo.

``vg.verify(chain)`` asks whether simulation supports vgmath's own mean-field prediction;
``vg.verify(chain, claim)`` asks the same of a claim from a paper — a callable of the layer
index, an array of length L + 1, a SymPy expression in :data:`vgmath.layer_symbol` (and
:data:`vgmath.depth_symbol`), or its text (``"2**(-(L - l))"``, parsed safely). The answer is
a :class:`Verification`: one test per layer, a family-wise error rate ``alpha`` across
layers, and a verdict.

What is tested, per layer l
---------------------------
Y_t (t = 1..T) are the per-network values of the quantity (e.g. ‖g^l‖²/n_l) in T
independent random networks; the claim m_l is an infinite-width (mean-field) statement.
At width n the ensemble mean differs from its n → ∞ limit by a finite-width bias; vgmath
estimates it to first order in 1/n from the theory (:mod:`vgmath.theory.width_bias`: the
delta-method fluctuation of the per-network q, carried through the layers, plus the
correlation between the forward and backward use of each weight matrix) as B_l, with S_l ≥
|B_l| the sum of the absolute values of its terms, and tests

.. math::

    H_0^{(l)}:\\ \\big|\\ln \\mathbb{E}[Y_l] - (\\ln m_l + B_l)\\big| \\le r_l + \\tau,
    \\qquad r_l = \\frac{S_l}{1 - S_l},

i.e. the claim shifted by the estimated bias, with a tolerance r_l that covers a remainder
as large as the first-order terms themselves, or a geometric series of such terms (the
mean-field value, B = 0, is always inside). Where S_l ≥ 1 the expansion has broken down:
the layer cannot be tested at this width (r = ∞, p = 1) and the verdict says so. ``tau``
is an optional extra tolerance of the user's (natural-log units). Both B and r are columns
of the table. With ``finite_width=False`` the plain null ln E[Y_l] = ln m_l is tested.

The per-layer test works on log scales (values spanning hundreds of decades never under-
or overflow) and uses Hall's skewness-corrected studentised mean by default — the plain
delta-method z-test is anti-conservative for the right-skewed, near-log-normal samples of
deep networks (see :mod:`vgmath.verification.stats` and tests/test_calibration.py). Holm's step-down
procedure adjusts the p-values across layers (valid under the strong dependence between
layers of one network); the claim is rejected when any adjusted p-value is ≤ alpha.

Bound claims
------------
:func:`verify_bound` checks "φ′(x) ≤ c for all x" (or |φ′| ≤ c) against the certified
supremum of :mod:`vgmath.symbolic.bounds` — exactly, or undecided when c falls inside the
enclosure of a numeric supremum — and by sampling φ′ at many points, confirming any
counterexample with exact SymPy arithmetic. :func:`verify_gradient_bound` checks
"‖g^l‖ ≤ c^{L−l} ‖g^L‖ for every layer l" on every simulated network and reports the worst
case.

References: Poole et al. 2016 (arXiv:1606.05340) and Schoenholz et al. 2017
(arXiv:1611.01232) for the theory; Hall 1992 (JRSS B 54:221–228) and Holm 1979 (Scand. J.
Statist. 6:65–70) for the statistics.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ..core.errors import ExpressionError, InvalidArgumentError, NumericalError
from ..core.io import save_by_extension
from ..network.description import Chain
from ..symbolic.symbols import depth_symbol, layer_symbol
from .stats import METHODS, holm, log_mean_test

__all__ = [
    "QUANTITIES",
    "BoundVerification",
    "GradientBoundVerification",
    "Verification",
    "parse_claim",
    "verify",
    "verify_bound",
    "verify_gradient_bound",
]

FloatArray = NDArray[np.float64]

#: Per-layer quantities that can be verified (ensemble means of per-network values).
QUANTITIES = (
    "grad_second_moment",
    "grad_preact_second_moment",
    "grad_weight_second_moment",
    "q",
)
_LN10 = math.log(10.0)

#: Default number of independent networks: enough for Hall's correction to keep the
#: false-alarm rate near alpha at depth 20 and width 128 (tests/test_calibration.py).
DEFAULT_TRIALS = 1000


# --------------------------------------------------------------------------- formatting


def _sci(log_value: float, digits: int = 4) -> str:
    """A positive number given by its natural log, printed without under/overflow."""
    if math.isnan(log_value):
        return "-"
    if log_value == -math.inf:
        return "0"
    if log_value == math.inf:
        return "inf"
    l10 = log_value / _LN10
    e = math.floor(l10)
    mant = 10 ** (l10 - e)
    if mant >= 10 - 0.5 * 10 ** (1 - digits):  # rounding would print 10.000
        mant, e = mant / 10, e + 1
    if -3 <= e <= 3:
        return f"{math.exp(log_value):.{digits}g}"
    return f"{mant:.{digits - 1}f}e{e:+d}"


def _latex_sci(log_value: float, digits: int = 4) -> str:
    text = _sci(log_value, digits)
    if "e" in text and text not in ("inf",):
        mant, exp = text.split("e")
        return rf"{mant}\times 10^{{{int(exp)}}}"
    return {"inf": r"\infty", "-": "--"}.get(text, text)


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "-"
    if p == 0:
        return "0"
    if p < 1e-3:
        return f"{p:.1e}"
    return f"{p:.3f}"


def _num(v: Any) -> float | None:
    f = float(v)
    return f if math.isfinite(f) else None


def _versions() -> dict[str, str]:
    import scipy

    from ..core.version import __version__

    return {
        "vgmath": __version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sympy": sp.__version__,
        "python": platform.python_version(),
    }


class _Report:
    """Shared export API: ``to_dict()`` (subclass), ``rows()``, JSON/CSV, ``save(path)``."""

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every subclass overrides
        raise TypeError("abstract")

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:  # pragma: no cover
        raise TypeError("abstract")

    def to_json(self, *, indent: int | None = 2) -> str:
        """JSON text of :meth:`to_dict` (NaN and ±inf become ``null``)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    def to_csv(self) -> str:
        """CSV, one row per table line; metadata on leading ``#`` lines (``comment="#"``)."""
        buf = io.StringIO()
        meta = {k: v for k, v in self.to_dict().items() if k != "rows"}
        for key, value in meta.items():
            text = json.dumps(value, allow_nan=False) if isinstance(value, (dict, list)) else value
            buf.write(f"# {key}: {text}\n")
        header, rows = self._csv_rows()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON (``.json``) or CSV (``.csv``) by extension, atomically."""
        return save_by_extension(path, self.to_json, self.to_csv)

    def _repr_latex_(self) -> str:
        return self.latex()  # type: ignore[attr-defined,no-any-return]


# --------------------------------------------------------------------------- claims


def _log_of(value: Any, where: str) -> float:
    """Natural log of a claimed positive value (exact SymPy values never underflow)."""
    if isinstance(value, sp.Basic):
        v = sp.sympify(value)
        if v.free_symbols:
            raise InvalidArgumentError(
                "claim", str(value), f"{where}: still depends on {sorted(map(str, v.free_symbols))}"
            )
        if v.is_zero:
            return -math.inf
        if v.is_negative or v.is_real is False:
            raise InvalidArgumentError("claim", str(value), f"{where}: must be a positive real")
        ln = sp.log(v).evalf(30)
        if not ln.is_real:
            raise InvalidArgumentError("claim", str(value), f"{where}: must be a positive real")
        return float(ln)
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError("claim", value, f"{where}: expected a number") from None
    if math.isnan(f):
        return math.nan
    if f < 0:
        raise InvalidArgumentError("claim", value, f"{where}: must be >= 0")
    return math.log(f) if f > 0 else -math.inf


def parse_claim(text: str, chain: Chain) -> sp.Expr:
    """Parse a claim written in ``l`` (layer) and ``L`` (depth) — and ``n`` (width, when all
    widths are equal) — safely: the text is tokenised, ``l`` is renamed to the parser's
    variable and the expression is read by :func:`vgmath.symbolic.parse.parse_expression` (an AST
    whitelist; nothing is evaluated). Returns an expression in :data:`vgmath.layer_symbol`.

    >>> import vgmath as vg
    >>> parse_claim("2**(-(L - l))", vg.Chain("relu", init="xavier", depth=3, width=8))
    2**(l - 3)
    """
    from ..symbolic.parse import parse_expression
    from ..symbolic.symbols import x

    if not isinstance(text, str):
        raise InvalidArgumentError("claim", text, "expected a string")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text.strip()).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as err:
        raise InvalidArgumentError("claim", text, f"cannot be read: {err}") from None
    names = {t.string for t in tokens if t.type == tokenize.NAME}
    if "x" in names:
        raise InvalidArgumentError(
            "claim", text, "a claim is written in l (layer) and L (depth), not x"
        )
    params: dict[str, Any] = {}
    if "L" in names:
        params["L"] = chain.depth
    if "n" in names:
        if len(set(chain.widths)) != 1:
            raise InvalidArgumentError("claim", text, "n is only defined when all widths are equal")
        params["n"] = chain.widths[0]
    out = []
    for t in tokens:
        if t.type == tokenize.NAME and t.string == "l":
            out.append((tokenize.NAME, "x"))
        else:
            out.append((t.type, t.string))
    renamed = tokenize.untokenize(out).strip()
    try:
        expr = parse_expression(renamed, params=params, allow_constant=True)
    except ExpressionError as err:
        raise InvalidArgumentError("claim", text, err.reason.replace("'x'", "'l'")) from None
    except InvalidArgumentError as err:
        raise InvalidArgumentError("claim", text, err.reason) from None
    return expr.subs(x, layer_symbol)


def _claim_logs(
    claim: Any, chain: Chain, quantity: str, prediction: Any
) -> tuple[FloatArray, str]:
    """The claim as natural logs per layer (NaN where nothing is claimed), and a label."""
    L = chain.depth
    if claim is None:
        if quantity == "grad_second_moment":
            logs = np.asarray(prediction.log_grad_second_moment, dtype=float).copy()
            return logs, "vgmath.predict"
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(getattr(prediction, quantity), dtype=float)), "vgmath.predict"
    if isinstance(claim, str):
        expr = parse_claim(claim, chain)
        return _expr_logs(expr, L), claim.strip()
    if isinstance(claim, sp.Basic):
        return _expr_logs(sp.sympify(claim).subs(depth_symbol, L), L), str(claim)
    if hasattr(claim, quantity) and not callable(claim):
        label = type(claim).__name__
        if quantity == "grad_second_moment" and hasattr(claim, "log_grad_second_moment"):
            logs = np.asarray(claim.log_grad_second_moment, dtype=float)  # never underflows
            if logs.shape != (L + 1,):
                raise InvalidArgumentError("claim", label, f"expected L + 1 = {L + 1} layers")
            return logs.copy(), label
        values = np.asarray(getattr(claim, quantity), dtype=float)
        return _array_logs(values, L), label
    if callable(claim):
        logs = np.full(L + 1, np.nan)
        for l in range(L + 1):
            try:
                value = claim(l)
            except Exception as err:  # a user's function: report, don't leak a traceback
                raise InvalidArgumentError(
                    "claim", getattr(claim, "__name__", claim), f"raised at l={l}: {err!r}"
                ) from None
            logs[l] = _log_of(value, f"claim({l})")
        return logs, getattr(claim, "__name__", "callable")
    if isinstance(claim, (Sequence, np.ndarray)):
        return _array_logs(np.asarray(claim, dtype=object), L), "array"
    raise InvalidArgumentError(
        "claim", claim, "expected None, a callable of l, an array, a SymPy expression or text"
    )


def _array_logs(values: Any, L: int) -> FloatArray:
    if values.shape != (L + 1,):
        raise InvalidArgumentError(
            "claim", f"array of shape {values.shape}", f"expected length L + 1 = {L + 1}"
        )
    return np.array([_log_of(v, f"claim[{l}]") for l, v in enumerate(values)])


def _expr_logs(expr: sp.Expr, L: int) -> FloatArray:
    extra = expr.free_symbols - {layer_symbol}
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        raise InvalidArgumentError(
            "claim", str(expr), f"may only depend on l and L (found {names})"
        )
    return np.array([_log_of(expr.subs(layer_symbol, l), f"claim at l={l}") for l in range(L + 1)])


# --------------------------------------------------------------------------- verify


@dataclass(frozen=True, eq=False)
class Verification(_Report):
    """The verdict of :func:`verify`: one row per tested layer, and the overall answer.

    Per-layer arrays (natural logs unless named otherwise) are indexed like ``layers``:
    ``log_claim`` (the claim m_l), ``bias`` (B_l, the estimated finite-width bias),
    ``tolerance`` (r_l + τ; inf where untestable), ``log_estimate`` and ``log_ci_low`` /
    ``log_ci_high`` (the simulated mean and its (1 − alpha) interval, unadjusted),
    ``log_sd`` (the spread of ln Y over networks: heavy tails show here), ``statistic``,
    ``p_value``, ``p_adjusted`` (Holm) and ``rejected``.
    """

    chain: Chain
    quantity: str
    claim_label: str
    method: str
    alpha: float
    trials: int
    seed: int
    finite_width: bool
    extra_tolerance: float
    layers: NDArray[np.int64]
    log_claim: FloatArray
    bias: FloatArray
    tolerance: FloatArray
    log_estimate: FloatArray
    log_ci_low: FloatArray
    log_ci_high: FloatArray
    log_sd: FloatArray
    statistic: FloatArray
    p_value: FloatArray
    p_adjusted: FloatArray
    rejected: NDArray[np.bool_]
    notes: tuple[str, ...] = ()
    simulation: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def tested(self) -> NDArray[np.bool_]:
        """Which rows were tested (False where the finite-width tolerance is infinite)."""
        return np.isfinite(self.tolerance)

    @property
    def passed(self) -> bool:
        """True when at least one layer was tested and none is rejected at family-wise
        level ``alpha``."""
        return bool(self.tested.any()) and not bool(self.rejected.any())

    @property
    def rejected_layers(self) -> list[int]:
        return [int(l) for l in self.layers[self.rejected]]

    @property
    def untestable_layers(self) -> list[int]:
        """Layers whose finite-width bias is too large to test the claim at this width."""
        return [int(l) for l in self.layers[np.isinf(self.tolerance)]]

    @property
    def worst_layer(self) -> int | None:
        """The tested layer with the smallest adjusted p-value (None if none was tested)."""
        if not self.tested.any():
            return None
        return int(self.layers[int(np.nanargmin(np.where(self.tested, self.p_adjusted, np.nan)))])

    def summary(self) -> str:
        if not self.tested.any():
            verdict = "INCONCLUSIVE (no layer testable at this width)"
        else:
            verdict = "PASSED" if self.passed else "REJECTED"
        lines = [
            f"verify {self.quantity} of {self.chain}",
            (
                f"claim: {self.claim_label}; method: {self.method}; alpha = {self.alpha} "
                f"(Holm over {int(np.isfinite(self.tolerance).sum())} tested layers); "
                f"trials = {self.trials}; "
                f"seed = {self.seed}"
            ),
            f"verdict: {verdict}"
            + (f" (rejected at layers {self.rejected_layers})" if not self.passed else "")
            + (
                ""
                if self.worst_layer is None
                else f"; smallest adjusted p = "
                f"{_fmt_p(float(np.nanmin(self.p_adjusted[self.tested])))} "
                f"at layer {self.worst_layer}"
            ),
        ]
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def table(self, *, rows: int | None = None) -> str:
        """Text table: layer, claim, bias, tolerance, simulated [CI], statistic, p, adjusted p,
        pass. ``rows`` limits it to about that many evenly spaced layers (rejected ones are
        always shown)."""
        idx = _row_selection(self.layers, self.rejected, rows)
        head = (
            f"{'l':>4} {'claim':>11} {'fw bias':>8} {'tol':>7} {'simulated':>11} "
            f"{'CI low':>11} {'CI high':>11} {'stat':>7} {'p':>8} {'p adj':>8}  pass"
        )
        lines = [self.summary(), "", head, "-" * len(head)]
        for i in idx:
            tol = self.tolerance[i]
            lines.append(
                f"{self.layers[i]:>4} {_sci(self.log_claim[i]):>11} {self.bias[i]:>+8.4f} "
                f"{'inf' if np.isinf(tol) else f'{tol:.4f}':>7} {_sci(self.log_estimate[i]):>11} "
                f"{_sci(self.log_ci_low[i]):>11} {_sci(self.log_ci_high[i]):>11} "
                f"{self.statistic[i]:>+7.2f} {_fmt_p(self.p_value[i]):>8} "
                f"{_fmt_p(self.p_adjusted[i]):>8}  {'no' if self.rejected[i] else 'yes'}"
            )
        lines.append("")
        lines.append(
            "claim: the claimed infinite-width value; fw bias: estimated finite-width bias "
            "B (ln units); tol: allowed |ln(simulated/claim) − B|; CI: "
            f"{100 * (1 - self.alpha):g}% interval of the simulated mean (unadjusted)"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table(rows=25)

    def __repr__(self) -> str:
        return (
            f"Verification({self.chain}, quantity={self.quantity!r}, claim={self.claim_label!r}, "
            f"passed={self.passed}, rejected_layers={self.rejected_layers})"
        )

    def _latex_cells(self) -> list[list[str]]:
        out = []
        for i in range(len(self.layers)):
            tol = self.tolerance[i]
            out.append([
                str(self.layers[i]),
                _latex_sci(self.log_claim[i]),
                f"{self.bias[i]:+.4f}",
                r"\infty" if np.isinf(tol) else f"{tol:.4f}",
                _latex_sci(self.log_estimate[i]),
                f"[{_latex_sci(self.log_ci_low[i])}, {_latex_sci(self.log_ci_high[i])}]",
                _fmt_p(self.p_value[i]),
                _fmt_p(self.p_adjusted[i]),
                r"\times" if self.rejected[i] else r"\checkmark",
            ])
        return out

    def latex(self, *, math_mode: bool = False) -> str:
        """The verdict table as a LaTeX ``tabular`` (cells in ``$…$``) with a comment line
        naming the claim and the verdict; ``math_mode=True`` gives a bare ``array`` (for
        notebooks, :meth:`_repr_latex_`)."""
        head = [
            "l", r"\text{claim}", "B_l", r"\text{tol.}", r"\text{simulated}",
            f"{100 * (1 - self.alpha):g}" + r"\%\ \text{CI}", "p", r"p_\mathrm{Holm}",
            r"\text{pass}",
        ]
        cells = self._latex_cells()
        if math_mode:
            body = [" & ".join(head) + r" \\ \hline"]
            body += [" & ".join(row) + r" \\" for row in cells]
            return r"\begin{array}{rrrrrrrrc}" + "\n".join(body) + r"\end{array}"
        verdict = "passed" if self.passed else "rejected"
        rows = [
            r"\begin{tabular}{rrrrrrrrc}",
            r"\hline",
            " & ".join(f"${h}$" for h in head) + r" \\",
            r"\hline",
        ]
        rows += [" & ".join(f"${c}$" for c in row) + r" \\" for row in cells]
        rows += [r"\hline", r"\end{tabular}"]
        caption = (
            f"% {self.quantity} of {self.chain}: claim {self.claim_label}, {verdict} at "
            f"alpha = {self.alpha} (Holm), {self.trials} networks, seed {self.seed}"
        )
        return caption + "\n" + "\n".join(rows)

    def _repr_latex_(self) -> str:
        return "$$" + self.latex(math_mode=True) + "$$"

    def to_dict(self) -> dict[str, Any]:
        """Plain data with everything needed to reproduce the verdict."""
        rows = [
            {
                "layer": int(self.layers[i]),
                "claim": _num(self.log_claim[i] / _LN10),
                "finite_width_bias": _num(self.bias[i]),
                "tolerance": _num(self.tolerance[i]),
                "simulated": _num(self.log_estimate[i] / _LN10),
                "ci_low": _num(self.log_ci_low[i] / _LN10),
                "ci_high": _num(self.log_ci_high[i] / _LN10),
                "log_sd": _num(self.log_sd[i]),
                "statistic": _num(self.statistic[i]),
                "p_value": _num(self.p_value[i]),
                "p_adjusted": _num(self.p_adjusted[i]),
                "passed": not bool(self.rejected[i]),
            }
            for i in range(len(self.layers))
        ]
        return {
            "kind": "vgmath.verification",
            "passed": self.passed,
            "rejected_layers": self.rejected_layers,
            "untestable_layers": self.untestable_layers,
            "claim": self.claim_label,
            "quantity": self.quantity,
            "chain": self.chain.to_dict(),
            "parameters": {
                "alpha": self.alpha,
                "method": self.method,
                "multiplicity": "holm",
                "finite_width": self.finite_width,
                "extra_tolerance": self.extra_tolerance,
                "trials": self.trials,
                "seed": self.seed,
            },
            "units": "claim, simulated, ci_low, ci_high: log10; bias, tolerance, log_sd: "
            "natural log",
            "simulation": dict(self.simulation),
            "versions": _versions(),
            "notes": list(self.notes),
            "rows": rows,
        }

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        rows = self.to_dict()["rows"]
        header = list(rows[0]) if rows else ["layer"]
        return header, [[r[k] for k in header] for r in rows]


def _row_selection(
    layers: NDArray[np.int64], flagged: NDArray[np.bool_], rows: int | None
) -> list[int]:
    n = len(layers)
    if rows is None or n <= rows:
        return list(range(n))
    keep = {round(i) for i in np.linspace(0, n - 1, rows)}
    keep |= {int(i) for i in np.flatnonzero(flagged)}
    return sorted(keep)


def _widths_text(chain: Chain) -> str:
    lo, hi = min(chain.widths), max(chain.widths)
    return str(lo) if lo == hi else f"{lo}..{hi}"


def _finite_width_band(
    chain: Chain, quantity: str, finite_width: bool, notes: list[str]
) -> tuple[FloatArray, FloatArray]:
    """(B_l, r_l) per layer; zeros when the expansion is off or does not apply."""
    L = chain.depth
    zeros = np.zeros(L + 1)
    if not finite_width:
        notes.append("finite-width bias not modelled (finite_width=False): testing E[Y] = claim")
        return zeros, zeros.copy()
    if chain.residual is not None:
        notes.append(
            "no finite-width expansion for residual chains: B = 0; pass tolerance= to allow "
            "for finite-width effects"
        )
        return zeros, zeros.copy()
    from ..theory.width_bias import width_bias

    bias, scale = width_bias(chain).for_quantity(quantity)
    b = np.nan_to_num(bias, nan=0.0)
    sc = np.nan_to_num(scale, nan=0.0)
    with np.errstate(divide="ignore"):
        r = np.where(sc < 1, sc / np.maximum(1 - sc, 0.0), np.inf)
    if not chain.rule.gaussian:
        notes.append(
            f"the finite-width bias is derived for Gaussian weights; {chain.rule} weights may "
            "differ at O(1/n)"
        )
    return b, r


def verify(
    chain: Chain,
    claim: Any = None,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
    alpha: float = 0.01,
    quantity: str = "grad_second_moment",
    method: str = "hall",
    finite_width: bool = True,
    tolerance: float = 0.0,
    simulation: Any = None,
    workers: int = 1,
) -> Verification:
    """Test a per-layer claim (vgmath's own prediction by default) against simulation.

    Parameters
    ----------
    chain
        The network (:class:`vgmath.Chain`).
    claim
        ``None`` (vgmath's mean-field prediction), a callable ``f(l)``, an array of length
        L + 1 (NaN = no claim at that layer), a SymPy expression in :data:`vgmath.layer_symbol`
        and :data:`vgmath.depth_symbol`, text in ``l`` and ``L`` (``"2**(-(L - l))"``), or
        an object with a ``quantity`` attribute (another :class:`vgmath.Prediction`).
    trials, seed, workers
        Passed to :func:`vgmath.simulate` (``seed=None`` draws fresh entropy, recorded).
    alpha
        Family-wise error rate across layers (Holm).
    quantity
        One of :data:`QUANTITIES`.
    method
        ``"hall"`` (default), ``"lognormal"`` or ``"z"`` (see :mod:`vgmath.verification.stats`).
    finite_width
        Shift the claim by the estimated finite-width bias and allow for it (module doc).
    tolerance
        Extra allowed |ln(simulated/claim)| (natural-log units, ≥ 0).
    simulation
        Reuse an existing :class:`vgmath.Simulation` of ``chain`` instead of simulating.

    >>> import vgmath as vg
    >>> chain = vg.Chain("relu", init="he", depth=10, width=64)
    >>> vg.verify(chain, seed=0).passed
    True
    >>> vg.verify(chain, "2**(-(L - l))", seed=0).passed
    False
    """
    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    if quantity not in QUANTITIES:
        raise InvalidArgumentError("quantity", quantity, f"expected one of {', '.join(QUANTITIES)}")
    if method not in METHODS:
        raise InvalidArgumentError("method", method, f"expected one of {', '.join(METHODS)}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InvalidArgumentError("alpha", alpha, "must be a number in (0, 1)")
    try:
        tau = float(tolerance)
    except (TypeError, ValueError):
        raise InvalidArgumentError("tolerance", tolerance, "expected a number >= 0") from None
    if not (tau >= 0 and math.isfinite(tau)):
        raise InvalidArgumentError("tolerance", tolerance, "expected a finite number >= 0")

    from ..montecarlo.simulate import Simulation, simulate
    from ..theory.predict import predict

    prediction = predict(chain) if claim is None else None
    log_claim, label = _claim_logs(claim, chain, quantity, prediction)

    if simulation is None:
        sim = simulate(chain, trials=trials, seed=seed, workers=workers)
    else:
        if not isinstance(simulation, Simulation):
            raise InvalidArgumentError("simulation", simulation, "expected a vgmath.Simulation")
        if simulation.chain != chain:
            raise InvalidArgumentError(
                "simulation", repr(simulation), f"was run for a different chain than {chain}"
            )
        sim = simulation
    if sim.trials < 3:
        raise InvalidArgumentError("trials", sim.trials, "need at least 3 networks")

    notes: list[str] = []
    bias, r = _finite_width_band(chain, quantity, finite_width, notes)
    logs = np.asarray(sim.samples[f"log_{quantity}"], dtype=float)
    has_samples = ~np.isnan(logs).any(axis=0)
    tested = np.flatnonzero(has_samples & ~np.isnan(log_claim))
    if tested.size == 0:
        raise InvalidArgumentError(
            "claim", label, f"claims nothing at a layer where {quantity} exists"
        )
    band = r[tested] + tau
    untestable = np.isinf(band)
    test = log_mean_test(
        logs[:, tested],
        log_claim[tested] + bias[tested],
        band=np.where(untestable, 0.0, band),
        alpha=alpha,
        method=method,
    )
    stat = np.where(untestable, 0.0, test.statistic)
    p = np.where(untestable, 1.0, test.p_value)
    # Holm over the layers actually tested (an untestable layer is not a test)
    p_adj = np.where(untestable, 1.0, holm(np.where(untestable, np.nan, p)))
    rejected = p_adj <= alpha
    if untestable.any():
        notes.append(
            f"layers {[int(l) for l in tested[untestable]]}: the first-order finite-width "
            f"correction reaches S ≥ 1 (a factor e ≈ 2.7) at width {_widths_text(chain)}: "
            "the infinite-width claim cannot be tested there (increase the width)"
        )
    with np.errstate(invalid="ignore"):
        spread = np.where(np.isneginf(logs[:, tested]), np.nan, logs[:, tested]).std(axis=0)
    heavy = tested[(spread > 1.2) & ~untestable]
    if heavy.size:
        notes.append(
            f"layers {[int(l) for l in heavy]}: ln Y spreads by more than 1.2 over networks: the "
            "mean is dominated by rare networks and the nominal level is not guaranteed "
            "(tests/test_calibration.py); use more trials, a wider chain, or "
            "method='lognormal' (exact for log-normal samples)"
        )
    return Verification(
        chain=chain,
        quantity=quantity,
        claim_label=label,
        method=method,
        alpha=float(alpha),
        trials=int(sim.trials),
        seed=int(sim.seed),
        finite_width=bool(finite_width),
        extra_tolerance=tau,
        layers=tested.astype(np.int64),
        log_claim=log_claim[tested],
        bias=bias[tested],
        tolerance=band,
        log_estimate=test.estimate,
        log_ci_low=test.ci_low,
        log_ci_high=test.ci_high,
        log_sd=spread,
        statistic=stat,
        p_value=p,
        p_adjusted=p_adj,
        rejected=rejected,
        notes=tuple(notes),
        simulation={
            "trials": int(sim.trials),
            "seed": int(sim.seed),
            "method": sim.method,
            "dtype": sim.dtype,
            "block_size": int(sim.block_size),
        },
    )


# --------------------------------------------------------------------------- bound claims


def _sample_points(act: Any, bound: Any, rng: np.random.Generator, samples: int) -> FloatArray:
    """Where to look for a counterexample: Gaussian clouds at several scales, both sides of
    every kink, around every certified critical point and where the sup is attained."""
    scales = np.array([0.01, 0.1, 1.0, 3.0, 10.0, 100.0])
    per = max(1, samples // len(scales))
    pts = [rng.standard_normal((len(scales), per)).ravel() * np.repeat(scales, per)]
    anchors: list[float] = [0.0]
    for b in act.breakpoints:
        anchors.append(float(b))
    for loc, _ in getattr(bound, "critical_points", ()):
        try:
            anchors.append(float(loc))
        except TypeError:
            continue
    arg = getattr(bound, "argsup", None)
    try:
        if arg is not None and sp.sympify(arg).is_number and sp.sympify(arg).is_finite:
            anchors.append(float(arg))
    except (TypeError, sp.SympifyError):
        pass
    for a in anchors:
        for eps in (0.0, 1e-12, 1e-9, 1e-6, 1e-3):
            pts.append(np.array([a - eps, a + eps]))
    return np.unique(np.concatenate(pts))


def _exact_derivative_at(act: Any, point: float) -> sp.Expr:
    """φ′ at a float point (read exactly as the binary rational it is), to 60 digits."""
    from ..symbolic.symbols import x

    value = act.derivative.subs(x, sp.Rational(point))
    return sp.N(value, 60)


@dataclass(frozen=True, eq=False)
class BoundVerification(_Report):
    """The verdict on "φ′(x) ≤ c for every real x" (or "|φ′(x)| ≤ c").

    ``holds`` is True/False when decided by the certified supremum (``certified_sup`` with
    enclosure ``sup_interval``; exact when ``sup_error == 0``), and None when c lies inside
    the enclosure of a numeric supremum (undecidable at the certified precision).
    ``counterexample`` is a point x (a float, with φ′(x) checked exactly) where the claim
    fails, found by property sampling; ``sampled_max`` is the largest sampled value.
    """

    activation: str
    c: sp.Expr
    absolute: bool
    holds: bool | None
    certified_sup: sp.Expr
    sup_error: sp.Expr
    sup_interval: tuple[float, float]
    sup_exact: bool
    sup_method: str
    counterexample: tuple[float, sp.Expr] | None
    sampled_max: float
    sampled_argmax: float
    samples: int
    seed: int

    @property
    def passed(self) -> bool:
        return self.holds is True

    @property
    def claim(self) -> str:
        lhs = "|φ′(x)|" if self.absolute else "φ′(x)"
        return f"{lhs} ≤ {self.c} for all real x"

    @property
    def verdict(self) -> str:
        return {True: "holds", False: "fails", None: "undecided"}[self.holds]

    def table(self) -> str:
        sup = "sup |φ′|" if self.absolute else "sup φ′"
        exact = "exact" if self.sup_exact else f"± {sp.N(self.sup_error, 3)}"
        lines = [
            f"claim: {self.claim}  (activation {self.activation})",
            f"certified {sup} = {self.certified_sup} ({exact}; {self.sup_method})",
            f"  enclosure [{self.sup_interval[0]:.17g}, {self.sup_interval[1]:.17g}]",
            (
                f"sampled max over {self.samples} points (seed {self.seed}) = "
                f"{self.sampled_max:.17g} at x = {self.sampled_argmax:.17g}"
            ),
        ]
        if self.counterexample is not None:
            xc, val = self.counterexample
            lines.append(f"counterexample: x = {xc!r}, φ′(x) = {val} > {self.c}")
        if self.holds is None:
            lines.append(
                f"verdict: UNDECIDED — c = {self.c} lies inside the certified enclosure of the "
                "supremum; no counterexample found"
            )
        else:
            lines.append(f"verdict: {self.verdict.upper()}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def latex(self) -> str:
        lhs = r"|\varphi'(x)|" if self.absolute else r"\varphi'(x)"
        sup = r"\sup|\varphi'|" if self.absolute else r"\sup\varphi'"
        rel = {True: r"\le", False: ">", None: r"\approx"}[self.holds]
        return (
            f"$\\forall x:\\ {lhs} \\le {sp.latex(self.c)}$ ({self.verdict}): "
            f"${sup} = {sp.latex(self.certified_sup)} {rel} {sp.latex(self.c)}$"
        )

    def to_dict(self) -> dict[str, Any]:
        ce = None
        if self.counterexample is not None:
            ce = {"x": self.counterexample[0], "derivative": str(self.counterexample[1])}
        return {
            "kind": "vgmath.bound_verification",
            "claim": self.claim,
            "activation": self.activation,
            "c": str(self.c),
            "absolute": self.absolute,
            "holds": self.holds,
            "verdict": self.verdict,
            "passed": self.passed,
            "certified_sup": str(self.certified_sup),
            "sup_exact": self.sup_exact,
            "sup_error": str(self.sup_error),
            "sup_interval": [float(self.sup_interval[0]), float(self.sup_interval[1])],
            "sup_method": self.sup_method,
            "counterexample": ce,
            "sampled_max": _num(self.sampled_max),
            "sampled_argmax": _num(self.sampled_argmax),
            "parameters": {"samples": self.samples, "seed": self.seed},
            "versions": _versions(),
            "rows": [],
        }

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        d = self.to_dict()
        keys = ["claim", "verdict", "certified_sup", "sup_error", "sampled_max", "sampled_argmax"]
        return keys, [[d[k] for k in keys]]


def verify_bound(
    activation: Any, c: Any, *, absolute: bool = False, samples: int = 20000,
    seed: int | None = None,
) -> BoundVerification:
    """Check "φ′(x) ≤ c for all x" (``absolute=True``: "|φ′(x)| ≤ c"), certified and sampled.

    The certified decision compares c with the supremum proved by :mod:`vgmath.symbolic.bounds`:
    the claim holds iff c ≥ sup (exact comparison when the supremum is exact); with a
    numeric supremum enclosed in [lo, hi] it holds if c ≥ hi, fails if c < lo and is
    undecided in between. Independently, φ′ is sampled at ``samples`` points (several
    scales, both sides of every kink, every certified critical point); a sampled value above
    c is re-evaluated exactly before it is reported as a counterexample. A certified "holds"
    contradicted by a confirmed counterexample raises :class:`vgmath.NumericalError`.

    >>> import vgmath as vg
    >>> vg.verify_bound("sigmoid", "1/4").holds, vg.verify_bound("sigmoid", 0.24).holds
    (True, False)
    """
    from ..symbolic.activation import as_activation

    act = as_activation(activation)
    cval = _bound_constant(c)
    n_samples = _positive_int("samples", samples)
    seed_value = _seed(seed)
    b = act.derivative_bound()
    if absolute:
        sup, err, exact, interval = b.sup_abs, b.sup_abs_error, b.sup_abs_exact, b.sup_abs_interval
    else:
        sup, err, exact, interval = b.sup, b.sup_error, b.sup_exact, b.sup_interval
    lo, hi = (float(interval[0]), float(interval[1])) if interval is not None else (math.nan,) * 2
    holds: bool | None
    if sup is sp.oo or sup == sp.oo:
        holds = False
        lo = hi = math.inf
    elif exact:
        diff = sp.simplify(cval - sup)
        if diff == 0:
            holds = True
        else:
            # a nonzero difference of exact numbers: 60 digits decide its sign (a zero that
            # simplify missed shows up as |diff| < 1e-45 and counts as c = sup)
            dv = diff.evalf(60)
            holds = bool(dv >= 0) or bool(abs(dv) < sp.Float("1e-45"))
    else:
        # the certified enclosure sup ± sup_error (a Float of 30 digits and a rigorous bound)
        mlo, mhi = sp.Float(sup, 60) - sp.Float(err, 60), sp.Float(sup, 60) + sp.Float(err, 60)
        lo, hi = float(mlo), float(mhi)
        if bool(cval >= mhi):
            holds = True
        elif bool(cval < mlo):
            holds = False
        else:
            holds = None
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed_value)))
    pts = _sample_points(act, b, rng, n_samples)
    with np.errstate(all="ignore"):
        vals = np.asarray(act.grad(pts), dtype=float)
    if absolute:
        vals = np.abs(vals)
    finite = np.isfinite(vals)
    k = int(np.argmax(np.where(finite, vals, -np.inf)))
    counter: tuple[float, sp.Expr] | None = None
    cf = float(cval)
    for i in np.argsort(-np.where(finite, vals, -np.inf))[:20]:
        if not finite[i] or vals[i] <= cf - 1e-12 * max(1.0, abs(cf)):
            break
        exact_val = _exact_derivative_at(act, float(pts[i]))
        if absolute:
            exact_val = abs(exact_val)
        if exact_val.is_number and bool(exact_val > cval):
            counter = (float(pts[i]), exact_val)
            break
    if counter is not None and holds is True:
        raise NumericalError(
            f"certified sup {sup} ≤ c = {cval} but φ′({counter[0]!r}) = {counter[1]} > c"
        )
    if counter is not None and holds is None:
        holds = False
    return BoundVerification(
        activation=act.label,
        c=cval,
        absolute=bool(absolute),
        holds=holds,
        certified_sup=sup,
        sup_error=err,
        sup_interval=(lo, hi),
        sup_exact=bool(exact),
        sup_method=b.sup_method if not absolute else "max(|sup|, |inf|)",
        counterexample=counter,
        sampled_max=float(vals[k]),
        sampled_argmax=float(pts[k]),
        samples=int(pts.size),
        seed=seed_value,
    )


def _bound_constant(c: Any) -> sp.Expr:
    from ..symbolic.parse import to_sympy_number

    try:
        value = to_sympy_number("c", c)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            "c", c, "expected a number such as 1/4, 0.25 or sqrt(2)/2"
        ) from None
    return value


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(name, value, "expected a positive integer")
    return int(value)


def _seed(seed: Any) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError("seed", seed, "expected a non-negative integer or None")
    return int(seed)


@dataclass(frozen=True, eq=False)
class GradientBoundVerification(_Report):
    """The verdict on "‖g^l‖ ≤ c^{L−l} ‖g^L‖ for every layer l and every network".

    Per layer (``layers`` = 0..L−1): ``log_bound`` = (L − l) ln c, ``worst`` = the largest
    ln(‖g^l‖/‖g^L‖) over the simulated networks, ``violations`` = how many networks break
    the bound, ``median`` = the median of ln(‖g^l‖/‖g^L‖). The claim is refuted by any
    violation; with none in T networks, the probability that a random network violates it
    at some layer is below 3/T at 95% confidence (the "rule of three"), not proved zero.
    """

    chain: Chain
    c: sp.Expr
    trials: int
    seed: int
    layers: NDArray[np.int64]
    log_bound: FloatArray
    worst: FloatArray
    median: FloatArray
    violations: NDArray[np.int64]
    worst_network: int
    simulation: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return int(self.violations.sum()) == 0

    @property
    def holds(self) -> bool:
        return self.passed

    @property
    def rejected_layers(self) -> list[int]:
        return [int(l) for l in self.layers[self.violations > 0]]

    @property
    def worst_margin(self) -> float:
        """max over layers and networks of ln(‖g^l‖/‖g^L‖) − (L − l) ln c (> 0: violated)."""
        return float(np.max(self.worst - self.log_bound))

    def table(self, *, rows: int | None = None) -> str:
        head = (
            f"{'l':>4} {'bound c^(L-l)':>14} {'worst ratio':>12} {'median ratio':>13} "
            f"{'violations':>11}"
        )
        verdict = "HOLDS on every network" if self.passed else (
            f"FAILS: violated at layers {self.rejected_layers}"
        )
        lines = [
            f"claim: ‖g^l‖/‖g^L‖ ≤ ({self.c})^(L−l) for every layer, {self.chain}",
            (
                f"{self.trials} networks, seed {self.seed}; worst margin ln(ratio/bound) = "
                f"{self.worst_margin:+.4g} (network {self.worst_network})"
            ),
            f"verdict: {verdict}",
            "",
            head,
            "-" * len(head),
        ]
        for i in _row_selection(self.layers, self.violations > 0, rows):
            lines.append(
                f"{self.layers[i]:>4} {_sci(self.log_bound[i]):>14} {_sci(self.worst[i]):>12} "
                f"{_sci(self.median[i]):>13} {int(self.violations[i]):>11}"
            )
        if self.passed:
            lines.append(
                f"\nno violation in {self.trials} networks: P(violation) < {3 / self.trials:.2g} "
                "at 95% confidence (rule of three); sampling cannot prove the bound"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table(rows=25)

    def latex(self) -> str:
        verdict = "holds" if self.passed else "fails"
        return (
            rf"$\lVert g^{{l}}\rVert \le {sp.latex(self.c)}^{{L-l}}\lVert g^{{L}}\rVert$ "
            rf"({verdict} on {self.trials} networks; worst margin "
            rf"${self.worst_margin:+.4g}$)"
        )

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {
                "layer": int(self.layers[i]),
                "log10_bound": _num(self.log_bound[i] / _LN10),
                "log10_worst_ratio": _num(self.worst[i] / _LN10),
                "log10_median_ratio": _num(self.median[i] / _LN10),
                "violations": int(self.violations[i]),
            }
            for i in range(len(self.layers))
        ]
        return {
            "kind": "vgmath.gradient_bound_verification",
            "claim": f"||g^l|| <= {self.c}^(L-l) ||g^L|| for every layer and network",
            "c": str(self.c),
            "passed": self.passed,
            "rejected_layers": self.rejected_layers,
            "worst_margin": _num(self.worst_margin),
            "worst_network": self.worst_network,
            "chain": self.chain.to_dict(),
            "parameters": {"trials": self.trials, "seed": self.seed},
            "simulation": dict(self.simulation),
            "versions": _versions(),
            "rows": rows,
        }

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        rows = self.to_dict()["rows"]
        header = list(rows[0])
        return header, [[r[k] for k in header] for r in rows]


def verify_gradient_bound(
    chain: Chain, c: Any, *, trials: int = DEFAULT_TRIALS, seed: int | None = None,
    simulation: Any = None, workers: int = 1,
) -> GradientBoundVerification:
    """Check ‖g^l‖ ≤ c^{L−l} ‖g^L‖ at every layer of every simulated network.

    ‖g^l‖² = n_l · (‖g^l‖²/n_l) is read from the per-network samples of
    :func:`vgmath.simulate`, so the check is exact for each simulated network (no mean, no
    statistics): one violating network refutes the claim, and the worst case is reported.

    >>> import vgmath as vg
    >>> chain = vg.Chain("sigmoid", init="xavier", depth=10, width=64)
    >>> vg.verify_gradient_bound(chain, "1/4", trials=50, seed=0).passed
    False
    """
    from ..montecarlo.simulate import Simulation, simulate

    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    cval = _bound_constant(c)
    if not cval.is_positive:
        raise InvalidArgumentError("c", c, "must be > 0")
    if simulation is None:
        sim = simulate(chain, trials=trials, seed=seed, workers=workers)
    else:
        if not isinstance(simulation, Simulation) or simulation.chain != chain:
            raise InvalidArgumentError(
                "simulation", simulation, f"expected a Simulation of {chain}"
            )
        sim = simulation
    L = chain.depth
    lg = np.asarray(sim.samples["log_grad_second_moment"], dtype=float)
    ns = np.log(np.asarray(chain.widths, dtype=float))
    # ln(‖g^l‖/‖g^L‖) = ½ (ln(‖g^l‖²/n_l) + ln n_l − ln(‖g^L‖²/n_L) − ln n_L)
    log_ratio = 0.5 * (lg + ns[None, :] - lg[:, [L]] - ns[L])[:, :L]
    log_c = float(sp.log(cval).evalf(30))
    log_bound = (L - np.arange(L)) * log_c
    margin = log_ratio - log_bound[None, :]
    worst = np.max(log_ratio, axis=0)
    violations = (margin > 0).sum(axis=0)
    worst_net = int(np.unravel_index(int(np.argmax(margin)), margin.shape)[0])
    return GradientBoundVerification(
        chain=chain,
        c=cval,
        trials=int(sim.trials),
        seed=int(sim.seed),
        layers=np.arange(L, dtype=np.int64),
        log_bound=log_bound,
        worst=worst,
        median=np.median(log_ratio, axis=0),
        violations=violations.astype(np.int64),
        worst_network=worst_net,
        simulation={"trials": int(sim.trials), "seed": int(sim.seed), "method": sim.method},
    )
