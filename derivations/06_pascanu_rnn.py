"""Pascanu et al. 2013: the RNN gradient bound ‖∂h_T/∂h_t‖ ≤ (γ λ₁)^(T−t).

Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
ICML 2013, arXiv:1211.5063, Sec. 3.1: for h_k = φ(W h_{k−1} + U x_k + b),

    ∂h_k/∂h_{k−1} = diag(φ′(a_k)) W,    ‖diag(φ′(a_k))‖ ≤ γ = sup|φ′|,

so ‖∂h_T/∂h_t‖ ≤ ∏ ‖diag φ′‖ ‖W‖ ≤ (γ λ₁)^(T−t) with λ₁ = ‖W‖₂ the largest singular value.
It is *sufficient* that λ₁ < 1/γ for the long-term gradients to vanish (γ = 1/4 for the
sigmoid, γ = 1 for tanh), and *necessary* that λ₁ > 1/γ for them to explode.

Here the Jacobian is derived with SymPy on a 2-unit cell, γ is the certified sup|φ′| of
``act.derivative_bound()``, and the bound is checked on every simulated RNN
(``vg.simulate(vg.Recurrent(...))``: exact spectral norms of the n × n Jacobians).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import sympy as sp
from _checks import Checks, parse_args

import vgmath as vg

SOURCE = "Pascanu, Mikolov & Bengio 2013, arXiv:1211.5063, Sec. 3.1"
#: Rounding allowance for comparing per-network log norms: the spectral norms and the bound
#: are products of ≤ 100 float64 factors (relative rounding ~1e-13 in the log); 1e-9 is far
#: above that and far below any real violation.
ROUNDING = 1e-9


def jacobian_2x2() -> tuple[sp.Matrix, sp.Matrix]:
    """∂h_k/∂h_{k−1} of a 2-unit cell h_k = φ(W h_{k−1} + u), derived by SymPy."""
    w = sp.Matrix(2, 2, sp.symbols("w11 w12 w21 w22", real=True))
    h = sp.Matrix(sp.symbols("h1 h2", real=True))
    u = sp.Matrix(sp.symbols("u1 u2", real=True))
    phi = sp.Function("phi")
    a = w * h + u
    hk = a.applyfunc(phi)
    jac = hk.jacobian(h)
    expected = sp.diag(*[sp.Subs(sp.Derivative(phi(sp.Symbol("y")), sp.Symbol("y")),
                                 sp.Symbol("y"), a[i]) for i in range(2)]) * w
    return jac, expected


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Pascanu et al. 2013: the RNN gradient bound (γ λ₁)^(T−t)", latex=args.latex)

    ck.section("the one-step Jacobian")
    jac, expected = jacobian_2x2()
    ck.step("∂h_k/∂h_(k−1) for h_k = φ(W h_(k−1) + u), two units:", jac, lhs="J")
    ck.true("J = diag(φ′(a_k)) W", sp.simplify((jac - expected).doit()) == sp.zeros(2, 2),
            "entrywise difference simplifies to 0", source=SOURCE + ", eq. (7)")

    ck.section("γ = sup|φ′| (certified)")
    gammas = {}
    for name, ref in (("sigmoid", sp.Rational(1, 4)), ("tanh", sp.Integer(1))):
        b = vg.activation(name).derivative_bound()
        gammas[name] = b.sup_abs
        ck.exact(f"γ for {name}", b.sup_abs, ref, source=SOURCE)

    T, n, trials = (20, 16, 100) if args.fast else (60, 32, 400)
    ck.section(f"simulated RNNs: {trials} networks, n = {n}, T = {T} (exact spectral norms)")
    cases = [
        ("tanh", "9/10", "λ₁ = 0.9 < 1/γ = 1: vanishing guaranteed"),
        ("sigmoid", "7/2", "λ₁ = 3.5 < 1/γ = 4: vanishing guaranteed"),
        ("tanh", "3/2", "λ₁ = 1.5 > 1/γ: no guarantee either way"),
    ]
    for act, gain, note in cases:
        net = vg.Recurrent("rnn", activation=act, hidden=n, steps=T, input_size=n,
                           init={"scheme": "orthogonal", "gain": gain})
        sim = vg.simulate(net, trials=trials, seed=args.seed)
        s = sim.samples
        lam = float(sp.Rational(gain))
        ck.step(f"{net}: {note}")
        ck.within(f"{act}, gain {gain}: ‖W‖₂ = gain for a scaled orthogonal W (max over nets)",
                  float(np.max(np.abs(s["ln_recurrent_norm"] - math.log(lam)))), 0.0,
                  tol=ROUNDING, why="rounding allowance")
        excess = float(np.max(s["ln_jacobian_norm"] - s["ln_pascanu_bound"]))
        ck.true(f"{act}, gain {gain}: ‖∂h_T/∂h_t‖ ≤ (γλ₁)^(T−t) in every network and step",
                excess <= ROUNDING, f"max ln(norm/bound) = {excess:.3g}", source=SOURCE)
        mean_log = s["ln_jacobian_norm"].mean(axis=0)
        # change of the mean log norm per step back in time, between t = T/2 and t = 0
        rate = (mean_log[0] - mean_log[T // 2]) / (T // 2)
        bound_rate = math.log(float(gammas[act]) * lam)
        ck.step(f"   mean ln‖∂h_T/∂h_0‖ = {mean_log[0]:.3f}; per step back in time the mean log "
                f"norm changes by {rate:.3f}, the bound by ln(γλ₁) = {bound_rate:.3f}")
        if bound_rate < 0:
            worst = float(np.max(s["ln_jacobian_norm"][:, 0]))
            ck.true(f"{act}, gain {gain}: ∂h_T/∂h_0 vanishes in every network",
                    worst <= T * bound_rate + ROUNDING,
                    f"max ln‖∂h_T/∂h_0‖ = {worst:.3f} ≤ T ln(γλ₁) = {T * bound_rate:.3f}",
                    source=SOURCE)
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
