"""Symbolic mean field: E[(g^l)²]/E[(g^L)²] for leaky ReLU in a, σ_w², n, L; Glorot's compromise.

The derivation of a paper's appendix, done by ``vg.predict`` on a chain whose slope a, weight
variance σ_w²/n, width n and depth L are SymPy symbols:

* leaky ReLU (He et al. 2015, arXiv:1502.01852, eq. (15)): each layer multiplies the gradient
  second moment by χ = σ_w²(1 + a²)/2, so E[(g^l)²]/E[(g^L)²] = (σ_w²(1 + a²)/2)^{L−l}, and
  σ_w² = 2/(1 + a²) preserves it. Checked against an independent derivation (the two
  half-line Gaussian integrals of vg.gaussian_expectation), by substitution into the numeric
  ``vg.predict`` and by Monte Carlo (``vg.verify``);
* Glorot & Bengio 2010 (AISTATS, eqs. (10)–(12)): a linear layer n_in → n_out with
  Var(W) = v scales the forward second moment by n_in v and the backward one by n_out v;
  the compromise v = 2/(n_in + n_out) (Xavier) makes the two factors 2n_in/(n_in + n_out) and
  2n_out/(n_in + n_out), whose mean is exactly 1;
* tanh has no closed form: the prediction is the recursion itself (unevaluated Gaussian
  integrals), and evaluating it after substitution gives ``vg.predict``'s numbers;
* at finite width (Hanin & Nica 2019, arXiv:1812.05994) the exact fourth-moment ratio of
  ReLU's input gradient is (1 + 2/n)(1 + 5/n)^L in the same symbols.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import sympy as sp
from _checks import ALPHA, Checks, parse_args, verdict

import vgmath as vg

HE = "He et al. 2015, arXiv:1502.01852, eq. (15)"
GLOROT = "Glorot & Bengio 2010, AISTATS, eqs. (10)-(12)"
MEAN_FIELD = "Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232"
HANIN = "Hanin & Nica 2019, arXiv:1812.05994"

a, s, n = sp.symbols("a s n", positive=True)
L = sp.Symbol("L", integer=True, positive=True)
l = vg.layer_symbol


def leaky_chain() -> vg.Chain:
    return vg.Chain(vg.activation("leaky_relu", slope=a), init=vg.Init.custom(sigma_w2=s),
                    depth=L, width=n)


def chi_by_half_lines() -> sp.Expr:
    """χ = σ_w² E[φ′(√q z)²] from the two half-line integrals (independent of predict's
    structural classification of homogeneous activations)."""
    x, q = vg.x, vg.q
    right = vg.gaussian_expectation(sp.Piecewise((0, x <= 0), (1, True)), q)
    left = vg.gaussian_expectation(sp.Piecewise((1, x <= 0), (0, True)), q)
    return s * (right + a**2 * left)


def leaky_relu(ck: Checks, fast: bool, seed: int) -> None:
    ck.section("leaky ReLU with slope a, Var(W) = σ_w²/n (σ_w² = s), width n, depth L")
    p = vg.predict(leaky_chain())
    assert isinstance(p, vg.SymbolicPrediction)
    ck.step("vg.predict(vg.Chain(leaky_relu(a), Init.custom(s), depth=L, width=n)).formula:",
            p.formula, lhs="E[(g^l)²]/E[(g^L)²]")
    ck.step("q^l (q^0 = 1):", p.q(), lhs="q^l")
    chi = chi_by_half_lines()
    ck.exact("χ from the half-line Gaussian integrals", p.chi(), chi, source=HE)
    ck.exact("ratio = χ^(L−l)", p.formula, chi ** (L - l), source=MEAN_FIELD)
    ck.exact("He's σ_w² = 2/(1 + a²) preserves the gradient", p.formula.subs(s, 2 / (1 + a**2)),
             1, source=HE)
    ck.exact("vg.chi_map agrees", vg.chi_map(leaky_chain().act, s)(vg.q), p.chi(),
             source=MEAN_FIELD)

    depth = 12 if fast else 40
    for values in ({"s": 2, "a": "1/10"}, {"s": "3/2", "a": "1/2"}):
        numeric = vg.predict(leaky_chain().subs(L=depth, n=64, **values))
        sub = {s: sp.nsimplify(values["s"]), a: sp.nsimplify(values["a"]), L: depth}
        # predict's float profile from exact rationals: 1e-12 relative covers the rounding
        # of `depth` products
        ck.close(f"substituted formula at l = 0, {values}, L = {depth} vs vg.predict",
                 p.ratio(0).xreplace(sub), numeric.grad_second_moment[0], rel=1e-12,
                 source=MEAN_FIELD)

    trials, width, mc_depth = (300, 64, 8) if fast else (1000, 128, 20)
    chain = leaky_chain().subs(s="3/2", a="1/2", L=mc_depth, n=width)
    claim = str(p.formula.subs({s: sp.Rational(3, 2), a: sp.Rational(1, 2)}))
    res = vg.verify(chain, claim, trials=trials, seed=seed, alpha=ALPHA)
    ck.true(f"Monte Carlo ({trials} networks) supports {claim}", res.passed, verdict(res))
    wrong = str((sp.Rational(3, 2) * (1 + sp.Rational(1, 2)) / 2) ** (L - l))  # a, not a²
    res = vg.verify(chain, wrong, trials=trials, seed=seed, alpha=ALPHA)
    ck.true(f"the wrong formula {wrong} (a instead of a²) is rejected", res.verdict == "FAIL",
            verdict(res))


def glorot(ck: Checks) -> None:
    ck.section("Glorot's compromise with symbolic n_in, n_out")
    n_in, n_out = sp.symbols("n_in n_out", integer=True, positive=True)
    v = sp.Symbol("v", positive=True)
    forward_v = sp.solve(sp.Eq(n_in * v, 1), v)[0]
    backward_v = sp.solve(sp.Eq(n_out * v, 1), v)[0]
    ck.step("forward condition n_in Var(W) = 1 ⇒", forward_v, lhs="Var(W)")
    ck.step("backward condition n_out Var(W) = 1 ⇒", backward_v, lhs="Var(W)")
    compromise = 1 / ((1 / forward_v + 1 / backward_v) / 2)
    ck.exact("Var(W) = 2/(n_in + n_out) (the harmonic mean of the two)",
             vg.init_variance("xavier", n_in, n_out), compromise, source=GLOROT)
    p = vg.predict(vg.Chain("identity", init="xavier", depth=1, width=[n_in, n_out]))
    assert isinstance(p, vg.SymbolicPrediction)
    forward, backward = p.q(1), p.ratio(0)
    ck.step("forward factor q^1/q^0:", forward, lhs="n_in Var(W)")
    ck.step("backward factor E[(g^0)²]/E[(g^1)²]:", backward, lhs="n_out Var(W)")
    ck.exact("the two factors average to exactly 1", (forward + backward) / 2, 1, source=GLOROT)
    ck.exact("both are 1 on square layers", backward.subs(n_out, n_in), 1, source=GLOROT)


def tanh(ck: Checks, fast: bool) -> None:
    ck.section("tanh: no closed form, the recursion itself")
    chain = vg.Chain("tanh", init=vg.Init.custom(sigma_w2=s), depth=L, width=n,
                     sigma_b2=sp.Rational(1, 20))
    p = vg.predict(chain)
    assert isinstance(p, vg.SymbolicPrediction)
    for eq in p.recurrence:
        ck.step("", eq)
    ck.step("the gradient ratio:", p.formula, lhs="E[(g^l)²]/E[(g^L)²]")
    depth = 10 if fast else 50
    numeric = vg.predict(chain.subs(s="3/2", L=depth, n=100))
    got = p.ratio(0).xreplace({s: sp.Rational(3, 2), L: depth}).evalf()
    # the recursion's evalf runs predict's moments: agreement to accumulated rounding
    ck.close(f"the recursion evaluated at σ_w² = 3/2, L = {depth} vs vg.predict", got,
             numeric.grad_second_moment[0], rel=1e-10, source=MEAN_FIELD)


def finite_width(ck: Checks) -> None:
    ck.section("finite width, exactly (ReLU + He, σ_b² = 0)")
    p = vg.predict(vg.Chain("relu", init="he", depth=L, width=n))
    assert isinstance(p, vg.SymbolicPrediction)
    ratio = p.finite_width_ratio()
    ck.step("E‖g^0‖⁴/(E‖g^0‖²)²:", ratio, lhs="ratio")
    ck.exact("(1 + 2/n)(1 + 5/n)^L", ratio, (1 + 2 / n) * (1 + 5 / n) ** L, source=HANIN)
    exact = vg.finite_width_moment_ratio(vg.Chain("relu", init="he", depth=4, width=8))
    ck.exact("at n = 8, L = 4: the layer-by-layer exact ratio", ratio.subs({n: 8, L: 4}), exact,
             source=HANIN)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Symbolic mean field: σ_w², widths and depth as symbols", latex=args.latex)
    leaky_relu(ck, args.fast, args.seed)
    glorot(ck)
    tanh(ck, args.fast)
    finite_width(ck)
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
