"""``vgmath sweep``: theory and Monte Carlo over a grid of networks, locally or on Dask.

::

    vgmath sweep --activations tanh relu --inits xavier he --depths 10 50 --widths 64 128 \\
        --trials 200 --seed 0 --out sweep.csv
    vgmath sweep --activations tanh --sigma-w2 1 1.5 2 --sigma-b2 0 0.05 --depths 20 \\
        --widths 64 --dask-local 4 --out tanh.json
    vgmath sweep --activations relu --inits he --depths 10 100 --widths 128 \\
        --scheduler tcp://10.0.0.5:8786 --out relu.csv

The file (``.csv``: the tidy table, one row per configuration × layer; ``.json``: everything)
is written atomically; a summary line per configuration goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError, SweepError
from .options import add_executor_arguments, executor_options

__all__ = ["HELP", "add_arguments", "format_summary", "parse_width_item", "run"]

HELP = "predict and simulate a grid of networks (process pool, threads or a Dask cluster)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    grid = parser.add_argument_group("grid (the sweep is the Cartesian product)")
    grid.add_argument("--activations", nargs="+", required=True, metavar="ACT",
                      help="catalog names (tanh, relu, ...) or expressions in x")
    grid.add_argument("--inits", nargs="+", metavar="INIT", default=None,
                      help="initialisation schemes: xavier, he, lecun, orthogonal, ... "
                      "(xavier unless --sigma-w2 is given)")
    grid.add_argument("--sigma-w2", nargs="+", metavar="S", default=None,
                      help="mean-field σ_w² values (custom init Var(W) = σ_w²/fan_in); "
                      "instead of --inits")
    grid.add_argument("--depths", nargs="+", type=int, default=[50], metavar="L",
                      help="depths (50)")
    grid.add_argument("--widths", nargs="+", default=["128"], metavar="N",
                      help="widths: an integer, or n_0,...,n_L separated by commas (128)")
    grid.add_argument("--sigma-b2", nargs="+", default=None, metavar="S",
                      help="bias variances σ_b² (0)")
    grid.add_argument("--input-q", nargs="+", default=None, metavar="Q",
                      help="input second moments ‖x⁰‖²/n₀ (1)")
    grid.add_argument("--archs", nargs="+", default=None, metavar="ARCH",
                      help="architectures: chain, resnet, resnet_pre (chain)")
    parser.add_argument("--trials", type=int, default=200,
                        help="independent random networks per configuration (200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the sweep (0)")
    parser.add_argument("--method", choices=("auto", "conditioned", "dense"), default="auto",
                        help="Monte Carlo sampler (auto)")
    engines = parser.add_mutually_exclusive_group()
    engines.add_argument("--no-simulate", action="store_true", help="theory only")
    engines.add_argument("--no-predict", action="store_true", help="Monte Carlo only")
    add_executor_arguments(parser)
    parser.add_argument("--on-error", choices=("record", "raise"), default="record",
                        help="record: a failing configuration is reported and the others are "
                        "still written (marked partial; exit 5); raise: stop at the first "
                        "failure and write nothing (record)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="write the results to FILE (.json or .csv), atomically")


def parse_width_item(text: str) -> int | list[int]:
    """``"128"`` → 128; ``"16,32,8"`` → [16, 32, 8] (the widths n_0..n_L of one chain)."""
    try:
        values = [int(p.strip()) for p in str(text).split(",")]
    except ValueError:
        raise InvalidArgumentError(
            "--widths", text, "expected an integer or comma-separated integers n_0,...,n_L"
        ) from None
    return values[0] if len(values) == 1 else values


def run(args: argparse.Namespace) -> int:
    from ..montecarlo.sweeps import sweep

    if Path(args.out).suffix.lower() not in (".json", ".csv"):
        raise InvalidArgumentError("--out", args.out, "expected a .json or .csv file name")
    if args.inits is not None and args.sigma_w2 is not None:
        raise InvalidArgumentError("--inits", args.inits, "give --inits or --sigma-w2, not both")
    grid: dict[str, Any] = {"activation": args.activations}
    if args.archs is not None:
        grid["arch"] = args.archs
    if args.sigma_w2 is not None:
        grid["sigma_w2"] = args.sigma_w2
    else:
        grid["init"] = args.inits if args.inits is not None else ["xavier"]
    grid["depth"] = args.depths
    grid["width"] = [parse_width_item(w) for w in args.widths]
    if args.sigma_b2 is not None:
        grid["sigma_b2"] = args.sigma_b2
    if args.input_q is not None:
        grid["input_q"] = args.input_q
    options: dict[str, Any] = {
        "trials": args.trials, "seed": args.seed, "method": args.method,
        "predict": not args.no_predict, "simulate": not args.no_simulate,
        "on_error": args.on_error,
    }
    with contextlib.ExitStack() as stack:
        options.update(executor_options(args, stack))
        result = sweep(grid, **options)
    path = result.save(args.out)
    sys.stdout.write(format_summary(result))
    failures = result.failures
    if failures:
        first = failures[0]
        raise SweepError(
            first.index, len(result), first.parameters, first.error["type"],
            f"{first.error['reason']} ({len(failures)} of {len(result)} configurations failed; "
            f"the others were written to {path}, marked partial)",
        )
    print(f"vgmath: wrote {path} ({len(result)} configurations)", file=sys.stderr)
    return 0


def format_summary(result: Any) -> str:
    """One line per configuration: its parameters and log10 E[(g⁰)²]/E[(g^L)²] from theory and
    from Monte Carlo (± standard error)."""
    rows = result.rows(level="config")
    head = (f"{'#':>4} {'arch':<10} {'activation':<16} {'init':<10} {'depth':>5} {'width':>6} "
            f"{'σ_w²':>6} {'σ_b²':>6}  {'log10 ratio theory':>18}  {'log10 ratio MC ± se':>20}")
    lines = ["log10 E[(g^0)^2]/E[(g^L)^2] per configuration", head, "-" * len(head)]
    for r in rows:
        width = r["width"] if isinstance(r["width"], int) else "list"
        theory = _fmt(r.get("theory_log10_gradient_ratio"))
        mc = "-"
        if "sim_log10_gradient_ratio" in r:
            se = _fmt(r["sim_log10_gradient_ratio_se"], 2)
            mc = f"{_fmt(r['sim_log10_gradient_ratio'])} ± {se}"
        lines.append(
            f"{r['config']:>4} {r['arch']:<10} {r['activation'][:16]:<16} {r['init']:<10} "
            f"{r['depth']:>5} {width!s:>6} {r['sigma_w2_exact'] or '-':>6} "
            f"{r['sigma_b2_exact']:>6}  {theory:>18}  {mc:>20}"
        )
    return "\n".join(lines) + "\n"


def _fmt(value: Any, digits: int = 5) -> str:
    if value is None:
        return "-"
    v = float(value)
    if v != v:  # NaN
        return "-"
    return f"{v:.{digits}g}"
