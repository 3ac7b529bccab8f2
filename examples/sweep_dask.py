"""Run a small vgmath sweep on a Dask LocalCluster and check it equals the serial run.

    python examples/sweep_dask.py                # a LocalCluster of 2 worker processes
    python examples/sweep_dask.py --threads      # workers as threads of this process
    python examples/sweep_dask.py --scheduler tcp://host:8786   # an existing cluster

Every configuration draws its Monte Carlo seed from SeedSequence(seed) by its index in the
grid, so the distributed run must reproduce the serial one bit for bit, whatever the number
of workers or the order in which configurations finish. Exits 0 when every per-layer array of
every configuration is identical, 1 otherwise (listing the differences). Needs the optional
extra: pip install 'vgmath[dask]'.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import vgmath as vg

#: 3 activations × 2 inits × 2 depths × 2 widths × 2 bias variances = 48 configurations
GRID = {
    "activation": ["tanh", "relu", "0.5*x + tanh(x)"],
    "init": ["xavier", "he"],
    "depth": [4, 8],
    "width": [8, 16],
    "sigma_b2": [0, "1/20"],
}


def run(*, trials: int, seed: int, workers: int, threads: bool,
        scheduler: str | None) -> tuple[vg.SweepResult, vg.SweepResult]:
    """The serial reference and the Dask run of :data:`GRID`."""
    serial = vg.sweep(GRID, trials=trials, seed=seed, executor="serial")
    if scheduler is not None:
        cluster = vg.dask_executor(scheduler)
    else:
        cluster = vg.dask_executor(workers=workers, processes=not threads)
    with cluster as executor:
        distributed = vg.sweep(GRID, trials=trials, seed=seed, executor=executor, progress=True)
    return serial, distributed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers (2)")
    parser.add_argument("--threads", action="store_true",
                        help="run the workers as threads of this process")
    parser.add_argument("--scheduler", default=None, help="address of a running scheduler")
    parser.add_argument("--trials", type=int, default=32, help="networks per configuration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast", action="store_true",
                        help="a few seconds: 4 networks per configuration, threaded workers")
    args = parser.parse_args(argv)
    if args.fast:
        args.trials, args.threads = 4, True

    t0 = time.perf_counter()
    serial, distributed = run(trials=args.trials, seed=args.seed, workers=args.workers,
                              threads=args.threads, scheduler=args.scheduler)
    differences = serial.differences(distributed)
    print(f"{len(serial)} configurations, {args.trials} networks each, "
          f"serial vs {distributed.metadata['executor']} in {time.perf_counter() - t0:.1f} s")
    if differences:
        print("the Dask run differs from the serial run:")
        for line in differences[:20]:
            print("  " + line)
        return 1
    print("identical: every per-layer array matches the serial run bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
