"""``vgmath plot-monitor``: render a file saved by :class:`vgmath.torch.GradientMonitor`.

::

    vgmath plot-monitor grads.json                 # writes grads.png
    vgmath plot-monitor grads.csv -o profile.pdf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "plot a GradientMonitor file (JSON or CSV) against the prediction at initialisation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a monitor saved as .json or .csv")
    parser.add_argument("-o", "--output", default=None,
                        help="image to write (.png, .pdf, .svg; default FILE with .png)")


def run(args: argparse.Namespace) -> int:
    from ..torch.monitor import load_monitor, plot_monitor

    record = load_monitor(args.file)
    out = Path(args.output) if args.output else Path(args.file).with_suffix(".png")
    plot_monitor(record, out)
    steps = record.steps
    sys.stdout.write(f"wrote {out} ({len(steps)} recorded steps, "
                     f"{steps[0] if steps else '-'}..{steps[-1] if steps else '-'})\n")
    return 0
