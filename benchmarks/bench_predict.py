"""Time depth-1000 mean-field profiles for every catalog activation × {xavier, he, lecun}.

Run: ``python benchmarks/bench_predict.py [--depth 1000] [--width 256] [--repeat 3]``.

Two passes are timed. The first ("cold") includes building each activation's Gaussian
moment tables (done once per activation and process); the next passes ("warm") are what a
sweep or report pays per profile. Each profile is ``vg.predict(vg.Chain(...))``; the depth
recursion stops early once q sits at its fixed point to machine precision.

Then the same 48 profiles in fresh processes, timed from before ``import vgmath`` (so the
imports of vgmath, SymPy, NumPy and SciPy are included; the interpreter's own start-up is
not): with the on-disk analysis cache disabled (``VGMATH_CACHE=0``: every activation
analysed from scratch), and with it filled by an earlier run (a temporary
``VGMATH_CACHE_DIR``: what every run after the first one pays). Best of ``--fresh`` runs,
wall and CPU time, and the ratios to the warm pass. Target: <= 1 s cold.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
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


FRESH = """
import time
t0, c0 = time.perf_counter(), time.process_time()
import json, vgmath as vg
for name in vg.activations():
    for init in ("xavier", "he", "lecun"):
        vg.predict(vg.Chain(activation=name, init=init, depth={depth}, width={width}))
print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]))
"""


def fresh_process(depth: int, width: int, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of the 48 profiles in a new interpreter, imports included."""
    code = FRESH.format(depth=depth, width=width)
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    wall, cpu = json.loads(out.strip().splitlines()[-1])
    return float(wall), float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="warm passes (best is reported)")
    parser.add_argument("--fresh", type=int, default=3,
                        help="fresh-process runs per cache setting (best is reported; 0: skip)")
    args = parser.parse_args()

    cold, cold_predict, cold_cpu, _ = run_pass(args.depth, args.width)
    warm_runs = [run_pass(args.depth, args.width) for _ in range(max(1, args.repeat))]
    best_total, best_predict, best_cpu, best_rows = min(warm_runs, key=lambda r: r[1])
    n = len(best_rows)
    print(
        f"depth {args.depth}, width {args.width}: {n} profiles "
        f"({len(vg.activations())} activations × {len(INITS)} inits)"
    )
    from vgmath.core.cache import cache_dir

    where = cache_dir()
    print(
        f"cold pass (first in this process; per-activation analysis "
        f"{'from the cache in ' + str(where) + ' if there' if where else 'computed'}): "
        f"{cold:.3f} s total, {cold_predict:.3f} s in predict ({cold_cpu:.3f} s CPU)"
    )
    print(
        f"warm pass, best of {len(warm_runs)}: {best_total:.3f} s total incl. vg.Chain(...), "
        f"{best_predict:.3f} s in predict ({best_cpu:.3f} s CPU; "
        f"{1e3 * best_predict / n:.2f} ms per profile)"
    )
    if args.fresh > 0:
        with tempfile.TemporaryDirectory(prefix="vgmath-bench-cache-") as folder:
            settings = {
                "no cache (every activation analysed)": {"VGMATH_CACHE": "0"},
                "cache filled by an earlier run": {"VGMATH_CACHE": "1",
                                                   "VGMATH_CACHE_DIR": folder},
            }
            fresh_process(args.depth, args.width, settings["cache filled by an earlier run"])
            print()
            print(f"fresh process, imports included, best of {args.fresh} (warm pass: "
                  f"{best_total:.3f} s wall, {best_cpu:.3f} s CPU in predict):")
            for label, env in settings.items():
                runs = [fresh_process(args.depth, args.width, env) for _ in range(args.fresh)]
                wall = min(r[0] for r in runs)
                cpu = min(r[1] for r in runs)
                print(f"  {label:<38} {wall:6.3f} s wall ({wall / best_total:4.1f}x warm), "
                      f"{cpu:6.3f} s CPU ({cpu / best_cpu:4.1f}x warm)")
    print()
    print(f"{'activation':<14} {'init':<7} {'predict ms':>10}  q converged at layer")
    for name, init, t, conv in best_rows:
        print(f"{name:<14} {init:<7} {1e3 * t:>10.2f}  {'-' if conv is None else conv}")


if __name__ == "__main__":
    main()
