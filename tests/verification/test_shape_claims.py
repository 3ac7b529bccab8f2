"""Claims without an exact prefactor: a per-layer rate (vg.verify_rate) and a band around the
output gradient (vg.verify_band), from Python and from ``vgmath verify``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import vgmath as vg
from vgmath.cli import main


def _chain(act: str, init: str, depth: int = 20, width: int = 128) -> vg.Chain:
    return vg.Chain(act, init=init, depth=depth, width=width)


@pytest.fixture(scope="module")
def relu_xavier() -> tuple[vg.Chain, vg.Simulation]:
    chain = _chain("relu", "xavier", depth=10, width=64)
    return chain, vg.simulate(chain, trials=1000, seed=4)


def test_rate_with_free_prefactor(relu_xavier) -> None:
    """ReLU + Xavier on square layers: E‖g^l‖² ∝ (1/2)^(L−l) exactly (finite-width bias 0).
    The fitted rate's interval contains 1/2; a prefactor is free, so 7·(1/2)^(L−l) is the
    same claim; 0.52 per layer (×1.48 over 10 layers) is rejected."""
    chain, sim = relu_xavier
    v = vg.verify_rate(chain, "1/2", simulation=sim)
    assert v.verdict is vg.Verdict.PASS and v.passed
    lo, hi = v.rate_interval
    assert lo < 0.5 < hi and hi - lo < 0.02
    assert v.coverage.layer0_tested and v.resolution <= v.max_tolerance
    d = json.loads(v.to_json())
    assert d["verdict"] == "PASS" and d["rate_ci"][0] < 0.5 < d["rate_ci"][1]
    wrong = vg.verify_rate(chain, "0.52", simulation=sim)
    assert wrong.verdict is vg.Verdict.FAIL and wrong.p_value < 1e-6
    with pytest.raises(vg.InvalidArgumentError, match="rate"):
        vg.verify_rate(chain, "-1", simulation=sim)


@pytest.mark.quality
def test_rate_claim_is_not_passed_where_layers_are_untestable() -> None:
    """GELU + He at width 128: the expansion breaks down near the input; the rate fitted on
    the remaining layers is never a PASS for the whole profile."""
    chain = _chain("gelu", "he")
    v = vg.verify_rate(chain, "0.5", seed=0)
    assert v.verdict is not vg.Verdict.PASS
    assert not v.coverage.complete


def test_band_claim() -> None:
    """tanh + Xavier, depth 20: E‖g^0‖² ≈ 0.036 of the output's — not within a factor 2
    (FAIL, and the layers that break it are named), but within a factor 100 (PASS)."""
    chain = _chain("tanh", "xavier")
    sim = vg.simulate(chain, trials=1000, seed=6)
    v = vg.verify_band(chain, 2, simulation=sim)
    assert v.verdict is vg.Verdict.FAIL and 0 in v.layers[v.rejected]
    ok = vg.verify_band(chain, 100, simulation=sim)
    assert ok.verdict is vg.Verdict.PASS and ok.coverage.claimed == 20  # layer L excluded
    # a band that the mean sits inside, but too narrow for the interval: INCONCLUSIVE
    est0 = math.exp(-float(v.ln_estimate[0]))  # 1/E‖g^0‖² ≈ 28
    edge = vg.verify_band(chain, est0 * 1.002, simulation=sim)
    assert edge.verdict is vg.Verdict.INCONCLUSIVE
    with pytest.raises(vg.InvalidArgumentError, match="factor"):
        vg.verify_band(chain, "1/2", simulation=sim)


def test_cli_rate_and_band(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["verify", "relu", "--init", "xavier", "--depth", "8", "--width", "64",
            "--trials", "500"]
    assert main([*base, "--rate", "1/2"]) == 0
    assert "fitted rate per layer" in capsys.readouterr().out
    assert main([*base, "--rate", "0.6"]) == 1
    assert main([*base, "--within", "1000"]) == 0
    assert main([*base, "--within", "2"]) == 1
    capsys.readouterr()
    assert main([*base, "--within", "2", "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "vgmath.band_verification" and d["verdict"] == "FAIL"
    res = [*base, "--arch", "resnet", "--branch-alpha", "0.5"]
    # post-activation ReLU blocks: tested against their finite-width prediction
    assert main(res) == 0
    # pre-activation blocks: no finite-width model, INCONCLUSIVE
    assert main([*res, "--variant", "pre"]) == 3
    assert main([*base, "--branch-alpha", "0.5"]) == 2  # resnet options need --arch resnet
    capsys.readouterr()


def test_rate_power_against_a_two_percent_error() -> None:
    """ReLU + He, depth 20, width 128: the true rate is 1; a claimed 1.02 per layer is
    rejected (the bootstrap standard error of ln c is ≈ 0.002)."""
    chain = _chain("relu", "he")
    sim = vg.simulate(chain, trials=1000, seed=8)
    assert vg.verify_rate(chain, 1, simulation=sim).passed
    v = vg.verify_rate(chain, "1.02", simulation=sim)
    assert v.verdict is vg.Verdict.FAIL
    assert np.isfinite(v.se) and v.se < 0.005


def test_rate_without_a_fit_is_inconclusive_and_exports() -> None:
    """GELU + He at width 8: no layer has a usable mean; the rate is not estimated, the
    verdict is INCONCLUSIVE and the JSON export says so (no NaN in the JSON)."""
    chain = _chain("gelu", "he", depth=10, width=8)
    v = vg.verify_rate(chain, "0.5", seed=0, trials=300)
    assert v.verdict is vg.Verdict.INCONCLUSIVE
    d = json.loads(v.to_json())
    assert d["verdict"] == "INCONCLUSIVE" and d["passed"] is False
