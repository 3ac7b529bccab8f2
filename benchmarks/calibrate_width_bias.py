"""Measure the error of the finite-width bias B and the coverage of simulated intervals.

For every catalog activation × {xavier, he, lecun} at each geometry (depth, width), R
independent replicates of T networks are simulated (seeds 7_000_000 + 1000·config + r).
Pooling the R·T networks gives the reference ln E[‖g^l‖²/n_l]; its deviation from the
mean-field value, minus the predicted first-order bias B_l, is the measured error of B
("dev − B", with its standard error from the pooled sample). Each replicate of T networks
also gives Hall's (1 − 0.05) interval and simulate's normal interval (mean ± 1.96 se);
their coverage of the pooled reference is counted (a slightly optimistic reference: it
contains the replicate), together with the median tail diagnostics per layer (k̂ of the
values, pareto_k, and vg.verify's diagnostic, tail_shape) and the coverage of Hall's
interval over the replicates where vg.verify trusts the layer.

    python benchmarks/calibrate_width_bias.py --out width_bias_calibration.json   # ~7 min
    python benchmarks/calibrate_width_bias.py --summary width_bias_calibration.json

(the committed copy is tests/verification/data/width_bias_calibration.json).

The JSON written is what tests/verification/test_tolerance_calibration.py checks the
tolerance rule of vg.verify against (B recomputed by the code under test).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

import vgmath as vg
from vgmath.theory.bias import width_bias
from vgmath.verification.stats import log_mean_test, pareto_k
from vgmath.verification.tolerance import TAIL_K_MAX, tail_shape


def summarize(path: str) -> None:
    """Per-config coverage of the 95% intervals over the layers vg.verify trusts."""
    with open(path) as fh:
        payload = json.load(fh)
    print(f"coverage of 95% intervals (per config, mean over trusted layers l < L; "
          f"{payload['replicates']} replicates of {payload['trials']} networks)")
    print(f"  {'config':30s} {'trusted':>8} {'Hall':>6} {'normal':>7}  untrusted layers: Hall")
    worst_h = worst_n = (1.0, "")
    allh, alln = [], []
    for rec in payload["records"]:
        L = rec["depth"]
        name = f"{rec['activation']} + {rec['init']} {L}x{rec['width']}"
        ok = [l for l in range(L) if rec["trusted_fraction"][l] >= 0.5]
        bad = [l for l in range(L) if rec["trusted_fraction"][l] < 0.5]
        if ok:
            h = float(np.mean([rec["cover_hall_trusted"][l] for l in ok]))
            n = float(np.mean([rec["cover_normal"][l] for l in ok]))
            allh.append(h)
            alln.append(n)
            worst_h = min(worst_h, (h, name))
            worst_n = min(worst_n, (n, name))
        else:
            h = n = math.nan
        hb = float(np.mean([rec["cover_hall"][l] for l in bad])) if bad else math.nan
        print(f"  {name:30s} {len(ok):4d}/{L:<3d} {h:6.3f} {n:7.3f}  {len(bad):3d}: {hb:.3f}")
    print(f"  mean over configs: Hall {np.mean(allh):.3f}, normal {np.mean(alln):.3f}; worst "
          f"Hall {worst_h[0]:.3f} ({worst_h[1]}), worst normal {worst_n[0]:.3f} "
          f"({worst_n[1]})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summary", metavar="JSON", help="only summarise a written JSON file")
    ap.add_argument("--geometries", nargs="+", default=["20x128", "50x32"])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--replicates", type=int, default=40)
    ap.add_argument("--inits", nargs="+", default=["xavier", "he", "lecun"])
    ap.add_argument("--activations", nargs="+", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.summary:
        summarize(args.summary)
        return 0
    t0 = time.perf_counter()
    acts = args.activations or vg.activations()
    records = []
    index = 0
    for geo in args.geometries:
        depth, width = (int(v) for v in geo.split("x"))
        for name in acts:
            for init in args.inits:
                index += 1
                chain = vg.Chain(name, init=init, depth=depth, width=width)
                pred = vg.predict(chain)
                wb = width_bias(chain)
                b, s = wb.for_quantity("grad_second_moment")
                reps = []
                tails = []
                for r in range(args.replicates):
                    sim = vg.simulate(chain, trials=args.trials,
                                      seed=7_000_000 + 1000 * index + r)
                    reps.append(np.asarray(sim.samples["ln_grad_second_moment"], dtype=float))
                    tails.append(tail_shape(chain, sim.samples, "grad_second_moment"))
                pooled = np.concatenate(reps, axis=0)
                top = pooled.max(axis=0)
                y = np.exp(pooled - top)
                ref = top + np.log(y.mean(axis=0))
                ref_se = y.std(axis=0, ddof=1) / (y.mean(axis=0) * math.sqrt(pooled.shape[0]))
                cover_hall = np.zeros(depth + 1)
                cover_norm = np.zeros(depth + 1)
                ks = []
                lows, highs = [], []
                for lr in reps:
                    t = log_mean_test(lr, ref, alpha=0.05)
                    lows.append(t.ci_low)
                    highs.append(t.ci_high)
                    cover_hall += (t.ci_low <= ref) & (ref <= t.ci_high)
                    tp = lr.max(axis=0)
                    yy = np.exp(lr - tp)
                    mean = yy.mean(axis=0)
                    se = yy.std(axis=0, ddof=1) / math.sqrt(lr.shape[0])
                    true = np.exp(ref - tp)
                    cover_norm += np.abs(mean - true) <= 1.96 * se
                    ks.append(pareto_k(lr))
                kmed = np.nanmedian(np.array(ks), axis=0)
                lo_hi = (np.array(lows), np.array(highs))
                tails_arr = np.array(tails)
                trusted = np.mean(~(tails_arr > TAIL_K_MAX), axis=0)
                dev = ref - np.asarray(pred.ln_grad_second_moment, dtype=float)
                rec = {
                    "activation": name, "init": init, "depth": depth, "width": width,
                    "dev": dev.tolist(), "dev_se": ref_se.tolist(),
                    "bias": b.tolist(), "scale": s.tolist(),
                    "k_hat": kmed.tolist(),
                    "k_tail": np.nanmedian(tails_arr, axis=0).tolist(),
                    "trusted_fraction": trusted.tolist(),
                    "cover_hall_trusted": [
                        float(np.mean([(c0 <= ref[l] <= c1) for c0, c1, ok in zip(
                            lo_hi[0][:, l], lo_hi[1][:, l], ~(tails_arr[:, l] > TAIL_K_MAX),
                            strict=True) if ok])) if trusted[l] > 0 else None
                        for l in range(depth + 1)],
                    "cover_hall": (cover_hall / len(reps)).tolist(),
                    "cover_normal": (cover_norm / len(reps)).tolist(),
                    "log_sd": pooled.std(axis=0).tolist(),
                }
                records.append(rec)
                err = np.abs(dev - b)[:-1]
                print(f"{geo} {name:12s} {init:7s} max|dev-B| {np.max(err):7.3f} "
                      f"max S {np.max(s[:-1]):7.3f} l0: dev {dev[0]:+.3f} B {b[0]:+.3f} "
                      f"S {s[0]:.3f} se {ref_se[0]:.3f} k {kmed[0]:.2f} "
                      f"cov hall {cover_hall[0] / len(reps):.2f} norm "
                      f"{cover_norm[0] / len(reps):.2f}", flush=True)
    payload = {
        "command": "python benchmarks/calibrate_width_bias.py " + " ".join(sys.argv[1:]),
        "trials": args.trials, "replicates": args.replicates,
        "quantity": "grad_second_moment", "records": records,
    }
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(payload, fh)
        summarize(args.out)
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
