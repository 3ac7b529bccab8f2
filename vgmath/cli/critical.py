"""``vgmath critical``: the edge of chaos χ₁ = 1 of an activation (mean-field theory).

::

    vgmath critical erf                   # σ_w² = pi/4 exactly (σ_b² = 0)
    vgmath critical tanh --sigma-b2 0.05  # σ_w² ≈ 1.76095 (numeric, with its error bound)
    vgmath critical tanh --sigma-b2 0,0.05,0.1 --json
"""

from __future__ import annotations

import argparse
import json
import sys

from .main import EXIT_NOT_COMPLETED, EXIT_OK

__all__ = ["HELP", "add_arguments", "run"]

HELP = "the edge of chaos: sigma_w2 with chi_1 = 1 at the fixed point (exact where possible)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("activation", metavar="ACTIVATION",
                        help="catalog name (tanh, erf, relu, ...) or an expression in x")
    parser.add_argument("--sigma-b2", default="0",
                        help="bias variance σ_b², or several separated by commas (0)")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="activation parameter, e.g. slope=0.1 (repeatable)")
    parser.add_argument("--q0", type=float, default=1.0,
                        help="starting second moment of the variance-map iteration (1)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (exact values as strings beside floats)")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidArgumentError, NoFixedPointError
    from ..symbolic.catalog import activation
    from ..theory.criticality import critical_point
    from .options import parse_params

    act = activation(args.activation, **parse_params(args.param, "--param"))
    values = [v.strip() for v in str(args.sigma_b2).split(",")]
    if not all(values):
        raise InvalidArgumentError(
            "--sigma-b2", args.sigma_b2, "expected numbers separated by commas"
        )
    results = []
    failures = 0
    for v in values:
        try:
            results.append(critical_point(act, sigma_b2=v, q0=args.q0))
        except NoFixedPointError as err:
            if len(values) == 1:
                raise
            failures += 1
            results.append(err)
    if args.json:
        data = [
            r.to_dict() if not isinstance(r, Exception)
            else {"kind": "critical_point", "sigma_b2": {"exact": v, "float": None},
                  "error": str(r)}
            for v, r in zip(values, results, strict=True)
        ]
        payload = data[0] if len(data) == 1 else data
        sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    else:
        blocks = [
            str(r) if not isinstance(r, Exception) else f"sigma_b2 = {v}: {r}"
            for v, r in zip(values, results, strict=True)
        ]
        sys.stdout.write("\n\n".join(blocks) + "\n")
    return EXIT_NOT_COMPLETED if failures == len(values) else EXIT_OK
