"""One LaTeX behaviour for every result object: ``.latex(mode, digits)`` in four modes, the
number conventions, and every output compiled in a standalone document with pdflatex."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

import vgmath as vg
from vgmath.core.errors import InvalidArgumentError
from vgmath.montecarlo.clipping import ln_param_grad_norm
from vgmath.symbolic.typeset import (
    MODES,
    latex_expr,
    latex_from_ln,
    latex_number,
    radical_form,
)

#: Python's e-notation inside LaTeX output (``2.8e-28``): never allowed.
_E_NOTATION = re.compile(r"\d\.?\d*e[-+]?\d")
#: a power of a bare fraction (``\frac{1}{4}^{L-l}``: is it 1/(4^(L-l))?): never allowed.
_BARE_FRACTION_POWER = re.compile(r"\\frac\{[^{}]*\}\{[^{}]*\}\^")
#: more significant digits than anyone reads: the 30-digit values that overflowed lines.
_LONG_DECIMAL = re.compile(r"\d\.\d{12,}|\d{16,}")


def _convention_errors(tex: str) -> list[str]:
    out = []
    for name, pattern in (("e-notation", _E_NOTATION), ("fraction power", _BARE_FRACTION_POWER),
                          ("long decimal", _LONG_DECIMAL)):
        if pattern.search(tex):
            out.append(f"{name}: {pattern.search(tex).group(0)!r}")  # type: ignore[union-attr]
    if "CRootOf" in tex:
        out.append("CRootOf")
    return out


def test_convention_checker_catches_the_old_outputs() -> None:
    # the outputs reported before this API: each must be caught by the checks below
    assert _convention_errors(r"p = 2.8e-28")
    assert _convention_errors(r"\frac{1}{4}^{L - l}")
    assert _convention_errors(r"\sup_x \varphi'(x) = 1.09984100343554985230913917353")
    assert _convention_errors(r"\operatorname{CRootOf} {\left(x^{4} + 1, 3\right)}")
    assert not _convention_errors(r"2.8\times10^{-28},\ \left(\frac{1}{4}\right)^{L - l}")


def test_numbers_in_math_mode() -> None:
    assert latex_number(2.8e-28, 2) == r"2.8\times10^{-28}"
    assert latex_number(1e-5) == r"10^{-5}"
    assert latex_number(0.25) == "0.25" and latex_number(1234.5678) == "1235"
    assert latex_number(-3.3e10, 2) == r"-3.3\times10^{10}"
    assert latex_number(float("nan")) == r"\text{--}"
    # below float64's range: ln(10^-2000) → exactly 10^{-2000}; e^-2000 = 10^-868.589 =
    # 2.577 × 10^-869 (−2000/ln 10 = −868.5889, 10^0.4111 = 2.577)
    assert latex_from_ln(-2000 * 2.302585092994046) == r"10^{-2000}"
    assert latex_from_ln(-2000.0) == r"2.577\times10^{-869}"
    L, l = vg.depth_symbol, vg.layer_symbol
    assert latex_expr(sp.Rational(1, 4) ** (L - l)) == r"\left(\frac{1}{4}\right)^{L - l}"
    # a long exact number is shown rounded (the exact value stays in the object):
    # 3^80 = 147808829414345923316083210206383297601 ≈ 1.4781e38, 1/1.4781 = 0.67655
    assert latex_expr(sp.Rational(1, 3**80)) == r"\approx 6.765\times10^{-39}"
    with pytest.raises(InvalidArgumentError, match="digits=0"):
        latex_number(1.0, 0)


def test_radicals_where_they_exist() -> None:
    x = sp.Symbol("x")
    r = sp.CRootOf(x**2 - 2, 1)
    assert radical_form(r / 2 + sp.Rational(1, 3)) == sp.Rational(1, 3) + sp.sqrt(2) / 2
    # a quintic with no radical roots stays a CRootOf (nothing is invented)
    quintic = sp.CRootOf(x**5 - x - 1, 0)
    assert radical_form(quintic) == quintic
    # the sup of tanh(x)·sigmoid(x) + 0.05x: a rational function of a root of
    # x⁴ + 4x³ − 6x² − 4x + 1; its minimal polynomial is 200y² − 120y − 7, so
    # sup = 3/10 + √2/4 (checked numerically against the certified enclosure)
    b = vg.activation("tanh(x)*sigmoid(x)+0.05*x").derivative_bound()
    tex = b.latex()
    assert r"\frac{3}{10} + \frac{\sqrt{2}}{4}" in tex and "CRootOf" not in tex
    assert float(b.sup) == pytest.approx(0.3 + 2**0.5 / 4, rel=1e-15)
    assert "CRootOf" in str(b.sup)  # the object keeps its exact form


def _objects() -> dict[str, Any]:
    from vgmath.theory import width_bias
    from vgmath.training import mitigations, trainability

    relu_he = vg.Chain("relu", init="he", depth=6, width=32)
    small = vg.Chain("relu", init="he", depth=3, width=8)
    s, L, n = sp.symbols("s L n", positive=True)
    tiny_training = {"steps": 3, "log_every": 1, "batch": 16, "limit": 200,
                     "executor": "serial"}
    tanh = vg.Chain("tanh", init="xavier", depth=6, width=32)
    sig = vg.activation("sigmoid")
    odd = vg.activation("tanh(x)*sigmoid(x)+0.05*x")
    silu = vg.activation("silu")
    gauss = vg.gaussian_expectation(silu.derivative ** 2, 2)
    return {
        "activation": silu,
        "activation-expression": odd,
        "init": relu_he.rule,
        "derivative-bound": silu.derivative_bound(),
        "derivative-bound-algebraic": odd.derivative_bound(),
        "saturation": sig.saturation_region("1/100"),
        "saturation-numeric": silu.saturation_region("1/100"),
        "chain-bound": sig.chain_bound(depth=30, eps="1/1000000"),
        "chain-bound-numeric": silu.chain_bound(depth=30, eps="1/1000000"),
        "gaussian": gauss,
        "critical-point": vg.critical_point("tanh", sigma_b2="1/20"),
        "critical-point-exact": vg.critical_point("erf", sigma_b2=0),
        "fixed-point": vg.fixed_point("tanh", 2, "1/20"),
        "prediction-closed": vg.predict(relu_he),
        "prediction-numeric": vg.predict(tanh),
        "prediction-underflow": vg.predict(vg.Chain("sigmoid", depth=1000, width=32)),
        "prediction-linear": vg.predict(relu_he.replace(init="xavier", readout="linear")),
        "simulation": vg.simulate(tanh, trials=20, seed=0),
        "verification": vg.verify(tanh, trials=30, seed=0),
        "verification-fail": vg.verify(relu_he, "2**(-(L - l))", trials=300, seed=0,
                                       finite_width=False),
        "rate": vg.verify_rate(tanh, "9/10", trials=30, seed=0),
        "band": vg.verify_band(relu_he, 4, trials=30, seed=0),
        "bound": vg.verify_bound(sig, "1/4"),
        "gradient-bound": vg.verify_gradient_bound(relu_he, 2, trials=30, seed=0),
        "sweep": vg.sweep({"activation": ["tanh", "relu"], "depth": [3], "width": [8]},
                          trials=10, seed=0, executor="serial"),
        "clip-report": vg.clip_report(vg.simulate(small, trials=10, seed=0), 1.0),
        "width-bias": width_bias(tanh),
        "exact-profile": vg.predict(relu_he).exact,
        "exact-profile-widths": vg.predict(
            vg.Chain("relu", init="xavier", depth=3, width=[4, 8, 16, 2])).exact,
        "symbolic-prediction": vg.predict(
            vg.Chain("relu", init=vg.Init.custom(sigma_w2=s), depth=L, width=n)),
        "training-study": vg.train_study([small, small.replace(depth=2)],
                                         labels=["relu_he L=3", "relu_he L=2"],
                                         **tiny_training),
        "trainability": trainability([1.0, 2.0], [2], width=8, **tiny_training),
        "mitigations": mitigations([2], labels=["relu/he", "sigmoid/xavier + batch norm"],
                                   width=8, **{**tiny_training, "batch": 8}),
    }


@pytest.fixture(scope="module")
def objects() -> dict[str, Any]:
    return _objects()


@pytest.mark.slow
def test_every_object_has_the_same_modes(objects: dict[str, Any]) -> None:
    for name, obj in objects.items():
        math = obj.latex()
        assert obj.latex(mode="math") == math, name
        assert not math.startswith("$"), name
        assert "$" in obj.latex(mode="inline"), name
        assert obj.latex(mode="display").startswith(r"\begin{gather*}"), name
        assert obj.latex(mode="table").startswith(("\\begin{tabular}", "% ")), name
        assert obj._repr_latex_().startswith("$"), name
        for mode in MODES:
            assert _convention_errors(obj.latex(mode=mode)) == [], (name, mode)
        with pytest.raises(InvalidArgumentError, match="mode='equation'"):
            obj.latex(mode="equation")
    p = objects["prediction-numeric"]
    assert p.latex(digits=2) != p.latex(digits=8)


@pytest.mark.slow
def test_verification_p_values_in_math(objects: dict[str, Any]) -> None:
    v = objects["verification-fail"]  # 2^-(L-l) is wrong for ReLU + He: tiny p-values
    tex = v.latex(mode="table")
    assert r"\times10^{" in tex and not _E_NOTATION.search(tex)
    with pytest.warns(DeprecationWarning, match="math_mode"):
        assert v.latex(math_mode=True).startswith(r"\begin{array}")


@pytest.mark.slow
def test_result_statements_carry_their_numbers(objects: dict[str, Any]) -> None:
    # a sweep: the range over configurations of the theory's E[(g⁰)²]/E[(g^L)²]
    res = objects["sweep"]
    ratios = [10 ** r["theory_log10_gradient_ratio"] for r in res.rows(level="config")]
    tex = res.latex(mode="table")
    assert r"2\ \text{configurations" in tex
    assert r"\text{theory: }" in tex
    assert rf"\in [{latex_number(min(ratios))},\ {latex_number(max(ratios))}]" in tex
    # the width bias: the largest |B^g_l| and where, found here independently
    wb = objects["width-bias"]
    b = [abs(float(v)) if v == v else -1.0 for v in wb.grad_second_moment]
    at = b.index(max(b))
    assert rf"B^g_{{{at}}} = {latex_number(wb.grad_second_moment[at])}" in wb.latex()
    assert rf"B^g_{{{at}}} = {latex_number(wb.grad_second_moment[at], 2)}" in wb.latex(digits=2)
    # clipping: the share of the 10 networks with ‖g‖ > c, as a percentage
    clip = objects["clip-report"]
    sim = vg.simulate(vg.Chain("relu", init="he", depth=3, width=8), trials=10, seed=0)
    norms = np.exp(ln_param_grad_norm(sim))
    clipped = int(np.sum(norms > 1.0))
    assert clipped == round(10 * clip.fraction_clipped)
    assert rf"{latex_number(10 * clipped)}\%" in clip.latex()
    median = latex_number(float(np.median(norms)))
    assert rf"\operatorname{{median}}\lVert g\rVert = {median}" in clip.latex()
    # exact profiles: χ^l = 1 for ReLU + He; 2/3 then 1/9 for the Xavier widths 4, 8, 16, 2
    assert r"\chi^l\ (l = 1, \dots, 6) = 1" in objects["exact-profile"].latex()
    widths = objects["exact-profile-widths"].latex()
    assert r"\chi^1 = \frac{2}{3},\ \chi^{3} = \frac{1}{9}" in widths
    # a symbolic prediction keeps its formula exact, with the shared signature
    sym = objects["symbolic-prediction"]
    assert r"\left(\frac{s}{2}\right)^{L - l}" in sym.latex(mode="display", digits=3)
    # a training study: the best configuration by final test accuracy
    study = objects["training-study"]
    best = study.configs[int(np.nanargmax(study.final()))]["label"]
    assert r"\text{best: " + best.replace("_", r"\_") + "}" in study.latex()
    mit = objects["mitigations"]
    assert r"\text{relu/he}\colon" in mit.latex()


_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage{amsmath,amssymb}
\usepackage[margin=1in]{geometry}
\emergencystretch=3em
\begin{document}
"""


@pytest.mark.slow
def test_every_output_compiles_standalone(objects: dict[str, Any], tmp_path: Path) -> None:
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        if os.environ.get("CI"):
            pytest.fail("pdflatex is required on CI to compile the LaTeX outputs")
        pytest.skip("pdflatex is not installed")
    laid_out, bare = [], []
    for name, obj in objects.items():
        for mode in ("inline", "display"):
            laid_out.append(rf"\paragraph{{{name}, {mode}.}} " + obj.latex(mode=mode) + "\n")
        laid_out.append(rf"\subsubsection*{{{name}, table}} {{\footnotesize "
                        + obj.latex(mode="table") + "}\n")
        bare.append(r"\paragraph{" + name + r", math.} $" + obj.latex() + "$\n")
    for stem, body in (("laid-out", laid_out), ("math", bare)):
        (tmp_path / f"{stem}.tex").write_text(_PREAMBLE + "\n".join(body) + "\n\\end{document}\n")
        run = subprocess.run(
            [pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{stem}.tex"],
            cwd=tmp_path, capture_output=True, encoding="utf-8", errors="replace", timeout=300,
        )
        log = (tmp_path / f"{stem}.log").read_text(errors="replace")
        assert run.returncode == 0, log[-3000:]
        assert (tmp_path / f"{stem}.pdf").stat().st_size > 0
    # inline, display and table outputs stay inside the 6.5 in text block (the reported
    # outputs stuck out by up to 574 pt); 2 pt allows for TeX's own rounding of a full line.
    # The bare math of mode="math" is laid out by its user (one $…$ cannot always break).
    log = (tmp_path / "laid-out.log").read_text(errors="replace")
    over = [float(m) for m in re.findall(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\)", log)]
    assert max(over, default=0.0) < 2.0, over
