"""Initialisation rules: variances, gains and the per-layer factor χ they imply."""

from __future__ import annotations

from typing import Any

import sympy as sp

from .. import latex as L
from ..core import ReportContext, Section, register
from .activations import _num
from .common import _m, _t, prediction

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
    per_depth = True
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
        if not ctx.has("theory.prediction", "predict"):
            from ..core import note

            note("table of chi left out of the initialisation section: "
                 "its engine vgmath.theory.prediction is not available")
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
            r" \sigma_b^2$ with $q^0 = 1$) and $\chi^L$ (last layer, at $q^L$); an exact value"
            r" is printed as a fraction or closed form."
        )
        header = [L.Column("activation", r">{\raggedright\arraybackslash}p{2.6cm}")]
        for lab, _ in o.inits:
            header.append(L.Column(_t(lab) + r" $\chi^1$", "l"))
            header.append(L.Column(_t(lab) + r" $\chi^L$", "l"))
        rows, data = [], []
        unsettled = False
        for a, (alab, _) in enumerate(o.activations):
            row = [_t(alab)]
            drow: dict[str, Any] = {"activation": alab}
            for i, (ilab, _) in enumerate(o.inits):
                pred = prediction(ctx, a, i)
                for layer, name in ((1, "chi_1"), (o.depth, "chi_L")):
                    ex = _exact_chi(pred, layer)
                    v = float(pred.chi[layer])
                    cell = _m(L.fmt_exact(ex, max_len=CHI_EXACT_LEN) if ex is not None
                              else L.fmt_float(v, 4))
                    drow[f"{ilab}:{name}"] = v
                    drow[f"{ilab}:{name}_exact"] = "" if ex is None else str(ex)
                    if layer == o.depth:
                        moving = still_moving(pred.chi)
                        drow[f"{ilab}:chi_L_settled"] = not moving
                        if moving:
                            cell += r"$^{\dagger}$"
                            unsettled = True
                    row.append(cell)
            rows.append(row)
            data.append(drow)
        ctx.write_table("chi", data)
        out.append(L.longtable(
            header, rows, name="chi", label="tab:chi",
            caption=r"Mean-field gradient factor $\chi$ at the first and the last layer"
            r" (depth $L=" + str(o.depth) + r"$, width $n=" + str(o.width) + r"$).",
            size=r"\footnotesize",
            notes=(r"$^{\dagger}$$\chi$ is still changing at layer $L$ (by more than"
                   r" $10^{-3}$ relative over the last layer): $q^L$ has not reached a fixed"
                   r" point and $\chi^L$ is not the fixed-point value." if unsettled else ""),
        ))
        out.extend(_he_leaky_note(ctx))
        return "\n".join(out) + "\n"


#: LaTeX characters up to which an exact χ is printed as such (``\frac{10001}{20000}``)
CHI_EXACT_LEN = 24
#: relative change of χ over the last layer above which χ^L has not settled
SETTLED = 1e-3


def still_moving(chi: Any) -> bool:
    """Whether the per-layer factor χ still changes over the last layer (q^L is not at a
    fixed point; a χ independent of q, as for ReLU, never moves)."""
    a, b = float(chi[-2]), float(chi[-1])
    scale = max(abs(a), abs(b))
    return scale > 0 and abs(b - a) > SETTLED * scale


def _he_leaky_note(ctx: ReportContext) -> list[str]:
    """He et al.'s rule for a leaky ReLU of slope a is 2/((1 + a²) n_in); the ``he`` rule is
    the ReLU case a = 0. Said when both appear, with the χ it gives here."""
    o = ctx.options
    he = [lab for lab, init in o.inits if init.name == "he"]
    leaky = [(lab, act) for lab, act in o.activations if act.name == "leaky_relu"
             and not act.source and "slope" in act.params]
    if not he or not leaky:
        return []
    parts = []
    for lab, act in leaky:
        a = sp.nsimplify(act.params["slope"])
        parts.append(_t(lab) + r" (slope $a = " + sp.latex(a) + r"$: $\chi = 1 + a^2 = "
                     + sp.latex(1 + a**2) + r"$ under " + _t(he[0]) + ")")
    return [
        r"\paragraph{He's rule and the leaky ReLU.} He et al." + ctx.cite("he2015")
        + r" derive $\operatorname{Var}(W_{ij}) = 2/\big((1 + a^2)\,n_\mathrm{in}\big)$"
        r" for a leaky ReLU of negative slope $a$, which gives $\chi = 1$ exactly; the rule"
        r" \emph{he} of this report is its ReLU case $a = 0$, $2/n_\mathrm{in}$, which ignores"
        r" the slope: " + "; ".join(parts) + ".",
        "",
    ]


