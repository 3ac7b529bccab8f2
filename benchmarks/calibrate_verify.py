"""Measure the false-alarm rate, the power and the verdict mix of ``vg.verify``.

False alarms: vgmath's own prediction (true, up to the calibrated finite-width tolerance) is
verified for every catalog activation × {xavier, he, lecun} over --seeds seeds; a FAIL is a
false alarm (family-wise, over all layers). INCONCLUSIVE is counted separately: it is not an
alarm, but it is not a PASS either.

Power: the claim "prediction × f^(L−l)" (a per-layer error f in χ) and the claim
"prediction × 1.1 at layers 0..10 only" are verified for the POWER_CHAINS at the default
geometry and for the HARD_CHAINS (GELU/SiLU/softplus/Mish + He) at depth 50, width 32;
the fraction of FAIL verdicts is the power, and the fraction of PASS verdicts — a wrong
claim passed — is reported beside it.

    python benchmarks/calibrate_verify.py                  # the figures in benchmarks/VERIFY.md
    python benchmarks/calibrate_verify.py --seeds 3 --power-seeds 3   # a quick look

For square layers xavier and lecun give the same weight variance; both are run, with
distinct seeds. Clopper–Pearson 95% intervals throughout.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from scipy import stats

import vgmath as vg
from vgmath.montecarlo.simulation import simulate
from vgmath.verification.profile import verify
from vgmath.verification.verdict import Verdict

POWER_CHAINS = (("tanh", "xavier"), ("relu", "he"), ("sigmoid", "xavier"), ("selu", "lecun"))
HARD_CHAINS = (("gelu", "he"), ("silu", "he"), ("softplus", "he"), ("mish", "he"))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _rate(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k:4d}/{n:<5d} = {k / n:.4f} [{lo:.4f}, {hi:.4f}]"


def false_alarms(args: argparse.Namespace) -> None:
    print(f"\nfalse alarms: vgmath's prediction, {args.seeds} seeds per config, depth "
          f"{args.depth}, width {args.width}, {args.trials} networks, alpha {args.alpha}")
    print(f"  {'config':24s} {'FAIL':>6} {'INCONCL.':>9} {'PASS':>6}   layer 0 tested")
    total = dict.fromkeys(Verdict, 0)
    worst = (0.0, "")
    index = 0
    for name in vg.activations():
        for init in args.inits:
            index += 1
            chain = vg.Chain(name, init=init, depth=args.depth, width=args.width)
            counts = dict.fromkeys(Verdict, 0)
            l0 = 0
            for rep in range(args.seeds):
                sim = simulate(chain, trials=args.trials, seed=1_000_000 * index + rep)
                v = verify(chain, simulation=sim, alpha=args.alpha)
                counts[v.verdict] += 1
                l0 += v.coverage.layer0_tested
            for k, c in counts.items():
                total[k] += c
            rate = counts[Verdict.FAIL] / args.seeds
            worst = max(worst, (rate, f"{name}+{init}"))
            print(f"  {name + ' + ' + init:24s} {counts[Verdict.FAIL]:6d} "
                  f"{counts[Verdict.INCONCLUSIVE]:9d} {counts[Verdict.PASS]:6d}   "
                  f"{l0}/{args.seeds}", flush=True)
    n = sum(total.values())
    print(f"  overall FAIL (false alarm) {_rate(total[Verdict.FAIL], n)}; limit 2·alpha = "
          f"{2 * args.alpha:g}")
    print(f"  worst config: {worst[1]} {worst[0]:.3f} (limit 4·alpha = {4 * args.alpha:g}; "
          f"with {args.seeds} seeds one alarm is {1 / args.seeds:.3f})")
    print(f"  overall INCONCLUSIVE {_rate(total[Verdict.INCONCLUSIVE], n)}, PASS "
          f"{_rate(total[Verdict.PASS], n)}")


def power(args: argparse.Namespace, chains: tuple[tuple[str, str], ...], depth: int,
          width: int, label: str) -> None:
    print(f"\npower ({label}: depth {depth}, width {width}, {args.power_seeds} seeds per "
          f"chain and error, {args.trials} networks):")
    errors: list[tuple[str, float, int | None]] = [
        (f"x{f:g} per layer", f, None) for f in args.factors
    ]
    errors.append(("x1.1 at layers 0-10", 1.1, 10))
    for act_name, init_name in chains:
        chain = vg.Chain(act_name, init=init_name, depth=depth, width=width)
        logs = np.asarray(vg.predict(chain).ln_grad_second_moment, dtype=float)
        steps = depth - np.arange(depth + 1)
        results = {e[0]: dict.fromkeys(Verdict, 0) for e in errors}
        l0 = 0
        for seed in range(10_000, 10_000 + args.power_seeds):
            sim = simulate(chain, trials=args.trials, seed=seed)
            truth = verify(chain, simulation=sim, alpha=args.alpha)
            l0 += truth.coverage.layer0_tested
            for name, f, upto in errors:
                if upto is None:
                    wrong = logs + steps * math.log(f)
                else:
                    wrong = logs + np.where(np.arange(depth + 1) <= upto, math.log(f), 0.0)
                v = verify(chain, np.exp(wrong), simulation=sim, alpha=args.alpha)
                results[name][v.verdict] += 1
        print(f"  {act_name} + {init_name} (layer 0 testable in {l0}/{args.power_seeds} runs)")
        for name, _f, _u in errors:
            r = results[name]
            n = sum(r.values())
            print(f"    {name:22s} FAIL {_rate(r[Verdict.FAIL], n)}   INCONCLUSIVE "
                  f"{r[Verdict.INCONCLUSIVE]:3d}   PASS (wrong claim passed) "
                  f"{r[Verdict.PASS]:3d}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--seeds", type=int, default=25, help="seeds per config (false alarms)")
    ap.add_argument("--power-seeds", type=int, default=20, help="seeds per chain (power)")
    ap.add_argument("--factors", type=float, nargs="+", default=[1.01, 1.02, 1.03])
    ap.add_argument("--inits", nargs="+", default=["xavier", "he", "lecun"])
    ap.add_argument("--skip-false-alarms", action="store_true")
    ap.add_argument("--power-sets", nargs="+", default=["well", "hard", "deep"],
                    choices=["well", "hard", "deep"],
                    help="power panels: well-behaved chains, hard cases, hard cases at 50x32")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    print(f"vgmath {vg.__version__}")
    print(f"command: python benchmarks/calibrate_verify.py {' '.join(sys.argv[1:])}".rstrip())
    if not args.skip_false_alarms:
        false_alarms(args)
    if "well" in args.power_sets:
        power(args, POWER_CHAINS, args.depth, args.width, "well-behaved chains")
    if "hard" in args.power_sets:
        power(args, HARD_CHAINS, args.depth, args.width, "hard cases")
    if "deep" in args.power_sets:
        power(args, HARD_CHAINS, 50, 32, "hard cases, deep and narrow")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
