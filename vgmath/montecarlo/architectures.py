"""Monte Carlo kernels beyond the plain chain: residual and batch-normalised chains.

Both are :class:`vgmath.montecarlo.kernel.Kernel` subclasses, so ``vg.simulate`` runs them with
its own
seeds, blocks, processes and statistics, and reports the shared per-layer fields
(:mod:`vgmath.network.description` conventions) under the same names as ``vg.predict``.

One weight matrix, used once forward and once backward
------------------------------------------------------
Every dense layer here is a weight matrix W (n_out × n_in) that a network uses once in the
forward pass, U = W X for the K inputs X = [x_1 … x_K] (K = 1 for a residual chain, the
batch B for a batch-normalised one), and once in the backward pass, Wᵀ Δ.
:class:`LinearSampler` samples both uses, with two exact methods:

``"dense"``
    draws W with the chain's rule (any distribution) and multiplies.
``"conditioned"`` (i.i.d. Gaussian entries of variance v)
    Let Q (n_in × r, orthonormal columns) span the columns of X — the reduced QR factors
    X = Q R of NumPy/LAPACK, r = min(n_in, K). Split W = (W Q) Qᵀ + W (I − Q Qᵀ). The rows
    of W are i.i.d. N(0, v I) and Q depends only on X (independent of W), so A = W Q has
    i.i.d. N(0, v) entries and is independent of W (I − Q Qᵀ). Everything downstream of the
    layer sees W only through U = W X = A R. Hence, with W̃ an independent copy,

    .. math::  U = A R,\\qquad W^\\top \\Delta = Q\\,A^\\top \\Delta
               + (I - QQ^\\top)\\,\\tilde W^\\top \\Delta ,

    and W̃ᵀΔ = W̃ᵀ Q_Δ R_Δ (QR of Δ) is √v Z R_Δ with Z an n_in × r′ standard normal matrix.
    This is the law of the dense network exactly (not the gradient-independence
    approximation), at O(n K²) per layer instead of O(n² K). For K = 1 it is the sampler of
    :mod:`vgmath.montecarlo.sampler`; for K ≥ n_in, Q Qᵀ = I and W = A Qᵀ is simply drawn whole.

Residual chains (``chain.residual``, Yang & Schoenholz 2017, arXiv:1712.08969)
    block l maps x_{l-1} to x_l = x_{l-1} + α F(x_{l-1}); F is ``post`` φ(W x + b) or ``pre``
    W φ(x) + b, once or twice (:class:`vgmath.Residual`). The input x_0 is a uniformly random
    direction scaled to ‖x_0‖²/n = input_q (per-unit mean 0, per-unit law → N(0, input_q):
    the assumptions of :mod:`vgmath.theory.residual`). Fields follow that module: ``q[l]`` =
    ‖x_l‖²/n (= ``activation_second_moment``), ``grad_second_moment[l]`` = ‖g_l‖²/n,
    ``grad_preact_second_moment``/``grad_weight_second_moment`` refer to the last dense
    layer of block l's branch, and the extra fields ``mean`` (Σ_i x_{l,i}/n), ``branch_q1``,
    ``branch_q2`` (second moments of the arguments of the branch's first and second φ).

Batch-normalised chains (``chain.norm == "batch"``)
    B inputs per network (uniformly random directions, ‖x_b‖²/n_0 = input_q), normalised
    pre-activations ĥ = (h − μ)/√(σ² + eps) over the batch, and the exact backward pass
    through the normalisation (its full Jacobian, as autograd computes it)::

        ∂E/∂h_b = (g_b − mean(g) − ĥ_b · mean(g ⊙ ĥ)) / √(σ² + eps),   g = φ′(ĥ) ⊙ ∂E/∂x

    Fields: ``q`` = ‖h‖²/(n B) (the raw pre-activation, as for a plain chain),
    ``grad_second_moment`` = ‖g^l‖²/(n B), ``grad_preact_second_moment`` = ‖∂E/∂h^l‖²/(n B),
    ``grad_weight_second_moment`` = ‖Σ_b δ_b x_bᵀ‖²_F/(n_l n_{l-1}); extras ``norm_q`` =
    ‖ĥ‖²/(nB) and ``abs_arg_q<p>`` (the p-th percentile of |ĥ|, the argument of φ, over units
    and batch, per network).

Every kernel also returns ``ln_param_grad_norm`` per network: ln ‖∂E/∂θ‖ over all weights
and biases (biases are parameters even when initialised at 0), the quantity gradient
clipping acts on (:mod:`vgmath.montecarlo.clipping`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy as sp

from ..core.errors import InvalidArgumentError, NumericalError
from ..network.description import Chain
from ..network.init import Init
from .kernel import LOG_KEYS, Kernel, bmm

__all__ = [
    "ARG_QUANTILES",
    "BatchKernel",
    "LinearSampler",
    "ResidualKernel",
    "batchnorm_backward",
    "batchnorm_forward",
    "region_intervals",
    "saturated_fraction",
]

FloatArray = np.ndarray

#: Percentiles of |argument of φ| reported per layer by :class:`BatchKernel`.
ARG_QUANTILES = (10, 50, 90, 99)


# --------------------------------------------------------------------------- helpers


def _sumsq(a: FloatArray) -> FloatArray:
    """Σ over every axis but the first of a², in float64 (shape (S,))."""
    a64 = np.asarray(a, dtype=np.float64).reshape(a.shape[0], -1)
    return np.einsum("sj,sj->s", a64, a64)




def _ln(x: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.log(x)


def _random_directions(
    rng: np.random.Generator, shape: tuple[int, ...], q: float, dtype: np.dtype
) -> FloatArray:
    """Rows uniformly distributed on the sphere of radius √(n q) (n = shape[-1])."""
    z = rng.standard_normal(shape)
    norm = np.sqrt((z * z).sum(axis=-1, keepdims=True))
    return (z * (math.sqrt(shape[-1] * q) / norm)).astype(dtype)


def region_intervals(region: sp.Set) -> list[tuple[float, float, bool, bool]]:
    """A SymPy union of intervals as ``(lo, hi, lo_open, hi_open)`` float tuples."""
    if region is sp.S.EmptySet:
        return []
    parts = region.args if isinstance(region, sp.Union) else (region,)
    out = []
    for part in parts:
        if part is sp.S.Reals:
            out.append((-math.inf, math.inf, True, True))
        elif isinstance(part, sp.Interval):
            out.append((float(part.start), float(part.end), bool(part.left_open),
                        bool(part.right_open)))
        elif isinstance(part, sp.FiniteSet):  # isolated points: measure zero, but exact
            out.extend((float(p), float(p), False, False) for p in part)
        else:
            raise InvalidArgumentError("region", str(region), "expected a union of intervals")
    return out


def saturated_fraction(
    values: FloatArray, intervals: Sequence[tuple[float, float, bool, bool]]
) -> FloatArray:
    """Fraction of the entries of each row (axis 0 = networks) lying in the region."""
    v = values.reshape(values.shape[0], -1)
    mask = np.zeros(v.shape, dtype=bool)
    for lo, hi, lo_open, hi_open in intervals:
        above = v > lo if lo_open else v >= lo
        below = v < hi if hi_open else v <= hi
        mask |= above & below
    return mask.mean(axis=1)


# --------------------------------------------------------------------------- one matrix


class LinearSampler:
    """The forward and backward uses of one weight matrix in S independent networks.

    ``forward(X)`` takes X of shape (S, K, n_in) (K inputs per network, as rows) and returns
    U = X Wᵀ, shape (S, K, n_out); ``backward(D)`` takes D = ∂E/∂U (S, K, n_out) and returns
    D W (S, K, n_in). See the module docstring for why ``"conditioned"`` is exact.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        rule: Init,
        n_in: int,
        n_out: int,
        *,
        method: str,
        dtype: np.dtype,
    ) -> None:
        self.rng, self.rule, self.n_in, self.n_out = rng, rule, n_in, n_out
        self.method, self.dtype = method, dtype
        self.v = float(rule.variance(n_in, n_out))
        self._w: FloatArray | None = None
        self._q: FloatArray | None = None
        self._a: FloatArray | None = None

    def forward(self, x: FloatArray) -> FloatArray:
        S = x.shape[0]
        if self.method == "dense":
            self._w = self.rule.sample(self.rng, self.n_in, self.n_out, batch=(S,),
                                       dtype=self.dtype)
            return bmm(x, np.swapaxes(self._w, 1, 2))
        xt = np.swapaxes(x, 1, 2)  # (S, n_in, K)
        if xt.shape[2] == 1:
            r = np.sqrt(_sumsq(xt)).astype(self.dtype)
            q = np.zeros_like(xt)
            ok = r > 0
            q[ok] = xt[ok] / r[ok, None, None]
            q[~ok, 0, 0] = 1.0  # x = 0: any unit vector (U = 0 and W stays fresh)
            rr = r[:, None, None]
        else:
            q, rr = np.linalg.qr(xt)
        a = self.rng.standard_normal((S, self.n_out, q.shape[2]), dtype=self.dtype)
        a *= self.dtype.type(math.sqrt(self.v))
        self._q, self._a = q, a
        return np.swapaxes(bmm(a, rr), 1, 2)

    def backward(self, d: FloatArray) -> FloatArray:
        if self.method == "dense":
            assert self._w is not None
            return bmm(d, self._w)
        q, a = self._q, self._a
        assert q is not None and a is not None
        dt = np.swapaxes(d, 1, 2)  # (S, n_out, K)
        out = bmm(q, bmm(np.swapaxes(a, 1, 2), dt))  # Q Aᵀ Δ
        if q.shape[2] < self.n_in:  # the part of W off span(X): fresh, given Δ
            if dt.shape[2] == 1:
                rd = np.sqrt(_sumsq(dt)).astype(self.dtype)[:, None, None]
            else:
                rd = np.linalg.qr(dt, mode="r")
            z = self.rng.standard_normal((d.shape[0], self.n_in, rd.shape[1]), dtype=self.dtype)
            y = bmm(z, rd) * self.dtype.type(math.sqrt(self.v))
            y -= bmm(q, bmm(np.swapaxes(q, 1, 2), y))
            out += y
        return np.swapaxes(out, 1, 2)


# --------------------------------------------------------------------------- base


class _ArchKernel(Kernel):
    """Shared validation and bookkeeping of the kernels of this module."""

    #: per-layer plain-valued extra fields (besides :data:`LOG_KEYS`)
    extra_fields: tuple[str, ...] = ()
    extra_samples = ("ln_param_grad_norm",)

    def __init__(self, chain: Chain, *, method: str, dtype: Any, inputs: int) -> None:
        self._bind_chain(chain, method, dtype)
        self.inputs = inputs

    def setup(self) -> dict[str, Any]:
        K = self.inputs
        rows = "x0" if K == 1 else f"each of the {K} inputs x0_b"
        return {
            "input": f"{rows} = sqrt(n0 * input_q) * (uniformly random unit vector), "
            "fresh for every network",
            "output_gradient": "g^L with i.i.d. N(0, 1) entries"
            + ("" if K == 1 else " (for every input of the batch)"),
        }

    def _new_logs(self, size: int) -> dict[str, FloatArray]:
        L = self.depth
        out = {k: np.full((size, L + 1), np.nan) for k in (*LOG_KEYS, *self.extra_fields)}
        out["ln_param_grad_norm"] = np.zeros(size)
        return out

    def _dense(
        self, rng: np.random.Generator, S: int, n: int, u: np.ndarray, dt: Any
    ) -> tuple[LinearSampler, np.ndarray]:
        """One dense layer of a branch: its sampler and W u + b (weights drawn before bias)."""
        lin = LinearSampler(rng, self.chain.rule, n, n, method=self.method, dtype=dt)
        h = lin.forward(u)
        b = self._bias(rng, S, n)
        return lin, (h if b is None else h + b)

    def _bias(self, rng: np.random.Generator, size: int, n: int) -> FloatArray | None:
        if not self.sigma_b:
            return None
        b = rng.standard_normal((size, 1, n), dtype=self.dtype)
        return b * self.dtype.type(self.sigma_b)

    def _check(self, logs: dict[str, FloatArray]) -> None:
        for key in ("q", "act"):
            bad = ~np.isfinite(logs[key]) & ~np.isneginf(logs[key])
            if bad.any():
                layer = int(np.argmax(bad.any(axis=0)))
                raise NumericalError(
                    f"the forward pass of {self.chain} is not finite at layer {layer} in "
                    f"{self.dtype.name}: the signal overflowed (or φ left its domain)"
                )
        bad = np.isnan(logs["grad"]) | (logs["grad"] == np.inf)
        if bad.any():
            layer = int(np.argmax(bad.any(axis=0)))
            raise NumericalError(
                f"the backward pass of {self.chain} is not finite at layer {layer} in "
                f"{self.dtype.name}"
            )

    def bytes_per_network(self) -> int:
        n = max(self.widths)
        K = self.inputs
        per_layer = 8 * (6 * K * n + (n * n if self.method == "dense" else 2 * n * K))
        return per_layer * self.depth * self._mats_per_layer() + 8 * 16 * (self.depth + 1)

    def draws_per_network(self) -> int:
        n, K = max(self.widths), self.inputs
        per = n * n if self.method == "dense" else 2 * n * min(n, K)
        return self.depth * self._mats_per_layer() * (per + n) + K * n * 2

    def _mats_per_layer(self) -> int:
        return 1


# --------------------------------------------------------------------------- residual


class ResidualKernel(_ArchKernel):
    """Residual chains x_l = x_{l-1} + α F(x_{l-1}) (see the module docstring)."""

    extra_fields = ("mean", "branch_q1", "branch_q2")

    def __init__(self, chain: Chain, *, method: str, dtype: Any) -> None:
        if chain.residual is None:
            raise InvalidArgumentError("chain", str(chain), "expected a residual chain")
        super().__init__(chain, method=method, dtype=dtype, inputs=1)
        res = chain.residual
        self.alpha = float(res.alpha)
        self.post = res.variant == "post"
        self.branch_depth = res.branch_depth

    def _mats_per_layer(self) -> int:
        return self.branch_depth

    def run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            return self._run(rng, size)

    def _run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        L, n, dt, act = self.depth, self.widths[0], self.dtype, self.act
        S, bd, alpha = size, self.branch_depth, dt.type(self.alpha)
        logs = self._new_logs(S)
        x = _random_directions(rng, (S, 1, n), self.input_q, dt)
        logs["q"][:, 0] = logs["act"][:, 0] = math.log(self.input_q)
        logs["mean"][:, 0] = np.asarray(x, dtype=np.float64).sum(axis=(1, 2)) / n
        blocks = []  # per block: (samplers, biases?, φ arguments, inputs of each W)
        for l in range(1, L + 1):
            lins, args, ins = [], [], []
            if self.post:
                u = x
                for _ in range(bd):
                    lin, h = self._dense(rng, S, n, u, dt)
                    lins.append(lin)
                    ins.append(u)
                    args.append(h)
                    u = np.asarray(act(h), dtype=dt)
                branch = u
            else:
                h = x
                for _ in range(bd):
                    args.append(h)
                    u = np.asarray(act(h), dtype=dt)
                    lin, h = self._dense(rng, S, n, u, dt)
                    lins.append(lin)
                    ins.append(u)
                branch = h
            x = x + alpha * branch
            xx = _sumsq(x) / n
            logs["q"][:, l] = logs["act"][:, l] = _ln(xx)
            logs["mean"][:, l] = np.asarray(x, dtype=np.float64).sum(axis=(1, 2)) / n
            logs["branch_q1"][:, l] = _sumsq(args[0]) / n
            if bd == 2:
                logs["branch_q2"][:, l] = _sumsq(args[1]) / n
            blocks.append((lins, args, ins))

        g = rng.standard_normal((S, 1, n), dtype=dt)
        gamma = np.zeros(S)  # g = e^γ ĝ
        logs["grad"][:, L] = _ln(_sumsq(g) / n)
        param_logs = []  # ln Σ over each block of squared parameter gradients
        for l in range(L, 0, -1):
            lins, args, ins = blocks[l - 1]
            gb = alpha * g
            psq = np.zeros(S)
            d = np.asarray(act.grad(args[-1]), dtype=dt) * gb if self.post else gb
            dd = _sumsq(d)
            logs["preact"][:, l] = 2 * gamma + _ln(dd / n)
            logs["weight"][:, l] = logs["preact"][:, l] + _ln(_sumsq(ins[-1]) / n)
            for k in range(bd - 1, -1, -1):
                dk = _sumsq(d)
                psq += dk * _sumsq(ins[k]) + dk  # ‖δ xᵀ‖²_F + ‖δ‖² (weights and bias)
                gin = lins[k].backward(d)
                if k > 0:  # back through the φ between the branch's two layers
                    between = args[k - 1] if self.post else args[k]
                    d = np.asarray(act.grad(between), dtype=dt) * gin
            if not self.post:
                gin = np.asarray(act.grad(args[0]), dtype=dt) * gin
            param_logs.append(2 * gamma + _ln(psq))
            g, gamma, logs["grad"][:, l - 1] = _renormalised(g + gin, n, gamma, dt)
        logs["ln_param_grad_norm"][:] = 0.5 * _logsumexp(np.stack(param_logs, axis=1))
        self._check(logs)
        return logs


def _renormalised(
    gp: FloatArray, units: int, gamma: FloatArray, dt: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rescale each network's backward vector to unit per-unit second moment.

    Returns (the rescaled vector, the updated log scale γ, and ln of the per-unit second moment
    of the vector before rescaling, 2γ + ln r², in the original units).
    """
    r2 = _sumsq(gp) / units
    log_moment = 2 * gamma + _ln(r2)
    r = np.sqrt(r2)
    return gp / np.where(r > 0, r, 1.0).astype(dt)[:, None, None], gamma + _ln(r), log_moment


def _logsumexp(a: FloatArray) -> FloatArray:
    """ln Σ_j exp(a_ij) per row, stable (rows of −inf give −inf)."""
    top = np.max(a, axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return safe + np.log(np.exp(a - safe[:, None]).sum(axis=1))


# --------------------------------------------------------------------------- batch norm


def batchnorm_forward(h: FloatArray, eps: float) -> tuple[FloatArray, FloatArray]:
    """ĥ = (h − μ)/√(σ² + eps) over axis 1 (the batch), μ and σ² the batch mean and biased
    variance (Ioffe & Szegedy 2015, arXiv:1502.03167). Returns (ĥ, 1/√(σ² + eps))."""
    c = h - h.mean(axis=1, keepdims=True)
    var = (c * c).mean(axis=1, keepdims=True)
    inv = (1.0 / np.sqrt(var + h.dtype.type(eps))).astype(h.dtype)
    return c * inv, inv


def batchnorm_backward(d: FloatArray, arg: FloatArray, inv: FloatArray) -> FloatArray:
    """∂E/∂h from d = ∂E/∂ĥ through the full Jacobian of :func:`batchnorm_forward`.

    ∂ĥ_a/∂h_b = inv·(δ_ab − 1/B − ĥ_a ĥ_b/B) (eps included), so
    ∂E/∂h_b = inv·(d_b − mean(d) − ĥ_b·mean(d ⊙ ĥ)); freezing the batch statistics would
    keep only inv·d.
    """
    return (d - d.mean(axis=1, keepdims=True)
            - arg * (d * arg).mean(axis=1, keepdims=True)) * inv


class BatchKernel(_ArchKernel):
    """K inputs per network through a chain, with or without batch normalisation.

    ``normalise=True`` is the kernel of ``Chain(norm="batch")``; ``normalise=False`` runs
    the same K inputs through the plain chain (for the comparisons of
    :func:`vgmath.preactivation_profile`). ``saturation``: intervals of the saturation
    region of φ (see :func:`region_intervals`) for the extra field ``saturated_fraction``.
    """

    def __init__(
        self,
        chain: Chain,
        *,
        method: str,
        dtype: Any,
        batch: int | None = None,
        normalise: bool | None = None,
        saturation: Sequence[tuple[float, float, bool, bool]] | None = None,
    ) -> None:
        if chain.residual is not None:
            raise InvalidArgumentError("chain", str(chain), "expected a chain without residuals")
        K = chain.batch if batch is None else batch
        if K is None or K < 1:
            raise InvalidArgumentError("batch", batch, "need a batch of at least 1 input")
        super().__init__(chain, method=method, dtype=dtype, inputs=int(K))
        self.normalise = chain.norm == "batch" if normalise is None else normalise
        if self.normalise and K < 2:
            raise InvalidArgumentError("batch", K, "batch normalisation needs >= 2 inputs")
        self.eps = float(chain.norm_eps)
        self.saturation = None if saturation is None else tuple(saturation)
        extras = ["norm_q", *(f"abs_arg_q{p}" for p in ARG_QUANTILES)]
        if self.saturation is not None:
            extras.append("saturated_fraction")
        self.extra_fields = tuple(extras)

    def run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            return self._run(rng, size)

    def _run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        L, ns, dt, act = self.depth, self.widths, self.dtype, self.act
        S, K = size, self.inputs
        logs = self._new_logs(S)
        x = _random_directions(rng, (S, K, ns[0]), self.input_q, dt)
        logs["q"][:, 0] = logs["act"][:, 0] = math.log(self.input_q)
        layers = []  # (sampler, input x, normalised argument ĥ, 1/√(σ²+eps) or None)
        qs = np.array(ARG_QUANTILES, dtype=np.float64) / 100.0
        for l in range(1, L + 1):
            n = ns[l]
            lin = LinearSampler(rng, self.chain.rule, ns[l - 1], n, method=self.method, dtype=dt)
            h = lin.forward(x)
            b = self._bias(rng, S, n)
            if b is not None:
                h = h + b
            logs["q"][:, l] = _ln(_sumsq(h) / (n * K))
            if self.normalise:
                arg, inv = batchnorm_forward(h, self.eps)
            else:
                inv = None
                arg = h
            logs["norm_q"][:, l] = _sumsq(arg) / (n * K)
            absarg = np.abs(np.asarray(arg, dtype=np.float64)).reshape(S, -1)
            quant = np.quantile(absarg, qs, axis=1)
            for p, row in zip(ARG_QUANTILES, quant, strict=True):
                logs[f"abs_arg_q{p}"][:, l] = row
            if self.saturation is not None:
                logs["saturated_fraction"][:, l] = saturated_fraction(
                    np.asarray(arg, dtype=np.float64), self.saturation)
            layers.append((lin, x, arg, inv))
            x = np.asarray(act(arg), dtype=dt)
            logs["act"][:, l] = _ln(_sumsq(x) / (n * K))

        g = rng.standard_normal((S, K, ns[L]), dtype=dt)
        gamma = np.zeros(S)
        logs["grad"][:, L] = _ln(_sumsq(g) / (ns[L] * K))
        param_logs = []
        for l in range(L, 0, -1):
            lin, xin, arg, inv = layers[l - 1]
            n, m = ns[l], ns[l - 1]
            d = np.asarray(act.grad(arg), dtype=dt) * g
            if inv is not None:  # the full Jacobian of the normalisation
                d = batchnorm_backward(d, arg, inv)
            logs["preact"][:, l] = 2 * gamma + _ln(_sumsq(d) / (n * K))
            # ‖Σ_b δ_b x_bᵀ‖²_F = Σ_ab (δ_a·δ_b)(x_a·x_b), O(n K²)
            dgram = bmm(d, np.swapaxes(d, 1, 2)).astype(np.float64)
            xgram = bmm(xin, np.swapaxes(xin, 1, 2)).astype(np.float64)
            wsq = np.einsum("sab,sab->s", dgram, xgram)
            bsq = _sumsq(d.sum(axis=1))
            logs["weight"][:, l] = 2 * gamma + _ln(wsq / (n * m))
            param_logs.append(2 * gamma + _ln(wsq + bsq))
            g, gamma, logs["grad"][:, l - 1] = _renormalised(lin.backward(d), m * K, gamma, dt)
        logs["ln_param_grad_norm"][:] = 0.5 * _logsumexp(np.stack(param_logs, axis=1))
        self._check(logs)
        return logs


# --------------------------------------------------------------------------- dispatch




