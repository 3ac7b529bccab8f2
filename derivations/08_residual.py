"""Residual networks: per-block variance growth, and why the skip keeps gradients alive.

For a block x_l = x_{l−1} + α F(x_{l−1}) (He et al. 2016, "Identity mappings in deep residual
networks", arXiv:1603.05027, eqs. (4)–(5)):

    ∂x_l/∂x_{l−1} = I + α ∂F/∂x_{l−1},

and with zero-mean weights in F (independent of the incoming gradient g, the mean-field
gradient-independence rule) the cross term vanishes, so

    E‖(I + α J)ᵀ g‖² = E‖g‖² + α² E‖Jᵀ g‖²,      χ_block = 1 + α² σ_w² E[φ′²] ≥ 1:

the gradient of a residual chain can never vanish, whatever F does (He et al. 2016: "the
gradient … is unlikely to be canceled out"). The price is forward growth: for the pre-
activation block F(x) = W relu(x), E‖x_l‖² = E‖x_{l−1}‖² (1 + α² σ_w²/2), i.e. 2^L with He
init and α = 1, and (1 + 1/L)^L → e with α = 1/√L (Yang & Schoenholz 2017, arXiv:1712.08969;
Hanin & Rolnick 2018, arXiv:1803.01719).

Checked against ``vg.predict`` (residual mean-field recursions) and Monte Carlo.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import sympy as sp
from _checks import ALPHA, Checks, parse_args, verdict

import vgmath as vg

SOURCE = "He et al. 2016, arXiv:1603.05027; Yang & Schoenholz 2017, arXiv:1712.08969"


def block_factor() -> sp.Expr:
    """E[(g + α w d g)²]/E[g²] with E[w] = 0, E[w²] = s (one unit, mean-field)."""
    g, w, d, alpha, s, m2 = sp.symbols("g w d alpha s m_2", real=True)
    expr = sp.expand((g + alpha * w * d * g) ** 2)
    # moments: E[w] = 0, E[w²] = s, E[d²] = m_2, w independent of (d, g)
    poly = sp.Poly(expr, w)
    moments = {0: 1, 1: 0, 2: s}
    mean = sum(c * moments[k[0]] for k, c in poly.terms())
    mean = sp.expand(mean).subs(d**2, m2)
    return sp.simplify(mean / g**2)


def pre_relu_growth() -> sp.Expr:
    """p_l/p_{l−1} for x_l = x_{l−1} + α W relu(x_{l−1}), x_{l−1} ~ N(0, p) per unit."""
    alpha, sw2 = sp.symbols("alpha sigma_w2", positive=True)
    relu2 = vg.gaussian_expectation(vg.activation("relu").expr ** 2, vg.q)  # q/2
    return sp.simplify((vg.q + alpha**2 * sw2 * relu2) / vg.q)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Residual networks: variance growth and surviving gradients", latex=args.latex)
    alpha, s, m2 = sp.symbols("alpha s m_2", real=True)

    ck.section("the gradient factor of one block")
    chi = block_factor()
    ck.step("E[((1 + α w φ′) g)²]/E[g²], E[w] = 0, E[w²] = s, E[φ′²] = m₂:", chi, lhs="χ")
    ck.exact("χ_block = 1 + α² s m₂ (the cross term vanishes)", chi, 1 + alpha**2 * s * m2,
             source=SOURCE)
    nonneg = {alpha: sp.Symbol("a", real=True), s: sp.Symbol("S", nonnegative=True),
              m2: sp.Symbol("M", nonnegative=True)}
    excess = sp.simplify(chi - 1).subs(nonneg)
    ck.true("χ_block ≥ 1 for every real α and s, m₂ ≥ 0", excess.is_nonnegative is True,
            f"χ − 1 = {excess}: SymPy proves it non-negative")

    ck.section("forward growth of the pre-activation ReLU block")
    growth = pre_relu_growth()
    ck.step("p_l/p_(l−1) with E[relu(√p z)²] = p/2:", growth, lhs="p_l/p_(l−1)")
    a_, s_ = sp.symbols("alpha sigma_w2", positive=True)
    ck.exact("growth = 1 + α² σ_w²/2", growth, 1 + a_**2 * s_ / 2, source=SOURCE)
    L = 8 if args.fast else 30
    he = vg.Chain("relu", init="he", depth=L, width=64,
                  residual=vg.Residual(alpha=1, variant="pre"))
    ex = vg.predict(he).exact
    assert ex is not None
    ck.exact(f"He init, α = 1: q^L = 2^L (vg.predict, exact, L = {L})", ex.q[-1], 2**L,
             source=SOURCE)
    ck.exact("... and E[(g^0)²]/E[(g^L)²] = 2^L: χ_block = 1 + 2·(1/2) = 2",
             ex.grad_second_moment[0], 2**L, source=SOURCE)
    scaled = he.replace(residual=vg.Residual(alpha=1 / sp.sqrt(L), variant="pre"))
    pred = vg.predict(scaled)
    ck.close(f"α = 1/√L: q^L = (1 + 1/L)^L (vg.predict, L = {L})", pred.q[-1],
             (1 + sp.Rational(1, L)) ** L, rel=1e-12, source="Hanin & Rolnick 2018")
    ck.step(f"(1 + 1/L)^L = {float((1 + sp.Rational(1, L)) ** L):.6f} → e = {math.e:.6f}")

    ck.section("why the skip keeps gradients alive: tanh, σ_w² = 1/2 (ordered)")
    depth, width, trials = (10, 64, 200) if args.fast else (30, 128, 600)
    plain = vg.Chain("tanh", init={"scheme": "custom", "sigma_w2": "1/2"}, depth=depth,
                     width=width)
    res = plain.replace(residual=vg.Residual(alpha=1, variant="post"))
    p_plain, p_res = vg.predict(plain), vg.predict(res)
    ck.step(f"plain chain: E[(g^0)²]/E[(g^L)²] = {p_plain.gradient_ratio:.3g}; residual: "
            f"{p_res.gradient_ratio:.3g}")
    ck.true("plain tanh chain: the gradient vanishes (χ < 1 at every layer)",
            bool((p_plain.chi[1:] < 1).all()), f"max χ = {p_plain.chi[1:].max():.4f}")
    ck.true("residual tanh chain: χ_block ≥ 1 at every block", bool((p_res.chi[1:] >= 1).all()),
            f"min χ = {p_res.chi[1:].min():.4f}", source=SOURCE)
    for chain in (plain, res, scaled):
        # residual chains have no finite-width bias model: test the simulated mean itself
        # (finite_width=False), which the infinite-width profile matches at this width
        r = vg.verify(chain, trials=trials, seed=args.seed, alpha=ALPHA,
                      finite_width=chain.residual is None)
        ck.true(f"Monte Carlo supports the gradient profile of {chain}", r.passed, verdict(r))
    r = vg.verify(scaled, quantity="q", trials=trials, seed=args.seed, alpha=ALPHA,
                  finite_width=False)
    ck.true("Monte Carlo supports q^l = (1 + 1/L)^l", r.passed, verdict(r))
    r = vg.verify(res, p_plain.grad_second_moment, trials=trials, seed=args.seed, alpha=ALPHA,
                  finite_width=False)
    ck.true("the residual chain does NOT follow the plain chain's vanishing profile",
            r.verdict == "FAIL", verdict(r))
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
