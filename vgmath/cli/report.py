"""``vgmath report``: write (and compile) the LaTeX report with figures and data."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import InvalidArgumentError
from ..reporting.core import DEFAULT_ACTIVATIONS, DEFAULT_INITS
from .options import add_readout_argument

__all__ = ["HELP", "add_arguments", "parse_activation_items", "run"]

HELP = "write a LaTeX report (PDF, figures, data) deriving and verifying gradient behaviour"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--activations", nargs="+", metavar="ACT", default=list(DEFAULT_ACTIVATIONS),
        help="catalog names or expressions in x; LABEL=EXPRESSION gives a display label, "
        "with $...$ parts typeset as mathematics in a safe subset of LaTeX "
        r"('$\tanh_{5/3}$=1.7159*tanh(2*x/3)') "
        f"(default: {' '.join(DEFAULT_ACTIVATIONS)})",
    )
    parser.add_argument(
        "--inits", nargs="+", metavar="INIT", default=list(DEFAULT_INITS),
        help="initialisation schemes; custom:V is a custom rule with weight variance "
        f"sigma_w2 = V/fan_in, labelled by V (default: {' '.join(DEFAULT_INITS)})",
    )
    depth = parser.add_mutually_exclusive_group()
    depth.add_argument("--depth", type=int, default=30, help="depth L of every chain (30)")
    depth.add_argument("--depths", type=int, nargs="+", default=None, metavar="L",
                       help="several depths: the depth-dependent sections once per depth")
    width = parser.add_mutually_exclusive_group()
    width.add_argument("--width", type=int, default=128, help="width n of every layer (128)")
    width.add_argument("--widths", type=int, nargs="+", default=None, metavar="N",
                       help="several widths: the width-dependent sections once per width")
    parser.add_argument("--trials", type=int, default=300,
                        help="independent random networks per chain (300)")
    parser.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (0)")
    parser.add_argument("--sigma-b2", default="0", help="bias variance σ_b² (0)")
    parser.add_argument("--eps", default="1/100",
                        help="saturation threshold: the region |φ′| < EPS (1/100)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help="verification test level (0.01)")
    parser.add_argument("--no-simulate", action="store_true",
                        help="theory only: no Monte Carlo, no verification")
    parser.add_argument("--latex", choices=("auto", "pdflatex", "latexmk", "none"),
                        default="auto", help="LaTeX engine (auto: pdflatex, else latexmk)")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=True,
                          help="show progress on stderr (default)")
    progress.add_argument("--quiet", dest="progress", action="store_false",
                          help="no progress output")
    parser.add_argument("--training", nargs="+", default=None, metavar="FILE",
                        help="saved training studies (vgmath train-study ... --out FILE.json) "
                        "for the training section")
    add_readout_argument(parser)
    parser.add_argument(
        "--sections", nargs="+", default=None, metavar="SECTION",
        help="sections to build, in this order (names separated by spaces or commas): "
        "activations, initialisations (inits), depth, recurrent (time), "
        "edge_of_chaos (edge), phase_diagram (phase), training (default: all)",
    )
    parser.add_argument("--summary", action="store_true",
                        help="a short document (about two pages): findings, the depth figure "
                        "and table, each profile that does not pass explained")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder (created; an old vgmath report there is replaced)")


def parse_activation_items(items: list[str]) -> list[object]:
    """``NAME`` / ``EXPRESSION`` items, or ``LABEL=EXPRESSION`` (split at the first '=')."""
    out: list[object] = []
    for item in items:
        label, sep, expr = item.partition("=")
        if sep:
            if not label.strip() or not expr.strip():
                raise InvalidArgumentError("--activations", item, "expected LABEL=EXPRESSION")
            out.append((label.strip(), expr.strip()))
        else:
            out.append(item)
    return out


def run(args: argparse.Namespace) -> int:
    from ..reporting.driver import report

    result = report(
        args.out,
        activations=parse_activation_items(args.activations),
        inits=args.inits,
        depth=args.depth,
        width=args.width,
        trials=args.trials,
        seed=args.seed,
        simulate=not args.no_simulate,
        sigma_b2=args.sigma_b2,
        eps=args.eps,
        alpha=args.alpha,
        training=args.training,
        sections=args.sections,
        depths=args.depths,
        widths=args.widths,
        summary=args.summary,
        latex=args.latex,
        progress=args.progress,
        readout=args.readout,
    )
    target = result.pdf if result.pdf is not None else result.tex
    print(target)
    sys.stdout.flush()
    return 0
