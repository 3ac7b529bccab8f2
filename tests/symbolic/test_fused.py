"""The fused φ/φ′ kernels (vgmath.symbolic.fused) against the separate stable kernels of the
catalog, over the whole line (tiny, kinks, saturation, overflow range), in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

import vgmath as vg


def grid(dtype: type) -> np.ndarray:
    big = 80.0 if dtype == np.float32 else 700.0
    pts = np.concatenate([
        np.linspace(-8, 8, 4001), np.geomspace(1e-30, big, 600), -np.geomspace(1e-30, big, 600),
        [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0],
        np.nextafter(np.array([0.0, 1.0, -1.0, 3.0, -3.0]), np.inf),
        np.nextafter(np.array([0.0, 1.0, -1.0, 3.0, -3.0]), -np.inf),
    ])
    return pts.astype(dtype)


def cases() -> list[tuple[str, dict[str, object]]]:
    out = []
    for name in vg.activations():
        out.append((name, {}))
    out += [("leaky_relu", {"slope": "1/5"}), ("leaky_relu", {"slope": -2}),
            ("silu", {"beta": "3/2"}), ("softplus", {"beta": "3/2"}), ("elu", {"alpha": "1/2"})]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "params"), cases(), ids=lambda v: str(v))
def test_fused_kernel_matches_the_separate_kernels(name, params, dtype):
    act = vg.activation(name, **params)
    u = grid(dtype).reshape(8, -1) if grid(dtype).size % 8 == 0 else grid(dtype)[None, :]
    u_before = u.copy()
    f, df = np.full_like(u, np.nan), np.full_like(u, np.nan)
    scratch = (np.full_like(u, np.nan), np.full_like(u, np.nan))
    with np.errstate(all="ignore"):
        act.value_and_grad(u, f, df, scratch)
        want_f = np.asarray(act(u), dtype=dtype)
        want_df = np.asarray(act.grad(u), dtype=dtype)
    assert np.array_equal(u, u_before)  # the input is never written
    assert f.dtype == dtype and df.dtype == dtype
    eps = np.finfo(dtype).eps
    tiny = np.finfo(dtype).tiny  # below it (subnormals) the two orders of rounding differ
    # Both evaluate the same formulas in different orders, so they agree to the formulas'
    # own conditioning: a few ulp relative, times the size of the exponent's argument
    # (e^{−|a|} with |a| up to |u| + 0.1|u|³ for gelu_tanh), plus a few ulp absolute where
    # φ′ = s + u s(1 − s) cancels between O(1) terms (its zero near u = −1.28 for silu); the
    # same exact zeros wherever the values are normal.
    au = np.abs(u.astype(np.float64))
    rtol = 16 * eps * (2 + au + 0.1 * au**3)
    for got, want in ((f, want_f), (df, want_df)):
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        g, w = got[ok].astype(np.float64), want[ok].astype(np.float64)
        bad = np.abs(g - w) > rtol[ok] * np.abs(w) + 16 * eps + tiny
        assert not bad.any(), (u[ok][bad][:5], g[bad][:5], w[bad][:5])
        normal = ok & ((np.abs(got) >= tiny) | (np.abs(want) >= tiny))
        assert np.array_equal(got[normal] == 0, want[normal] == 0)


def test_every_catalog_activation_has_a_fused_kernel_and_user_ones_fall_back():
    for name in vg.activations():
        assert vg.activation(name)._fg is not None, name
    user = vg.activation("x*tanh(x) + x/3")
    assert user._fg is None
    u = np.linspace(-3, 3, 64).reshape(2, 32)
    f, df, t1, t2 = (np.empty_like(u) for _ in range(4))
    user.value_and_grad(u, f, df, (t1, t2))
    np.testing.assert_array_equal(f, user(u))
    np.testing.assert_array_equal(df, user.grad(u))


@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_rational_phi_and_erf_match_scipy_in_both_dtypes(name):
    """Both routes of the fused GELU (SciPy's ndtr, the Cephes rational) and the fused erf
    agree with SciPy in float64 on the whole line, so the dtype only picks the faster one."""
    from vgmath.symbolic import fused

    act = vg.activation(name)
    u = grid(np.float64)[None, :]
    routes = [fused._gelu_scipy, fused._gelu_rational] if name == "gelu" else [fused._erf_rational]
    for route in routes:
        f, df, t1, t2 = (np.empty_like(u) for _ in range(4))
        route(u, f, df, t1, t2)
        au, eps = np.abs(u), np.finfo(np.float64).eps
        rtol = 16 * eps * (2 + au * au)  # e^{−x²}'s conditioning, as above
        for got, want in ((f, act(u)), (df, act.grad(u))):
            tol = rtol * np.abs(want) + 16 * eps + np.finfo(np.float64).tiny
            assert (np.abs(got - want) <= tol).all(), route


def _mp_reference(name: str, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(φ, φ′, scale) at the exact inputs u, from mpmath at 40 digits, rounded to float64;
    ``scale`` is the sum of the magnitudes of φ′'s terms (Φ and uϕ for GELU, whose φ′
    cancels to 0 near u = −0.75)."""
    import mpmath as mp

    f, df, scale = (np.empty(u.shape) for _ in range(3))
    with mp.workdps(40):
        for i, x in enumerate(u.astype(np.float64)):
            x = mp.mpf(float(x))
            if name == "erf":
                fi, dfi = mp.erf(x), 2 / mp.sqrt(mp.pi) * mp.exp(-x * x)
                si = dfi
            else:
                cdf = mp.erfc(-x / mp.sqrt(2)) / 2
                slope = x * mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)
                fi, dfi, si = x * cdf, cdf + slope, cdf + abs(slope)
            f[i], df[i], scale[i] = float(fi), float(dfi), float(si)
    return f, df, scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["gelu", "erf"])
@pytest.mark.parametrize("route", ["centre and tails", "whole line"])
def test_gelu_and_erf_kernels_against_mpmath(name, route, dtype, monkeypatch):
    """Both routes of the fused GELU and erf — the centre rational on every element with the
    tails |u| ≥ 1 gathered for SciPy, and the whole-line one — against mpmath at 40 digits,
    from subnormals to the tails, ±inf and NaN.

    Bound: relative error 16 ε (2 + u²). The input is exact, but u/√2 and u² round (relative
    ε), and e^{−u²} (also inside erfc and Φ in the tails) turns a relative error ε of u² into
    u² ε; the rationals add a few ulp. For GELU's φ′ = Φ + uϕ the bound is relative to
    Φ + |uϕ| (it cancels to 0 near u = −0.75), and below the normal range the error is
    absolute, the smallest normal number."""
    from vgmath.symbolic import fused

    monkeypatch.setattr(fused, "_TAIL_SHARE", 1.0 if route == "centre and tails" else -1.0)
    big = 80.0 if dtype == np.float32 else 700.0
    small = float(np.finfo(dtype).smallest_subnormal)
    finite = np.concatenate([
        np.linspace(-8, 8, 1601), np.geomspace(small, big, 400), -np.geomspace(small, big, 400),
        [0.0, -0.0, 1.0, -1.0, -0.7517915241, np.sqrt(2.0), -np.sqrt(2.0)],
    ]).astype(dtype)
    finite = np.concatenate([finite, np.nextafter(finite[-4:], dtype(np.inf))])
    u = np.concatenate([finite, np.array([np.inf, -np.inf, np.nan], dtype=dtype)])
    u = np.concatenate([u, np.zeros(-u.size % 4, dtype=dtype)]).reshape(4, -1)
    f, df, t1, t2 = (np.full_like(u, np.nan) for _ in range(4))
    u_before = u.copy()
    with np.errstate(all="ignore"):
        getattr(fused, "_" + name)(u, f, df, t1, t2)
    assert np.array_equal(u, u_before, equal_nan=True)
    act = vg.activation(name)
    with np.errstate(all="ignore"):
        want_f, want_df = act(u.astype(np.float64)), act.grad(u.astype(np.float64))
    bad = ~np.isfinite(u)  # ±inf and NaN: as the separate kernels (in float64)
    np.testing.assert_array_equal(f[bad], want_f[bad].astype(dtype))
    np.testing.assert_array_equal(df[bad], want_df[bad].astype(dtype))

    ok = np.isfinite(u)
    ref_f, ref_df, scale = _mp_reference(name, u[ok])
    eps, tiny = float(np.finfo(dtype).eps), float(np.finfo(dtype).tiny)
    uu = u[ok].astype(np.float64)
    rtol = 16 * eps * (2 + uu * uu)
    for got, want, size in ((f[ok], ref_f, np.abs(ref_f)), (df[ok], ref_df, scale)):
        err = np.abs(got.astype(np.float64) - want)
        worst = np.argmax(err - rtol * size - tiny)
        assert (err <= rtol * size + tiny).all(), (uu[worst], got[worst], want[worst])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["gelu", "erf"])
def test_gelu_and_erf_send_only_the_tails_to_scipy(name, dtype, monkeypatch):
    """On pre-activations like a deep network's (mostly |u| < 1), SciPy sees only the elements
    with |u| ≥ 1; with more than a quarter of them, none (the whole-line rational, or SciPy's
    ndtr on everything for GELU in float64)."""
    from types import SimpleNamespace

    from vgmath.symbolic import fused

    seen: list[int] = []

    def spy(fn):
        def wrapped(x, *args, **kwargs):
            seen.append(np.size(x))
            return fn(x, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(fused, "special", SimpleNamespace(erf=spy(fused.special.erf),
                                                          ndtr=spy(fused.special.ndtr)))
    u = (0.45 * np.random.default_rng(1).standard_normal((64, 512))).astype(dtype)
    u[3, 7], u[10, 0], u[63, 511] = 5.0, -2.0, np.inf
    f, df, t1, t2 = (np.empty_like(u) for _ in range(4))
    with np.errstate(all="ignore"):
        getattr(fused, "_" + name)(u, f, df, t1, t2)
    assert seen == [int((np.abs(u) >= 1).sum())]
    assert 3 <= seen[0] < 0.05 * u.size
    seen.clear()
    with np.errstate(all="ignore"):
        getattr(fused, "_" + name)(3 * u, f, df, t1, t2)
    assert seen == ([u.size] if (name, dtype) == ("gelu", np.float64) else [])
