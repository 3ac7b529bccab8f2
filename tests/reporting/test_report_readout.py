"""The report follows the chains' read-out convention and states it; its depth section has
the precision paragraph."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import vgmath as vg
from vgmath.core.errors import InvalidArgumentError


def test_linear_readout_report(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "r", activations=["relu"], inits=["xavier"], depth=30, width=16,
                    simulate=False, latex="none", readout="linear")
    tex = Path(rep.tex).read_text()
    assert "Read-out: linear" in tex and r"\paragraph{Precision.}" in tex
    text = (Path(rep.tex).parent / "data" / "dtype-limits.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    f16 = next(r for r in rows if r["dtype"] == "float16")
    # ReLU + Xavier with a linear read-out: E[(g^l)²]/E[(g^L)²] = 2^-(L-l-1) for l < L, so
    # 2^-k·2 first drops below float16's 2^-14 at k = 16 (one layer later than with φ on
    # the output layer, whose factor is 2^-(L-l))
    assert f16["normal_depth"] == "16"
    with pytest.raises(InvalidArgumentError, match="readout"):
        vg.report(tmp_path / "s", readout="softmax", latex="none")
