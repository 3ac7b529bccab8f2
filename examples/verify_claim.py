"""Verify a claim from a paper, one true and one false, and show the exit status.

    python examples/verify_claim.py [--fast]

Claim 1 (true, He et al. 2015): with ReLU and He init, E[(g^l)²] = E[(g^L)²] at every layer.
Claim 2 (false): with ReLU and *Xavier* init the same holds — in fact each layer halves it.
Each claim is tested with ``vgmath verify`` (the command line), whose exit status is 0 when
simulation supports the claim and 1 when it rejects it. This script exits 0 when the true
claim passes and the false one is rejected.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--fast", action="store_true", help="fewer networks, shallower chains")
args = parser.parse_args()

size = ["--depth", "8", "--width", "64", "--trials", "200"] if args.fast else \
    ["--depth", "20", "--width", "256", "--trials", "1000"]
claims = [("he", "1", 0), ("xavier", "1", 1)]  # (init, claim, expected exit status)
ok = True
for init, claim, expected in claims:
    cmd = [sys.executable, "-m", "vgmath", "verify", "relu", "--init", init, "--claim", claim,
           "--alpha", "1e-4", *size]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    verdict = next((s for s in run.stdout.splitlines() if "verdict" in s), run.stdout[-200:])
    print(f"$ vgmath verify relu --init {init} --claim {claim!r} ...  -> exit {run.returncode}")
    print("  " + verdict.strip())
    ok = ok and run.returncode == expected
sys.exit(0 if ok else 1)
