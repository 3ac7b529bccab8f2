"""The sections of vgmath's report, in document order (see :mod:`vgmath.reporting.core`).

Each section is independent: it declares the engines it needs and builds its own LaTeX,
figures and data files. Shared results (predictions, simulations, verifications) come from the
:class:`~vgmath.reporting.core.ReportContext` caches, so the depth figure and the χ table read
the same prediction objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import sympy as sp

from ..symbolic.activation import Activation
from ..symbolic.symbols import x
from . import figures as F
from . import latex as L
from .core import ReportContext, Section, register

__all__ = [
    "ActivationsSection",
    "DepthSection",
    "InitialisationsSection",
    "slug",
]

def slug(index: int, label: str) -> str:
    """A file-name-safe, unique, deterministic stem: ``03-leaky-relu``."""
    s = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:32].strip("-")
    return f"{index:02d}-{s}" if s else f"{index:02d}"


def _t(text: Any) -> str:
    """User-supplied text (labels): escaped, and breakable in narrow table columns."""
    return L.escape_text(text, breakable=True)


def _m(tex: str) -> str:
    return "$" + tex + "$"


# --------------------------------------------------------------------------- shared results


def prediction(ctx: ReportContext, a: int, i: int) -> Any:
    """``vg.predict`` of the chain (activation a, init i), cached for every section."""
    o = ctx.options
    (alab, act), (ilab, init) = o.activations[a], o.inits[i]

    def make() -> Any:
        predict = ctx.engine("theory.predict", "predict")
        with ctx.timed("theory"):
            return predict(o.chain(act, init))

    return ctx.cached(("prediction", alab, ilab), make)


# --------------------------------------------------------------------------- activations

_PARAM_SYMBOLS = {"scale": "lambda", "alpha": "alpha", "beta": "beta", "slope": "a"}


def _symbolic_form(act: Activation) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]] | None:
    """The catalog expression with its parameters as symbols (λ, α, β, a) and their values,
    for activations whose exact constants are too long to print inline (SELU)."""
    if act.source or not act.params:
        return None
    from ..symbolic.activation import _CATALOG

    spec = _CATALOG.get(act.name)
    if spec is None:
        return None
    symbols = {k: sp.Symbol(_PARAM_SYMBOLS.get(k, k), positive=True) for k in act.params}
    expr = spec.sym(**symbols)
    return expr, {symbols[k]: v for k, v in act.params.items()}


_LONG = 320  # LaTeX characters beyond which a formula is shown in a compact form


def _definition_latex(act: Activation) -> tuple[str, str, str]:
    """(φ LaTeX, φ′ LaTeX, parameter note). The object's own ``.latex()`` is used unless it is
    too long to read, in which case the parameters are shown as symbols with their values."""
    phi = act.latex()
    dphi = r"\varphi'(x) = " + sp.latex(act.derivative)
    if len(phi) <= _LONG and len(dphi) <= _LONG:
        return phi, dphi, ""
    sym = _symbolic_form(act)
    if sym is None:
        return phi, dphi, ""
    expr, values = sym
    phi_s = r"\varphi(x) = " + sp.latex(expr)
    dphi_s = r"\varphi'(x) = " + sp.latex(sp.piecewise_fold(sp.diff(expr, x)))
    notes = []
    for s, v in values.items():
        exact = sp.latex(v)
        shown = exact if len(exact) <= 60 else r"\approx " + _decimal(v, 20)
        notes.append(_m(sp.latex(s) + _rel(shown)))
    note = ("with " + ", ".join(notes)
            + " (exact closed forms in \\nolinkurl{data/activations-details.json})")
    return phi_s, dphi_s, note


def _rel(tex: str) -> str:
    """`` = value`` or `` \\approx value`` when the value is already an approximation."""
    return " " + tex if tex.startswith(r"\approx") else " = " + tex


def _decimal(v: Any, digits: int) -> str:
    return sp.sstr(sp.N(v, digits))


def _intervals(region_set: sp.Set) -> list[tuple[float, float]]:
    """A SymPy set of the real line as float intervals (for shading)."""
    if region_set is sp.S.EmptySet:
        return []
    if isinstance(region_set, sp.Interval):
        return [(float(region_set.start), float(region_set.end))]
    if isinstance(region_set, sp.Union):
        out: list[tuple[float, float]] = []
        for part in region_set.args:
            out.extend(_intervals(part))
        return out
    if isinstance(region_set, sp.FiniteSet):
        return []
    if region_set == sp.S.Reals:
        return [(-math.inf, math.inf)]
    return []


def _plot_range(kinks: Sequence[float], boundaries: Sequence[float]) -> tuple[float, float]:
    finite = [abs(b) for b in (*kinks, *boundaries) if math.isfinite(b) and abs(b) <= 12]
    r = max([6.0, *[1.25 * b for b in finite]])
    return -r, r


def _value_cell(v: sp.Expr, exact: bool, err: Any) -> str:
    if exact:
        return _m(L.fmt_exact(v, max_len=40))
    return _m(L.fmt_float(v, 6) + r"\pm" + L.fmt_float(err, 1))


@register
class ActivationsSection(Section):
    def __init__(self) -> None:
        self._highlights: list[str] = []

    def highlights(self, ctx: ReportContext) -> list[str]:
        return list(self._highlights)

    key = "activations"
    name = "activation functions"
    title = "Activation functions and their certified derivative bounds"
    requires = (
        ("symbolic.bounds", "derivative_bound"),
        ("symbolic.bounds", "saturation_region"),
        ("symbolic.bounds", "chain_bound"),
    )

    def build(self, ctx: ReportContext) -> str:
        o = ctx.options
        eps = o.eps
        out = [
            r"A gradient passing backwards through a chain of $L$ units $x_i = "
            r"\varphi(x_{i-1})$ is multiplied by $\prod_{i=1}^{L}\varphi'(x_i)$, so"
            r" \[\Big|\prod_{i=1}^{L}\varphi'(x_i)\Big| \le \Big(\sup_x|\varphi'(x)|\Big)^{L}.\]"
            r" For the sigmoid $\sup\varphi' = 1/4$ and the bound is below $10^{-3}$ after five"
            r" units: the textbook form of the vanishing-gradient problem"
            + ctx.cite("glorot2010") + r". Below, the supremum and infimum of $\varphi'$ are"
            r" \emph{derived}, not assumed: from the critical points of $\varphi''$ on each"
            r" smooth piece, the values and one-sided limits at kinks and the limits at"
            r" $\pm\infty$; a value is exact when it is proved exactly, otherwise it is"
            r" certified by interval arithmetic with the stated error bound. The saturation"
            r" region is where $|\varphi'(x)| < \varepsilon = " + sp.latex(eps) + r"$: a unit"
            r" whose pre-activation falls there passes almost no gradient."
            r" Table~\ref{tab:activations} summarises the results.",
            "",
        ]
        rows_tex: list[list[str]] = []
        data_rows: list[dict[str, Any]] = []
        json_rows: list[dict[str, Any]] = []
        for idx, (label, act) in enumerate(o.activations):
            with ctx.timed("bounds"):
                bound = act.derivative_bound()
                region = act.saturation_region(eps)
                chain = act.chain_bound(eps=sp.Rational(1, 1000))
            phi_tex, dphi_tex, pnote = _definition_latex(act)
            cite = ""
            if act.name in _ACT_CITES and not act.source:
                cite = ctx.cite(_ACT_CITES[act.name])
            # the catalog's one-line description, unless it is itself a formula in plain text
            # (the typeset definition below says that better)
            plain_doc = act.doc and not act.source and not any(c in act.doc for c in "^{}")
            desc = _t(act.doc) if plain_doc else (
                "a user-defined expression" if act.source else "")
            sec = [
                r"\subsection{\texorpdfstring{" + _t(label) + "}{" + L.pdf_string(label)
                + "}}",
                r"\label{sec:act-" + str(idx) + "}",
                (r"\emph{Definition} (" + desc + ")" + cite + ":") if desc
                else r"\emph{Definition:}",
                L.fit_display(phi_tex),
            ]
            if pnote:
                sec.append(pnote + ".")
            sec += [
                r"\emph{Derivative} (SymPy):",
                L.fit_display(dphi_tex),
                r"\emph{Certified bound:}",
                L.fit_display(_readable(bound.latex(), partial(_bound_latex, bound))),
                r"\emph{How it was derived:} supremum from " + L.readable_text(bound.sup_method)
                + r"; infimum from " + L.readable_text(bound.inf_method) + ". "
                + ("Both values are exact." if bound.exact else
                   "Values that are not exact are certified enclosures (the $\\pm$ term is a"
                   " rigorous bound on the error)."),
                "",
                r"\emph{Saturation region} ($|\varphi'(x)| < " + sp.latex(eps) + r"$):",
                L.fit_display(_readable(region.latex(), partial(_region_latex, region))),
                r"\emph{Chain bound:} ",
                L.fit_display(_readable(chain.latex(), partial(_chain_latex, chain))),
            ]
            if any(len(o_.latex()) > _LONG or _LONG_DECIMAL.search(o_.latex())
                   for o_ in (bound, region, chain)):
                sec.append(r"(Long values are shown rounded; the exact forms and all digits"
                           r" are in \nolinkurl{data/activations-details.json}.)")
            # figure
            kinks = [float(b) for b in act.breakpoints]
            sat = _intervals(region.region)
            bnds = [float(b) for b in getattr(region, "boundaries", ()) if _is_finite(b)]
            lo, hi = _plot_range(kinks, bnds)
            xs = np.union1d(np.linspace(lo, hi, 1201), np.array(
                [k for k in kinks if lo < k < hi], dtype=float))
            phi_v, dphi_v = act(xs), act.grad(xs)
            stem = "activation-" + slug(idx, label)
            with ctx.timed("figures"):
                fig = F.activation_figure(
                    label=label, xs=xs, phi=phi_v, dphi=dphi_v, saturation=sat,
                    eps=float(eps), sup=_num(bound.sup),
                    inf=_num(bound.inf), kinks=kinks,
                )
                sec.append(ctx.figure(
                    fig, stem,
                    caption=r"$\varphi$ and $\varphi'$ for " + _t(label)
                    + r"; shaded: the saturation region $|\varphi'| < " + sp.latex(eps)
                    + r"$; dashed: the certified $\sup\varphi'$ and $\inf\varphi'$.",
                    label="fig:act-" + str(idx), width=r"0.95\textwidth",
                    data={"x": xs, "phi": phi_v, "dphi": dphi_v,
                          "saturation_intervals": [[a, b] for a, b in sat],
                          "eps": str(eps)},
                ))
            out.extend(sec)
            out.append("")
            # table rows and data
            depth_cell = ("never" if chain.min_depth is None
                          else r"$" + str(chain.min_depth) + "$")
            rows_tex.append([
                _t(label),
                _value_cell(bound.sup, bound.sup_exact, bound.sup_error) + " "
                + _where_short(bound.argsup, bound.attained),
                _value_cell(bound.inf, bound.inf_exact, bound.inf_error) + " "
                + _where_short(bound.arginf, bound.inf_attained),
                "yes" if bound.exact else "certified",
                _m(_set_short(region.region)),
                depth_cell,
            ])
            data_rows.append({
                "activation": label,
                "sup": _num(bound.sup), "sup_exact": str(bound.sup) if bound.sup_exact else "",
                "sup_error": _num(bound.sup_error), "argsup": str(bound.argsup),
                "sup_attained": bound.attained,
                "inf": _num(bound.inf), "inf_exact": str(bound.inf) if bound.inf_exact else "",
                "inf_error": _num(bound.inf_error), "arginf": str(bound.arginf),
                "inf_attained": bound.inf_attained,
                "exact": bound.exact,
                "saturation_region": str(region.region),
                "chain_depth_1e-3": chain.min_depth,
            })
            json_rows.append({
                "label": label,
                "expression": str(act.expr),
                "latex": act.latex(),
                "derivative": str(act.derivative),
                "derivative_latex": sp.latex(act.derivative),
                "params": {k: str(v) for k, v in act.params.items()},
                "derivative_bound": bound.to_dict(),
                "saturation_region": region.to_dict(),
                "chain_bound": chain.to_dict(),
            })
        vanish = [(label, d["chain_depth_1e-3"]) for label, d in
                  zip((lab for lab, _ in o.activations), data_rows, strict=True)
                  if d["chain_depth_1e-3"] is not None]
        if vanish:
            self._highlights.append(
                "Certified chain bounds: " + "; ".join(
                    _t(lab) + r" units shrink any gradient below $10^{-3}$ after at most $"
                    + str(dep) + "$ layers" for lab, dep in vanish)
                + r" (Table~\ref{tab:activations}); the others have"
                r" $\sup|\varphi'| \ge 1$, so the chain bound alone does not vanish."
            )
        ctx.write_table("activations", data_rows)
        ctx.write_json("activations-details", {"eps": str(eps), "activations": json_rows})
        rag = r">{\raggedright\arraybackslash}"
        cols = [
            L.Column("activation", rag + "p{2.2cm}"),
            L.Column(r"$\sup\varphi'$", rag + "p{3.5cm}"),
            L.Column(r"$\inf\varphi'$", rag + "p{3.5cm}"),
            L.Column("exact", "l"),
            L.Column(r"$|\varphi'| < " + sp.latex(eps) + "$", rag + "p{3.4cm}"),
            L.Column(r"$L_{10^{-3}}$", "r"),
        ]
        out.append(L.longtable(
            cols, rows_tex, name="activations", label="tab:activations",
            caption=r"Certified bounds on $\varphi'$, saturation regions, and"
            r" $L_{10^{-3}}$: the smallest depth at which the chain bound"
            r" $(\sup|\varphi'|)^{L}$ falls below $10^{-3}$ (``never'' when"
            r" $\sup|\varphi'| \ge 1$).",
            size=r"\footnotesize",
        ))
        return "\n".join(out) + "\n"


_ACT_CITES = {"selu": "klambauer2017"}
_LONG_DECIMAL = re.compile(r"\d\.\d{12,}")


def _readable(tex: str, compact: Any) -> str:
    """The object's own LaTeX when it is readable, else the compact rendering."""
    if len(tex) <= _LONG and not _LONG_DECIMAL.search(tex):
        return tex
    return str(compact())


def _num_tex(v: sp.Expr, exact: bool, err: Any = 0, digits: int = 12) -> str:
    if exact:
        return L.fmt_exact(v, digits=digits, max_len=60)
    tex = L.fmt_float(v, digits)
    if err is not None and _is_finite(err) and float(err) > 0:
        tex += r" \pm " + L.fmt_float(err, 2)
    return tex


def _where_tex(where: Any, attained: bool) -> str:
    if attained:
        if isinstance(where, sp.Set):
            return r"\text{ on } " + L.fmt_exact_set(where, max_len=30, digits=10)
        return r"\text{ at } x = " + L.fmt_exact(where, digits=10, max_len=30).replace(
            r"\approx ", "")
    return r"\text{ as } x \to " + sp.latex(where)


def _bound_latex(b: Any) -> str:
    """A compact rendering of a DerivativeBound (decimals for long exact values)."""
    return (r"\begin{gathered}\sup_x \varphi'(x)"
            + _rel(_num_tex(b.sup, b.sup_exact, b.sup_error)) + _where_tex(b.argsup, b.attained)
            + r",\\ \inf_x \varphi'(x)" + _rel(_num_tex(b.inf, b.inf_exact, b.inf_error))
            + _where_tex(b.arginf, b.inf_attained) + r"\end{gathered}")


def _region_latex(r: Any) -> str:
    return (r"\{x : |\varphi'(x)| < " + sp.latex(r.eps) + r"\} = "
            + L.fmt_exact_set(r.region, max_len=30, digits=10)
            + ("" if r.exact else r"\quad(\text{ends} \pm " + L.fmt_float(r.error, 2) + ")"))


def _chain_latex(c: Any) -> str:
    s = _num_tex(c.factor, c.factor_exact, c.factor_error)
    approx = s.startswith(r"\approx ")
    value = s[len(r"\approx "):] if approx else s
    out = (r"\prod_{i=1}^{L} |\varphi'(x_i)| \le \Big(\sup_x |\varphi'(x)|\Big)^{L}"
           + (r" \approx " if approx else " = ") + r"\left(" + value + r"\right)^{L}")
    if c.eps is not None:
        if c.min_depth is not None:
            out += (r",\quad \min\{L : s^L < " + sp.latex(c.eps) + r"\} = "
                    + str(c.min_depth))
        else:
            out += r",\quad \text{the bound never vanishes}"
    return out


_num = L.finite_float  # a finite float or None


def _is_finite(v: Any) -> bool:
    return _num(v) is not None


def _where_short(where: Any, attained: bool) -> str:
    if attained:
        if isinstance(where, sp.Set):
            return "on " + _m(L.fmt_exact_set(where))
        return "at " + _m("x=" + L.fmt_exact(where, max_len=24).replace(r"\approx ", ""))
    return "as " + _m(r"x\to " + sp.latex(where))


def _set_short(s: sp.Set) -> str:
    return L.fmt_exact_set(s)


# --------------------------------------------------------------------------- initialisations

_INIT_CITES = {
    "xavier": ("glorot2010",),
    "he": ("he2015",),
    "lecun": ("lecun1998",),
    "orthogonal": ("saxe2014", "pennington2017"),
    "custom": ("poole2016",),
}
_MODE_TEXT = {
    "fan_in": r"$n_\mathrm{in}$",
    "fan_out": r"$n_\mathrm{out}$",
    "fan_avg": r"$(n_\mathrm{in}+n_\mathrm{out})/2$",
    "fan_max": r"$\max(n_\mathrm{in}, n_\mathrm{out})$",
}


def _exact_chi(pred: Any, layer: int) -> sp.Expr | None:
    ex = pred.exact
    if ex is None or ex.chi is None:
        return None
    v = ex.chi[layer]
    return None if v is sp.nan else v


@register
class InitialisationsSection(Section):
    key = "initialisations"
    name = "initialisation rules"
    title = r"Initialisation rules and the gradient factor \texorpdfstring{$\chi$}{chi}"
    requires = (("network.init", "Init"),)

    def build(self, ctx: ReportContext) -> str:
        o = ctx.options
        n = o.width
        out = [
            r"An initialisation rule sets the variance $v_l = \operatorname{Var}(W^l_{ij})$ of"
            r" the weights of layer $l$ from its fan-in $n_{l-1}$ and fan-out $n_l$; the"
            r" mean-field weight scale is $\sigma_w^2 = n_{l-1} v_l$. Table~\ref{tab:inits}"
            r" lists the rules of this report and their $\sigma_w^2$ at width $n = " + str(n)
            + r"$ (square layers).",
            "",
        ]
        rows, data = [], []
        for lab, init in o.inits:
            cites = _INIT_CITES.get(init.name, ())
            sw2 = sp.nsimplify(init.sigma_w2(n, n))
            rows.append([
                _t(lab) + (ctx.cite(*cites) if cites else ""),
                _m(init.latex()),
                _MODE_TEXT.get(init.mode, _t(init.mode)),
                _t(init.distribution.replace("_", " ")),
                _m(L.fmt_exact(sw2, max_len=30)),
            ])
            data.append({
                "init": lab, "name": init.name, "variance": str(init.variance()),
                "scale": str(init.scale), "mode": init.mode,
                "distribution": init.distribution, "width": n,
                "sigma_w2": _num(sw2), "sigma_w2_exact": str(sw2),
            })
        ctx.write_table("initialisations", data)
        out.append(L.longtable(
            [L.Column("rule", "l"), L.Column(r"variance of a weight", "l"),
             L.Column("fan", "l"), L.Column("distribution", "l"),
             L.Column(r"$\sigma_w^2$ at $n=" + str(n) + "$", "l")],
            rows, name="initialisations", label="tab:inits",
            caption=r"Initialisation rules: $\operatorname{Var}(W_{ij}) ="
            r" \text{scale}/\text{fan}$.",
        ))
        if not ctx.has("theory.predict", "predict"):
            from .core import note

            note("table of chi left out of the initialisation section: "
                 "its engine vgmath.theory.predict is not available")
            return "\n".join(out) + "\n"
        out.append(
            r"The gradient second moment is multiplied, layer by layer, by the gradient factor"
            r" of mean-field theory" + ctx.cite("poole2016", "schoenholz2017") + ":"
        )
        out.append(L.fit_display(
            r"\E\big[(g^{l-1}_i)^2\big] = \chi^l\,\E\big[(g^{l}_i)^2\big],\qquad"
            r" \chi^l = v_l\, n_l\, \E\big[\varphi'(\sqrt{q^l}\,z)^2\big],\qquad"
            r" q^l = \sigma_w^2\,\E\big[\varphi(\sqrt{q^{l-1}}\,z)^2\big] + \sigma_b^2,"
        ))
        out.append(
            r"with $z\sim\mathcal N(0,1)$ and $q^l$ the second moment of the pre-activations."
            r" $\chi < 1$ at every layer means vanishing gradients, $\chi > 1$ exploding ones."
            r" Table~\ref{tab:chi} gives $\chi^1$ (first layer, $q^1 = \sigma_w^2 q^0 +"
            r" \sigma_b^2$ with $q^0 = 1$) and $\chi^L$ (last layer, where $q$ is close to its"
            r" fixed point); an exact value is printed as a fraction or closed form."
        )
        header = [L.Column("activation", r">{\raggedright\arraybackslash}p{2.6cm}")]
        for lab, _ in o.inits:
            header.append(L.Column(_t(lab) + r" $\chi^1$", "l"))
            header.append(L.Column(_t(lab) + r" $\chi^L$", "l"))
        rows, data = [], []
        for a, (alab, _) in enumerate(o.activations):
            row = [_t(alab)]
            drow: dict[str, Any] = {"activation": alab}
            for i, (ilab, _) in enumerate(o.inits):
                pred = prediction(ctx, a, i)
                for layer, name in ((1, "chi_1"), (o.depth, "chi_L")):
                    ex = _exact_chi(pred, layer)
                    v = float(pred.chi[layer])
                    row.append(_m(L.fmt_exact(ex, max_len=16) if ex is not None
                                  else L.fmt_float(v, 4)))
                    drow[f"{ilab}:{name}"] = v
                    drow[f"{ilab}:{name}_exact"] = "" if ex is None else str(ex)
            rows.append(row)
            data.append(drow)
        ctx.write_table("chi", data)
        out.append(L.longtable(
            header, rows, name="chi", label="tab:chi",
            caption=r"Mean-field gradient factor $\chi$ at the first and the last layer"
            r" (depth $L=" + str(o.depth) + r"$, width $n=" + str(o.width) + r"$).",
            size=r"\footnotesize",
        ))
        return "\n".join(out) + "\n"


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
    simulate = ctx.engine("montecarlo.simulate", "simulate")
    with ctx.timed("monte_carlo"):
        sim = simulate(chain, trials=o.trials, seed=seed)
    mean = np.asarray(sim.grad_second_moment, dtype=float)
    ver = None
    if ctx.has("verification.verify", "verify"):
        verify = ctx.engine("verification.verify", "verify")
        with ctx.timed("verification"):
            ver = verify(chain, simulation=sim, alpha=o.alpha)
        lo = np.full_like(mean, np.nan)
        hi = np.full_like(mean, np.nan)
        idx = np.asarray(ver.layers, dtype=int)
        lo[idx] = np.exp(np.asarray(ver.log_ci_low, dtype=float))
        hi[idx] = np.exp(np.asarray(ver.log_ci_high, dtype=float))
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
    return (r"\textit{inconclusive}" + tested + "; " + str(len(ver.untestable_layers))
            + " untestable)")


@register
class DepthSection(Section):
    def __init__(self) -> None:
        self._highlights: list[str] = []

    def highlights(self, ctx: ReportContext) -> list[str]:
        return list(self._highlights)

    key = "depth"
    name = "gradients through depth"
    title = "Gradients through depth: theory against simulation"
    requires = (("theory.predict", "predict"),)
    PANELS = 9  # activations per figure (3 x 3 small multiples)

    def build(self, ctx: ReportContext) -> str:
        from ..symbolic.symbols import layer_symbol
        from .core import note

        o = ctx.options
        mc = o.simulate and ctx.has("montecarlo.simulate", "simulate")
        if o.simulate and not mc:
            note("Monte Carlo left out of the depth section: "
                 "its engine vgmath.montecarlo.simulate is not available")
        ver_on = mc and ctx.has("verification.verify", "verify")
        if mc and not ver_on:
            note("verification verdicts left out of the depth section: "
                 "its engine vgmath.verification.verify is not available")
        n_act, n_init = len(o.activations), len(o.inits)
        if mc:
            from ..core.progress import progress

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
            + (r" Each profile is then \emph{verified}: a test per layer of the hypothesis"
               r" that the simulated mean equals the prediction (on the log scale, with"
               r" Hall's skewness-corrected studentised mean), allowing for the estimated"
               r" $O(1/n)$ finite-width bias" + ctx.cite("hanin2018") + r", with Holm's"
               r" correction across layers at family-wise level $\alpha = "
               + L.fmt_float(o.alpha, 3) + r"$. A profile is rejected (FAIL) when any layer"
               r" is; it passes (PASS) only when every layer was tested, and is"
               r" \emph{inconclusive} when some layer could not be tested (finite-width bias"
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
                    _m(L.fmt_float(theory[0], 4)) + (r"$^{*}$" if exact0 is not None else ""),
                ]
                drow: dict[str, Any] = {
                    "activation": alab, "init": ilab,
                    "closed_form": "" if formula0 is None else str(formula0),
                    "predicted": float(theory[0]),
                    "predicted_exact": "" if exact0 is None else str(exact0),
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
                out.append(ctx.figure(
                    fig, f"depth-{k:02d}",
                    caption=r"Gradient second moment $\E[(g^l_i)^2]/\E[(g^L_i)^2]$ against the"
                    r" layer $l$ (depth $L = " + str(o.depth) + r"$, width $n = " + str(o.width)
                    + r"$), one panel per activation (" + names + r"), one colour per"
                    r" initialisation: mean-field theory (lines)"
                    + ((r" and Monte Carlo means with " + level + r" confidence intervals"
                        r" (points)") if mc else "") + ".",
                    label=f"fig:depth-{k}",
                    data={"layers": layers, "panels": [
                        {"activation": lab, "series": [
                            {"init": s.label, "theory": s.theory, "simulated": s.simulated,
                             "ci_low": s.lo, "ci_high": s.hi} for s in ser]}
                        for lab, ser in chunk]},
                ))
        cols = [L.Column("activation", r">{\raggedright\arraybackslash}p{2.2cm}"),
                L.Column("init", "l"), L.Column("closed form", "l"),
                L.Column("predicted", "l")]
        if mc:
            cols.append(L.Column(r"Monte Carlo [" + level + r" CI]", "l"))
        if ver_on:
            cols.append(L.Column("verdict", r">{\raggedright\arraybackslash}p{2.9cm}"))
        worst = min(rows_data, key=lambda r: r["predicted"])
        self._highlights.append(
            r"Strongest vanishing: " + _t(worst["activation"]) + " with " + _t(worst["init"])
            + r", predicted $\E[(g^0_i)^2]/\E[(g^L_i)^2] = " + L.fmt_float(worst["predicted"], 3)
            + r"$ at depth " + str(o.depth) + r" (Table~\ref{tab:depth})."
        )
        if ver_on:
            passed = [r for r in rows_data if r.get("verdict") == "PASS"]
            failed = [r for r in rows_data if r.get("verdict") == "FAIL"]
            unsure = [r for r in rows_data if r.get("verdict") == "INCONCLUSIVE"]
            text = (f"Verification: {len(passed)} of {len(rows_data)} predicted profiles pass"
                    r" (every layer tested) at family-wise level $\alpha = "
                    + L.fmt_float(o.alpha, 3) + "$")
            if unsure:
                text += ("; inconclusive (some layers untestable at width $n = " + str(o.width)
                         + "$, nothing rejected): " + ", ".join(
                             _t(r["activation"]) + " with " + _t(r["init"]) for r in unsure))
            if failed:
                text += ("; rejected: " + ", ".join(
                    _t(r["activation"]) + " with " + _t(r["init"]) for r in failed)
                    + r" (Section~\ref{sec:depth-rejected})")
            self._highlights.append(text + ".")
        ctx.write_table("depth", rows_data, meta={
            "depth": o.depth, "width": o.width, "trials": o.trials if mc else 0,
            "alpha": o.alpha})
        out.append(L.longtable(
            cols, rows_tex, name="depth", label="tab:depth",
            caption=r"Gradient second moment at the input, $\E[(g^0_i)^2]/\E[(g^L_i)^2]$"
            r" ($L = " + str(o.depth) + r"$): the closed form in $L$ where one exists, the"
            r" mean-field prediction" + (r", the Monte Carlo mean" if mc else "")
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
        if appendix:
            out.append(r"\subsection{Rejected profiles}\label{sec:depth-rejected}")
            out.append(r"The per-layer verdict tables of the profiles that the test rejects"
                       r" (claim: the mean-field prediction; $B_l$: the estimated finite-width"
                       r" bias and tol.: its allowance, in natural-log units; CI at level"
                       r" $1-\alpha$, unadjusted; $p_\mathrm{Holm}$: adjusted across layers).")
            out.extend(appendix)
        return "\n".join(out) + "\n"

    @staticmethod
    def _verification_table(ctx: ReportContext, alab: str, ilab: str, ver: Any) -> str:
        body = "\n".join(line for line in ver.latex().splitlines()
                         if not line.lstrip().startswith("%"))
        return "\n".join([
            r"\begin{table}[H]",
            r"\centering\scriptsize",
            r"\caption{Verification of " + _t(alab) + " with " + _t(ilab) + r": rejected at"
            r" layers $" + ", ".join(str(v) for v in ver.rejected_layers) + r"$.}",
            r"\vgfittext{" + body + "}",
            r"\end{table}",
            "",
        ])


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
    name = "gradients through time"
    title = "Gradients through time: recurrent networks"
    requires = (("network.description", "Recurrent"), ("montecarlo.recurrent", "RecurrentKernel"),
                ("montecarlo.simulate", "simulate"))

    def available(self, ctx: ReportContext) -> str | None:
        if not ctx.options.simulate:
            return "recurrent networks are only simulated, and this is a theory-only report"
        return super().available(ctx)

    def build(self, ctx: ReportContext) -> str:
        o = ctx.options
        Recurrent = ctx.engine("network.description", "Recurrent")
        simulate = ctx.engine("montecarlo.simulate", "simulate")
        n = min(o.width, RECURRENT_MAX_HIDDEN)
        trials = min(o.trials, RECURRENT_MAX_TRIALS)
        T = o.depth
        steps = np.arange(T + 1)
        from scipy.stats import norm

        from ..core.progress import progress

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
                log_norm = np.asarray(sim.log_jacobian_norm, dtype=float)
                log_norm_se = np.asarray(sim.log_jacobian_norm_se, dtype=float)
                per: dict[str, Any] = {
                    "step": steps, "grad_second_moment": mean, "grad_second_moment_se": se,
                    "ci_low": lo, "ci_high": hi, "mean_log_jacobian_norm": log_norm,
                    "mean_log_jacobian_norm_se": log_norm_se,
                }
                bound = holds = predicted = None
                if vanilla:
                    bound = np.asarray(sim.log_pascanu_bound, dtype=float)
                    per["mean_log_pascanu_bound"] = bound
                    jn = np.asarray(sim.samples["log_jacobian_norm"], dtype=float)
                    pb = np.asarray(sim.samples["log_pascanu_bound"], dtype=float)
                    # the bound must hold on every network and step (float rounding slack)
                    ok = jn <= pb + 1e-9 * np.maximum(1.0, np.abs(pb))
                    holds = int(np.all(ok, axis=1).sum())
                    predict = ctx.engine("theory.predict", "predict") if ctx.has("theory.predict",
                                                                          "predict") else None
                    if predict is not None:
                        with ctx.timed("theory"):
                            predicted = np.asarray(
                                predict(net.mean_field_chain()).grad_second_moment, dtype=float)
                        per["grad_second_moment_mean_field"] = predicted
                        theory_lines.append((label, predicted))
                norms.append(F.NormSeries(label, steps, log_norm / math.log(10),
                                          None if bound is None else bound / math.log(10)))
                ctx.write_table(f"recurrent-{slug(k, label)}", [
                    {key: v[j] for key, v in per.items()} for j in range(T + 1)
                ], meta={"network": net.to_dict(), "trials": trials, "seed": seed,
                         "jacobian": "spectral" if net.spectral else "vector",
                         "ci_level": 1 - o.alpha})
                norm_kind = "" if net.spectral else r"$^{\ddagger}$"
                rows_tex.append([
                    _t(label),
                    _m(L.fmt_float(predicted[0], 4)) if predicted is not None else "---",
                    _m(L.fmt_ci(mean[0], lo[0], hi[0])),
                    _m(_fixed(log_norm[0]) + r" \pm " + _fixed(z * log_norm_se[0]))
                    + norm_kind,
                    _m(_fixed(bound[0])) if bound is not None else "---",
                    (str(holds) + " of " + str(trials)) if holds is not None else "---",
                ])
                rows_data.append({
                    "cell": label, "hidden": n, "steps": T, "trials": trials, "seed": seed,
                    "predicted_mean_field": None if predicted is None else float(predicted[0]),
                    "simulated": float(mean[0]), "ci_low": float(lo[0]),
                    "ci_high": float(hi[0]),
                    "mean_log_jacobian_norm": float(log_norm[0]),
                    "mean_log_jacobian_norm_se": float(log_norm_se[0]),
                    "jacobian": "spectral" if net.spectral else "vector",
                    "mean_log_pascanu_bound": None if bound is None else float(bound[0]),
                    "bound_holds_networks": holds,
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
                r" RNNs (solid) and of the bound $(\gamma\lVert W\rVert_2)^{T-t}$ (dashed).",
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
        checked = [r for r in rows_data if r["bound_holds_networks"] is not None]
        held = sum(r["bound_holds_networks"] for r in checked)
        lowest = min(rows_data, key=lambda r: r["simulated"])
        highest = max(rows_data, key=lambda r: r["simulated"])
        self._highlights.append(
            r"Through time (Section~\ref{sec:recurrent}): over $T = " + str(T) + r"$ steps"
            r" the gradient second moment falls to $" + L.fmt_float(lowest["simulated"], 3)
            + r"$ of its value at the last step with the " + _t(lowest["cell"]) + r" cell and to $"
            + L.fmt_float(highest["simulated"], 3) + r"$ with the " + _t(highest["cell"])
            + r" cell; Pascanu et al.'s bound held on " + str(held) + " of "
            + str(len(checked) * trials) + r" simulated vanilla RNNs."
        )
        out = [
            r"A recurrent network applies the same weights at every step, $h_t ="
            r" \varphi(W h_{t-1} + b)$ for the vanilla cell, and backpropagation through time"
            r" multiplies the gradient by $\partial h_t/\partial h_{t-1} ="
            r" \operatorname{diag}\varphi'(a_t)\,W$ at every step. Pascanu et al."
            + ctx.cite("pascanu2013") + r" bound the product,"
            r" \[\Big\lVert\frac{\partial h_T}{\partial h_t}\Big\rVert_2 \le"
            r" \big(\gamma\,\lVert W\rVert_2\big)^{T-t},\qquad \gamma = \sup_x|\varphi'(x)|,\]"
            r" so gradients vanish geometrically when $\lVert W\rVert_2 < 1/\gamma$; here"
            r" $\gamma$ is the certified supremum of Section~\ref{sec:activations}"
            r" ($\gamma = 1/4$ for the sigmoid). With tied weights the mean-field recursions"
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
                 L.Column(r"mean $\ln\lVert\partial h_T/\partial h_0\rVert_2$", "l"),
                 L.Column(r"mean $\ln$ bound", "l"), L.Column("bound holds", "l")],
                rows_tex, name="recurrent", label="tab:recurrent",
                caption=r"Gradient second moment at the first step,"
                r" $\E[(\partial E/\partial h_0)_i^2]/\E[(g_T)_i^2]$ ($T = " + str(T)
                + r"$), the Jacobian norm over all $T$ steps with its Pascanu bound, and the"
                r" number of simulated networks on which the bound holds at every step.",
                size=r"\footnotesize",
                notes=r"$\pm$: " + level + r" interval of the mean over networks."
                r" $^{\ddagger}$Gated cells: $\lVert J^{\mathsf T}u\rVert$ for one random"
                r" unit vector $u$, a lower bound on the spectral norm (the LSTM's at a fixed"
                r" cell state).",
            ),
        ]
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- edge of chaos


def _phase_cell(chi: Any, phase: str) -> str:
    if chi is None or not _is_finite(chi):
        return _t(phase)
    return _m(L.fmt_float(chi, 4)) + " (" + _t(phase) + ")"


@register
class EdgeOfChaosSection(Section):
    key = "edge_of_chaos"
    name = "edge of chaos"
    title = "The edge of chaos and initialisation gains"
    requires = (("theory.criticality", "gain_table"), ("theory.criticality", "critical_point"))

    def build(self, ctx: ReportContext) -> str:
        from ..core.errors import NoFixedPointError

        o = ctx.options
        gain_table = ctx.engine("theory.criticality", "gain_table")
        critical_point = ctx.engine("theory.criticality", "critical_point")
        acts = [act for _, act in o.activations]
        with ctx.timed("theory"):
            rows = gain_table(acts)
        out = [
            r"At the fixed point $q^*$ of the forward map the gradient factor is"
            r" $\chi_1 = \sigma_w^2\,\E[\varphi'(\sqrt{q^*}z)^2]$: for $\chi_1 < 1$ (ordered"
            r" phase) gradients vanish exponentially with depth, for $\chi_1 > 1$ (chaotic"
            r" phase) they explode; $\chi_1 = 1$ is the edge of chaos"
            + ctx.cite("poole2016", "schoenholz2017") + r". Table~\ref{tab:gains} sets the"
            r" gain $g$ of $\operatorname{Var}(W_{ij}) = g^2/n_\mathrm{in}$ (with"
            r" $\sigma_b^2 = 0$) by a derived rule, $g^2\,\E[\varphi(z)^2] = 1$ (so that"
            r" $q = 1$ is a fixed point of the forward map), beside PyTorch's"
            r" \texttt{calculate\_gain} table, and gives the $\chi_1$ and phase each implies"
            r" at the fixed point reached from $q^0 = 1$. The last column is the weight"
            r" scale $\sigma_w^2$ on the edge of chaos at $\sigma_b^2 = "
            + sp.latex(o.sigma_b2) + r"$.",
            "",
        ]
        rows_tex, data = [], []
        daggers = False
        for (label, act), row in zip(o.activations, rows, strict=True):
            with ctx.timed("theory"):
                try:
                    cp = critical_point(act, sigma_b2=o.sigma_b2)
                except NoFixedPointError as err:
                    cp, cp_note = None, str(err)
                else:
                    cp_note = cp.note
            m2 = row.second_moment
            d, pt = row.derived, row.pytorch
            if cp is None:
                crit = r"none$^{\dagger}$"
                daggers = True
            elif cp.exact:
                crit = _m(L.fmt_exact(cp.sigma_w2, max_len=24))
            else:
                crit = _m(L.fmt_float(cp.sigma_w2, 6))
            rows_tex.append([
                _t(label),
                _m(L.fmt_exact(m2, max_len=22) if row.derived_exact
                   else L.fmt_float(m2, 6)),
                _m(L.fmt_exact(d.gain, max_len=22) if row.derived_exact
                   else L.fmt_float(d.gain, 6)),
                _phase_cell(d.chi_1, d.phase),
                _m(L.fmt_exact(pt.gain, max_len=22)) if pt is not None else "---",
                _phase_cell(pt.chi_1, pt.phase) if pt is not None else "---",
                crit,
            ])
            data.append({
                "activation": label,
                "second_moment": _num(m2),
                "second_moment_exact": str(m2) if row.derived_exact else "",
                "derived_gain": _num(d.gain),
                "derived_gain_exact": str(d.gain) if row.derived_exact else "",
                "derived_chi_1": _num(d.chi_1), "derived_q_star": _num(d.q_star),
                "derived_phase": d.phase,
                "pytorch_gain": None if pt is None else _num(pt.gain),
                "pytorch_gain_exact": "" if pt is None else str(pt.gain),
                "pytorch_chi_1": None if pt is None else _num(pt.chi_1),
                "pytorch_q_star": None if pt is None else _num(pt.q_star),
                "pytorch_phase": "" if pt is None else pt.phase,
                "critical_sigma_w2": None if cp is None else _num(cp.sigma_w2),
                "critical_sigma_w2_exact": "" if cp is None or not cp.exact
                else str(cp.sigma_w2),
                "critical_error_bound": None if cp is None else cp.error_bound,
                "critical_note": cp_note,
            })
        ctx.write_table("gains", data, meta={"sigma_b2": str(o.sigma_b2)})
        notes = (r"Exact values are printed as closed forms or fractions, the others to the"
                 r" digits shown (Gaussian moments accurate to about $10^{-12}$). ``exploding'':"
                 r" from $q^0 = 1$ the forward second moment grows without bound, so there is no"
                 r" finite fixed point.")
        if daggers:
            notes += (r" $^{\dagger}$No $\sigma_w^2$ has $\chi_1 = 1$ at a finite fixed point"
                      r" (the reason is recorded in \nolinkurl{data/gains.json}).")
        out.append(L.longtable(
            [L.Column("activation", r">{\raggedright\arraybackslash}p{2.2cm}"),
             L.Column(r"$\E[\varphi(z)^2]$", "l"), L.Column(r"derived $g$", "l"),
             L.Column(r"$\chi_1$ at derived $g$", "l"), L.Column(r"PyTorch $g$", "l"),
             L.Column(r"$\chi_1$ at PyTorch $g$", "l"),
             L.Column(r"critical $\sigma_w^2$", "l")],
            rows_tex, name="gains", label="tab:gains",
            caption=r"Initialisation gains: derived ($g = 1/\sqrt{\E[\varphi(z)^2]}$) and"
            r" PyTorch's, with the gradient factor $\chi_1$ and phase each leads to.",
            size=r"\footnotesize", notes=notes,
        ))
        return "\n".join(out) + "\n"


@register
class PhaseDiagramSection(Section):
    key = "phase_diagram"
    name = "phase diagram"
    title = r"Phase diagram of \texorpdfstring{$\tanh$}{tanh}"
    requires = (("theory.criticality", "critical_line"), ("theory.criticality", "fixed_point"))

    #: σ_b² range of the diagram (Schoenholz et al. 2017, Fig. 1 spans a similar range)
    SIGMA_B2_MAX = 0.5
    POINTS = 51

    def build(self, ctx: ReportContext) -> str:
        o = ctx.options
        critical_line = ctx.engine("theory.criticality", "critical_line")
        fixed_point = ctx.engine("theory.criticality", "fixed_point")
        # quadratic spacing: the line rises steeply from (1, 0), so sample densely near 0
        sb = self.SIGMA_B2_MAX * np.linspace(0.0, 1.0, self.POINTS) ** 2
        with ctx.timed("theory"):
            sw = np.asarray(critical_line("tanh", sb), dtype=float)
        n = o.width
        sb_mark = float(o.sigma_b2)
        markers_in: list[tuple[str, sp.Expr]] = []
        for lab, init in o.inits:
            markers_in.append((lab, sp.nsimplify(init.sigma_w2(n, n))))
        markers_in.append(("PyTorch tanh gain 5/3", sp.Rational(25, 9)))
        rows, mdata = [], []
        groups: dict[str, list[str]] = {}
        phases: dict[str, str] = {}
        for lab, s in markers_in:
            with ctx.timed("theory"):
                fp = fixed_point("tanh", s, o.sigma_b2)
            groups.setdefault(str(s), []).append(lab)
            phases[str(s)] = fp.phase
            rows.append([_t(lab), _m(L.fmt_exact(s, max_len=20)), _m(L.fmt_float(fp.q_star, 4)),
                         _m(L.fmt_float(fp.chi_1, 4)), _t(fp.phase)])
            mdata.append({"point": lab, "sigma_w2": float(s), "sigma_w2_exact": str(s),
                          "sigma_b2": sb_mark, "q_star": _num(fp.q_star),
                          "chi_1": _num(fp.chi_1), "phase": fp.phase})
        markers = [
            (", ".join(labs) + f": σ_w² = {float(sp.sympify(key)):.4g}, {phases[key]}",
             float(sp.sympify(key)), sb_mark)
            for key, labs in groups.items()
        ]
        xmax = max(4.0, 1.15 * max(m[1] for m in markers))
        with ctx.timed("figures"):
            fig = F.phase_diagram(
                sigma_b2=sb, sigma_w2_critical=sw, activation_label="tanh",
                xlim=(0.5, xmax), markers=markers,
            )
            figure = ctx.figure(
                fig, "phase-diagram-tanh",
                caption=r"Phase diagram of $\tanh$ networks in the $(\sigma_w^2, \sigma_b^2)$"
                r" plane: the critical line $\chi_1 = 1$ separates the ordered phase"
                r" (vanishing gradients) from the chaotic phase (exploding gradients);"
                r" points: the weight scales of this report's initialisations (at width $n = "
                + str(n) + r"$) and of PyTorch's gain for $\tanh$, at $\sigma_b^2 = "
                + sp.latex(o.sigma_b2) + "$.",
                label="fig:phase", width=r"0.72\textwidth",
                data={"sigma_b2": sb, "sigma_w2_critical": sw, "markers": mdata},
            )
        ctx.write_table("critical-line-tanh", [
            {"sigma_b2": float(b), "sigma_w2_critical": float(w)} for b, w in zip(sb, sw,
                                                                                 strict=True)
        ])
        ctx.write_table("phase-points-tanh", mdata)
        out = [
            r"For $\tanh$ the edge of chaos is a line in the plane of the weight and bias"
            r" variances, starting at $(\sigma_w^2, \sigma_b^2) = (1, 0)$ (there $q^* = 0$ and"
            r" $\chi_1 = \sigma_w^2\tanh'(0)^2$) and bending to larger $\sigma_w^2$ as the"
            r" bias variance grows" + ctx.cite("poole2016", "schoenholz2017")
            + r". Figure~\ref{fig:phase} draws it from $" + str(self.POINTS) + r"$ values of"
            r" $\sigma_b^2 \in [0, " + L.fmt_float(self.SIGMA_B2_MAX, 2) + r"]$, each"
            r" computed by root finding on $\chi_1(\sigma_w^2) = 1$ at the fixed point (data:"
            r" \nolinkurl{data/critical-line-tanh.csv}); Table~\ref{tab:phase-points} gives the"
            r" fixed point and $\chi_1$ of the marked points.",
            "",
            figure,
            L.longtable(
                [L.Column("point", "l"), L.Column(r"$\sigma_w^2$", "l"),
                 L.Column(r"$q^*$", "l"), L.Column(r"$\chi_1$", "l"), L.Column("phase", "l")],
                rows, name="phase-points-tanh", label="tab:phase-points",
                caption=r"Fixed point $q^*$ of the forward map and $\chi_1$ for $\tanh$ at the"
                r" marked points ($\sigma_b^2 = " + sp.latex(o.sigma_b2) + "$).",
            ),
        ]
        return "\n".join(out) + "\n"
