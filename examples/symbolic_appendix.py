"""A paper's appendix, notebook style: the gradient through depth with σ_w², n, L as symbols.

    python examples/symbolic_appendix.py [--fast] [--latex]

Run it cell by cell (``# %%`` markers: VS Code, Spyder, Jupytext) or as a script. Each cell
derives one formula with SymPy symbols in and SymPy out, then substitutes numbers and
compares with the numeric theory (``vg.predict``). Exits 1 if any comparison fails.
"""

# %% setup
from __future__ import annotations

import argparse
import math
import sys

import sympy as sp

import vgmath as vg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--fast", action="store_true", help="shallower numeric comparisons")
parser.add_argument("--latex", action="store_true", help="print LaTeX instead of text")
args = parser.parse_args()
depth = 10 if args.fast else 50


def show(label: str, expr: sp.Expr) -> None:
    print(f"{label} =\n" + (sp.latex(expr) if args.latex else sp.pretty(expr)))


ok = True

# %% leaky ReLU, slope a, Var(W) = s/n: the ratio E[(g^l)²]/E[(g^L)²]
a, s, n = sp.symbols("a s n", positive=True)
L = sp.Symbol("L", integer=True, positive=True)
leaky = vg.activation("leaky_relu", slope=a)
pred = vg.predict(vg.Chain(leaky, init=vg.Init.custom(sigma_w2=s), depth=L, width=n))
show("E[(g^l)^2]/E[(g^L)^2]", pred.formula)  # (s (a² + 1)/2)^(L − l)
show("sigma_w^2 that preserves it", sp.solve(sp.Eq(pred.chi(), 1), s)[0])  # He et al. 2015
numeric = pred.evaluate(s=2, a="1/10", L=depth, n=128)
symbolic = float(pred.ratio(0).subs({s: 2, a: sp.Rational(1, 10), L: depth}))
ok &= math.isclose(symbolic, numeric.grad_second_moment[0], rel_tol=1e-12)
print(f"  at s = 2, a = 1/10, L = {depth}: {symbolic:.12g} (formula) vs "
      f"{numeric.grad_second_moment[0]:.12g} (vg.predict)")

# %% the public maps: variance map, χ map, correlation map as SymPy Lambdas
show("V(q) for erf", vg.variance_map("erf", s)(vg.q))  # Williams 1997
show("C(q, c) for relu", vg.correlation_map("relu", 2)(vg.q, sp.Symbol("c")))

# %% tanh: no closed form, the recursion itself (it evaluates to predict's numbers)
tanh = vg.predict(vg.Chain("tanh", init=vg.Init.custom(sigma_w2=s), depth=L, width=n))
show("E[(g^0)^2]/E[(g^L)^2] for tanh", tanh.ratio(0))
value = float(tanh.ratio(0).subs({s: sp.Rational(3, 2), L: depth}).evalf())
reference = tanh.evaluate(s="3/2", L=depth, n=100).grad_second_moment[0]
ok &= math.isclose(value, reference, rel_tol=1e-10)
print(f"  at s = 3/2, L = {depth}: {value:.12g} (recursion) vs {reference:.12g} (vg.predict)")

# %% a numeric Gaussian expectation is a SymPy number that carries its error
r = vg.gaussian_expectation(vg.activation("tanh").derivative ** 2, 1)
print(f"E[tanh'(z)^2] = {r} ± {r.error:.1e}; twice it is {2 * r}")

sys.exit(0 if ok else 1)
