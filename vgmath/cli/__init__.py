"""The ``vgmath`` command line: a thin layer over the public functions.

Owns: the entry point (``main``: dispatch, one-line errors, exit codes), options shared by
several subcommands (``options``) and one module per subcommand (``derive``, ``predict``,
``critical``, ``simulate`` with ``arch`` for ``--arch``, ``verify``, ``sweep``, ``report``).
A new subcommand is a new module here, registered in :data:`COMMANDS`.

May import: every layer below it; nothing imports the CLI.
"""

from __future__ import annotations

from .main import COMMANDS, build_parser, main
from .options import add_chain_arguments, chain_from_args, chain_parts, parse_params, parse_widths

__all__ = [
    "COMMANDS",
    "add_chain_arguments",
    "build_parser",
    "chain_from_args",
    "chain_parts",
    "main",
    "parse_params",
    "parse_widths",
]
