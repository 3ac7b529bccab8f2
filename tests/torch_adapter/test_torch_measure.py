"""``vgmath.torch.measure`` agrees with ``vg.simulate`` and ``vg.predict`` on MLPs built with
torch.nn.init, and ``vg.verify`` catches a mis-initialised layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from vgt_helpers import assert_agree, mlp

import vgmath as vg
import vgmath.torch as vgt

FIELDS = ("q", "activation_second_moment", "grad_second_moment", "grad_preact_second_moment",
          "grad_weight_second_moment")

CASES = {
    "relu-kaiming": (nn.ReLU, "kaiming", "he"),
    "tanh-xavier": (nn.Tanh, "xavier", "xavier"),
    "sigmoid-xavier": (nn.Sigmoid, "xavier_uniform", "xavier_uniform"),
    "selu-lecun": (nn.SELU, "lecun", "lecun"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_measure_agrees_with_simulate_and_predict(case: str) -> None:
    """K = 96 re-initialisations × 4 inputs against 400 simulated networks; the tolerance is
    the two runs' standard errors at a family-wise false-alarm rate of 1e-3."""
    act, init, scheme = CASES[case]
    torch.manual_seed(0)
    model = mlp(act, init, depth=8, width=128, n0=96)
    info = vgt.read_model(model)
    assert str(info.description.rule) == scheme
    assert info.deviations == ()
    measured = vgt.measure(model, 4, reinit=96, seed=1)
    assert measured.chain is info.description or measured.chain == info.description
    simulated = vg.simulate(measured.chain, trials=400, seed=2)
    assert_agree(measured, simulated, FIELDS)
    assert vg.verify(measured.chain, simulation=measured, seed=3).passed


@pytest.mark.slow
def test_builder_measures_the_users_own_init() -> None:
    def build() -> nn.Module:
        return mlp(nn.Tanh, "xavier", depth=6, width=96, n0=64, readout=None)

    measured = vgt.measure(build, 4, reinit=64, seed=0)
    assert "builder" in measured.metadata()["networks"]
    simulated = vg.simulate(measured.chain, trials=300, seed=1)
    assert_agree(measured, simulated, FIELDS)


@pytest.mark.slow
@pytest.mark.quality
@pytest.mark.parametrize("how", ["module", "builder"])
def test_a_layer_with_std_times_1_2_is_caught(how: str) -> None:
    """Layer 3 of a ReLU/He MLP has std × 1.2 (variance × 1.44): the description (He, the
    scheme of the other layers) lists it, and verify rejects the measured profile below it;
    the same model without the fault passes."""
    def build(fault: bool) -> nn.Module:
        return mlp(nn.ReLU, "kaiming", depth=10, width=128, scale_layer=3 if fault else None)

    torch.manual_seed(5)
    bad = build(True)
    info = vgt.read_model(bad)
    assert [d.layer for d in info.deviations] == [3]
    assert info.deviations[0].ratio == pytest.approx(1.44, rel=0.05)
    assert str(info.description.rule) == "he"
    model = bad if how == "module" else (lambda: build(True))
    m = vgt.measure(model, 4, reinit=128, seed=0, description=info.description)
    v = vg.verify(info.description, measured=m)
    assert v.verdict == vg.Verdict.FAIL
    rejected = set(v.layers[v.rejected].tolist())
    assert rejected and max(rejected) < 3
    good = build(False)
    # 128 re-initialisations (with 64 some layer's interval or tail is too uncertain to count as
    # tested, and the verdict is INCONCLUSIVE: never PASS, never FAIL, on untested layers)
    m_ok = vgt.measure(good, 4, reinit=128, seed=0, description=info.description)
    assert vg.verify(info.description, measured=m_ok).verdict == vg.Verdict.PASS


def test_measure_is_reproducible_and_exports_like_simulate(tmp_path) -> None:
    torch.manual_seed(0)
    model = mlp(nn.ReLU, "kaiming", depth=3, width=32)
    a = vgt.measure(model, 2, reinit=5, seed=7)
    b = vgt.measure(model, 2, reinit=5, seed=7)
    np.testing.assert_array_equal(a.grad_second_moment, b.grad_second_moment)
    assert a.method == "torch" and a.trials == 5
    assert set(a.fields) == set(vg.simulate(a.chain, trials=4, seed=0).fields) - {
        "ln_param_grad_norm"}
    d = a.to_dict()
    assert d["kind"] == "simulation" and len(d["fields"]["grad_second_moment"]) == 4
    assert "read-out" in d["output_gradient"]
    path = a.save(tmp_path / "m.json")
    assert json.loads(path.read_text())["trials"] == 5
    assert a.save(tmp_path / "m.csv").read_text().count("\n") > 4
    # the user's module is left as it was
    w0 = model[0].weight.detach().clone()
    vgt.measure(model, 1, reinit=2, seed=0)
    assert torch.equal(model[0].weight, w0)


def test_the_first_network_at_reinit_zero_is_the_module_itself() -> None:
    torch.manual_seed(0)
    model = mlp(nn.Tanh, "xavier", depth=2, width=16, readout=None).double()
    x = torch.randn(3, 16, dtype=torch.float64)
    m = vgt.measure(model, x, reinit=0, seed=0)
    with torch.no_grad():
        h1, out = model[0](x), model(x)
    assert m.q[1] == pytest.approx(float((h1**2).mean()), rel=1e-12)
    assert m.activation_second_moment[2] == pytest.approx(float((out**2).mean()), rel=1e-12)
    assert m.trials == 1


def test_exact_gradient_against_a_hand_written_loop() -> None:
    """The measured ‖g^0‖²/n_0 is autograd's, for the seeded output gradient."""
    torch.manual_seed(0)
    model = mlp(nn.ReLU, "kaiming", depth=3, width=16, readout=None).double()
    x = torch.randn(1, 16, dtype=torch.float64)
    m = vgt.measure(model, x, reinit=0, seed=3)
    from vgmath.torch.measurement import _seed_k

    gen = torch.Generator().manual_seed(_seed_k(3, 0))
    xr = x.clone().requires_grad_(True)
    out = model(xr)
    g = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (gx,) = torch.autograd.grad(out, xr, grad_outputs=g)
    assert m.grad_second_moment[0] == pytest.approx(float((gx**2).mean()), rel=1e-12)
