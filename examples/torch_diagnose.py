"""Diagnose a user's 40-layer sigmoid MLP in PyTorch, and four fixes, by prediction and by
measurement (needs ``pip install 'vgmath[torch]'``).

The model is what a user writes: ``nn.Linear`` + ``nn.Sigmoid`` 40 times with Xavier
(Glorot) initialisation and a linear read-out. vgmath reads it (``vgmath.torch.describe``),
predicts its per-layer gradient profile (``vg.predict``), measures it on the model itself
over re-initialisations (``vgmath.torch.measure``: PyTorch autograd, the user's own init
code) and tests one against the other (``vg.verify``). Then it does the same for four fixes:

* the activation: tanh instead of the sigmoid (same init);
* the init: the sigmoid's edge of chaos, σ_w² ≈ 103 (``vg.critical_point("sigmoid")``;
  Schoenholz et al. 2017, arXiv:1611.01232);
* residual connections: x + sigmoid(W x) blocks (He et al. 2016; Yang & Schoenholz 2017);
* batch normalisation before every sigmoid (Ioffe & Szegedy 2015) — vgmath has no
  mean-field prediction for it, so its Monte Carlo ``vg.simulate`` is the "prediction".

Run ``python examples/torch_diagnose.py`` (width 256, 64 networks) or ``--fast`` (width 64,
16 networks, a few seconds); ``vgmath inspect examples/torch_diagnose.py:build_model``
inspects the user's model from the command line. Exits 1 if a fix does not lift the
input-layer gradient by at least ten orders of magnitude, predicted and measured.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

import torch
from torch import nn

import vgmath as vg
import vgmath.torch as vgt

DEPTH = 40


def sigmoid_mlp(width: int, *, act: type[nn.Module] = nn.Sigmoid, sigma_w2: float | None = None,
                residual: bool = False, batchnorm: bool = False) -> nn.Sequential:
    """The user's model; each keyword is one fix."""
    layers: list[nn.Module] = []
    for _ in range(DEPTH):
        lin = nn.Linear(width, width)
        if sigma_w2 is None:
            nn.init.xavier_normal_(lin.weight)
        else:
            nn.init.normal_(lin.weight, std=math.sqrt(sigma_w2 / width))
        nn.init.zeros_(lin.bias)
        if residual:
            layers.append(vgt.ResidualBlock(nn.Sequential(lin, act())))
        elif batchnorm:
            layers += [lin, nn.BatchNorm1d(width), act()]
        else:
            layers += [lin, act()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def build_model() -> nn.Module:
    """The user's model at width 256 (``vgmath inspect examples/torch_diagnose.py:build_model``)."""
    return sigmoid_mlp(256)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="width 64, 16 networks")
    args = parser.parse_args()
    torch.set_num_threads(1)
    width, nets, batch = (64, 16, 8) if args.fast else (256, 64, 16)
    edge = float(vg.critical_point("sigmoid").sigma_w2)
    variants: dict[str, Callable[[], nn.Module]] = {
        "user's model: sigmoid + Xavier": lambda: sigmoid_mlp(width),
        "fix the activation: tanh": lambda: sigmoid_mlp(width, act=nn.Tanh),
        f"fix the init: σ_w² = {edge:.1f}": lambda: sigmoid_mlp(width, sigma_w2=edge),
        "fix: residual blocks": lambda: sigmoid_mlp(width, residual=True),
        "fix: batch norm": lambda: sigmoid_mlp(width, batchnorm=True),
    }
    torch.manual_seed(0)
    print(vgt.read_model(variants["user's model: sigmoid + Xavier"]()).summary())
    print()
    print(f"E[(g^0)²]/E[(g^L)²] at the input layer ({DEPTH} layers, width {width}, "
          f"{nets} networks × {batch} inputs):")
    head = f"  {'model':<32} {'predicted':>11} {'measured':>11} {'± se':>9}  verdict"
    print(head)
    print("  " + "-" * (len(head) - 2))
    results = {}
    for name, build in variants.items():
        torch.manual_seed(0)
        info = vgt.read_model(build(), batch=batch)
        chain = info.description
        measured = vgt.measure(build, batch, reinit=nets, seed=1, info=info)
        if chain.norm == "batch":
            sim = vg.simulate(chain, trials=4 * nets, seed=2)
            predicted = float(sim.grad_second_moment[0])
            verdict = "(vg.simulate is the prediction: no mean-field theory for batch norm)"
        else:
            predicted = float(vg.predict(chain).grad_second_moment[0])
            ver = vg.verify(chain, simulation=measured)
            verdict = ("verify: PASSED" if ver.passed else
                       f"verify: REJECTED at layers {ver.rejected_layers[:5]}")
        m, se = float(measured.grad_second_moment[0]), float(measured.grad_second_moment_se[0])
        results[name] = (predicted, m)
        print(f"  {name:<32} {predicted:>11.3g} {m:>11.3g} {se:>9.2g}  {verdict}")
    base_p, base_m = results["user's model: sigmoid + Xavier"]
    ok = all(p > 1e10 * base_p and m > 1e10 * base_m
             for name, (p, m) in results.items() if not name.startswith("user"))
    print()
    print("every fix lifts the input-layer gradient by more than 10 orders of magnitude, "
          "predicted and measured" if ok else "FAIL: a fix did not lift the gradient")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
