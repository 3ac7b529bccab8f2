"""He et al. 2015: Var(W) = 2/n for ReLU and 2/((1 + a²) n) for leaky ReLU / PReLU.

He, Zhang, Ren & Sun, "Delving deep into rectifiers", ICCV 2015, arXiv:1502.01852, Sec. 2.2:
for h^l = W^l x^{l-1} with zero-mean weights, Var[h^l] = n_{l-1} Var[W^l] E[(x^{l-1})²], and
for a rectifier E[x²] = ½ Var[h] (not Var[h] as in the linear case). Keeping the pre-
activation variance fixed requires ½ n_l Var[W^l] = 1 (their eq. (10)); the backward pass
gives ½ n̂_l Var[W^l] = 1 with n̂ the fan-out (eq. (14)); for PReLU with slope a the factor ½
becomes ½(1 + a²) (eq. (15)).

Here E[φ(√q z)²] and E[φ′(√q z)²] are computed piece by piece with vgmath's exact Gaussian
expectations (``vg.gaussian_expectation``) for a *symbolic* slope a, the conditions are solved,
and the result is compared with ``vg.init_variance("he", negative_slope=a)``, with the exact
mean-field prediction χ = 1 and with Monte Carlo (``vg.verify``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import sympy as sp
from _checks import ALPHA, Checks, parse_args, verdict

import vgmath as vg

SOURCE = "He et al. 2015, arXiv:1502.01852, Sec. 2.2, eqs. (10), (14), (15)"


def he_variance() -> dict[str, sp.Expr]:
    """E[φ²] and E[φ′²] for leaky ReLU with a symbolic slope, and the two conditions."""
    x, q = vg.x, vg.q
    a = sp.Symbol("a", nonnegative=True)
    n = sp.Symbol("n", positive=True, integer=True)
    v = sp.Symbol("v", positive=True)

    def right(e: sp.Expr) -> sp.Expr:
        return sp.Piecewise((0, x <= 0), (e, True))

    def left(e: sp.Expr) -> sp.Expr:
        return sp.Piecewise((e, x <= 0), (0, True))

    # φ(x) = x (x > 0), a x (x ≤ 0): φ² = x² on the right, a² x² on the left
    phi2 = vg.gaussian_expectation(right(x**2), q) + a**2 * vg.gaussian_expectation(left(x**2), q)
    dphi2 = vg.gaussian_expectation(right(sp.Integer(1)), q) + a**2 * vg.gaussian_expectation(
        left(sp.Integer(1)), q
    )
    forward = sp.solve(sp.Eq(n * v * phi2 / q, 1), v)[0]  # q^l = n v E[φ²(√q^{l-1} z)] = q^{l-1}
    backward = sp.solve(sp.Eq(n * v * dphi2, 1), v)[0]  # χ = n_out v E[φ′²] = 1
    return {"a": a, "n": n, "phi2": sp.factor(phi2), "dphi2": sp.factor(dphi2),
            "forward": forward, "backward": backward}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("He et al. 2015: Var(W) = 2/((1 + a²) n)", latex=args.latex)
    d = he_variance()
    a, n = d["a"], d["n"]

    ck.section("second moments through a leaky rectifier (slope a for x ≤ 0)")
    ck.step("E[φ(√q z)²], piece by piece:", d["phi2"], lhs="E[φ²]")
    ck.step("E[φ′(√q z)²]:", d["dphi2"], lhs="E[φ′²]")
    ck.exact("E[φ²] = (1 + a²) q/2", d["phi2"], (1 + a**2) * vg.q / 2, source=SOURCE)
    ck.step("forward: n Var(W) E[φ²]/q = 1 ⇒", d["forward"], lhs="Var(W)")
    ck.step("backward: n_out Var(W) E[φ′²] = 1 ⇒", d["backward"], lhs="Var(W)")
    ck.exact("forward condition: Var(W) = 2/((1 + a²) n)", d["forward"], 2 / ((1 + a**2) * n),
             source=SOURCE)
    ck.exact("backward condition gives the same rule (with n = fan-out)", d["backward"],
             d["forward"], source=SOURCE)
    ck.exact("ReLU (a = 0): Var(W) = 2/n", d["forward"].subs(a, 0), 2 / n, source=SOURCE)
    for slope in (sp.Integer(0), sp.Rational(1, 100), sp.Rational(1, 5), sp.Rational(1, 4)):
        ck.exact(f"vg.init_variance('he', negative_slope={slope})",
                 vg.init_variance("he", fan_in=n, negative_slope=slope),
                 d["forward"].subs(a, slope), source=SOURCE)

    ck.section("the mean-field prediction (vg.predict, exact)")
    depth, width, trials = (8, 64, 300) if args.fast else (20, 128, 1000)
    chains = {
        "relu + He": vg.Chain("relu", init="he", depth=depth, width=width),
        "leaky_relu(1/5) + He(1/5)": vg.Chain(
            vg.activation("leaky_relu", slope="1/5"),
            init={"scheme": "he", "negative_slope": "1/5"}, depth=depth, width=width),
    }
    for label, chain in chains.items():
        ex = vg.predict(chain).exact
        assert ex is not None
        # q^1 = σ_w² q_in (the input is not a rectifier's output); from then on q^l = q^{l-1}
        ck.true(f"{label}: χ = 1 and q^l = q^1 for every l ≥ 1, exactly",
                all(c == 1 for c in ex.chi[1:]) and all(v == ex.q[1] for v in ex.q[1:]),
                f"χ = {set(ex.chi[1:])}, q^1..q^L = {set(ex.q[1:])}", source=SOURCE)
    xav = vg.Chain("relu", init="xavier", depth=depth, width=width)
    xav_exact = vg.predict(xav).exact
    assert xav_exact is not None
    ck.exact("relu + Xavier: E[(g^0)²]/E[(g^L)²] = 2^-L", xav_exact.grad_second_moment[0],
             sp.Rational(1, 2**depth), source="He et al. 2015, Sec. 2.2 (the ½ factor per layer)")

    ck.section(f"Monte Carlo: {trials} random networks per claim (vg.verify)")
    for label, chain in chains.items():
        res = vg.verify(chain, "1", trials=trials, seed=args.seed, alpha=ALPHA)
        ck.true(f"{label}: E[(g^l)²] preserved (claim '1')", res.passed, verdict(res))
        q1 = float(chain.sigma_w2s[0] * chain.input_q)
        claim = [float(chain.input_q)] + [q1] * depth
        res = vg.verify(chain, claim, trials=trials, seed=args.seed, quantity="q", alpha=ALPHA)
        ck.true(f"{label}: q^l = q^1 = {q1:g} for l ≥ 1", res.passed, verdict(res))
    res = vg.verify(xav, "2**(-(L - l))", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("relu + Xavier: claim 2^-(L−l) supported", res.passed, verdict(res))
    res = vg.verify(xav, "1", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("relu + Xavier: false claim 'preserved' rejected", res.verdict == "FAIL", verdict(res))
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
