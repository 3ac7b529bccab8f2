"""``vgmath predict``: the mean-field depth profile of a chain (theory, no sampling).

::

    vgmath predict relu --init he --depth 50 --width 256
    vgmath predict tanh --init xavier --depth 100 --sigma-b2 0.05 --json
    vgmath predict relu --init he --depth 20 --residual 0.5 --variant pre
    vgmath predict leaky_relu --param slope=0.1 --init he --init-param negative_slope=0.1
    vgmath predict sigmoid --init xavier --depth 200 --dtype-limits
    vgmath predict gelu --init he --depth 20 --width 64 --finite-width
    vgmath predict relu --init he --depth 20 --batch 32      # batch-normalised, infinite width
"""

from __future__ import annotations

import argparse
import json
import sys

from .options import add_chain_arguments, chain_from_args

__all__ = ["HELP", "add_arguments", "run"]

HELP = "mean-field theory through depth: q, chi and the gradient second moments per layer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_chain_arguments(parser, depth=50, width=256)
    parser.add_argument("--residual", metavar="ALPHA", default=None,
                        help="residual blocks x_l = x_{l-1} + ALPHA·F(x_{l-1}) (plain chain if "
                        "omitted)")
    parser.add_argument("--branch-depth", type=int, choices=(1, 2), default=1,
                        help="dense+activation layers per residual branch (1)")
    parser.add_argument("--variant", choices=("post", "pre"), default="post",
                        help="residual branch ordering: post φ(Wx+b) or pre Wφ(x)+b (post)")
    parser.add_argument("--batch", metavar="B", type=int, default=None,
                        help="batch-normalised chain with B inputs per batch (infinite-width "
                        "theory at batch B; not with --residual)")
    parser.add_argument("--rows", type=int, default=21,
                        help="layers shown in the text table (21; --json has all)")
    parser.add_argument("--exact", action="store_true",
                        help="include the exact SymPy profiles (as strings) in --json output")
    parser.add_argument("--finite-width", action="store_true",
                        help="the means at the chain's width instead of the infinite-width "
                        "limit (plain chains; the mean-field profile is in the JSON extras)")
    parser.add_argument("--json", action="store_true", help="print the prediction as JSON")
    parser.add_argument("--dtype-limits", action="store_true",
                        help="also show where E[(g^l)^2] leaves the float16, bfloat16, float32 "
                        "and float64 ranges (normal, subnormal, overflow) and the loss scale "
                        "that keeps it representable")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidArgumentError
    from ..network.description import Residual
    from ..symbolic.numbers import short_expr, short_text
    from ..theory.precision import FLOAT_FORMATS
    from ..theory.prediction import predict

    if args.rows < 2:
        raise InvalidArgumentError("--rows", args.rows, "must be at least 2")
    residual = None
    if args.residual is not None:
        residual = Residual(
            alpha=args.residual, branch_depth=args.branch_depth, variant=args.variant
        )
    extra = {"norm": "batch", "batch": args.batch} if args.batch is not None else {}
    if extra and residual is not None:
        raise InvalidArgumentError("--batch", args.batch, "give --batch or --residual, not both")
    chain = chain_from_args(args, residual=residual, **extra)
    pred = predict(chain, finite_width=args.finite_width)
    limits = [pred.underflow_depth(d) for d in FLOAT_FORMATS] if args.dtype_limits else []
    if args.json:
        data = pred.to_dict(include_exact=args.exact)
        if limits:
            data["dtype_limits"] = [lim.to_dict() for lim in limits]
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return 0
    out = [pred.summary(), ""]
    if pred.formulas:
        out.append("closed forms (L = depth, l = layer):")
        out.extend(f"  {name} = {short_expr(expr)}" for name, expr in pred.formulas.items())
        out.append("")
    out.append(pred.table(rows=args.rows))
    ex = pred.exact
    if ex is not None and ex.grad_second_moment is not None:
        out.append("")
        out.append(f"exact: E[(g^0)^2]/E[(g^L)^2] = {short_text(ex.grad_second_moment[0])}")
    if limits:
        out.append("")
        out.append("precision limits of E[(g^l)^2] (layers back from the output; E[(g^L)^2] = 1):")
        out.extend(f"  {lim.summary()}" for lim in limits)
    sys.stdout.write("\n".join(out) + "\n")
    return 0
