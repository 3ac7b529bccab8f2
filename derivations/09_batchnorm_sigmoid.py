"""Batch normalisation keeps pre-activations where sigmoid′ is large.

Ioffe & Szegedy 2015 ("Batch normalization", arXiv:1502.03167, Sec. 1): with a sigmoid,
"as |x| increases, g′(x) tends to zero … the gradient flowing down to u will vanish"; if the
distribution of the nonlinearity inputs is kept stable, "the optimizer would be less likely
to get stuck in the saturated regime". Quantitatively:

* without normalisation the pre-activations of a wide chain are N(0, q^l) per unit, q^l from
  the mean-field variance map; the fraction in the saturation region {|x| > x_ε} (derivation
  01: x_ε = ln((1+√(1−4ε))/(1−√(1−4ε))) = 4.585 for ε = 1/100) is 2Φ(−x_ε/√q^l);
* with batch normalisation over B inputs, each unit's normalised values ĥ have batch mean 0
  and variance 1 exactly; when the centred Gaussian part of a unit's batch is isotropic (wide
  layers), ĥ_b²/(B − 1) ~ Beta(1/2, (B − 2)/2), so P(|ĥ| > x_ε) is a Beta tail (≈ 7e-9 for
  B = 32) — |ĥ| ≤ √(B − 1) always — and the median of |ĥ| follows too, whatever σ_w².
  At width n the centred batch is not exactly isotropic: a B-sample covariance of n units
  fluctuates at relative order B/n (Marchenko–Pastur), so the median carries an O(B/n)
  error that accumulates over the first layers. The law is therefore checked where it is
  exact, at n → ∞, by Richardson extrapolation from widths n and 4n:
  m_∞ ≈ (4 m(4n) − m(n))/3, with the next order, O((B/n)²), as the allowance.

Both are checked against ``vg.preactivation_profile`` (Monte Carlo), and the effect on the
mean-field gradient factor E[σ′(√q z)²] is shown.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import sympy as sp
from _checks import Checks, parse_args, z_threshold
from scipy import stats

import vgmath as vg

SOURCE = "Ioffe & Szegedy 2015, arXiv:1502.03167, Sec. 1"


def bn_abs_law(batch: int) -> stats.rv_continuous:
    """The law of |ĥ| for one batch-normalised value: |ĥ| = √((B − 1) β), β ~ Beta(½, (B−2)/2)."""
    return stats.beta(0.5, (batch - 2) / 2)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Batch normalisation keeps sigmoid inputs out of saturation", latex=args.latex)
    eps = sp.Rational(1, 100)
    sig = vg.activation("sigmoid")
    region = sig.saturation_region(eps)
    x_eps = float(region.boundaries[-1])
    ck.step(f"saturation region of the sigmoid at ε = {eps}: {region.region} (x_ε = {x_eps:.6f})")

    depth, width, batch, trials = (4, 128, 32, 20) if args.fast else (10, 256, 32, 60)
    sw2, sb2 = 16, 1
    plain = vg.Chain("sigmoid", init={"scheme": "custom", "sigma_w2": sw2}, depth=depth,
                     width=width, sigma_b2=sb2)
    normed = plain.replace(norm="batch", batch=batch)
    tests = 2 * depth + 1  # saturated fractions, extrapolated medians, the tail count
    z = z_threshold(tests=tests)

    ck.section(f"without normalisation: σ_w² = {sw2}, σ_b² = {sb2}, width {width}")
    q = vg.predict(plain).q
    fp = vg.fixed_point("sigmoid", sw2, sb2)
    ck.step(f"mean-field q^l: {np.array2string(q[1:], precision=4)} → q* = {fp.q_star:.4f}")
    prof = vg.preactivation_profile(plain, batch=batch, trials=trials, seed=args.seed)

    def frac(v: float) -> float:
        return 2 * stats.norm.sf(x_eps / math.sqrt(v))

    for l in range(1, depth + 1):
        theory = frac(q[l])
        # finite width: the per-network variance q̂ fluctuates; E[f(q̂)] − f(q) ≈ ½ f″(q) Var q̂.
        # Var q̂ is bounded by the spread of the measured ‖ĥ‖²/(nB) over networks.
        sd = float(prof.norm_q_se[l]) * math.sqrt(trials)
        dq = 1e-3 * q[l]
        f2 = (frac(q[l] + dq) - 2 * theory + frac(q[l] - dq)) / dq**2
        ck.mc(f"layer {l}: saturated fraction = 2Φ(−x_ε/√q^l) = {theory:.4f}",
              float(prof.saturated_fraction[l]), float(prof.saturated_fraction_se[l]), theory,
              z=z, bias=0.5 * abs(f2) * sd**2, source=SOURCE)

    ck.section(f"with batch normalisation over B = {batch} inputs")
    bprof = vg.preactivation_profile(normed, trials=trials, seed=args.seed)
    wide_n = 4 * width
    wide = vg.preactivation_profile(normed.replace(width=wide_n), trials=trials,
                                    seed=args.seed + 1)
    law = bn_abs_law(batch)
    median = math.sqrt((batch - 1) * law.ppf(0.5))
    tail = float(law.sf(x_eps**2 / (batch - 1)))
    ck.step(f"exact: median |ĥ| = {median:.6f}, P(|ĥ| > x_ε) = {tail:.3g} "
            "(for N(0, 1) they would be 0.674490 and 4.5e-6)")
    ck.step(f"measured median |ĥ| − exact, widths {width} / {wide_n}: "
            + ", ".join(f"{bprof.quantiles[50][l] - median:+.4f}/"
                        f"{wide.quantiles[50][l] - median:+.4f}" for l in range(1, depth + 1))
            + " (the O(B/n) finite-width error)")
    n_values = width * batch  # values behind each network's median
    allowances = []
    for l in range(1, depth + 1):
        m1, s1 = float(bprof.quantiles[50][l]), float(bprof.quantiles_se[50][l])
        m4, s4 = float(wide.quantiles[50][l]), float(wide.quantiles_se[50][l])
        extrapolated = (4 * m4 - m1) / 3  # removes the O(1/n) term exactly
        se = math.sqrt(16 * s4**2 + s1**2) / 3  # independent runs
        # next order: the O(1/n) term, (m1 − m4)·4/3 at width n, times the expansion
        # parameter B/n once more; plus the median's discreteness, 1/(N f(m)) at width 4n
        density = 2 * law.pdf(median**2 / (batch - 1)) * median / (batch - 1)
        truncation = abs(m1 - m4) * 4 / 3 * batch / width + 1 / (4 * n_values * density)
        ck.mc(f"layer {l}: median |ĥ| extrapolated to n → ∞ (Beta law of an isotropic batch)",
              extrapolated, se, median, z=z, bias=truncation,
              source="rotation invariance of the centred batch")
        allowances.append(z * se + truncation)
    gauss = float(stats.norm.ppf(0.75))  # median |z| of N(0, 1), the law without the constraint
    ck.true("power: a median of N(0, 1) (no batch constraint) would be rejected",
            max(allowances) < median - gauss,
            f"largest allowance {max(allowances):.4f} < the gap {median - gauss:.4f} between "
            "the two laws")
    count = float(np.sum(bprof.saturated_fraction[1:])) * trials * n_values
    expected = tail * trials * n_values * depth
    p_value = float(stats.poisson.sf(round(count) - 1, expected)) if count > 0.5 else 1.0
    ck.true("saturated units under BN: as rare as the exact Beta tail",
            p_value >= 1e-4 / tests,
            f"{count:.0f} seen, {expected:.3g} expected (Poisson p = {p_value:.3g}; units "
            "treated as independent)", source=SOURCE)
    ck.true("BN removes saturation: fraction under BN ≪ without",
            float(bprof.saturated_fraction[1:].max()) < float(prof.saturated_fraction[1:].min())
            / 100, f"max {bprof.saturated_fraction[1:].max():.3g} vs min "
            f"{prof.saturated_fraction[1:].min():.3g}")

    ck.section("what it means for the gradient factor E[σ′(√q z)²]")
    with_bn = vg.gaussian_expectation(sig.derivative**2, 1)
    without = vg.gaussian_expectation(sig.derivative**2, fp.q_star)
    ck.step(f"E[σ′²] at q = 1 (BN): {float(with_bn):.6f}; at q* = {fp.q_star:.3f} (plain): "
            f"{float(without):.6f} — {float(with_bn) / float(without):.2f}× larger with BN")
    ck.true("E[σ′²] is larger where BN keeps the inputs", float(with_bn) > float(without),
            f"{float(with_bn):.6f} > {float(without):.6f}", source=SOURCE)
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
