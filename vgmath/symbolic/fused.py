"""Fused NumPy kernels: φ(u) and φ′(u) of a catalog activation in one pass, into the caller's
buffers (the Monte Carlo engine's hot loop; :meth:`vgmath.Activation.value_and_grad`).

Each kernel ``fg(u, f, df, t1, t2)`` writes φ(u) into ``f`` and φ′(u) into ``df`` (arrays of
u's shape and dtype, float32 or float64), may use ``t1`` and ``t2`` as scratch, and never
writes ``u``. They allocate no block-sized float temporaries (only boolean masks, an eighth
of the size, and GELU's and erf's gathered tails, usually a few per cent): a fresh temporary
of a block's size costs more in page faults than the arithmetic done in it. The formulas are
those of the separate kernels in :mod:`vgmath.symbolic.specs` — the same stable forms and
kink convention — with the transcendental work shared between φ and φ′
(one e^{−|u|} gives σ, σ′, softplus and mish) and selections done arithmetically
(m·a + (1 − m)·b with m ∈ {0, 1} is exact), because a masked NumPy operation costs ten times
a plain one. Agreement with the separate kernels is
tested to a few ulp over the whole line (``tests/symbolic/test_fused.py``).
"""

from __future__ import annotations

import math
import threading
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


_EXTRA = threading.local()  # per thread: (shape, dtype) -> three scratch arrays


def _extra(u: Arr) -> tuple[Arr, Arr, Arr]:
    """Three more scratch arrays like u, per thread (kept for the last shape and dtype seen;
    masks are made float, since a float × bool product costs six times a float × float
    one). Kernels running in several threads never share them."""
    key = (u.shape, u.dtype.str)
    slot = getattr(_EXTRA, "slot", None)
    if slot is None or slot[0] != key:
        slot = (key, (np.empty_like(u), np.empty_like(u), np.empty_like(u)))
        _EXTRA.slot = slot
    return slot[1]


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
    m = _extra(a)[2]
    np.less(a, 0.0, out=m)
    t *= m  # e r where a < 0, else 0
    np.subtract(1.0, m, out=m)
    s *= m  # r where a ≥ 0, else 0
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
        m = _extra(u)[2]
        np.less(t2, 0.0, out=m)
        t1 *= m
        np.subtract(1.0, m, out=m)
        df *= m
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
    neg, pos, _ = _extra(u)
    np.less(u, 0.0, out=neg)
    np.subtract(1.0, neg, out=pos)
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
        le, gt, _ = _extra(u)
        np.less_equal(u, 0.0, out=le)
        np.subtract(1.0, le, out=gt)
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


# Φ and erf mostly without SciPy's per-element loops (about 10 ns an element, more than one
# of the two normals the element costs): Cephes' rational approximations (Moshier, ndtr.c;
# the coefficients SciPy's own erf/erfc/ndtr use). The centre one (|u| < 1) runs on every
# element and SciPy only on the gathered tails (_tails); when the tails are many, the
# whole-line kernels evaluate every range on every element with clipped arguments and combine
# them by exact 0/1 masks. Relative accuracy a few ulp, times the conditioning of e^{−x²}
# (tested against mpmath and SciPy).
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285067760e0, 3.36907645100081516050e0)
_SQRTH = math.sqrt(0.5)




def _polevl(x: Arr, coefs: tuple[float, ...], out: Arr, *, monic: bool = False) -> None:
    """out ← c₀xⁿ + … + cₙ (``monic``: xⁿ⁺¹ + c₀xⁿ + … + cₙ), by Horner's rule."""
    if monic:
        np.add(x, coefs[0], out=out)
    else:
        np.multiply(x, coefs[0], out=out)
        out += coefs[1]
        coefs = coefs[1:]
    for c in coefs[1:]:
        out *= x
        out += c


def _erf_small(x: Arr, out: Arr, t: Arr, w: Arr) -> None:
    """out ← erf(x) for |x| ≤ 1 (x T(x²)/U(x²)); t, w scratch."""
    np.multiply(x, x, out=w)
    _polevl(w, _ERF_T, out)
    out *= x
    _polevl(w, _ERF_U, t, monic=True)
    out /= t


def _erfc_large(z: Arr, ez: Arr, out: Arr, t: Arr, tail: Arr) -> None:
    """out ← erfc(z) = e^{−z²} P(z)/Q(z) for z ∈ [1, 8] (clipped), R/S beyond 8 when some
    z are there; ``ez`` = e^{−z²} of the unclipped z; t, tail scratch; z is clobbered."""
    far = z >= 8.0
    if far.any():
        # e^{−z²} is 0 beyond z = 27 (float64), so 64 bounds R/S without changing
        # anything, and keeps z⁶ finite in float32 (1e10 overflowed it: NaN for |x| ≳ 6e7)
        np.clip(z, 8.0, 64.0, out=tail)
        _polevl(tail, _ERFC_R, out)
        _polevl(tail, _ERFC_S, t, monic=True)
        out /= t
        np.copyto(tail, out)
    np.clip(z, 1.0, 8.0, out=z)
    _polevl(z, _ERFC_P, out)
    _polevl(z, _ERFC_Q, t, monic=True)
    out /= t
    if far.any():  # rare (|x| ≥ 8): the masked copy is cheap enough there
        np.copyto(out, tail, where=far)
    out *= ez


def _erf_rational(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    t3, t4, m = _extra(u)
    np.clip(u, -1.0, 1.0, out=t1)
    _erf_small(t1, f, t3, t4)  # erf where |u| < 1
    np.multiply(u, u, out=df)
    np.negative(df, out=df)
    np.exp(df, out=df)  # e^{−u²}
    np.abs(u, out=t1)
    np.less(t1, 1.0, out=m)  # near: |u| < 1
    f *= m
    _erfc_large(t1, df, t2, t3, t4)  # erfc(|u|) where |u| ≥ 1
    np.subtract(1.0, t2, out=t2)
    np.subtract(1.0, m, out=m)
    t2 *= m
    np.less(u, 0.0, out=m)
    m *= -2.0
    m += 1.0  # the sign of u where |u| ≥ 1
    t2 *= m
    f += t2
    df *= _TWO_OVER_SQRT_PI


def _gelu_scipy(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    special.ndtr(u, out=t1)  # Φ(u)
    np.multiply(u, t1, out=f)
    np.multiply(u, u, out=df)
    df *= -0.5
    np.exp(df, out=df)
    np.multiply(u, _INV_SQRT_2PI, out=t2)
    df *= t2
    df += t1


def _gelu_rational(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    # Φ(u) = ½ + ½ erf(u/√2) for |u| < 1, else ½ erfc(|u|/√2) (u < 0) or 1 − that (u > 0),
    # with erfc(y) = 1 − erf(y) for y < 1 (as Cephes' ndtr); φ′ = Φ + u e^{−u²/2}/√(2π)
    t3, t4, m = _extra(u)
    np.multiply(u, _SQRTH, out=t1)  # x
    np.multiply(t1, t1, out=df)
    np.negative(df, out=df)
    np.exp(df, out=df)  # e^{−x²}
    np.clip(t1, -1.0, 1.0, out=t2)
    _erf_small(t2, f, t3, t4)  # erf(x), valid where |x| < 1
    absx = np.abs(t1, out=t1)
    np.less(absx, 1.0, out=m)  # mid: |x| < 1
    _erfc_large(absx, df, t2, t3, t4)  # erfc(|x|) where |x| ≥ 1 (clobbers t1)
    np.abs(f, out=t3)
    np.subtract(1.0, t3, out=t3)
    t3 *= m
    np.subtract(1.0, m, out=m)
    t2 *= m
    t2 += t3  # erfc(|x|) wherever |x| ≥ √½
    t2 *= 0.5
    np.less(u, 0.0, out=m)  # neg
    np.subtract(1.0, t2, out=t3)
    t2 *= m
    np.subtract(1.0, m, out=m)
    t3 *= m
    t2 += t3  # Φ(u) for |u| ≥ 1
    np.abs(u, out=t3)
    np.less(t3, 1.0, out=m)  # centre: |u| < 1
    f *= 0.5
    f += 0.5
    f *= m  # Φ(u) for |u| < 1
    np.subtract(1.0, m, out=m)
    t2 *= m
    t2 += f  # Φ(u) = t2
    np.multiply(u, t2, out=f)
    df *= _INV_SQRT_2PI
    df *= u
    df += t2


_ERF_T_HALF = tuple(0.5 * c for c in _ERF_T)  # exact (a power of two)


def _erf_centre(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr, t3: Arr) -> None:
    """φ = erf(u) where |u| < 1 (the operations of :func:`_erf_rational` there) and
    φ′ = 2/√π e^{−u²}, reusing the u² of the rational; elsewhere both finite or NaN."""
    np.clip(u, -1.0, 1.0, out=t1)
    np.multiply(t1, t1, out=t3)  # u²
    _polevl(t3, _ERF_T, f)
    f *= t1
    _polevl(t3, _ERF_U, t2, monic=True)
    f /= t2
    np.negative(t3, out=df)
    np.exp(df, out=df)
    df *= _TWO_OVER_SQRT_PI


def _gelu_centre(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr, t3: Arr) -> None:
    """GELU where |u| < 1 (elsewhere finite or NaN): Φ(u) = ½ + x·½T(x²)/U(x²), x = u/√2,
    Cephes' erf rational with T halved (exact), so Φ rounds as in :func:`_gelu_rational`
    there; φ′ = Φ + u e^{−x²}/√(2π), reusing the x² of the rational."""
    np.multiply(u, _SQRTH, out=t1)
    np.clip(t1, -1.0, 1.0, out=t1)  # x (clipped, so nothing overflows off the centre)
    np.multiply(t1, t1, out=t3)  # x²
    _polevl(t3, _ERF_T_HALF, t2)
    t2 *= t1
    _polevl(t3, _ERF_U, t1, monic=True)
    t2 /= t1
    t2 += 0.5  # Φ(u)
    np.negative(t3, out=df)
    np.exp(df, out=df)  # e^{−x²}
    df *= _INV_SQRT_2PI
    df *= u
    df += t2
    np.multiply(u, t2, out=f)


#: above this fraction of elements off the centre |u| < 1, the whole-line kernel runs on all
_TAIL_SHARE = 0.25


def _tails(u: Arr, t: Arr) -> Arr | None:
    """Flat indices of the elements with |u| ≥ 1 (NaN is not one), or None when they are more
    than :data:`_TAIL_SHARE` of u. ``t`` is scratch.

    Pre-activations in a deep network are mostly O(1) or smaller, so the tails are usually a
    few per cent: evaluating the centre rational on every element and SciPy's erf/ndtr (the
    same Cephes approximations, whole line) on the gathered tails costs half of evaluating
    both branches of the rational everywhere."""
    np.abs(u, out=t)
    tail = np.flatnonzero(t >= 1.0)
    return None if tail.size > _TAIL_SHARE * u.size else tail


def _erf(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    tail = _tails(u, t1)
    if tail is None:
        _erf_rational(u, f, df, t1, t2)
        return
    _erf_centre(u, f, df, t1, t2, _extra(u)[0])
    if tail.size:
        us = np.take(u, tail)
        np.put(f, tail, special.erf(us))
        np.multiply(us, us, out=us)
        np.negative(us, out=us)
        np.exp(us, out=us)
        us *= _TWO_OVER_SQRT_PI
        np.put(df, tail, us)


def _gelu(u: Arr, f: Arr, df: Arr, t1: Arr, t2: Arr) -> None:
    tail = _tails(u, t1)
    if tail is None:  # measured: SciPy's ndtr is as fast as the rational in float64
        (_gelu_scipy if u.dtype == np.float64 else _gelu_rational)(u, f, df, t1, t2)
        return
    _gelu_centre(u, f, df, t1, t2, _extra(u)[0])
    if tail.size:
        us = np.take(u, tail)
        fs, dfs, t1s, t2s = (np.empty_like(us) for _ in range(4))
        _gelu_scipy(us, fs, dfs, t1s, t2s)
        np.put(f, tail, fs)
        np.put(df, tail, dfs)


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
