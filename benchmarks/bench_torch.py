"""Benchmark of ``vgmath.torch.measure`` against the PyTorch loop a user would write.

    python benchmarks/bench_torch.py            # 50 layers, width 512, 64 re-inits (~2 min)
    python benchmarks/bench_torch.py --repeat 2 # best of two (~4 min)
    python benchmarks/bench_torch.py --quick    # 20 layers, width 256, 16 re-inits

The model: 50 × (``nn.Linear(512, 512)`` with ``kaiming_normal_``, ``nn.ReLU``) and a
read-out, 16 inputs per network. "User loop": for each of the K networks re-run the init
(``kaiming_normal_`` on every layer), forward with hooks that ``retain_grad()`` every
activation, ``backward`` a random output gradient (which also computes every weight
gradient, as ``loss.backward()`` does), then read the per-layer second moments.
``measure``: the same K networks through :func:`vgmath.torch.measure` (a module: every
Linear redrawn from the rule read from it; a builder: the user's function called K times).
One torch thread; process CPU time (so other processes on the machine do not distort it),
best of ``--repeat`` runs (default 1: the first run then includes importing vgmath's
modules). Needs ``pip install 'vgmath[torch]'``.

Measured on the 2-core development machine (torch 2.13.0+cpu, ``--repeat 2``), CPU seconds:

========  =========  ===============  ================
dtype     user loop  measure(module)  measure(builder)
========  =========  ===============  ================
float32        4.55             3.96              6.48
float64       17.29            16.24              8.06
========  =========  ===============  ================

``measure`` on a module is 0.87× (float32) and 0.94× (float64) the user's loop: it draws the
same weights and runs the same forward, and its single ``autograd.grad`` to the recorded
activations skips the weight gradients ``backward`` computes. With a builder it also pays for
the user's function (nn.Linear's default init, then the user's init, in float32 here) once
per network.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import vgmath.torch as vgt


def build(depth: int, width: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        lin = nn.Linear(width, width, bias=False)
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        layers += [lin, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def user_loop(model: nn.Sequential, x: torch.Tensor, nets: int) -> list[list[float]]:
    """What a user writes to get per-layer gradient second moments over re-inits."""
    acts: list[torch.Tensor] = []

    def keep(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
        out.retain_grad()
        acts.append(out)

    relus = [m for m in model if isinstance(m, nn.ReLU)]
    linears = [m for m in model if isinstance(m, nn.Linear)][:-1]
    handles = [r.register_forward_hook(keep) for r in relus]
    out_rows = []
    torch.manual_seed(0)
    for _ in range(nets):
        with torch.no_grad():
            for lin in linears:
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        acts.clear()
        model.zero_grad(set_to_none=True)
        xr = x.clone().requires_grad_(True)
        y = model[:-1](xr)  # up to the last φ (vgmath's convention)
        y.backward(torch.randn_like(y))
        row = [float((xr.grad**2).mean())] + [float((a.grad**2).mean()) for a in acts]
        row += [float((lin.weight.grad**2).mean()) for lin in linears]
        out_rows.append(row)
    for h in handles:
        h.remove()
    return out_rows


def cpu_time(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    depth, width, nets, batch = (20, 256, 16, 16) if args.quick else (50, 512, 64, 16)
    print(f"{depth} layers, width {width}, {nets} re-initialisations, {batch} inputs per "
          f"network, torch {torch.__version__}, 1 thread, CPU seconds (best of {args.repeat})")
    rows = []
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        model = build(depth, width).to(dtype)
        x = torch.randn(batch, width, dtype=dtype)
        name = str(dtype).replace("torch.", "")
        t_user = cpu_time(lambda m=model, x=x: user_loop(m, x, nets), args.repeat)
        t_mod = cpu_time(lambda m=model, x=x, n=name: vgt.measure(m, x, reinit=nets, seed=0,
                                                                  dtype=n), args.repeat)

        def builder(dt: torch.dtype = dtype) -> nn.Module:
            return build(depth, width).to(dt)

        t_build = cpu_time(lambda x=x, n=name: vgt.measure(builder, x, reinit=nets, seed=0,
                                                           dtype=n), args.repeat)
        rows.append((name, t_user, t_mod, t_build))
    print(f"{'dtype':<8} {'user loop':>10} {'measure(module)':>16} {'measure(builder)':>17} "
          f"{'ratio module/user':>18}")
    for name, tu, tm, tb in rows:
        print(f"{name:<8} {tu:>10.2f} {tm:>16.2f} {tb:>17.2f} {tm / tu:>18.2f}")


if __name__ == "__main__":
    main()
