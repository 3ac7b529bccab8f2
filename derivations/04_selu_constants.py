"""Klambauer et al. 2017: SELU's λ and α from the self-normalising fixed point.

Klambauer, Unterthiner, Mayr & Hochreiter, "Self-Normalizing Neural Networks", NeurIPS 2017,
arXiv:1706.02515, Sec. 3 and eqs. (4)–(5): with normalised weights (Σ w_i = 0, Σ w_i² = 1)
and inputs of mean 0 and variance 1, the pre-activation is z ~ N(0, 1), and (μ, ν) = (0, 1)
is a fixed point of the moment map exactly when

    E[selu(z)] = 0    and    E[selu(z)²] = 1,    selu(z) = λ (z if z > 0 else α(e^z − 1)).

Write selu = λ (r + α m) with r(z) = max(z, 0) and m(z) = (e^z − 1)·1[z ≤ 0]; r m = 0, so

    E[r] + α E[m] = 0  ⇒  α = −E[r]/E[m],     λ² (E[r²] + α² E[m²]) = 1.

The four Gaussian expectations are exact closed forms from ``vg.gaussian_expectation`` (split
at the kink, completed squares, erfc); α and λ follow in closed form and are evaluated with
mpmath at 50 digits. Independently, the same two equations are solved by mpmath.findroot on
numerical quadrature. Both are compared with the published constants (32 digits) and with
vgmath's catalog — which the derivation never reads — and the fixed point is checked by
mean-field theory (stable, attracting) and Monte Carlo.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import mpmath
import sympy as sp
from _checks import ALPHA, Checks, parse_args, verdict

import vgmath as vg

SOURCE = "Klambauer et al. 2017, arXiv:1706.02515, eqs. (14)-(15) and Sec. 3"
#: The published constants (Klambauer et al. 2017, 32 significant digits).
PUBLISHED_LAMBDA = "1.0507009873554804934193349852946"
PUBLISHED_ALPHA = "1.6732632423543772848170429916717"
#: Published to 32 significant digits: rounding leaves at most 5e-32 relative error.
PUBLISHED_REL = 1e-30
#: The requirement of this derivation: at least 15 significant digits.
DIGITS = 15


def expectations() -> dict[str, sp.Expr]:
    """E[r], E[m], E[r²], E[m²] for z ~ N(0, 1), exact, from vgmath."""
    x = vg.x
    r = sp.Piecewise((0, x <= 0), (x, True))
    m = sp.Piecewise((sp.exp(x) - 1, x <= 0), (0, True))
    return {
        "E[r]": vg.gaussian_expectation(r, 1),
        "E[m]": vg.gaussian_expectation(m, 1),
        "E[r²]": vg.gaussian_expectation(r**2, 1),
        "E[m²]": vg.gaussian_expectation(m**2, 1),
    }


def solve_closed_form(e: dict[str, sp.Expr]) -> tuple[sp.Expr, sp.Expr]:
    """(λ, α) in closed form from the two fixed-point conditions."""
    lam, alpha = sp.symbols("lambda alpha", positive=True)
    a = sp.solve(sp.Eq(e["E[r]"] + alpha * e["E[m]"], 0), alpha)[0]
    second = e["E[r²]"] + a**2 * e["E[m²]"]
    lam_sol = next(s for s in sp.solve(sp.Eq(lam**2 * second, 1), lam) if s.is_positive)
    return sp.simplify(lam_sol), sp.simplify(a)


def solve_by_quadrature(dps: int = 40) -> tuple[mpmath.mpf, mpmath.mpf]:
    """The same conditions solved numerically: quadrature for the moments, findroot for
    (λ, α). Independent of vgmath's closed forms."""
    with mpmath.workdps(dps):
        pdf = lambda z: mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731

        def selu(z: mpmath.mpf, lam: mpmath.mpf, al: mpmath.mpf) -> mpmath.mpf:
            return lam * (z if z > 0 else al * (mpmath.exp(z) - 1))

        def equations(lam: mpmath.mpf, al: mpmath.mpf) -> list[mpmath.mpf]:
            def moment(k: int) -> mpmath.mpf:
                f = lambda z: selu(z, lam, al) ** k * pdf(z)  # noqa: E731
                return mpmath.quad(f, [-mpmath.inf, 0]) + mpmath.quad(f, [0, mpmath.inf])

            return [moment(1), moment(2) - 1]

        lam, al = mpmath.findroot(equations, (mpmath.mpf(1), mpmath.mpf(1.5)))
        return +lam, +al


def check_constants(
    ck: Checks, lam: sp.Expr | mpmath.mpf, alpha: sp.Expr | mpmath.mpf, *, how: str,
    published_lambda: str = PUBLISHED_LAMBDA, published_alpha: str = PUBLISHED_ALPHA,
    rel: float = PUBLISHED_REL,
) -> bool:
    """Compare derived (λ, α) with the published values to relative accuracy ``rel``."""
    ok = ck.close(f"λ ({how})", lam, published_lambda, rel=rel, source=SOURCE)
    return ck.close(f"α ({how})", alpha, published_alpha, rel=rel, source=SOURCE) and ok


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Klambauer et al. 2017: SELU's λ and α from the fixed point", latex=args.latex)

    ck.section("the four Gaussian expectations (vg.gaussian_expectation, exact)")
    e = expectations()
    for name, value in e.items():
        ck.step(f"{name}:", value, lhs=name)
    ck.exact("E[r] = 1/√(2π)", e["E[r]"], 1 / sp.sqrt(2 * sp.pi), source="half-normal mean")
    ck.exact("E[r²] = 1/2", e["E[r²]"], sp.Rational(1, 2), source="half of E[z²] = 1")

    ck.section("solving E[selu(z)] = 0 and E[selu(z)²] = 1")
    lam, alpha = solve_closed_form(e)
    ck.step("α = −E[r]/E[m]:", alpha, lhs="α")
    ck.step("λ = (E[r²] + α² E[m²])^(−1/2):", lam, lhs="λ")
    ck.step(f"λ ≈ {sp.N(lam, 40)}")
    ck.step(f"α ≈ {sp.N(alpha, 40)}")
    check_constants(ck, lam, alpha, how="closed form, 32 published digits")
    ck.true(f"agreement to at least {DIGITS} significant digits",
            all(abs(float(sp.N(v / sp.Float(p, 40) - 1, 30))) < 0.5 * 10.0**-DIGITS
                for v, p in ((lam, PUBLISHED_LAMBDA), (alpha, PUBLISHED_ALPHA))),
            f"|derived/published − 1| < 5e-{DIGITS + 1} for both")
    q_lam, q_alpha = solve_by_quadrature(dps=20 if args.fast else 40)
    check_constants(ck, q_lam, q_alpha, how="findroot on quadrature",
                    rel=1e-16 if args.fast else PUBLISHED_REL)
    catalog = vg.activation("selu").params
    ck.close("λ equals vgmath's catalog constant", lam, catalog["scale"], rel=1e-45,
             source="vgmath.symbolic.catalog (Klambauer's closed form)")
    ck.close("α equals vgmath's catalog constant", alpha, catalog["alpha"], rel=1e-45,
             source="vgmath.symbolic.catalog (Klambauer's closed form)")

    ck.section("the fixed point under mean-field theory and simulation")
    fp = vg.fixed_point("selu", 1, 0, q0=1.0)
    ck.step(f"vg.fixed_point('selu', σ_w² = 1): q* = {fp.q_star:.15g}, slope χ_q = "
            f"{fp.slope:.6g}, stable = {fp.stable}")
    # the moments are accurate to ~1e-12 relative (vgmath.theory.gaussian), so q* = 1 to ~1e-11
    ck.within("q* = 1 (ν = 1 is the fixed point)", fp.q_star, 1.0, tol=1e-10,
              why="10× the 1e-12 accuracy of the Gaussian moments", source=SOURCE)
    ck.true("the fixed point attracts (χ_q < 1)", fp.stable and fp.slope < 1,
            f"χ_q = {fp.slope:.6g}", source=SOURCE + ", Theorem 1")
    depth, width, trials = (10, 64, 200) if args.fast else (30, 128, 1000)
    chain = vg.Chain("selu", init="lecun", depth=depth, width=width)
    res = vg.verify(chain, "1", quantity="q", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("Monte Carlo: q^l = 1 at every layer (lecun init, unit input)", res.passed,
            verdict(res))
    far = chain.replace(input_q=4)
    deep = vg.predict(far.replace(depth=400))
    ck.step(f"from q^0 = 4 the theory reaches q^400 = {deep.q[-1]:.15g}")
    ck.within("q^l → 1 from q^0 = 4 (theory, 400 layers)", deep.q[-1], 1.0, tol=1e-10,
              why="10× the 1e-12 accuracy of the Gaussian moments", source=SOURCE)
    res = vg.verify(far, quantity="q", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("Monte Carlo supports the approach to q* = 1 from q^0 = 4", res.passed, verdict(res))
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
