"""Claims about batch-normalised and recurrent networks: vg.verify and ``vgmath verify --arch``
take every architecture ``vgmath simulate`` does. vgmath has no prediction and no
finite-width bias model for them, so a claim is tested only against an allowance the user
states (``tolerance``) or as a claim about the finite-width mean itself
(``finite_width=False``); otherwise the answer is INCONCLUSIVE, never PASS."""

from __future__ import annotations

import numpy as np
import pytest

import vgmath as vg
from vgmath.cli import main


@pytest.fixture(scope="module")
def rnn() -> tuple[vg.Recurrent, vg.Simulation, vg.Simulation]:
    """A tanh RNN (orthogonal weights, 12 steps, width 32) and two independent ensembles: a
    reference of 4000 networks whose means serve as a "claim", and a test run of 1000."""
    net = vg.Recurrent(cell="rnn", activation="tanh", hidden=32, steps=12, init="orthogonal")
    return net, vg.simulate(net, trials=4000, seed=11), vg.simulate(net, trials=1000, seed=12)


def _means(sim: vg.Simulation) -> np.ndarray:
    return np.asarray(sim.fields["grad_second_moment"], dtype=float)


def test_a_claim_about_a_recurrent_net_needs_an_allowance(rnn) -> None:
    net, ref, sim = rnn
    claim = _means(ref)
    # no allowance: nothing is testable, so the verdict cannot be PASS
    v = vg.verify(net, claim, simulation=sim)
    assert v.verdict is vg.Verdict.INCONCLUSIVE and not v.passed
    assert "recurrent" in v.reason[0]
    # the finite-width mean itself: the reference means are right up to their own error
    # (SE of 4000 networks ≈ half that of 1000), so the claim passes at α = 0.01
    ok = vg.verify(net, claim, simulation=sim, finite_width=False)
    assert ok.verdict is vg.Verdict.PASS and ok.coverage.layer0_tested
    # ×2 at every step is far outside the interval of 1000 networks: FAIL
    bad = vg.verify(net, 2 * claim, simulation=sim, finite_width=False)
    assert bad.verdict is vg.Verdict.FAIL and 0 in bad.rejected_layers
    # an allowance of 0.1 in ln units tests the claim within a factor e^0.1
    near = vg.verify(net, claim, simulation=sim, tolerance=0.1)
    assert near.verdict is vg.Verdict.PASS


def test_the_default_claim_is_refused_where_vgmath_has_no_theory(rnn) -> None:
    net, _, sim = rnn
    with pytest.raises(vg.InvalidArgumentError, match=r"claim.*no prediction for recurrent"):
        vg.verify(net, simulation=sim)
    # a batch-normalised chain has vgmath's infinite-width prediction (theory.batchnorm) but
    # no finite-width bias model: untestable without an allowance for the width
    bn = vg.Chain("relu", init="he", depth=4, width=16, norm="batch", batch=8)
    v = vg.verify(bn, trials=10, seed=0)
    assert v.verdict is vg.Verdict.INCONCLUSIVE and "batch-normalised" in v.reason[0]


def test_cli_arch_bn_and_recurrent(capsys: pytest.CaptureFixture[str]) -> None:
    bn = ["verify", "relu", "--init", "he", "--arch", "bn", "--depth", "6", "--width", "32",
          "--trials", "200"]
    assert main([*bn, "--claim", "1"]) == 3  # no finite-width model: INCONCLUSIVE
    assert "batch-normalised" in capsys.readouterr().out
    assert main(bn) == 3  # vgmath's prediction, but no finite-width model: INCONCLUSIVE
    assert "batch-normalised" in capsys.readouterr().out
    lstm = ["verify", "--arch", "lstm", "--steps", "10", "--width", "32", "--trials", "200"]
    assert main([*lstm, "--within", "4"]) == 1  # E‖g⁰‖² ≈ 0.02 of the output's: FAIL
    assert main([*lstm, "--within", "1000"]) == 0
    assert main(["verify", "relu", "--arch", "rnn", "--branch-alpha", "0.5",
                 "--claim", "1"]) == 2
    assert "--branch-alpha" in capsys.readouterr().err
