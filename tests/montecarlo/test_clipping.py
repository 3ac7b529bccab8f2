"""Gradient clipping by global norm: the transform on explicit arrays (bound, direction,
identity below the threshold) and on simulated exploding networks (chains, residual,
batch-normalised and recurrent), with the clipped-vs-unclipped report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

import vgmath as vg
from vgmath import InvalidArgumentError
from vgmath.cli import main
from vgmath.montecarlo.clipping import ln_param_grad_norm

ALPHA = 1e-3
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


@given(
    st.lists(arrays(np.float64, st.integers(1, 6), elements=finite), min_size=1, max_size=4),
    st.floats(1e-3, 1e3),
)
def test_clipped_norm_never_exceeds_c_and_direction_is_kept(grads, c):
    clipped, norm = vg.clip_grad_norm(grads, c)
    flat = np.concatenate([g.ravel() for g in grads])
    out = np.concatenate([g.ravel() for g in clipped])
    assert norm == pytest.approx(float(np.linalg.norm(flat)), rel=1e-12, abs=1e-300)
    new = float(np.linalg.norm(out))
    assert new <= c * (1 + 1e-12)  # rounding of one multiplication and one norm
    if norm <= c:
        np.testing.assert_array_equal(out, flat)  # below the threshold: untouched
    else:
        assert new == pytest.approx(c, rel=1e-12)
        # same direction: a positive multiple of the original, identical for every array
        factor = c / norm
        np.testing.assert_allclose(out, flat * factor, rtol=1e-12, atol=0)
        assert float(out @ flat) > 0


def test_clip_grad_norm_example_and_errors():
    clipped, norm = vg.clip_grad_norm([np.array([3.0]), np.array([[4.0]])], 1)
    assert norm == 5.0 and clipped[0][0] == pytest.approx(0.6) and clipped[1].shape == (1, 1)
    for bad in (0, -1, "inf", "nan"):
        with pytest.raises(InvalidArgumentError, match="clip_norm"):
            vg.clip_grad_norm([np.ones(2)], bad)
    with pytest.raises(InvalidArgumentError, match="grads"):
        vg.clip_grad_norm([], 1)
    with pytest.raises(InvalidArgumentError, match="clip_norm"):
        vg.simulate(vg.Chain("tanh", depth=2, width=4), trials=2, seed=0, clip_norm=-2)


EXPLODING = [
    vg.Chain("tanh", init={"scheme": "custom", "sigma_w2": 4}, depth=20, width=64),
    vg.Chain("relu", init={"scheme": "custom", "sigma_w2": 3}, depth=20, width=64),
    vg.Chain("relu", init="he", depth=12, width=32, norm="batch", batch=16),
    vg.Chain("relu", init="he", depth=12, width=32, residual=vg.Residual(alpha=1)),
    vg.Recurrent("rnn", activation="relu", hidden=16, steps=20,
                 init={"scheme": "orthogonal", "gain": "6/5"}),
]


@pytest.mark.parametrize("net", EXPLODING, ids=lambda n: str(n))
def test_clipping_exploding_networks(net):
    c = 1.0
    sim = vg.simulate(net, trials=40, seed=0, clip_norm=c)
    log_norm = sim.samples["ln_param_grad_norm"]
    log_clipped = sim.samples["ln_clipped_param_grad_norm"]
    factor = sim.samples["clip_factor"]
    assert (log_clipped <= math.log(c) + 1e-12).all()  # never above c
    assert ((factor > 0) & (factor <= 1)).all()
    np.testing.assert_allclose(log_clipped, np.minimum(log_norm, math.log(c)), atol=1e-12)
    # direction: every layer's weight gradient is scaled by the same factor
    lw = sim.samples["ln_grad_weight_second_moment"][:, 1:]
    lwc = sim.samples["ln_clipped_grad_weight_second_moment"][:, 1:]
    np.testing.assert_allclose(lwc - lw, np.repeat(2 * np.log(factor)[:, None], lw.shape[1], 1),
                               atol=1e-9)
    report = vg.clip_report(sim)
    assert report.max_clipped <= c * (1 + 1e-12)
    assert report.fraction_clipped == 1.0  # these configurations explode: all are clipped
    assert report.unclipped[0] > c and all(v == pytest.approx(c) for v in report.clipped)
    assert "clip_norm" in sim.metadata() and "clipping" in report.table()
    assert sim.fields["clipped_grad_weight_second_moment"][1] <= sim.grad_weight_second_moment[1]


def test_unclipped_networks_are_untouched():
    sim = vg.simulate(vg.Chain("tanh", init="xavier", depth=3, width=8), trials=20, seed=0,
                      clip_norm=1e6)
    assert (sim.samples["clip_factor"] == 1.0).all()
    np.testing.assert_allclose(sim.fields["clipped_grad_weight_second_moment"][1:],
                               sim.grad_weight_second_moment[1:], rtol=1e-12)
    assert vg.clip_report(sim).fraction_clipped == 0.0
    with pytest.raises(InvalidArgumentError, match="clip_norm"):
        vg.clip_report(vg.simulate(vg.Chain("tanh", depth=2, width=4), trials=3, seed=0))


@pytest.mark.slow
def test_plain_chain_parameter_norm_agrees_with_a_direct_computation():
    """For a plain chain ‖∂E/∂θ‖ is assembled from per-layer samples; the batch kernel with
    one input and no normalisation computes it directly from the gradient vectors. Same law
    (two-sample KS on ln‖∂E/∂θ‖, and a z test of the means)."""
    from vgmath.montecarlo.architectures import BatchKernel

    chain = vg.Chain("tanh", init={"scheme": "custom", "sigma_w2": 2}, depth=5, width=12,
                     sigma_b2="1/5")
    a = ln_param_grad_norm(vg.simulate(chain, trials=400, seed=1))
    kernel = BatchKernel(chain, method="conditioned", dtype=np.float64, batch=1,
                         normalise=False)
    b = kernel.run(np.random.default_rng(9), 400)["ln_param_grad_norm"]
    assert stats.ks_2samp(a, b).pvalue > ALPHA
    z = (a.mean() - b.mean()) / math.hypot(a.std(ddof=1) / 20, b.std(ddof=1) / 20)
    assert 2 * stats.norm.sf(abs(z)) > ALPHA


def test_cli_clip_and_json(capsys):
    assert main(["simulate", "relu", "--init", "custom", "--init-param", "sigma_w2=3",
                 "--depth", "10", "--width", "16", "--trials", "10", "--clip", "2"]) == 0
    out = capsys.readouterr().out
    assert "gradient clipping by norm, c = 2" in out
    assert main(["simulate", "relu", "--depth", "3", "--width", "8", "--trials", "5",
                 "--clip", "2", "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["clipping"]["clip_norm"] == 2.0 and data["clip_norm"] == 2.0
    assert main(["simulate", "relu", "--trials", "2", "--clip", "0"]) == 2
