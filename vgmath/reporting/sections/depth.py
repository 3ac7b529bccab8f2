"""Gradients through depth: theory against Monte Carlo, with the verification verdicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

from .. import figures as F
from .. import latex as L
from ..core import ReportContext, Section, register
from .common import _m, _t, prediction, slug

# --------------------------------------------------------------------------- depth


def monte_carlo(ctx: ReportContext, a: int, i: int) -> dict[str, Any]:
    """The Monte Carlo record of chain (activation a, init i), cached:
    ``{"simulation", "verification" (None without the verification engine), "seed",
    "mean", "ci_low", "ci_high", "level"}`` (per layer; the CI of the simulated mean)."""
    o = ctx.options
    (alab, _), (ilab, _) = o.activations[a], o.inits[i]
    return ctx.cached(("monte_carlo", alab, ilab), lambda: _run_monte_carlo(ctx, a, i))  # type: ignore[no-any-return]


def _run_monte_carlo(ctx: ReportContext, a: int, i: int) -> dict[str, Any]:
    o = ctx.options
    (alab, act), (ilab, init) = o.activations[a], o.inits[i]
    chain = o.chain(act, init)
    seed = o.chain_seed(alab, ilab)
    simulate = ctx.engine("montecarlo.simulation", "simulate")
    with ctx.timed("monte_carlo"):
        sim = simulate(chain, trials=o.trials, seed=seed)
    mean = np.asarray(sim.grad_second_moment, dtype=float)
    ver = None
    if ctx.has("verification.profile", "verify"):
        verify = ctx.engine("verification.profile", "verify")
        with ctx.timed("verification"):
            # vgmath's own claim, as the report already computed it: the finite-width
            # prediction where verify would use it, else the mean-field one (tested with
            # the bias band) — verify computes neither again
            exact = ctx.engine("verification.profile", "finite_width_exact")
            fw = finite_width_prediction(ctx, a, i) if exact(chain) else None
            claim = fw if fw is not None else prediction(ctx, a, i)
            ver = verify(chain, claim, simulation=sim, alpha=o.alpha)
        lo = np.full_like(mean, np.nan)
        hi = np.full_like(mean, np.nan)
        idx = np.asarray(ver.layers, dtype=int)
        lo[idx] = np.exp(np.asarray(ver.ln_ci_low, dtype=float))
        hi[idx] = np.exp(np.asarray(ver.ln_ci_high, dtype=float))
    else:
        # (1 - alpha) interval on the log scale by the delta method: log m ± z·se/m
        from scipy.stats import norm

        z = float(norm.ppf(1 - o.alpha / 2))
        se = np.asarray(sim.grad_second_moment_se, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = se / mean
        lo, hi = mean * np.exp(-z * rel), mean * np.exp(z * rel)
    return {"simulation": sim, "verification": ver, "seed": seed, "mean": mean,
            "ci_low": lo, "ci_high": hi, "level": 1 - o.alpha}


def finite_width_prediction(ctx: ReportContext, a: int, i: int) -> Any:
    """``vg.predict(chain, finite_width=True)`` of chain (activation a, init i), cached; None
    where it does not apply (residual or normalised chains) or the engine lacks it."""
    o = ctx.options
    (alab, act), (ilab, init) = o.activations[a], o.inits[i]

    def make() -> Any:
        from ...core.errors import VgmathError

        predict = ctx.engine("theory.prediction", "predict")
        try:
            with ctx.timed("theory"):
                return predict(o.chain(act, init), finite_width=True)
        except (VgmathError, TypeError):
            return None

    return ctx.cached(("prediction-finite-width", alab, ilab), make)


def _level(ctx: ReportContext) -> str:
    return L.fmt_float(100 * (1 - ctx.options.alpha), 3) + r"\%"


def _verdict_cell(ver: Any) -> str:
    """PASS / FAIL / INCONCLUSIVE with the coverage (untestable layers are never "pass")."""
    if ver is None:
        return "---"
    cov = ver.coverage
    verdict = str(getattr(ver.verdict, "value", ver.verdict))
    if verdict == "FAIL":
        return (r"\textbf{FAIL} (rejected at " + str(len(ver.rejected_layers)) + " of "
                + str(len(ver.layers)) + " layers)")
    tested = f" ({cov.tested} of {cov.claimed} layers tested"
    tested += "" if cov.layer0_tested else ", not layer 0"
    if verdict == "PASS":
        return "PASS" + tested + ")"
    return (r"\textit{INCONCLUSIVE}" + tested + "; " + str(cov.claimed - cov.tested)
            + " untestable)")


def _layers_text(layers: list[int]) -> str:
    """``0--12, 15`` (runs of consecutive layers joined)."""
    runs: list[list[int]] = []
    for v in sorted(layers):
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}--{r[-1]}" for r in runs)


def verdict_reason(ver: Any) -> str:
    """One sentence (LaTeX) saying why a profile did not PASS, from its per-layer records."""
    verdict = str(getattr(ver.verdict, "value", ver.verdict))
    if verdict == "FAIL":
        rej = [int(v) for v in ver.rejected_layers]
        p = np.asarray(ver.p_adjusted, dtype=float)
        pmin = float(np.nanmin(p)) if np.isfinite(p).any() else float("nan")
        return (r"the simulated mean differs from the prediction by more than the finite-width"
                r" allowance at layer" + ("s" if len(rej) > 1 else "") + " "
                + _layers_text(rej) + r" (smallest Holm-adjusted $p = "
                + L.fmt_float(pmin, 2) + r"$).")
    if verdict != "INCONCLUSIVE":
        return ""
    groups: dict[str, list[int]] = {}
    from ...verification.profile import NORMALISATION, TYPICAL_TOO_WIDE

    for layer, status, kind in zip(ver.layers, ver.status, ver.reason_kinds, strict=True):
        # the normalisation layer is fixed by construction: never claimed, never counted
        if str(getattr(status, "value", status)) == "untestable" and kind != NORMALISATION:
            base = kind.removesuffix(TYPICAL_TOO_WIDE) or "untestable"
            text = _REASONS.get(base, base) + (_TYPICAL_TOO if kind.endswith(TYPICAL_TOO_WIDE)
                                              else "")
            groups.setdefault(text, []).append(int(layer))
    parts = [_t(kind) + " at layer" + ("s" if len(ls) > 1 else "") + " "
             + _layers_text(ls) for kind, ls in groups.items()]
    cov = ver.coverage
    return ("nothing was rejected, but " + str(cov.claimed - cov.tested) + " of "
            + str(cov.claimed) + " claimed layers could not be tested ("
            + "; ".join(parts) + ").")


#: the verifier's short reasons (``Verification.reason_kinds``), said in full
_REASONS = {
    "too wide": "the finite-width allowance plus the confidence interval too wide to decide",
    "heavy tails": "per-network values too heavy-tailed for a trustworthy mean",
}
#: said after the reason of a heavy-tailed row whose typical value was not resolved either
_TYPICAL_TOO = " and too spread for the networks simulated to resolve their typical value"


@register
class DepthSection(Section):
    def __init__(self) -> None:
        self._highlights: list[str] = []

    def highlights(self, ctx: ReportContext) -> list[str]:
        return list(self._highlights)

    key = "depth"
    per_depth = True
    name = "gradients through depth"
    title = "Gradients through depth: theory against simulation"
    requires = (("theory.prediction", "predict"),)
    PANELS = 9  # activations per figure (3 x 3 small multiples)

    def build(self, ctx: ReportContext) -> str:
        from ...symbolic.symbols import layer_symbol
        from ..core import note

        o = ctx.options
        mc = o.simulate and ctx.has("montecarlo.simulation", "simulate")
        if o.simulate and not mc:
            note("Monte Carlo left out of the depth section: "
                 "its engine vgmath.montecarlo.simulation is not available")
        ver_on = mc and ctx.has("verification.profile", "verify")
        if mc and not ver_on:
            note("verification verdicts left out of the depth section: "
                 "its engine vgmath.verification.profile is not available")
        n_act, n_init = len(o.activations), len(o.inits)
        if mc:
            from ...core.progress import progress

            show = ctx.progress.enabled
            with progress(n_act * n_init * o.trials, enabled=show, desc="Monte Carlo",
                          unit="networks") as bar:
                for a in range(n_act):
                    for i in range(n_init):
                        monte_carlo(ctx, a, i)
                        bar.update(o.trials)
        level = _level(ctx)
        out = [
            r"For a chain of depth $L$ whose output gradient $g^L$ has i.i.d.\ standard normal"
            r" entries, mean-field theory predicts the gradient second moment at every layer"
            r" $l$ relative to the output,"
            r" $\E[(g^l_i)^2]/\E[(g^L_i)^2] = \prod_{k=l+1}^{L}\chi^k$"
            + ctx.cite("poole2016", "schoenholz2017") + r"."
            + ((r" Each prediction is compared with the mean over " + str(o.trials)
                + r" independent random networks (fresh weights for each) of width $n = "
                + str(o.width) + r"$; error bars are " + level + r" confidence intervals of"
                r" the mean.")
               if mc else r" This is a theory-only report: no simulation was run.")
            + r" Beside it, the finite-width prediction at width $n = " + str(o.width)
            + r"$ (the per-network variance as an exact Markov chain, the backward pass"
            r" along it, weight sharing included) gives the mean that networks of this width"
            r" actually have."
            + (r" Each profile is then \emph{verified}: a test per layer of the hypothesis"
               r" that the simulated mean equals the finite-width prediction (on the log"
               r" scale, with Hall's skewness-corrected studentised mean; where there is none,"
               r" the mean-field prediction allowing for the estimated $O(1/n)$ finite-width"
               r" bias" + ctx.cite("hanin2018") + r"; where the per-network values are too"
               r" heavy-tailed for the mean to be tested, the typical value"
               r" $\E[\ln(\lVert g^l\rVert^2/n)]$ against the predicted law, with the part"
               r" of $\ln\lVert g^l\rVert^2$ that the law takes from the network's forward"
               r" variances, whose mean it gives exactly, as a control variate), with Holm's"
               r" correction across layers at family-wise level $\alpha = "
               + L.fmt_float(o.alpha, 3) + r"$. A profile is rejected (FAIL) when any layer"
               r" is; it passes (PASS) only when every layer was tested, and is"
               r" INCONCLUSIVE when some layer could not be tested (finite-width bias"
               r" too large, heavy tails) and none was rejected."
               if ver_on else ""),
            "",
        ]
        # per-chain data, figures
        panels: list[tuple[str, list[F.DepthSeries]]] = []
        rows_tex: list[list[str]] = []
        rows_data: list[dict[str, Any]] = []
        closed: list[list[str]] = []
        closed_data: list[dict[str, Any]] = []
        appendix: list[str] = []
        layers = np.arange(o.depth + 1)
        for a, (alab, _) in enumerate(o.activations):
            series: list[F.DepthSeries] = []
            for i, (ilab, _) in enumerate(o.inits):
                pred = prediction(ctx, a, i)
                theory = np.asarray(pred.grad_second_moment, dtype=float)
                per_layer: dict[str, Any] = {
                    "layer": layers,
                    "q_theory": np.asarray(pred.q, dtype=float),
                    "chi_theory": np.asarray(pred.chi, dtype=float),
                    "grad_second_moment_theory": theory,
                }
                fw = finite_width_prediction(ctx, a, i)
                fw_grad = (np.full(o.depth + 1, np.nan) if fw is None
                           else np.asarray(fw.grad_second_moment, dtype=float))
                per_layer["q_finite_width"] = (np.full(o.depth + 1, np.nan) if fw is None
                                               else np.asarray(fw.q, dtype=float))
                per_layer["grad_second_moment_finite_width"] = fw_grad
                rec = monte_carlo(ctx, a, i) if mc else None
                ver = None if rec is None else rec["verification"]
                if rec is not None:
                    sim = rec["simulation"]
                    per_layer.update({
                        "q_simulated": np.asarray(sim.q, dtype=float),
                        "grad_second_moment_simulated": rec["mean"],
                        "grad_second_moment_se": np.asarray(sim.grad_second_moment_se,
                                                            dtype=float),
                        "ci_low": rec["ci_low"], "ci_high": rec["ci_high"],
                    })
                    if ver is not None:
                        p_adj = np.full(o.depth + 1, np.nan)
                        bias = np.full(o.depth + 1, np.nan)
                        status = np.full(o.depth + 1, "", dtype=object)
                        idx = np.asarray(ver.layers, dtype=int)
                        p_adj[idx] = ver.p_adjusted
                        bias[idx] = ver.bias
                        status[idx] = [str(getattr(v, "value", v)) for v in ver.status]
                        per_layer.update({"finite_width_bias": bias, "p_adjusted": p_adj,
                                          "status": status})
                series.append(F.DepthSeries(
                    ilab, layers, theory,
                    None if rec is None else rec["mean"],
                    None if rec is None else rec["ci_low"],
                    None if rec is None else rec["ci_high"],
                    finite=None if fw is None else fw_grad,
                ))
                stem = f"depth-{slug(a, alab)}-{slug(i, ilab)}"
                ctx.write_table(stem, [
                    {k: v[j] for k, v in per_layer.items()} for j in range(o.depth + 1)
                ], meta={"chain": pred.chain.to_dict(), "trials": o.trials if mc else 0,
                         "seed": None if rec is None else rec["seed"],
                         "ci_level": None if rec is None else rec["level"]})
                if ver is not None:
                    ctx.write_json(f"verify-{slug(a, alab)}-{slug(i, ilab)}", ver.to_dict())
                # summary row: the input layer l = 0
                ex = pred.exact
                exact0 = None
                if ex is not None and ex.grad_second_moment is not None:
                    exact0 = ex.grad_second_moment[0]
                formula0 = (None if pred.formula is None
                            else sp.simplify(pred.formula.subs(layer_symbol, 0)))
                row = [
                    _t(alab), _t(ilab),
                    _m(sp.latex(formula0)) if formula0 is not None else "---",
                    # the marker goes before the number: after it, it reads as an exponent
                    (r"$^{*}$" if exact0 is not None else "") + _m(L.fmt_float(theory[0], 4)),
                    "---" if fw is None else _m(L.fmt_float(fw_grad[0], 4)),
                ]
                drow: dict[str, Any] = {
                    "activation": alab, "init": ilab,
                    "closed_form": "" if formula0 is None else str(formula0),
                    "predicted": float(theory[0]),
                    "predicted_exact": "" if exact0 is None else str(exact0),
                    "predicted_finite_width": float(fw_grad[0]),
                }
                if rec is not None:
                    row.append(_m(L.fmt_ci(rec["mean"][0], rec["ci_low"][0],
                                           rec["ci_high"][0])))
                    drow.update({"simulated": float(rec["mean"][0]),
                                 "ci_low": float(rec["ci_low"][0]),
                                 "ci_high": float(rec["ci_high"][0])})
                if ver is not None:
                    row.append(_verdict_cell(ver))
                    drow.update({"verdict": str(getattr(ver.verdict, "value", ver.verdict)),
                                 "reason": verdict_reason(ver),
                                 "passed": bool(ver.passed),
                                 "untestable_layers": " ".join(str(v) for v in
                                                               ver.untestable_layers),
                                 "rejected_layers": " ".join(str(v) for v in
                                                             ver.rejected_layers),
                                 "min_p_adjusted": (float(np.nanmin(ver.p_adjusted))
                                                    if np.isfinite(ver.p_adjusted).any()
                                                    else float("nan"))})
                    if ver.rejected_layers:
                        appendix.append(self._verification_table(ctx, alab, ilab, ver))
                if rec is not None:
                    far = _far_off(theory, rec["mean"], rec["ci_low"], rec["ci_high"])
                    drow["max_ratio_simulated_to_predicted"] = None if far is None else far[0]
                    drow["max_ratio_layer"] = None if far is None else far[1]
                rows_tex.append(row)
                rows_data.append(drow)
                if pred.formula is not None:
                    closed.append([_t(alab), _t(ilab), r"$\displaystyle " + pred.latex() + "$"])
                    closed_data.append({"activation": alab, "init": ilab,
                                        "formula": str(pred.formula),
                                        "latex": pred.latex()})
            panels.append((alab, series))
        # figures: up to PANELS activations each
        for f0 in range(0, len(panels), self.PANELS):
            chunk = panels[f0:f0 + self.PANELS]
            k = f0 // self.PANELS
            with ctx.timed("figures"):
                fig = F.depth_figure(
                    panels=chunk, ci_label=f"{100 * (1 - o.alpha):g}% CI",
                    ylabel=r"$E[(g^l)^2]\,/\,E[(g^L)^2]$",
                )
                names = ", ".join(_t(lab) for lab, _ in chunk)
                chunk_labels = {lab for lab, _ in chunk}
                far_text = _far_caption([r for r in rows_data
                                         if r["activation"] in chunk_labels])
                out.append(ctx.figure(
                    fig, f"depth-{k:02d}",
                    caption=r"Gradient second moment $\E[(g^l_i)^2]/\E[(g^L_i)^2]$ against the"
                    r" layer $l$ (depth $L = " + str(o.depth) + r"$, width $n = " + str(o.width)
                    + r"$), one panel per activation (" + names + r"), one colour per"
                    r" initialisation: mean-field theory (lines)"
                    + ((r", the finite-width prediction at $n = " + str(o.width)
                        + r"$ (thin lines)") if any(s.finite is not None for _, ser in chunk
                                                    for s in ser) else "")
                    + ((r" and Monte Carlo means with " + level + r" confidence intervals"
                        r" (points)") if mc else "") + "." + _same_scale_note(ctx) + far_text,
                    label=f"fig:depth-{k}",
                    data={"layers": layers, "panels": [
                        {"activation": lab, "series": [
                            {"init": s.label, "theory": s.theory, "finite_width": s.finite,
                             "simulated": s.simulated, "ci_low": s.lo, "ci_high": s.hi}
                            for s in ser]}
                        for lab, ser in chunk]},
                ))
        cols = [L.Column("activation", r">{\raggedright\arraybackslash}p{1.9cm}"),
                L.Column("init", "l"), L.Column("closed form", "l"),
                L.Column("mean field", "l"), L.Column("finite width", "l")]
        if mc:
            cols.append(L.Column(r"Monte Carlo [" + level + r" CI]", "l"))
        if ver_on:
            cols.append(L.Column("verdict", r">{\raggedright\arraybackslash}p{2.6cm}"))
        worst = min(rows_data, key=lambda r: r["predicted"])
        tied = [r for r in rows_data if math.isclose(r["predicted"], worst["predicted"],
                                                     rel_tol=1e-12)]
        self._highlights.append(
            r"Strongest vanishing: " + " and ".join(
                _t(r["activation"]) + " with " + _t(r["init"]) for r in tied)
            + r", predicted $\E[(g^0_i)^2]/\E[(g^L_i)^2]$\allowbreak{} $= "
            + L.fmt_float(worst["predicted"], 3)
            + r"$ at depth " + str(o.depth) + r" (Table~\ref{tab:depth})."
        )
        if ver_on:
            passed = [r for r in rows_data if r.get("verdict") == "PASS"]
            failed = [r for r in rows_data if r.get("verdict") == "FAIL"]
            unsure = [r for r in rows_data if r.get("verdict") == "INCONCLUSIVE"]
            text = (f"Verification at depth $L = {o.depth}$: {len(passed)} of {len(rows_data)}"
                    " predicted profiles pass"
                    r" (every layer tested) at family-wise level $\alpha = "
                    + L.fmt_float(o.alpha, 3) + "$")
            if failed:
                text += ("; " + str(len(failed)) + " FAIL (" + "; ".join(
                    _t(r["activation"]) + " with " + _t(r["init"]) + ": " + r["reason"][:-1]
                    for r in failed) + r", Section~\ref{sec:depth-rejected})")
            if unsure:
                text += ("; " + str(len(unsure)) + " INCONCLUSIVE (" + ", ".join(
                    _t(r["activation"]) + " with " + _t(r["init"]) for r in unsure)
                    + r": some layers untestable at width $n = " + str(o.width)
                    + r"$, nothing rejected)")
            self._highlights.append(text + r"; each is explained below Table~\ref{tab:depth}."
                                    if failed or unsure else text + ".")
        ctx.write_table("depth", rows_data, meta={
            "depth": o.depth, "width": o.width, "trials": o.trials if mc else 0,
            "alpha": o.alpha})
        out.append(L.longtable(
            cols, rows_tex, name="depth", label="tab:depth",
            caption=r"Gradient second moment at the input, $\E[(g^0_i)^2]/\E[(g^L_i)^2]$"
            r" ($L = " + str(o.depth) + r"$): the closed form in $L$ where one exists, the"
            r" mean-field prediction, the finite-width prediction at $n = " + str(o.width)
            + r"$" + (r", the Monte Carlo mean" if mc else "")
            + (r" and the verdict of the test over all layers" if ver_on else "") + ".",
            size=r"\footnotesize",
            notes=r"$^{*}$The prediction is exact; the decimal shown is its rounding."
            + (r" Per-layer values, $p$-values and finite-width biases are in"
               r" \nolinkurl{data/depth-*.csv} and \nolinkurl{data/verify-*.json}."
               if ver_on else ""),
        ))
        if closed:
            out.append(r"\paragraph{Closed forms.} When $\E[\varphi'(\sqrt q z)^2]$ does not"
                       r" depend on $q$ (positively homogeneous $\varphi$), $\chi$ is the same"
                       r" at every layer and the profile has a closed form in the depth $L$"
                       r" and the layer $l$ (Table~\ref{tab:closed-forms}).")
            ctx.write_table("closed-forms", closed_data)
            out.append(L.longtable(
                [L.Column("activation", "l"), L.Column("init", "l"),
                 L.Column("gradient second moment", "l")],
                closed, name="closed-forms", label="tab:closed-forms",
                caption=r"Exact gradient profiles derived symbolically.",
                row_sep=r"[5pt]",
            ))
        out.append(_precision_paragraph(ctx))
        non_pass = [r for r in rows_data if r.get("verdict") in ("FAIL", "INCONCLUSIVE")]
        if non_pass:
            out.append(r"\paragraph{Profiles that did not pass.} A profile PASSES when every"
                       r" layer was tested and none rejected; it FAILS when a layer is"
                       r" rejected, and is INCONCLUSIVE when nothing was rejected but some"
                       r" layer could not be tested.")
            out.append(r"\begin{itemize}")
            out.extend(r"\item \textbf{" + r["verdict"] + "}, " + _t(r["activation"])
                       + " with " + _t(r["init"]) + ": " + r["reason"] for r in non_pass)
            out.append(r"\end{itemize}")
        if appendix:
            out.append(r"\subsection{Rejected profiles}\label{sec:depth-rejected}")
            out.append(r"The per-layer verdict tables of the profiles that the test rejects"
                       r" (claim: the finite-width prediction, or the mean-field one where there is"
                       r" none; the claim, the simulated mean and its CI as decimal logarithms;"
                       r" $B_l$: the estimated finite-width bias of a mean-field claim and tol.:"
                       r" the allowance, in natural-log units; CI at level $1-\alpha$,"
                       r" unadjusted; $p_\mathrm{Holm}$: adjusted across layers; a layer whose"
                       r" allowance is infinite is untestable, never passed; a status marked"
                       r" \textsuperscript{t}: the layer's mean is heavy-tailed and its typical"
                       r" value was tested instead, so its $p$ refers to that test).")
            out.extend(appendix)
        return "\n".join(out) + "\n"

    @staticmethod
    def _verification_table(ctx: ReportContext, alab: str, ilab: str, ver: Any) -> str:
        body = verification_tabular(ver)
        return "\n".join([
            r"\begin{table}[htbp]",
            r"\centering\scriptsize",
            r"\caption{Verification of " + _t(alab) + " with " + _t(ilab) + r": rejected at"
            r" layers $" + ", ".join(str(v) for v in ver.rejected_layers) + r"$.}",
            r"\vgfittext{" + body + "}",
            r"\end{table}",
            "",
        ])




def _precision_paragraph(ctx: ReportContext) -> str:
    """One sentence per reduced-precision format: the chain of the report whose gradient
    second moment (E[(g^L)²] = 1) first leaves the normal range, and after how many layers
    (:meth:`vgmath.Prediction.underflow_depth`); the data in ``data/dtype-limits.csv``."""
    o = ctx.options
    rows: list[dict[str, Any]] = []
    parts = []
    for dtype in ("float16", "bfloat16", "float32"):
        worst: tuple[int, str, str] | None = None
        for a, (alab, _) in enumerate(o.activations):
            for i, (ilab, _) in enumerate(o.inits):
                lim = prediction(ctx, a, i).underflow_depth(dtype)
                rows.append({"dtype": dtype, "activation": alab, "init": ilab,
                             "normal_depth": lim.normal_depth,
                             "subnormal_depth": lim.subnormal_depth,
                             "overflow_depth": lim.overflow_depth,
                             "loss_scale": lim.loss_scale})
                k = min((d for d in (lim.normal_depth, lim.overflow_depth) if d is not None),
                        default=None)
                if k is not None and (worst is None or k < worst[0]):
                    worst = (k, alab, ilab)
        parts.append(r"\texttt{" + dtype + "}: "
                     + ("every profile stays normal" if worst is None else
                        _t(worst[1]) + " with " + _t(worst[2]) + " leaves it after $"
                        + str(worst[0]) + "$ layers"))
    ctx.write_table("dtype-limits", rows)
    return (r"\paragraph{Precision.} Where the gradient second moment (relative to"
            r" $\E[(g^L_i)^2] = 1$) first leaves the normal range of a reduced-precision format:"
            r" " + "; ".join(parts) + r". Depths, flush-to-zero depths and loss scales per"
            r" chain are in \nolinkurl{data/dtype-limits.csv}.")


#: a simulated mean this many times off the prediction (and its CI excluding it) is named in
#: the figure caption
FAR_RATIO = 10.0


def _far_off(theory: Any, mean: Any, lo: Any, hi: Any) -> tuple[float, int] | None:
    """The largest ratio simulated/predicted (or its inverse) over the layers whose confidence
    interval excludes the prediction, with its layer; None when the CI always covers it."""
    th, m = np.asarray(theory, dtype=float), np.asarray(mean, dtype=float)
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    ok = np.isfinite(th) & (th > 0) & np.isfinite(m) & (m > 0) & np.isfinite(lo) & np.isfinite(hi)
    outside = ok & ((th < lo) | (th > hi))
    if not outside.any():
        return None
    r = np.where(outside, np.abs(np.log(m / np.where(ok, th, 1.0))), -np.inf)
    j = int(np.argmax(r))
    return float(np.exp(r[j])), j


def _far_caption(rows: list[dict[str, Any]]) -> str:
    far = [r for r in rows if (r.get("max_ratio_simulated_to_predicted") or 0) >= FAR_RATIO]
    if not far:
        return ""
    parts = [
        _t(r["activation"]) + " with " + _t(r["init"]) + r": a factor $"
        + L.fmt_float(r["max_ratio_simulated_to_predicted"], 2) + r"$ at layer $"
        + str(r["max_ratio_layer"]) + "$"
        + (" (" + r["verdict"] + ")" if r.get("verdict") else "")
        for r in far
    ]
    return (r" Where the Monte Carlo points lie far from the mean-field line (their interval"
            r" excludes it): " + "; ".join(parts) + ".")


def _same_scale_note(ctx: ReportContext) -> str:
    """Initialisations with the same σ_w² at this width draw the same curve: say so."""
    o = ctx.options
    groups: dict[str, list[str]] = {}
    for lab, init in o.inits:
        groups.setdefault(str(sp.nsimplify(init.sigma_w2(o.width, o.width))), []).append(lab)
    same = [labs for labs in groups.values() if len(labs) > 1]
    if not same:
        return ""
    return (" " + "; ".join(" and ".join(_t(x) for x in labs) for labs in same)
            + r" give the same $\sigma_w^2$ at square width $n = " + str(o.width)
            + r"$, so their curves coincide.")


_STATUS = {"pass": r"\checkmark", "fail": r"$\times$", "untestable": "untestable"}


def verification_tabular(ver: Any) -> str:
    """A profile's per-layer verdict table (decimal logs; p-values as m×10^e; a layer whose
    tolerance is infinite is never shown as passed: its status is the verifier's own)."""
    rows = ver.to_dict()["rows"]
    level = f"{100 * (1 - ver.alpha):g}"
    head = ["$l$", r"claim ($\log_{10}$)", "$B_l$", "tol.", r"simulated ($\log_{10}$)",
            level + r"\% CI", "$p$", r"$p_\mathrm{Holm}$", "status"]

    def f(v: Any, digits: int = 3) -> str:
        return "$" + L.fmt_float(v, digits) + "$"

    body = []
    for r in rows:
        tol = r["tolerance"]
        status = str(r["status"])
        if tol is None and status == "pass":  # pragma: no cover - the verifier never does this
            status = "untestable"
        body.append(" & ".join([
            str(r["layer"]), f(r["claim"], 4), f(r["finite_width_bias"]),
            "$\\infty$" if tol is None else f(tol), f(r["simulated"], 4),
            "$[" + L.fmt_float(r["ci_low"], 4) + ", " + L.fmt_float(r["ci_high"], 4) + "]$",
            f(r["p_value"], 2), f(r["p_adjusted"], 2), _STATUS.get(status, _t(status))
            + (r"\textsuperscript{t}" if r.get("tested_on") == "typical" else ""),
        ]) + r" \\")
    return "\n".join([r"\begin{tabular}{@{}rrrrrrrrl@{}}", r"\toprule", " & ".join(head)
                      + r" \\", r"\midrule", *body, r"\bottomrule", r"\end{tabular}"])
