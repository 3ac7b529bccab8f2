"""The ``vgmath`` command line: a thin layer over the public functions.

Each subcommand lives in ``vgmath/cli/<name>.py`` and defines

* ``HELP``: one line for ``vgmath --help``;
* ``add_arguments(parser)``: its options;
* ``run(args) -> int``: the work; returns the exit code.

Every exception becomes one readable line on stderr and a documented exit code; never a
traceback (set ``VGMATH_DEBUG=1`` to see one for an internal error):

====  ==================================================================================
code  meaning
====  ==================================================================================
0     success (``verify``: PASS)
1     ``verify`` rejected the claim (FAIL); no other command uses this code
2     usage error: a bad option or value, an expression the parser refuses, a request
      above a memory or size limit (refused before anything is allocated)
3     ``verify`` is INCONCLUSIVE: nothing rejected, but not every claimed layer was tested
4     out of memory or another resource of the machine ran out
5     the computation could not be completed (a bound that cannot be certified, an effort
      limit, no fixed point, a failed sweep point, an optional extra that is not installed)
70    internal error (a bug in vgmath: please report the line); EX_SOFTWARE of sysexits.h
130   interrupted (Ctrl-C); 143 terminated (SIGTERM)
====  ==================================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from ..core.errors import InvalidArgumentError, VgmathError

__all__ = [
    "COMMANDS",
    "EXIT_FAILED",
    "EXIT_INCONCLUSIVE",
    "EXIT_INTERNAL",
    "EXIT_NOT_COMPLETED",
    "EXIT_OK",
    "EXIT_RESOURCES",
    "EXIT_USAGE",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3
EXIT_RESOURCES = 4
EXIT_NOT_COMPLETED = 5
EXIT_INTERNAL = 70
#: longest error line printed (a 3000-character expression is echoed shortened)
_MAX_LINE = 600

#: subcommand name -> module (imported only when that command runs or help is built)
COMMANDS: dict[str, str] = {
    "derive": "derive",
    "predict": "predict",
    "critical": "critical",
    "simulate": "simulate",
    "verify": "verify",
    "sweep": "sweep",
    "report": "report",
    "train-study": "train_study",
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


def _expressions_as_positionals(argv: Sequence[str] | None) -> list[str]:
    """Let an expression that starts with ``-`` (``-x``, ``-tanh(x)``) be an argument without
    ``--``: every option of vgmath is long (``--name``) except ``-h``, so a token with a single
    leading dash is data; a leading space makes argparse read it as such (the expression
    parser ignores surrounding spaces)."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    out = []
    for i, tok in enumerate(tokens):
        if (i > 0 and len(tok) > 1 and tok[0] == "-" and tok[1] != "-" and tok != "-h"
                and "--" not in tokens[:i]):
            tok = " " + tok
        out.append(tok)
    return out


def _say(text: str) -> None:
    """One line on stderr: newlines folded, shortened to :data:`_MAX_LINE` characters."""
    line = " ".join(str(text).split())
    if len(line) > _MAX_LINE:
        line = line[: _MAX_LINE - 3] + "..."
    with contextlib.suppress(OSError, ValueError):  # stderr closed
        print(line, file=sys.stderr)


class _Terminated(BaseException):
    """SIGTERM as an exception: a BaseException (like KeyboardInterrupt), so that code which
    contains failures with ``except Exception`` (a report section) never swallows it."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    import os
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM unwinds like Ctrl-C, so the report's temporary folder is removed
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        parser = build_parser()
        args = parser.parse_args(_expressions_as_positionals(argv))
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args._run(args))
    except _UsageError as err:
        _say(str(err))
        return EXIT_USAGE
    except VgmathError as err:
        _say(f"vgmath: error: {err}")
        return EXIT_USAGE if isinstance(err, InvalidArgumentError) else EXIT_NOT_COMPLETED
    except KeyboardInterrupt:
        _say("vgmath: interrupted")
        return 130
    except _Terminated:
        _say("vgmath: terminated")
        return 143
    except BrokenPipeError:
        return EXIT_OK
    except MemoryError:
        _say("vgmath: error: out of memory (lower --depth, --width or --trials)")
        return EXIT_RESOURCES
    except RecursionError:
        _say("vgmath: error: the expression is too deeply nested to process")
        return EXIT_USAGE
    except OSError as err:
        _say(f"vgmath: error: {err}")
        # ENOSPC, ENOMEM, EMFILE: the machine ran out; anything else stopped the work
        return EXIT_RESOURCES if err.errno in (28, 12, 24) else EXIT_NOT_COMPLETED
    except Exception as err:
        if os.environ.get("VGMATH_DEBUG"):
            raise
        _say(f"vgmath: internal error (please report it): {type(err).__name__}: {err}")
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
