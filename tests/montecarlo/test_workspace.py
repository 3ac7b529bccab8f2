"""The conditioned sampler's reused buffers: results never depend on what ran before, on
which buffers a block got, or on other simulations running at the same time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

import vgmath as vg
from vgmath.montecarlo import sampler


def samples(sim: vg.Simulation) -> dict[str, np.ndarray]:
    out = {k: v for k, v in sim.samples.items() if k.startswith("ln_")}
    assert out, "no ln_ samples to compare"
    return out


def same(a: vg.Simulation, b: vg.Simulation) -> bool:
    return all(np.array_equal(x, samples(b)[k], equal_nan=True) for k, x in samples(a).items())


def test_reused_buffers_give_identical_results():
    chain = vg.Chain("tanh", init="xavier", depth=6, width=[5, 9, 4, 7, 7, 3, 8],
                     sigma_b2="1/10")
    sampler._WORKSPACE.clear()
    fresh = vg.simulate(chain, trials=40, seed=3, block_size=8)
    assert sampler._WORKSPACE  # kept for the next block or run
    # poison the kept buffers: a run must overwrite everything it reads
    for arr in next(iter(sampler._WORKSPACE.values())).values():
        if isinstance(arr, np.ndarray):
            arr.fill(np.nan)
    again = vg.simulate(chain, trials=40, seed=3, block_size=8)
    assert same(fresh, again)


def test_concurrent_simulations_do_not_share_buffers():
    # same shapes, so that any shared buffer (the workspace, the fused kernels' scratch)
    # would be written by two threads at once
    chains = [vg.Chain(name, init="xavier", depth=20, width=64) for name in
              ("gelu", "sigmoid", "gelu", "mish", "erf", "sigmoid")]
    serial = [vg.simulate(c, trials=64, seed=i, block_size=16) for i, c in enumerate(chains)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        threaded = list(pool.map(
            lambda ic: vg.simulate(ic[1], trials=64, seed=ic[0], block_size=16),
            enumerate(chains)))
    for a, b in zip(serial, threaded, strict=True):
        assert same(a, b)


def test_only_workspaces_up_to_the_limit_are_kept(monkeypatch):
    chain = vg.Chain("relu", init="he", depth=10, width=64)
    vg.simulate(chain, trials=32, seed=0, block_size=32)
    assert sampler._WORKSPACE
    sampler.release_buffers()
    assert not sampler._WORKSPACE
    monkeypatch.setattr(sampler, "_KEEP_BYTES", 1000)  # below this workspace's size
    vg.simulate(chain, trials=32, seed=0, block_size=32)
    assert not sampler._WORKSPACE
