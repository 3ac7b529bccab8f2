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

from ..core.errors import InvalidArgumentError, VgmathError

__all__ = [
    "COMMANDS",
    "main",
]

#: subcommand name -> module (imported only when that command runs or help is built)
COMMANDS: dict[str, str] = {
    "derive": "derive",
    "predict": "predict",
    "critical": "critical",
    "simulate": "simulate",
    "verify": "verify",
    "sweep": "sweep",
    "report": "report",
    "inspect": "inspect",
    "plot-monitor": "plot_monitor",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _available() -> dict[str, Any]:
    mods = {}
    for name, modname in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(f"vgmath.cli.{modname}")
        except ModuleNotFoundError as err:
            if err.name != f"vgmath.cli.{modname}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    from ..core.version import __version__

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
