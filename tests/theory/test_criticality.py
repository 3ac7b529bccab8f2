"""Fixed points, the edge of chaos and gains, against exact values and mpmath.

References: Poole et al. 2016 (arXiv:1606.05340) and Schoenholz et al. 2017
(arXiv:1611.01232, eqs. (2)–(9) and Fig. 1: the tanh critical line rises from
(σ_w², σ_b²) = (1, 0)); He et al. 2015 (ReLU: σ_w² = 2); PyTorch's ``calculate_gain`` table.
The mpmath oracle integrates at 20–25 digits with ``mp.quad`` and solves with ``findroot``;
it shares no code with vgmath's Gaussian moments or root finding.
"""

from __future__ import annotations

import json
import math
import time

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import vgmath as vg
from vgmath.cli import main as cli_main
from vgmath.theory.criticality import MOMENT_ACCURACY
from vgmath.theory.gains import format_gain_table


def E(f, q: mp.mpf) -> mp.mpf:  # type: ignore[no-untyped-def]
    """E_z[f(√q z)] by mpmath (smooth f)."""
    s = mp.sqrt(q)
    return mp.quad(lambda z: f(s * z) * mp.exp(-z * z / 2), [-mp.inf, -4, 0, 4, mp.inf]) / mp.sqrt(
        2 * mp.pi
    )


def mp_tanh_critical(sb2: float) -> tuple[mp.mpf, mp.mpf]:
    """(σ_w², q*) solving q = σ_w² E[tanh²] + σ_b² and σ_w² E[sech⁴] = 1 (mpmath, 20 digits)."""
    with mp.workdps(20):
        sb = mp.mpf(sb2)

        def eqs(sw: mp.mpf, q: mp.mpf) -> list[mp.mpf]:
            return [
                sw * E(lambda u: mp.tanh(u) ** 2, q) + sb - q,
                sw * E(lambda u: mp.sech(u) ** 4, q) - 1,
            ]

        sol = mp.findroot(eqs, (mp.mpf(1.5), mp.mpf(0.5)))
        return sol[0], sol[1]


# --------------------------------------------------------------------------- exact cases


def test_erf_edge_of_chaos_is_pi_over_four() -> None:
    # σ_b² = 0: q* = 0 and χ₁ = σ_w² erf′(0)² = σ_w²·4/π, so σ_w² = π/4 exactly
    cp = vg.critical_point("erf")
    assert cp.exact and cp.sigma_w2 == sp.pi / 4 and cp.q_star == 0
    assert sp.simplify(cp.sigma_w2 * sp.diff(sp.erf(vg.x), vg.x).subs(vg.x, 0) ** 2) == 1
    assert cp.error_bound == 0 and math.isinf(cp.xi_c)


@pytest.mark.slow
def test_tanh_edge_of_chaos_at_zero_bias_is_one() -> None:
    # Schoenholz et al. 2017, Fig. 1: the critical line starts at σ_w² = 1 for σ_b² = 0
    cp = vg.critical_point("tanh")
    assert cp.exact and cp.sigma_w2 == 1 and isinstance(cp.sigma_w2, sp.Integer)
    # a kink at 0 with φ(0) = 0 is exact too: SELU's σ_w² = 2/(λ²α² + λ²)
    selu = vg.activation("selu")
    cs = vg.critical_point(selu)
    lam, alpha = selu.params["scale"], selu.params["alpha"]
    assert cs.exact and abs(sp.N(cs.sigma_w2 - 2 / (lam**2 * alpha**2 + lam**2), 50)) < 1e-45


@pytest.mark.slow
@pytest.mark.parametrize("sb2", [0.05])
def test_tanh_critical_line_matches_mpmath(sb2: float) -> None:
    cp = vg.critical_point("tanh", sigma_b2=sb2)
    sw, q = mp_tanh_critical(sb2)
    assert not cp.exact
    # the library's own error bound must hold (mpmath is exact to ~1e-18 here)
    assert abs(cp.sigma_w2_float - float(sw)) <= cp.error_bound
    assert cp.error_bound < 1e-9
    assert cp.q_star_float == pytest.approx(float(q), rel=1e-9)
    # quality: a critical value 3% off fails the same comparison
    assert abs(1.03 * cp.sigma_w2_float - float(sw)) > cp.error_bound


def test_tanh_critical_line_shape() -> None:
    # Schoenholz et al. 2017, Fig. 1 (qualitative): σ_w² rises with σ_b² from 1. The values
    # are mp_tanh_critical(0.05) and mp_tanh_critical(0.2) (1.76095463960673914726841,
    # 2.28515247372019249287084), stored to keep the suite fast.
    line = vg.critical_line("tanh", [0, 0.01, 0.05, 0.1, 0.2])
    assert line[0] == 1 and np.all(np.diff(line) > 0)
    assert line[2] == pytest.approx(1.7609546396067, rel=1e-11)
    assert line[4] == pytest.approx(2.2851524737202, rel=1e-11)


def test_relu_is_critical_at_two_and_says_so_above() -> None:
    cp = vg.critical_point("relu")
    assert cp.exact and cp.sigma_w2 == 2 and cp.q_star is None
    assert "every q" in cp.note
    t = time.perf_counter()
    with pytest.raises(vg.NoFixedPointError, match="no finite fixed point"):
        vg.critical_point("relu", sigma_b2=0.1)
    assert time.perf_counter() - t < 1.0  # an answer, never a hang
    assert list(vg.critical_line("relu", [0, 0.5])) == [2.0, 2.0]
    leaky = vg.critical_point("leaky_relu", sigma_b2=0)
    assert leaky.sigma_w2 == sp.Rational(2, 1) / (1 + sp.Rational(1, 100) ** 2)


def test_relu_fixed_points() -> None:
    # q ↦ (σ_w²/2) q + σ_b²: q* = σ_b²/(1 − σ_w²/2) exactly
    fp = vg.fixed_point("relu", 1, sp.Rational(1, 2))
    assert fp.q_star_exact == 1 and fp.stable and fp.phase == "ordered" and fp.chi_1 == 0.5
    with pytest.raises(vg.NoFixedPointError, match="geometrically"):
        vg.fixed_point("relu", 3, 0)
    neutral = vg.fixed_point("relu", 2, 0, q0=5.0)
    assert neutral.q_star == 5.0 and neutral.phase == "critical"
    dead = vg.fixed_point("relu", 1, 0)
    assert dead.q_star == 0 and dead.c_star == 1.0


def test_marginal_tanh_has_q_star_zero_exactly() -> None:
    # tanh at σ_w² = 1, σ_b² = 0: q ↦ q − 2q² + O(q³) decays to 0 algebraically (Schoenholz
    # et al. 2017, the order-chaos transition at σ_b² = 0); the root finder must not stop at
    # a rounding-level root near 1e-20
    fp = vg.fixed_point("tanh", 1, 0)
    assert fp.q_star == 0.0 and fp.q_star_exact == 0
    assert fp.chi_1 == pytest.approx(1.0) and fp.phase == "critical" and fp.stable
    assert vg.fixed_point("tanh", sp.Rational(9, 10), 0).q_star == 0.0
    assert vg.fixed_point("tanh", sp.Rational(11, 10), 0).q_star > 0.05


def test_unbounded_activations_without_edge_raise() -> None:
    # GELU at σ_b² = 0: q → 0 (χ₁ = σ_w²/4 < 1) until q starts to explode from q⁰ = 1;
    # χ₁ jumps across 1 there, so there is no edge of chaos — an error, not a NaN
    with pytest.raises(vg.NoFixedPointError):
        vg.critical_point("gelu")
    line = vg.critical_line("gelu", [0.0, 0.5])
    assert np.isnan(line[0]) and line[1] > 1


# --------------------------------------------------------------------------- fixed points


@pytest.mark.slow
def test_tanh_fixed_point_against_mpmath() -> None:
    sw, sb = 2.5, 0.05
    fp = vg.fixed_point("tanh", sw, sb)
    with mp.workdps(20):
        def F(q: mp.mpf) -> mp.mpf:
            return sw * E(lambda u: mp.tanh(u) ** 2, q) + sb - q

        q = mp.findroot(F, 1.0)
        chi1 = sw * E(lambda u: mp.sech(u) ** 4, q)
        # Schoenholz et al. 2017: χ_q = χ₁ + σ_w² E[φ φ″] (tanh″ = −2 tanh sech²)
        slope = chi1 + sw * E(lambda u: -2 * mp.tanh(u) ** 2 * mp.sech(u) ** 2, q)
    # q* is solved to 4 ulp of a map accurate to 1e-12: |Δq| ≤ 1e-12·q/(1 − χ_q)
    tol = MOMENT_ACCURACY / (1 - float(slope))
    assert fp.q_star == pytest.approx(float(q), rel=4 * tol)
    assert fp.chi_1 == pytest.approx(float(chi1), rel=4 * tol)
    assert fp.slope == pytest.approx(float(slope), rel=1e-9)
    assert fp.xi_q == pytest.approx(-1 / math.log(float(slope)), rel=1e-9)
    assert fp.phase == "chaotic" and fp.stable


def _gh_cross(f, q: float, c: float) -> float:  # type: ignore[no-untyped-def]
    """E[f(u₁) f(u₂)] by a 300×300 Gauss–Hermite rule (smooth f; 120 nodes are not
    enough for sech² at q ≈ 2: its poles at u = ±iπ/2 are close to the real axis)."""
    z, w = np.polynomial.hermite_e.hermegauss(300)
    w = w / w.sum()
    u1 = math.sqrt(q) * z[:, None]
    u2 = math.sqrt(q) * (c * z[:, None] + math.sqrt(1 - c * c) * z[None, :])
    return float(w @ (f(u1) * f(u2)) @ w)


def test_chaotic_correlation_fixed_point() -> None:
    # χ₁ > 1: the correlation map c ↦ (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q* has an attracting c* < 1
    sw, sb = 4.0, 0.05
    fp = vg.fixed_point("tanh", sw, sb)
    assert fp.chi_1 > 1 and fp.c_star is not None and 0 < fp.c_star < 1
    c_map = (sw * _gh_cross(np.tanh, fp.q_star, fp.c_star) + sb) / fp.q_star
    assert c_map == pytest.approx(fp.c_star, abs=1e-9)
    chi_c = sw * _gh_cross(lambda u: 1 / np.cosh(u) ** 2, fp.q_star, fp.c_star)
    assert fp.chi_c == pytest.approx(chi_c, rel=1e-8) and fp.chi_c < 1
    assert fp.xi_c == pytest.approx(-1 / math.log(chi_c), rel=1e-7)
    ordered = vg.fixed_point("tanh", 0.8, 0.05)
    assert ordered.c_star == 1.0 and ordered.chi_c == ordered.chi_1 < 1


def test_fixed_point_argument_errors() -> None:
    with pytest.raises(vg.InvalidArgumentError):
        vg.fixed_point("tanh", -1, 0)
    with pytest.raises(vg.InvalidArgumentError):
        vg.fixed_point("tanh", 1, 0, q0=0.0)
    with pytest.raises(vg.InvalidArgumentError):
        vg.critical_point("tanh", sigma_b2=-0.1)
    with pytest.raises(vg.InvalidArgumentError):
        vg.critical_line("tanh", [0.1, float("nan")])


# --------------------------------------------------------------------------- gains


@pytest.mark.slow
def test_gain_table_exact_rows() -> None:
    names = ["relu", "identity", "leaky_relu", "selu", "tanh", "sigmoid", "gelu"]
    rows = {r.activation.split("(")[0]: r for r in vg.gain_table(names)}
    # convention Var(W) = g²/fan_in, g² E[φ(z)²] = 1: ReLU √2 (He), linear 1
    assert rows["relu"].derived.gain == sp.sqrt(2) and rows["relu"].derived_exact
    assert rows["identity"].derived.gain == 1
    a = sp.Rational(1, 100)
    assert sp.simplify(rows["leaky_relu"].derived.gain - sp.sqrt(2 / (1 + a**2))) == 0
    # SELU: E[selu(z)²] = 1 exactly (Klambauer et al. 2017), so the derived gain is 1
    assert rows["selu"].second_moment == 1 and rows["selu"].derived.gain == 1
    # PyTorch's calculate_gain: linear/sigmoid 1, tanh 5/3, relu √2, leaky √(2/(1+a²)), selu 3/4
    assert rows["tanh"].pytorch.gain == sp.Rational(5, 3)
    assert rows["sigmoid"].pytorch.gain == 1 and rows["selu"].pytorch.gain == sp.Rational(3, 4)
    assert rows["leaky_relu"].pytorch.gain == rows["leaky_relu"].derived.gain
    assert rows["gelu"].pytorch is None
    # ReLU at its gain is critical: χ₁ = 1, every q a fixed point
    assert rows["relu"].derived.chi_1 == 1 and rows["relu"].derived.phase == "critical"


@pytest.mark.slow
def test_gain_table_tanh_against_mpmath() -> None:
    row = vg.gain_table(["tanh"])[0]
    with mp.workdps(20):
        m2 = E(lambda u: mp.tanh(u) ** 2, mp.mpf(1))
        g2 = 1 / m2
        chi1 = g2 * E(lambda u: mp.sech(u) ** 4, mp.mpf(1))
    assert float(row.derived.gain) ** 2 == pytest.approx(float(g2), rel=1e-11)
    # q = 1 is the fixed point the derived gain is built for
    assert row.derived.q_star == pytest.approx(1.0, rel=1e-10)
    assert row.derived.chi_1 == pytest.approx(float(chi1), rel=1e-10)
    # PyTorch's 5/3 puts tanh in the chaotic phase (χ₁ > 1)
    assert row.pytorch is not None and row.pytorch.chi_1 > 1 and row.pytorch.phase == "chaotic"
    assert "tanh" in format_gain_table([row])


def test_gain_row_plain_data() -> None:
    d = vg.gain_table(["relu"])[0].to_dict()
    assert d["derived"]["gain"] == {"exact": "sqrt(2)", "float": pytest.approx(math.sqrt(2))}
    json.dumps(d)


# --------------------------------------------------------------------------- CLI


@pytest.mark.slow
def test_cli_critical(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["critical", "erf", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["sigma_w2"]["exact"] == "pi/4"
    assert d["sigma_w2"]["float"] == pytest.approx(math.pi / 4, rel=1e-15)
    assert cli_main(["critical", "tanh", "--sigma-b2", "0,0.05"]) == 0
    out = capsys.readouterr().out
    assert "sigma_w2 = 1" in out and "1.76095463" in out
    assert cli_main(["critical", "relu", "--sigma-b2", "0.1"]) == 5
    assert "no finite fixed point" in capsys.readouterr().err
    assert cli_main(["critical", "tanh", "--sigma-b2", "x"]) == 2
