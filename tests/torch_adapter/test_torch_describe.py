"""``vgmath.torch.describe``: activations, the init read from the weights, biases, read-outs
and one clear error for what it cannot describe."""

from __future__ import annotations

import pytest
import sympy as sp
import torch
from torch import nn
from vgt_helpers import mlp

import vgmath as vg
import vgmath.torch as vgt

ACTIVATIONS = [
    (nn.ReLU(), "relu"), (nn.Tanh(), "tanh"), (nn.Sigmoid(), "sigmoid"),
    (nn.GELU(), "gelu"), (nn.GELU(approximate="tanh"), "gelu_tanh"), (nn.SiLU(), "silu(beta=1)"),
    (nn.ELU(alpha=0.5), "elu(alpha=1/2)"), (nn.SELU(), "selu"),
    (nn.LeakyReLU(0.2), "leaky_relu(slope=1/5)"), (nn.Softplus(beta=2), "softplus(beta=2)"),
    (nn.Mish(), "mish"), (nn.Hardtanh(), "hard_tanh"), (nn.Hardsigmoid(), "hard_sigmoid"),
    (nn.Softsign(), "softsign"),
]


@pytest.mark.parametrize(("module", "label"), ACTIVATIONS, ids=[a[1] for a in ACTIVATIONS])
def test_every_catalog_activation_module(module: nn.Module, label: str) -> None:
    chain = vgt.describe(nn.Sequential(nn.Linear(8, 8), module, nn.Linear(8, 8), module))
    assert chain.act.label == label and chain.depth == 2


@pytest.mark.parametrize(("init", "scheme", "label"), [
    ("kaiming", "he", "kaiming_normal_(nonlinearity='relu')"),
    ("kaiming_uniform", "he_uniform", "kaiming_uniform_(nonlinearity='relu')"),
    ("xavier", "xavier", "xavier_normal_(w)"),
    ("xavier_uniform", "xavier_uniform", "xavier_uniform_(w)"),
    ("xavier_tanh", "xavier", "xavier_normal_(w, gain=calculate_gain('tanh'))"),
    ("lecun", "lecun", "kaiming_normal_(nonlinearity='linear')"),
    ("orthogonal", "orthogonal", "orthogonal_(w)"),
    ("default", "he_uniform", "nn.Linear default: kaiming_uniform_(a=√5)"),
])
def test_the_init_is_recognised_from_the_weights(init: str, scheme: str, label: str) -> None:
    torch.manual_seed(0)
    info = vgt.read_model(mlp(nn.Tanh, init, depth=4, width=96, n0=48, bias=True))
    assert str(info.description.rule) == scheme
    assert info.scheme == label
    assert info.deviations == ()
    if init == "xavier_tanh":
        assert info.description.rule.scale == sp.Rational(25, 9)
    if init == "default":  # nn.Linear's defaults: Var(W) = 1/(3 n_in), biases U(±1/√n_in)
        assert info.description.rule.variance(96, 96) == sp.Rational(1, 288)
        assert info.description.sigma_b2 == sp.Rational(1, 288)
    else:
        assert info.description.sigma_b2 == 0


def test_widths_bias_and_readout() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 30, bias=False), nn.ReLU(), nn.Linear(30, 40, bias=False),
                          nn.ReLU(), nn.Linear(40, 3))
    info = vgt.read_model(model, inputs=2 * torch.ones(5, 20))
    chain = info.description
    assert chain.widths == (20, 30, 40) and chain.input_q == 4
    assert [i.bias for i in info.layers] == ["none", "none"]
    assert info.readout is not None and info.readout.path == "4"
    assert "read-out nn.Linear at '4'" in info.convention
    no_readout = vgt.read_model(nn.Sequential(nn.Linear(4, 4), nn.Tanh()))
    assert no_readout.readout is None and "ends with φ" in no_readout.convention


def test_a_custom_std_is_read_as_sigma_w2() -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(5):
        lin = nn.Linear(200, 200, bias=False)
        nn.init.normal_(lin.weight, std=1.3 / 200**0.5)
        layers += [lin, nn.Tanh()]
    info = vgt.read_model(nn.Sequential(*layers))
    assert info.scheme is None and info.description.rule.name == "custom"
    assert float(info.description.rule.scale) == pytest.approx(1.69, rel=0.02)


@pytest.mark.parametrize(("model", "message"), [
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Conv1d(1, 1, 1)), "nn.Conv1d at '2'"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU6()), "nn.ReLU6 at '1'"),
    (nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), nn.Tanh()),
     "nn.LayerNorm at '0.1'"),
    (nn.Sequential(nn.Linear(4, 4), nn.Hardtanh(-2, 2)), "Hardtanh(-1, 1)"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh()), "one activation"),
    (nn.Sequential(nn.ReLU(), nn.Linear(4, 4)), "expected nn.Linear"),
])
def test_unsupported_modules_raise_one_clear_error(model: nn.Module, message: str) -> None:
    with pytest.raises(vgt.UnsupportedModelError, match=message.replace("(", r"\(").replace(
            ")", r"\)")):
        vgt.describe(model)


def test_not_a_module() -> None:
    with pytest.raises(vg.InvalidArgumentError, match=r"nn\.Module"):
        vgt.describe("not a model")


def test_summary_and_to_dict() -> None:
    torch.manual_seed(0)
    info = vgt.read_model(mlp(nn.ReLU, "kaiming", depth=3, width=32, scale_layer=2, scale=2.0))
    text = info.summary()
    assert "deviates" in text and "layer 2" in text
    d = info.to_dict()
    assert d["kind"] == "chain" and len(d["layers"]) == 3 and d["layers"][1]["matches"] is False
