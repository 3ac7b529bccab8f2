"""Measure a PyTorch model like ``vg.simulate`` measures a description: per-layer second
moments over independent re-initialisations, as a :class:`vgmath.Simulation`.

``measure(model, inputs, reinit=K, seed=s)`` draws K independent networks — by calling the
user's builder K times (their own init code, under seeded torch RNG) or by redrawing every
``Linear`` of a module from the rule :func:`vgmath.torch.describe` read from it (a layer that
deviates from the scheme keeps its own variance and distribution) — pushes the inputs
through each with the model's own forward (the traced ``torch.fx`` graph, so shared
modules and functional activations are measured where they act), backpropagates
an output gradient g^L with i.i.d. N(0, 1) entries from x^L (vgmath's convention: at the
output of the last φ, i.e. the input of a read-out; see :mod:`vgmath.torch.model`) with
one ``torch.autograd.grad`` call, and records per network (index l = 0..L, B inputs x_b):

===============================  ==========================================================
field                            per network (plain chains: the mean over the B inputs)
===============================  ==========================================================
``q``                            ‖h^l_b‖²/n_l (residual chains: ‖x_l‖²/n); q[0] = ‖x^0_b‖²/n_0
``activation_second_moment``     ‖x^l_b‖²/n_l
``grad_second_moment``           ‖g^l_b‖²/n_l, g^l = ∂E/∂x^l
``grad_preact_second_moment``    ‖δ^l_b‖²/n_l, δ^l = ∂E/∂h^l (h^l: the output of layer l's
                                 (last) Linear, before batch normalisation)
``grad_weight_second_moment``    ‖δ^l_b‖²‖u^l_b‖²/(n_l n_in) (u: that Linear's input), the
                                 mean of (∂E/∂W_ij)² for one input; batch-normalised
                                 chains: ‖Σ_b δ_b u_bᵀ‖²_F/(n_l n_in) (the batch gradient)
===============================  ==========================================================

These are :mod:`vgmath.montecarlo.simulation`'s definitions (for B = 1 exactly; for B > 1 the
per-network value is averaged over the inputs, which leaves every ensemble mean unchanged
when the inputs have the same norm, and makes the per-network spread smaller), summarised
by the same code, so ``vg.verify(description, simulation=measured)`` tests the theory
against the user's model. The K networks are independent, so the standard errors are those
of :class:`vgmath.Simulation` (sample standard deviation over K networks / √K).

Inputs: a (B, n_0) tensor (the same inputs for every network), or an integer B: fresh
inputs for every network, each a uniformly random direction scaled to ‖x‖²/n_0 = input_q
(the inputs of vgmath's residual and batch-norm kernels; for Gaussian weights the plain
chain's fixed input √q·(1, …, 1) has the same law of every field).
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError
from ..montecarlo.simulation import Simulation, _summarise
from ..network.description import Chain
from ..network.init import TRUNCATION_VARIANCE_FACTOR, Init
from .backend import require_torch
from .model import ModelInfo, _Plan, read_model

__all__ = ["measure"]


def _seed_k(seed: int, k: int) -> int:
    """Network k's torch seed: 63 bits of ``SeedSequence(seed, spawn_key=(k,))``."""
    state = np.random.SeedSequence(seed, spawn_key=(k,)).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


def _redraw(net: Any, plan: _Plan, gen: Any) -> None:
    """Redraw every Linear of ``net`` in place from the plan's rules with generator ``gen``."""
    torch = require_torch()
    with torch.no_grad():
        for (path, rule, bias_kind), bvar in zip(plan.linears, plan.bias_var, strict=True):
            mod = net.get_submodule(path)
            n_out, n_in = mod.weight.shape
            _sample_(torch, mod.weight, rule, n_in, n_out, gen)
            if mod.bias is not None:
                _redraw_bias(mod.bias, bias_kind, bvar, n_in, gen)


def _redraw_bias(b: Any, kind: str, variance: float, fan_in: int, gen: Any) -> None:
    """Redraw a bias in place: zero, PyTorch's default U(±1/√fan_in), or N(0, variance)."""
    if kind == "zero" or variance == 0:
        b.zero_()
    elif kind == "default":
        a = 1.0 / math.sqrt(fan_in)
        b.uniform_(-a, a, generator=gen)
    else:
        b.normal_(0.0, math.sqrt(variance), generator=gen)


@functools.lru_cache(maxsize=1024)
def _variance(rule: Init, n_in: int, n_out: int) -> float:
    return float(rule.variance(n_in, n_out))


def _sample_(torch: Any, w: Any, rule: Init, n_in: int, n_out: int, gen: Any) -> None:
    """Fill ``w`` (n_out × n_in) with a draw of ``rule``."""
    var = _variance(rule, n_in, n_out)
    if rule.distribution == "normal":
        w.normal_(0.0, math.sqrt(var), generator=gen)
    elif rule.distribution == "uniform":
        a = math.sqrt(3.0 * var)
        w.uniform_(-a, a, generator=gen)
    elif rule.distribution == "truncated_normal":
        std = math.sqrt(var / float(TRUNCATION_VARIANCE_FACTOR))
        torch.nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std, generator=gen)
    else:
        torch.nn.init.orthogonal_(w, gain=math.sqrt(var * max(n_in, n_out)), generator=gen)


def _copy_state(dst: Any, src: Any) -> None:
    """Copy the parameters and buffers of a freshly built network into the measured one."""
    torch = require_torch()
    with torch.no_grad():
        try:
            for name, p in dst.named_parameters():
                p.copy_(src.get_parameter(name))
            for name, b in dst.named_buffers():
                b.copy_(src.get_buffer(name))
        except AttributeError as err:
            raise InvalidArgumentError("model", type(src).__name__, "the builder returned "
                                       f"networks of different structures ({err})") from None


def _recorder(torch: Any, gm: Any, wanted: set[str]) -> Any:
    class Recorder(torch.fx.Interpreter):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__(gm)
            self.values: dict[str, Any] = {}

        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            if n.name in wanted:
                self.values[n.name] = out
            return out

    return Recorder()


def _sq(t: Any) -> Any:
    """Per-row sum of squares in float64, shape (B,)."""
    t64 = t.detach().to(dtype=require_torch().float64).reshape(t.shape[0], -1)
    return (t64 * t64).sum(dim=1)


def _one_network(torch: Any, gm: Any, plan: _Plan, x0: Any, gen: Any) -> dict[str, np.ndarray]:
    wanted = {*plan.stream, *(p for p in plan.pre if p), *(w for w in plan.weight_in if w)}
    rec = _recorder(torch, gm, wanted)
    x0 = x0.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        rec.run(x0)
        vals = rec.values
        vals[plan.stream[0]] = x0
        L = len(plan.stream) - 1
        xl = vals[plan.stream[-1]]
        g_out = torch.randn(xl.shape, generator=gen, dtype=torch.float64).to(dtype=xl.dtype)
        targets = [vals[s] for s in plan.stream] + [vals[p] for p in plan.pre[1:] if p]
        grads = torch.autograd.grad(xl, targets, grad_outputs=g_out, allow_unused=True)
    gs, ds = grads[: L + 1], grads[L + 1 :]
    B = x0.shape[0]
    out = {k: np.full(L + 1, np.nan) for k in ("q", "act", "grad", "preact", "weight")}
    with np.errstate(divide="ignore"):
        for l in range(L + 1):
            x = vals[plan.stream[l]]
            n = x[0].numel()
            act = (_sq(x) / n).mean().item()
            out["act"][l] = math.log(act) if act > 0 else -math.inf
            g = gs[l]
            gm2 = 0.0 if g is None else (_sq(g) / n).mean().item()
            out["grad"][l] = math.log(gm2) if gm2 > 0 else -math.inf
            if l == 0:
                out["q"][0] = out["act"][0]
                continue
            h = vals[plan.pre[l]]
            d = ds[l - 1]
            u = vals[plan.weight_in[l]]
            nh, nu = h[0].numel(), u[0].numel()
            q = act if plan.q_is_stream else (_sq(h) / nh).mean().item()
            out["q"][l] = math.log(q) if q > 0 else -math.inf
            dsq = _sq(d) if d is not None else torch.zeros(B, dtype=torch.float64)
            pre = (dsq / nh).mean().item()
            out["preact"][l] = math.log(pre) if pre > 0 else -math.inf
            if plan.batchnorm:
                d64 = d.detach().to(torch.float64).reshape(B, -1)
                u64 = u.detach().to(torch.float64).reshape(B, -1)
                wsq = ((d64 @ d64.T) * (u64 @ u64.T)).sum().item() / (nh * nu)
            else:
                wsq = (dsq * _sq(u)).mean().item() / (nh * nu)
            out["weight"][l] = math.log(wsq) if wsq > 0 else -math.inf
    return out


def _random_inputs(torch: Any, gen: Any, B: int, n0: int, q: float, dtype: Any) -> Any:
    z = torch.randn((B, n0), generator=gen, dtype=torch.float64)
    z = z * (math.sqrt(n0 * q) / z.norm(dim=1, keepdim=True))
    return z.to(dtype)


def measure(
    model: Any,
    inputs: Any = 1,
    *,
    reinit: int = 64,
    seed: int = 0,
    description: Chain | None = None,
    input_q: Any = None,
    dtype: Any = "float64",
    info: ModelInfo | None = None,
    steps: int | None = None,
) -> Simulation:
    """Per-layer gradient and activation second moments of a PyTorch model (module doc).

    Parameters
    ----------
    model
        An ``nn.Module`` (re-initialised by redrawing its ``Linear`` layers from the rules
        read from its weights; the module itself is not modified) or a function returning a
        fresh module (called ``reinit`` times under ``torch.manual_seed`` of each network's
        seed, so the user's own init code draws the weights).
    inputs
        A (B, n_0) tensor used for every network, or an integer B (fresh random-direction
        inputs with ‖x‖²/n_0 = input_q for every network; default 1, as ``vg.simulate``).
    reinit
        K ≥ 1 independent networks; 0 measures the module's own weights once (one network,
        no standard errors).
    seed
        Network k draws from ``SeedSequence(seed, spawn_key=(k,))`` (weights, fresh inputs
        and the output gradient), so results are reproducible.
    description
        The :class:`vgmath.Chain` to attach (default: :func:`vgmath.torch.describe` of the
        model with these inputs); ``vg.verify(description, simulation=result)`` needs the
        same object (or an equal one).
    input_q
        The per-unit second moment of generated inputs (default: the description's, or 1).
    dtype
        ``"float64"`` (default: the model is measured in a float64 copy, so 40 sigmoid layers
        do not underflow) or ``"float32"`` (the model's own precision).
    info
        A :func:`vgmath.torch.read_model` result to reuse.
    steps
        Recurrent models (``nn.RNN``/``nn.LSTM``/``nn.GRU``): the number of steps T (or give
        ``inputs`` of shape (B, T, m), batch first); ``inputs`` = B draws fresh
        N(0, input_q) inputs at every step. Fields are then per time step t = 0..T
        (:mod:`vgmath.montecarlo.recurrent`): ``activation_second_moment``,
        ``grad_second_moment`` (‖∂E/∂h_t‖²/n over every path, E = gᵀ h_T) and ``q``
        (‖a_t‖²/(G n), rnn and lstm); the gradients at the pre-activations and weights are
        not measured (NaN).

    Returns
    -------
    Simulation
        ``method="torch"``, ``trials`` = K; ``setup`` records the model, the convention and
        how the networks were drawn.
    """
    torch = require_torch()
    from torch import fx

    if isinstance(reinit, bool) or not isinstance(reinit, int) or reinit < 0:
        raise InvalidArgumentError("reinit", reinit, "expected an integer >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgumentError("seed", seed, "expected an integer >= 0")
    tdtype = {"float64": torch.float64, "float32": torch.float32}.get(str(dtype).replace(
        "torch.", ""))
    if tdtype is None:
        raise InvalidArgumentError("dtype", dtype, "expected 'float64' or 'float32'")
    is_module = isinstance(model, torch.nn.Module)
    builder: Callable[[], Any] | None = None
    if not is_module:
        if not callable(model):
            raise InvalidArgumentError("model", type(model).__name__,
                                       "expected an nn.Module or a function returning one")
        builder = model
        if reinit == 0:
            raise InvalidArgumentError("reinit", 0, "a builder is called once per network: "
                                       "reinit must be >= 1")
    def build(k: int) -> Any:
        assert builder is not None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed_k(seed, k))
            net = builder()
        if not isinstance(net, torch.nn.Module):
            raise InvalidArgumentError("model", type(net).__name__,
                                       "the builder must return an nn.Module")
        return net

    first = model if is_module else build(0)
    if isinstance(first, torch.nn.RNNBase):
        return _measure_recurrent(torch, model if is_module else None, first, build, inputs,
                                  reinit=reinit, seed=seed, steps=steps, input_q=input_q,
                                  tdtype=tdtype, info=info, description=description)
    fixed = None
    if isinstance(inputs, bool) or not isinstance(inputs, int):
        fixed = torch.as_tensor(inputs)
        if fixed.ndim != 2 or fixed.shape[0] < 1:
            raise InvalidArgumentError("inputs", tuple(fixed.shape),
                                       "expected a (batch, features) tensor or an integer batch")
        B = int(fixed.shape[0])
    else:
        if inputs < 1:
            raise InvalidArgumentError("inputs", inputs, "the batch must be >= 1")
        B = inputs

    if info is None:
        q_arg = None if fixed is not None else input_q
        info = read_model(first, inputs=fixed, batch=B, input_q=q_arg)
    desc = info.description if description is None else description
    if not isinstance(desc, Chain) or desc.depth != info.description.depth or (
            desc.widths != info.description.widths):
        raise InvalidArgumentError("description", str(desc), "does not have the model's "
                                   f"depth and widths ({info.description})")
    q_in = float(desc.input_q) if input_q is None else float(input_q)
    plan = _plan_with_flags(info)
    n0 = desc.widths[0]
    if fixed is not None and fixed.shape[1] != n0:
        raise InvalidArgumentError("inputs", tuple(fixed.shape), f"the model takes {n0} features")

    K = max(reinit, 1)
    logs = {k: np.empty((K, desc.depth + 1)) for k in ("q", "act", "grad", "preact", "weight")}
    t0 = time.perf_counter()
    # one traced copy; a builder's networks are copied into it (the builder draws the
    # weights, so every network's parameters are the user's own draw)
    net = copy.deepcopy(model) if is_module else first
    net = net.to(tdtype)
    gm = fx.symbolic_trace(net)
    for k in range(K):
        gen = torch.Generator().manual_seed(_seed_k(seed, k))
        if builder is not None:
            if k > 0:
                _copy_state(gm, build(k))
            # the builder drew the weights; the network's generator draws inputs and g^L
            gen = torch.Generator().manual_seed(_seed_k(seed, k) ^ 0x5EED)
        elif reinit > 0:
            _redraw(net, plan, gen)
        x0 = fixed.to(tdtype) if fixed is not None else _random_inputs(torch, gen, B, n0, q_in,
                                                                       tdtype)
        row = _one_network(torch, gm, plan, x0, gen)
        for key, vals in row.items():
            logs[key][k] = vals
    elapsed = time.perf_counter() - t0
    setup = _setup(torch, info, builder is not None, reinit, B, fixed is not None, q_in)
    return _summarise(desc, logs, seed=seed, method="torch", dtype=str(tdtype).replace(
        "torch.", ""), block_size=1, elapsed=elapsed, setup=setup)


class _FlaggedPlan:
    """A plan with the residual flag (q[l] is the stream's second moment)."""

    def __init__(self, plan: _Plan, residual: bool) -> None:
        self._plan = plan
        self.q_is_stream = residual

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plan, name)


def _plan_with_flags(info: ModelInfo) -> Any:
    return _FlaggedPlan(info.plan, info.kind == "residual")


def _setup(torch: Any, info: ModelInfo, built: bool, reinit: int, B: int, fixed: bool,
           q: float) -> dict[str, Any]:
    if built:
        how = "the builder called once per network under torch.manual_seed (the user's init)"
    elif reinit == 0:
        how = "the module's own weights (one network)"
    else:
        how = ("every Linear redrawn from the rule read from the module's weights "
               "(deviating layers keep their own variance)")
    inp = (f"the same {B} given input(s) for every network" if fixed else
           f"{B} fresh input(s) per network, uniformly random directions with "
           f"‖x‖²/n0 = {q:.6g}")
    return {
        "input": inp,
        "output_gradient": "g^L = ∂E/∂x^L with i.i.d. N(0, 1) entries (" + info.convention + ")",
        "measured": f"PyTorch {torch.__version__} autograd on {info.model_name} "
                    "(vgmath.torch.measure)",
        "networks": how,
        "inputs_per_network": B,
        "model": info.to_dict(),
        "rng": "torch.Generator seeded by SeedSequence(seed, spawn_key=(k,)) for network k",
    }


# --------------------------------------------------------------------------- recurrent


def _redraw_recurrent(net: Any, plan: _Plan, gen: Any) -> None:
    """Redraw W_hh and W_ih gate block by gate block, and both biases."""
    torch = require_torch()
    assert plan.recurrent is not None
    rule_hh, rule_ih, bias_kind, each, forget = plan.recurrent
    n, m = net.hidden_size, net.input_size
    with torch.no_grad():
        for w, rule, fan_in in ((net.weight_hh_l0, rule_hh, n), (net.weight_ih_l0, rule_ih, m)):
            for g in range(w.shape[0] // n):
                _sample_(torch, w[g * n: (g + 1) * n], rule, fan_in, n, gen)
        if net.bias:
            for b in (net.bias_ih_l0, net.bias_hh_l0):
                _redraw_bias(b, bias_kind, each, n, gen)
            if forget:
                net.bias_ih_l0[n: 2 * n] += forget


def _recurrent_network(torch: Any, net: Any, cell: str, xs: Any, gen: Any,
                       h0_q: float) -> dict[str, np.ndarray]:
    """One network: run the module one step at a time (its own kernels), then one backward of
    E = Σ_b g_bᵀ h_T to every state h_t."""
    B, T, _ = xs.shape
    n = net.hidden_size
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    dt = xs.dtype
    h = torch.full((B, n), math.sqrt(h0_q), dtype=dt).requires_grad_(True)
    c = torch.zeros((B, n), dtype=dt)
    hs = [h]
    qs = [math.log(h0_q) if h0_q > 0 else -math.inf]
    with torch.enable_grad():
        for t in range(T):
            x = xs[:, t: t + 1, :] if net.batch_first else xs[:, t, :].unsqueeze(0)
            if cell in ("rnn", "lstm"):
                with torch.no_grad():
                    a = (xs[:, t, :] @ net.weight_ih_l0.T + h @ net.weight_hh_l0.T)
                    if net.bias:
                        a = a + net.bias_ih_l0 + net.bias_hh_l0
                    qv = float((a.to(torch.float64) ** 2).sum()) / (G * n * B)
                qs.append(math.log(qv) if qv > 0 else -math.inf)
            else:
                qs.append(math.nan)
            if cell == "lstm":
                _, (hn, cn) = net(x, (h.unsqueeze(0), c.unsqueeze(0)))
                h, c = hn[0], cn[0]
            else:
                _, hn = net(x, h.unsqueeze(0))
                h = hn[0]
            hs.append(h)
        g = torch.randn((B, n), generator=gen, dtype=torch.float64).to(dt)
        grads = torch.autograd.grad(h, hs, grad_outputs=g, allow_unused=True)
    L = T
    out = {k: np.full(L + 1, np.nan) for k in ("q", "act", "grad", "preact", "weight")}
    with np.errstate(divide="ignore"):
        for t in range(L + 1):
            a2 = (_sq(hs[t]) / n).mean().item()
            out["act"][t] = math.log(a2) if a2 > 0 else -math.inf
            gt = grads[t]
            g2 = 0.0 if gt is None else (_sq(gt) / n).mean().item()
            out["grad"][t] = math.log(g2) if g2 > 0 else -math.inf
    out["q"][:] = qs
    return out


def _measure_recurrent(torch: Any, module: Any, first: Any, build: Callable[[int], Any],
                       inputs: Any, *, reinit: int, seed: int, steps: int | None,
                       input_q: Any, tdtype: Any, info: ModelInfo | None,
                       description: Any) -> Simulation:
    from ..network.description import Recurrent

    fixed = None
    if isinstance(inputs, bool) or not isinstance(inputs, int):
        fixed = torch.as_tensor(inputs)
        if fixed.ndim != 3:
            raise InvalidArgumentError("inputs", tuple(fixed.shape), "a recurrent model takes "
                                       "(batch, steps, features) inputs or an integer batch")
        B, T = int(fixed.shape[0]), int(fixed.shape[1])
        if steps is not None and steps != T:
            raise InvalidArgumentError("steps", steps, f"the inputs have {T} steps")
        q_default: Any = f"{float((fixed.to(torch.float64) ** 2).mean()):.6g}"
    else:
        if inputs < 1:
            raise InvalidArgumentError("inputs", inputs, "the batch must be >= 1")
        B, T = inputs, steps
        q_default = 1 if input_q is None else input_q
    if info is None:
        info = read_model(first, steps=T, input_q=q_default)
    desc = info.description if description is None else description
    if not isinstance(desc, Recurrent) or desc.hidden != first.hidden_size:
        raise InvalidArgumentError("description", str(desc), "is not the model's recurrent "
                                   "network")
    plan = info.plan
    cell = desc.cell
    q_in = float(desc.input_q)
    m = first.input_size
    K = max(reinit, 1)
    logs = {k: np.empty((K, desc.depth + 1)) for k in ("q", "act", "grad", "preact", "weight")}
    t0 = time.perf_counter()
    net = (copy.deepcopy(module) if module is not None else first).to(tdtype)
    for k in range(K):
        gen = torch.Generator().manual_seed(_seed_k(seed, k))
        if module is None:
            if k > 0:
                _copy_state(net, build(k))
            gen = torch.Generator().manual_seed(_seed_k(seed, k) ^ 0x5EED)
        elif reinit > 0:
            _redraw_recurrent(net, plan, gen)
        if fixed is not None:
            xs = fixed.to(tdtype)  # (B, T, m); the step loop slices it per step
        else:
            xs = (torch.randn((B, desc.depth, m), generator=gen, dtype=torch.float64)
                  * math.sqrt(q_in)).to(tdtype)
        row = _recurrent_network(torch, net, cell, xs, gen, float(desc.h0_q))
        for key, vals in row.items():
            logs[key][k] = vals
    elapsed = time.perf_counter() - t0
    setup = _setup(torch, info, module is None, reinit, B, fixed is not None, q_in)
    setup["input"] = (f"{B} sequence(s) per network, " + ("the given inputs" if fixed is not None
                      else f"x_t with i.i.d. N(0, {q_in:.6g}) entries fresh at every step"))
    return _summarise(desc, logs, seed=seed, method="torch", dtype=str(tdtype).replace(
        "torch.", ""), block_size=1, elapsed=elapsed, setup=setup)
