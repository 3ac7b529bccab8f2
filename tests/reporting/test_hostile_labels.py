"""Labels from users: non-Latin first characters compile, overlong labels are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import vgmath as vg
from vgmath.reporting import latex as L


def test_unknown_character_is_braced_so_it_cannot_open_an_optional_argument() -> None:
    assert L.escape_text("中文") == "{[}U+4E2D{]}{[}U+6587{]}"


def test_overlong_label_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(vg.InvalidArgumentError, match="at most 80 characters"):
        vg.report(tmp_path / "R", activations=[("a" * 3000, "tanh(x)")], simulate=False,
                  latex="none")
    assert not (tmp_path / "R").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_a_label_starting_with_a_non_latin_character_compiles(tmp_path: Path) -> None:
    r = vg.report(tmp_path / "R", activations=[("中文", "2*tanh(x)"), ("é" + "a" * 70, "tanh")],
                  inits=["xavier"], depth=3, width=8, simulate=False, latex="pdflatex")
    assert r.pdf is not None and r.pdf.exists()


def test_report_records_an_uncertifiable_activation_and_goes_on(tmp_path: Path) -> None:
    """'x+sin(x)' (infinitely many critical points) used to abort the whole report."""
    r = vg.report(tmp_path / "R", activations=["tanh", "x+sin(x)"], inits=["xavier"], depth=3,
                  width=8, simulate=False, latex="none")
    tex = r.tex.read_text(encoding="utf-8")
    assert "could not be certified" in tex
    assert "activations" in r.sections
    assert r.omitted  # the theory sections that need E[φ²] of x+sin(x) say why they are out
    assert all("could not be computed" in why or "theory-only" in why or "only simulated" in why
               for key, why in r.omitted.items() if key != "training")
    assert r.omitted.get("training") == "nothing to show for these options"  # no study given


def test_report_refuses_its_documented_maximums_before_working(tmp_path: Path) -> None:
    import time

    start = time.monotonic()
    with pytest.raises(vg.ResourceLimitError, match="memory limit"):
        vg.report(tmp_path / "R", depth=10_000, width=100_000, trials=10_000_000,
                  latex="none")
    assert time.monotonic() - start < 5
    assert list(tmp_path.iterdir()) == []
