"""The LSTM's constant error carousel: along the cell state, ∂c_T/∂c_t = diag(∏ f_k).

Hochreiter & Schmidhuber 1997 ("Long short-term memory", Neural Comput. 9(8)) built the cell
c_t = c_{t−1} + i_t ⊙ g_t so that the error flowing back along c is multiplied by exactly 1
per step — the constant error carousel. Gers, Schmidhuber & Cummins 2000 ("Learning to
forget", Neural Comput. 12(10)) added the forget gate, c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, so
that along the cell path

    ∂c_t/∂c_{t−1} |_cell = diag(f_t),      ∂c_T/∂c_t |_cell = diag(∏_{k=t+1}^{T} f_k),

a gradient that decays only as fast as the forget gates close (a forget-gate bias of 1 keeps
them open at initialisation: Jozefowicz, Zaremba & Sutskever 2015, ICML).

Here: (1) SymPy derives the one-step factor; (2) an independent NumPy LSTM (PyTorch's gate
equations) with no recurrent weights, where the cell path is the only path, gives
∂c_T/∂c_t by finite differences equal to ∏ f_k (c_T is affine in c_t: exact); with recurrent
weights the paths through h_t add to it; (3) vgmath's LSTM simulation reports
Σ ln f_k, whose ensemble mean is compared with E[ln σ(a_f)] computed by quadrature.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
import sympy as sp
from _checks import Checks, parse_args, z_threshold
from scipy import integrate, special, stats

import vgmath as vg

SOURCE = "Gers, Schmidhuber & Cummins 2000; Hochreiter & Schmidhuber 1997"


def one_step_factor() -> sp.Expr:
    c_prev, f, i, g = sp.symbols("c_prev f i g", real=True)
    c_t = f * c_prev + i * g  # the gates are functions of (x_t, h_{t-1}), not of c_{t-1}
    return sp.diff(c_t, c_prev)


def lstm_cells(params: dict[str, np.ndarray], xs: np.ndarray, h0: np.ndarray,
               c0: np.ndarray, start: int, c_start: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Run the LSTM from step ``start`` (replacing c at that step by ``c_start``); return c_T
    and the forget gates. PyTorch's equations: gates i, f, g, o from U x_t + W h_{t−1} + b."""
    W, U, b = params["W"], params["U"], params["b"]
    n = h0.size
    h, c = h0.copy(), c0.copy()
    forgets = []
    for t in range(xs.shape[0]):
        if t == start and c_start is not None:
            c = c_start.copy()
        a = U @ xs[t] + W @ h + b
        i, f = special.expit(a[:n]), special.expit(a[n:2 * n])
        g, o = np.tanh(a[2 * n:3 * n]), special.expit(a[3 * n:])
        c = f * c + i * g
        h = o * np.tanh(c)
        forgets.append(f)
    return c, np.array(forgets)


def cell_jacobian(params: dict[str, np.ndarray], xs: np.ndarray, t: int,
                  step: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """∂c_T/∂c_t (h_t held fixed) by central differences, and ∏_{k>t} f_k (diagonal)."""
    n = params["W"].shape[1]
    h0 = np.zeros(n)
    c0 = np.zeros(n)
    # the state at step t: run the first t steps
    c_t, _ = lstm_cells(params, xs[:t], h0, c0, 0) if t else (c0, None)
    h_t = _h_after(params, xs[:t], h0, c0)
    rest = xs[t:]
    jac = np.empty((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = step
        plus, _ = lstm_cells(params, rest, h_t, c_t + e, 0)
        minus, _ = lstm_cells(params, rest, h_t, c_t - e, 0)
        jac[:, j] = (plus - minus) / (2 * step)
    _, forgets = lstm_cells(params, rest, h_t, c_t, 0)
    return jac, np.prod(forgets, axis=0)


def _h_after(params: dict[str, np.ndarray], xs: np.ndarray, h0: np.ndarray,
             c0: np.ndarray) -> np.ndarray:
    W, U, b = params["W"], params["U"], params["b"]
    n = h0.size
    h, c = h0.copy(), c0.copy()
    for t in range(xs.shape[0]):
        a = U @ xs[t] + W @ h + b
        c = special.expit(a[n:2 * n]) * c + special.expit(a[:n]) * np.tanh(a[2 * n:3 * n])
        h = special.expit(a[3 * n:]) * np.tanh(c)
    return h


def expected_log_forget(var_u: float, m: int, input_q: float, bias: float) -> float:
    """E[ln σ(a_f)] per unit and step when a_f = U_f x_t + bias (no recurrent weights):
    given the row U_i, a_f ~ N(bias, ‖U_i‖² input_q), and ‖U_i‖² ~ Var(U) χ²_m."""
    z, w = np.polynomial.hermite_e.hermegauss(80)  # ln σ is smooth and ~linear at −∞
    w = w / math.sqrt(2 * math.pi)

    def inner(k: float) -> float:
        return float(w @ -np.logaddexp(0.0, -(bias + math.sqrt(var_u * input_q * k) * z)))

    val, _ = integrate.quad(lambda k: inner(k) * stats.chi2.pdf(k, m), 0, np.inf,
                            epsabs=1e-12, limit=200)
    return val


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("The LSTM's constant error carousel: ∂c_T/∂c_t = ∏ f_k", latex=args.latex)

    ck.section("one step along the cell")
    factor = one_step_factor()
    ck.step("c_t = f_t c_(t−1) + i_t g_t ⇒", factor, lhs="∂c_t/∂c_(t−1)")
    ck.exact("∂c_t/∂c_(t−1) along the cell path is the forget gate", factor,
             sp.Symbol("f", real=True), source=SOURCE)
    ck.exact("without a forget gate (f = 1): the constant error carousel", factor.subs(
        sp.Symbol("f", real=True), 1), 1, source="Hochreiter & Schmidhuber 1997")

    ck.section("an independent NumPy LSTM: finite differences against ∏ f_k")
    rng = np.random.default_rng(np.random.SeedSequence(args.seed))
    n, m, T, t = 6, 4, 12, 3
    base = {"U": rng.standard_normal((4 * n, m)) / math.sqrt(m),
            "b": np.concatenate([np.zeros(n), np.ones(n), np.zeros(2 * n)])}
    xs = rng.standard_normal((T, m))
    no_rec = base | {"W": np.zeros((4 * n, n))}
    jac, prod = cell_jacobian(no_rec, xs, t)
    # c_T is affine in c_t without recurrent weights: central differences are exact up to
    # rounding, |error| ≲ ε·|c|/step ≈ 1e-16·10/1e-6 = 1e-9
    ck.within(f"W = 0: ∂c_T/∂c_t = diag(∏ f_k), T − t = {T - t} (max entry error)",
              float(np.max(np.abs(jac - np.diag(prod)))), 0.0, tol=1e-8,
              why="rounding of central differences with step 1e-6", source=SOURCE)
    ck.step(f"∏ f_k per unit: {np.array2string(prod, precision=4)}")
    with_rec = base | {"W": rng.standard_normal((4 * n, n)) / math.sqrt(n)}
    jac, prod = cell_jacobian(with_rec, xs, t)
    other = float(np.max(np.abs(jac - np.diag(prod))))
    ck.step(f"with recurrent weights the paths through h add up to {other:.3g} per entry "
            f"(diagonal ∏ f_k up to {float(np.max(prod)):.3g}): the carousel is the part of "
            "the gradient that no weight matrix multiplies")

    ck.section("vgmath's LSTM simulation: E[Σ ln f_k] = (T − t) E[ln σ(a_f)]")
    hidden, steps, trials = (8, 10, 200) if args.fast else (32, 30, 800)
    z = z_threshold(tests=2)
    for bias in (0, 1):
        net = vg.Recurrent("lstm", hidden=hidden, steps=steps, input_size=hidden,
                           init={"scheme": "custom", "sigma_w2": "1/10**12"},
                           forget_bias=bias)
        sim = vg.simulate(net, trials=trials, seed=args.seed)
        per_step = sim.samples["ln_forget_product"][:, 0] / steps
        mean, se = float(per_step.mean()), float(per_step.std(ddof=1) / math.sqrt(trials))
        theory = expected_log_forget(float(net.input_variance), hidden, float(net.input_q),
                                     float(bias))
        ck.step(f"{net}: E[ln f] = {theory:.5f} per step ⇒ the cell path keeps "
                f"e^(−1) of the gradient over {-1 / theory:.3g} steps")
        # σ_w² = 1e-12 leaves recurrent contributions of order 1e-6 in a_f, far below the SE
        ck.mc(f"forget bias {bias}: mean ln f per step (simulation vs quadrature)", mean, se,
              theory, z=z, source=SOURCE)
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
