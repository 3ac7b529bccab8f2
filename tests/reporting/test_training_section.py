"""The report's training section: included when a study file is given, its sentence and
figure drawn from the study's data, and the whole report still compiles."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import vgmath as vg

pytest.importorskip("sklearn", reason="training studies need: pip install 'vgmath[training]'")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from vgmath.training import mitigations, trainability

    d = tmp_path_factory.mktemp("studies")
    budget = {"steps": 20, "log_every": 10, "batch": 32, "limit": 300, "executor": "serial"}
    trainability([1.0, 2.0], [3, 6], width=8, out=d / "phase.json", **budget)
    mitigations([4], width=8, out=d / "mit.json", **budget)
    return d / "phase.json", d / "mit.json"


def test_the_section_reports_the_studies_agreement(studies: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    from vgmath.training import Trainability, TrainingStudy

    phase, mit = studies
    rep = vg.report(tmp_path / "r", activations=["relu"], inits=["he"], depth=3, width=8,
                    simulate=False, latex="none", training=[phase, mit])
    assert "training" in rep.sections
    tex = (tmp_path / "r" / "report.tex").read_text()
    tr = Trainability.from_study(TrainingStudy.load(phase))
    agree = round(tr.agreement * tr.accuracy.size)
    assert re.search(rf"on {agree} of {tr.accuracy.size}\s+cells", tex)
    data = json.loads((tmp_path / "r" / "data" / "training-0.json").read_text())
    assert data["agreement"] == pytest.approx(tr.agreement)
    assert (tmp_path / "r" / "figures" / "trainability-0.pdf").exists()
    assert (tmp_path / "r" / "figures" / "mitigations-1.pdf").exists()


def test_without_a_study_the_section_is_left_out(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "r", activations=["relu"], inits=["he"], depth=3, width=8,
                    simulate=False, latex="none")
    assert "training" not in rep.sections
    with pytest.raises(vg.InvalidArgumentError) as err:
        vg.report(tmp_path / "s", activations=["relu"], inits=["he"], depth=3, width=8,
                  simulate=False, latex="none", training=[tmp_path / "missing.json"])
    assert err.value.argument == "training"


@pytest.mark.slow
def test_a_report_with_studies_compiles(studies: tuple[Path, Path], tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    rep = vg.report(tmp_path / "r", activations=["relu"], inits=["he"], depth=3, width=8,
                    simulate=False, latex="pdflatex", training=list(studies))
    assert rep.pdf is not None and rep.pdf.exists()
