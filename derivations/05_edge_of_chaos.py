"""Schoenholz et al. 2017: tanh's edge of chaos and the depth scales ξ_q, ξ_c, ξ_∇.

Schoenholz, Gilmer, Ganguli & Sohl-Dickstein, "Deep information propagation", ICLR 2017,
arXiv:1611.01232 (and Poole et al. 2016, arXiv:1606.05340). For W_ij ~ N(0, σ_w²/n),
b ~ N(0, σ_b²) and z, z₁, z₂ i.i.d. N(0, 1):

* variance map  q ↦ σ_w² E[φ(√q z)²] + σ_b² (their eq. (3)), fixed point q*, slope
  χ_q = σ_w² E[φ′(√q* z)² + φ(√q* z) φ″(√q* z)], depth scale ξ_q = −1/ln χ_q (eq. (6));
* correlation map  c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q*, u₁ = √q* z₁,
  u₂ = √q* (c z₁ + √(1−c²) z₂) (eq. (4)); its slope at c = 1 is
  χ₁ = σ_w² E[φ′(√q* z)²] (eq. (5)); ordered (χ₁ < 1: c* = 1) or chaotic (χ₁ > 1: c* < 1);
  ξ_c = −1/ln χ_c with χ_c = σ_w² E[φ′(u₁)φ′(u₂)] at c* (eq. (9));
* gradients: E[(g^{l−1})²] = χ₁ E[(g^l)²] at the fixed point, so ξ_∇ = −1/ln χ₁ (Sec. 5).

The edge of chaos χ₁ = 1 makes ξ_c and ξ_∇ diverge. Here everything is computed from first
principles with Gauss–Hermite quadrature and root finding (NumPy/SciPy), compared with
``vg.critical_point``, ``vg.critical_line`` and ``vg.fixed_point``, and the gradient depth
scale is checked against Monte Carlo (``vg.verify``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
from _checks import ALPHA, Checks, parse_args, verdict
from scipy import optimize

import vgmath as vg

SOURCE = "Schoenholz et al. 2017, arXiv:1611.01232"
#: Composite Gauss–Legendre rule on [−10, 10] (40 panels × 16 nodes) for z ~ N(0, 1): the
#: mass beyond |z| = 10 is 1.5e-23, and tanh's poles (at distance π/(2√q) from the real axis)
#: are far from every panel for q ≤ 2, so E[f(√q z)] is exact to rounding (checked below
#: against a rule twice as fine). (Gauss–Hermite converges only algebraically here: tanh is
#: not entire.)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)
_EDGES = np.linspace(-10.0, 10.0, 41)
_MID, _HALF = (_EDGES[1:] + _EDGES[:-1]) / 2, (_EDGES[1:] - _EDGES[:-1]) / 2
NODES = (_MID[:, None] + _HALF[:, None] * _GL_X[None, :]).ravel()
WEIGHTS = (_HALF[:, None] * _GL_W[None, :]).ravel() * np.exp(-NODES**2 / 2) / math.sqrt(
    2 * math.pi)


def e1(f: object, q: float, nodes: np.ndarray = NODES, weights: np.ndarray = WEIGHTS) -> float:
    return float(weights @ f(math.sqrt(q) * nodes))  # type: ignore[operator]


def e2(f: object, g: object, q: float, c: float) -> float:
    z1, z2 = NODES[:, None], NODES[None, :]
    u1 = math.sqrt(q) * z1
    u2 = math.sqrt(q) * (c * z1 + math.sqrt(max(0.0, 1 - c * c)) * z2)
    return float(WEIGHTS @ (f(u1) * g(u2)) @ WEIGHTS)  # type: ignore[operator]


def tanh2(u: np.ndarray) -> np.ndarray:
    return np.tanh(u) ** 2


def sech4(u: np.ndarray) -> np.ndarray:
    return 1.0 / np.cosh(u) ** 4


def dtanh(u: np.ndarray) -> np.ndarray:
    return 1.0 / np.cosh(u) ** 2


def phi_phi2(u: np.ndarray) -> np.ndarray:  # φ φ″ for tanh: tanh · (−2 tanh sech²)
    return -2.0 * np.tanh(u) ** 2 / np.cosh(u) ** 2


def q_star(sw2: float, sb2: float) -> float:
    """The fixed point of the variance map (q = 0 when σ_b² = 0 and σ_w² ≤ 1)."""
    if sb2 == 0 and sw2 <= 1:
        return 0.0
    return optimize.brentq(lambda q: sw2 * e1(tanh2, q) + sb2 - q, 1e-12, 10.0, xtol=1e-15)


def chi_1(sw2: float, sb2: float) -> float:
    q = q_star(sw2, sb2)
    return sw2 * e1(sech4, q) if q > 0 else sw2


def critical_sigma_w2(sb2: float) -> float:
    """σ_w² with χ₁ = 1 (solved from first principles)."""
    return optimize.brentq(lambda s: chi_1(s, sb2) - 1, 1.0, 4.0, xtol=1e-14)


def depth_scales(sw2: float, sb2: float) -> dict[str, float]:
    q = q_star(sw2, sb2)
    chi_q = sw2 * (e1(sech4, q) + e1(phi_phi2, q))
    x1 = sw2 * e1(sech4, q)
    c = 1.0
    if x1 > 1:  # chaotic: the stable c* < 1 of the correlation map (c = 1 repels)
        c = optimize.brentq(lambda c: (sw2 * e2(np.tanh, np.tanh, q, c) + sb2) / q - c,
                            0.0, 0.999, xtol=1e-15)
    chi_c = sw2 * e2(dtanh, dtanh, q, c)
    return {"q_star": q, "chi_q": chi_q, "xi_q": -1 / math.log(chi_q), "chi_1": x1,
            "c_star": c, "chi_c": chi_c, "xi_c": -1 / math.log(chi_c)}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Schoenholz et al. 2017: tanh's edge of chaos and depth scales", latex=args.latex)

    ck.section("quadrature accuracy")
    x2, w2 = np.polynomial.legendre.leggauss(32)
    nodes2 = (_MID[:, None] + _HALF[:, None] * x2[None, :]).ravel()
    weights2 = (_HALF[:, None] * w2[None, :]).ravel() * np.exp(-nodes2**2 / 2) / math.sqrt(
        2 * math.pi)
    for f, label in ((tanh2, "tanh²"), (sech4, "sech⁴")):
        ck.within(f"16- vs 32-node panels, E[{label}(√2 z)]", e1(f, 2.0),
                  e1(f, 2.0, nodes2, weights2), tol=1e-14, why="the accuracy relied on below")

    ck.section("σ_b² = 0: q* = 0 and χ₁ = σ_w² φ′(0)² = σ_w², so the edge is σ_w² = 1")
    cp0 = vg.critical_point("tanh")
    ck.step(f"vg.critical_point('tanh'): σ_w² = {cp0.sigma_w2}")
    ck.true("σ_w² = 1 exactly at σ_b² = 0", cp0.sigma_w2 == 1,
            f"{cp0.sigma_w2}", source=SOURCE + ", Fig. 1 (the critical line starts at (1, 0))")

    ck.section("σ_b² > 0: solve q* = σ_w² E[tanh²] + σ_b² and σ_w² E[sech⁴(√q* z)] = 1")
    sb2s = [0.01, 0.05] if args.fast else [0.01, 0.05, 0.1, 0.2]
    mine = [critical_sigma_w2(s) for s in sb2s]
    line = vg.critical_line("tanh", sb2s)
    for s, m, v in zip(sb2s, mine, line.tolist(), strict=True):
        ck.step(f"σ_b² = {s}: σ_w² = {m:.12f} (first principles), {v:.12f} (vg.critical_line)")
        # vgmath states ~1e-11 for its σ_w²; the brentq root here is good to ~1e-13
        ck.within(f"edge of chaos at σ_b² = {s}", v, m, tol=1e-9,
                  why="100× vgmath's stated accuracy (~1e-11)", source=SOURCE)
    ck.true("the critical σ_w² increases with σ_b²", all(np.diff(mine) > 0),
            f"{[round(m, 6) for m in mine]}", source=SOURCE + ", Fig. 1")

    ck.section("depth scales (Schoenholz et al. eqs. (6), (9))")
    sb2 = 0.05
    crit = critical_sigma_w2(sb2)
    for sw2 in (1.2, 2.5):
        d = depth_scales(sw2, sb2)
        fp = vg.fixed_point("tanh", sw2, sb2)
        ck.step(f"σ_w² = {sw2}, σ_b² = {sb2}: q* = {d['q_star']:.10f}, χ₁ = {d['chi_1']:.10f}, "
                f"c* = {d['c_star']:.10f}, ξ_q = {d['xi_q']:.8f}, ξ_c = {d['xi_c']:.8f} "
                f"({fp.phase})")
        for key, theirs in (("q_star", fp.q_star), ("chi_1", fp.chi_1), ("xi_q", fp.xi_q),
                            ("c_star", fp.c_star), ("xi_c", fp.xi_c)):
            # both sides rest on 1-d/2-d Gaussian integrals good to ~1e-12 and roots of
            # slope O(1); depth scales amplify by ξ²·|d ln χ| ≈ ξ² · 1e-12
            tol = 1e-8 * max(1.0, abs(d[key]))
            ck.within(f"{key} at σ_w² = {sw2}", float(theirs), d[key], tol=tol,
                      why="1e-8 relative: quadrature and root accuracy, amplified by ξ")
        if d["chi_1"] < 1:
            ck.within("ordered phase: c* = 1 and ξ_c = −1/ln χ₁", d["xi_c"],
                      -1 / math.log(d["chi_1"]), tol=1e-9 * d["xi_c"],
                      why="identity of eq. (9) at c* = 1", source=SOURCE + ", eq. (9)")
    approach = [crit * (1 - 10.0**-k) for k in (1, 2, 3)]
    xis = [depth_scales(s, sb2)["xi_c"] for s in approach]
    ck.step(f"approaching the edge σ_w² → {crit:.6f}: ξ_c = {[round(v, 2) for v in xis]}")
    ck.true("ξ_c diverges at the edge of chaos", xis[0] < xis[1] < xis[2] and xis[2] > 100,
            f"ξ_c = {xis[-1]:.1f} at 0.1% below the edge", source=SOURCE + ", Fig. 3")

    ck.section("gradients: E[(g^l)²] ∝ χ₁^(L−l), ξ_∇ = −1/ln χ₁ (Monte Carlo, vg.verify)")
    depth, width, trials = (16, 128, 200) if args.fast else (40, 256, 600)
    for sw2 in (1.2, 2.5):
        chain = vg.Chain("tanh", init={"scheme": "custom", "sigma_w2": sw2}, depth=depth,
                         width=width, sigma_b2=sb2)
        pred = vg.predict(chain)
        # the recursion by hand from q^0 = input_q: q^1 = σ_w² q^0 + σ_b², then the map
        q = [1.0, sw2 * 1.0 + sb2]
        for _ in range(depth - 1):
            q.append(sw2 * e1(tanh2, q[-1]) + sb2)
        chi = [sw2 * e1(sech4, v) for v in q[1:]]
        ck.within(f"σ_w² = {sw2}: vg.predict's q^l equals the hand recursion (max over l)",
                  float(np.max(np.abs(pred.q[1:] - q[1:]))), 0.0, tol=1e-10,
                  why="100× the 1e-12 accuracy of vgmath's moments")
        ck.within(f"σ_w² = {sw2}: vg.predict's χ^l = σ_w² E[sech⁴(√q^l z)] (max over l)",
                  float(np.max(np.abs(pred.chi[1:] - chi))), 0.0, tol=1e-10,
                  why="100× the 1e-12 accuracy of vgmath's moments")
        x1 = depth_scales(sw2, sb2)["chi_1"]
        trend = "vanish" if x1 < 1 else "explode"
        ck.step(f"χ^L = {chi[-1]:.8f} → χ₁ = {x1:.8f} as q^l → q*: gradients {trend} on the "
                f"depth scale ξ_∇ = 1/|ln χ₁| = {1 / abs(math.log(x1)):.4g}")
        res = vg.verify(chain, trials=trials, seed=args.seed, alpha=ALPHA)
        ck.true(f"σ_w² = {sw2}: simulation supports the theory (χ₁ = {x1:.4g})",
                res.passed, verdict(res), source=SOURCE + ", Sec. 5")
        if x1 < 1:
            res = vg.verify(chain, "1", trials=trials, seed=args.seed, alpha=ALPHA)
            ck.true("ordered phase: the false claim 'gradients preserved' is rejected",
                    res.verdict == "FAIL", verdict(res))
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
