"""Every sentence of the report that states a fact is checked against the data it summarises.

One report (five activations, three initialisations, Monte Carlo and verification, all
sections) is built once; each test reads a statement out of ``report.tex`` and recomputes it
from the data files written beside it (``data/*.csv``, ``data/*.json``) or from the engines.
A reviewer's reading found each of these statements wrong or unexplained once.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vgmath as vg
from vgmath.reporting import latex as L
from vgmath.reporting.sections.activations import thin_intervals
from vgmath.reporting.sections.initialisations import still_moving

OPTIONS: dict[str, Any] = {
    "activations": ["sigmoid", "tanh", "leaky_relu", "selu", "gelu"],
    "inits": ["xavier", "he", "lecun"],
    "depth": 10,
    "width": 32,
    "trials": 60,
    "seed": 1,
    "latex": "none",
}


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("statements") / "r"
    r = vg.report(out, **OPTIONS)
    return {"out": out, "tex": r.tex.read_text(encoding="utf-8"), "report": r}


def _csv(out: Path, name: str) -> list[dict[str, str]]:
    with (out / "data" / f"{name}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _table(tex: str, name: str) -> list[list[str]]:
    m = re.search(r"% vgmath-table: " + re.escape(name) + r"\n(.*?)% vgmath-table-end: "
                  + re.escape(name), tex, re.S)
    assert m, f"table {name} not found"
    block = m.group(1)
    if r"\endlastfoot" in block:
        body = block.split(r"\endlastfoot", 1)[1].split(r"\end{longtable}", 1)[0]
    else:
        body = block.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = []
    for line in body.strip().splitlines():
        line = line.strip()
        if line.endswith(r"\\") or r"\\[" in line:
            line = re.sub(r"\\\\(\[[^\]]*\])?$", "", line).strip()
            rows.append([c.strip() for c in re.split(r"(?<!\\)&", line)])
    return rows


def _plain(label: str) -> str:
    """A label as the report typesets it (escaped, breakable)."""
    return L.escape_text(label, breakable=True)


def _findings(tex: str) -> str:
    return tex.split(r"\paragraph{Findings.}", 1)[1].split(r"\end{itemize}", 1)[0]


# --------------------------------------------------------------------------- page 1


def test_chain_bound_finding_is_about_units_without_weights(rep: dict[str, Any]) -> None:
    findings = _findings(rep["tex"])
    assert "shrink any gradient" not in findings
    rows = {r["activation"]: r for r in _csv(rep["out"], "activations")}
    depth = int(rows["sigmoid"]["chain_depth_1e-3"])
    assert r"\emph{without weights}" in findings
    assert f"the product of ${depth}$ derivatives of sigmoid is below $10^{{-3}}$" in findings
    # ... and says that weights change it, pointing to the critical weight scales
    assert r"\sigma_w^2\,\E[\varphi'^2]" in findings
    gains = {r["activation"]: r for r in _csv(rep["out"], "gains")}
    assert float(gains["sigmoid"]["critical_sigma_w2"]) > 1 / 0.25  # not reachable by s^L


def test_every_non_pass_verdict_is_explained(rep: dict[str, Any]) -> None:
    tex, out = rep["tex"], rep["out"]
    rows = _csv(out, "depth")
    assert {r["verdict"] for r in rows} <= {"PASS", "FAIL", "INCONCLUSIVE"}
    assert r"\textit{inconclusive}" not in tex and "rejected: " not in _findings(tex)
    for r in rows:
        if r["verdict"] == "PASS":
            assert r["reason"] == ""
            continue
        item = (r"\item \textbf{" + r["verdict"] + "}, " + _plain(r["activation"]) + " with "
                + r["init"] + ": " + r["reason"])
        assert item in tex
        ver = json.loads(next((out / "data").glob(
            f"verify-*{r['activation'].replace('_', '-')}-*{r['init']}.json")).read_text())
        cov = ver["coverage"]
        if r["verdict"] == "INCONCLUSIVE":
            untested = cov["claimed"] - cov["tested"]
            assert f"but {untested} of {cov['claimed']} claimed layers" in r["reason"]
            assert r["reason"].count(".") >= 1 and r["reason"].endswith(".")


def test_pascanu_finding_says_when_the_bound_is_vacuous(rep: dict[str, Any]) -> None:
    findings = _findings(rep["tex"])
    assert "held on" not in findings
    rows = _csv(rep["out"], "recurrent")
    vacuous = [r["cell"] for r in rows if r["mean_ln_pascanu_bound"]
               and float(r["mean_ln_pascanu_bound"]) >= -1e-9]
    assert vacuous, "tanh and relu cells with orthogonal W have a bound of 1"
    m = re.search(r"Pascanu et al.'s bound equals 1 for the (.*?) cells? \(", findings)
    assert m and m.group(1) == " and ".join(r"\emph{" + _plain(c) + "}" for c in vacuous)


# --------------------------------------------------------------------------- activations


def test_textbook_bound_cites_its_sources_and_defines_s(rep: dict[str, Any]) -> None:
    tex = rep["tex"]
    intro = tex.split(r"\section{Activation functions", 1)[1].split(r"\subsection", 1)[0]
    assert r"\cite{hochreiter1991,bengio1994}" in intro and "glorot2010" not in intro
    assert r"s = \sup_x|\varphi'(x)|" in intro
    # every chain bound defines s and never prints (1)^L
    assert r"\left(1\right)^{L}" not in tex
    chains = re.findall(
        r"\\prod_\{i=1\}\^\{L\} \|\\varphi'\(x_i\)\| \\le s\^\{L\},\\quad s = ", tex)
    assert len(chains) == len(OPTIONS["activations"])


def test_sigmoid_text_only_when_sigmoid_is_chosen(tmp_path: Path) -> None:
    r = vg.report(tmp_path / "r", activations=["tanh"], inits=["he"], depth=3, width=8,
                  simulate=False, latex="none", sections=["activations"])
    tex = r.tex.read_text()
    assert "For the sigmoid" not in tex and "after five units" not in tex
    assert r.sections == ("activations",)


def test_no_code_in_prose(rep: dict[str, Any]) -> None:
    tex = rep["tex"]
    for code in ("scale * elu", "x=sqrt", "x=-sqrt", "slope*x"):
        assert code not in tex
    assert r"$x = \sqrt{2}$" in tex  # GELU's supremum, typeset


def test_exact_values_shown_rounded_are_said_to_be_rounded(rep: dict[str, Any]) -> None:
    tex = rep["tex"]
    for sub in tex.split(r"\subsection{")[1:]:
        sub = sub.split(r"\emph{Saturation region}", 1)[0]
        bound = sub.split(r"\emph{Certified bound:}", 1)[1].split(r"\emph{How it", 1)[0]
        if "Both values are exact" in sub and r"\approx" in bound:
            assert "shown rounded" in sub


def test_thin_saturation_intervals_are_named_and_marked(rep: dict[str, Any]) -> None:
    details = json.loads((rep["out"] / "data" / "activations-details.json").read_text())
    gelu = next(a for a in details["activations"] if a["label"] == "gelu")
    import sympy as sp

    region = sp.sympify(gelu["saturation_region"]["region"])
    thin = thin_intervals(vg.activation("gelu"), region)
    assert len(thin) == 1
    a, b, zero = thin[0]
    assert a < zero < b and abs(float(vg.activation("gelu").grad(np.array([zero]))[0])) < 1e-9
    sub = rep["tex"].split(r"\subsection{\texorpdfstring{gelu}", 1)[1].split(r"\subsection", 1)[0]
    assert f"around the zero of $\\varphi'$ at $x \\approx {zero:.4g}$" in sub
    assert "marked by a triangle" in sub
    # no such sentence where the region has no thin interval
    sig = rep["tex"].split(r"\subsection{\texorpdfstring{sigmoid}", 1)[1].split(
        r"\subsection", 1)[0]
    assert "thin interval" not in sig


# --------------------------------------------------------------------------- χ table


def test_chi_table_exact_fractions_and_unsettled_marks(rep: dict[str, Any]) -> None:
    tex, out = rep["tex"], rep["out"]
    assert "close to its fixed point" not in tex
    data = {r["activation"]: r for r in _csv(out, "chi")}
    rows = {r[0]: r for r in _table(tex, "chi")}
    # leaky ReLU under Xavier: χ = (1 + a²)/2 = 10001/20000, printed exactly
    assert data["leaky_relu"]["xavier:chi_1_exact"] == "10001/20000"
    assert rows[_plain("leaky_relu")][1] == r"$\frac{10001}{20000}$"
    marked = 0
    for a, act in enumerate(OPTIONS["activations"]):
        for i, init in enumerate(OPTIONS["inits"]):
            prof = _csv(out, f"depth-{a:02d}-{act.replace('_', '-')}-{i:02d}-{init}")
            chi = [float(r["chi_theory"]) if r["chi_theory"] else math.nan for r in prof]
            moving = still_moving(chi)
            cell = rows[_plain(act)][2 + 2 * i]
            assert cell.endswith(r"$^{\dagger}$") == moving, (act, init)
            assert data[act][f"{init}:chi_L_settled"] == str(not moving)
            marked += moving
    assert marked, "tanh under xavier approaches χ = 1 only algebraically"
    assert ("$^{\\dagger}$$\\chi$ is still changing" in tex) == bool(marked)


def test_he_rule_for_leaky_relu_is_explained(rep: dict[str, Any]) -> None:
    tex = rep["tex"]
    data = {r["activation"]: r for r in _csv(rep["out"], "chi")}
    assert data["leaky_relu"]["he:chi_1_exact"] == "10001/10000"
    assert r"2/\big((1 + a^2)\,n_\mathrm{in}\big)" in tex
    assert r"\chi = 1 + a^2 = \frac{10001}{10000}$ under he" in tex


# --------------------------------------------------------------------------- depth


def test_exact_marker_is_not_glued_to_an_exponent(rep: dict[str, Any]) -> None:
    tex = rep["tex"]
    assert "$$^{*}$" not in tex
    rows = _table(tex, "depth")
    data = _csv(rep["out"], "depth")
    for row, d in zip(rows, data, strict=True):
        assert row[3].startswith(r"$^{*}$") == bool(d["predicted_exact"])


def test_coinciding_initialisations_are_noted(rep: dict[str, Any]) -> None:
    inits = {r["init"]: float(r["sigma_w2"]) for r in _csv(rep["out"], "initialisations")}
    assert inits["xavier"] == inits["lecun"] != inits["he"]
    caption = rep["tex"].split(r"\includegraphics[width=\textwidth]{figures/depth-00.pdf}",
                               1)[1].split(r"\label", 1)[0]
    assert r"xavier and lecun give the same $\sigma_w^2$ at square width $n = 32$" in caption


def test_theory_far_from_simulation_is_annotated(rep: dict[str, Any]) -> None:
    out, tex = rep["out"], rep["tex"]
    caption = tex.split(r"figures/depth-00.pdf}", 1)[1].split(r"\label", 1)[0]
    for r in _csv(out, "depth"):
        a = OPTIONS["activations"].index(r["activation"])
        i = OPTIONS["inits"].index(r["init"])
        prof = _csv(out, f"depth-{a:02d}-{r['activation'].replace('_', '-')}-{i:02d}-{r['init']}")
        worst = 1.0
        for p in prof:
            th, m = float(p["grad_second_moment_theory"]), float(p["grad_second_moment_simulated"])
            lo, hi = float(p["ci_low"] or "nan"), float(p["ci_high"] or "nan")
            if th > 0 and m > 0 and math.isfinite(lo) and math.isfinite(hi) and not lo <= th <= hi:
                worst = max(worst, m / th, th / m)
        named = (_plain(r["activation"]) + " with " + r["init"] + ": a factor") in caption
        assert named == (worst >= 10), (r["activation"], r["init"], worst)


# --------------------------------------------------------------------------- through time


def test_recurrent_table_in_log10_and_mean_field_misses_flagged(rep: dict[str, Any]) -> None:
    tex, out = rep["tex"], rep["out"]
    rows = _table(tex, "recurrent")
    data = _csv(out, "recurrent")
    assert r"\log_{10}" in tex.split("% vgmath-table: recurrent", 1)[1].split(r"\midrule", 1)[0]
    for row, d in zip(rows, data, strict=True):
        shown = float(re.match(r"\$(-?\d+\.\d+)", row[3]).group(1))  # type: ignore[union-attr]
        assert abs(shown - float(d["mean_ln_jacobian_norm"]) / math.log(10)) <= 5e-4
        if d["predicted_mean_field"]:
            pred = float(d["predicted_mean_field"])
            outside = not float(d["ci_low"]) <= pred <= float(d["ci_high"])
            assert row[1].startswith(r"$^{\S}$") == outside
            assert d["mean_field_outside_ci"] == str(outside)


# --------------------------------------------------------------------------- edge of chaos


def test_gains_footnotes_match_the_rows(rep: dict[str, Any]) -> None:
    tex, out = rep["tex"], rep["out"]
    data = _csv(out, "gains")
    rows = _table(tex, "gains")
    notes = tex.split("% vgmath-table: gains", 1)[1].split("% vgmath-table-end: gains", 1)[0]
    phases = {d["derived_phase"] for d in data} | {d["pytorch_phase"] for d in data}
    assert ("``exploding''" in notes) == ("exploding" in phases)
    for row, d in zip(rows, data, strict=True):
        repelling = float(d["derived_slope"]) > 1 + 1e-9
        assert ("repelling" in row[3]) == repelling
        assert ("chaotic" in row[3]) == (d["derived_phase"] == "chaotic" and not repelling)
    assert any(d["derived_repelling"] == "True" for d in data)  # GELU's q* = 1


def test_phase_points_print_an_exact_zero(rep: dict[str, Any]) -> None:
    tex, out = rep["tex"], rep["out"]
    data = _csv(out, "phase-points-tanh")
    rows = _table(tex, "phase-points-tanh")
    for row, d in zip(rows, data, strict=True):
        zero = float(d["q_star_numerical"]) < 1e-12
        assert (row[2] == r"$0$$^{\circ}$") == zero
        assert (float(d["q_star"]) == 0.0) == zero
    assert any(float(d["q_star_numerical"]) < 1e-12 for d in data)  # tanh at σ_w² = 1


# --------------------------------------------------------------------------- layout


def test_floats_are_not_pinned(rep: dict[str, Any]) -> None:
    assert "[H]" not in rep["tex"]
    assert r"\begin{figure}[htbp]" in rep["tex"]


def test_rejected_profile_table_is_readable() -> None:
    from vgmath.reporting.sections.depth import verdict_reason, verification_tabular

    chain = vg.Chain("relu", init="he", depth=4, width=64)
    pred = np.asarray(vg.predict(chain).grad_second_moment, dtype=float)
    ver = vg.verify(chain, claim=pred * 50.0, trials=200, seed=0)  # a claim off by 50x
    assert str(ver.verdict.value) == "FAIL"
    table = verification_tabular(ver)
    assert "e-" not in table and "e+" not in table  # p-values as m\times 10^{e}
    rows = [line for line in table.splitlines() if line.endswith(r"\\")][1:]
    for line, d in zip(rows, ver.to_dict()["rows"], strict=True):
        if d["tolerance"] is None:
            assert r"\checkmark" not in line
        assert line.endswith({"pass": r"\checkmark \\", "fail": r"$\times$ \\",
                              "untestable": r"untestable \\"}[d["status"]])
    reason = verdict_reason(ver)
    assert "Holm-adjusted" in reason and reason.endswith(".")


def test_strongest_vanishing_names_every_tied_chain(rep: dict[str, Any]) -> None:
    rows = _csv(rep["out"], "depth")
    low = min(float(r["predicted"]) for r in rows)
    tied = [r for r in rows if math.isclose(float(r["predicted"]), low, rel_tol=1e-12)]
    assert len(tied) == 2  # sigmoid under xavier and lecun: the same σ_w² at square width
    m = re.search(r"Strongest vanishing: (.*?), predicted", _findings(rep["tex"]))
    assert m and m.group(1) == " and ".join(
        _plain(r["activation"]) + " with " + _plain(r["init"]) for r in tied)


def test_the_history_is_cited_to_its_sources(rep: dict[str, Any]) -> None:
    intro = rep["tex"].split(r"\end{abstract}", 1)[1].split(r"\paragraph{Setting.}", 1)[0]
    assert r"first analysed for recurrent networks~\cite{hochreiter1991,bengio1994}" in intro
