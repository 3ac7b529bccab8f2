"""Derive a formula in a script: the gradient profile of ReLU networks under two inits.

    python examples/derive_formula.py [--fast] [--latex]

vgmath derives E[(g^l)²]/E[(g^L)²] in closed form: 2^-(L−l) with Xavier (each ReLU layer
halves the gradient's second moment on square layers) and 1 with He (He et al. 2015,
arXiv:1502.01852). Exits 1 if a derived formula differs from the literature.
"""

from __future__ import annotations

import argparse
import sys

import sympy as sp

import vgmath as vg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--fast", action="store_true", help="(no effect: this is theory only)")
parser.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
args = parser.parse_args()

L, l = vg.depth_symbol, vg.layer_symbol
expected = {"xavier": 2 ** (l - L), "he": sp.Integer(1)}  # He et al. 2015, Sec. 2.2
ok = True
for init, literature in expected.items():
    formula = vg.predict(vg.Chain("relu", init=init, depth=20, width=256)).formula
    shown = sp.latex(formula) if args.latex else sp.pretty(formula)
    print(f"relu + {init}: E[(g^l)^2]/E[(g^L)^2] =\n{shown}")
    same = sp.simplify(formula - literature) == 0
    print("  matches He et al. 2015" if same else f"  DIFFERS from {literature}")
    ok = ok and same
he_leaky = vg.init_variance("he", negative_slope=sp.Rational(1, 10))
print("Var(W) for He with slope a = 1/10:", he_leaky)  # 2/((1 + a²) n_in)
sys.exit(0 if ok else 1)
