"""Cold cost of ``import vgmath``: vgmath's own import time, from ``python -X importtime``.

Prints the median over ``--repeat`` fresh interpreters of (a) the cumulative time of the
``vgmath`` package import (its own modules and what they pull in) and (b) the wall time of
``python -c "import vgmath"`` minus that of ``python -c "pass"``.

    python benchmarks/bench_import.py --repeat 11
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def _vgmath_cumulative_us() -> int:
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import vgmath"],
                         capture_output=True, text=True, check=True).stderr
    for line in err.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "vgmath":
            return int(parts[1])
    raise RuntimeError("no 'vgmath' line in -X importtime output")


def _wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=11)
    args = ap.parse_args()
    cum = [_vgmath_cumulative_us() for _ in range(args.repeat)]
    extra = [_wall("import vgmath") - _wall("pass") for _ in range(args.repeat)]
    print(f"import vgmath: {statistics.median(cum) / 1000:.2f} ms cumulative (-X importtime), "
          f"{statistics.median(extra) * 1000:.1f} ms wall over a bare interpreter "
          f"(median of {args.repeat})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
