"""Fused NumPy kernels: φ(u) and φ′(u) of a catalog activation in one pass, into the caller's
buffers (the Monte Carlo engine's hot loop; :meth:`vgmath.Activation.value_and_grad`).

Each kernel ``fg(u, f, df, t1, t2)`` writes φ(u) into ``f`` and φ′(u) into ``df`` (arrays of
u's shape and dtype, float32 or float64), may use ``t1`` and ``t2`` as scratch, and never
writes ``u``. They allocate no float temporaries (only boolean masks, an eighth of the size):
a fresh temporary of a block's size costs more in page faults than the arithmetic done in
it. The formulas are those of the separate kernels in :mod:`vgmath.symbolic.specs` — the
same stable forms and kink convention — with the transcendental work shared between φ and φ′
(one e^{−|u|} gives σ, σ′, softplus and mish) and selections done arithmetically
(m·a + (1 − m)·b with m ∈ {0, 1} is exact), because a masked NumPy operation costs ten times
a plain one. Agreement with the separate kernels is
tested to a few ulp over the whole line (``tests/symbolic/test_fused.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from scipy import special

__all__ = ["FusedFn", "fused_kernel"]

#: fg(u, f, df, t1, t2): φ(u) into f, φ′(u) into df; t1, t2 scratch; u read-only
FusedFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]
Arr = np.ndarray

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _logistic(a: Arr, s: Arr, d: Arr, t: Arr) -> None:
    """s ← σ(a), d ← σ′(a) = σ(a)σ(−a), to full relative accuracy on the whole line, from one
    e = e^{−|a|}: σ = r (a ≥ 0) or e·r (a < 0) with r = 1/(1 + e), σ′ = e r². ``t`` is
    scratch; ``a`` is not written (and aliases none of s, d, t)."""
    np.abs(a, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)  # e
    np.add(t, 1.0, out=s)
    np.divide(1.0, s, out=s)  # r
    t *= s  # e r
    np.multiply(t, s, out=d)  # σ′ = e r²
    t *= np.less(a, 0.0)  # e r where a < 0, else 0
    s *= np.greater_equal(a, 0.0)  # r where a ≥ 0, else 0
    s += t  # exact: one of the two terms is 0


def _identity(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    np.copyto(f, u)
    df.fill(1.0)


def _relu(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    np.maximum(u, 0.0, out=f)
    np.greater(u, 0.0, out=df)


def _leaky(slope: float) -> FusedFn | None:
    # φ′ = slope + (1 − slope)·[u > 0] must be exactly 1 for u > 0 in both dtypes
    if any(dt(1.0 - slope) + dt(slope) != dt(1.0) for dt in (np.float32, np.float64)):
        return None
    rest = 1.0 - slope

    def fg(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
        np.greater(u, 0.0, out=df)
        df *= rest
        df += slope
        np.multiply(u, df, out=f)  # u·1 = u and u·slope = slope·u, exactly

    return fg


def _hard_tanh(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    np.clip(u, -1.0, 1.0, out=f)
    np.abs(u, out=t1)
    np.less(t1, 1.0, out=df)


def _hard_sigmoid(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    np.divide(u, 6.0, out=f)
    f += 0.5
    np.clip(f, 0.0, 1.0, out=f)
    np.abs(u, out=t1)
    np.less(t1, 3.0, out=df)
    df *= 1.0 / 6.0


def _tanh(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    np.tanh(u, out=f)
    # sech² = 4e/(1 + e)² with e = e^{−2|u|}, as specs._sech2
    np.abs(u, out=t1)
    t1 *= -2.0
    np.exp(t1, out=t1)
    np.multiply(t1, 4.0, out=df)
    t1 += 1.0
    t1 *= t1
    df /= t1


def _sigmoid(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    _logistic(u, f, df, t1)


def _silu(beta: float) -> FusedFn:
    def fg(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
        np.multiply(u, beta, out=t2)  # a = βu
        _logistic(t2, f, df, t1)  # s = σ(a), σ′(a)
        # φ′ = s + βu σ′(βu), φ = u s
        df *= u
        df *= beta
        df += f
        f *= u

    return fg


def _softplus(beta: float) -> FusedFn:
    def fg(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
        np.multiply(u, beta, out=t2)  # a = βu
        # log(1 + e^a) = max(a, 0) + log1p(e^{−|a|}) (NumPy's logaddexp(0, a)); φ′ = σ(a)
        np.abs(t2, out=t1)
        np.negative(t1, out=t1)
        np.exp(t1, out=t1)  # e
        np.log1p(t1, out=f)
        np.maximum(t2, 0.0, out=df)
        f += df
        f /= beta
        np.add(t1, 1.0, out=df)
        np.divide(1.0, df, out=df)  # r
        t1 *= df  # e r
        t1 *= np.less(t2, 0.0)
        df *= np.greater_equal(t2, 0.0)
        df += t1

    return fg


def _gelu_tanh(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    # φ = u σ(2a), a = c(u + k u³); φ′ = σ(2a) + 2u σ′(2a) a′, a′ = c(1 + 3k u²)
    np.multiply(u, u, out=t2)
    t2 *= _GELU_K
    t2 *= u
    t2 += u
    t2 *= 2.0 * _GELU_C  # 2a
    _logistic(t2, f, df, t1)
    np.multiply(u, u, out=t2)
    t2 *= 3.0 * _GELU_K
    t2 += 1.0
    t2 *= _GELU_C  # a′
    df *= t2
    df *= u
    df *= 2.0
    df += f
    f *= u


def _mish(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    # With e = e^{−|u|}, p = [u ≥ 0], n = [u < 0], w = e^u:
    #   tanh(softplus u) = w(w + 2)/(w(w + 2) + 2) = N/D,
    #   N = p(1 + 2e) + n e(e + 2),  D = N + p·2e² + n·2,
    #   sech²(softplus u)·σ(u) = 4e(1 + e)(p e + n)/D²;
    # φ = u N/D, φ′ = N/D + u·4e(1 + e)(p e + n)/D². No cancellation on either side.
    neg = np.less(u, 0.0)
    pos = np.greater_equal(u, 0.0)
    np.abs(u, out=t1)
    np.negative(t1, out=t1)
    np.exp(t1, out=t1)  # e
    np.add(t1, 2.0, out=f)
    f *= t1
    f *= neg  # n e(e + 2)
    np.multiply(t1, 2.0, out=df)
    df += 1.0
    df *= pos  # p(1 + 2e)
    f += df  # N
    np.multiply(t1, t1, out=df)
    df *= 2.0
    df *= pos
    df += neg
    df += neg  # p·2e² + n·2
    df += f  # D
    f /= df  # tanh(softplus u)
    np.multiply(t1, pos, out=t2)
    t2 += neg  # p e + n
    t2 *= t1
    t2 *= 4.0
    t1 += 1.0
    t2 *= t1
    t2 /= df
    t2 /= df  # sech²·σ
    t2 *= u
    np.add(f, t2, out=df)
    f *= u


def _elu(alpha: float, scale: float | None = None) -> FusedFn:
    def fg(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
        # φ = α expm1(min(u, 0)) (u ≤ 0) or u; φ′ = α e^{min(u, 0)} (u ≤ 0) or 1
        le = np.less_equal(u, 0.0)
        gt = np.greater(u, 0.0)
        np.minimum(u, 0.0, out=t1)
        np.expm1(t1, out=t2)
        np.exp(t1, out=t1)
        np.multiply(t2, alpha, out=f)
        f *= le
        np.multiply(u, gt, out=df)
        f += df
        np.multiply(t1, alpha, out=df)
        df *= le
        df += gt
        if scale is not None:
            f *= scale
            df *= scale

    return fg


def _softsign(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    np.abs(u, out=t1)
    t1 += 1.0
    np.divide(u, t1, out=f)
    np.multiply(t1, t1, out=df)
    np.divide(1.0, df, out=df)


def _gelu(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    special.ndtr(u, out=t1)  # Φ(u)
    np.multiply(u, t1, out=f)
    np.multiply(u, u, out=df)
    df *= -0.5
    np.exp(df, out=df)
    np.multiply(u, _INV_SQRT_2PI, out=t2)
    df *= t2
    df += t1


def _erf(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    special.erf(u, out=f)
    np.multiply(u, u, out=df)
    np.negative(df, out=df)
    np.exp(df, out=df)
    df *= _TWO_OVER_SQRT_PI


def fused_kernel(name: str, params: Mapping[str, float]) -> FusedFn | None:
    """The fused kernel of catalog activation ``name`` with float ``params``, or None."""
    simple: dict[str, FusedFn] = {
        "identity": _identity, "relu": _relu, "hard_tanh": _hard_tanh,
        "hard_sigmoid": _hard_sigmoid, "tanh": _tanh, "sigmoid": _sigmoid,
        "gelu_tanh": _gelu_tanh, "mish": _mish, "softsign": _softsign, "gelu": _gelu,
        "erf": _erf,
    }
    if name in simple:
        return simple[name]
    if name == "leaky_relu":
        return _leaky(params["slope"])
    if name == "silu":
        return _silu(params["beta"])
    if name == "softplus":
        return _softplus(params["beta"])
    if name == "elu":
        return _elu(params["alpha"])
    if name == "selu":
        return _elu(params["alpha"], params["scale"])
    return None
