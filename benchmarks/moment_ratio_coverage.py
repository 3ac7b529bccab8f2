"""Coverage of the fourth-moment ratio's 95% intervals, and what the tail check says.

For each chain (depth 20, width 128), R replicates of T = 1000 networks: the delta-method
interval ratio ± 1.96 se and the bootstrap intervals are compared with the reference — the
exact value where vgmath has one (ReLU + He, forward ratio: ∏(1 + 5/n_l), Hanin & Rolnick
2018), otherwise the ratio over all R·T networks pooled. "boot" is the percentile bootstrap,
"boot-t" the studentised bootstrap that moment_ratio_check reports (bootstrap_ci).
"k<=0.2" is the fraction of replicates with k̂ ≤ 0.2 and "delta | k<=0.2" the delta
coverage there (a low k̂ does not rescue the ± se); "ci ok" the fraction with
interval_trusted (k̂ ≤ 0.5) and "boot-t | ok" the studentised bootstrap's coverage there.

    python benchmarks/moment_ratio_coverage.py 80         # ~4 min (80 replicates)
"""

from __future__ import annotations

import sys

import numpy as np

import vgmath as vg
from vgmath.montecarlo.tails import bootstrap_moment_ratio

CASES = (("relu", "he", "forward"), ("tanh", "xavier", "gradient"), ("relu", "he", "gradient"),
         ("gelu", "xavier", "gradient"), ("silu", "he", "gradient"))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="coverage of the fourth-moment ratio intervals")
    ap.add_argument("replicates", nargs="?", type=int, default=40,
                    help="replicates of 1000 networks per case (40)")
    reps = ap.parse_args(argv).replicates
    print(f"{reps} replicates of 1000 networks, depth 20, width 128")
    print(f"  {'chain':16s} {'ratio':9s} {'reference':>12s} {'delta cov':>9s} {'boot cov':>9s} "
          f"{'boot-t cov':>9s} {'k<=0.2':>9s} {'delta | k<=0.2':>15s} {'ci ok':>9s} "
          f"{'boot-t | ok':>13s}")
    for k, (act, init, which) in enumerate(CASES):
        chain = vg.Chain(act, init=init, depth=20, width=128)
        checks, logs, pints = [], [], []
        key = "ln_grad_second_moment" if which == "gradient" else "ln_activation_second_moment"
        layer = 0 if which == "gradient" else 20
        for r in range(reps):
            sim = vg.simulate(chain, trials=1000, seed=3_000_000 + 1000 * k + r)
            checks.append(sim.moment_ratio_check(which))
            logs.append(sim.samples[key][:, layer])
            pints.append(bootstrap_moment_ratio(logs[-1], seed=sim.seed))
        if (act, init, which) == ("relu", "he", "forward"):
            ref = float(vg.finite_width_moment_ratio(chain, which="forward"))
            label = "exact"
        else:
            pooled = np.concatenate(logs)
            y = np.exp(pooled - pooled.max())
            ref = float(np.mean(y * y) / np.mean(y) ** 2)
            label = "pooled"
        delta = [abs(c["ratio"] - ref) <= 1.96 * c["se"] for c in checks]
        boot = [lo <= ref <= hi for lo, hi in pints]
        boot_t = [c["bootstrap_ci"][0] <= ref <= c["bootstrap_ci"][1] for c in checks]
        ci_ok = [c["interval_trusted"] for c in checks]
        cov_ci = [b for b, ok in zip(boot_t, ci_ok, strict=True) if ok]
        cc = f"{np.mean(cov_ci):.3f}" if cov_ci else "-"
        rel = [c["tail_k"] <= 0.2 for c in checks]
        cov_rel = [d for d, ok in zip(delta, rel, strict=True) if ok]
        cr = f"{np.mean(cov_rel):.3f}" if cov_rel else "-"
        print(f"  {act + ' + ' + init:16s} {which:9s} {ref:9.4g} ({label}) {np.mean(delta):9.3f} "
              f"{np.mean(boot):9.3f} {np.mean(boot_t):9.3f} {np.mean(rel):9.3f} {cr:>15s} "
              f"{np.mean(ci_ok):9.3f} {cc:>13s}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
