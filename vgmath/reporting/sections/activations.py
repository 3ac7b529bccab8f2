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
        has_sigmoid = any(act.name == "sigmoid" and not act.source for _, act in o.activations)
        textbook = (
            r" For the sigmoid $s = 1/4$ and the bound is below $10^{-3}$ after five units:"
            if has_sigmoid else
            r" When $s < 1$ the bound decays geometrically in $L$ (for the logistic sigmoid"
            r" $s = 1/4$):"
        )
        out = [
            r"A gradient passing backwards through a chain of $L$ units $x_i = "
            r"\varphi(x_{i-1})$ \emph{without weights} is multiplied by"
            r" $\prod_{i=1}^{L}\varphi'(x_i)$, so"
            r" \[\Big|\prod_{i=1}^{L}\varphi'(x_i)\Big| \le s^{L},\qquad"
            r" s = \sup_x|\varphi'(x)|.\]" + textbook
            + r" the textbook form of the vanishing-gradient problem"
            + ctx.cite("hochreiter1991", "bengio1994") + r". Weights change the picture: a"
            r" layer multiplies the gradient second moment by $\sigma_w^2\,\E[\varphi'^2]$,"
            r" not by $\varphi'^2$, so a large enough weight scale offsets any $s < 1$"
            + ctx.see("edge_of_chaos", " (@ gives the critical weight scales)")
            + r". Below, the supremum and infimum of $\varphi'$ are"
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
            bound_tex = _readable(bound.latex(), partial(_bound_latex, bound))
            cite = ""
            if act.name in _ACT_CITES and not act.source:
                cite = ctx.cite(_ACT_CITES[act.name])
            # the catalog's one-line description, unless it is itself a formula in plain text
            # (the typeset definition below says that better)
            plain_doc = act.doc and not act.source and not _looks_like_code(act.doc)
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
                L.fit_display(bound_tex),
                r"\emph{How it was derived:} supremum from " + method_text(bound.sup_method)
                + r"; infimum from " + method_text(bound.inf_method) + ". "
                + (_exact_sentence(bound_tex) if bound.exact else
                   "Values that are not exact are certified enclosures (the $\\pm$ term is a"
                   " rigorous bound on the error)."),
                "",
                r"\emph{Saturation region} ($|\varphi'(x)| < " + sp.latex(eps) + r"$):",
                L.fit_display(_readable(region.latex(), partial(_region_latex, region))),
                r"\emph{Chain bound} (no weights):",
                L.fit_display(_chain_latex(chain)),
            ]
            thin = thin_intervals(act, region.region)
            if thin:
                sec.append(_thin_sentence(thin, eps))
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
                    inf=_num(bound.inf), kinks=kinks, narrow=[z for _, _, z in thin],
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
            others = len(o.activations) - len(vanish)
            self._highlights.append(
                r"Certified chain bounds for units \emph{without weights}: " + "; ".join(
                    r"the product of $" + str(dep) + r"$ derivatives of " + _t(lab)
                    + r" is below $10^{-3}$" for lab, dep in vanish)
                + r" (Table~\ref{tab:activations})"
                + (r"; the others have $\sup|\varphi'| \ge 1$, so their bound does not"
                   r" vanish" if others else "")
                + r". With weights, a layer multiplies the gradient second moment by"
                r" $\sigma_w^2\,\E[\varphi'^2]$, which a large enough weight scale keeps at 1"
                + ctx.see("edge_of_chaos", " (@)") + "."
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
            r" $L_{10^{-3}}$: the smallest depth at which the chain bound without weights"
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
    """``∏|φ′(x_i)| ≤ s^L`` with ``s = sup|φ′|`` defined, ``1^L`` shown as 1, and the
    smallest depth at which the bound falls below the chain bound's threshold."""
    s = _num_tex(c.factor, c.factor_exact, c.factor_error)
    approx = s.startswith(r"\approx ")
    value = s[len(r"\approx "):] if approx else s
    out = (r"\prod_{i=1}^{L} |\varphi'(x_i)| \le s^{L},\quad s = \sup_x |\varphi'(x)|"
           + (r" \approx " if approx else " = ") + value)
    one = c.factor_exact and sp.sympify(c.factor) == 1
    if c.eps is not None:
        if c.min_depth is not None:
            out += (r",\quad \min\{L : s^L < " + sp.latex(c.eps) + r"\} = "
                    + str(c.min_depth))
        elif one:
            out += r",\quad s^{L} = 1 \text{ for every } L \text{: the bound never vanishes}"
        else:
            out += r",\quad s \ge 1 \text{: the bound never vanishes}"
    return out


_CODE = re.compile(r"\*|\w=|=\w|\b[A-Za-z_]{2,}\(|\bsqrt\b")


def _looks_like_code(text: str) -> bool:
    """A catalog description written as code (``scale * elu(x, alpha)``, ``max(0, x)``) or as a
    formula in plain text; the typeset definition says it better."""
    return bool(_CODE.search(text)) or any(c in text for c in "^{}")


_RE_EQ = re.compile(r"(?P<lhs>\bx)\s*(?P<op>=|≈)\s*(?P<rhs>[-+]?[0-9A-Za-z_.()/*+-]+)")


def method_text(text: str) -> str:
    r"""A bound's method description as prose with mathematics: ``x=sqrt(2)`` → $x = \sqrt{2}$
    (SymPy's printer on the parsed value); everything else through :func:`readable_text`."""
    from ...symbolic.parse import as_sympy

    out: list[str] = []
    pos = 0
    for m in _RE_EQ.finditer(text):
        rhs = m.group("rhs").rstrip(".,;")
        tail = m.group("rhs")[len(rhs):]
        if re.fullmatch(r"[-+]?\d+(\.\d+)?", rhs):
            # a decimal stays as written (SymPy would print its binary expansion)
            out.append(L.readable_text(text[pos:m.start()]))
            rel = "=" if m.group("op") == "=" else r"\approx"
            out.append("$x " + rel + " " + rhs + "$" + L.escape_text(tail))
            pos = m.end()
            continue
        try:
            value = as_sympy("x", rhs)
        except Exception:  # not a number: leave the text as it is
            continue
        if not value.is_number:
            continue
        out.append(L.readable_text(text[pos:m.start()]))
        rel = "=" if m.group("op") == "=" else r"\approx"
        out.append("$x " + rel + " " + sp.latex(value) + "$" + L.escape_text(tail))
        pos = m.end()
    out.append(L.readable_text(text[pos:]))
    return "".join(out)


def _exact_sentence(bound_tex: str) -> str:
    if r"\approx" in bound_tex:
        return ("Both values are exact; a long closed form is shown rounded ($\\approx$), the"
                " closed form is in \\nolinkurl{data/activations-details.json}.")
    return "Both values are exact."


#: a bounded saturated interval narrower than this (in x) is invisible when shaded
THIN = 0.2


def thin_intervals(act: Any, region: sp.Set) -> list[tuple[float, float, float]]:
    """Bounded intervals of the saturation region narrower than :data:`THIN` around a sign
    change of φ′: ``(a, b, zero)`` with the zero of φ′ found by bisection."""
    from scipy.optimize import brentq

    out = []
    for a, b in _intervals(region):
        if not (math.isfinite(a) and math.isfinite(b)) or b - a >= THIN:
            continue

        def g(t: float) -> float:
            return float(act.grad(np.array([t], dtype=float))[0])

        ga, gb = g(a), g(b)
        if ga * gb < 0:
            out.append((a, b, float(brentq(g, a, b, xtol=1e-12))))
    return out


def _thin_sentence(thin: list[tuple[float, float, float]], eps: Any) -> str:
    parts = [r"$(" + L.fmt_float(a, 4) + ", " + L.fmt_float(b, 4) + r")$ around the zero of"
             r" $\varphi'$ at $x \approx " + L.fmt_float(z, 4) + "$" for a, b, z in thin]
    return (r"The saturation region includes " + ", ".join(parts) + r": there $\varphi'$"
            r" changes sign, so $|\varphi'| < " + sp.latex(eps) + r"$ on a thin interval"
            r" although $\varphi'$ is not small on either side. It is too narrow to see"
            r" shaded and is marked by a triangle in the figure.")


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


