"""The finite-width tolerance of vg.verify against measured errors of the bias estimate.

tests/verification/data/width_bias_calibration.json holds, for every catalog activation ×
{xavier, he, lecun} at depth 20 / width 128 and depth 50 / width 32, the deviation of the
mean of 40 000 simulated networks from mean-field theory (dev_l, natural log) with its
standard error, and how often vg.verify's tail diagnostic trusted each layer (written by
``python benchmarks/calibrate_width_bias.py --out ...``; seeds in that script). The bias B
and scale S are recomputed here by the code under test, so a change to the expansion or to
the tolerance rule is checked against the same measurements without simulating:

* every trusted layer with S < 1 has |dev − B| ≤ r + 4 se (4 standard errors of the pooled
  mean: over ~1800 layers a 4-sigma excursion has probability ~0.1 under the normal
  approximation, and neighbouring layers are strongly correlated);
* the band is tight: some layer uses at least 75% of it after a 3-se allowance (the
  calibration leaves a 10% margin; a band 1.5× wider would use at most ~61%).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vgmath as vg
from vgmath.theory.bias import width_bias
from vgmath.verification.tolerance import bias_tolerance

DATA = Path(__file__).parent / "data" / "width_bias_calibration.json"


def _uncovered(layers: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Trusted layers whose measured error of B exceeds the band (beyond 4 se)."""
    return [(x["config"], x["layer"], round(abs(x["dev"] - x["B"]), 4), round(x["r"], 4),
             round(x["se"], 4))
            for x in layers if abs(x["dev"] - x["B"]) > x["r"] + 4 * x["se"]]


def _band_used(layers: list[dict[str, Any]]) -> float:
    """The largest share of the band a layer uses after a 3-se allowance."""
    return max((abs(x["dev"] - x["B"]) - 3 * x["se"]) / x["r"] for x in layers if x["r"] > 0)


def _layers() -> list[dict[str, Any]]:
    """Per (config, layer l < L): measured dev, se, recomputed B, S, r; trusted layers only
    (vg.verify trusted the layer in at least half of the 40 runs)."""
    payload = json.loads(DATA.read_text())
    out = []
    for rec in payload["records"]:
        chain = vg.Chain(rec["activation"], init=rec["init"], depth=rec["depth"],
                         width=rec["width"])
        b, s = width_bias(chain).for_quantity("grad_second_moment")
        r = bias_tolerance(s, rec["width"])
        for l in range(rec["depth"]):
            if rec["trusted_fraction"][l] < 0.5 or not np.isfinite(r[l]):
                continue
            out.append({"config": (rec["activation"], rec["init"], rec["depth"]), "layer": l,
                        "dev": rec["dev"][l], "se": rec["dev_se"][l], "B": float(b[l]),
                        "S": float(s[l]), "r": float(r[l])})
    return out


@pytest.fixture(scope="module")
def layers() -> list[dict[str, Any]]:
    return _layers()


@pytest.mark.quality
def test_tolerance_covers_the_measured_error_of_the_bias(layers) -> None:
    """Kills an expansion that drops terms (e.g. the covariance of the per-layer factors)
    and a band built on |B| instead of the no-cancellation scale S."""
    assert len(layers) > 1500
    bad = _uncovered(layers)
    assert not bad, bad[:10]


@pytest.mark.quality
def test_tolerance_is_tight(layers) -> None:
    """Kills a band wider than the calibration supports (e.g. r × 1.5)."""
    used = _band_used(layers)
    assert 0.75 <= used <= 1.0, used


def test_the_bias_is_most_of_the_deviation(layers) -> None:
    """B explains the finite-width deviation: the measured |dev| shrinks by subtracting B
    (summed over trusted layers with S > 0.05, where there is something to explain)."""
    sel = [x for x in layers if x["S"] > 0.05]
    before = sum(abs(x["dev"]) for x in sel)
    after = sum(abs(x["dev"] - x["B"]) for x in sel)
    assert after < 0.4 * before, (after, before)


# ----------------------------------------------------------------- the mutants these tests kill


@pytest.mark.quality
def test_mutant_covariance_terms_dropped_is_caught(monkeypatch) -> None:
    """B without the covariance of the per-layer factors misses the measured deviations."""
    import vgmath.theory.bias as bias

    def no_pairs(beta, a, var_u, dcov):  # the mutant: every Cov(u_m, u_k) and D_m term gone
        return np.zeros_like(beta), np.zeros_like(beta)

    monkeypatch.setattr(bias, "_pair_rows", no_pairs)
    assert _uncovered(_layers())


@pytest.mark.quality
def test_mutant_tolerance_times_one_and_a_half_is_caught(layers) -> None:
    wider = [dict(x, r=1.5 * x["r"]) for x in layers]
    assert _band_used(wider) < 0.75


@pytest.mark.quality
def test_mutant_band_on_abs_b_instead_of_s_is_caught(layers) -> None:
    """A band built on |B| (assuming the terms of B never cancel less than they do) is too
    narrow where the terms of B cancel."""
    on_b = [dict(x, r=float(bias_tolerance(np.array([abs(x["B"])]), _width(x))[0]))
            for x in layers]
    assert _uncovered(on_b)


def _width(x: dict[str, Any]) -> int:
    return {20: 128, 50: 32}[x["config"][2]]
