"""Measure the false-alarm rate and the power of ``vg.verify``.

False alarms: vgmath's own (true, up to the stated finite-width tolerance) prediction is
verified for every catalog activation × {xavier, he, lecun} over many seeds; the fraction of
rejections estimates the family-wise false-alarm rate, which should not exceed alpha.

Power: the claim χ_l × f per layer (grad_second_moment[l] × f^{L−l}) is verified for a panel
of chains, for f in --factors; the fraction of rejections estimates the power.

    python benchmarks/calibrate_verify.py                      # the figures in the report
    python benchmarks/calibrate_verify.py --seeds 5 --methods hall z   # quick look

For square layers xavier and lecun give the same weight variance; both are run as requested,
with distinct seeds, and the overall rate counts every run.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from scipy import stats

import vgmath as vg
from vgmath.montecarlo.simulate import simulate
from vgmath.verification.verify import verify

POWER_CHAINS = (("tanh", "xavier"), ("relu", "he"), ("sigmoid", "xavier"), ("selu", "lecun"))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--seeds", type=int, default=25, help="seeds per chain (false alarms)")
    ap.add_argument("--power-seeds", type=int, default=20, help="seeds per chain and factor")
    ap.add_argument("--factors", type=float, nargs="+", default=[1.01, 1.02, 1.03, 1.05])
    ap.add_argument("--methods", nargs="+", default=["hall"], choices=["hall", "lognormal", "z"])
    ap.add_argument("--inits", nargs="+", default=["xavier", "he", "lecun"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(
        f"vgmath {vg.__version__}: depth {args.depth}, width {args.width}, trials "
        f"{args.trials}, alpha {args.alpha}"
    )
    print(f"command: python benchmarks/calibrate_verify.py {' '.join(sys.argv[1:])}".rstrip())

    # ---- false alarms
    counts = {m: {} for m in args.methods}
    layer_counts: dict[str, tuple[int, int]] = {}
    index = 0
    for name in vg.activations():
        for init in args.inits:
            chain = vg.Chain(name, init=init, depth=args.depth, width=args.width)
            index += 1
            for rep in range(args.seeds):
                # distinct seeds for every chain: xavier and lecun coincide on square layers
                # and must not reuse the same networks
                sim = simulate(chain, trials=args.trials, seed=1_000_000 * index + rep)
                for m in args.methods:
                    v = verify(chain, simulation=sim, alpha=args.alpha, method=m)
                    k, n = counts[m].get((name, init), (0, 0))
                    counts[m][(name, init)] = (k + (not v.passed), n + 1)
                    # single-layer tests before Holm (untestable layers excluded)
                    ok = np.isfinite(v.tolerance)
                    kl, nl = layer_counts.get(m, (0, 0))
                    rejected = int(np.sum(v.p_value[ok] <= args.alpha))
                    layer_counts[m] = (kl + rejected, nl + int(ok.sum()))
    for m in args.methods:
        print(f"\nfalse alarms, method {m} ({args.seeds} seeds per chain):")
        per_act: dict[str, list[int]] = {}
        for (name, _init), (k, n) in counts[m].items():
            per_act.setdefault(name, [0, 0])
            per_act[name][0] += k
            per_act[name][1] += n
        for name, (k, n) in per_act.items():
            by_init = ", ".join(
                f"{init} {counts[m][(name, init)][0]}/{counts[m][(name, init)][1]}"
                for init in args.inits
            )
            print(f"  {name:14s} {k:4d}/{n:<5d} = {k / n:.4f}   ({by_init})")
        k = sum(v[0] for v in per_act.values())
        n = sum(v[1] for v in per_act.values())
        lo, hi = clopper_pearson(k, n)
        limit = int(stats.binom.ppf(0.999, n, args.alpha))
        print(
            f"  overall        {k:4d}/{n:<5d} = {k / n:.4f}  95% CI [{lo:.4f}, {hi:.4f}]; "
            f"99.9% binomial limit at alpha: {limit}"
        )
        kl, nl = layer_counts[m]
        print(
            f"  single-layer tests before Holm: {kl}/{nl} = {kl / nl:.4f} with raw p <= alpha "
            "(layers of one network are dependent: no binomial interval)"
        )

    # ---- power
    print(f"\npower vs per-layer error factor ({args.power_seeds} seeds per chain):")
    for m in args.methods:
        for f in args.factors:
            k = n = 0
            for act_name, init_name in POWER_CHAINS:
                chain = vg.Chain(act_name, init=init_name, depth=args.depth, width=args.width)
                p = vg.predict(chain)
                steps = args.depth - np.arange(args.depth + 1)
                claim = np.exp(p.log_grad_second_moment + steps * math.log(f))
                for seed in range(10_000, 10_000 + args.power_seeds):
                    sim = simulate(chain, trials=args.trials, seed=seed)
                    v = verify(chain, claim, simulation=sim, alpha=args.alpha, method=m)
                    k += not v.passed
                    n += 1
            lo, hi = clopper_pearson(k, n)
            print(
                f"  {m:9s} factor {f:.2f}: rejected {k}/{n} = {k / n:.3f}  "
                f"95% CI [{lo:.3f}, {hi:.3f}]"
            )
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
