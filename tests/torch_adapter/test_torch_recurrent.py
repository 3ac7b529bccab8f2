"""``nn.RNN``/``nn.LSTM``/``nn.GRU``: read as vgmath ``Recurrent`` networks with PyTorch's own
defaults (every weight and bias U(−1/√n, 1/√n), h₀ = 0) and measured step by step."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from torch import nn
from vgt_helpers import assert_agree

import vgmath as vg
import vgmath.torch as vgt


def test_pytorch_defaults_are_read_from_the_weights() -> None:
    torch.manual_seed(0)
    net = vgt.describe(nn.LSTM(16, 64), steps=30)
    assert isinstance(net, vg.Recurrent) and net.cell == "lstm" and net.steps == 30
    assert net.weight_variance == sp.Rational(1, 192)  # 1/(3n), per gate block
    assert net.input_variance == sp.Rational(1, 192)  # 1/(3n) too: fan n, not the input size
    assert net.sigma_b2 == sp.Rational(2, 192)  # b_ih + b_hh
    assert net.h0_q == 0 and net.input_size == 16
    rnn = vgt.describe(nn.RNN(8, 32, nonlinearity="relu"), steps=5)
    assert rnn.cell == "rnn" and rnn.act.label == "relu"


def test_orthogonal_on_the_stacked_matrix_is_not_per_block() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(8, 32)
    nn.init.orthogonal_(lstm.weight_hh_l0)
    info = vgt.read_model(lstm, steps=10)
    assert info.description.rule.name == "custom"
    assert float(info.description.weight_variance) == pytest.approx(1 / (4 * 32), rel=1e-3)
    assert any("stacked (4n × n)" in n for n in info.notes)
    rnn = nn.RNN(8, 32)
    nn.init.orthogonal_(rnn.weight_hh_l0)
    assert str(vgt.describe(rnn, steps=10).rule) == "orthogonal"


def test_forget_bias_and_errors() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(8, 32)
    with torch.no_grad():
        lstm.bias_ih_l0[32:64] += 1.0
    assert vgt.describe(lstm, steps=4).forget_bias == 1
    with pytest.raises(vg.InvalidArgumentError, match="steps"):
        vgt.describe(lstm)
    with pytest.raises(vgt.UnsupportedModelError, match="one layer"):
        vgt.describe(nn.GRU(4, 4, num_layers=2), steps=3)


@pytest.mark.slow
@pytest.mark.parametrize(("cls", "orthogonal"), [(nn.RNN, False), (nn.LSTM, False),
                                                 (nn.GRU, False), (nn.RNN, True)])
def test_measure_agrees_with_simulate(cls: type[nn.Module], orthogonal: bool) -> None:
    """64 networks × 8 sequences of 20 steps against 256 simulated networks; tolerance from
    both standard errors (family-wise 1e-3). The PyTorch defaults are read from the model,
    so this is also the check of the corrected recipe (input weights and biases drawn,
    h₀ = 0)."""

    def build() -> nn.Module:
        r = cls(16, 32)
        if orthogonal:
            nn.init.orthogonal_(r.weight_hh_l0)
        return r

    torch.manual_seed(0)
    info = vgt.read_model(build(), steps=20)
    measured = vgt.measure(build, 8, reinit=64, seed=0, steps=20, info=info)
    simulated = vg.simulate(info.description, trials=256, seed=1)
    fields = ["activation_second_moment", "grad_second_moment"]
    if cls is not nn.GRU:
        fields.append("q")
    assert_agree(measured, simulated, fields)


def test_a_module_is_redrawn_and_left_unchanged() -> None:
    torch.manual_seed(0)
    gru = nn.GRU(4, 8, batch_first=True)
    w0 = gru.weight_hh_l0.detach().clone()
    m = vgt.measure(gru, torch.randn(3, 6, 4), reinit=4, seed=0)
    assert m.trials == 4 and m.depth == 6 and torch.equal(gru.weight_hh_l0, w0)
