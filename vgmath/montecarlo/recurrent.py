"""Recurrent networks (vanilla RNN, LSTM, GRU) unrolled over T steps with shared weights.

The cell equations (PyTorch's conventions) are in :class:`vgmath.Recurrent`. This module
draws the parameters, runs the forward pass, and backpropagates through time with one
vector-Jacobian product per step (:func:`state_vjp`), vectorised over a block of S
independent networks and over K vectors at once — K = 1 for the gradient of
E = gᵀ h_T (g with i.i.d. N(0, 1) entries), K = n (the identity) for the full Jacobian
∂h_T/∂h_t, accumulated as J_{T,t} = J_{T,t+1} ∂h_{t+1}/∂h_t.

Per-step fields (index t = 0..T, the "layers" of the shared conventions):

==================================  =========================================================
``q[t]``                            ‖a_t‖²/(G n): the pre-activations (arguments of the
                                    cell's nonlinearities; G gate blocks), t ≥ 1; q[0] = h0_q
``activation_second_moment[t]``     ‖h_t‖²/n
``grad_second_moment[t]``           ‖∂E/∂h_t‖²/n (all paths; relative to E[g_i²] = 1)
``grad_preact_second_moment[t]``    ‖∂E/∂a_t‖²/(G n)
``grad_weight_second_moment[t]``    ‖δ_t‖²‖h_{t-1}‖²/(G n · n): step t's contribution to
                                    ∂E/∂W (δ_t = ∂E/∂(W h_{t-1}))
``ln_jacobian_norm[t]``             ln ‖∂h_T/∂h_t‖: the exact spectral norm of the n × n
                                    Jacobian (``spectral``), or ln ‖J_{T,t}ᵀ u‖ for the unit
                                    vector u = g/‖g‖ (``vector``, a lower bound); for LSTM the
                                    partial derivative at fixed c_t
``ln_pascanu_bound[t]``             (rnn) (T − t)·ln(γ ‖W‖₂), γ = sup|φ′| certified
                                    (:meth:`vgmath.Activation.derivative_bound`)
``cell_grad_second_moment[t]``      (lstm) ‖∂E/∂c_t‖²/n
``ln_forget_product[t]``            (lstm) mean over units of Σ_{k=t+1}^{T} ln f_k: the log
                                    gain of the cell path, ∂c_T/∂c_t|_cell = diag(∏ f_k)
==================================  =========================================================

Per-network samples also hold ``ln_param_grad_norm`` (ln ‖∂E/∂θ‖ over W, U and both bias
vectors: the gradients of shared weights are summed over steps before the norm is taken)
and, for a vanilla RNN, ``ln_recurrent_norm`` = ln ‖W‖₂.

The Pascanu bound (Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063, Sec. 3): for
h_t = φ(W h_{t-1} + …), ∂h_k/∂h_{k-1} = diag(φ′(a_k)) W, so

.. math::  \\Big\\lVert \\frac{\\partial h_T}{\\partial h_t} \\Big\\rVert_2
           \\le \\prod_{k=t+1}^{T} \\lVert \\operatorname{diag}\\varphi'(a_k)\\rVert_2
           \\lVert W\\rVert_2 \\le (\\gamma \\lVert W\\rVert_2)^{T-t},

which vanishes geometrically when ‖W‖₂ < 1/γ (γ = 1/4 for sigmoid, 1 for tanh and ReLU).

Weights are shared across steps, so the conditioned sampler of :mod:`vgmath.montecarlo.sampler`
would
need sequential conditioning on W [h_0 … h_{t-1}]; recurrent networks are simulated with
dense weights (method ``"dense"``), drawn with the network's rules. For Haar-orthogonal W that
conditioning is also exact in principle (given W h_0, …, W h_{t-1}, W maps the complement of
span(h_0..h_{t-1}) onto the complement of its image by a Haar isometry), but its cost grows
with t, and the Jacobian norms recorded here need the whole matrix, so orthogonal recurrent
weights are drawn densely (QR) too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, NumericalError
from ..network.description import Recurrent
from .kernel import LOG_KEYS, Kernel, bmm

__all__ = [
    "Parameters",
    "RecurrentKernel",
    "Trajectory",
    "draw_parameters",
    "forward",
    "jacobians",
    "log_moments",
    "pascanu_gamma",
    "state_vjp",
]

FloatArray = np.ndarray


def _sigmoid(a: FloatArray) -> FloatArray:
    with np.errstate(over="ignore"):
        return 0.5 * (1.0 + np.tanh(0.5 * a))


@dataclass
class Parameters:
    """The parameters of S networks: W (S, G n, n), U (S, G n, m) or None, biases (S, G n)."""

    W: FloatArray
    U: FloatArray | None
    b_ih: FloatArray
    b_hh: FloatArray


@dataclass
class Trajectory:
    """The forward pass of S networks: states h[t] (S, n) for t = 0..T, inputs x[t] (t ≥ 1)
    and what the backward pass needs (pre-activations, gates, LSTM cells)."""

    h: list[FloatArray]
    x: list[FloatArray | None]
    a: list[FloatArray | None]  # arguments of the nonlinearities (S, G n), t ≥ 1
    gates: list[FloatArray | None]  # LSTM: (i, f, g, o) stacked (S, 4n); GRU: (r, z, n, W h + b)
    c: list[FloatArray]  # LSTM cell states c[t] (S, n), t = 0..T (empty otherwise)


def draw_parameters(net: Recurrent, rng: np.random.Generator, size: int,
                    dtype: Any = np.float64) -> Parameters:
    """W, U and the biases of ``size`` networks (fixed draw order: W, U, b_ih, b_hh)."""
    n, m, G, dt = net.hidden, net.input_size, net.gates, np.dtype(dtype)
    W = net.rule.sample(rng, n, n, batch=(size, G), dtype=dt).reshape(size, G * n, n)
    U = None
    if m:
        U = net.input_rule.sample(rng, m, n, batch=(size, G), dtype=dt).reshape(size, G * n, m)
    sb = math.sqrt(float(net.sigma_b2) / 2.0)
    b_ih = (rng.standard_normal((size, G * n)) * sb).astype(dt)
    b_hh = (rng.standard_normal((size, G * n)) * sb).astype(dt)
    if net.cell == "lstm" and net.forget_bias != 0:
        b_ih[:, n : 2 * n] += dt.type(float(net.forget_bias))
    return Parameters(W, U, b_ih, b_hh)


def forward(net: Recurrent, p: Parameters, inputs: FloatArray | None) -> Trajectory:
    """Run the T steps; ``inputs`` has shape (S, T, m) (None without inputs)."""
    S, n = p.W.shape[0], net.hidden
    dt = p.W.dtype
    h = np.full((S, n), math.sqrt(float(net.h0_q)), dtype=dt)
    traj = Trajectory(h=[h], x=[None], a=[None], gates=[None], c=[])
    c = np.zeros((S, n), dtype=dt)
    if net.cell == "lstm":
        traj.c.append(c)
    act = net.act
    for t in range(1, net.steps + 1):
        xt = None if inputs is None else inputs[:, t - 1, :]
        gi = p.b_ih[:, :]
        if xt is not None and p.U is not None:
            gi = np.einsum("sij,sj->si", p.U, xt) + p.b_ih
        gh = np.einsum("sij,sj->si", p.W, h) + p.b_hh
        if net.cell == "rnn":
            a = gi + gh
            h = np.asarray(act(a), dtype=dt)
            gates = None
        elif net.cell == "lstm":
            a = gi + gh
            i = _sigmoid(a[:, :n])
            f = _sigmoid(a[:, n : 2 * n])
            g = np.tanh(a[:, 2 * n : 3 * n])
            o = _sigmoid(a[:, 3 * n :])
            c = f * c + i * g
            h = o * np.tanh(c)
            gates = np.concatenate([i, f, g, o], axis=1)
            traj.c.append(c)
        else:  # gru
            r = _sigmoid(gi[:, :n] + gh[:, :n])
            z = _sigmoid(gi[:, n : 2 * n] + gh[:, n : 2 * n])
            an = gi[:, 2 * n :] + r * gh[:, 2 * n :]
            nn = np.tanh(an)
            a = np.concatenate([gi[:, : 2 * n] + gh[:, : 2 * n], an], axis=1)
            h = (1.0 - z) * nn + z * h
            gates = np.concatenate([r, z, nn, gh[:, 2 * n :]], axis=1)
        traj.h.append(h)
        traj.x.append(xt)
        traj.a.append(a)
        traj.gates.append(gates)
    return traj


def state_vjp(
    net: Recurrent,
    p: Parameters,
    traj: Trajectory,
    t: int,
    gh: FloatArray,
    gc: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray | None, FloatArray, FloatArray]:
    """Backpropagate through step t (h_{t-1} → h_t) for K vectors at once.

    ``gh`` = ∂E/∂h_t and ``gc`` = ∂E/∂c_t (LSTM) have shape (S, K, n). Returns
    (∂E/∂h_{t-1}, ∂E/∂c_{t-1} or None, ∂E/∂a_t (S, K, G n), ∂E/∂(W h_{t-1} + b_hh)
    (S, K, G n)) — the last is what W's gradient takes from step t.
    """
    n = net.hidden
    a = traj.a[t]
    assert a is not None
    if net.cell == "rnn":
        d = np.asarray(net.act.grad(a), dtype=gh.dtype)[:, None, :] * gh
        return bmm(d, p.W), None, d, d
    gates = traj.gates[t]
    assert gates is not None
    if net.cell == "lstm":
        i, f, g, o = (gates[:, None, k * n : (k + 1) * n] for k in range(4))
        tc = np.tanh(traj.c[t])[:, None, :]
        c_prev = traj.c[t - 1][:, None, :]
        gct = gh * o * (1.0 - tc * tc)
        if gc is not None:
            gct = gct + gc
        d = np.concatenate([
            gct * g * i * (1.0 - i),
            gct * c_prev * f * (1.0 - f),
            gct * i * (1.0 - g * g),
            gh * tc * o * (1.0 - o),
        ], axis=2)
        return bmm(d, p.W), gct * f, d, d
    # gru
    r, z, nn, ghn = (gates[:, None, k * n : (k + 1) * n] for k in range(4))
    h_prev = traj.h[t - 1][:, None, :]
    dan = gh * (1.0 - z) * (1.0 - nn * nn)
    dz = gh * (h_prev - nn) * z * (1.0 - z)
    dr = dan * ghn * r * (1.0 - r)
    d_a = np.concatenate([dr, dz, dan], axis=2)
    d_w = np.concatenate([dr, dz, dan * r], axis=2)
    return gh * z + bmm(d_w, p.W), None, d_a, d_w


def jacobians(net: Recurrent, p: Parameters, traj: Trajectory) -> list[FloatArray]:
    """The full Jacobians J_{T,t} = ∂h_T/∂h_t (S, n, n) for t = 0..T (J_{T,T} = I); for
    LSTM the partial derivative at fixed c_t. Unscaled (may under/overflow for long T)."""
    S, n = p.W.shape[0], net.hidden
    eye = np.broadcast_to(np.eye(n, dtype=p.W.dtype), (S, n, n)).copy()
    out: list[FloatArray] = [eye]
    gh, gc = eye, (np.zeros_like(eye) if net.cell == "lstm" else None)
    for t in range(net.steps, 0, -1):
        gh, gc, _, _ = state_vjp(net, p, traj, t, gh, gc)
        out.append(gh)
    return out[::-1]


def pascanu_gamma(net: Recurrent) -> float:
    """γ = sup|φ′| of the vanilla cell's φ, from the certified bound (rounded up to float)."""
    bound = net.act.derivative_bound()
    value = float(bound.sup_abs)
    return float(np.nextafter(value, np.inf)) if not bound.sup_abs_exact else value


def log_moments(samples: FloatArray) -> dict[str, FloatArray]:
    """Mean and variance over networks (axis 0) of per-network log values, with standard
    errors: se(mean) = s/√T, se(var) = s²·√(2/(T−1)) (normal-theory; a guide for
    approximately Gaussian logs)."""
    x = np.asarray(samples, dtype=np.float64)
    T = x.shape[0]
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1) if T > 1 else np.full(x.shape[1:], np.nan)
    return {
        "mean": mean,
        "mean_se": np.sqrt(var / T),
        "var": var,
        "var_se": var * math.sqrt(2.0 / max(T - 1, 1)),
    }


def _acc(acc: FloatArray | None, beta: FloatArray, term: FloatArray, gamma: FloatArray
         ) -> tuple[FloatArray, FloatArray]:
    """acc·e^β + term·e^γ (per network), kept as (array, log scale) without overflow."""
    if acc is None:
        return term.astype(np.float64), gamma.copy()
    new = np.maximum(beta, gamma)
    shape = (-1,) + (1,) * (term.ndim - 1)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        a = acc * np.exp(beta - new).reshape(shape) + term * np.exp(gamma - new).reshape(shape)
    return a, new


class RecurrentKernel(Kernel):
    """Blocks of independent recurrent networks for :func:`vgmath.simulate`."""

    def __init__(self, net: Recurrent, *, method: str, dtype: Any) -> None:
        if method != "dense":
            raise InvalidArgumentError(
                "method", method,
                "recurrent networks share W across steps and are simulated with dense weights "
                "(method 'dense' or 'auto')",
            )
        self.chain = net
        self.net = net
        self.method = method
        self.dtype = np.dtype(dtype)
        self.depth = net.steps
        self.widths = net.widths
        extras = ["ln_jacobian_norm"]
        samples = ["ln_param_grad_norm"]
        if net.cell == "rnn":
            extras.append("ln_pascanu_bound")
            samples.append("ln_recurrent_norm")
            self.gamma = pascanu_gamma(net)
        if net.cell == "lstm":
            extras += ["cell_grad_second_moment", "ln_forget_product"]
        self.extra_fields = tuple(extras)
        self.extra_samples = tuple(samples)

    def setup(self) -> dict[str, Any]:
        net = self.net
        return {
            "input": ("h_0 = sqrt(h0_q) * (1, ..., 1); inputs x_t with i.i.d. "
                      "N(0, input_q) entries, fresh every step" if net.input_size
                      else "h_0 = sqrt(h0_q) * (1, ..., 1); no inputs"),
            "output_gradient": "E = g . h_T, g with i.i.d. N(0, 1) entries",
            "jacobian_norm": ("exact spectral norm of the full Jacobian" if net.spectral
                              else "norm of J^T u for the random unit vector u = g/|g|"),
        }

    def bytes_per_network(self) -> int:
        n, T, G, m = self.net.hidden, self.net.steps, self.net.gates, self.net.input_size
        jac = 3 * n * n if self.net.spectral else 0
        return 8 * (G * n * (n + m) * 3 + T * (3 * G * n + n + m) + jac + 8 * (T + 1))

    def draws_per_network(self) -> int:
        n, T, G, m = self.net.hidden, self.net.steps, self.net.gates, self.net.input_size
        return G * n * (n + m) + 2 * G * n + T * m + n

    def run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            return self._run(rng, size)

    def _run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        net, dt, S = self.net, self.dtype, size
        n, T, G, m = net.hidden, net.steps, net.gates, net.input_size
        p = draw_parameters(net, rng, S, dt)
        inputs = None
        if m:
            inputs = (rng.standard_normal((S, T, m)) * math.sqrt(float(net.input_q))).astype(dt)
        g = rng.standard_normal((S, 1, n), dtype=dt)
        traj = forward(net, p, inputs)

        logs = {k: np.full((S, T + 1), np.nan) for k in (*LOG_KEYS, *self.extra_fields)}
        logs["q"][:, 0] = math.log(float(net.h0_q)) if net.h0_q != 0 else -np.inf
        for t in range(T + 1):
            logs["act"][:, t] = np.log(_sq(traj.h[t]) / n)
            if t:
                logs["q"][:, t] = np.log(_sq(traj.a[t]) / (G * n))
        fwd = np.concatenate([logs["act"], logs["q"]], axis=1)
        if (np.isnan(fwd) | (fwd == np.inf)).any():
            raise NumericalError(f"the forward pass of {net} is not finite in {dt.name}")

        # ---- backward: the gradient of E = gᵀ h_T, rescaled every step (g = e^γ ĝ)
        gh, gc = g, (np.zeros_like(g) if net.cell == "lstm" else None)
        gamma = np.zeros(S)
        g0 = _sq(g)
        logs["grad"][:, T] = np.log(g0 / n)
        jac_vec = np.full((S, T + 1), np.nan)
        jac_vec[:, T] = 0.0
        if net.cell == "lstm":
            logs["cell_grad_second_moment"][:, T] = 0.0
        accs: dict[str, tuple[FloatArray | None, FloatArray]] = {
            k: (None, np.zeros(S)) for k in ("W", "U", "b_ih", "b_hh")
        }
        for t in range(T, 0, -1):
            gh_prev, gc_prev, d_a, d_w = state_vjp(net, p, traj, t, gh, gc)
            da, dw = d_a[:, 0, :], d_w[:, 0, :]
            logs["preact"][:, t] = 2 * gamma + np.log(_sq(da) / (G * n))
            hp = traj.h[t - 1]
            logs["weight"][:, t] = 2 * gamma + np.log(_sq(dw) * _sq(hp) / (G * n * n))
            accs["W"] = _acc(*accs["W"], dw[:, :, None] * hp[:, None, :], gamma)
            accs["b_hh"] = _acc(*accs["b_hh"], dw, gamma)
            accs["b_ih"] = _acc(*accs["b_ih"], da, gamma)
            xt = traj.x[t]
            if xt is not None:
                accs["U"] = _acc(*accs["U"], da[:, :, None] * xt[:, None, :], gamma)
            r2 = _sq(gh_prev)
            if gc_prev is not None:
                r2 = r2 + _sq(gc_prev)
            logs["grad"][:, t - 1] = 2 * gamma + np.log(_sq(gh_prev) / n)
            jac_vec[:, t - 1] = 0.5 * (logs["grad"][:, t - 1] + math.log(n) - np.log(g0))
            if gc_prev is not None:
                logs["cell_grad_second_moment"][:, t - 1] = np.exp(
                    2 * gamma + np.log(_sq(gc_prev) / n))
            r = np.sqrt(r2)
            safe = np.where(r > 0, r, 1.0).astype(dt)[:, None, None]
            gh = gh_prev / safe
            gc = None if gc_prev is None else gc_prev / safe
            gamma = gamma + np.log(r)
        total = np.full(S, -np.inf)
        for acc, beta in accs.values():
            if acc is not None:
                total = np.logaddexp(total, 2 * beta + np.log(_sq(acc)))
        logs["ln_param_grad_norm"] = 0.5 * total

        # ---- ‖∂h_T/∂h_t‖
        if net.spectral:
            logs["ln_jacobian_norm"][:] = self._spectral(p, traj)
        else:
            logs["ln_jacobian_norm"][:] = jac_vec
        if net.cell == "rnn":
            wn = np.linalg.norm(p.W.astype(np.float64), 2, axis=(1, 2))
            logs["ln_recurrent_norm"] = np.log(wn)
            k = np.arange(T, -1, -1, dtype=np.float64)  # T − t
            logs["ln_pascanu_bound"][:] = k[None, :] * np.log(self.gamma * wn)[:, None]
        if net.cell == "lstm":
            lf = _forget(traj, n, T)
            tail = np.concatenate([np.cumsum(lf[:, ::-1], axis=1)[:, ::-1],
                                   np.zeros((S, 1))], axis=1)
            logs["ln_forget_product"][:] = tail
        bad = np.isnan(logs["grad"]) | (logs["grad"] == np.inf)
        if bad.any():
            raise NumericalError(f"the backward pass of {net} is not finite in {dt.name}")
        return logs

    def _spectral(self, p: Parameters, traj: Trajectory) -> FloatArray:
        """ln ‖J_{T,t}‖₂ (S, T + 1) by accumulating the full Jacobians, renormalised each
        step by their Frobenius norm (log scale kept in float64)."""
        net = self.net
        S, n, T = p.W.shape[0], net.hidden, net.steps
        out = np.zeros((S, T + 1))
        eye = np.broadcast_to(np.eye(n, dtype=p.W.dtype), (S, n, n)).copy()
        gh, gc = eye, (np.zeros_like(eye) if net.cell == "lstm" else None)
        scale = np.zeros(S)
        for t in range(T, 0, -1):
            gh, gc, _, _ = state_vjp(net, p, traj, t, gh, gc)
            two = np.linalg.norm(gh.astype(np.float64), 2, axis=(1, 2))
            out[:, t - 1] = scale + np.log(two)
            fro = np.sqrt(_sq(gh) + (0.0 if gc is None else _sq(gc)))
            safe = np.where(fro > 0, fro, 1.0).astype(gh.dtype)[:, None, None]
            gh = gh / safe
            gc = None if gc is None else gc / safe
            scale = scale + np.log(fro)
        return out


def _forget(traj: Trajectory, n: int, T: int) -> FloatArray:
    """Per network, the mean over units of ln f_t for t = 1..T, shape (S, T)."""
    cols = []
    for t in range(1, T + 1):
        gates = traj.gates[t]
        assert gates is not None
        cols.append(np.log(gates[:, n : 2 * n].astype(np.float64)).mean(axis=1))
    return np.stack(cols, axis=1)


def _sq(a: FloatArray) -> FloatArray:
    a64 = np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)
    return np.einsum("sj,sj->s", a64, a64)
