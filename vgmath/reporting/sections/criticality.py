"""The edge of chaos and the (σ_w², σ_b²) phase diagram."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .. import figures as F
from .. import latex as L
from ..core import ReportContext, Section, register
from .activations import _is_finite, _num
from .common import _m, _t

# --------------------------------------------------------------------------- edge of chaos


#: slope of the variance map above which a fixed point q* is reported as repelling
_REPEL = 1.0 + 1e-9


def repels(implication: Any) -> bool:
    """Whether the fixed point of a gain's implication repels (the variance map's slope at
    q* exceeds 1): q leaves it under any perturbation, so χ₁ there names no phase."""
    slope = _num(getattr(implication, "slope", None))
    return slope is not None and slope > _REPEL


def _phase_cell(chi: Any, phase: str, implication: Any = None) -> str:
    if implication is not None and repels(implication):
        value = "" if chi is None or not _is_finite(chi) else _m(L.fmt_float(chi, 4)) + " "
        return value + r"(repelling $q^*$)$^{\S}$"
    if chi is None or not _is_finite(chi):
        return _t(phase)
    return _m(L.fmt_float(chi, 4)) + " (" + _t(phase) + ")"


@register
class EdgeOfChaosSection(Section):
    key = "edge_of_chaos"
    name = "edge of chaos"
    title = "The edge of chaos and initialisation gains"
    requires = (("theory.gains", "gain_table"), ("theory.criticality", "critical_point"))

    def build(self, ctx: ReportContext) -> str:
        from ...core.errors import NoFixedPointError

        o = ctx.options
        gain_table = ctx.engine("theory.gains", "gain_table")
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
                _phase_cell(d.chi_1, d.phase, d),
                _m(L.fmt_exact(pt.gain, max_len=22)) if pt is not None else "---",
                _phase_cell(pt.chi_1, pt.phase, pt) if pt is not None else "---",
                crit,
            ])
            data.append({
                "activation": label,
                "second_moment": _num(m2),
                "second_moment_exact": str(m2) if row.derived_exact else "",
                "derived_gain": _num(d.gain),
                "derived_gain_exact": str(d.gain) if row.derived_exact else "",
                "derived_chi_1": _num(d.chi_1), "derived_q_star": _num(d.q_star),
                "derived_phase": d.phase, "derived_slope": _num(d.slope),
                "derived_repelling": repels(d),
                "pytorch_gain": None if pt is None else _num(pt.gain),
                "pytorch_gain_exact": "" if pt is None else str(pt.gain),
                "pytorch_chi_1": None if pt is None else _num(pt.chi_1),
                "pytorch_q_star": None if pt is None else _num(pt.q_star),
                "pytorch_phase": "" if pt is None else pt.phase,
                "pytorch_slope": None if pt is None else _num(pt.slope),
                "pytorch_repelling": False if pt is None else repels(pt),
                "critical_sigma_w2": None if cp is None else _num(cp.sigma_w2),
                "critical_sigma_w2_exact": "" if cp is None or not cp.exact
                else str(cp.sigma_w2),
                "critical_error_bound": None if cp is None else cp.error_bound,
                "critical_note": cp_note,
            })
        ctx.write_table("gains", data, meta={"sigma_b2": str(o.sigma_b2)})
        notes = (r"Exact values are printed as closed forms or fractions, the others to the"
                 r" digits shown (Gaussian moments accurate to about $10^{-12}$).")
        phases = {r["derived_phase"] for r in data} | {r["pytorch_phase"] for r in data}
        if "exploding" in phases:
            notes += (r" ``exploding'': from $q^0 = 1$ the forward second moment grows"
                      r" without bound, so there is no finite fixed point.")
        if any(r["derived_repelling"] or r["pytorch_repelling"] for r in data):
            notes += (r" $^{\S}$The fixed point $q^* = 1$ repels: the variance map's slope"
                      r" there exceeds 1 (slopes in \nolinkurl{data/gains.csv}), so $q$ moves"
                      r" away from it under any perturbation and $\chi_1$ at $q^*$ does not"
                      r" say whether gradients vanish or explode in a deep network.")
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
        values: dict[str, sp.Expr] = {}
        zeros = False
        for lab, s in markers_in:
            with ctx.timed("theory"):
                fp = fixed_point("tanh", s, o.sigma_b2)
            groups.setdefault(str(s), []).append(lab)
            phases[str(s)] = fp.phase
            values[str(s)] = s
            zero = fp.q_star_exact == 0
            zeros = zeros or zero
            rows.append([_t(lab), _m(L.fmt_exact(s, max_len=20)),
                         _m("0" if zero else L.fmt_float(fp.q_star, 4))
                         + (r"$^{\circ}$" if zero else ""),
                         _m(L.fmt_float(fp.chi_1, 4)), _t(fp.phase)])
            mdata.append({"point": lab, "sigma_w2": float(s), "sigma_w2_exact": str(s),
                          "sigma_b2": sb_mark, "q_star": 0.0 if zero else _num(fp.q_star),
                          "q_star_numerical": _num(fp.q_star),
                          "chi_1": _num(fp.chi_1), "phase": fp.phase})
        markers = [
            (", ".join(labs), float(values[key]), sb_mark, phases[key])
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
                notes=(r"$^{\circ}$$q^* = 0$ exactly (no bias and $\tanh(0) = 0$); $q^l$"
                       r" approaches it only algebraically, like $1/l$, at $\sigma_w^2 = 1$,"
                       r" and the root finder stops at a positive number below $10^{-12}$"
                       r" (in \nolinkurl{data/phase-points-tanh.csv} as"
                       r" \texttt{q\_star\_numerical})." if zeros else ""),
            ),
        ]
        return "\n".join(out) + "\n"
