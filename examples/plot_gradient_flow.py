"""Plot gradient flow through depth (chains) and through time (RNNs) to a PNG.

    python examples/plot_gradient_flow.py [--fast] [--out gradient_flow.png]

Left: E[(g^l)²]/E[(g^L)²] against depth, mean-field theory (lines) and Monte Carlo (dots)
for sigmoid + Xavier (vanishing), tanh + Xavier (near-critical) and ReLU + He (preserved).
Right: ln‖∂h_T/∂h_t‖ of tanh RNNs with W = g·(orthogonal) for g = 0.9, 1.0, 1.2, against the
Pascanu bound (T − t) ln g (dashed). Exits 1 if theory and simulation disagree by more than
4 standard errors of log10 at any layer, or if a network breaks the Pascanu bound.
"""

from __future__ import annotations

import argparse
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import vgmath as vg

matplotlib.use("Agg")

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--fast", action="store_true", help="shallower, fewer networks")
parser.add_argument("--out", default="gradient_flow.png", help="PNG file (gradient_flow.png)")
args = parser.parse_args()
depth, width, trials, steps = (15, 64, 100, 20) if args.fast else (40, 256, 400, 60)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
ok = True
for act, init in (("sigmoid", "xavier"), ("tanh", "xavier"), ("relu", "he")):
    chain = vg.Chain(act, init=init, depth=depth, width=width)
    theory, sim = vg.predict(chain), vg.simulate(chain, trials=trials, seed=0)
    log10_theory = theory.ln_grad_second_moment / np.log(10)
    line, = left.plot(theory.layers, log10_theory, label=f"{act} + {init}")
    mc, se = sim.log10_grad_second_moment, sim.log10_grad_second_moment_se
    left.errorbar(sim.layers, mc, yerr=2 * se, fmt="o", ms=3, color=line.get_color())
    # 4 SE per layer: a rough agreement check for a picture (vg.verify does it properly)
    ok = ok and bool(np.all(np.abs(mc - log10_theory)[:-1] <= 4 * se[:-1]))
left.set(xlabel="layer l", ylabel="log10 E[(g^l)²]/E[(g^L)²]", title="through depth")
left.legend(fontsize=8)
for gain in ("9/10", "1", "6/5"):
    net = vg.Recurrent("rnn", activation="tanh", hidden=32, steps=steps, input_size=32,
                       init={"scheme": "orthogonal", "gain": gain})
    s = vg.simulate(net, trials=trials // 2, seed=0).samples
    t = np.arange(steps + 1)
    line, = right.plot(t, s["ln_jacobian_norm"].mean(axis=0), label=f"g = {gain}")
    right.plot(t, s["ln_pascanu_bound"][0], "--", color=line.get_color(), lw=1)
    ok = ok and bool(np.all(s["ln_jacobian_norm"] <= s["ln_pascanu_bound"] + 1e-9))
right.set(xlabel="time step t", ylabel="mean ln ||dh_T/dh_t||", title=f"through time (T = {steps})")
right.legend(fontsize=8)
fig.tight_layout()
fig.savefig(args.out, dpi=120)
print(f"wrote {args.out}; theory and simulation {'agree' if ok else 'DISAGREE'}")
sys.exit(0 if ok else 1)
