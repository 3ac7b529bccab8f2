"""``vgmath verify``: test a claim about a depth profile (or a bound) against simulation.

::

    vgmath verify tanh --init xavier --depth 20 --width 128
    vgmath verify relu --init he --claim "2**(-L)"            # a wrong closed form: exit 1
    vgmath verify sigmoid --init xavier --bound 1/4           # φ′ ≤ 1/4 and ‖g^0‖ ≤ (1/4)^L ‖g^L‖
    vgmath verify gelu --init he --json --out verdict.json

Exit code: 0 when the claim holds, 1 when it is rejected (or, for ``--bound``, refuted or
undecided), 2 on a usage error (a bad option, an unsafe or malformed ``--claim``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import InvalidArgumentError
from .options import add_chain_arguments, chain_from_args

__all__ = ["HELP", "add_arguments", "run"]

HELP = "test a claim (vgmath's theory by default, --claim EXPR, or --bound C) against simulation"

_MAX_ROWS = 41


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_chain_arguments(parser, depth=20, width=128)
    parser.add_argument("--trials", type=int, default=None,
                        help="independent random networks (1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help="family-wise error rate across layers (0.01)")
    parser.add_argument("--quantity", default="grad_second_moment",
                        help="grad_second_moment (default), grad_preact_second_moment, "
                        "grad_weight_second_moment or q")
    parser.add_argument("--method", choices=("hall", "lognormal", "z"), default="hall",
                        help="per-layer test (hall: skewness-corrected, the default)")
    parser.add_argument("--claim", metavar="EXPR",
                        help="claimed infinite-width profile in l (layer) and L (depth), e.g. "
                        "'2**(-(L - l))' (default: vgmath's own prediction)")
    parser.add_argument("--bound", metavar="C",
                        help="check the bound claims φ′(x) ≤ C for all x (certified) and "
                        "‖g^l‖ ≤ C^(L−l) ‖g^L‖ on every simulated network")
    parser.add_argument("--no-finite-width", action="store_true",
                        help="do not allow for the finite-width bias (test E[Y] = claim)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", metavar="FILE",
                        help="also write the result to FILE (.json or .csv), atomically; with "
                        "--bound, JSON holds both checks and CSV the per-layer gradient check")


def run(args: argparse.Namespace) -> int:
    from ..verification.verify import DEFAULT_TRIALS, verify, verify_bound, verify_gradient_bound

    if args.out and Path(args.out).suffix.lower() not in (".json", ".csv"):
        raise InvalidArgumentError("--out", args.out, "expected a .json or .csv file name")
    if args.claim is not None and args.bound is not None:
        raise InvalidArgumentError("--bound", args.bound, "give either --claim or --bound")
    trials = DEFAULT_TRIALS if args.trials is None else args.trials
    chain = chain_from_args(args)

    if args.bound is not None:
        phi = verify_bound(chain.act, args.bound, seed=args.seed)
        grad = verify_gradient_bound(chain, args.bound, trials=trials, seed=args.seed)
        payload = {"derivative_bound": phi.to_dict(), "gradient_bound": grad.to_dict()}
        if args.out:
            if Path(args.out).suffix.lower() == ".json":
                from ..core.io import atomic_write as _atomic_write

                _atomic_write(args.out, json.dumps(payload, indent=2, allow_nan=False) + "\n")
            else:
                grad.save(args.out)
            print(f"vgmath: wrote {args.out}", file=sys.stderr)
        if args.json:
            sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        else:
            sys.stdout.write(phi.table() + "\n\n" + grad.table(rows=_MAX_ROWS) + "\n")
        return 0 if (phi.holds is True and grad.passed) else 1

    result = verify(
        chain,
        args.claim,
        trials=trials,
        seed=args.seed,
        alpha=args.alpha,
        quantity=args.quantity,
        method=args.method,
        finite_width=not args.no_finite_width,
    )
    if args.out:
        path = result.save(args.out)
        print(f"vgmath: wrote {path}", file=sys.stderr)
    if args.json:
        sys.stdout.write(result.to_json())
    else:
        sys.stdout.write(result.table(rows=_MAX_ROWS) + "\n")
    return 0 if result.passed else 1
