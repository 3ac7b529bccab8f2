"""``vgmath inspect``: a user's PyTorch model — its description, the predicted and the measured
per-layer gradient profile, and the verdict (needs ``pip install 'vgmath[torch]'``).

::

    vgmath inspect model.py:build_model
    vgmath inspect model.py:build_model --reinit 64 --inputs 8 --seed 0 --json

``FILE:FUNCTION`` names a Python file and a function in it that returns a fresh
``torch.nn.Module`` (with its own initialisation); it is called once per measured network
under a seeded torch RNG (:func:`vgmath.torch.measure`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError

__all__ = ["HELP", "add_arguments", "load_builder", "run"]

HELP = "a PyTorch model (FILE:FUNCTION): description, predicted vs measured gradients, verdict"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="FILE:FUNCTION",
                        help="a Python file and the function in it that returns an nn.Module")
    parser.add_argument("--reinit", type=int, default=32,
                        help="independent networks measured (calls of FUNCTION) (32)")
    parser.add_argument("--inputs", type=int, default=4,
                        help="inputs per network: random directions with ‖x‖²/n0 = --input-q (4)")
    parser.add_argument("--input-q", default="1", help="input second moment ‖x⁰‖²/n₀ (1)")
    parser.add_argument("--steps", type=int, default=None,
                        help="time steps T of a recurrent model (nn.RNN/LSTM/GRU)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the measurement (0)")
    parser.add_argument("--alpha", type=float, default=0.01,
                        help="family-wise error rate of the verdict (0.01)")
    parser.add_argument("--rows", type=int, default=21,
                        help="layers shown in the text table (21; --json has all)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")


def load_builder(target: str) -> Any:
    """The function ``FUNCTION`` of the file ``FILE`` in ``FILE:FUNCTION``."""
    path_text, sep, func = str(target).rpartition(":")
    if not sep or not path_text or not func.isidentifier():
        raise InvalidArgumentError("FILE:FUNCTION", target, "expected e.g. model.py:build_model")
    path = Path(path_text)
    if not path.is_file():
        raise InvalidArgumentError("FILE:FUNCTION", target, f"no file {path_text}")
    spec = importlib.util.spec_from_file_location(f"_vgmath_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise InvalidArgumentError("FILE:FUNCTION", target, "not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    builder = getattr(module, func, None)
    if not callable(builder):
        raise InvalidArgumentError("FILE:FUNCTION", target, f"{path_text} defines no "
                                   f"function {func}")
    return builder


def _num(v: float) -> float | None:
    return float(v) if math.isfinite(float(v)) else None


def run(args: argparse.Namespace) -> int:
    from ..core.errors import VgmathError
    from ..montecarlo.simulation import Simulation, simulate
    from ..network.description import Chain
    from ..theory.prediction import predict
    from ..torch.measurement import measure
    from ..torch.model import read_model
    from ..verification.profile import finite_width_exact, verify

    for name in ("reinit", "inputs"):
        if getattr(args, name) < (3 if name == "reinit" else 1):
            raise InvalidArgumentError(f"--{name}", getattr(args, name),
                                       "need at least 3 networks" if name == "reinit"
                                       else "need at least 1 input")
    if args.rows < 2:
        raise InvalidArgumentError("--rows", args.rows, "must be at least 2")
    from ..torch.backend import require_torch

    torch = require_torch()  # before the user's file, which imports torch itself
    builder = load_builder(args.target)
    from ..torch.measurement import _seed_k

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_k(args.seed, 0))
        first = builder()
    info = read_model(first, batch=args.inputs, input_q=args.input_q, steps=args.steps)
    chain = info.description
    measured = measure(builder, args.inputs, reinit=args.reinit, seed=args.seed, info=info,
                       steps=args.steps)
    m = measured.grad_second_moment
    se = measured.grad_second_moment_se
    sim: Simulation | None = None
    why = ""
    if getattr(chain, "norm", None) is not None:
        # vgmath's batch-norm theory is the infinite-width limit (an O(B·L/n) gap at the
        # model's width): the reference is vgmath's Monte Carlo of the description instead
        why = "the batch-norm prediction is the infinite-width limit"
    else:
        try:
            # the profile shown is the one verified: finite-width where it applies
            claim = predict(chain, finite_width=isinstance(chain, Chain)
                            and finite_width_exact(chain))
            p = claim.profile("grad_second_moment")
            source = "vg.predict"
        except VgmathError:  # no theory (recurrent cells): vgmath's Monte Carlo
            why = "no mean-field theory"
    if why:
        sim = simulate(chain, trials=max(200, 4 * args.reinit), seed=args.seed + 1)
        p = sim.grad_second_moment
        source = f"vg.simulate ({sim.trials} networks; {why} for {chain})"
    if source == "vg.predict" and isinstance(chain, Chain):
        ver = verify(chain, claim, simulation=measured, alpha=args.alpha)
        passed, rejected, verdict_text = ver.passed, ver.rejected_layers, ver.summary()
        ver_dict: Any = ver.to_dict()
    else:
        assert sim is not None
        passed, rejected, verdict_text = _z_verdict(measured, sim, args.alpha)
        ver_dict = {"method": "z (Bonferroni) against vg.simulate", "passed": passed,
                    "rejected_layers": rejected}
    if args.json:
        out = {
            "model": info.to_dict(),
            "prediction": {"source": source, "grad_second_moment": [_num(v) for v in p]},
            "measured": measured.to_dict(),
            "verification": ver_dict,
            "passed": bool(passed),
        }
        sys.stdout.write(json.dumps(out, indent=2, allow_nan=False, default=str) + "\n")
        return 0
    lines = [info.summary(), "",
             (f"per-layer gradient second moment E[(g^l_i)²] relative to E[(g^L_i)²] = 1 "
             f"({args.reinit} networks × {args.inputs} inputs, seed {args.seed}):"),
             f"  {'l':>4} {'predicted':>12} {'measured':>12} {'± se':>10} {'ratio':>8}"]
    L = chain.depth
    step = max(1, math.ceil((L + 1) / args.rows))
    shown = sorted({*range(0, L + 1, step), L})
    for l in shown:
        flag = "  *" if l in rejected else ""
        lines.append(f"  {l:>4} {p[l]:>12.4g} {m[l]:>12.4g} {se[l]:>10.2g} "
                     f"{m[l] / p[l] if p[l] else math.nan:>8.3f}{flag}")
    lines += ["", f"prediction: {source}", verdict_text]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _z_verdict(measured: Any, simulated: Any, alpha: float) -> tuple[bool, list[int], str]:
    """Measured vs simulated log means per layer, z-tests with a Bonferroni split of alpha."""
    import numpy as np
    from scipy.stats import norm

    la = np.asarray(measured.log10_grad_second_moment) * math.log(10)
    lb = np.asarray(simulated.log10_grad_second_moment) * math.log(10)
    se = np.hypot(np.asarray(measured.log10_grad_second_moment_se),
                  np.asarray(simulated.log10_grad_second_moment_se)) * math.log(10)
    ok = np.isfinite(la) & np.isfinite(lb) & (se > 0)
    z = float(norm.ppf(1 - alpha / (2 * max(1, int(ok.sum())))))
    with np.errstate(invalid="ignore"):
        bad = ok & (np.abs(la - lb) > z * se)
    rejected = [int(l) for l in np.flatnonzero(bad)]
    passed = not rejected
    text = (f"verdict: {'PASSED' if passed else 'REJECTED'} (measured vs simulated log means, "
            f"|z| ≤ {z:.2f} at every layer: family-wise {alpha} over {int(ok.sum())} layers)"
            + ("" if passed else f"; rejected at layers {rejected}"))
    return passed, rejected, text
