"""``vgmath simulate``: Monte Carlo of an ensemble of independent random networks.

::

    vgmath simulate tanh --init xavier --depth 50 --width 128 --trials 200 --seed 0
    vgmath simulate leaky_relu --param slope=0.1 --init he --init-param negative_slope=0.1
    vgmath simulate sigmoid --depth 10000 --width 16 --dtype float32 --out sigmoid.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError
from .options import add_chain_arguments

__all__ = ["HELP", "add_arguments", "run"]

HELP = "simulate independent random networks layer by layer (Monte Carlo)"

_MAX_ROWS = 41  # layers shown in the table for deep chains (all are in --json / --out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_chain_arguments(parser, depth=50, width=128, optional_activation=True)
    parser.add_argument("--trials", type=int, default=200,
                        help="independent random networks (200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--method", choices=("auto", "conditioned", "dense"), default="auto",
                        help="sampler: conditioned (exact, Gaussian weights, O(n) per layer), "
                        "dense (explicit weights, any init) or auto (default)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                        help="arithmetic of the networks (float64)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes (results do not depend on it) (1)")
    parser.add_argument("--max-memory", metavar="SIZE", default=None,
                        help="memory limit such as 8G (default: VGMATH_MAX_MEMORY or 80%% of "
                        "the available memory; 0 = no limit)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", metavar="FILE",
                        help="also write the result to FILE (.json or .csv), atomically")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal)")
    from .arch import add_arch_arguments

    add_arch_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..core.progress import stderr_is_tty
    from ..montecarlo.simulation import simulate
    from .arch import network_from_args, summary, to_json_dict

    if args.out is not None and Path(args.out).suffix.lower() not in (".json", ".csv"):
        raise InvalidArgumentError("--out", args.out, "expected a .json or .csv file name")
    chain = network_from_args(args)
    show = stderr_is_tty() if args.progress is None else bool(args.progress)
    sim = simulate(
        chain,
        trials=args.trials,
        seed=args.seed,
        method=args.method,
        dtype=args.dtype,
        progress=show,
        workers=args.workers,
        clip_norm=args.clip,
        max_memory=args.max_memory,
    )
    if args.out is not None:
        path = sim.save(args.out)
        print(f"vgmath: wrote {path}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(to_json_dict(sim), indent=2, allow_nan=False) + "\n")
    else:
        sys.stdout.write(format_table(sim) + summary(sim))
    return 0


def format_table(sim: Any) -> str:
    """A per-layer text table (at most ``_MAX_ROWS`` evenly spaced layers)."""
    L = sim.depth
    if L + 1 <= _MAX_ROWS:
        rows = list(range(L + 1))
    else:
        step = L / (_MAX_ROWS - 1)
        rows = sorted({round(i * step) for i in range(_MAX_ROWS)} | {0, L})
    f = sim.fields
    lines = [
        (f"{sim.chain}: {sim.trials} networks, method={sim.method}, dtype={sim.dtype}, "
        f"seed={sim.seed}, {sim.elapsed_seconds:.2f} s"),
        "values are ensemble means ± standard errors; E[g²] is relative to E[(g^L_i)²] = 1",
        "",
        (f"{'layer':>6}  {'q':>11} {'± se':>9}  {'log10 E[g²]':>12} {'± se':>8}  "
        f"{'chi':>10} {'± se':>9}  {'E[ln R]':>9} {'± se':>8}"),
    ]
    for l in rows:
        lines.append(
            f"{l:>6}  {_fmt(f['q'][l]):>11} {_fmt(f['q_se'][l], 2):>9}  "
            f"{_fmt(f['log10_grad_second_moment'][l], 5):>12} "
            f"{_fmt(f['log10_grad_second_moment_se'][l], 2):>8}  "
            f"{_fmt(f['chi'][l]):>10} {_fmt(f['chi_se'][l], 2):>9}  "
            f"{_fmt(f['mean_ln_chi'][l]):>9} {_fmt(f['mean_ln_chi_se'][l], 2):>8}"
        )
    if len(rows) < L + 1:
        lines.append(f"(showing {len(rows)} of {L + 1} layers; --json or --out has all)")
    lines += ["", *_moment_ratio_lines(sim)]
    lines += _tail_notes(sim)
    return "\n".join(lines) + "\n"


def _moment_ratio_lines(sim: Any) -> list[str]:
    """The fourth-moment ratios with the studentised-bootstrap 95% interval where the
    per-network values are available (the delta-method ± se undercovers even under moderate
    tails: benchmarks/VERIFY.md), and no interval at all where k̂ > 1/2 (E[‖v‖⁴] = ∞)."""
    from ..network.description import Chain

    labels = (("gradient", "E[‖g⁰‖⁴]/E[‖g⁰‖²]²", sim.grad_moment_ratio, sim.grad_moment_ratio_se),
              ("forward", "E[‖x^L‖⁴]/E[‖x^L‖²]²", sim.forward_moment_ratio,
               sim.forward_moment_ratio_se))
    per_network = isinstance(sim.chain, Chain) and "ln_grad_second_moment" in sim.samples
    out = []
    for which, label, ratio, se in labels:
        if not per_network:
            out.append(f"{label} = {_fmt(ratio)} ± {_fmt(se, 2)} (delta method)")
            continue
        check = sim.moment_ratio_check(which)
        lo, hi = check["bootstrap_ci"]
        if check["interval_trusted"]:
            out.append(f"{label} = {_fmt(ratio)}, 95% interval [{_fmt(lo)}, {_fmt(hi)}] "
                       "(studentised bootstrap)")
        else:
            out.append(f"{label} = {_fmt(ratio)}, no interval can be trusted: tail shape "
                       f"k = {check['tail_k']:.2f} > 0.5, E[‖v‖⁴] = ∞ over networks "
                       f"(bootstrap [{_fmt(lo)}, {_fmt(hi)}] indicative only)")
    return out


def _tail_notes(sim: Any) -> list[str]:
    """Warnings where the standard errors of the means cannot be trusted (heavy tails,
    k̂ > 1/2): see vgmath.montecarlo.tails."""
    from ..network.description import Chain

    if not isinstance(sim.chain, Chain) or "ln_grad_second_moment" not in sim.samples:
        return []
    out = []
    k = sim.tail_shape("grad_second_moment")
    heavy = [int(l) for l in range(len(k)) if k[l] > 0.5]
    if heavy:
        out.append(f"warning: E[g²] at layers {heavy} is heavy-tailed over networks (tail "
                   "shape k > 0.5): its ± se is unreliable (the mean is carried by a few "
                   "networks); vgmath verify treats these layers, and layers within 5 of "
                   "them, as untestable")
    return out


def _fmt(value: float, digits: int = 4) -> str:
    v = float(value)
    if v != v:  # NaN: the layer has no such quantity
        return "-"
    return f"{v:.{digits}g}"
