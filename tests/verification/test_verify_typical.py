"""Typical values in vg.verify: where the mean of ‖g^l‖²/n_l cannot be tested (heavy tails,
too wide an interval), a finite-width law is tested on E[ln(‖g^l‖²/n_l)] instead."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

import vgmath as vg
from vgmath.verification.stats import typical_value_test
from vgmath.verification.verdict import RowStatus


@pytest.fixture(scope="module")
def heavy() -> tuple[vg.Chain, object, object]:
    # leaky ReLU + He at depth 30, width 128: the per-network ‖g^l‖² are heavy-tailed in
    # the lower layers (k̂ > 1/2 at 300 networks), so their mean is untestable
    chain = vg.Chain("leaky_relu", init="he", depth=30, width=128)
    return chain, vg.predict(chain, finite_width=True), vg.simulate(chain, trials=300, seed=0)


def test_heavy_layers_are_tested_on_their_typical_value(heavy) -> None:
    chain, law, sim = heavy
    v = vg.verify(chain, simulation=sim)
    assert v.verdict is vg.Verdict.PASS
    typical = [i for i, t in enumerate(v.tested_on) if t == "typical"]
    assert typical, "expected heavy-tailed layers"
    for i in typical:
        assert v.status[i] is RowStatus.PASS and v.reason[i] == ""
        layer = int(v.layers[i])
        assert v.typical_claim[i] == pytest.approx(law.extras["ln_grad_mean"][layer])
        logs = np.asarray(sim.samples["ln_grad_second_moment"])[:, layer]
        assert v.typical_estimate[i] == pytest.approx(logs.mean())
        assert v.tail_k[i] > 0.5
    assert any("typical value" in n for n in v.notes)
    rows = v.to_dict()["rows"]
    assert {r["tested_on"] for r in rows} >= {"mean", "typical"}
    assert "typical value" in v.table()


def test_a_wrong_typical_value_is_rejected(heavy) -> None:
    # the same law with E[ln Y] moved by 0.5 at every layer (the means untouched): the
    # typical-value rows must catch it, or they would be evidence of nothing
    chain, law, sim = heavy
    extras = dict(law.extras)
    extras["ln_grad_mean"] = np.asarray(law.extras["ln_grad_mean"]) + 0.5
    wrong = dataclasses.replace(law, extras=extras)
    v = vg.verify(chain, wrong, simulation=sim)
    assert v.verdict is vg.Verdict.FAIL
    assert all(v.tested_on[i] == "typical" for i in np.flatnonzero(v.rejected))


def test_a_user_claim_of_means_gets_no_typical_test(heavy) -> None:
    chain, law, sim = heavy
    v = vg.verify(chain, np.asarray(law.grad_second_moment), simulation=sim)
    assert "typical" not in v.tested_on
    assert v.verdict is vg.Verdict.INCONCLUSIVE
    assert any(r.startswith("heavy tails") for r in v.reason)


def test_typical_value_test_is_calibrated_and_has_power() -> None:
    # 4000 columns of 40 Gaussian samples: under H0 (centre = true mean, no band) the
    # rejection rate at 5 % lies within the binomial 99.9 % range of 0.05·4000; a band as
    # wide as the true offset never rejects; an offset of 1 sd always does
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 4000))
    t = typical_value_test(x, np.zeros(4000), np.zeros(4000), 0.05)
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 4000, 0.05)
    assert lo <= int((t.p_value <= 0.05).sum()) <= hi
    shifted = typical_value_test(x + 0.3, np.zeros(4000), np.full(4000, 0.3), 0.05)
    assert int((shifted.p_value <= 0.05).sum()) <= hi  # the edge of the band is H0's worst
    power = typical_value_test(x + 1.0, np.zeros(4000), np.zeros(4000), 0.05)
    assert np.all(power.p_value < 0.05)
    half = stats.t.isf(0.025, 39) * x.std(axis=0, ddof=1) / math.sqrt(40)
    np.testing.assert_allclose(t.half_width, half)


def test_the_report_says_when_the_typical_value_could_not_be_resolved_either() -> None:
    # GELU + He at width 128: the lower layers' networks spread so much (ln-scale sd ≈ 4)
    # that 300 of them resolve neither the mean nor the typical value
    from vgmath.reporting.sections.depth import verdict_reason

    chain = vg.Chain("gelu", init="he", depth=30, width=128)
    v = vg.verify(chain, simulation=vg.simulate(chain, trials=300, seed=0))
    assert v.verdict is vg.Verdict.INCONCLUSIVE
    assert any(r.endswith("typical value too wide") for r in v.reason)
    assert "resolve their typical value" in verdict_reason(v)


def test_a_mean_the_law_says_is_carried_by_rare_networks_is_not_tested() -> None:
    # SiLU + He at width 128: the law's mean exceeds its log-normal bulk's by up to e^9.5; at
    # this seed the sample's tail diagnostic missed layers 14-15 (excess 0.33, 0.16) and the
    # mean test rejected the claim there. Those layers are tested on their typical value.
    chain = vg.Chain("silu", init="he", depth=30, width=128)
    law = vg.predict(chain, finite_width=True)
    sim = vg.simulate(chain, trials=300, seed=500005)
    v = vg.verify(chain, law, simulation=sim)
    assert v.verdict is vg.Verdict.PASS
    rows = {int(layer): i for i, layer in enumerate(v.layers)}
    for layer in (14, 15):
        assert v.tail_k[rows[layer]] <= 0.5  # the sample alone would have tested the mean
        assert v.tested_on[rows[layer]] == "typical"
    # with the mean test forced at those layers (a user claim of the same means), it rejects
    user = vg.verify(chain, np.asarray(law.grad_second_moment), simulation=sim)
    assert user.verdict is vg.Verdict.FAIL and {14, 15} & set(user.rejected_layers)
