"""Re-measure the coverage of the 95% intervals of vg.verify in the deep, narrow configs.

For each config, R independent replicates of T networks (seeds 9_000_000 + 1000·config + r,
disjoint from calibrate_width_bias.py's) are simulated. Per replicate and layer l < L it
records whether Hall's interval (vg.verify's default), simulate's normal interval
(mean ± 1.96 se) and a studentised-bootstrap interval (bootstrap_log_mean_interval, 999
resamples) cover the reference ln E[‖g^l‖²/n_l], and vg.verify's tail diagnostic k̂
(tail_shape; vg.verify trusts a layer when it is ≤ TAIL_K_MAX).
Reference: the mean of all R·T networks ("pooled"); for identity chains also
the exact mean-field value ("exact": for linear Gaussian networks the mean-field recursion of
the second moment is exact at any width, B = 0).

Layers of one replicate share their networks, so their misses are strongly correlated: the
uncertainty of a per-config coverage is computed over replicates (the per-replicate share of
trusted layers covered; mean ± its standard error over the R replicates), not binomially
over layers × replicates.

    python benchmarks/coverage_deep_narrow.py --replicates 200 --out coverage_50x32.json
    python benchmarks/coverage_deep_narrow.py --summary tests/verification/data/coverage_50x32.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

import vgmath as vg
from vgmath.montecarlo.tails import bootstrap_log_mean_interval
from vgmath.verification.stats import log_mean_test
from vgmath.verification.tolerance import tail_shape

CONFIGS = [
    "softplus+lecun", "softplus+xavier", "identity+lecun", "softsign+xavier",
    "identity+xavier", "tanh+xavier", "sigmoid+xavier",
]
RULES = [0.5, 0.4]


def _cov(hit: np.ndarray, ok: np.ndarray) -> tuple[float, float, float]:
    """Coverage over the trusted (replicate, layer) cells; SE over replicates; share trusted."""
    n_ok = ok.sum(axis=1)
    tot = float((hit & ok).sum()) / max(float(ok.sum()), 1.0)
    rows = n_ok > 0
    if rows.sum() < 2:
        return math.nan, math.nan, float(ok.mean())
    per = (hit & ok).sum(axis=1)[rows] / n_ok[rows]
    # ratio-estimator SE over replicates (cluster-robust)
    w = n_ok[rows] / n_ok[rows].mean()
    se = float(np.sqrt(np.sum((w * (per - tot)) ** 2) / (rows.sum() * (rows.sum() - 1))))
    return tot, se, float(ok.mean())


def summarize(path: str) -> None:
    with open(path) as fh:
        payload = json.load(fh)
    print(f"coverage of 95% intervals, depth {payload['depth']} width {payload['width']}, "
          f"{payload['replicates']} replicates of {payload['trials']} networks, layers l < L; "
          "± = standard error over replicates")
    for rec in payload["records"]:
        k = np.array(rec["k_tail"], dtype=float)
        for ref in rec["references"]:
            hits = {m: np.array(rec["cover"][ref][m], dtype=bool)
                    for m in ("hall", "normal", "boot_t")}
            print(f"  {rec['config']:16s} reference {ref}")
            for kmax in RULES:
                ok = ~(k > kmax)
                parts = []
                for m in ("hall", "normal", "boot_t"):
                    c, se, _share = _cov(hits[m], ok)
                    parts.append(f"{m} {c:.3f}±{se:.3f}")
                head = f"    tail diagnostic <= {kmax:.1f} (trusted {ok.mean():.2f}): "
                print(head + "  ".join(parts))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summary", metavar="JSON")
    ap.add_argument("--configs", nargs="+", default=CONFIGS)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed-base", type=int, default=9_000_000)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.summary:
        summarize(args.summary)
        return 0
    t0 = time.perf_counter()
    L = args.depth
    records = []
    for index, cfg in enumerate(args.configs):
        act, init = cfg.split("+")
        chain = vg.Chain(act, init=init, depth=L, width=args.width)
        pred = np.asarray(vg.predict(chain).log_grad_second_moment, dtype=float)
        reps, ks, seeds = [], [], []
        for r in range(args.replicates):
            seed = args.seed_base + 1000 * index + r
            sim = vg.simulate(chain, trials=args.trials, seed=seed)
            reps.append(np.asarray(sim.samples["log_grad_second_moment"], dtype=float)[:, :L])
            ks.append(tail_shape(chain, sim.samples, "grad_second_moment")[:L])
            seeds.append(seed)
        pooled = np.concatenate(reps, axis=0)
        top = pooled.max(axis=0)
        refs = {"pooled": top + np.log(np.exp(pooled - top).mean(axis=0))}
        if act == "identity":
            refs["exact"] = pred[:L]
        cover = {name: {"hall": [], "normal": [], "boot_t": []} for name in refs}
        for lr, seed in zip(reps, seeds, strict=True):
            hall = log_mean_test(lr, 0.0, alpha=0.05)
            tp = lr.max(axis=0)
            yy = np.exp(lr - tp)
            mean = yy.mean(axis=0)
            se = yy.std(axis=0, ddof=1) / math.sqrt(lr.shape[0])
            blo, bhi = bootstrap_log_mean_interval(lr, level=0.95, seed=seed)
            for name, ref in refs.items():
                cover[name]["hall"].append(((hall.ci_low <= ref) & (ref <= hall.ci_high)).tolist())
                normal = np.abs(mean - np.exp(ref - tp)) <= 1.96 * se
                cover[name]["normal"].append(normal.tolist())
                cover[name]["boot_t"].append(((blo <= ref) & (ref <= bhi)).tolist())
        records.append({"config": cfg, "references": list(refs), "cover": cover,
                        "k_tail": np.array(ks).tolist()})
        print(f"{cfg} done {time.perf_counter() - t0:.0f} s", flush=True)
    payload = {"command": "python benchmarks/coverage_deep_narrow.py " + " ".join(sys.argv[1:]),
               "depth": L, "width": args.width, "trials": args.trials,
               "replicates": args.replicates, "records": records}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(payload, fh)
        summarize(args.out)
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
