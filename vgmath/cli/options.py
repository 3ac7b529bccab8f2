"""Options shared by several subcommands (chain description, parameters, widths)."""

from __future__ import annotations

import argparse
import contextlib
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
    add_readout_argument(parser)


def add_readout_argument(parser: argparse.ArgumentParser) -> None:
    """``--readout activation|linear``: the output-layer convention of the chain."""
    parser.add_argument("--readout", choices=("activation", "linear"), default="activation",
                        help="output layer: 'activation' (φ on it too; default) or 'linear' "
                        "(no φ: the neural-tangents / PyTorch read-out; plain chains only)")


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
    extra.setdefault("readout", getattr(args, "readout", "activation"))
    return Chain(activation=act, init=init, depth=args.depth, width=width,
                 sigma_b2=args.sigma_b2, input_q=args.input_q, **extra)


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """``--workers N`` | ``--dask-local N`` | ``--scheduler ADDRESS`` and ``--progress``: where
    a grid of work runs (sweeps, training studies)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="local worker processes (default: one per CPU; 1 runs serially)")
    where.add_argument("--dask-local", type=int, default=None, metavar="N",
                       help="start a Dask LocalCluster of N worker processes (needs vgmath[dask])")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on the Dask scheduler at ADDRESS, e.g. tcp://host:8786 "
                       "(needs vgmath[dask])")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal)")


def executor_options(args: argparse.Namespace, stack: contextlib.ExitStack) -> dict[str, Any]:
    """The ``executor``/``workers``/``progress`` keywords of :func:`vgmath.sweep` and
    :func:`vgmath.train_study` from :func:`add_executor_arguments`'s options (a Dask client is
    entered on ``stack``, so it is closed when the work is done)."""
    from ..core.progress import stderr_is_tty
    from ..montecarlo.executors import dask_executor

    out: dict[str, Any] = {
        "progress": stderr_is_tty() if args.progress is None else bool(args.progress)
    }
    if args.dask_local is not None:
        out["executor"] = stack.enter_context(dask_executor(workers=args.dask_local))
    elif args.scheduler is not None:
        out["executor"] = stack.enter_context(dask_executor(args.scheduler))
    elif args.workers == 1:
        out["executor"] = "serial"
    elif args.workers is not None:
        out["workers"] = args.workers
    return out
