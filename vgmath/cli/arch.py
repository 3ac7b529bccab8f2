"""``vgmath simulate --arch``: residual, batch-normalised and recurrent networks, clipping.

::

    vgmath simulate relu --init he --arch resnet --alpha 0.5 --depth 50
    vgmath simulate relu --init he --arch bn --batch 32 --depth 20 --width 256
    vgmath simulate tanh --arch rnn --init orthogonal --steps 50 --width 32
    vgmath simulate tanh --arch lstm --forget-bias 1 --steps 100 --width 32 --clip 1
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError

__all__ = ["ARCHES", "add_arch_arguments", "build_network", "summary", "to_json_dict"]

#: The architectures ``--arch`` accepts.
ARCHES = ("chain", "resnet", "bn", "rnn", "lstm", "gru")
_RECURRENT = ("rnn", "lstm", "gru")
# option -> architectures it applies to
_APPLIES = {
    "steps": _RECURRENT,
    "alpha": ("resnet",),
    "branch_depth": ("resnet",),
    "variant": ("resnet",),
    "batch": ("bn",),
    "norm_eps": ("bn",),
    "input_size": _RECURRENT,
    "forget_bias": ("lstm",),
    "h0_q": _RECURRENT,
}


def add_arch_arguments(parser: argparse.ArgumentParser, *, alpha_option: str = "--alpha",
                       title: str = "architectures", clip: bool = True) -> None:
    """The ``--arch`` option group (``vgmath simulate``; ``vgmath verify`` names the branch
    scale ``--branch-alpha``, its ``--alpha`` being the error rate, and has no ``--clip``)."""
    g = parser.add_argument_group(title)
    g.add_argument("--arch", choices=ARCHES, default="chain",
                   help="chain (plain), resnet (x + α·F(x)), bn (batch-normalised chain), "
                   "rnn, lstm, gru (recurrent, shared weights; lstm/gru use tanh, "
                   "ACTIVATION may be omitted) "
                   "(chain)")
    g.add_argument("--steps", type=int, default=None,
                   help="recurrent: time steps T (default: --depth)")
    g.add_argument(alpha_option, default=None, help="resnet: branch scale α (1)")
    g.add_argument("--branch-depth", type=int, default=None,
                   help="resnet: dense+activation layers per branch, 1 or 2 (1)")
    g.add_argument("--variant", choices=("post", "pre"), default=None,
                   help="resnet: post φ(Wx+b) or pre Wφ(x)+b branches (post)")
    g.add_argument("--batch", type=int, default=None, help="bn: inputs per network B (32)")
    g.add_argument("--norm-eps", default=None, help="bn: eps added to the batch variance (1e-5)")
    g.add_argument("--input-size", type=int, default=None,
                   help="recurrent: input dimension m, inputs N(0, input_q) per step (0)")
    g.add_argument("--forget-bias", default=None, help="lstm: forget-gate bias (1)")
    g.add_argument("--h0-q", default=None, help="recurrent: h_0 = sqrt(h0_q)·(1,…,1) (1)")
    if clip:
        g.add_argument("--clip", default=None, metavar="C",
                       help="also clip each network's parameter gradient to global norm C "
                       "(g·min(1, C/‖g‖)) and report clipped vs unclipped norms")


def network_from_args(args: argparse.Namespace, **renamed: str) -> Any:
    """:func:`build_network` from the chain and ``--arch`` options; an LSTM/GRU needs no
    activation (tanh, the cell's own). ``renamed`` maps an option of :func:`build_network`
    to the attribute that carries it (``alpha="branch_alpha"`` where ``--alpha`` means
    something else)."""
    from .options import chain_parts

    if args.activation is None:
        if args.arch not in ("lstm", "gru"):
            raise InvalidArgumentError(
                "ACTIVATION", None, f"--arch {args.arch} needs an activation (e.g. tanh)")
        args.activation = "tanh"  # the LSTM/GRU cell's own (its gates are sigmoids)
    shim = argparse.Namespace(**vars(args))
    for option, attribute in renamed.items():
        value = getattr(args, attribute)
        arches = _APPLIES[option]
        if value is not None and args.arch not in arches:
            raise InvalidArgumentError("--" + attribute.replace("_", "-"), value,
                                       f"applies to --arch {'/'.join(arches)} only")
        setattr(shim, option, value)
    act, init, width = chain_parts(args)
    return build_network(shim, act=act, init=init, width=width)


def build_network(args: argparse.Namespace, *, act: Any, init: Any, width: Any) -> Any:
    """The :class:`vgmath.Chain` or :class:`vgmath.Recurrent` the options describe."""
    from ..network.description import Chain, Recurrent, Residual

    arch = args.arch
    for option, arches in _APPLIES.items():
        value = getattr(args, option, None)
        if value is not None and arch not in arches:
            flag = "--" + option.replace("_", "-")
            raise InvalidArgumentError(flag, value, f"applies to --arch {'/'.join(arches)} only")
    readout = getattr(args, "readout", "activation")
    if arch in _RECURRENT:
        if readout != "activation":
            raise InvalidArgumentError("--readout", readout, "applies to chains, not --arch "
                                       + arch)
        if not isinstance(width, int):
            raise InvalidArgumentError("--width", args.width, "a recurrent network has one width")
        return Recurrent(
            cell=arch,
            activation=act,
            hidden=width,
            steps=args.steps if args.steps is not None else args.depth,
            init=init,
            input_size=args.input_size or 0,
            input_q=args.input_q,
            sigma_b2=args.sigma_b2,
            forget_bias=(args.forget_bias if args.forget_bias is not None
                         else (1 if arch == "lstm" else 0)),
            h0_q=args.h0_q if args.h0_q is not None else 1,
        )
    kwargs: dict[str, Any] = {}
    if arch == "resnet":
        kwargs["residual"] = Residual(
            alpha=args.alpha if args.alpha is not None else 1,
            branch_depth=args.branch_depth if args.branch_depth is not None else 1,
            variant=args.variant or "post",
        )
    if arch == "bn":
        kwargs.update(norm="batch", batch=args.batch if args.batch is not None else 32)
        if args.norm_eps is not None:
            kwargs["norm_eps"] = args.norm_eps
    return Chain(activation=act, init=init, depth=args.depth, width=width,
                 sigma_b2=args.sigma_b2, input_q=args.input_q, readout=readout, **kwargs)


def summary(sim: Any) -> str:
    """Architecture-specific lines after the per-layer table (empty for a plain chain)."""
    from ..network.description import Chain, Recurrent

    net = sim.chain
    lines: list[str] = []
    f = sim.fields
    if isinstance(net, Recurrent):
        T = net.steps
        how = "exact spectral norm" if net.spectral else "action on a random unit vector"
        lj = sim.samples["ln_jacobian_norm"]
        lines.append(f"ln ‖∂h_T/∂h_0‖ ({how}): {f['ln_jacobian_norm'][0]:.4g} "
                     f"± {f['ln_jacobian_norm_se'][0]:.2g} (T = {T})")
        if net.cell == "rnn":
            from ..montecarlo.recurrent import pascanu_gamma

            lb = sim.samples["ln_pascanu_bound"]
            slack = np.max(lj[:, :-1] - lb[:, :-1])
            wn = np.exp(sim.samples["ln_recurrent_norm"])
            lines.append(
                f"Pascanu bound (γ‖W‖₂)^(T−t), γ = sup|φ′| = {pascanu_gamma(net):g}, "
                f"mean ‖W‖₂ = {wn.mean():.4g}: holds on every network: "
                f"{'yes' if slack <= 1e-9 else 'NO'} (max ln ‖J‖ − ln bound = {slack:.3g})"
            )
        if net.cell == "lstm":
            lines.append(f"cell path ln ∏ f_k from t = 0: {f['ln_forget_product'][0]:.4g} "
                         f"± {f['ln_forget_product_se'][0]:.2g} "
                         f"(per step {f['ln_forget_product'][0] / T:.4g})")
    elif isinstance(net, Chain) and net.norm == "batch":
        L = net.depth
        rows = range(2, L) if L > 2 else range(1, L + 1)
        chi = np.array([f["chi"][l] for l in rows])
        lines.append(f"median |ĥ| (argument of φ) per layer, mean over layers: "
                     f"{np.nanmean(f['abs_arg_q50'][1:]):.4g}")
        lines.append(f"gradient growth per layer (chi, layers {rows.start}..{rows.stop - 1}): "
                     f"mean {np.mean(chi):.4g}")
        if net.act.label == "relu" and net.batch is not None and net.batch >= 4:
            from ..montecarlo.batchnorm import bn_relu_gradient_rate

            lines.append(f"BN + ReLU theory (infinite width): λ(B={net.batch}) = "
                         f"{float(bn_relu_gradient_rate(net.batch)):.4g}, B → ∞: π/(π−1) = "
                         f"{math.pi / (math.pi - 1):.4g} (Yang et al. 2019)")
    if "clip_norm" in sim.setup:
        from ..montecarlo.clipping import clip_report

        lines.append(clip_report(sim).table().rstrip("\n"))
    return "\n".join(lines) + ("\n" if lines else "")


def to_json_dict(sim: Any) -> dict[str, Any]:
    """``sim.to_dict()`` plus the clipping report when the run clipped."""
    out = sim.to_dict()
    if "clip_norm" in sim.setup:
        from ..montecarlo.clipping import clip_report

        out["clipping"] = clip_report(sim).to_dict()
    return out
