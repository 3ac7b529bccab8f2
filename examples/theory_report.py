"""Generate a theory-only report (no Monte Carlo): LaTeX source, figures and data in seconds.

    python examples/theory_report.py [--fast] [--out DIR]

Writes DIR/report.tex (and report.pdf when a LaTeX engine is installed and --pdf is given),
DIR/figures/, DIR/data/ and DIR/manifest.json. Exits 1 if report.tex or the manifest is
missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import vgmath as vg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--fast", action="store_true", help="two activations, shallow chains")
parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
parser.add_argument("--pdf", action="store_true", help="compile the PDF if LaTeX is installed")
args = parser.parse_args()

out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vgmath-report-")) / "report"
acts = ["tanh", "relu"] if args.fast else ["sigmoid", "tanh", "relu", "gelu", "selu"]
rep = vg.report(out, activations=acts, inits=["xavier", "he"], depth=10 if args.fast else 30,
                simulate=False, latex="auto" if args.pdf else "none")
tex, manifest = out / "report.tex", out / "manifest.json"
print(f"wrote {tex} ({tex.stat().st_size} bytes)" if tex.exists() else "report.tex missing")
if manifest.exists():
    print("sections:", ", ".join(json.loads(manifest.read_text()).get("sections", [])))
sys.exit(0 if tex.exists() and manifest.exists() else 1)
