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

__all__ = ["COMMANDS", "main", "parse_params"]

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
