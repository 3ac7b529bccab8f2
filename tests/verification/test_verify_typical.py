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
    # softplus + He at width 128: the lower layers' networks spread so much (ln-scale sd
    # ≈ 2.1, ≈ 1.5 after the forward control variate) that 300 of them cannot resolve the
    # typical value to within e^0.5 with the law's allowance (0.22 at layer 0)
    from vgmath.reporting.sections.depth import verdict_reason

    chain = vg.Chain("softplus", init="he", depth=30, width=128)
    v = vg.verify(chain, simulation=vg.simulate(chain, trials=300, seed=0))
    assert v.verdict is vg.Verdict.INCONCLUSIVE
    assert any(r.endswith("typical value too wide") for r in v.reason)
    assert "resolve their typical value" in verdict_reason(v)


def test_broad_laws_are_tested_at_every_layer_with_the_forward_control_variate() -> None:
    # GELU + He at width 128, 300 networks: ln-scale sd ≈ 4.4 at layer 0, of which the
    # forward path explains R² ≈ 0.9; with it as a control variate every layer is tested
    chain = vg.Chain("gelu", init="he", depth=30, width=128)
    law = vg.predict(chain, finite_width=True)
    sim = vg.simulate(chain, trials=300, seed=0)
    v = vg.verify(chain, law, simulation=sim)
    assert v.verdict is vg.Verdict.PASS and v.coverage.tested == v.coverage.claimed
    typical = [i for i, t in enumerate(v.tested_on) if t == "typical"]
    assert 0 in [int(v.layers[i]) for i in typical]
    assert any("control variate" in n for n in v.notes)
    # the control variate is what makes layer 0 testable: the plain sample mean's interval
    # is too wide for it
    from vgmath.theory.markov import forward_part

    logs = np.asarray(sim.samples["ln_grad_second_moment"])[:, :1]
    centre, allow = law.extras["ln_grad_mean"][:1], law.extras["ln_grad_error"][:1]
    level = 0.01 / len(v.layers)
    plain = typical_value_test(logs, centre, allow, level)
    part = forward_part(chain, sim.samples["activation_second_moment"])[:, :1]
    cv = typical_value_test(logs, centre, allow, level,
                            control=(part, law.extras["ln_grad_base"][:1]))
    assert float(cv.half_width[0] + allow[0]) <= 0.5 < float(plain.half_width[0] + allow[0])


def test_the_control_variate_is_calibrated_and_shrinks_the_interval() -> None:
    # x = c + e with c ~ N(0, 1) (mean known: 0) and e ~ N(0, 1/4): R² = 0.8. Under H0 the
    # rejection rate at 5 % over 4000 columns of 40 lies in the binomial 99.9 % range; the
    # half-width shrinks by about √(1 − R²) (the mean over columns, within 5 %)
    rng = np.random.default_rng(8)
    c = rng.standard_normal((40, 4000))
    x = c + 0.5 * rng.standard_normal((40, 4000))
    zero = np.zeros(4000)
    t = typical_value_test(x, zero, zero, 0.05, control=(c, zero))
    lo, hi = stats.binom.ppf([0.0005, 0.9995], 4000, 0.05)
    assert lo <= int((t.p_value <= 0.05).sum()) <= hi
    plain = typical_value_test(x, zero, zero, 0.05)
    ratio = float(np.mean(t.half_width) / np.mean(plain.half_width))
    assert abs(ratio - math.sqrt(0.2)) < 0.05 * math.sqrt(0.2) + 0.02
    # the test relies on the control's mean: a wrong one (off by 0.5) is caught
    off = typical_value_test(x, zero, zero, 0.05, control=(c, np.full(4000, 0.5)))
    assert int((off.p_value <= 0.05).sum()) > 0.9 * 4000
    with pytest.raises(vg.InvalidArgumentError, match="control"):
        typical_value_test(x, zero, zero, 0.05, control=(c[:, :3], zero))


def test_the_forward_part_has_the_mean_the_law_states() -> None:
    # E over networks of forward_part (a function of the simulated forward path) against
    # extras["ln_grad_base"], within 3 standard errors at every layer (4000 networks);
    # with a bias the path is s_m = σ_w² ‖x^{m−1}‖²/n + σ_b²
    from vgmath.theory.markov import forward_part

    for chain in (vg.Chain("gelu", init="he", depth=20, width=64),
                  vg.Chain("tanh", init="xavier", depth=20, width=32, sigma_b2=0.3)):
        law = vg.predict(chain, finite_width=True)
        sim = vg.simulate(chain, trials=4000, seed=17)
        part = forward_part(chain, sim.samples["activation_second_moment"])
        se = part.std(axis=0, ddof=1) / math.sqrt(part.shape[0])
        gap = np.abs(part.mean(axis=0) - law.extras["ln_grad_base"])
        np.testing.assert_array_less(gap, 3 * se + 1e-9)
    with pytest.raises(vg.InvalidArgumentError, match="shape"):
        forward_part(chain, np.ones((5, 3)))


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
