"""A user's ``nn.Module`` as a vgmath network description, with its init read from its weights.

``describe(model)`` traces the model with ``torch.fx`` (so the data flow, not the order in
which submodules were registered, decides the structure) and recognises

* plain chains ``Linear → φ`` repeated (vgmath's :class:`vgmath.Chain`), optionally ending
  with a read-out ``Linear`` (see *Conventions* below);
* batch-normalised chains ``Linear → BatchNorm1d → φ`` (``Chain(norm="batch")``);
* residual chains: every ``x + α·F(x)`` in the traced graph (a user's own module, or
  :class:`vgmath.torch.ResidualBlock`), with F = ``Linear → φ`` (``variant="post"``) or
  ``φ → Linear`` (``"pre"``), once or twice (:class:`vgmath.Residual`).

Activations: the modules ``nn.ReLU``, ``nn.Tanh``, ``nn.Sigmoid``, ``nn.GELU`` (both
approximations), ``nn.SiLU``, ``nn.ELU``, ``nn.SELU``, ``nn.LeakyReLU``, ``nn.Softplus``,
``nn.Mish``, ``nn.Hardtanh`` (±1), ``nn.Hardsigmoid``, ``nn.Softsign`` and the functions
``torch.relu``/``tanh``/``sigmoid`` and ``F.relu``/``tanh``/``sigmoid``/``gelu``/``silu``/
``selu``/``elu``/``softplus``/``mish``. ``nn.Identity`` (and ``nn.Dropout`` in eval mode or
with p = 0) are skipped. Anything else raises :class:`UnsupportedModelError` naming the
module and its path in the model.

The initialisation is read from the weights
--------------------------------------------
For each ``Linear`` with weight W (n_out × n_in, N = n_in n_out entries) the empirical
variance v̂ = ΣW²/N (every torch.nn.init scheme has mean 0), its standard error
SE = √((m₄ − v̂²)/N) (m₄ = ΣW⁴/N) and the distribution: orthogonal if WᵀW (or WWᵀ) is a
multiple of I to 1e-4, else uniform / truncated normal / normal by the kurtosis m₄/v̂²
(1.8, ≈ 2.36 and 3; thresholds 2.1 and 2.7). The layer matches a ``torch.nn.init`` scheme
(``kaiming_*_``, ``xavier_*_``, ``orthogonal_``, nn.Linear's default ``kaiming_uniform_``
with a = √5, each with the gains of ``calculate_gain``) when the distribution agrees and
|v̂ − v| ≤ 5 SE (a false mismatch has probability ≈ 6e-7 per layer). The description uses the
scheme that matches most layers; a layer that does not match it is listed in the notes
with v̂/v (e.g. a standard deviation ×1.2 shows as 1.44), and :func:`vgmath.torch.measure`
keeps its actual variance when it re-initialises the model. Biases: absent or 0 (σ_b² = 0),
nn.Linear's default U(−1/√n_in, 1/√n_in) (σ_b² = 1/(3 n_in), exact), or else their pooled
empirical variance (3 significant digits).

Conventions (:mod:`vgmath.network.description`)
-----------------------------------------------
vgmath's chain applies φ on its last layer too, and backpropagates an output gradient with
i.i.d. N(0, 1) entries from x^L = φ(h^L). A PyTorch model usually ends with a linear
read-out y = W_out x^L + b_out instead: ``describe`` then describes the model up to x^L
(the layers that have a φ) and reports the read-out separately (``ModelInfo.readout``);
``measure`` seeds g^L = ∂E/∂x^L with i.i.d. N(0, 1) entries at the read-out's input. Through
a random read-out, g^L = W_outᵀ ∂E/∂y has per-unit second moment
n_out·Var(W_out)·E[(∂E/∂y_i)²] — the same factor at every layer, which is why vgmath's
profiles are stated relative to E[(g^L_i)²] = 1.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..core.errors import InvalidArgumentError
from ..network.description import Chain, Recurrent, Residual
from ..network.init import Init
from ..symbolic.catalog import Activation, activation
from .backend import require_torch
from .weights import (
    LayerInfo,
    _choose_rule,
    _layer_info,
    _matches,
    _readout_info,
    _scheme_candidates,
    _sigma_b2,
    _tensor_stats,
    _weight_stats,
    _WeightStats,
)

__all__ = ["LayerInfo", "ModelInfo", "UnsupportedModelError", "describe", "read_model"]


class UnsupportedModelError(InvalidArgumentError):
    """A module (or graph node) of the model that vgmath cannot describe."""

    def __init__(self, what: str, path: str, reason: str) -> None:
        where = f" at '{path}'" if path else ""
        super().__init__("model", f"{what}{where}", reason)
        self.module_type = what
        self.path = path


# --------------------------------------------------------------------------- activations


def _num(value: float) -> str:
    return repr(float(value))


def _module_activation(mod: Any) -> Activation | None:
    """The catalog activation of an ``nn`` activation module, or None if it is not one."""
    nn = require_torch().nn
    simple = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.SiLU: "silu",
              nn.SELU: "selu", nn.Mish: "mish", nn.Hardsigmoid: "hard_sigmoid",
              nn.Softsign: "softsign"}
    for cls, name in simple.items():
        if type(mod) is cls:
            return activation(name)
    if type(mod) is nn.GELU:
        return activation("gelu_tanh" if mod.approximate == "tanh" else "gelu")
    if type(mod) is nn.ELU:
        return activation("elu", alpha=_num(mod.alpha))
    if type(mod) is nn.LeakyReLU:
        return activation("leaky_relu", slope=_num(mod.negative_slope))
    if type(mod) is nn.Softplus:
        return activation("softplus", beta=_num(mod.beta))
    if type(mod) is nn.Hardtanh:
        if float(mod.min_val) == -1.0 and float(mod.max_val) == 1.0:
            return activation("hard_tanh")
        raise UnsupportedModelError(
            "nn.Hardtanh", "", f"only Hardtanh(-1, 1) is in the catalog (got "
            f"min_val={mod.min_val}, max_val={mod.max_val})")
    return None


def _function_activation(node: Any) -> Activation | None:
    torch = require_torch()
    F = torch.nn.functional
    t = node.target
    if node.op == "call_method":
        table = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}
        return activation(table[t]) if t in table and not node.kwargs else None
    simple = {torch.relu: "relu", F.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh",
              torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", F.silu: "silu",
              F.selu: "selu", torch.selu: "selu", F.mish: "mish"}
    kw = dict(node.kwargs)
    kw.pop("inplace", None)
    if t in simple and not kw:
        return activation(simple[t])
    if t is F.gelu and set(kw) <= {"approximate"}:
        return activation("gelu_tanh" if kw.get("approximate") == "tanh" else "gelu")
    if t is F.elu and set(kw) <= {"alpha"}:
        return activation("elu", alpha=_num(kw.get("alpha", 1.0)))
    if t is F.softplus and set(kw) <= {"beta", "threshold"}:
        return activation("softplus", beta=_num(kw.get("beta", 1.0)))
    if t is F.leaky_relu and set(kw) <= {"negative_slope"}:
        return activation("leaky_relu", slope=_num(kw.get("negative_slope", 0.01)))
    return None


# --------------------------------------------------------------------------- the traced graph


@dataclass
class _Item:
    """One step of the traced data flow (``node``: its fx node name, ``input``: its input's)."""

    kind: str  # "linear", "bn", "act", "scale", "residual"
    node: str
    input: str
    path: str = ""
    module: Any = None
    act: Activation | None = None
    scale: float = 1.0
    branch: list[_Item] = field(default_factory=list)


def _trace(model: Any) -> Any:
    torch = require_torch()
    if not isinstance(model, torch.nn.Module):
        raise InvalidArgumentError("model", type(model).__name__, "expected a torch.nn.Module")
    from torch import fx

    try:
        return fx.symbolic_trace(model)
    except Exception as err:  # fx raises many kinds of errors for untraceable code
        raise UnsupportedModelError(
            type(model).__name__, "", f"torch.fx could not trace its forward ({err}); "
            "vgmath.torch describes feed-forward chains of nn modules") from None


def _items(gm: Any) -> list[_Item]:
    torch = require_torch()
    nn = torch.nn
    modules = dict(gm.named_modules())
    items: list[_Item] = []
    alias: dict[str, str] = {}
    start: str | None = None
    prev: str | None = None

    def name_of(arg: Any) -> str | None:
        n = getattr(arg, "name", None)
        return None if n is None else alias.get(n, n)

    for node in gm.graph.nodes:
        where = str(node.target) if node.op == "call_module" else ""
        if node.op == "placeholder":
            if start is not None:
                raise UnsupportedModelError(node.name, "", "the model takes one input tensor")
            start = prev = node.name
            continue
        if node.op == "output":
            if name_of(node.args[0]) != prev:
                raise UnsupportedModelError("output", "", "the model must return one tensor, "
                                            "the end of its chain of layers")
            break
        tensor_args = [a for a in node.args if hasattr(a, "name")]
        if node.op == "call_module":
            mod = modules[node.target]
            what = f"nn.{type(mod).__name__}"
            if len(tensor_args) != 1 or name_of(tensor_args[0]) != prev or node.kwargs:
                raise UnsupportedModelError(what, where, "it is not applied to the output of "
                                            "the previous layer (vgmath describes chains)")
            if isinstance(mod, nn.Identity) or (
                    isinstance(mod, nn.Dropout) and (mod.p == 0 or not mod.training)):
                alias[node.name] = prev
                continue
            if type(mod) is nn.Linear:
                items.append(_Item("linear", node.name, prev, where, mod))
            elif type(mod) is nn.BatchNorm1d:
                items.append(_Item("bn", node.name, prev, where, mod))
            else:
                try:
                    act = _module_activation(mod)
                except UnsupportedModelError as err:
                    raise UnsupportedModelError(what, where, err.reason) from None
                if act is None:
                    raise UnsupportedModelError(
                        what, where, "not a supported module (Linear, BatchNorm1d, the catalog's "
                        "activations, residual x + α·F(x); see vgmath.torch.describe)")
                items.append(_Item("act", node.name, prev, where, mod, act=act))
            prev = node.name
            continue
        if node.op not in ("call_function", "call_method"):
            raise UnsupportedModelError(f"{node.op} {node.target}", "", "not a supported operation")
        t = node.target
        if t in (operator.add, torch.add, "add") and len(tensor_args) == 2 and not node.kwargs:
            a, b = (name_of(x) for x in tensor_args)
            skip = b if a == prev else a if b == prev else None
            idx = next((i for i, it in enumerate(items) if it.node == skip), None)
            if skip is None or (idx is None and skip != start):
                raise UnsupportedModelError(str(t), "", "an addition that is not x + F(x) of "
                                            "the chain's stream")
            first = 0 if idx is None else idx + 1
            branch = items[first:]
            if not branch:
                raise UnsupportedModelError("x + x", "", "a residual branch needs layers")
            del items[first:]
            items.append(_Item("residual", node.name, skip, branch=branch))
            prev = node.name
            continue
        if t in (operator.mul, torch.mul, "mul") and len(tensor_args) == 1 and not node.kwargs:
            consts = [c for c in node.args if not hasattr(c, "name")]
            if name_of(tensor_args[0]) == prev and len(consts) == 1 and isinstance(
                    consts[0], (int, float)):
                items.append(_Item("scale", node.name, prev, scale=float(consts[0])))
                prev = node.name
                continue
        act = _function_activation(node)
        if act is not None and len(tensor_args) == 1 and name_of(tensor_args[0]) == prev:
            items.append(_Item("act", node.name, prev, act=act))
            prev = node.name
            continue
        raise UnsupportedModelError(getattr(t, "__name__", str(t)), "",
                                    "not a supported operation in a chain")
    return items


# --------------------------------------------------------------------------- the init


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class _Plan:
    """What ``measure`` records: fx node names per layer (index l = 0..L)."""

    stream: tuple[str, ...]  # x^0..x^L (x^0: the input placeholder)
    pre: tuple[str | None, ...]  # ∂E/∂ of these is δ^l (the last dense output of layer l)
    weight_in: tuple[str | None, ...]  # the input of that dense layer
    linears: tuple[tuple[str, Init, str], ...]  # (path, rule to redraw with, bias kind)
    bias_var: tuple[float, ...]
    batchnorm: bool
    #: recurrent models: (W_hh rule per gate block, W_ih rule, bias kind, Var of each bias
    #: vector, forget-gate bias) — ``measure`` redraws the stacked matrices block by block
    recurrent: tuple[Any, ...] | None = None


@dataclass(frozen=True, eq=False)
class ModelInfo:
    """What :func:`read_model` reads from a model.

    ``description``: the vgmath network (:class:`vgmath.Chain`); ``kind``: ``"chain"``,
    ``"batchnorm"`` or ``"residual"``; ``layers``: one :class:`LayerInfo` per ``Linear`` of
    the description; ``readout``: the final read-out ``Linear`` (not part of the
    description) or None; ``scheme``: the torch.nn.init call recognised (None: none);
    ``convention``: where the output gradient is seeded; ``notes``: deviations and
    estimates.
    """

    description: Chain | Recurrent
    kind: str
    layers: tuple[LayerInfo, ...]
    readout: LayerInfo | None
    scheme: str | None
    convention: str
    notes: tuple[str, ...]
    model_name: str
    plan: _Plan = field(repr=False)

    @property
    def deviations(self) -> tuple[LayerInfo, ...]:
        """Layers whose weights do not follow the description's rule."""
        return tuple(info for info in self.layers if not info.matches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "kind": self.kind,
            "description": self.description.to_dict(),
            "scheme": self.scheme,
            "layers": [info.to_dict() for info in self.layers],
            "readout": None if self.readout is None else self.readout.to_dict(),
            "convention": self.convention,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        out = [f"{self.model_name}: {self.description}",
               f"  init: {self.scheme or 'no torch.nn.init scheme recognised'}",
               f"  convention: {self.convention}", "",
               (f"  {'l':>3}  {'path':<22} {'n_in→n_out':>12} {'n_in·Var(W)':>12} "
               f"{'/ expected':>10}  {'dist':<10} bias")]
        for info in (*self.layers, *(() if self.readout is None else (self.readout,))):
            flag = "" if info.matches else "   <-- deviates"
            out.append(
                f"  {info.layer if info.role != 'readout' else 'out':>3}  {info.path:<22} "
                f"{f'{info.fan_in}→{info.fan_out}':>12} {info.sigma_w2:>12.4g} "
                f"{info.ratio:>10.4f}  {info.distribution:<10} {info.bias}{flag}")
        if self.notes:
            out.append("")
            out.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(out)


def _input_q(inputs: Any) -> Any:
    if inputs is None:
        return 1
    torch = require_torch()
    x = torch.as_tensor(inputs).detach().to(torch.float64)
    if x.ndim != 2:
        raise InvalidArgumentError("inputs", tuple(x.shape), "expected a (batch, features) tensor")
    q = float((x * x).mean())
    if not q > 0:
        raise InvalidArgumentError("inputs", "0", "the inputs must not all be zero")
    return f"{q:.6g}"


def read_model(model: Any, *, inputs: Any = None, batch: int | None = None,
               input_q: Any = None, steps: int | None = None) -> ModelInfo:
    """Read ``model`` (an ``nn.Module``): its description, per-layer init and conventions.

    ``inputs`` (a (B, n_0) tensor) sets the description's ``input_q`` = mean of ‖x‖²/n_0
    (6 significant digits) and, for a batch-normalised model, ``batch`` = B; or give
    ``input_q`` (default 1) and ``batch`` directly. A recurrent model (``nn.RNN``,
    ``nn.LSTM``, ``nn.GRU`` itself) needs ``steps`` = T. See the module docstring.
    """
    torch = require_torch()
    if isinstance(model, torch.nn.RNNBase):
        return _recurrent(model, steps, 1 if input_q is None else input_q)
    gm = _trace(model)
    items = _items(gm)
    if input_q is None:
        input_q = _input_q(inputs)
    if batch is None and inputs is not None:
        batch = int(require_torch().as_tensor(inputs).shape[0])
    if any(it.kind == "residual" for it in items):
        return _residual(model, items, input_q)
    return _chain(model, items, input_q, batch)


def describe(model: Any, *, inputs: Any = None, batch: int | None = None,
             input_q: Any = None, steps: int | None = None) -> Chain | Recurrent:
    """The vgmath description (:class:`vgmath.Chain`) of a PyTorch model.

    >>> import torch, vgmath.torch as vgt                                 # doctest: +SKIP
    >>> net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU())  # doctest: +SKIP
    >>> vgt.describe(net)                                                 # doctest: +SKIP

    :func:`read_model` returns the details (per-layer variances, the recognised scheme,
    deviations, the read-out). Raises :class:`UnsupportedModelError` for a module vgmath
    cannot describe, naming it and its path.
    """
    return read_model(model, inputs=inputs, batch=batch, input_q=input_q,
                      steps=steps).description


def _one_activation(items: list[_Item]) -> Activation:
    acts = [it for it in items if it.kind == "act"]
    if not acts:
        raise UnsupportedModelError("model", "", "it has no activation")
    first = acts[0].act
    assert first is not None
    for it in acts[1:]:
        assert it.act is not None
        if it.act.label != first.label:
            raise UnsupportedModelError(
                it.act.label, it.path, f"vgmath chains use one activation; the first layer "
                f"uses {first.label}")
    return first


def _readout_convention(readout: _WeightStats | None) -> str:
    if readout is None:
        return ("the model ends with φ, as vgmath's chain: the output gradient g^L = ∂E/∂x^L "
                "has i.i.d. N(0, 1) entries")
    return (f"vgmath's chain ends with φ; the read-out nn.Linear at '{readout.path}' "
            f"({readout.fan_in}→{readout.fan_out}) is not part of the description: the "
            "output gradient g^L = ∂E/∂x^L is seeded with i.i.d. N(0, 1) entries at its "
            "input (through a random read-out every layer's E[g²] would carry the same "
            f"factor n_out·Var(W_out) = {readout.fan_out * readout.v:.4g})")


def _chain(model: Any, items: list[_Item], input_q: Any, batch: int | None) -> ModelInfo:
    act = _one_activation(items)
    groups: list[tuple[_Item, _Item | None, _Item]] = []
    readout: _Item | None = None
    i = 0
    while i < len(items):
        it = items[i]
        if it.kind != "linear":
            raise UnsupportedModelError(it.path or it.kind, "" if not it.path else it.path,
                                        "expected nn.Linear here (a chain is Linear → "
                                        "[BatchNorm1d →] φ, repeated)")
        bn = items[i + 1] if i + 1 < len(items) and items[i + 1].kind == "bn" else None
        j = i + (2 if bn else 1)
        if j >= len(items):
            if bn is not None:
                raise UnsupportedModelError("nn.BatchNorm1d", bn.path, "a chain layer ends "
                                            "with an activation")
            readout = it
            break
        nxt = items[j]
        if nxt.kind != "act":
            raise UnsupportedModelError(nxt.kind, nxt.path, "expected an activation after "
                                        f"the nn.Linear at '{it.path}'")
        groups.append((it, bn, nxt))
        i = j + 1
    if not groups:
        raise UnsupportedModelError("model", "", "it has no Linear → φ layer")
    bns = [g[1] for g in groups]
    use_bn = bns[0] is not None
    if any((b is not None) != use_bn for b in bns):
        raise UnsupportedModelError("nn.BatchNorm1d", "", "vgmath's batch-normalised chain "
                                    "normalises every layer or none")
    notes: list[str] = []
    eps: Any = "1/100000"
    if use_bn:
        for b in bns:
            assert b is not None
            m = b.module
            if not m.training:
                raise UnsupportedModelError("nn.BatchNorm1d", b.path, "it is in eval mode "
                                            "(running statistics); vgmath's batch-normalised "
                                            "chain normalises over the batch (model.train())")
            if m.affine and (bool((m.weight != 1).any()) or bool((m.bias != 0).any())):
                notes.append(f"BatchNorm1d at '{b.path}': γ ≠ 1 or β ≠ 0; vgmath's chain has "
                             "their initial values γ = 1, β = 0")
        eps = f"{float(bns[0].module.eps):.6g}"
        if batch is None:
            raise InvalidArgumentError("batch", None, "a batch-normalised model needs the "
                                       "batch size (batch= or inputs=)")
    stats = [_weight_stats(g[0].path, g[0].module) for g in groups]
    rule, scheme, extra = _choose_rule(stats, act)
    notes.extend(extra)
    sigma_b2, bnotes = _sigma_b2(stats)
    if use_bn:
        sigma_b2 = 0  # a bias before batch normalisation cancels exactly
    else:
        notes.extend(bnotes)
    widths = [stats[0].fan_in, *(s.fan_out for s in stats)]
    chain = Chain(activation=act, init=rule, depth=len(groups), width=widths,
                  sigma_b2=sigma_b2, input_q=input_q,
                  norm="batch" if use_bn else None, batch=batch if use_bn else None,
                  norm_eps=eps)
    infos = tuple(_layer_info(s, l + 1, "hidden", rule, scheme) for l, s in enumerate(stats))
    ro_stats = _weight_stats(readout.path, readout.module) if readout is not None else None
    ro_info = None
    if ro_stats is not None:
        ro_info = _readout_info(ro_stats, len(groups) + 1, act)
    for info in infos:
        if not info.matches:
            notes.append(f"layer {info.layer} ('{info.path}'): Var(W) is {info.ratio:.3f}× the "
                         f"description's (std ×{math.sqrt(info.ratio):.3f}); "
                         + (f"it matches {info.scheme}" if info.scheme else
                            "no torch.nn.init scheme"))
    plan = _Plan(
        stream=(groups[0][0].input, *(g[2].node for g in groups)),
        pre=(None, *(g[0].node for g in groups)),
        weight_in=(None, *(g[0].input for g in groups)),
        linears=tuple(_redraw(s, info, rule) for s, info in zip(stats, infos, strict=True)),
        bias_var=tuple(_bias_var(s, chain, use_bn) for s in stats),
        batchnorm=use_bn,
    )
    conv = _readout_convention(ro_stats)
    return ModelInfo(chain, "batchnorm" if use_bn else "chain", infos, ro_info, scheme, conv,
                     tuple(notes), type(model).__name__, plan)


def _redraw(s: _WeightStats, info: LayerInfo, rule: Init) -> tuple[str, Init, str]:
    """The rule ``measure`` redraws a layer with: the description's when the layer follows
    it, else the layer's own variance and distribution."""
    if info.matches:
        return s.path, rule, s.bias
    dist = s.dist
    own = Init("empirical", sp.nsimplify(f"{s.fan_in * s.v:.12g}"), "fan_in", dist)
    return s.path, own, s.bias


def _bias_var(s: _WeightStats, chain: Chain, batchnorm: bool) -> float:
    if s.bias in ("none", "zero"):
        return 0.0
    if batchnorm:
        return s.bias_var
    return float(chain.sigma_b2)


def _residual(model: Any, items: list[_Item], input_q: Any) -> ModelInfo:
    readout = None
    if items and items[-1].kind == "linear":
        readout = items.pop()
    if not items or any(it.kind != "residual" for it in items):
        bad = next((it for it in items if it.kind != "residual"), None)
        raise UnsupportedModelError(bad.kind if bad else "model", bad.path if bad else "",
                                    "a residual model is a chain of blocks x + α·F(x) "
                                    "(optionally followed by a read-out nn.Linear); vgmath "
                                    "has no input projection before the first block")
    shapes = []
    for blk in items:
        br = list(blk.branch)
        alpha = 1.0
        while br and br[-1].kind == "scale":
            alpha *= br.pop().scale
        kinds = tuple(it.kind for it in br)
        variants = {("linear", "act"): ("post", 1), ("linear", "act", "linear", "act"): ("post", 2),
                    ("act", "linear"): ("pre", 1), ("act", "linear", "act", "linear"): ("pre", 2)}
        if kinds not in variants:
            raise UnsupportedModelError("residual branch", br[0].path if br else "",
                                        f"the branch is {' → '.join(kinds)}; vgmath's residual "
                                        "branches are Linear → φ or φ → Linear (once or twice)")
        shapes.append((variants[kinds], alpha, br))
    first = shapes[0]
    for (vk, alpha, br) in shapes[1:]:
        if vk != first[0] or abs(alpha - first[1]) > 1e-12 * max(1.0, abs(first[1])):
            raise UnsupportedModelError("residual block", br[0].path, "every block must have "
                                        "the same branch and α as the first")
    (variant, bd), alpha, _ = first
    flat = [it for _, _, br in shapes for it in br]
    act = _one_activation(flat)
    lin_items = [it for it in flat if it.kind == "linear"]
    stats = [_weight_stats(it.path, it.module) for it in lin_items]
    n = stats[0].fan_in
    if any(s.fan_in != n or s.fan_out != n for s in stats):
        raise UnsupportedModelError("nn.Linear", next(s.path for s in stats if s.fan_in != n or
                                                      s.fan_out != n),
                                    "residual branches keep the width (n × n weights)")
    rule, scheme, notes = _choose_rule(stats, act)
    sigma_b2, bnotes = _sigma_b2(stats)
    notes = [*notes, *bnotes]
    chain = Chain(activation=act, init=rule, depth=len(items), width=n, sigma_b2=sigma_b2,
                  input_q=input_q, residual=Residual(alpha=f"{alpha:.12g}", branch_depth=bd,
                                                     variant=variant))
    infos = tuple(_layer_info(s, k // bd + 1, f"branch{k % bd + 1}", rule, scheme)
                  for k, s in enumerate(stats))
    for info in infos:
        if not info.matches:
            notes.append(f"block {info.layer} ('{info.path}'): Var(W) is {info.ratio:.3f}× the "
                         f"description's (std ×{math.sqrt(info.ratio):.3f})")
    ro_stats = _weight_stats(readout.path, readout.module) if readout is not None else None
    ro_info = None if ro_stats is None else _readout_info(ro_stats, len(items) + 1, act)
    lasts = [br[-1] if variant == "pre" else br[-2] for _, _, br in shapes]
    plan = _Plan(
        stream=(items[0].input, *(blk.node for blk in items)),
        pre=(None, *(it.node for it in lasts)),
        weight_in=(None, *(it.input for it in lasts)),
        linears=tuple(_redraw(s, info, rule) for s, info in zip(stats, infos, strict=True)),
        bias_var=tuple(_bias_var(s, chain, False) for s in stats),
        batchnorm=False,
    )
    return ModelInfo(chain, "residual", infos, ro_info, scheme, _readout_convention(ro_stats),
                     tuple(notes), type(model).__name__, plan)


# --------------------------------------------------------------------------- recurrent

_CELLS = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}


def _recurrent(model: Any, steps: int | None, input_q: Any) -> ModelInfo:
    """``nn.RNN``/``nn.LSTM``/``nn.GRU`` (one layer, one direction) as a vgmath Recurrent.

    PyTorch's default draws every weight and bias from U(−1/√n, 1/√n), n = hidden size:
    Var(W_hh) = 1/(3n) (σ_w² = 1/3 per n × n gate block), Var(W_ih) = 1/(3n) with fan_in =
    m (σ_u² = m/(3n)), b_ih + b_hh of variance 2/(3n), and the state starts at h₀ = 0
    (c₀ = 0). ``orthogonal_``/``xavier_normal_`` applied to the stacked G n × n matrix
    ``weight_hh_l0`` use fan_out = G n, not a gate block's n: each block then has
    Var = gain²/(G n) and (orthogonal) is not orthogonal itself.
    """
    name = type(model).__name__
    cell = _CELLS.get(name)
    path = name
    if cell is None:
        raise UnsupportedModelError(f"nn.{name}", "", "not nn.RNN, nn.LSTM or nn.GRU")
    if model.num_layers != 1 or model.bidirectional or getattr(model, "proj_size", 0):
        raise UnsupportedModelError(f"nn.{name}", "", "vgmath's Recurrent is one layer in one "
                                    "direction without projection")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidArgumentError("steps", steps, "a recurrent model needs the number of "
                                   "steps T (an integer >= 1)")
    n, m = model.hidden_size, model.input_size
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    act = activation(model.nonlinearity if cell == "rnn" else "tanh")
    notes: list[str] = []
    s_hh = _tensor_stats(f"{path}.weight_hh_l0", model.weight_hh_l0, None, fan_out=n)
    s_ih = _tensor_stats(f"{path}.weight_ih_l0", model.weight_ih_l0, None, fan_out=n)
    default_hh = ("PyTorch default U(−1/√n, 1/√n)", Init.custom("1/3", distribution="uniform"))
    default_ih = ("PyTorch default U(−1/√n, 1/√n)",
                  Init.custom(sp.Rational(m, 3 * n), distribution="uniform"))
    rule_hh, label_hh = _recurrent_rule(s_hh, [default_hh, *_scheme_candidates(act)], G, notes,
                                        "W_hh")
    rule_ih, label_ih = _recurrent_rule(s_ih, [default_ih, *_scheme_candidates(act)], G, notes,
                                        "W_ih")
    # biases: b_ih + b_hh, each n-wide block per gate; LSTM forget gate = block 1
    forget = 0.0
    bias_kind, each = "none", 0.0
    sigma_b2: Any = 0
    if model.bias:
        b_ih = model.bias_ih_l0.detach().to(require_torch().float64).cpu().numpy()
        b_hh = model.bias_hh_l0.detach().to(require_torch().float64).cpu().numpy()
        total = b_ih + b_hh
        bound = 1.0 / math.sqrt(n)
        if cell == "lstm":  # a constant added to the forget block of b_ih or b_hh
            b_ih, b_hh = b_ih.copy(), b_hh.copy()
            for b in (b_ih, b_hh):
                blk = b[n: 2 * n]
                mid = 0.5 * (float(blk.max()) + float(blk.min()))  # midrange: O(bound/n) error
                if abs(mid) > 2 * bound:
                    shift = float(f"{mid:.2g}")
                    forget += shift
                    blk -= shift
            if forget:
                total = b_ih + b_hh
                notes.append(f"LSTM forget-gate bias {forget:.2g} (the midrange of the forget "
                             "block of the biases, 2 significant digits)")
        if not np.any(b_ih) and not np.any(b_hh):
            bias_kind = "zero"
        elif max(np.abs(b_ih).max(), np.abs(b_hh).max()) <= bound * (1.1 if forget else 1 + 1e-6):
            bias_kind, each = "default", bound**2 / 3.0
            sigma_b2 = sp.Rational(2, 3 * n)
        else:
            bias_kind = "empirical"
            est = float((total * total).mean())
            each = est / 2.0
            sigma_b2 = f"{est:.3g}"
            notes.append(f"σ_b² = Var(b_ih + b_hh) = {est:.3g} estimated from the biases")
    net = Recurrent(cell=cell, activation=act, hidden=n, steps=steps, init=rule_hh,
                    input_size=m, input_init=rule_ih, sigma_b2=sigma_b2,
                    forget_bias=f"{forget:.2g}" if forget else 0, h0_q=0,
                    input_q=input_q)
    infos = (
        _layer_info(s_hh, 1, "recurrent", rule_hh, label_hh),
        _layer_info(s_ih, 1, "input", rule_ih, label_ih),
    )
    plan = _Plan(stream=(), pre=(), weight_in=(), linears=(), bias_var=(), batchnorm=False,
                 recurrent=(rule_hh, rule_ih, bias_kind, each, forget))
    conv = ("PyTorch's recurrent conventions: h₀ = 0 (c₀ = 0), inputs x_t with i.i.d. "
            "N(0, input_q) entries fresh at every step, E = gᵀ h_T with g i.i.d. N(0, 1); "
            "layers are the time steps t = 0..T")
    return ModelInfo(net, "recurrent", infos, None, label_hh, conv, tuple(notes), name, plan)


def _recurrent_rule(s: _WeightStats, candidates: list[tuple[str, Init]], gates: int,
                    notes: list[str], what: str) -> tuple[Init, str | None]:
    """The rule of one gate block (n_out = n) of a stacked recurrent weight."""
    for label, rule in candidates:
        if _matches(s, rule):
            return rule, label
    if s.dist == "orthogonal" and gates > 1:
        notes.append(f"{what}: orthogonal_ on the stacked ({gates}n × n) matrix: each gate "
                     f"block has Var = gain²/({gates}n) and is not orthogonal itself")
    dist = "normal" if s.dist == "orthogonal" else s.dist
    s2 = s.fan_in * s.v
    notes.append(f"{what}: no torch.nn.init scheme per gate block; σ² = n_in·Var = {s2:.4g} "
                 f"({dist})")
    return Init.custom(f"{s2:.4g}", distribution=dist), None
