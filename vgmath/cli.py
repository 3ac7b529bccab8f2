"""The ``vgmath`` command line: a thin layer over the public functions.

Each subcommand lives in ``vgmath/_cmd_<name>.py`` and defines

* ``HELP``: one line for ``vgmath --help``;
* ``add_arguments(parser)``: its options;
* ``run(args) -> int``: the work; returns the exit code.

Errors derived from :class:`vgmath.VgmathError` (and argparse usage errors) become one
readable line on stderr and a non-zero exit code (2 for usage errors, 1 otherwise unless the
command says so); no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from ._errors import InvalidArgumentError, VgmathError

__all__ = [
    "COMMANDS",
    "add_chain_arguments",
    "chain_from_args",
    "chain_parts",
    "main",
    "parse_params",
    "parse_widths",
]

#: subcommand name -> module (imported only when that command runs or help is built)
COMMANDS: dict[str, str] = {
    "derive": "_cmd_derive",
    "predict": "_cmd_predict",
    "critical": "_cmd_critical",
    "simulate": "_cmd_simulate",
    "verify": "_cmd_verify",
    "sweep": "_cmd_sweep",
    "report": "_cmd_report",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def parse_params(items: Sequence[str] | None, argument: str = "--param") -> dict[str, str]:
    """``["slope=0.1", "alpha=1/2"]`` → ``{"slope": "0.1", "alpha": "1/2"}`` (values stay text;
    vgmath parses them safely later)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier() or not value.strip():
            raise InvalidArgumentError(argument, item, "expected NAME=VALUE")
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


def add_chain_arguments(parser: argparse.ArgumentParser, *, depth: int, width: int) -> None:
    """The options that describe a chain, shared by predict, simulate and verify."""
    parser.add_argument("activation", metavar="ACTIVATION",
                        help="catalog name (tanh, relu, ...) or an expression in x")
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
    from ._activation import activation

    act = activation(args.activation, **parse_params(args.param, "--param"))
    init_options = parse_params(args.init_param, "--init-param")
    init: Any = {"scheme": args.init, **init_options} if init_options else args.init
    return act, init, parse_widths(args.width, args.depth)


def chain_from_args(args: argparse.Namespace, **extra: Any) -> Any:
    """A :class:`vgmath.Chain` from the options of :func:`add_chain_arguments` (``extra``:
    further Chain fields, e.g. ``residual``)."""
    from ._network import Chain

    act, init, width = chain_parts(args)
    return Chain(activation=act, init=init, depth=args.depth, width=width,
                 sigma_b2=args.sigma_b2, input_q=args.input_q, **extra)


def _available() -> dict[str, Any]:
    mods = {}
    for name, modname in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(f"vgmath.{modname}")
        except ModuleNotFoundError as err:
            if err.name != f"vgmath.{modname}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="vgmath",
        description="Explain, predict and verify vanishing and exploding gradients.",
    )
    parser.add_argument("--version", action="version", version=f"vgmath {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, mod in _available().items():
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(args._run(args))
    except _UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except VgmathError as err:
        print(f"vgmath: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, InvalidArgumentError) else 1
    except KeyboardInterrupt:
        print("vgmath: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as err:
        print(f"vgmath: error: {err}", file=sys.stderr)
        return 1
