"""Claims users write without an exact prefactor: a per-layer rate, and a band.

Rate: "the gradient decays like c^(L−l)"
    :func:`verify_rate` fits the free prefactor: with y_l = ln(simulated mean at layer l) −
    B_l (the finite-width bias of :mod:`vgmath.theory.bias`) and x_l = L − l, the
    least-squares slope β̂ = Σ w_l y_l (w_l = (x_l − x̄)/Σ(x − x̄)²) estimates ln c. Its
    standard error comes from a bootstrap over networks (the layers of one network are
    strongly dependent, so the per-layer errors are not independent; resampling whole
    networks keeps that dependence; Efron & Tibshirani 1993, ch. 6), 1000 resamples drawn
    from the simulation's seed. The error of the bias estimate moves the slope by at most
    Σ |w_l| r_l (r_l the calibrated tolerance of :mod:`vgmath.verification.tolerance`),
    which is the tolerance of the test H0: |β − ln c| ≤ Σ|w_l| r_l + τ (a z-test at the
    nearer edge, :func:`vgmath.verification.stats.edge_p`). FAIL when rejected at
    ``alpha``; PASS when, in addition, the fit used every layer 0..L and the resolution —
    (tolerance + z_{1−α/2}·se) × L, the largest undetected error accumulated over the
    depth — is at most ``max_tolerance``; INCONCLUSIVE otherwise. Only the rate is tested,
    not that the profile is exactly geometric.

Band: "‖g^l‖² stays within a factor F of the output gradient at every layer"
    :func:`verify_band` tests the simulated network itself (its width, no infinite-width
    shift): for every layer l < L, 1/F ≤ E[‖g^l‖²/n_l] / E[‖g^L‖²/n_L] ≤ F (the denominator
    is 1 exactly). FAIL when some layer's mean is significantly outside (the interval null
    |ln E| ≤ ln F rejected, Holm across layers); PASS when every layer's (1 − 2α) interval
    lies inside the band (an intersection–union test at level α, no multiplicity
    adjustment needed; Berger 1982, Technometrics 24:295–300) and every interval is
    trustworthy; INCONCLUSIVE otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray
from scipy import stats as sps

from ..core.deprecation import renamed_alias
from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from ..symbolic.typeset import escape_text, latex_number
from .formatting import LN10, Report, fmt_p, latex_p, num, sci, versions
from .profile import (
    DEFAULT_TRIALS,
    QUANTITIES,
    check_common,
    finite_width_band,
    normalisation_layers,
    simulation_for,
    without_bias_model,
)
from .stats import edge_p, holm, log_mean_test
from .tolerance import MAX_TOLERANCE, TAIL_K_MAX, tail_shape
from .verdict import Coverage, RowStatus, Verdict, decide

__all__ = ["BOOTSTRAP_RESAMPLES", "ShapeVerification", "verify_band", "verify_rate"]

FloatArray = NDArray[np.float64]

#: Resamples of the bootstrap over networks (rate claims): the standard error of a
#: standard error from B resamples is ≈ 1/√(2B) ≈ 2% relative.
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True, eq=False)
class ShapeVerification(Report):
    """The verdict on a rate claim (``kind="rate"``) or a band claim (``kind="band"``).

    ``layers`` and the per-layer arrays (natural logs) list the layers considered;
    ``status``/``reason`` say which were used. For a rate: ``estimate`` (β̂ = ln of the
    fitted per-layer rate), ``se`` (bootstrap), ``tolerance`` (Σ|w|r + τ), ``claimed``
    (ln c), ``p_value``. For a band: ``claimed`` = ln F and per-layer ``p_adjusted``.
    """

    kind: str
    chain: Chain
    quantity: str
    claim_label: str
    alpha: float
    trials: int
    seed: int
    max_tolerance: float
    claimed: float
    estimate: float
    se: float
    tolerance: float
    p_value: float
    layers: NDArray[np.int64]
    ln_estimate: FloatArray
    ln_ci_low: FloatArray
    ln_ci_high: FloatArray
    tail_k: FloatArray
    p_adjusted: FloatArray
    rejected: NDArray[np.bool_]
    status: tuple[RowStatus, ...]
    reason: tuple[str, ...]
    resolution: float
    notes: tuple[str, ...] = ()
    simulation: Mapping[str, Any] = field(default_factory=dict, repr=False)

    #: deprecated aliases: logarithms are named by their base (``ln_`` / ``log10_``)
    log_estimate = renamed_alias("ln_estimate", "log_estimate")
    log_ci_low = renamed_alias("ln_ci_low", "log_ci_low")
    log_ci_high = renamed_alias("ln_ci_high", "log_ci_high")

    @property
    def coverage(self) -> Coverage:
        tested = [int(l) for l, r in zip(self.layers, self.reason, strict=True) if not r]
        return Coverage(tested=len(tested), claimed=len(self.layers),
                        layer0_tested=0 in tested)

    @property
    def verdict(self) -> Verdict:
        v = decide(bool(self.rejected.any()) or self.p_value <= self.alpha, self.coverage)
        if v is Verdict.PASS and not self.resolution <= self.max_tolerance:
            return Verdict.INCONCLUSIVE
        return v

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    @property
    def rate_interval(self) -> tuple[float, float]:
        """(1 − alpha) interval of the fitted per-layer rate c (rate claims)."""
        z = float(sps.norm.ppf(1 - self.alpha / 2))
        return math.exp(self.estimate - z * self.se), math.exp(self.estimate + z * self.se)

    def summary(self) -> str:
        v = self.verdict
        lines = [f"verify {self.kind} claim on {self.quantity} of {self.chain}",
                 (f"claim: {self.claim_label}; alpha = {self.alpha}; trials = {self.trials}; "
                  f"seed = {self.seed}; max tolerance = {self.max_tolerance:g}")]
        if self.kind == "rate":
            lo, hi = self.rate_interval
            lines.append(
                f"fitted rate per layer: {math.exp(self.estimate):.5g} "
                f"[{100 * (1 - self.alpha):g}% CI {lo:.5g}, {hi:.5g}] (bootstrap over networks); "
                f"claimed {math.exp(self.claimed):.5g}; tolerance on ln c {self.tolerance:.4g}; "
                f"p = {fmt_p(self.p_value)}; resolution over the depth {self.resolution:.3g}"
            )
        else:
            lines.append(f"band: within a factor {math.exp(self.claimed):.5g} of layer "
                         f"{self.chain.depth}; resolution {self.resolution:.3g}")
        why = {Verdict.PASS: f"{self.coverage}",
               Verdict.FAIL: "rejected"
               + (f" at layers {[int(l) for l in self.layers[self.rejected]]}"
                  if self.rejected.any() else ""),
               Verdict.INCONCLUSIVE: f"nothing rejected, but {self.coverage}, resolution "
               f"{self.resolution:.3g} (max {self.max_tolerance:g})"}[v]
        lines.append(f"verdict: {v.value} — {why}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def table(self, *, rows: int | None = None) -> str:
        head = (f"{'l':>4} {'simulated':>11} {'CI low':>11} {'CI high':>11} {'tail k':>6} "
                f"{'p adj':>8}  status")
        lines = [self.summary(), "", head, "-" * len(head)]
        idx = range(len(self.layers))
        if rows is not None and len(self.layers) > rows:
            idx = sorted({round(i) for i in np.linspace(0, len(self.layers) - 1, rows)})
        for i in idx:
            k = self.tail_k[i]
            lines.append(
                f"{self.layers[i]:>4} {sci(self.ln_estimate[i]):>11} "
                f"{sci(self.ln_ci_low[i]):>11} {sci(self.ln_ci_high[i]):>11} "
                f"{'-' if np.isnan(k) else f'{k:.2f}':>6} {fmt_p(self.p_adjusted[i]):>8}  "
                f"{self.status[i].value}" + (f" ({self.reason[i]})" if self.reason[i] else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table(rows=25)

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The claim, the verdict with its coverage, the fitted rate or band, and p."""
        out = [
            ("claim", r"\text{" + escape_text(f"{self.kind} claim: {self.claim_label}") + "}"),
            ("verdict", r"\text{" + escape_text(f"{self.verdict.value}: {self.coverage}") + "}"),
        ]
        if self.kind == "rate":
            lo, hi = self.rate_interval
            out.append(("fitted rate per layer",
                        (rf"\hat c = {latex_number(math.exp(self.estimate), digits)}\ "
                        rf"[{latex_number(lo, digits)}, {latex_number(hi, digits)}]")))
        out.append(("p-value", (rf"p = {latex_p(self.p_value)},\ \alpha = "
                    rf"{latex_number(self.alpha, digits)}")))
        return out

    def to_dict(self) -> dict[str, Any]:
        rows = [{"layer": int(self.layers[i]),
                 "simulated": num(self.ln_estimate[i] / LN10),
                 "ci_low": num(self.ln_ci_low[i] / LN10),
                 "ci_high": num(self.ln_ci_high[i] / LN10),
                 "tail_k": num(self.tail_k[i]),
                 "p_adjusted": num(self.p_adjusted[i]),
                 "status": self.status[i].value, "reason": self.reason[i]}
                for i in range(len(self.layers))]
        out: dict[str, Any] = {
            "kind": f"vgmath.{self.kind}_verification",
            "verdict": self.verdict.value,
            "passed": self.passed,
            "coverage": self.coverage.to_dict(),
            "claim": self.claim_label,
            "quantity": self.quantity,
            "chain": self.chain.to_dict(),
            "claimed_ln": num(self.claimed),
            "resolution": num(self.resolution),
            "parameters": {"alpha": self.alpha, "trials": self.trials, "seed": self.seed,
                           "max_tolerance": num(self.max_tolerance), "tail_k_max": TAIL_K_MAX},
            "simulation": dict(self.simulation),
            "versions": versions(),
            "notes": list(self.notes),
            "rows": rows,
        }
        if self.kind == "rate":
            lo, hi = self.rate_interval
            out.update({"rate": num(math.exp(self.estimate)), "rate_ci": [num(lo), num(hi)],
                        "ln_rate_se": num(self.se), "tolerance": num(self.tolerance),
                        "p_value": num(self.p_value)})
        return out

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        rows = self.to_dict()["rows"]
        header = list(rows[0]) if rows else ["layer"]
        return header, [[r[k] for k in header] for r in rows]


def _positive_log(name: str, value: Any) -> tuple[float, str]:
    from ..symbolic.parse import to_sympy_number

    try:
        v = to_sympy_number(name, value)
    except InvalidArgumentError:
        raise InvalidArgumentError(name, value, "expected a positive number such as 1/2") from None
    if not v.is_positive:
        raise InvalidArgumentError(name, value, "must be > 0")
    return float(sp.log(v).evalf(30)), str(v)


def _per_layer(sim: Any, quantity: str) -> tuple[FloatArray, NDArray[np.int64]]:
    logs = np.asarray(sim.samples[f"ln_{quantity}"], dtype=float)
    ok = np.flatnonzero(~np.isnan(logs).any(axis=0))
    return logs[:, ok], ok.astype(np.int64)


def verify_rate(
    chain: Chain,
    rate: Any,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
    alpha: float = 0.01,
    quantity: str = "grad_second_moment",
    finite_width: bool = True,
    tolerance: float = 0.0,
    max_tolerance: float = MAX_TOLERANCE,
    simulation: Any = None,
    workers: int = 1,
) -> ShapeVerification:
    """Test "the quantity behaves like C·c^(L−l)" with a free prefactor C (module doc).

    >>> import vgmath as vg
    >>> chain = vg.Chain("relu", init="xavier", depth=10, width=64)
    >>> vg.verify_rate(chain, "1/2", seed=0).verdict.value
    'PASS'
    >>> vg.verify_rate(chain, "0.6", seed=0).verdict.value
    'FAIL'
    """
    mt = check_common(chain, alpha, max_tolerance)
    if quantity not in QUANTITIES:
        raise InvalidArgumentError("quantity", quantity, f"expected one of {', '.join(QUANTITIES)}")
    tau = float(tolerance)
    if not (tau >= 0 and math.isfinite(tau)):
        raise InvalidArgumentError("tolerance", tolerance, "expected a finite number >= 0")
    log_c, c_text = _positive_log("rate", rate)
    sim = simulation_for(chain, simulation, trials, seed, workers)
    notes: list[str] = []
    bias, r = finite_width_band(chain, quantity, finite_width, notes)
    if without_bias_model(chain) and tau > 0:
        r = np.where(np.isinf(r), 0.0, r)  # no bias model: the user's allowance τ replaces r
    ls, layers = _per_layer(sim, quantity)
    L = chain.depth
    tail_k = tail_shape(chain, sim.samples, quantity)[layers]
    heavy = tail_k > TAIL_K_MAX
    broken = np.isinf(r[layers])
    use = ~heavy & ~broken
    reasons = tuple(
        "finite-width expansion broke down (S >= 1)" if broken[j]
        else (f"heavy tails (k = {tail_k[j]:.2f} > {TAIL_K_MAX:g})" if heavy[j] else "")
        for j in range(layers.size)
    )
    point = log_mean_test(ls, np.zeros(layers.size), alpha=alpha)
    x = (L - layers).astype(float)
    est = se = band = p = math.nan
    resolution = math.inf
    if use.sum() >= 2 and np.ptp(x[use]) > 0:
        xu = x[use]
        w = (xu - xu.mean()) / np.sum((xu - xu.mean()) ** 2)
        top = ls[:, use].max(axis=0)
        y = np.exp(ls[:, use] - top)
        T = y.shape[0]
        ymean = top + np.log(y.mean(axis=0)) - bias[layers[use]]
        est = float(w @ ymean)
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(sim.seed), 31])))
        counts = rng.multinomial(T, np.full(T, 1.0 / T), size=BOOTSTRAP_RESAMPLES)
        with np.errstate(divide="ignore"):
            boot = np.log(counts @ y / T) + top - bias[layers[use]]
        se = float(np.std(boot @ w, ddof=1))
        band = float(np.abs(w) @ r[layers[use]]) + tau
        d = est - log_c
        near = (abs(d) - band) / se if se > 0 else (math.inf if abs(d) > band else 0.0)
        far = (abs(d) + band) / se if se > 0 else math.inf
        near_arr = np.array([max(near, 0.0)])
        p = float(edge_p(near_arr, np.array([far]), T)[0])
        z = float(sps.norm.ppf(1 - alpha / 2))
        resolution = (band + z * se) * float(np.ptp(x))
    else:
        notes.append("fewer than two layers with a trustworthy mean: no rate can be fitted")
    rejected = np.zeros(layers.size, dtype=bool)
    status = tuple(RowStatus.UNTESTABLE if why else RowStatus.PASS for why in reasons)
    if p <= alpha:
        status = tuple(RowStatus.FAIL if s is RowStatus.PASS else s for s in status)
    return ShapeVerification(
        kind="rate", chain=chain, quantity=quantity,
        claim_label=f"C·({c_text})^(L−l), C free", alpha=float(alpha), trials=int(sim.trials),
        seed=int(sim.seed), max_tolerance=mt, claimed=log_c, estimate=est, se=se,
        tolerance=band, p_value=p, layers=layers, ln_estimate=point.estimate,
        ln_ci_low=point.ci_low, ln_ci_high=point.ci_high, tail_k=tail_k,
        p_adjusted=np.full(layers.size, np.nan), rejected=rejected, status=status,
        reason=reasons, resolution=resolution, notes=tuple(notes),
        simulation={"trials": int(sim.trials), "seed": int(sim.seed), "method": sim.method},
    )


def verify_band(
    chain: Chain,
    factor: Any,
    *,
    trials: int = DEFAULT_TRIALS,
    seed: int | None = None,
    alpha: float = 0.01,
    quantity: str = "grad_second_moment",
    max_tolerance: float = math.inf,
    simulation: Any = None,
    workers: int = 1,
) -> ShapeVerification:
    """Test "within a factor F of the output layer at every layer" on the simulated network
    (module doc). ``max_tolerance`` caps the interval half-widths (no cap by default: the
    band itself sets the scale).

    >>> import vgmath as vg
    >>> chain = vg.Chain("relu", init="he", depth=10, width=64)
    >>> vg.verify_band(chain, 2, seed=0).verdict.value
    'PASS'
    >>> tanh = vg.Chain("tanh", init="xavier", depth=20, width=128)
    >>> vg.verify_band(tanh, 2, seed=0).verdict.value  # E‖g⁰‖² ≈ 0.036 of the output's
    'FAIL'
    """
    mt = check_common(chain, alpha, max_tolerance, allow_inf=True)
    if quantity != "grad_second_moment":
        raise InvalidArgumentError("quantity", quantity, "band claims are about "
                                   "grad_second_moment (relative to the output layer)")
    log_f, f_text = _positive_log("factor", factor)
    if log_f < 0:
        raise InvalidArgumentError("factor", factor, "must be >= 1")
    sim = simulation_for(chain, simulation, trials, seed, workers)
    ls, layers = _per_layer(sim, quantity)
    keep = ~np.isin(layers, normalisation_layers(chain, quantity))
    ls, layers = ls[:, keep], layers[keep]
    k = layers.size
    tail_k = tail_shape(chain, sim.samples, quantity)[layers]
    heavy = tail_k > TAIL_K_MAX
    test = log_mean_test(ls, np.zeros(k), band=np.full(k, log_f), alpha=alpha)
    p = np.where(heavy, np.nan, test.p_value)
    p_adj = holm(p)
    rejected = np.where(heavy, False, p_adj <= alpha)
    iut = log_mean_test(ls, np.zeros(k), alpha=2 * alpha)  # (1 − 2α) intervals
    inside = (iut.ci_low >= -log_f) & (iut.ci_high <= log_f)
    half = 0.5 * (iut.ci_high - iut.ci_low)
    reasons = []
    for j in range(k):
        if heavy[j]:
            reasons.append(f"heavy tails (k = {tail_k[j]:.2f} > {TAIL_K_MAX:g})")
        elif not inside[j] and not rejected[j]:
            reasons.append("interval straddles the band edge")
        else:
            reasons.append("")
    status = tuple(RowStatus.FAIL if rejected[j] else
                   (RowStatus.UNTESTABLE if reasons[j] else RowStatus.PASS) for j in range(k))
    resolution = float(np.nanmax(half)) if k else math.inf
    return ShapeVerification(
        kind="band", chain=chain, quantity=quantity,
        claim_label=f"1/{f_text} <= E[g_l^2]/E[g_L^2] <= {f_text} at every layer",
        alpha=float(alpha), trials=int(sim.trials), seed=int(sim.seed), max_tolerance=mt,
        claimed=log_f, estimate=math.nan, se=math.nan, tolerance=log_f,
        p_value=float(np.nanmin(p_adj)) if np.isfinite(p_adj).any() else math.nan,
        layers=layers, ln_estimate=test.estimate, ln_ci_low=iut.ci_low,
        ln_ci_high=iut.ci_high, tail_k=tail_k, p_adjusted=p_adj,
        rejected=np.asarray(rejected, dtype=bool), status=status, reason=tuple(reasons),
        resolution=resolution,
        simulation={"trials": int(sim.trials), "seed": int(sim.seed), "method": sim.method},
    )
