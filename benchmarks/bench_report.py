"""Wall time of the default report (the README's first command), stage by stage.

    python benchmarks/bench_report.py [--out DIR] [--no-simulate] [--trials N]

Runs ``vg.report`` with the default options (9 activations x 3 initialisations, depth 30,
width 128, 300 trials, seed 0) into a temporary folder (or ``--out``) and prints the wall time
of each stage as recorded by the report (bounds, theory, Monte Carlo, verification, figures,
LaTeX) and the total wall time of the call.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import vgmath as vg  # lazy: the engines are imported inside the timed vg.report call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp folder)")
    parser.add_argument("--no-simulate", action="store_true", help="theory-only report")
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "report"
        t0 = time.perf_counter()
        r = vg.report(out, simulate=not args.no_simulate, trials=args.trials)
        wall = time.perf_counter() - t0
        print(f"vgmath {vg.__version__} default report -> {r.pdf or r.tex}")
        print(f"  sections: {', '.join(r.sections)}"
              + (f"; left out: {', '.join(r.omitted)}" if r.omitted else ""))
        print(f"  {'stage':<14} {'seconds':>8}")
        for stage in ("bounds", "theory", "monte_carlo", "verification", "figures", "latex"):
            if stage in r.timings:
                print(f"  {stage:<14} {r.timings[stage]:>8.2f}")
        other = wall - sum(v for k, v in r.timings.items() if k != "total")
        print(f"  {'other':<14} {other:>8.2f}   (tables, data files, atomic move)")
        print(f"  {'report()':<14} {wall:>8.2f}   (includes importing the engines)")
        if r.latex_log is not None:
            lg = r.latex_log
            print(f"  LaTeX: {len(lg.errors)} errors, {len(lg.undefined_references)} undefined "
                  f"references, widest overfull box {lg.max_overfull:.1f} pt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
