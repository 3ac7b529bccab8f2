"""Benchmark of vgmath's Monte Carlo engine (vg.simulate), printed side by side in one run.

    python benchmarks/bench_simulate.py            # full run (a few minutes)
    python benchmarks/bench_simulate.py --quick    # smaller sizes, for a smoke test
    python benchmarks/bench_simulate.py --only floor orthogonal   # sections 5 and 6

1. This machine's Gaussian random-number rate: ``Generator.standard_normal(out=...)`` on a
   large block (the floor of any exact sampler: the conditioned method needs ~2·n·L draws
   per network), in float64 and float32.
2. The conditioned sampler's throughput (random numbers consumed per second, all work
   included) as a fraction of that rate. Target: >= 50%. Both are single-threaded and timed
   in process CPU time, so the fraction is not distorted by other processes on the machine.
3. The dense sampler (explicit weight matrices, ordinary backprop) against PyTorch CPU
   autograd on the same ensemble (same chain, same number of independent networks): a loop
   over networks, as a PyTorch user would write it, and a batched version (bmm over the
   networks). Target: at least as fast as the loop. PyTorch is optional (``pip install
   torch``); its columns are skipped when it is absent.
4. Peak memory (tracemalloc) for two trial counts: the working set of one block does not
   grow with ``trials``; only the stored per-network results do.
5. Every catalog activation at width 512, depth 50, float64 and float32: ``vg.simulate`` per
   network against the RNG floor (2·n·L normals per network, filled into a reused buffer),
   measured interleaved in one run, best of ``--repeat``, process CPU time. "% of floor" =
   floor time / simulate time per network. Target: >= 60% for every activation.
6. Orthogonal weights at the same size: the conditioned Haar sampler against the Gaussian
   one (target: within 2x) and against dense QR sampling (one network), and both samplers
   against the PyTorch autograd loop a user would write (one network at a time, dense
   weights; skipped without torch).
"""

from __future__ import annotations

import argparse
import math
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import vgmath as vg
from vgmath.montecarlo.kernels import make_kernel
from vgmath.montecarlo.simulation import default_block_size


def best_of(fn: Callable[[], Any], repeat: int, *, cpu: bool = False) -> float:
    """Shortest time of ``repeat`` calls: wall time, or process CPU time with ``cpu``."""
    clock = time.process_time if cpu else time.perf_counter
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def rng_rate(dtype: Any, count: int, repeat: int) -> float:
    """Normals per CPU second of one Generator filling a large block."""
    rng = np.random.Generator(np.random.PCG64(0))
    buf = np.empty(count, dtype=dtype)
    return count / best_of(lambda: rng.standard_normal(out=buf, dtype=dtype), repeat, cpu=True)


def conditioned_rows(quick: bool, repeat: int) -> list[str]:
    n, depth, trials = (128, 30, 256) if quick else (256, 100, 512)
    rates = {dt: rng_rate(dt, 2**22 if quick else 2**24, repeat) for dt in (np.float64,
                                                                             np.float32)}
    rows = [
        (f"machine RNG rate (standard_normal, out=, large block): "
        f"float64 {rates[np.float64] / 1e6:.1f} M/s, float32 {rates[np.float32] / 1e6:.1f} M/s"),
        "",
        (f"conditioned sampler, width {n}, depth {depth}, {trials} networks "
        "(draws = forward + backward normals + g^L)"),
        f"{'chain':<28}{'dtype':<9}{'CPU s':>8}{'draws/s':>12}{'of RNG':>9}",
    ]
    for act, init in (("relu", "he"), ("identity", "xavier"), ("tanh", "xavier"),
                      ("sigmoid", "xavier")):
        chain = vg.Chain(act, init=init, depth=depth, width=n)
        for dt in (np.float64, np.float32):
            kernel = make_kernel(chain, method="conditioned", dtype=dt)
            draws = trials * kernel.draws_per_network()
            vg.simulate(chain, trials=min(trials, 64), seed=0, dtype=dt)  # warm-up
            t = best_of(lambda c=chain, d=dt: vg.simulate(c, trials=trials, seed=1, dtype=d),
                        repeat, cpu=True)
            rate = draws / t
            rows.append(
                f"{act + ' + ' + init:<28}{np.dtype(dt).name:<9}{t:>8.3f}{rate / 1e6:>10.1f} M"
                f"{rate / rates[dt]:>9.0%}"
            )
    return rows


def _torch_loop(torch: Any, chain: vg.Chain, trials: int, dtype: Any) -> None:
    """Per network: fresh weights, forward with autograd, backward from g^L ~ N(0, I),
    then the same per-layer statistics vg.simulate records."""
    ns, L = chain.widths, chain.depth
    stds = [math.sqrt(float(v)) for v in chain.weight_variances]
    act = torch.tanh if chain.act.name == "tanh" else torch.relu
    x0 = torch.full((ns[0],), math.sqrt(float(chain.input_q)), dtype=dtype)
    for _ in range(trials):
        ws = [torch.randn(ns[l + 1], ns[l], dtype=dtype) * stds[l] for l in range(L)]
        x = x0.clone().requires_grad_(True)
        xs, hs = [x], []
        for w in ws:
            h = w @ xs[-1]
            h.retain_grad()
            hs.append(h)
            nx = act(h)
            nx.retain_grad()
            xs.append(nx)
        g_out = torch.randn(ns[L], dtype=dtype)
        (xs[-1] * g_out).sum().backward()
        stats = [float((t.grad**2).mean()) for t in xs] + [float((t.grad**2).mean()) for t in hs]
        stats += [float((h.detach() ** 2).mean()) for h in hs]
        assert all(math.isfinite(s) for s in stats)


def _torch_batched(torch: Any, chain: vg.Chain, trials: int, dtype: Any, block: int) -> None:
    ns, L = chain.widths, chain.depth
    stds = [math.sqrt(float(v)) for v in chain.weight_variances]
    act = torch.tanh if chain.act.name == "tanh" else torch.relu
    done = 0
    while done < trials:
        B = min(block, trials - done)
        done += B
        ws = [torch.randn(B, ns[l + 1], ns[l], dtype=dtype) * stds[l] for l in range(L)]
        x = torch.full((B, ns[0], 1), math.sqrt(float(chain.input_q)), dtype=dtype)
        x.requires_grad_(True)
        xs, hs = [x], []
        for w in ws:
            h = torch.bmm(w, xs[-1])
            h.retain_grad()
            hs.append(h)
            nx = act(h)
            nx.retain_grad()
            xs.append(nx)
        g_out = torch.randn(B, ns[L], 1, dtype=dtype)
        (xs[-1] * g_out).sum().backward()
        stats = [(t.grad**2).mean(dim=(1, 2)) for t in xs + hs]
        stats += [(h.detach() ** 2).mean(dim=(1, 2)) for h in hs]
        assert all(bool(torch.isfinite(s).all()) for s in stats)


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(best wall time, best process CPU time summed over threads) of ``repeat`` calls."""
    return best_of(fn, repeat), best_of(fn, repeat, cpu=True)


def dense_rows(quick: bool, repeat: int) -> list[str]:
    n, depth, trials = (64, 10, 64) if quick else (128, 20, 128)
    rows = [
        f"dense sampler vs PyTorch CPU autograd, width {n}, depth {depth}, {trials} networks",
        "times are wall / CPU seconds (CPU summed over threads; both may use several threads)",
    ]
    try:
        import torch
    except ImportError:
        torch = None
        rows.append("PyTorch not installed: its columns are skipped (pip install torch)")
    if torch is not None:
        rows.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows.append(f"{'chain':<16}{'dtype':<9}{'vgmath':>14}{'torch loop':>14}{'ratio':>12}"
                f"{'torch bmm':>14}{'ratio':>12}")

    def pair(t: tuple[float, float]) -> str:
        return f"{t[0]:.2f} / {t[1]:.2f}"

    def ratio(a: tuple[float, float], b: tuple[float, float]) -> str:
        return f"{a[0] / b[0]:.1f} / {a[1] / b[1]:.1f}"

    for act, init in (("tanh", "xavier"), ("relu", "he")):
        chain = vg.Chain(act, init=init, depth=depth, width=n)
        for dt in (np.float64, np.float32):
            vg.simulate(chain, trials=8, seed=0, method="dense", dtype=dt)
            t_np = timed(lambda c=chain, d=dt: vg.simulate(c, trials=trials, seed=1,
                                                          method="dense", dtype=d), repeat)
            cells = f"{act + ' + ' + init:<16}{np.dtype(dt).name:<9}{pair(t_np):>14}"
            if torch is not None:
                tdt = torch.float64 if dt == np.float64 else torch.float32
                torch.manual_seed(0)
                block = default_block_size(make_kernel(chain, method="dense", dtype=dt))
                t_loop = timed(lambda c=chain, d=tdt: _torch_loop(torch, c, trials, d), repeat)
                t_bmm = timed(
                    lambda c=chain, d=tdt, b=block: _torch_batched(torch, c, trials, d, b), repeat
                )
                cells += (f"{pair(t_loop):>14}{ratio(t_loop, t_np):>12}"
                          f"{pair(t_bmm):>14}{ratio(t_bmm, t_np):>12}")
            else:
                cells += f"{'-':>14}{'-':>12}{'-':>14}{'-':>12}"
            rows.append(cells)
    rows.append("(ratio = PyTorch time / vgmath time, wall / CPU; > 1 means vgmath is faster)")
    return rows


def memory_rows(quick: bool) -> list[str]:
    chain = vg.Chain("tanh", init="xavier", depth=50, width=128)
    small = 256 if quick else 512
    rows = [f"peak memory (tracemalloc), {chain}, block size fixed at 64"]
    rows.append(f"{'trials':>8}{'peak MiB':>10}{'results MiB':>13}{'peak - results MiB':>20}")
    for trials in (small, 4 * small):
        tracemalloc.start()
        sim = vg.simulate(chain, trials=trials, seed=0, block_size=64)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results = 5 * trials * (chain.depth + 1) * 8  # the stored per-network logs
        rows.append(f"{trials:>8}{peak / 2**20:>10.1f}{results / 2**20:>13.1f}"
                    f"{(peak - results) / 2**20:>20.1f}")
        del sim
    return rows


#: the init each activation is usually paired with (He for the ReLU family)
def _natural_init(name: str) -> str:
    return "he" if name in ("relu", "leaky_relu") else "xavier"


def _floor_and_simulate(chain: vg.Chain, dtype: Any, trials: int, repeat: int) -> tuple[
        float, float]:
    """(floor, simulate) CPU seconds per network, best of ``repeat``, interleaved."""
    n_draws = 2 * sum(chain.widths[1:]) * trials
    buf = np.empty(n_draws, dtype=dtype)
    rng = np.random.Generator(np.random.PCG64(0))
    rng.standard_normal(out=buf, dtype=dtype)  # touch the buffer once
    vg.simulate(chain, trials=min(trials, 32), seed=0, dtype=dtype)  # warm-up
    floor, sim = [], []
    for k in range(repeat):
        t0 = time.process_time()
        rng.standard_normal(out=buf, dtype=dtype)
        floor.append(time.process_time() - t0)
        t0 = time.process_time()
        vg.simulate(chain, trials=trials, seed=k + 1, dtype=dtype)
        sim.append(time.process_time() - t0)
    return min(floor) / trials, min(sim) / trials


def floor_rows(quick: bool, repeat: int) -> list[str]:
    n, depth, trials = (128, 20, 128) if quick else (512, 50, 256)
    rows = [(f"every activation against the RNG floor: width {n}, depth {depth}, {trials} "
            "networks per call, CPU ms per network (best of "
            f"{repeat}); % of floor = floor / simulate"),
            f"{'chain':<28}{'dtype':<9}{'simulate':>10}{'floor':>8}{'of floor':>10}"]
    worst: dict[str, float] = {}
    for name in vg.activations():
        chain = vg.Chain(name, init=_natural_init(name), depth=depth, width=n)
        for dt in (np.float64, np.float32):
            f, t = _floor_and_simulate(chain, dt, trials, repeat)
            key = np.dtype(dt).name
            worst[key] = min(worst.get(key, 1.0), f / t)
            rows.append(f"{name + ' + ' + _natural_init(name):<28}{key:<9}{1e3 * t:>10.3f}"
                        f"{1e3 * f:>8.3f}{f / t:>10.0%}")
    rows.append("lowest % of floor: " + ", ".join(f"{k} {v:.0%}" for k, v in worst.items()))
    return rows


def orthogonal_rows(quick: bool, repeat: int) -> list[str]:
    n, depth, trials = (128, 20, 128) if quick else (512, 50, 256)
    rows = [(f"orthogonal weights, width {n}, depth {depth}: CPU ms per network (best of "
            f"{repeat})"),
            (f"{'chain':<34}{'dtype':<9}{'Gaussian':>10}{'Haar':>10}{'Haar/Gauss':>12}"
            f"{'dense QR':>11}{'QR/Haar':>9}")]
    cases = (("tanh", "xavier", {"scheme": "orthogonal"}),
             ("relu", "he", {"scheme": "orthogonal", "gain": math.sqrt(2)}))
    gauss64: dict[str, float] = {}  # the float64 Gaussian timings, reused below
    for name, init, ortho in cases:
        gauss = vg.Chain(name, init=init, depth=depth, width=n)
        haar = vg.Chain(name, init=ortho, depth=depth, width=n)
        for dt in (np.float64, np.float32):
            _, tg = _floor_and_simulate(gauss, dt, trials, repeat)
            if dt == np.float64:
                gauss64[name] = tg
            _, th = _floor_and_simulate(haar, dt, trials, repeat)
            dense = "-"
            ratio = "-"
            if dt == np.float64:
                t0 = time.process_time()
                vg.simulate(haar, trials=1, seed=0, method="dense", dtype=dt)
                td = time.process_time() - t0
                dense, ratio = f"{1e3 * td:.0f}", f"{td / th:.0f}x"
            rows.append(f"{name + ' + orthogonal vs ' + init:<34}{np.dtype(dt).name:<9}"
                        f"{1e3 * tg:>10.3f}{1e3 * th:>10.3f}{th / tg:>12.2f}{dense:>11}"
                        f"{ratio:>9}")
    try:
        import torch
    except ImportError:
        rows.append("PyTorch not installed: the autograd-loop comparison is skipped")
        return rows
    torch.set_num_threads(1)
    rows.append(f"PyTorch CPU autograd loop (torch {torch.__version__}, 1 thread, dense "
                "Gaussian weights, one network at a time), float64:")
    for name, init, _ in cases:
        chain = vg.Chain(name, init=init, depth=depth, width=n)
        nets = 2 if quick else 3
        t0 = time.process_time()
        _torch_loop(torch, chain, nets, torch.float64)
        tt = (time.process_time() - t0) / nets
        tv = gauss64[name]
        rows.append(f"  {name} + {init}: torch {1e3 * tt:.0f} ms per network, vgmath "
                    f"{1e3 * tv:.3f} ms: {tt / tv:.0f}x faster")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs (3)")
    parser.add_argument("--only", nargs="+", metavar="SECTION",
                        choices=("floor", "orthogonal", "conditioned", "dense", "memory"),
                        help="run only these sections (floor orthogonal conditioned dense "
                             "memory)")
    args = parser.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"vgmath {vg.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
          f"load average {load} (wall times are only meaningful on an idle machine)")
    print()
    sections = {
        "conditioned": lambda: conditioned_rows(args.quick, args.repeat),
        "dense": lambda: dense_rows(args.quick, args.repeat),
        "memory": lambda: memory_rows(args.quick),
        "floor": lambda: floor_rows(args.quick, args.repeat),
        "orthogonal": lambda: orthogonal_rows(args.quick, args.repeat),
    }
    for name, make in sections.items():
        if args.only and name not in args.only:
            continue
        block = make()
        print("\n".join(block))
        print()


if __name__ == "__main__":
    main()
