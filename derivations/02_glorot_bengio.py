"""Glorot & Bengio 2010: the forward and backward variance conditions and 2/(n_in + n_out).

Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural networks",
AISTATS 2010, Sec. 4.2: in the linear regime of a symmetric activation (f′(0) = 1), with
zero-mean i.i.d. weights,

    Var[h^l] = n_{l-1} Var[W^l] Var[x^{l-1}]          (forward, their eq. (5))
    Var[g^{l-1}] = n_l Var[W^l] Var[g^l]               (backward, their eq. (6))

Keeping both constant asks n_in Var[W] = 1 (eq. (10)) and n_out Var[W] = 1 (eq. (11)); the
compromise is Var[W] = 2/(n_in + n_out) (eq. (12)), drawn as U[−√6/√(n_in+n_out), +…]
(eq. (16)). Their "standard" U[−1/√n, 1/√n] gives n Var[W] = 1/3 (eq. (15)): the back-
propagated variance shrinks by 3 per layer in the linear regime.

Every step is derived with SymPy, compared with ``vg.init_variance("xavier")`` and the uniform
bound, and checked against Monte Carlo on linear chains (``vg.verify``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import sympy as sp
from _checks import ALPHA, Checks, parse_args, verdict

import vgmath as vg

SOURCE = "Glorot & Bengio 2010, AISTATS, Sec. 4.2"


def conditions() -> dict[str, sp.Expr]:
    """Solve the forward and backward conditions for Var(W) and form the compromise."""
    v = sp.Symbol("v", positive=True)
    n_in, n_out = vg.fan_in, vg.fan_out
    forward = sp.solve(sp.Eq(n_in * v, 1), v)[0]
    backward = sp.solve(sp.Eq(n_out * v, 1), v)[0]
    # the compromise: one Var(W) whose inverse is the average of the two fans,
    # i.e. the harmonic mean of the two conditions
    compromise = sp.simplify(2 / (1 / forward + 1 / backward))
    a = sp.Symbol("a", positive=True)
    w = sp.Symbol("w", real=True)
    uniform_var = sp.integrate(w**2 / (2 * a), (w, -a, a))  # Var of U[-a, a] = a²/3
    bound = sp.solve(sp.Eq(uniform_var, compromise), a)[0]
    n = sp.Symbol("n", positive=True, integer=True)
    standard = sp.simplify(n * uniform_var.subs(a, 1 / sp.sqrt(n)))
    return {
        "forward": forward,
        "backward": backward,
        "compromise": compromise,
        "uniform_var": uniform_var,
        "uniform_bound": bound,
        "standard_n_var": standard,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Glorot & Bengio 2010: Var(W) = 2/(n_in + n_out)", latex=args.latex)
    c = conditions()

    ck.section("the two conditions")
    ck.step("forward: n_in Var(W) = 1 keeps Var[h^l] constant:", c["forward"], lhs="Var(W)")
    ck.step("backward: n_out Var(W) = 1 keeps Var[g^l] constant:", c["backward"], lhs="Var(W)")
    ck.step("compromise (harmonic mean of the two):", c["compromise"], lhs="Var(W)")
    ck.exact("compromise = 2/(n_in + n_out), eq. (12)", c["compromise"],
             2 / (vg.fan_in + vg.fan_out), source=SOURCE)
    ck.exact("vg.init_variance('xavier') is the derived compromise",
             vg.init_variance("xavier"), c["compromise"], source=SOURCE)
    ck.step("Var of U[−a, a]:", c["uniform_var"], lhs="Var")
    ck.step("the uniform bound with the compromise variance:", c["uniform_bound"], lhs="a")
    ck.exact("a = √6/√(n_in + n_out), eq. (16)", c["uniform_bound"],
             sp.sqrt(6) / sp.sqrt(vg.fan_in + vg.fan_out), source=SOURCE)
    ck.exact("vg's xavier_uniform bound equals it",
             vg.Init.preset("xavier_uniform").uniform_bound(), c["uniform_bound"], source=SOURCE)
    ck.step("the 'standard' U[−1/√n, 1/√n]:", c["standard_n_var"], lhs="n Var(W)")
    ck.exact("n Var(W) = 1/3 for the standard init, eq. (15)", c["standard_n_var"],
             sp.Rational(1, 3), source=SOURCE)

    ck.section("theory of linear chains (vg.predict) against the conditions")
    depth, width, trials = (6, 32, 300) if args.fast else (12, 64, 1000)
    widths = [width if l % 2 == 0 else 2 * width for l in range(depth + 1)]
    square = vg.Chain("identity", init="xavier", depth=depth, width=width)
    ex = vg.predict(square).exact
    assert ex is not None
    ck.true("square layers: Xavier keeps both q and E[g²] at 1 exactly",
            all(v == 1 for v in ex.q) and all(v == 1 for v in ex.grad_second_moment),
            f"q = {ex.q[-1]}, E[(g^0)²]/E[(g^L)²] = {ex.grad_second_moment[0]}")
    uneven = vg.Chain("identity", init="xavier", depth=depth, width=widths)
    ex = vg.predict(uneven).exact
    assert ex is not None
    fwd = sp.prod([sp.Rational(widths[k], 1) * c["compromise"].subs(
        {vg.fan_in: widths[k], vg.fan_out: widths[k + 1]}) for k in range(depth)])
    bwd = sp.prod([sp.Rational(widths[k + 1], 1) * c["compromise"].subs(
        {vg.fan_in: widths[k], vg.fan_out: widths[k + 1]}) for k in range(depth)])
    ck.step(f"alternating widths {widths[:4]}…: ∏ n_(l−1) Var(W^l) and ∏ n_l Var(W^l):",
            sp.Tuple(fwd, bwd), lhs="(q^L/q^0, E[(g^0)²]/E[(g^L)²])")
    ck.exact("q^L/q^0 = ∏ n_(l−1)·2/(n_(l−1)+n_l) (vg.predict)", ex.q[-1], fwd, source=SOURCE)
    ck.exact("E[(g^0)²]/E[(g^L)²] = ∏ n_l·2/(n_(l−1)+n_l) (vg.predict)",
             ex.grad_second_moment[0], bwd, source=SOURCE)

    ck.section(f"Monte Carlo: {trials} random linear networks per chain (vg.verify)")
    for chain in (square, uneven):
        for quantity in ("q", "grad_second_moment"):
            res = vg.verify(chain, trials=trials, seed=args.seed, quantity=quantity,
                             alpha=ALPHA)
            ck.true(f"{quantity} of {chain}: simulation supports the derived profile",
                    res.passed, verdict(res))
    standard = vg.Chain("identity", init={"scheme": "custom", "sigma_w2": "1/3",
                                          "distribution": "uniform"}, depth=depth, width=width)
    res = vg.verify(standard, "3**(-(L - l))", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("standard init: E[(g^l)²]/E[(g^L)²] = 3^-(L−l) is supported", res.passed,
            verdict(res), source=SOURCE + ", eq. (15)")
    res = vg.verify(standard, "1", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("standard init: the false claim 'gradients preserved' is rejected",
            res.verdict == "FAIL", verdict(res))
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
