"""Deep tanh networks train only within a few correlation depth scales: L ≲ 6 ξ_c.

Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017 ("Deep information propagation",
arXiv:1611.01232, §5, Fig. 5) trained fully connected tanh networks over a grid of weight
variances σ_w² and depths L at σ_b² = 0.05 and found the trainable region bounded by
L ≈ 6 ξ_c, where

    ξ_c = −1 / ln χ_c,    χ_c = σ_w² E[φ′(√q* z)²]   (the slope of the correlation map at c* = 1
                                                       in the ordered phase)

diverges at the edge of chaos χ₁ = 1 (σ_w² ≈ 1.76 for σ_b² = 0.05): information about the
input survives ~ξ_c layers, so a network deeper than a few ξ_c cannot be trained.

Here: ξ_c from vgmath's mean-field theory (vg.fixed_point), then an actual training study
(vgmath.training.trainability: SGD on scikit-learn's digits, a fixed budget per cell) over the
same (σ_w², L) grid, and the fraction of cells where "trainable" (test accuracy ≥ 0.5, chance
0.1) agrees with L < 6 ξ_c.

Full settings take about 8 minutes on two cores; ``--fast`` a few seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from _checks import Checks, parse_args

import vgmath as vg

SOURCE = "Schoenholz et al. 2017, arXiv:1611.01232"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    from vgmath.training import trainability

    ck = Checks("Trainability follows 6 ξ_c (Schoenholz et al. 2017)", latex=args.latex)
    ck.section("the correlation depth scale from mean-field theory (σ_b² = 0.05)")
    cp = vg.critical_point("tanh", sigma_b2="1/20")
    ck.step(f"edge of chaos: σ_w² = {float(cp.sigma_w2):.4f} (χ₁ = 1)")
    # the paper's Fig. 5 marks the critical line at σ_w² ≈ 1.76 for σ_b² = 0.05 (two decimals)
    ck.within("critical σ_w² at σ_b² = 0.05", float(cp.sigma_w2), 1.76, tol=0.005,
              why="half a unit in the last published decimal", source=SOURCE)
    for sw in (1.0, 1.5, 2.0, 3.0):
        fp = vg.fixed_point("tanh", sw, "1/20")
        ck.step(f"σ_w² = {sw:g}: q* = {fp.q_star:.4f}, χ_c = {fp.chi_c:.4f}, "
                f"ξ_c = {fp.xi_c:.2f}, 6 ξ_c = {6 * fp.xi_c:.1f} ({fp.phase})")
    near = vg.fixed_point("tanh", 1.74, "1/20").xi_c
    far = vg.fixed_point("tanh", 1.0, "1/20").xi_c
    ck.true("ξ_c grows without bound towards the edge of chaos", near > 10 * far,
            f"ξ_c(1.74) = {near:.1f} vs ξ_c(1.0) = {far:.2f}", source=SOURCE)

    ck.section("training: SGD on scikit-learn's digits over (σ_w², L)")
    if args.fast:
        sw2, depths, steps, width = [1.0, 1.75, 4.0], [4, 30], 300, 32
    else:
        sw2 = [1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0]
        depths = [5, 10, 15, 20, 30, 40, 60, 80, 100]
        steps, width = 500, 64
    tr = trainability(sw2, depths, sigma_b2=0.05, width=width, steps=steps, lr=0.01,
                      batch=64, log_every=steps, seed=args.seed, workers=2 if not args.fast
                      else 1)
    with np.printoptions(precision=2, linewidth=120):
        ck.step("final test accuracy (rows σ_w², columns L = " + " ".join(map(str, depths))
                + "):\n" + "\n".join(f"  {s:>5g}: {row}" for s, row in zip(sw2, tr.accuracy,
                                                                           strict=True)))
    ck.step(tr.summary())
    i_crit = int(np.argmin([abs(s - 1.75) for s in sw2]))
    i_ord = sw2.index(1.0)
    # a depth beyond 6 ξ_c of the ordered network but within that of the critical one
    between = [j for j, d in enumerate(depths) if 6 * tr.xi_c[i_ord] < d < 6 * tr.xi_c[i_crit]]
    ck.true("there is a depth beyond 6 ξ_c(σ_w² = 1) and within 6 ξ_c(critical)",
            bool(between), f"6 ξ_c = {6 * tr.xi_c[i_ord]:.1f} and {6 * tr.xi_c[i_crit]:.1f}")
    if between:
        j = between[0]
        ck.true(f"at L = {depths[j]}, the network near the edge of chaos trains",
                bool(tr.trainable[i_crit, j]),
                f"test accuracy {tr.accuracy[i_crit, j]:.2f} (σ_w² = {sw2[i_crit]:g})",
                source=SOURCE)
        ck.true(f"at L = {depths[j]}, the ordered network (σ_w² = 1) does not",
                not bool(tr.trainable[i_ord, j]),
                f"test accuracy {tr.accuracy[i_ord, j]:.2f}", source=SOURCE)
    # The paper reports the trainable region bounded by 6 ξ_c; required here: 3 cells in 4.
    ck.true("trainable ⇔ L < 6 ξ_c on at least 75% of the cells", tr.agreement >= 0.75,
            f"agreement {100 * tr.agreement:.0f}% of {tr.accuracy.size} cells", source=SOURCE)
    # For comparison, the best boundary that ignores σ_w² (trainable ⇔ L < L0, best L0):
    d = np.asarray(depths)
    cut = max((float(np.mean(tr.trainable == (d[None, :] < L0))), L0)
              for L0 in range(1, int(d.max()) + 2))
    ck.step(f"best σ_w²-independent boundary L < {cut[1]}: agreement {100 * cut[0]:.0f}% "
            "(the budget caps every row at large L; 6 ξ_c adds the band around criticality)")
    deepest = [max([dd for dd, ok in zip(depths, row, strict=True) if ok], default=0)
               for row in tr.trainable]
    ck.step("deepest trainable depth vs 6 ξ_c per σ_w²: " + "; ".join(
        f"{s:g}: {dd} vs {6 * x:.0f}" for s, dd, x in zip(sw2, deepest, tr.xi_c, strict=True)))
    if not args.fast:
        ck.true("the trainable depth peaks near the edge of chaos (a band, not a cut)",
                deepest[i_ord] < max(deepest) and deepest[-1] < max(deepest),
                f"deepest trainable: σ_w² = 1 → {deepest[i_ord]}, critical → "
                f"{deepest[i_crit]}, σ_w² = {sw2[-1]:g} → {deepest[-1]}", source=SOURCE)
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
