"""sigmoid′ ≤ 1/4 and tanh′ ≤ 1 from the critical points; the (1/4)^L chain; saturation.

The textbook argument for vanishing gradients (Hochreiter 1991; Bengio, Simard & Frasconi
1994, IEEE TNN 5(2):157–166): back-propagating through L sigmoid units multiplies the
gradient by ∏ σ′(x_i) ≤ (1/4)^L. Here every piece is derived with SymPy:

1. φ″ = 0 gives the critical points of φ′; with the limits at ±∞ they give sup φ′
   (1/4 for the sigmoid, 1 for tanh, both at x = 0), compared with vgmath's certified bound.
2. The chain bound (1/4)^L and the depth where it falls below 10⁻³ (L = 5).
3. The saturation thresholds: |σ′(x)| < ε ⇔ |x| > ln((1 + √(1−4ε))/(1 − √(1−4ε))) and
   |tanh′(x)| < ε ⇔ |x| > artanh(√(1−ε)), solved by hand and compared with
   ``act.saturation_region(ε)``.
4. Sampling: the product of σ′ along many random chains never exceeds (1/4)^L, and
   :func:`vgmath.verify_bound` confirms sup σ′ = 1/4 (and refutes 0.24) by certification
   and by sampling φ′.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
import sympy as sp
from _checks import Checks, parse_args

import vgmath as vg

LITERATURE = {
    "sigmoid_sup": (sp.Rational(1, 4), "Bengio, Simard & Frasconi 1994; Hochreiter 1991"),
    "tanh_sup": (sp.Integer(1), "Pascanu, Mikolov & Bengio 2013, Sec. 3.1: γ = 1 for tanh"),
}


def critical_point_sup(act: vg.Activation) -> tuple[list[sp.Expr], sp.Expr]:
    """Real solutions of φ″(x) = 0 and the largest of φ′ there and at ±∞."""
    x = vg.x
    d2 = sp.simplify(act.second_derivative.rewrite(sp.exp))
    roots = sorted(sp.solveset(sp.numer(sp.together(d2)), x, sp.S.Reals), key=float)
    values = [sp.simplify(act.derivative.subs(x, r)) for r in roots]
    limits = [sp.limit(act.derivative, x, s) for s in (sp.oo, -sp.oo)]
    return roots, sp.Max(*values, *limits)


def saturation_threshold(name: str, eps: sp.Expr) -> sp.Expr:
    """x_ε > 0 with |φ′(x)| < ε ⇔ |x| > x_ε, solved by hand.

    sigmoid: σ′ = s(1 − s) = ε ⇔ s = (1 + √(1 − 4ε))/2 (x > 0), x = ln(s/(1 − s));
    tanh: 1 − tanh²x = ε ⇔ tanh x = √(1 − ε), x = artanh √(1 − ε)."""
    if name == "sigmoid":
        r = sp.sqrt(1 - 4 * eps)
        return sp.log((1 + r) / (1 - r))
    return sp.atanh(sp.sqrt(1 - eps))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("sigmoid′ ≤ 1/4, tanh′ ≤ 1, the (1/4)^L chain and saturation", latex=args.latex)
    eps = sp.Rational(1, 100)

    for name in ("sigmoid", "tanh"):
        act = vg.activation(name)
        ck.section(f"{name}: critical points of φ′")
        ck.step("φ(x):", act.expr, lhs="φ")
        ck.step("φ′(x):", sp.simplify(act.derivative), lhs="φ′")
        ck.step("φ″(x):", sp.simplify(act.second_derivative), lhs="φ″")
        roots, sup = critical_point_sup(act)
        ck.step("real roots of φ″ = 0:", sp.FiniteSet(*roots), lhs="x")
        ck.step("φ′ there, and φ′(±∞) = 0, so sup φ′:", sup, lhs="sup φ′")
        ref, source = LITERATURE[f"{name}_sup"]
        ck.exact(f"sup {name}′ from the critical points", sup, ref, source=source)
        bound = act.derivative_bound()
        ck.step(f"vgmath's certified bound: {bound}")
        ck.exact(f"certified sup {name}′ (vg.derivative_bound)", bound.sup, ref, source=source)
        ck.true(f"sup {name}′ attained at x = 0", bound.argsup == 0 and bound.attained,
                f"argsup = {bound.argsup}, attained = {bound.attained}")

        ck.section(f"{name}: saturation |φ′(x)| < {eps}")
        x_eps = saturation_threshold(name, eps)
        ck.step("threshold solved by hand:", x_eps, lhs="x_ε")
        region = act.saturation_region(eps)
        ck.step(f"vg.saturation_region: {region}")
        ck.true(f"{name}: the region has two boundary points", len(region.boundaries) == 2,
                f"boundaries {region.boundaries}")
        for b, e in zip(region.boundaries, (-x_eps, x_eps), strict=False):
            ck.close(f"{name} saturation boundary {sp.N(e, 6)} (hand vs vgmath)", b, e,
                     rel=1e-25, source="certified to 30 digits by vg.saturation_region")
        # 5-digit reference values: ln((1+√0.96)/(1−√0.96)) = 4.5848…, artanh(√0.99) = 2.9932…
        ref_x, formula = {"sigmoid": ("4.5848", "ln((1+√0.96)/(1−√0.96))"),
                          "tanh": ("2.9932", "artanh(√0.99)")}[name]
        ck.close(f"{name} threshold x_ε", x_eps, ref_x, rel=5e-5,
                 source=f"{formula} = {ref_x}…, 5 digits")

    ck.section("the chain bound ∏ σ′(x_i) ≤ (1/4)^L")
    sig = vg.activation("sigmoid")
    chain = sig.chain_bound(eps=sp.Rational(1, 1000))
    ck.step(str(chain), chain.expression, lhs="bound")
    ck.exact("(1/4)^5 = 1/1024", sig.chain_bound(depth=5).bound, sp.Rational(1, 1024),
             source="Bengio et al. 1994")
    # smallest L with 4^-L < 10^-3: 4^4 = 256 < 1000 < 1024 = 4^5
    ck.true("(1/4)^L < 10⁻³ from L = 5 on", chain.min_depth == 5,
            f"min_depth = {chain.min_depth} (4⁴ = 256 < 1000 < 4⁵ = 1024)")
    tanh_chain = vg.activation("tanh").chain_bound(eps=sp.Rational(1, 1000))
    ck.true("tanh: sup|φ′| = 1, so the bound never certifies vanishing",
            not tanh_chain.vanishes and tanh_chain.min_depth is None, str(tanh_chain))

    ck.section("simulation: products of σ′ along random chains")
    rng = np.random.default_rng(np.random.SeedSequence(args.seed))
    L, n = (10, 20_000) if args.fast else (20, 200_000)
    xs = rng.standard_normal((n, L)) * rng.uniform(0.0, 5.0, size=(n, 1))
    log_prod = np.log(sig.grad(xs)).sum(axis=1)
    worst = float(log_prod.max())
    ck.true(f"max over {n} random chains of ln ∏ σ′(x_i) ≤ L ln(1/4)",
            worst <= L * np.log(0.25) + 1e-12,
            f"max {worst:.4f} ≤ {L * np.log(0.25):.4f} (L = {L})")
    exact_mean = vg.gaussian_expectation(sig.derivative, 1)
    ck.step(f"typical factor E[σ′(z)], z ~ N(0, 1): {exact_mean.value:.6f} < 1/4 — the "
            "bound is the best case, typical chains vanish faster")
    good = vg.verify_bound("sigmoid", "1/4", samples=2000 if args.fast else 20000, seed=args.seed)
    bad = vg.verify_bound("sigmoid", "0.24", samples=2000 if args.fast else 20000, seed=args.seed)
    ck.true("vg.verify_bound: 'σ′ ≤ 1/4' holds, 'σ′ ≤ 0.24' is refuted",
            bool(good.holds) and bad.holds is False, f"{good.verdict}; {bad.verdict}")
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
