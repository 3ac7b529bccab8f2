"""Research verification: a claim about a depth profile, tested against Monte Carlo.

``vg.verify(chain)`` asks whether simulation supports vgmath's own mean-field prediction;
``vg.verify(chain, claim)`` asks the same of a claim from a paper — a callable of the layer
index, an array of length L + 1, a SymPy expression in :data:`vgmath.layer_symbol` (and
:data:`vgmath.depth_symbol`), or its text (``"2**(-(L - l))"``, parsed safely). The answer is
a :class:`Verification`: one row per layer, a family-wise error rate ``alpha`` across
layers, and a three-valued verdict (:mod:`vgmath.verification.verdict`): PASS only when
every claimed layer was tested, FAIL when one is rejected, INCONCLUSIVE otherwise.

What is tested, per layer l
---------------------------
Y_t (t = 1..T) are the per-network values of the quantity (e.g. ‖g^l‖²/n_l) in T
independent random networks; the claim m_l is an infinite-width (mean-field) statement.
At width n the ensemble mean differs from its n → ∞ limit by a finite-width bias; vgmath
estimates it to first order in 1/n (:mod:`vgmath.theory.bias`) as B_l, with S_l ≥
|B_l| the sum of the absolute values of its terms, and tests

.. math::

    H_0^{(l)}:\\ \\big|\\ln \\mathbb{E}[Y_l] - (\\ln m_l + B_l)\\big| \\le r_l + \\tau,

the claim shifted by the estimated bias, with the tolerance r_l = S_l(κ₀ + κ₁/n) calibrated
against simulation (:mod:`vgmath.verification.tolerance`; r = ∞ where S ≥ 1).

The default claim (``claim=None``) of a plain chain with Gaussian weights is instead the
finite-width prediction itself (``vg.predict(chain, finite_width=True)``,
:mod:`vgmath.theory.markov`): B_l = 0 and r_l is the prediction's stated error
(``extras["error"]``: 1e-3 + 2Σ 1/n_l², 0.0047 at depth 30, width 128), so every layer whose
interval is narrow and trustworthy is tested. Measured false alarms with it at α = 0.01
(10 configurations × 10 seeds, depth 20, 1000 networks): 0/100 at width 128, 1/100 at
width 32. Mean-field claims (``vg.predict(chain)`` passed explicitly) keep the bias band.
Post-activation residual chains with ReLU or leaky ReLU and no bias (Gaussian weights) get
their finite-width prediction (:mod:`vgmath.theory.residual_finite_width`) the same way, with
the error it states for the quantity (``extras["q_error"]`` for q,
``extras["weight_error"]`` for the weight gradient, ``extras["error"]`` otherwise).

Typical values: where the claim is the finite-width prediction and a layer's mean cannot be
tested (heavy tails, or too wide an interval), that layer is tested instead on
E[ln(‖g^l‖²/n_l)] against the predicted law (``extras["ln_grad_mean"]``, tolerance
``extras["ln_grad_error"]`` + τ; Student's t,
:func:`vgmath.verification.stats.typical_value_test`) — ln Y has light tails where Y does
not. Such rows have
``tested_on == "typical"``; they join the same Holm family. The law also says where its
own mean is carried by rare networks: where the claimed mean exceeds its log-normal bulk's,
exp(E ln Y + Var(ln Y)/2), by more than :data:`RARE_EXCESS` (0.1: the bulk misses a tenth
of the mean), the mean is not tested whatever the sample's tail diagnostic says. At 300
networks k̂ missed SiLU + He, whose mean is up to 10⁴ times its bulk's, in 2 of 10 seeds,
and the mean test then rejected a claim it could not check (layers 14–15, excess 0.33 and
0.16). Over the catalog × 3 inits at width 128, depth 30, the excess is ≤ 0.04 except for
the broad He laws (softplus, Mish, GELU, GELU-tanh, SiLU: 0.40–9.5). User claims state
means only, so their heavy-tailed layers stay untestable.

The typical-value test of a plain chain's law uses the forward path as a control variate:
per network, the part of ln Y_l that the law takes as a function of the simulated forward
variances (:func:`vgmath.theory.markov.forward_part`), whose mean the law gives exactly
(``extras["ln_grad_base"]``), enters a regression estimator
(:func:`vgmath.verification.stats.typical_value_test`). It explains R² ≈ 0.9 of the spread of
ln Y_0 for GELU + He at width 128, 0.8 for Mish + He and 0.5 for softplus + He, which shrinks
the interval by √(1 − R²); the test then checks the law's forward part as well (exact up to
the chain's numerical error).

``tau`` is an optional extra tolerance of the user's (natural-log units). The p-value is
taken at the nearer edge of the band (:func:`vgmath.verification.stats.log_mean_test`).

A row is one of

* ``pass`` — tested: tolerance + interval half-width ≤ ``max_tolerance`` (0.5, an allowed
  factor e^0.5), a trustworthy interval (tail diagnostic ≤ 0.5: k̂ maximised over ±5
  layers, :mod:`vgmath.verification.tolerance`), not rejected;
* ``fail`` — rejected after Holm's adjustment;
* ``untestable`` — with a reason: the finite-width expansion broke down (S ≥ 1), the band
  is too wide to be evidence, the tails are too heavy for the interval to be trusted, or
  the layer is the normalisation layer (E‖g^L‖²/n_L = 1 for every claim normalised to it;
  q⁰ = input_q is fixed) — such a layer can still be rejected, never counted as evidence.

The per-layer test works on log scales (values spanning hundreds of decades never under-
or overflow) and uses Hall's skewness-corrected studentised mean by default (see
:mod:`vgmath.verification.stats` and tests/verification/test_calibration.py). Holm's
step-down procedure adjusts the p-values across the layers that carry a test (valid under
the strong dependence between layers of one network).

References: Poole et al. 2016 (arXiv:1606.05340) and Schoenholz et al. 2017
(arXiv:1611.01232) for the theory; Hall 1992 (JRSS B 54:221–228) and Holm 1979 (Scand. J.
Statist. 6:65–70) for the statistics; Vehtari et al. 2024 (JMLR 25, arXiv:1507.02646) for
the tail diagnostic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..core.deprecation import renamed_alias, warn_renamed
from ..core.errors import InvalidArgumentError
from ..network.description import Chain, Recurrent
from ..symbolic.typeset import check_digits, check_mode, escape_text, latex_number, render
from .claims import claim_logs
from .formatting import (
    LN10,
    Report,
    fmt_p,
    latex_p,
    latex_sci,
    num,
    row_selection,
    sci,
    versions,
    widths_text,
)
from .stats import METHODS, holm, log_mean_test, typical_value_test
from .tolerance import MAX_TOLERANCE, TAIL_K_MAX, bias_tolerance, tail_shape
from .verdict import Coverage, RowStatus, Verdict, decide

__all__ = [
    "DEFAULT_TRIALS",
    "QUANTITIES",
    "Verification",
    "check_common",
    "finite_width_band",
    "finite_width_exact",
    "normalisation_layers",
    "simulation_for",
    "verify",
    "without_bias_model",
]

FloatArray = NDArray[np.float64]

#: Per-layer quantities that can be verified (ensemble means of per-network values).
QUANTITIES = (
    "grad_second_moment",
    "grad_preact_second_moment",
    "grad_weight_second_moment",
    "q",
)

#: Default number of independent networks: enough for Hall's correction to keep the
#: false-alarm rate near alpha at depth 20 and width 128 (tests/verification/test_calibration.py).
DEFAULT_TRIALS = 1000


#: The reason of the normalisation layer's row (never counted as claimed)
NORMALISATION = "normalisation layer"
#: Suffix of a heavy-tailed row's reason when its typical value could not be resolved either
TYPICAL_TOO_WIDE = "; typical value too wide"


#: Largest excess (ln units) of a finite-width law's mean over its log-normal bulk's at which
#: the mean is still tested (module doc, "Typical values")
RARE_EXCESS = 0.1


def normalisation_layers(chain: Chain, quantity: str) -> tuple[int, ...]:
    """Layers whose ensemble mean is fixed by construction, whatever the network: the output
    gradient (E‖g^L‖²/n_L = 1, g^L ~ N(0, I)) and the input (q⁰ = input_q). A claim that
    matches there has shown nothing; one that does not is still rejected."""
    if quantity == "grad_second_moment":
        return (chain.depth,)
    if quantity == "q":
        return (0,)
    return ()


@dataclass(frozen=True, eq=False)
class Verification(Report):
    """The verdict of :func:`verify`: one row per claimed layer, and the overall answer.

    Per-layer arrays (natural logs unless named otherwise) are indexed like ``layers``:
    ``ln_claim`` (the claim m_l), ``bias`` (B_l, the estimated finite-width bias),
    ``tolerance`` (r_l + τ; inf where the expansion broke down), ``ln_estimate`` and
    ``ln_ci_low`` / ``ln_ci_high`` (the simulated mean and its (1 − alpha) interval,
    unadjusted), ``half_width`` (the interval's half-width at the Bonferroni level alpha/m,
    used for the resolution), ``ln_sd`` (the spread of ln Y over networks), ``tail_k``
    (the tail diagnostic k̂), ``statistic``, ``p_value``, ``p_adjusted`` (Holm; NaN where
    no test was made), ``rejected``, ``status`` (``pass``/``fail``/``untestable``) and
    ``reason`` (why a row is untestable).
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
    max_tolerance: float
    layers: NDArray[np.int64]
    ln_claim: FloatArray
    bias: FloatArray
    tolerance: FloatArray
    ln_estimate: FloatArray
    ln_ci_low: FloatArray
    ln_ci_high: FloatArray
    half_width: FloatArray
    ln_sd: FloatArray
    tail_k: FloatArray
    statistic: FloatArray
    p_value: FloatArray
    p_adjusted: FloatArray
    rejected: NDArray[np.bool_]
    status: tuple[RowStatus, ...]
    reason: tuple[str, ...]
    normalised: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()
    simulation: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: rows tested on their typical value: the predicted E[ln Y], its allowance and the
    #: simulated mean of ln Y (NaN on other rows; see ``tested_on``)
    typical_claim: FloatArray = field(default_factory=lambda: np.zeros(0))
    typical_tolerance: FloatArray = field(default_factory=lambda: np.zeros(0))
    typical_estimate: FloatArray = field(default_factory=lambda: np.zeros(0))

    #: deprecated aliases: logarithms are named by their base (``ln_`` / ``log10_``)
    log_claim = renamed_alias("ln_claim", "log_claim")
    log_estimate = renamed_alias("ln_estimate", "log_estimate")
    log_ci_low = renamed_alias("ln_ci_low", "log_ci_low")
    log_ci_high = renamed_alias("ln_ci_high", "log_ci_high")
    log_sd = renamed_alias("ln_sd", "log_sd")

    # ---- the answer

    @property
    def tested(self) -> NDArray[np.bool_]:
        """Rows that count as evidence: tested at a resolution ≤ ``max_tolerance`` with a
        trustworthy interval, not the normalisation layer (rejected rows included)."""
        return np.array([r == "" for r in self.reason], dtype=bool)

    @property
    def coverage(self) -> Coverage:
        """Layers tested / layers claimed (normalisation layers excluded from both)."""
        claimed = [i for i, l in enumerate(self.layers) if int(l) not in self.normalised]
        tested = [i for i in claimed if self.tested[i]]
        return Coverage(
            tested=len(tested),
            claimed=len(claimed),
            layer0_tested=any(int(self.layers[i]) == 0 for i in tested),
        )

    @property
    def verdict(self) -> Verdict:
        """FAIL if any layer is rejected, PASS if every claimed layer was tested, else
        INCONCLUSIVE (:func:`vgmath.verification.verdict.decide`)."""
        return decide(bool(self.rejected.any()), self.coverage)

    @property
    def passed(self) -> bool:
        """True only for the verdict PASS."""
        return self.verdict is Verdict.PASS

    @property
    def rejected_layers(self) -> list[int]:
        return [int(l) for l in self.layers[self.rejected]]

    @property
    def untestable_layers(self) -> list[int]:
        """Layers that carry no evidence for the claim (their ``reason`` says why)."""
        return [int(l) for l, s in zip(self.layers, self.status, strict=True)
                if s is RowStatus.UNTESTABLE]

    @property
    def worst_layer(self) -> int | None:
        """The layer with the smallest adjusted p-value (None if no test was made)."""
        if not np.isfinite(self.p_adjusted).any():
            return None
        return int(self.layers[int(np.nanargmin(self.p_adjusted))])

    # ---- text

    def summary(self) -> str:
        v = self.verdict
        cov = self.coverage
        m = int(np.isfinite(self.p_adjusted).sum())
        detail = {
            Verdict.PASS: f"every claimed layer tested ({cov})",
            Verdict.FAIL: f"rejected at layers {self.rejected_layers}",
            Verdict.INCONCLUSIVE: f"nothing rejected, but only {cov}",
        }[v]
        lines = [
            f"verify {self.quantity} of {self.chain}",
            (
                f"claim: {self.claim_label}; method: {self.method}; alpha = {self.alpha} "
                f"(Holm over {m} tests); trials = {self.trials}; seed = {self.seed}; "
                f"max tolerance = {self.max_tolerance:g} (factor e^{self.max_tolerance:g})"
            ),
            f"verdict: {v.value} — {detail}"
            + (
                ""
                if self.worst_layer is None
                else f"; smallest adjusted p = {fmt_p(float(np.nanmin(self.p_adjusted)))} "
                f"at layer {self.worst_layer}"
            ),
        ]
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def table(self, *, rows: int | None = None) -> str:
        """Text table: layer, claim, bias, tolerance, simulated [CI], tail k̂, statistic, p,
        adjusted p, status. ``rows`` limits it to about that many evenly spaced layers
        (rejected ones are always shown)."""
        idx = row_selection(self.layers, self.rejected, rows)
        head = (
            f"{'l':>4} {'claim':>11} {'fw bias':>8} {'tol':>7} {'simulated':>11} "
            f"{'CI low':>11} {'CI high':>11} {'tail k':>6} {'stat':>7} {'p':>8} {'p adj':>8}"
            "  status"
        )
        lines = [self.summary(), "", head, "-" * len(head)]
        for i in idx:
            tol = self.tolerance[i]
            k = self.tail_k[i]
            lines.append(
                f"{self.layers[i]:>4} {sci(self.ln_claim[i]):>11} {self.bias[i]:>+8.4f} "
                f"{'inf' if np.isinf(tol) else f'{tol:.4f}':>7} {sci(self.ln_estimate[i]):>11} "
                f"{sci(self.ln_ci_low[i]):>11} {sci(self.ln_ci_high[i]):>11} "
                f"{'-' if np.isnan(k) else f'{k:.2f}':>6} "
                f"{self.statistic[i]:>+7.2f} {fmt_p(self.p_value[i]):>8} "
                f"{fmt_p(self.p_adjusted[i]):>8}  {self.status[i].value}"
                + (f" ({self.reason[i]})" if self.reason[i] else "")
                + (" (typical value: E ln = "
                   f"{self.typical_estimate[i]:+.3f} vs {self.typical_claim[i]:+.3f} "
                   f"± {self.typical_tolerance[i]:.3f})" if self._typical(i) else "")
            )
        lines.append("")
        lines.append(
            "claim: the claimed infinite-width value; fw bias: estimated finite-width bias "
            "B (ln units); tol: allowed |ln(simulated/claim) − B|; CI: "
            f"{100 * (1 - self.alpha):g}% interval of the simulated mean (unadjusted); tail k: "
            "generalised-Pareto tail shape of the per-network values"
        )
        return "\n".join(lines)

    @property
    def reason_kinds(self) -> tuple[str, ...]:
        """Per row, the kind of its reason without the figures: "" (tested),
        "heavy tails", "heavy tails; typical value too wide", "too wide", "normalisation
        layer", "finite-width expansion broke down", "no finite-width model"."""
        return tuple(why.split(" (")[0] + (TYPICAL_TOO_WIDE if why.endswith(TYPICAL_TOO_WIDE)
                                            else "") for why in self.reason)

    @property
    def tested_on(self) -> tuple[str, ...]:
        """Per row, what was tested: "mean" (E[Y]), "typical" (E[ln Y], where the mean is
        untestable and the claim is a finite-width law) or "" (no test)."""
        return tuple("typical" if self._typical(i) else ("mean" if why == "" else "")
                     for i, why in enumerate(self.reason))

    def _typical(self, i: int) -> bool:
        return self.typical_claim.size > i and bool(np.isfinite(self.typical_claim[i]))

    def __str__(self) -> str:
        return self.table(rows=25)

    def __repr__(self) -> str:
        return (
            f"Verification({self.chain}, quantity={self.quantity!r}, claim={self.claim_label!r}, "
            f"verdict={self.verdict.value}, coverage={self.coverage.tested}/"
            f"{self.coverage.claimed}, rejected_layers={self.rejected_layers})"
        )

    def _latex_cells(self) -> list[list[str]]:
        mark = {RowStatus.PASS: r"\checkmark", RowStatus.FAIL: r"\times",
                RowStatus.UNTESTABLE: r"\text{untestable}"}
        out = []
        for i in range(len(self.layers)):
            tol = self.tolerance[i]
            out.append([
                str(self.layers[i]),
                latex_sci(self.ln_claim[i]),
                f"{self.bias[i]:+.4f}",
                r"\infty" if np.isinf(tol) else f"{tol:.4f}",
                latex_sci(self.ln_estimate[i]),
                f"[{latex_sci(self.ln_ci_low[i])}, {latex_sci(self.ln_ci_high[i])}]",
                latex_p(self.p_value[i]),
                latex_p(self.p_adjusted[i]),
                mark[self.status[i]],
            ])
        return out

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The verdict, its coverage and the smallest adjusted p-value."""
        cov = self.coverage
        out = [
            ("verdict", r"\text{" + escape_text(f"{self.verdict.value}: {cov}") + "}"),
            ("level", (rf"\alpha = {latex_number(self.alpha, digits)}\ (\text{{Holm}}),\ "
             rf"T = {self.trials}")),
        ]
        if self.worst_layer is not None:
            p = float(np.nanmin(self.p_adjusted))
            out.append(("smallest adjusted p-value",
                        (rf"p_\mathrm{{Holm}} = {latex_number(p, min(digits, 3))}"
                        rf"\ \text{{at}}\ l = {self.worst_layer}")))
        return out

    def latex(self, mode: str = "math", *, digits: int = 4, math_mode: bool | None = None) -> str:
        """LaTeX of the verification (:mod:`vgmath.symbolic.typeset`): ``"math"``,
        ``"inline"`` and ``"display"`` give the verdict, the coverage and the smallest
        adjusted p-value; ``"table"`` the per-layer verdict table as a ``tabular`` (cells in
        ``$…$``) after a comment line naming the claim and the verdict. ``math_mode``
        (deprecated) gave the table as a bare ``array``."""
        if math_mode is not None:
            warn_renamed("latex(math_mode=...)", "latex(mode='table') or _repr_latex_()")
            if math_mode:
                return self._latex_array()
        check_mode(mode)
        check_digits(digits)
        if mode != "table":
            return render(self._latex_statements(digits), mode)
        return self._latex_tabular()

    def _latex_head(self) -> list[str]:
        return [
            "l", r"\text{claim}", "B_l", r"\text{tol.}", r"\text{simulated}",
            f"{100 * (1 - self.alpha):g}" + r"\%\ \text{CI}", "p", r"p_\mathrm{Holm}",
            r"\text{status}",
        ]

    def _latex_array(self) -> str:
        """The per-layer table as a bare ``array`` (for notebooks)."""
        body = [" & ".join(self._latex_head()) + r" \\ \hline"]
        body += [" & ".join(row) + r" \\" for row in self._latex_cells()]
        return r"\begin{array}{rrrrrrrrc}" + "\n".join(body) + r"\end{array}"

    def _latex_tabular(self) -> str:
        head, cells = self._latex_head(), self._latex_cells()
        rows = [
            r"\begin{tabular}{rrrrrrrrc}",
            r"\hline",
            " & ".join(f"${h}$" for h in head) + r" \\",
            r"\hline",
        ]
        rows += [" & ".join(f"${c}$" for c in row) + r" \\" for row in cells]
        rows += [r"\hline", r"\end{tabular}"]
        caption = (
            f"% {self.quantity} of {self.chain}: claim {self.claim_label}, verdict "
            f"{self.verdict.value} ({self.coverage}) at alpha = {self.alpha} (Holm), "
            f"{self.trials} networks, seed {self.seed}"
        )
        return caption + "\n" + "\n".join(rows)

    def _repr_latex_(self) -> str:
        return "$$" + self._latex_array() + "$$"

    def to_dict(self) -> dict[str, Any]:
        """Plain data with everything needed to reproduce the verdict."""
        rows = [
            {
                "layer": int(self.layers[i]),
                "claim": num(self.ln_claim[i] / LN10),
                "finite_width_bias": num(self.bias[i]),
                "tolerance": num(self.tolerance[i]),
                "simulated": num(self.ln_estimate[i] / LN10),
                "ci_low": num(self.ln_ci_low[i] / LN10),
                "ci_high": num(self.ln_ci_high[i] / LN10),
                "half_width": num(self.half_width[i]),
                "ln_sd": num(self.ln_sd[i]),
                "tail_k": num(self.tail_k[i]),
                "statistic": num(self.statistic[i]),
                "p_value": num(self.p_value[i]),
                "p_adjusted": num(self.p_adjusted[i]),
                "status": self.status[i].value,
                "reason": self.reason[i],
                "tested_on": self.tested_on[i],
                "typical_claim": num(self.typical_claim[i]) if self._typical(i) else None,
                "typical_tolerance": (num(self.typical_tolerance[i]) if self._typical(i)
                                      else None),
                "typical_estimate": num(self.typical_estimate[i]) if self._typical(i) else None,
            }
            for i in range(len(self.layers))
        ]
        return {
            "kind": "vgmath.verification",
            "verdict": self.verdict.value,
            "passed": self.passed,
            "coverage": self.coverage.to_dict(),
            "rejected_layers": self.rejected_layers,
            "untestable_layers": self.untestable_layers,
            "normalisation_layers": list(self.normalised),
            "claim": self.claim_label,
            "quantity": self.quantity,
            "chain": self.chain.to_dict(),
            "parameters": {
                "alpha": self.alpha,
                "method": self.method,
                "multiplicity": "holm",
                "finite_width": self.finite_width,
                "extra_tolerance": self.extra_tolerance,
                "max_tolerance": self.max_tolerance,
                "tail_k_max": TAIL_K_MAX,
                "trials": self.trials,
                "seed": self.seed,
            },
            "units": "claim, simulated, ci_low, ci_high: log10; bias, tolerance, half_width, "
            "ln_sd, typical_*: natural log",
            "simulation": dict(self.simulation),
            "versions": versions(),
            "notes": list(self.notes),
            "rows": rows,
        }

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        rows = self.to_dict()["rows"]
        header = list(rows[0]) if rows else ["layer"]
        return header, [[r[k] for k in header] for r in rows]


def without_bias_model(chain: Any) -> str:
    """What the network is when vgmath has no finite-width bias model for it (residual,
    batch-normalised or recurrent), or ``""`` for a plain chain, which has one."""
    if isinstance(chain, Recurrent):
        return f"recurrent networks ({chain.cell})"
    if chain.residual is not None:
        return "residual chains"
    if chain.norm is not None:
        return f"{chain.norm}-normalised chains"
    return ""


def finite_width_band(
    chain: Chain, quantity: str, finite_width: bool, notes: list[str]
) -> tuple[FloatArray, FloatArray]:
    """(B_l, r_l) per layer; zeros when the expansion is off or does not apply."""
    L = chain.depth
    zeros = np.zeros(L + 1)
    if not finite_width:
        notes.append("finite-width bias not modelled (finite_width=False): testing E[Y] = claim")
        return zeros, zeros.copy()
    kind = without_bias_model(chain)
    if kind:
        notes.append(
            f"no finite-width expansion for {kind}: the finite-width bias is unknown, "
            "so no layer is testable unless an allowance is given (tolerance=, natural log) or "
            "the finite-width mean itself is tested (finite_width=False)"
        )
        return zeros, np.full(L + 1, np.inf)
    from ..theory.bias import width_bias

    bias, scale = width_bias(chain).for_quantity(quantity)
    b = np.nan_to_num(bias, nan=0.0)
    r = bias_tolerance(scale, min(chain.widths))
    if not chain.rule.gaussian:
        notes.append(
            f"the finite-width bias is derived for Gaussian weights; {chain.rule} weights may "
            "differ at O(1/n)"
        )
    return b, r


def finite_width_exact(chain: Chain) -> bool:
    """Whether ``vg.predict(chain, finite_width=True)`` applies, with i.i.d. Gaussian
    weights: a plain chain with the activation read-out (:mod:`vgmath.theory.markov`) or a
    post-activation residual chain with ReLU or leaky ReLU and no bias
    (:mod:`vgmath.theory.residual_finite_width`)."""
    from ..theory.markov import finite_width_refusal

    return chain.rule.gaussian and not finite_width_refusal(chain)


def _is_finite_width_prediction(claim: Any, chain: Chain) -> bool:
    from ..theory.profile import Prediction

    return (isinstance(claim, Prediction) and claim.chain == chain
            and "error" in claim.extras and finite_width_exact(chain))


def _error_key(claim: Any, quantity: str) -> str:
    """The extras entry holding a finite-width prediction's error for ``quantity``: its own
    (``q_error``, ``weight_error``, where the prediction states one — residual chains) or the
    shared ``error``."""
    own = {"q": "q_error", "grad_weight_second_moment": "weight_error"}.get(quantity)
    return own if own is not None and own in claim.extras else "error"


class _TypicalLaw(NamedTuple):
    """Per layer: E[ln Y_l], its allowance, and the spread (standard deviation) of ln Y_l."""

    mean: FloatArray
    allowance: FloatArray
    sd: FloatArray


def _typical_law(claim: Any, quantity: str) -> _TypicalLaw | None:
    """The law of ln(‖g^l‖²/n_l) of the finite-width prediction ``claim`` (None for other
    quantities, or where the prediction states none)."""
    if quantity != "grad_second_moment":
        return None
    ex = claim.extras
    if not {"ln_grad_mean", "ln_grad_error", "ln_grad_sd"} <= set(ex):
        return None
    return _TypicalLaw(*(np.asarray(ex[key], dtype=np.float64)
                         for key in ("ln_grad_mean", "ln_grad_error", "ln_grad_sd")))


def _forward_control(chain: Chain, claim: Any, sim: Any,
                     layers: NDArray[np.int64]) -> tuple[FloatArray, FloatArray] | None:
    """The control variate of the typical-value test (:func:`vgmath.theory.markov.
    forward_part` per network, its mean ``extras["ln_grad_base"]``), where the claim is a
    plain chain's finite-width law and the simulation has the activations' second moments
    (None otherwise)."""
    base = claim.extras.get("ln_grad_base")
    act2 = sim.samples.get("activation_second_moment")
    if base is None or act2 is None or chain.residual is not None:
        return None
    from ..theory.markov import forward_part

    c = forward_part(chain, act2)[:, layers]
    if not np.isfinite(c).all():
        return None
    return c, np.asarray(base, dtype=np.float64)[layers]


def simulation_for(chain: Chain, simulation: Any, trials: int, seed: int | None,
                   workers: int) -> Any:
    """The user's :class:`vgmath.Simulation` of ``chain`` (checked), or a fresh one."""
    from ..montecarlo.simulation import Simulation, simulate

    if simulation is None:
        return simulate(chain, trials=trials, seed=seed, workers=workers)
    if not isinstance(simulation, Simulation):
        raise InvalidArgumentError("simulation", simulation, "expected a vgmath.Simulation")
    if simulation.chain != chain:
        raise InvalidArgumentError(
            "simulation", repr(simulation), f"was run for a different chain than {chain}"
        )
    return simulation


def check_common(chain: Any, alpha: Any, max_tolerance: Any, *, allow_inf: bool = False) -> float:
    """Validate the arguments every profile-level verification shares; returns the cap."""
    if not isinstance(chain, (Chain, Recurrent)):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain or vgmath.Recurrent")
    if isinstance(chain, Chain):
        chain.require_numeric("a verification")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise InvalidArgumentError("alpha", alpha, "must be a number in (0, 1)")
    try:
        mt = float(max_tolerance)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            "max_tolerance", max_tolerance, "expected a number > 0"
        ) from None
    if not (mt > 0 and (math.isfinite(mt) or allow_inf)):
        raise InvalidArgumentError(
            "max_tolerance", max_tolerance, "expected a finite number > 0"
        )
    return mt


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
    max_tolerance: float = MAX_TOLERANCE,
    simulation: Any = None,
    workers: int = 1,
    measured: Any = None,
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
        Shift the claim by the estimated finite-width bias and allow for its error (module
        doc); ``False`` tests E[Y] = claim.
    tolerance
        Extra allowed |ln(simulated/claim)| (natural-log units, ≥ 0).
    max_tolerance
        The largest tolerance + interval half-width (natural log) at which a layer counts as
        tested (0.5: an allowed factor e^0.5 ≈ 1.65).
    simulation, measured
        Reuse an existing :class:`vgmath.Simulation` of ``chain`` instead of simulating;
        ``measured`` is the same for measurements of a real model
        (``vgmath.torch.measure(model, ...)``), so that ``vg.verify(description,
        measured=...)`` compares the theory with the user's network. Give one, not both.

    >>> import vgmath as vg
    >>> chain = vg.Chain("relu", init="he", depth=10, width=64)
    >>> vg.verify(chain, seed=0).verdict.value
    'PASS'
    >>> vg.verify(chain, "2**(-(L - l))", seed=0).verdict.value
    'FAIL'
    """
    mt = check_common(chain, alpha, max_tolerance)
    if measured is not None:
        if simulation is not None:
            raise InvalidArgumentError("measured", measured, "give simulation= or measured=, "
                                       "not both")
        simulation = measured
    if quantity not in QUANTITIES:
        raise InvalidArgumentError("quantity", quantity, f"expected one of {', '.join(QUANTITIES)}")
    if method not in METHODS:
        raise InvalidArgumentError("method", method, f"expected one of {', '.join(METHODS)}")
    try:
        tau = float(tolerance)
    except (TypeError, ValueError):
        raise InvalidArgumentError("tolerance", tolerance, "expected a number >= 0") from None
    if not (tau >= 0 and math.isfinite(tau)):
        raise InvalidArgumentError("tolerance", tolerance, "expected a finite number >= 0")

    from ..theory.prediction import predict

    if claim is None and isinstance(chain, Recurrent):
        raise InvalidArgumentError(
            "claim", None, f"vgmath has no prediction for {without_bias_model(chain)} to test: "
            "give the claim to test (text in l and L, an array, a callable)")
    prediction = None
    fallback = ""
    if claim is None:
        if finite_width and finite_width_exact(chain):
            try:
                prediction = predict(chain, finite_width=True)
            except InvalidArgumentError as err:  # the profile left float64 range
                fallback = f"no finite-width prediction ({err}); the mean-field one is used"
        if prediction is None:
            prediction = predict(chain)
    ln_claim, label = claim_logs(claim, chain, quantity, prediction)
    sim = simulation_for(chain, simulation, trials, seed, workers)
    if sim.trials < 3:
        raise InvalidArgumentError("trials", sim.trials, "need at least 3 networks")

    notes: list[str] = [fallback] if fallback else []
    at_width = claim if claim is not None else prediction
    fw_claim = finite_width and _is_finite_width_prediction(at_width, chain)
    if fw_claim:
        # the claim is already the finite-width mean: no bias shift; the tolerance is the
        # prediction's own estimated error
        label = "vgmath.predict(finite_width=True)"
        bias = np.zeros(chain.depth + 1)
        r = np.asarray(at_width.extras[_error_key(at_width, quantity)],
                       dtype=np.float64).copy()
        notes.append(
            f"claim: the finite-width prediction at width {widths_text(chain)} (no bias "
            f"shift); tolerance = its estimated error, {float(np.max(r)):.3g} in ln units"
        )
    else:
        bias, r = finite_width_band(chain, quantity, finite_width, notes)
    logs = np.asarray(sim.samples[f"ln_{quantity}"], dtype=float)
    has_samples = ~np.isnan(logs).any(axis=0)
    layers = np.flatnonzero(has_samples & ~np.isnan(ln_claim))
    if layers.size == 0:
        raise InvalidArgumentError(
            "claim", label, f"claims nothing at a layer where {quantity} exists"
        )
    k = layers.size
    # residual chains (r = ∞, no bias model): the user's allowance τ > 0 replaces r
    no_model = without_bias_model(chain)
    r_used = np.where(np.isinf(r) & bool(no_model) & (tau > 0), 0.0, r)
    band = r_used[layers] + tau
    broken = np.isinf(band)
    ls = logs[:, layers]
    tail_k = tail_shape(chain, sim.samples, quantity)[layers]
    heavy = tail_k > TAIL_K_MAX  # NaN (constant columns) is not heavy
    normalised = normalisation_layers(chain, quantity)
    is_norm = np.array([int(l) in normalised for l in layers], dtype=bool)
    # where the mean cannot be tested, a finite-width law is tested on its typical value
    law = _typical_law(at_width, quantity) if fw_claim else None
    excess = np.zeros(k)
    candidates = np.zeros(k, dtype=bool)
    if law is not None:
        # the law's own statement that its mean is carried by rare networks: the claimed mean
        # exceeds what its log-normal bulk gives, exp(E ln Y + Var(ln Y)/2), by more than
        # RARE_EXCESS — a sample that sees only the bulk cannot test it, whatever the tail
        # diagnostic of that sample says
        excess = ln_claim[layers] - (law.mean[layers] + 0.5 * law.sd[layers] ** 2)
        candidates = ~broken & ~is_norm & np.isfinite(ls).all(axis=0)
    rare = excess > RARE_EXCESS
    heavy = heavy | rare
    can_test = ~broken & ~heavy
    m = max(int((can_test | (candidates & heavy)).sum()), 1)
    test = log_mean_test(
        ls, ln_claim[layers] + bias[layers], band=np.where(broken, 0.0, band),
        alpha=alpha, method=method,
    )
    wide = log_mean_test(ls, test.estimate, alpha=alpha / m, method=method)
    half = 0.5 * (wide.ci_high - wide.ci_low)
    half = np.where(np.isnan(half), np.inf, half)
    stat = np.where(can_test, test.statistic, np.nan)
    p = np.where(can_test, test.p_value, np.nan)
    typical = candidates & (heavy | (band + half > mt))
    t_claim = np.full(k, np.nan)
    t_tol = np.full(k, np.nan)
    t_est = np.full(k, np.nan)
    t_wide = np.zeros(k, dtype=bool)
    if typical.any():
        assert law is not None
        t_claim, t_tol = law.mean[layers], law.allowance[layers] + tau
        control = _forward_control(chain, at_width, sim, layers)
        tt = typical_value_test(ls, t_claim, t_tol, alpha / m, control)
        t_est = tt.estimate
        t_wide = typical & (t_tol + tt.half_width > mt)
        typical = typical & ~t_wide
        stat = np.where(typical, tt.statistic, stat)
        p = np.where(typical, tt.p_value, p)
        t_claim, t_tol, t_est = (np.where(typical, a, np.nan) for a in (t_claim, t_tol, t_est))
    p_adj = holm(p)  # Holm over the layers that carry a test
    rejected = np.where(can_test | typical, p_adj <= alpha, False)
    reasons: list[str] = []
    statuses: list[RowStatus] = []
    for j in range(k):
        if typical[j]:
            why = ""
        elif broken[j]:
            why = (f"no finite-width model ({no_model})" if no_model
                   else "finite-width expansion broke down (S >= 1)")
        elif heavy[j]:
            why = (f"heavy tails (predicted: the mean is {math.exp(min(excess[j], 700)):.3g} "
                   "times its log-normal bulk's)" if rare[j]
                   else f"heavy tails (k = {tail_k[j]:.2f} > {TAIL_K_MAX:g})")
            if t_wide[j]:
                why += TYPICAL_TOO_WIDE
        elif is_norm[j]:
            why = NORMALISATION
        elif band[j] + half[j] > mt:
            why = f"too wide (tol + half-width = {band[j] + half[j]:.2f} > {mt:g})"
        else:
            why = ""
        reasons.append(why)
        if rejected[j]:
            statuses.append(RowStatus.FAIL)
        elif why:
            statuses.append(RowStatus.UNTESTABLE)
        else:
            statuses.append(RowStatus.PASS)
    if typical.any():
        notes.append(
            f"layers {[int(l) for l in layers[typical]]}: the mean cannot be tested there "
            "(heavy tails or too wide an interval); the finite-width law is tested on its "
            "typical value E[ln Y] instead (tolerance: the law's stated allowance"
            + (" + tau" if tau > 0 else "") + ")"
            + ("; the forward path's part of ln Y, whose mean the law gives exactly, is its "
               "control variate" if control is not None else "")
        )
    if broken.any() and not no_model:
        notes.append(
            f"layers {[int(l) for l in layers[broken]]}: the first-order finite-width "
            f"correction reaches S ≥ 1 (a factor e ≈ 2.7) at width {widths_text(chain)}: "
            "the infinite-width claim cannot be tested there (increase the width)"
        )
    heavy_left = heavy & ~typical
    if heavy_left.any():
        notes.append(
            f"layers {[int(l) for l in layers[heavy_left]]}: the per-network values are "
            "heavy-tailed "
            f"(tail shape k > {TAIL_K_MAX:g}, or so stated by the claimed law): the mean is "
            "carried by a few networks and its interval cannot be trusted; not tested (use a "
            "wider chain)"
        )
    with np.errstate(invalid="ignore"):
        spread = np.where(np.isneginf(ls), np.nan, ls).std(axis=0)
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
        max_tolerance=mt,
        layers=layers.astype(np.int64),
        ln_claim=ln_claim[layers],
        bias=bias[layers],
        tolerance=band,
        ln_estimate=test.estimate,
        ln_ci_low=test.ci_low,
        ln_ci_high=test.ci_high,
        half_width=half,
        ln_sd=spread,
        tail_k=tail_k,
        statistic=stat,
        p_value=p,
        p_adjusted=p_adj,
        rejected=np.asarray(rejected, dtype=bool),
        status=tuple(statuses),
        reason=tuple(reasons),
        normalised=tuple(int(l) for l in normalised if l in set(layers.tolist())),
        notes=tuple(notes),
        typical_claim=t_claim,
        typical_tolerance=t_tol,
        typical_estimate=t_est,
        simulation={
            "trials": int(sim.trials),
            "seed": int(sim.seed),
            "method": sim.method,
            "dtype": sim.dtype,
            "block_size": int(sim.block_size),
        },
    )
