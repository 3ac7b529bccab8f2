"""Derived initialisation gains against PyTorch's ``calculate_gain``.

PyTorch's ``torch.nn.init.calculate_gain`` (documentation of torch.nn.init) recommends, for
Var(W) = gain²/fan_in: linear and sigmoid 1, tanh 5/3, ReLU √2, leaky ReLU √(2/(1 + a²)),
SELU 3/4. Mean-field theory (Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
arXiv:1611.01232) says what each gain *implies*: with σ_w² = gain², σ_b² = 0 and unit input,
q ↦ σ_w² E[φ(√q z)²] reaches a fixed point q*, where the gradient factor per layer is
χ₁ = σ_w² E[φ′(√q* z)²] (< 1 vanishing, > 1 exploding).

The gain that makes q = 1 a fixed point is g = 1/√E[φ(z)²] — √2 for ReLU (PyTorch's value),
1.5925… for tanh (not 5/3), 1 for SELU (the self-normalising choice of Klambauer et al.;
PyTorch's 3/4 trades it, in its documentation's words, "for more stable gradient flow").
Here E[φ(z)²], q* and χ₁ are computed independently with mpmath quadrature and compared with
``vg.gain_table``; tanh at 5/3 is then simulated (``vg.verify``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import mpmath
import sympy as sp
from _checks import ALPHA, Checks, parse_args, verdict

import vgmath as vg

SOURCE = "PyTorch documentation, torch.nn.init.calculate_gain"
#: PyTorch's table, as documented.
PYTORCH = {
    "identity": sp.Integer(1),
    "sigmoid": sp.Integer(1),
    "tanh": sp.Rational(5, 3),
    "relu": sp.sqrt(2),
    "leaky_relu": sp.sqrt(2 / (1 + sp.Rational(1, 100) ** 2)),  # default slope 0.01
    "selu": sp.Rational(3, 4),
}


def gauss(f: object, q: mpmath.mpf) -> mpmath.mpf:
    """E[f(√q z)] by mpmath quadrature, split at 0 (the kink of SELU)."""
    s = mpmath.sqrt(q)

    def g(z: mpmath.mpf) -> mpmath.mpf:
        return f(s * z) * mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)  # type: ignore[operator]

    return mpmath.quad(g, [-mpmath.inf, 0]) + mpmath.quad(g, [0, mpmath.inf])


def functions(name: str) -> tuple[object, object]:
    """φ and φ′ as mpmath functions, written out by hand (not taken from vgmath)."""
    if name == "tanh":
        return mpmath.tanh, lambda u: mpmath.sech(u) ** 2
    if name == "sigmoid":
        sig = lambda u: 1 / (1 + mpmath.exp(-u))  # noqa: E731
        return sig, lambda u: sig(u) * (1 - sig(u))
    lam = mpmath.mpf("1.0507009873554804934193349852946")
    al = mpmath.mpf("1.6732632423543772848170429916717")
    return (lambda u: lam * (u if u > 0 else al * (mpmath.exp(u) - 1)),
            lambda u: lam * (1 if u > 0 else al * mpmath.exp(u)))


def implied(name: str, gain: sp.Expr) -> tuple[float, float]:
    """(q*, χ₁) for σ_w² = gain², σ_b² = 0, iterating q from 1 (mpmath, 20 digits)."""
    phi, dphi = functions(name)
    sw2 = mpmath.mpf(sp.N(gain**2, 30))
    with mpmath.workdps(20):
        q = mpmath.findroot(lambda v: sw2 * gauss(lambda u: phi(u) ** 2, v) - v,  # type: ignore[operator]
                            _iterate(phi, sw2))
        chi = sw2 * gauss(lambda u: dphi(u) ** 2, q)  # type: ignore[operator]
    return float(q), float(chi)


def _iterate(phi: object, sw2: mpmath.mpf, steps: int = 60) -> mpmath.mpf:
    """A starting point near the attracting fixed point reached from q = 1."""
    q = mpmath.mpf(1)
    with mpmath.workdps(10):
        for _ in range(steps):
            q = sw2 * gauss(lambda u: phi(u) ** 2, q)  # type: ignore[operator]
    return q


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv)
    ck = Checks("Initialisation gains: derived vs PyTorch's calculate_gain", latex=args.latex)
    names = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    rows = {r.activation.split("(")[0]: r for r in vg.gain_table(names)}

    ck.section("PyTorch's table as vgmath records it")
    for name in names:
        ck.exact(f"{name}: PyTorch gain", rows[name].pytorch.gain, PYTORCH[name], source=SOURCE)

    ck.section("derived gains g = 1/√E[φ(z)²]")
    ck.exact("relu: derived gain = √2 = PyTorch's", rows["relu"].derived.gain, sp.sqrt(2),
             source="He et al. 2015")
    ck.exact("identity: derived gain = 1 = PyTorch's", rows["identity"].derived.gain, 1)
    for name in ("tanh", "sigmoid", "selu"):
        phi, _ = functions(name)
        with mpmath.workdps(30):
            m2 = gauss(lambda u, phi=phi: phi(u) ** 2, mpmath.mpf(1))  # type: ignore[misc]
        ck.close(f"{name}: E[φ(z)²] (mpmath vs vg.gain_table)", rows[name].second_moment, m2,
                 rel=1e-11, source="vgmath states ~1e-12 relative")
        g = 1 / mpmath.sqrt(m2)
        ck.step(f"{name}: derived gain {mpmath.nstr(g, 12)}, PyTorch {PYTORCH[name]}")
    ck.close("selu: E[selu(z)²] = 1, so the derived gain is 1", rows["selu"].second_moment, 1,
             rel=1e-11, source="Klambauer et al. 2017")

    ck.section("what PyTorch's gains imply (σ_b² = 0, from q = 1)")
    for name in ("tanh", "selu", "sigmoid"):
        imp = rows[name].pytorch
        q, chi = implied(name, PYTORCH[name])
        ck.step(f"{name}, gain {PYTORCH[name]}: q* = {q:.10g}, χ₁ = {chi:.10g} ({imp.phase})")
        # vgmath's moments are accurate to ~1e-12; roots of slope O(1) keep that to ~1e-10
        ck.close(f"{name}: q* (mpmath vs vgmath)", imp.q_star, q, rel=1e-9)
        ck.close(f"{name}: χ₁ (mpmath vs vgmath)", imp.chi_1, chi, rel=1e-9)
    ck.true("tanh at 5/3 is chaotic: gradients grow by χ₁ > 1 per layer",
            rows["tanh"].pytorch.chi_1 > 1, f"χ₁ = {rows['tanh'].pytorch.chi_1:.6f}")
    ck.true("selu at 3/4 sits close to the edge of chaos, closer than σ_w² = 1",
            abs(rows["selu"].pytorch.chi_1 - 1) < abs(rows["selu"].derived.chi_1 - 1),
            f"χ₁ = {rows['selu'].pytorch.chi_1:.6f} (gain 3/4) vs "
            f"{rows['selu'].derived.chi_1:.6f} (gain 1)")
    ck.true("sigmoid at 1 is ordered: gradients vanish", rows["sigmoid"].pytorch.chi_1 < 1,
            f"χ₁ = {rows['sigmoid'].pytorch.chi_1:.6f}")

    ck.section("Monte Carlo: tanh at PyTorch's 5/3")
    depth, width, trials = (12, 128, 200) if args.fast else (30, 256, 600)
    chain = vg.Chain("tanh", init={"scheme": "lecun", "gain": "5/3"}, depth=depth, width=width)
    res = vg.verify(chain, trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("simulation supports the mean-field gradient profile", res.passed, verdict(res))
    res = vg.verify(chain, "1", trials=trials, seed=args.seed, alpha=ALPHA)
    ck.true("… and rejects 'gradients preserved'", res.verdict == "FAIL", verdict(res))
    return ck.exit_code()


if __name__ == "__main__":
    sys.exit(main())
