"""Check your own activation: derivatives, certified bounds, edge of chaos and a simulation.

    python examples/custom_activation.py [--fast] [--expr "a*x + tanh(x)" --param a=1/10]

For φ(x) = a x + tanh(x), φ′ = a + sech²x, so sup φ′ = 1 + a at x = 0 and inf φ′ = a: a
chain can never lose more than a factor a per unit, and vgmath certifies both values exactly.
Exits 1 if the certified bound differs from 1 + a or if simulation rejects the theory.
"""

from __future__ import annotations

import argparse
import sys

import sympy as sp

import vgmath as vg

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--fast", action="store_true", help="small simulation")
parser.add_argument("--a", default="1/10", help="the slope a of the linear part (1/10)")
args = parser.parse_args()

a = sp.Rational(args.a)
act = vg.activation("a*x + tanh(x)", a=a)
print("φ  =", act.expr, "\nφ′ =", act.derivative, "\nφ″ =", act.second_derivative)
bound = act.derivative_bound()
print("certified:", bound)
print("saturation |φ′| < 1/100:", act.saturation_region("1/100").region)  # empty: φ′ ≥ a
edge = vg.critical_point(act, sigma_b2="1/20")
print(f"edge of chaos at σ_b² = 1/20: σ_w² = {edge.sigma_w2_float:.6f}")
chain = vg.Chain(act, init={"scheme": "custom", "sigma_w2": edge.sigma_w2_float}, depth=10,
                 width=64 if args.fast else 256, sigma_b2="1/20")
result = vg.verify(chain, trials=400 if args.fast else 1000, seed=0, alpha=1e-4)
print(result.summary())
ok = bound.sup == 1 + a and bound.inf == a and result.passed
sys.exit(0 if ok else 1)
