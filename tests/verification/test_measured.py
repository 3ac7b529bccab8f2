"""``vg.verify(description, measured=...)``: measurements of a real model take the place of a
simulation (the PyTorch adapter's route), with the same verdict as ``simulation=``."""

from __future__ import annotations

import pytest

import vgmath as vg


def test_measured_is_the_simulation_route() -> None:
    chain = vg.Chain("tanh", init="xavier", depth=4, width=16)
    sim = vg.simulate(chain, trials=60, seed=1)
    a = vg.verify(chain, measured=sim)
    b = vg.verify(chain, simulation=sim)
    assert a.verdict == b.verdict
    assert list(a.p_adjusted) == pytest.approx(list(b.p_adjusted), nan_ok=True)
    with pytest.raises(vg.InvalidArgumentError) as err:
        vg.verify(chain, measured=sim, simulation=sim)
    assert err.value.argument == "measured"
