"""Gradients through time: recurrent networks (RNN, LSTM, GRU) and the Pascanu bound."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...verification.formatting import LN10
from .. import figures as F
from .. import latex as L
from ..core import ReportContext, Section, register
from .common import _m, _t, slug
from .depth import _level

# --------------------------------------------------------------------------- recurrent

#: The recurrent cells of the report: (label, Recurrent options). Recurrent weights are
#: orthogonal (gain 1), the usual choice for RNNs (Saxe et al. 2014); the LSTM forget gate
#: starts with bias 1 (Gers et al. 2000).
RECURRENT_CELLS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("RNN, tanh", {"cell": "rnn", "activation": "tanh"}),
    ("RNN, sigmoid", {"cell": "rnn", "activation": "sigmoid"}),
    ("RNN, relu", {"cell": "rnn", "activation": "relu"}),
    ("LSTM", {"cell": "lstm", "forget_bias": 1}),
    ("GRU", {"cell": "gru"}),
)
#: Hidden size cap: the cost of a recurrent simulation grows as n² per step (dense shared
#: weights), and the exact spectral norm of ∂h_T/∂h_t as n³.
RECURRENT_MAX_HIDDEN = 64
#: Networks per cell at most (the report's ``trials`` if smaller).
RECURRENT_MAX_TRIALS = 200


def _fixed(v: float, decimals: int = 3) -> str:
    """A natural-log quantity to a fixed number of decimals (-0.000 shown as 0.000)."""
    out = f"{float(v):.{decimals}f}"
    return out[1:] if out.startswith("-") and float(out) == 0 else out


def _log_ci(mean: np.ndarray, se: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(1 − alpha) interval of a positive mean on the log scale (delta method):
    mean · exp(± z se/mean), z = Φ⁻¹(1 − alpha/2)."""
    from scipy.stats import norm

    z = float(norm.ppf(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = se / mean
    return mean * np.exp(-z * rel), mean * np.exp(z * rel)


@register
class RecurrentSection(Section):
    def __init__(self) -> None:
        self._highlights: list[str] = []

    def highlights(self, ctx: ReportContext) -> list[str]:
        return list(self._highlights)

    key = "recurrent"
    per_depth = True
    name = "gradients through time"
    title = "Gradients through time: recurrent networks"
    requires = (("network.description", "Recurrent"), ("montecarlo.recurrent", "RecurrentKernel"),
                ("montecarlo.simulation", "simulate"))

    def available(self, ctx: ReportContext) -> str | None:
        if not ctx.options.simulate:
            return "recurrent networks are only simulated, and this is a theory-only report"
        return super().available(ctx)

    def build(self, ctx: ReportContext) -> str:
        o = ctx.options
        Recurrent = ctx.engine("network.description", "Recurrent")
        simulate = ctx.engine("montecarlo.simulation", "simulate")
        n = min(o.width, RECURRENT_MAX_HIDDEN)
        trials = min(o.trials, RECURRENT_MAX_TRIALS)
        T = o.depth
        steps = np.arange(T + 1)
        from scipy.stats import norm

        from ...core.progress import progress

        z = float(norm.ppf(1 - o.alpha / 2))
        level = _level(ctx)
        grads: list[F.TimeSeries] = []
        norms: list[F.NormSeries] = []
        rows_tex: list[list[str]] = []
        rows_data: list[dict[str, Any]] = []
        theory_lines: list[tuple[str, np.ndarray]] = []
        show = ctx.progress.enabled
        with progress(len(RECURRENT_CELLS) * trials, enabled=show, desc="recurrent",
                      unit="networks") as bar:
            for k, (label, opts) in enumerate(RECURRENT_CELLS):
                vanilla = opts["cell"] == "rnn"
                net = Recurrent(hidden=n, steps=T, init="orthogonal",
                                jacobian="spectral" if vanilla else "vector", **opts)
                seed = o.chain_seed(label, "recurrent")
                with ctx.timed("monte_carlo"):
                    sim = simulate(net, trials=trials, seed=seed)
                bar.update(trials)
                mean = np.asarray(sim.grad_second_moment, dtype=float)
                se = np.asarray(sim.grad_second_moment_se, dtype=float)
                lo, hi = _log_ci(mean, se, o.alpha)
                grads.append(F.TimeSeries(label, steps, mean, lo, hi))
                log_norm = np.asarray(sim.ln_jacobian_norm, dtype=float)
                log_norm_se = np.asarray(sim.ln_jacobian_norm_se, dtype=float)
                per: dict[str, Any] = {
                    "step": steps, "grad_second_moment": mean, "grad_second_moment_se": se,
                    "ci_low": lo, "ci_high": hi, "mean_ln_jacobian_norm": log_norm,
                    "mean_ln_jacobian_norm_se": log_norm_se,
                }
                bound = holds = predicted = None
                if vanilla:
                    bound = np.asarray(sim.ln_pascanu_bound, dtype=float)
                    per["mean_ln_pascanu_bound"] = bound
                    jn = np.asarray(sim.samples["ln_jacobian_norm"], dtype=float)
                    pb = np.asarray(sim.samples["ln_pascanu_bound"], dtype=float)
                    # the bound must hold on every network and step (float rounding slack)
                    ok = jn <= pb + 1e-9 * np.maximum(1.0, np.abs(pb))
                    holds = int(np.all(ok, axis=1).sum())
                    has = ctx.has("theory.prediction", "predict")
                    predict = ctx.engine("theory.prediction", "predict") if has else None
                    if predict is not None:
                        with ctx.timed("theory"):
                            predicted = np.asarray(
                                predict(net.mean_field_chain()).grad_second_moment, dtype=float)
                        per["grad_second_moment_mean_field"] = predicted
                        theory_lines.append((label, predicted))
                norms.append(F.NormSeries(label, steps, log_norm / LN10,
                                          None if bound is None else bound / LN10))
                ctx.write_table(f"recurrent-{slug(k, label)}", [
                    {key: v[j] for key, v in per.items()} for j in range(T + 1)
                ], meta={"network": net.to_dict(), "trials": trials, "seed": seed,
                         "jacobian": "spectral" if net.spectral else "vector",
                         "ci_level": 1 - o.alpha})
                norm_kind = "" if net.spectral else r"$^{\ddagger}$"
                outside = (predicted is not None and bool(np.isfinite(lo[0]) and np.isfinite(hi[0]))
                           and not lo[0] <= predicted[0] <= hi[0])
                rows_tex.append([
                    _t(label),
                    ((r"$^{\S}$" if outside else "") + _m(L.fmt_float(predicted[0], 4)))
                    if predicted is not None else "---",
                    _m(L.fmt_ci(mean[0], lo[0], hi[0])),
                    _m(_fixed(log_norm[0] / LN10) + r" \pm " + _fixed(z * log_norm_se[0] / LN10))
                    + norm_kind,
                    _m(_fixed(bound[0] / LN10)) if bound is not None else "---",
                    (str(holds) + " of " + str(trials)) if holds is not None else "---",
                ])
                rows_data.append({
                    "cell": label, "hidden": n, "steps": T, "trials": trials, "seed": seed,
                    "predicted_mean_field": None if predicted is None else float(predicted[0]),
                    "simulated": float(mean[0]), "ci_low": float(lo[0]),
                    "ci_high": float(hi[0]),
                    "mean_ln_jacobian_norm": float(log_norm[0]),
                    "mean_ln_jacobian_norm_se": float(log_norm_se[0]),
                    "jacobian": "spectral" if net.spectral else "vector",
                    "mean_ln_pascanu_bound": None if bound is None else float(bound[0]),
                    "bound_holds_networks": holds,
                    "mean_field_outside_ci": outside,
                })
        with ctx.timed("figures"):
            fig = F.time_figure(gradient=grads, norms=[s for s in norms if s.log10_bound
                                                      is not None],
                                ci_label=f"{100 * (1 - o.alpha):g}% CI",
                                theory=theory_lines)
            figure = ctx.figure(
                fig, "recurrent",
                caption=r"Recurrent networks unrolled over $T = " + str(T) + r"$ steps"
                r" (hidden size $n = " + str(n) + r"$, orthogonal recurrent weights, "
                + str(trials) + r" networks per cell). Left: the gradient second moment"
                r" $\E[(\partial E/\partial h_t)_i^2]/\E[(g_T)_i^2]$ against the step $t$"
                r" (points: Monte Carlo means with " + level + r" confidence intervals;"
                r" lines: the mean-field prediction of the vanilla cells). Right: the mean"
                r" of $\log_{10}\lVert\partial h_T/\partial h_t\rVert_2$ over the vanilla"
                r" RNNs (solid) and of the bound $(\gamma\lVert W\rVert_2)^{T-t}$ (dashed)."
                r" Each panel's inset legend gives its line styles; the colours are shared.",
                label="fig:recurrent",
                data={"steps": steps, "gradient": [
                    {"cell": g.label, "mean": g.mean, "ci_low": g.lo, "ci_high": g.hi}
                    for g in grads],
                    "norms": [{"cell": s.label, "log10_norm": s.log10_norm,
                               "log10_bound": s.log10_bound} for s in norms],
                    "mean_field": [{"cell": lab, "grad_second_moment": v}
                                   for lab, v in theory_lines]},
            )
        ctx.write_table("recurrent", rows_data, meta={"hidden": n, "steps": T,
                                                      "trials": trials})
        lowest = min(rows_data, key=lambda r: r["simulated"])
        highest = max(rows_data, key=lambda r: r["simulated"])
        # the bound is a theorem (it holds on every network); what it says is whether it is
        # informative: a bound of 1 (log 0) predicts no vanishing at all
        vacuous = [r["cell"] for r in rows_data if r["mean_ln_pascanu_bound"] is not None
                   and r["mean_ln_pascanu_bound"] >= -1e-9]
        misses = [r for r in rows_data if r["mean_field_outside_ci"]]
        text = (
            r"Through time (Section~\ref{sec:recurrent}): over $T = " + str(T) + r"$ steps"
            r" the gradient second moment falls to $" + L.fmt_float(lowest["simulated"], 3)
            + r"$ of its value at the last step with the " + _t(lowest["cell"]) + r" cell and to $"
            + L.fmt_float(highest["simulated"], 3) + r"$ with the " + _t(highest["cell"])
            + " cell"
        )
        if vacuous:
            text += (r"; Pascanu et al.'s bound equals 1 for the " + " and ".join(
                r"\emph{" + _t(c) + "}" for c in vacuous) + r" cell"
                + ("s" if len(vacuous) > 1 else "")
                + r" (orthogonal $W$, $\sup|\varphi'| = 1$), so it cannot show their"
                r" vanishing")
        if misses:
            text += (r"; the mean-field prediction lies outside the Monte Carlo interval for"
                     r" the " + " and ".join(r"\emph{" + _t(r["cell"]) + "}" for r in misses)
                     + " cell" + ("s" if len(misses) > 1 else ""))
        self._highlights.append(text + ".")
        out = [
            r"A recurrent network applies the same weights at every step, $h_t ="
            r" \varphi(W h_{t-1} + b)$ for the vanilla cell, and backpropagation through time"
            r" multiplies the gradient by $\partial h_t/\partial h_{t-1} ="
            r" \operatorname{diag}\varphi'(a_t)\,W$ at every step. Pascanu et al."
            + ctx.cite("pascanu2013") + r" bound the product,"
            r" \[\Big\lVert\frac{\partial h_T}{\partial h_t}\Big\rVert_2 \le"
            r" \big(\gamma\,\lVert W\rVert_2\big)^{T-t},\qquad \gamma = \sup_x|\varphi'(x)|,\]"
            r" so gradients vanish geometrically when $\lVert W\rVert_2 < 1/\gamma$; here"
            r" $\gamma$ is the certified supremum of $|\varphi'|$"
            + r" (" + ctx.see("activations", "@; ") + r"$\gamma = 1/4$ for the sigmoid)."
            r" The bound holds on every network (it is a theorem); with orthogonal $W$"
            r" ($\lVert W\rVert_2 = 1$) it equals 1 for $\tanh$ and ReLU and so cannot show"
            r" their vanishing. With tied weights the mean-field recursions"
            r" are those of a plain chain of depth $T$, which gives the vanilla cells'"
            r" prediction (finite-width effects differ from a chain's, since $W$ is reused)."
            r" Gated cells (LSTM with forget-gate bias 1, GRU) keep a path along which the"
            r" gradient is multiplied by gates rather than by $W$ (PyTorch's cell equations;"
            r" hidden state $h_0 = (1,\dots,1)$, no inputs).",
            "",
            figure,
            L.longtable(
                [L.Column("cell", "l"), L.Column("mean field", "l"),
                 L.Column(r"Monte Carlo [" + level + r" CI]", "l"),
                 L.Column(r"mean $\log_{10}\lVert J\rVert_2$", "l"),
                 L.Column(r"mean $\log_{10}$ bound", "l"), L.Column("bound holds", "l")],
                rows_tex, name="recurrent", label="tab:recurrent",
                caption=r"Gradient second moment at the first step,"
                r" $\E[(\partial E/\partial h_0)_i^2]/\E[(g_T)_i^2]$ ($T = " + str(T)
                + r"$), the Jacobian $J = \partial h_T/\partial h_0$ over all $T$ steps"
                r" (its norm, decimal logarithm) with its Pascanu bound, and the"
                r" number of simulated networks on which the bound holds at every step.",
                size=r"\footnotesize",
                notes=r"$\pm$: " + level + r" interval of the mean over networks."
                + (r" $^{\S}$The mean-field prediction lies outside the Monte Carlo interval:"
                   r" the recurrent weight matrix is reused at every step, which mean-field"
                   r" theory (independent weights per layer) does not describe."
                   if any(r["mean_field_outside_ci"] for r in rows_data) else "")
                + r" $^{\ddagger}$Gated cells: $\lVert J^{\mathsf T}u\rVert$ for one random"
                r" unit vector $u$, a lower bound on the spectral norm (the LSTM's at a fixed"
                r" cell state).",
            ),
        ]
        return "\n".join(out) + "\n"


