"""Options shared by several subcommands (chain description, parameters, widths)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..core.errors import InvalidArgumentError


def parse_params(items: Sequence[str] | None, argument: str = "--param") -> dict[str, str]:
    """``["slope=0.1", "alpha=1/2"]`` → ``{"slope": "0.1", "alpha": "1/2"}`` (values stay text;
    vgmath parses them safely later)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier() or not value.strip():
            raise InvalidArgumentError(argument, item, "expected NAME=VALUE")
        if name.strip() in out:
            raise InvalidArgumentError(
                argument, item,
                f"{name.strip()} is given twice ({out[name.strip()]} and {value.strip()})",
            )
        out[name.strip()] = value.strip()
    return out


def parse_widths(text: str, depth: int) -> int | list[int]:
    """``"128"`` → 128; ``"16,32,32,8"`` → [16, 32, 32, 8] (n_0..n_L)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise InvalidArgumentError(
            "--width", text, "expected an integer or comma-separated integers n_0,...,n_L"
        ) from None
    if len(values) == 1:
        return values[0]
    if len(values) != depth + 1:
        raise InvalidArgumentError(
            "--width", text, f"a list of widths needs depth + 1 = {depth + 1} entries"
        )
    return values


def add_chain_arguments(parser: argparse.ArgumentParser, *, depth: int, width: int,
                        optional_activation: bool = False) -> None:
    """The options that describe a chain, shared by predict, simulate and verify."""
    parser.add_argument("activation", metavar="ACTIVATION",
                        nargs="?" if optional_activation else None,
                        help="catalog name (tanh, relu, ...) or an expression in x"
                        + (" (LSTM/GRU: optional, the cell's own tanh)" if optional_activation
                           else ""))
    parser.add_argument("--init", default="xavier",
                        help="initialisation scheme: xavier, he, lecun, orthogonal, "
                        "he_uniform, truncated_normal, custom, ... (xavier)")
    parser.add_argument("--init-param", action="append", metavar="NAME=VALUE",
                        help="initialisation option, e.g. gain=2, sigma_w2=2, negative_slope=0.1 "
                        "(repeatable)")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="activation parameter, e.g. slope=0.1 (repeatable)")
    parser.add_argument("--depth", type=int, default=depth, help=f"number of layers L ({depth})")
    parser.add_argument("--width", default=str(width),
                        help="width of every layer, or the widths n_0,...,n_L separated by "
                        f"commas ({width})")
    parser.add_argument("--sigma-b2", default="0", help="bias variance σ_b² (0)")
    parser.add_argument("--input-q", default="1", help="input second moment ‖x⁰‖²/n₀ (1)")


def chain_parts(args: argparse.Namespace) -> tuple[Any, Any, int | list[int]]:
    """(activation, init spec, widths) from the options of :func:`add_chain_arguments`."""
    from ..symbolic.catalog import activation

    act = activation(args.activation, **parse_params(args.param, "--param"))
    init_options = parse_params(args.init_param, "--init-param")
    init: Any = {"scheme": args.init, **init_options} if init_options else args.init
    return act, init, parse_widths(args.width, args.depth)


def chain_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    """A :class:`vgmath.Chain` from the options of :func:`add_chain_arguments` (``extra``:
    further Chain fields, e.g. ``residual``)."""
    from ..network.description import Chain

    act, init, width = chain_parts(args)
    return Chain(activation=act, init=init, depth=args.depth, width=width,
                 sigma_b2=args.sigma_b2, input_q=args.input_q, **extra)

