"""Does it train? Training studies beside the theory (included when study files are given)."""

from __future__ import annotations

import math
from pathlib import Path

from .. import latex as L
from ..core import ReportContext, Section, register
from .common import _m, _t


@register
class TrainingSection(Section):
    key = "training"
    name = "training studies"
    title = "Does it train? Trainability and what each layer learns"
    requires = (("training.study", "TrainingStudy"), ("training.analysis", "Trainability"))

    def build(self, ctx: ReportContext) -> str:
        """Empty (so the section is left out silently) unless study files were given."""
        if not getattr(ctx.options, "training", ()):
            return ""
        from ..training_figures import draw_mitigations, draw_trainability

        TrainingStudy = ctx.engine("training.study", "TrainingStudy")
        Trainability = ctx.engine("training.analysis", "Trainability")
        Mitigations = ctx.engine("training.analysis", "Mitigations")
        intro = (
            r"Gradients at initialisation predict which networks can learn. The studies below"
            r" trained the networks this report describes with plain SGD (constant learning"
            r" rate, no momentum) on a real data set and recorded, per layer, the relative"
            r" weight change $\lVert W^l_t - W^l_0\rVert_F/\lVert W^l_0\rVert_F$."
        )
        out = [intro, ""]
        for k, path in enumerate(ctx.options.training):
            study = TrainingStudy.load(path)
            kind = study.meta.get("kind")
            b = study.budget
            budget = (f"{b['steps']} SGD steps of {b['batch']} examples at learning rate"
                      f" {b['lr']:g} on {b['data']}")
            if kind == "trainability":
                tr = Trainability.from_study(study)
                ctx.write_json(f"training-{k}", tr.to_dict())
                out.append(
                    r"\paragraph{Trainability against $6\xi_c$.} Schoenholz et al.\ found deep"
                    r" tanh networks trainable only where $L \lesssim 6\,\xi_c$"
                    + ctx.cite("schoenholz2017") + r". Figure~\ref{fig:trainability-"
                    + str(k) + r"} shows the final test accuracy of " + _t(tr.activation)
                    + r" networks over $(\sigma_w^2, L)$ at $\sigma_b^2 = "
                    + L.fmt_float(tr.sigma_b2, 4) + r"$ (" + _t(budget) + r"), with the"
                    r" curve $L = " + L.fmt_float(tr.factor, 3) + r"\,\xi_c(\sigma_w^2)$ from"
                    r" the mean-field correlation map. A cell counts as trainable when its test"
                    r" accuracy reaches " + L.fmt_float(tr.threshold, 3) + r"; this agrees"
                    r" with $L < " + L.fmt_float(tr.factor, 3) + r"\,\xi_c$ on "
                    + str(round(tr.agreement * tr.accuracy.size)) + " of "
                    + str(tr.accuracy.size) + r" cells."
                )
                out.append(ctx.figure(
                    draw_trainability(tr), f"trainability-{k}",
                    caption=r"Final test accuracy over $(\sigma_w^2, L)$ and the curve"
                    r" $L = " + L.fmt_float(tr.factor, 3) + r"\,\xi_c$ (data in"
                    r" \nolinkurl{data/training-" + str(k) + ".json}).",
                    label=f"fig:trainability-{k}", width=r"0.75\textwidth",
                ))
            elif kind == "mitigations":
                mt = Mitigations.from_study(study)
                ctx.write_json(f"training-{k}", mt.to_dict())
                rows = []
                for i, lab in enumerate(mt.labels):
                    for j, d in enumerate(mt.depths):
                        s = mt.steps_to_target[i, j]
                        rows.append([
                            _t(lab), _m(str(d)),
                            "never" if not math.isfinite(s) else _m(str(int(s))),
                            _m(L.fmt_float(mt.final_accuracy[i, j], 2)),
                            _m(L.fmt_float(mt.early_late_ratio[i, j], 2)),
                        ])
                out.append(
                    r"\paragraph{Mitigations.} The deep sigmoid/Xavier chain against ReLU/He,"
                    r" residual connections, batch normalisation and tanh at the edge of chaos"
                    r" (" + _t(budget) + r"). ``early/late'' is the mean relative weight change"
                    r" of the first quarter of the dense layers over that of the last quarter"
                    r" at the end: far below 1 when the early layers do not learn."
                )
                out.append(L.longtable(
                    [L.Column("network", r">{\raggedright\arraybackslash}p{4.2cm}"),
                     L.Column("$L$", "r"),
                     L.Column("steps to " + L.fmt_float(100 * mt.target, 3) + r"\%", "r"),
                     L.Column("final accuracy", "r"), L.Column("early/late", "r")],
                    rows, name=f"training-{k}", label=f"tab:training-{k}",
                    caption="Training the mitigations: steps to the target test accuracy"
                    " (median over replicas), final test accuracy and early/late learning.",
                ))
                out.append(ctx.figure(
                    draw_mitigations(mt), f"mitigations-{k}",
                    caption=r"Left: test accuracy over SGD steps at the largest depth. Right:"
                    r" relative weight change of each dense layer at the end of training.",
                    label=f"fig:mitigations-{k}",
                ))
            else:
                out.append(r"\paragraph{" + _t(Path(path).name) + r".} A training study of "
                           + str(len(study.configs)) + r" configurations (" + _t(budget)
                           + r"); final test accuracy per configuration in"
                           r" \nolinkurl{data/training-" + str(k) + ".json}.")
                ctx.write_json(f"training-{k}", {
                    "configs": [c["label"] for c in study.configs],
                    "final_test_acc": [None if not math.isfinite(v) else float(v)
                                       for v in study.final()]})
        return "\n".join(out)
