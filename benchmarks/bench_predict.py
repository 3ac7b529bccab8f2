"""Time depth-1000 mean-field profiles for every catalog activation × {xavier, he, lecun}.

Run: ``python benchmarks/bench_predict.py [--depth 1000] [--width 256] [--repeat 3]``.

Two passes are timed. The first ("cold") includes building each activation's Gaussian
moment tables (done once per activation and process); the next passes ("warm") are what a
sweep or report pays per profile. Each profile is ``vg.predict(vg.Chain(...))``; the depth
recursion stops early once q sits at its fixed point to machine precision.
"""

from __future__ import annotations

import argparse
import time

import vgmath as vg

INITS = ("xavier", "he", "lecun")


Row = tuple[str, str, float, int | None]


def run_pass(depth: int, width: int) -> tuple[float, float, float, list[Row]]:
    """(wall total incl. building the Chain, wall total of predict alone, CPU time of
    predict alone, per-profile rows). CPU time is the fairer figure on a shared machine."""
    rows: list[Row] = []
    predict_total = 0.0
    predict_cpu = 0.0
    t_all = time.perf_counter()
    for name in vg.activations():
        for init in INITS:
            chain = vg.Chain(activation=name, init=init, depth=depth, width=width)
            t, c = time.perf_counter(), time.process_time()
            pred = vg.predict(chain)
            dt = time.perf_counter() - t
            predict_cpu += time.process_time() - c
            predict_total += dt
            rows.append((name, init, dt, pred.converged_at))
    return time.perf_counter() - t_all, predict_total, predict_cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="warm passes (best is reported)")
    args = parser.parse_args()

    cold, cold_predict, cold_cpu, _ = run_pass(args.depth, args.width)
    warm_runs = [run_pass(args.depth, args.width) for _ in range(max(1, args.repeat))]
    best_total, best_predict, best_cpu, best_rows = min(warm_runs, key=lambda r: r[1])
    n = len(best_rows)
    print(
        f"depth {args.depth}, width {args.width}: {n} profiles "
        f"({len(vg.activations())} activations × {len(INITS)} inits)"
    )
    print(
        f"cold pass (builds the moment tables): {cold:.3f} s total, "
        f"{cold_predict:.3f} s in predict ({cold_cpu:.3f} s CPU)"
    )
    print(
        f"warm pass, best of {len(warm_runs)}: {best_total:.3f} s total incl. vg.Chain(...), "
        f"{best_predict:.3f} s in predict ({best_cpu:.3f} s CPU; "
        f"{1e3 * best_predict / n:.2f} ms per profile)"
    )
    print()
    print(f"{'activation':<14} {'init':<7} {'predict ms':>10}  q converged at layer")
    for name, init, t, conv in best_rows:
        print(f"{name:<14} {init:<7} {1e3 * t:>10.2f}  {'-' if conv is None else conv}")


if __name__ == "__main__":
    main()
