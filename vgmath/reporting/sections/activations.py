"""Activation functions and their certified derivative bounds, saturation regions and chain
bounds."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import sympy as sp

from ...core.errors import VgmathError
from ...symbolic.catalog import Activation
from ...symbolic.symbols import x
from .. import figures as F
from .. import latex as L
from ..core import ReportContext, Section, note, register
from .common import _m, _t, slug

# --------------------------------------------------------------------------- activations

_PARAM_SYMBOLS = {"scale": "lambda", "alpha": "alpha", "beta": "beta", "slope": "a"}


def _symbolic_form(act: Activation) -> tuple[sp.Expr, dict[sp.Symbol, sp.Expr]] | None:
    """The catalog expression with its parameters as symbols (λ, α, β, a) and their values,
    for activations whose exact constants are too long to print inline (SELU)."""
    if act.source or not act.params:
        return None
    from ...symbolic.specs import _CATALOG

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
            try:
                with ctx.timed("bounds"):
                    bound = act.derivative_bound()
                    region = act.saturation_region(eps)
                    chain = act.chain_bound(eps=sp.Rational(1, 1000))
            except VgmathError as err:
                # one activation that cannot be certified (x + sin(x), an effort limit) is
                # recorded as such; the rest of the report goes on
                note(f"{label}: the bounds could not be certified ({err})")
                out.extend(_uncertified_subsection(ctx, idx, label, act, err))
                rows_tex.append([_t(label), "not certified", "not certified", "no", "--", "--"])
                data_rows.append({"activation": label, "exact": False,
                                  "error": str(err)})
                json_rows.append({"label": label, "expression": str(act.expr),
                                  "latex": act.latex(), "derivative": str(act.derivative),
                                  "error": str(err)})
                continue
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
                  if d.get("chain_depth_1e-3") is not None]
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


def _uncertified_subsection(ctx: ReportContext, idx: int, label: str, act: Any,
                            err: Exception) -> list[str]:
    """The subsection of an activation whose bounds could not be certified."""
    phi_tex, dphi_tex, _ = _definition_latex(act)
    reason = str(err)
    if len(reason) > 400:
        reason = reason[:397] + "..."
    return [
        r"\subsection{\texorpdfstring{" + _t(label) + "}{" + L.pdf_string(label) + "}}",
        r"\label{sec:act-" + str(idx) + "}",
        r"\emph{Definition:}",
        L.fit_display(phi_tex),
        r"\emph{Derivative} (SymPy):",
        L.fit_display(dphi_tex),
        r"\emph{Certified bound:} could not be certified. " + _t(reason),
        "",
    ]


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


