"""Labels with mathematics through a safe LaTeX subset, and custom initialisations labelled by
their variance."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import vgmath as vg
from vgmath.core.errors import InvalidArgumentError
from vgmath.reporting import latex as L
from vgmath.reporting.core import coerce_inits


@pytest.mark.parametrize("tex", [
    r"\tanh_{5/3}", r"\sigma_w^2", r"x_{\mathrm{in}}^{2}", r"\frac{1}{2}\sqrt{x}", "x'^2",
    r"\operatorname{gelu}", r"a \cdot b", r"\alpha=1.5",
])
def test_safe_math_accepts_the_subset(tex: str) -> None:
    assert L.safe_math(tex)


@pytest.mark.parametrize("tex", [
    r"\input{/etc/passwd}", r"\write18{rm -rf x}", r"\def\x{1}", r"\catcode`\^=12",
    r"\csname end\endcsname", "a^^5c", "#1", "x^{", "x}", "a_1_2", "x^2'", "a^", "_1",
    r"\end{document}", r"\newcommand", r"\let\a\b", "x % comment", "a & b", "~", "",
    r"\mathrm{\input{x}}", r"\frac{1}", "{{{{{{{{x}}}}}}}}",
])
def test_safe_math_refuses_everything_else(tex: str) -> None:
    assert not L.safe_math(tex)


def test_label_text_math_or_verbatim() -> None:
    assert L.label_text(r"$\tanh_{5/3}$") == r"$\tanh_{5/3}$"
    assert L.label_text(r"scaled $\tanh$ unit") == r"scaled $\tanh$ unit"
    # one unsafe part: the whole label verbatim, nothing active
    hostile = r"$\tanh$ and $\input{x}$"
    assert L.label_text(hostile) == L.escape_text(hostile, breakable=True)
    assert L.label_text("price $5") == L.escape_text("price $5", breakable=True)


def test_custom_initialisations_are_labelled_by_their_variance() -> None:
    labels = [lab for lab, _ in coerce_inits(["he", "custom:5/2", vg.Init.custom(3)])]
    assert labels == ["he", r"custom $\sigma_w^2 = \frac{5}{2}$", r"custom $\sigma_w^2 = 3$"]
    with pytest.raises(InvalidArgumentError, match="must be > 0"):
        coerce_inits(["custom:-1"])


@pytest.mark.skipif(not (shutil.which("pdflatex") and shutil.which("pdftotext")),
                    reason="pdflatex/pdftotext are not installed")
def test_a_report_with_math_labels_compiles(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "r", activations=[(r"$\tanh_{5/3}$", "1.7159*tanh(2*x/3)"),
                                                  "relu"],
                    inits=["custom:5/2", "he"], depth=4, width=8, simulate=False,
                    sections=["activations", "inits", "depth", "phase"])
    assert rep.pdf is not None and rep.latex_log is not None
    assert not rep.latex_log.problems()
    tex = rep.tex.read_text()
    assert r"\subsection{\texorpdfstring{$\tanh_{5/3}$}" in tex
    assert r"custom $\sigma_w^2 = \frac{5}{2}$" in tex
    text = subprocess.run(["pdftotext", str(rep.pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "tanh5/3" in text.replace(" ", "") or "tanh 5/3" in text
    assert "custom σ" in text  # the variance, typeset, follows the word
