"""``vgmath train-study``: train ensembles of networks and relate learning to the theory.

::

    vgmath train-study grid --activations sigmoid relu --inits xavier he --depths 10 30 \\
        --steps 300 --out study.json
    vgmath train-study phase --sigma-w2 1 1.5 1.75 2 3 4 --depths 10 20 40 80 \\
        --steps 500 --out phase.json --figure phase.pdf
    vgmath train-study mitigations --depths 10 30 50 --steps 300 --out mitigations.json \\
        --figure mitigations.pdf

``grid`` trains a Cartesian grid (the keys of ``vgmath sweep``); ``phase`` the trainability
phase diagram of tanh over (σ_w², L) against L < 6 ξ_c (Schoenholz et al. 2017); ``mitigations``
deep sigmoid/Xavier against ReLU/He, residual, batch norm and the edge of chaos. ``--out``
(``.json``) is rewritten after every finished run and a rerun resumes from it; ``.csv`` writes
the tidy per-layer table at the end. A summary goes to stdout (``--json``: machine-readable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError
from .options import add_executor_arguments, executor_options

__all__ = ["HELP", "add_arguments", "run"]

HELP = "train ensembles of networks on real data: trainability, per-layer learning, mitigations"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", choices=("grid", "phase", "mitigations"),
                        help="what to train (see the module help)")
    grid = parser.add_argument_group("configurations")
    grid.add_argument("--activations", nargs="+", default=None, metavar="ACT",
                      help="grid: activations (catalog names or expressions in x)")
    grid.add_argument("--inits", nargs="+", default=None, metavar="INIT",
                      help="grid: initialisation schemes (xavier unless --sigma-w2)")
    grid.add_argument("--sigma-w2", nargs="+", default=None, metavar="S",
                      help="grid/phase: mean-field σ_w² values (Var(W) = σ_w²/fan_in)")
    grid.add_argument("--depths", nargs="+", type=int, default=None, metavar="L",
                      help="depths (grid: 10; phase: 5..100; mitigations: 10 30 50)")
    grid.add_argument("--width", type=int, default=64, help="hidden width (64)")
    grid.add_argument("--sigma-b2", nargs="+", default=None, metavar="S",
                      help="grid: bias variances σ_b² (0); phase: one value (0.05)")
    grid.add_argument("--archs", nargs="+", default=None, metavar="ARCH",
                      help="grid: chain, resnet, resnet_pre (chain)")
    budget = parser.add_argument_group("training budget")
    budget.add_argument("--steps", type=int, default=300, help="SGD steps per run (300)")
    budget.add_argument("--lr", type=float, default=0.01, help="learning rate (0.01)")
    budget.add_argument("--batch", type=int, default=64, help="mini-batch size (64)")
    budget.add_argument("--log-every", type=int, default=10, help="log every N steps (10)")
    budget.add_argument("--replicas", type=int, default=1,
                        help="independently initialised runs per configuration (1)")
    budget.add_argument("--data", default="digits",
                        help="'digits' (scikit-learn's, bundled) or mnist:PATH.npz (digits)")
    budget.add_argument("--seed", type=int, default=0, help="study seed (0)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="phase: test accuracy that counts as trainable (0.5)")
    parser.add_argument("--target", type=float, default=0.8,
                        help="mitigations: target test accuracy for 'steps to target' (0.8)")
    add_executor_arguments(parser)
    parser.add_argument("--out", required=True, metavar="FILE",
                        help=".json (everything; resumable) or .csv (per-layer table)")
    parser.add_argument("--no-resume", action="store_true",
                        help="retrain everything even if --out holds finished runs")
    parser.add_argument("--figure", default=None, metavar="FILE",
                        help="phase/mitigations: write the figure (FILE.pdf and FILE.png)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".json", ".csv"):
        raise InvalidArgumentError("--out", args.out, "expected a .json or .csv file name")
    if args.figure is not None and args.study == "grid":
        raise InvalidArgumentError("--figure", args.figure, "figures are drawn for phase and "
                                   "mitigations studies")
    resumable = out.suffix.lower() == ".json"
    options: dict[str, Any] = {
        "steps": args.steps, "lr": args.lr, "batch": args.batch, "log_every": args.log_every,
        "replicas": args.replicas, "data": args.data, "seed": args.seed,
        "out": out if resumable else None, "resume": not args.no_resume,
    }
    with contextlib.ExitStack() as stack:
        options.update(executor_options(args, stack))
        summary, payload, result, study = _run_study(args, options)
    if not resumable:
        study.save(out)
    if args.figure is not None:
        from ..reporting.training_figures import mitigations_figure, trainability_figure

        fig = Path(args.figure)
        draw = trainability_figure if args.study == "phase" else mitigations_figure
        pdf, png = draw(result, fig.parent if str(fig.parent) else Path("."), fig.stem)
        print(f"vgmath: wrote {pdf} and {png}", file=sys.stderr)
    if args.json:
        print(json.dumps(payload, indent=1))
    else:
        print(summary)
    print(f"vgmath: wrote {out} ({len(study.runs)} runs)", file=sys.stderr)
    return 0


def _run_study(args: argparse.Namespace, options: dict[str, Any]) -> tuple[str, Any, Any, Any]:
    from ..training.analysis import mitigations, trainability
    from ..training.study import train_study

    if args.study == "phase":
        sw = args.sigma_w2 or [1, 1.25, 1.5, 1.75, 2, 2.5, 3, 4]
        depths = args.depths or [5, 10, 20, 30, 40, 60, 80, 100]
        sb = args.sigma_b2 or ["0.05"]
        if len(sb) != 1:
            raise InvalidArgumentError("--sigma-b2", sb, "the phase study takes one value")
        act = (args.activations or ["tanh"])
        if len(act) != 1:
            raise InvalidArgumentError("--activations", act, "the phase study takes one")
        tr = trainability([float(s) for s in sw], depths, activation=act[0],
                          sigma_b2=float(sb[0]), width=args.width, threshold=args.threshold,
                          **options)
        return tr.summary(), tr.to_dict(), tr, tr.study
    if args.study == "mitigations":
        m = mitigations(args.depths or [10, 30, 50], width=args.width, target=args.target,
                        **options)
        return m.summary(), m.to_dict(), m, m.study
    if not args.activations:
        raise InvalidArgumentError("--activations", None, "a grid study needs --activations")
    if args.inits is not None and args.sigma_w2 is not None:
        raise InvalidArgumentError("--inits", args.inits, "give --inits or --sigma-w2, not both")
    grid: dict[str, Any] = {"activation": args.activations, "depth": args.depths or [10],
                            "width": [args.width]}
    if args.sigma_w2 is not None:
        grid["sigma_w2"] = args.sigma_w2
    else:
        grid["init"] = args.inits or ["xavier"]
    if args.sigma_b2 is not None:
        grid["sigma_b2"] = args.sigma_b2
    if args.archs is not None:
        grid["arch"] = args.archs
    study = train_study(grid, **options)
    lines = ["final test accuracy per configuration (mean over replicas):"]
    for i, (cfg, acc) in enumerate(zip(study.configs, study.final(), strict=True)):
        lines.append(f"{i:>4}  {cfg['label']:<60}  {acc:.3f}")
    payload = {"configs": [c["label"] for c in study.configs],
               "final_test_acc": [float(a) for a in study.final()]}
    return "\n".join(lines), payload, study, study
