"""Speed of the fast Gaussian evaluator (vgmath.theory.gaussian.GaussianMoments).

Prints, for every catalog activation: the construction time (rule check + first tables), the
cost of one call of ``phi2`` / ``dphi2`` on a scalar q, the per-element cost on an array of
1000 q, and one ``cross`` call; then the time of a depth-1000 forward variance recursion
q_l = σ_w² E[φ(√q_{l−1} z)²] + σ_b² (plus E[φ′²] along it) for the whole catalog at three
σ_w², which is what a theory depth profile needs.

Run: ``python benchmarks/bench_gaussian.py``
"""

from __future__ import annotations

import time
import timeit

import numpy as np

import vgmath as vg
from vgmath.theory.moments import moments


def per_call_us(fn, *args, number: int = 2000) -> float:
    return timeit.timeit(lambda: fn(*args), number=number) / number * 1e6


def main() -> None:
    qs = np.logspace(-3, 2, 1000)
    print(f"{'activation':14s} {'build':>9s} {'phi2':>9s} {'dphi2':>9s} {'vec/elt':>9s} "
          f"{'cross':>9s}")
    for name in vg.activations():
        t0 = time.perf_counter()
        m = moments(name)
        m.phi2(1.0)
        m.dphi2(1.0)
        build = (time.perf_counter() - t0) * 1e3
        phi2 = per_call_us(m.phi2, 0.7)
        dphi2 = per_call_us(m.dphi2, 0.7)
        vec = per_call_us(m.phi2, qs, number=50) / qs.size
        cross = per_call_us(m.cross, 0.7, 0.5, number=5) / 1e3
        print(f"{name:14s} {build:7.1f}ms {phi2:7.2f}µs {dphi2:7.2f}µs {vec:7.3f}µs "
              f"{cross:7.2f}ms")

    depth, sigma_b2 = 1000, 0.01
    t0 = time.perf_counter()
    for name in vg.activations():
        m = moments(name)
        for sigma_w2 in (0.5, 1.0, 2.0):
            q = 1.0
            chi = 0.0
            for _ in range(depth):
                q = sigma_w2 * m.phi2(q) + sigma_b2
                chi = sigma_w2 * m.dphi2(q)
            assert np.isfinite(q) and np.isfinite(chi)
    total = time.perf_counter() - t0
    n = len(vg.activations()) * 3
    print(f"\ndepth-{depth} q and χ recursion, {n} (activation, σ_w²) pairs: {total:.3f} s total "
          f"({total / (n * depth * 2) * 1e6:.2f} µs per moment call)")


if __name__ == "__main__":
    main()
