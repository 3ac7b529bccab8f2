"""Re-measure the coverage of the 95% intervals of vg.verify in the deep, narrow configs.

For each config, R independent replicates of T networks (seeds 9_000_000 + 1000·config + r,
disjoint from calibrate_width_bias.py's) are simulated. Per replicate and layer l < L it
records whether Hall's interval (vg.verify's default), simulate's normal interval
(mean ± 1.96 se) and a studentised-bootstrap interval (bootstrap_log_mean_interval, 999
resamples) cover the reference ln E[‖g^l‖²/n_l], and vg.verify's tail diagnostic k̂
(tail_shape, stored before the ±TAIL_WINDOW-layer maximum so that both the
per-layer rule and vg.verify's windowed rule can be evaluated).
Reference: the mean of all R·T networks ("pooled"); for identity chains also
the exact mean-field value ("exact": for linear Gaussian networks the mean-field recursion of
the second moment is exact at any width, B = 0).

Layers of one replicate share their networks, so their misses are strongly correlated: the
uncertainty of a per-config coverage is computed over replicates (the per-replicate share of
trusted layers covered; mean ± its standard error over the R replicates), not binomially
over layers × replicates.

    python benchmarks/coverage_deep_narrow.py --replicates 200 --out coverage_50x32.json  # ~4 min
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
from vgmath.verification.tolerance import TAIL_K_MAX, TAIL_WINDOW, tail_shape, window_max

CONFIGS = [
    "softplus+lecun", "softplus+xavier", "identity+lecun", "softsign+xavier",
    "identity+xavier", "tanh+xavier", "sigmoid+xavier",
]


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


def _k(rec: dict) -> np.ndarray:
    return np.array([[np.nan if v is None else v / 100 for v in row]
                     for row in rec["k_raw_x100"]], dtype=float)


def _hits(rec: dict, key: str) -> np.ndarray:
    return np.array([[c == "1" for c in row] for row in rec[key]], dtype=bool)


def summarize(path: str) -> None:
    with open(path) as fh:
        payload = json.load(fh)
    print(f"coverage of 95% intervals, depth {payload['depth']} width {payload['width']}, "
          f"{payload['replicates']} replicates of {payload['trials']} networks, layers l < L; "
          "± = standard error over replicates")
    print(f"  rules: vg.verify = k̂ maximised over layers l ± {TAIL_WINDOW} <= {TAIL_K_MAX:g}; "
          f"per-layer = the layer's own k̂ <= {TAIL_K_MAX:g} (the rule before the window)")
    for rec in payload["records"]:
        k = _k(rec)
        rules = {"vg.verify": ~(np.array([window_max(row) for row in k]) > TAIL_K_MAX),
                 "per-layer": ~(k > TAIL_K_MAX)}
        for ref in rec["references"]:
            print(f"  {rec['config']:16s} reference {ref}")
            for rule, ok in rules.items():
                parts = []
                for m in ("hall", "normal", "boot_t"):
                    c, se, _share = _cov(_hits(rec, f"{m}_{ref}"), ok)
                    parts.append(f"{m} {c:.3f}±{se:.3f}")
                print(f"    {rule:10s} (trusted {ok.mean():.2f}): " + "  ".join(parts))


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
        pred = np.asarray(vg.predict(chain).ln_grad_second_moment, dtype=float)
        reps, ks, seeds = [], [], []
        for r in range(args.replicates):
            seed = args.seed_base + 1000 * index + r
            sim = vg.simulate(chain, trials=args.trials, seed=seed)
            reps.append(np.asarray(sim.samples["ln_grad_second_moment"], dtype=float)[:, :L])
            ks.append(tail_shape(chain, sim.samples, "grad_second_moment", window=False)[:L])
            seeds.append(seed)
        pooled = np.concatenate(reps, axis=0)
        top = pooled.max(axis=0)
        refs = {"pooled": top + np.log(np.exp(pooled - top).mean(axis=0))}
        if act == "identity":
            refs["exact"] = pred[:L]
        rec = {"config": cfg, "references": list(refs),
               "k_raw_x100": [[None if not np.isfinite(v) else round(100 * float(v)) for v in row]
                              for row in ks]}
        hits = {f"{m}_{name}": [] for name in refs for m in ("hall", "normal", "boot_t")}
        for lr, seed in zip(reps, seeds, strict=True):
            hall = log_mean_test(lr, 0.0, alpha=0.05)
            tp = lr.max(axis=0)
            yy = np.exp(lr - tp)
            mean = yy.mean(axis=0)
            se = yy.std(axis=0, ddof=1) / math.sqrt(lr.shape[0])
            blo, bhi = bootstrap_log_mean_interval(lr, level=0.95, seed=seed)
            for name, ref in refs.items():
                got = {"hall": (hall.ci_low <= ref) & (ref <= hall.ci_high),
                       "normal": np.abs(mean - np.exp(ref - tp)) <= 1.96 * se,
                       "boot_t": (blo <= ref) & (ref <= bhi)}
                for m, h in got.items():
                    hits[f"{m}_{name}"].append("".join("1" if v else "0" for v in h))
        rec.update(hits)
        records.append(rec)
        print(f"{cfg} done {time.perf_counter() - t0:.0f} s", flush=True)
    payload = {"command": "python benchmarks/coverage_deep_narrow.py " + " ".join(sys.argv[1:]),
               "format": "per replicate: coverage bits per layer l < L ('1' = covered); "
               "k_raw_x100: the per-layer tail diagnostic before the window, x100",
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
