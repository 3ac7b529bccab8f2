"""``vgmath verify``: test a claim about a depth profile (or a bound) against simulation.

::

    vgmath verify tanh --init xavier --depth 20 --width 128
    vgmath verify relu --init he --claim "2**(-L)"            # a wrong closed form: exit 1
    vgmath verify relu --init xavier --rate 1/2              # C·(1/2)^(L−l), C free
    vgmath verify relu --init he --within 2                  # within ×2 of the output
    vgmath verify relu --init he --arch resnet --branch-alpha 0.5   # a residual chain
    vgmath verify relu --init he --arch bn --tolerance 0.1   # batch-normalised, width allowance
    vgmath verify tanh --arch rnn --init orthogonal --steps 30 --claim "1" --tolerance 0.1
    vgmath verify sigmoid --init xavier --bound 1/4           # φ′ ≤ 1/4 and ‖g^0‖ ≤ (1/4)^L ‖g^L‖
    vgmath verify gelu --init he --json --out verdict.json

Exit status: 0 PASS (every claimed layer tested, none rejected); 1 FAIL (rejected; for
``--bound``, refuted by a point or by a simulated network); 2 usage error (a bad option, an
unsafe or malformed ``--claim``); 3 INCONCLUSIVE (nothing rejected, but some layer could
not be tested, or a ``--bound`` whose supremum could not be certified either way).

``--arch`` takes the architectures of ``vgmath simulate``. vgmath's own prediction covers
plain, residual and batch-normalised chains (the last at infinite width and the chain's batch,
:mod:`vgmath.theory.batchnorm`); for recurrent networks give the claim (``--claim``,
``--rate``, ``--within``). Post-activation residual chains with ReLU or leaky ReLU and no bias
are tested against their finite-width prediction by default. No finite-width bias model
exists for other residual, normalised or recurrent networks, so a claim about their
infinite-width limit is INCONCLUSIVE unless you allow for the width (``--tolerance``, natural
log) or test the finite-width mean itself (``--no-finite-width``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import InvalidArgumentError
from .options import add_chain_arguments

__all__ = ["HELP", "add_arguments", "run"]

HELP = ("test a claim (vgmath's theory by default, --claim EXPR, --rate C, --within F or "
        "--bound C) against simulation; exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE")

_MAX_ROWS = 41


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_chain_arguments(parser, depth=20, width=128, optional_activation=True)
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
    claims = parser.add_mutually_exclusive_group()
    claims.add_argument("--claim", metavar="EXPR",
                        help="claimed infinite-width profile in l (layer) and L (depth), e.g. "
                        "'2**(-(L - l))' (default: vgmath's own prediction)")
    claims.add_argument("--rate", metavar="C",
                        help="claim 'decays like C·c^(L−l)' with a free prefactor: the "
                        "per-layer rate c is estimated with a CI and tested")
    claims.add_argument("--within", metavar="F",
                        help="claim 'E‖g^l‖² within a factor F of the output's at every layer'")
    claims.add_argument("--bound", metavar="C",
                        help="check the bound claims φ′(x) ≤ C for all x (certified) and "
                        "‖g^l‖ ≤ C^(L−l) ‖g^L‖ on every simulated network")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="extra allowed |ln(simulated/claim)| (natural log) (0)")
    parser.add_argument("--max-tolerance", type=float, default=0.5,
                        help="largest tolerance + interval half-width (natural log) at which "
                        "a layer counts as tested (0.5: a factor e^0.5)")
    parser.add_argument("--no-finite-width", action="store_true",
                        help="do not allow for the finite-width bias (test E[Y] = claim)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", metavar="FILE",
                        help="also write the result to FILE (.json or .csv), atomically; with "
                        "--bound, JSON holds both checks and CSV the per-layer gradient check")
    from .arch import add_arch_arguments

    add_arch_arguments(parser, alpha_option="--branch-alpha", clip=False,
                       title="architectures (as in vgmath simulate; --alpha is the error rate "
                       "here, the branch scale is --branch-alpha)")


def _network(args: argparse.Namespace) -> object:
    """The network of the ``--arch`` options, built as ``vgmath simulate`` builds it (its
    ``--alpha`` is ``--branch-alpha`` here: ``--alpha`` is the error rate)."""
    from .arch import network_from_args

    return network_from_args(args, alpha="branch_alpha")


def run(args: argparse.Namespace) -> int:
    from ..verification.bounds import verify_bound, verify_gradient_bound
    from ..verification.profile import DEFAULT_TRIALS, verify
    from ..verification.shape import verify_band, verify_rate
    from ..verification.verdict import EXIT_CODES, Verdict

    if args.out is not None and not args.out.strip():
        raise InvalidArgumentError("--out", args.out, "expected a .json or .csv file name")
    if args.out and Path(args.out).suffix.lower() not in (".json", ".csv"):
        raise InvalidArgumentError("--out", args.out, "expected a .json or .csv file name")
    trials = DEFAULT_TRIALS if args.trials is None else args.trials
    chain = _network(args)

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
        if phi.holds is False or not grad.passed:
            return EXIT_CODES[Verdict.FAIL]  # refuted: a counterexample or a violating network
        if phi.holds is None:  # the sup could not be certified either way
            return EXIT_CODES[Verdict.INCONCLUSIVE]
        return EXIT_CODES[Verdict.PASS]

    common = {"trials": trials, "seed": args.seed, "alpha": args.alpha,
              "quantity": args.quantity}
    result: object
    if args.rate is not None:
        result = verify_rate(chain, args.rate, finite_width=not args.no_finite_width,
                             tolerance=args.tolerance, max_tolerance=args.max_tolerance,
                             **common)
    elif args.within is not None:
        result = verify_band(chain, args.within, **common)
    else:
        result = verify(
            chain,
            args.claim,
            method=args.method,
            finite_width=not args.no_finite_width,
            tolerance=args.tolerance,
            max_tolerance=args.max_tolerance,
            **common,
        )
    if args.out:
        path = result.save(args.out)  # type: ignore[attr-defined]
        print(f"vgmath: wrote {path}", file=sys.stderr)
    if args.json:
        sys.stdout.write(result.to_json())  # type: ignore[attr-defined]
    else:
        sys.stdout.write(result.table(rows=_MAX_ROWS) + "\n")  # type: ignore[attr-defined]
    return EXIT_CODES[result.verdict]  # type: ignore[attr-defined]
