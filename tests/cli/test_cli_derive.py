"""``vgmath derive``: the derivatives and certified bounds of an activation on the command line."""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

import vgmath as vg
from vgmath.cli import main
from vgmath.cli.derive import derive, to_ascii, to_json, to_latex, to_text

EPS64 = float(np.finfo(np.float64).eps)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["derive", *argv])
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> dict[str, Any]:
    code, out, err = run_cli(*argv, "--json")
    assert code == 0, err
    assert err == ""
    return json.loads(out)


@pytest.fixture(scope="module")
def sigmoid_doc() -> dict[str, Any]:
    return run_json("sigmoid")


@pytest.fixture(scope="module")
def sigmoid_result() -> dict[str, Any]:
    return derive("sigmoid")


# --------------------------------------------------------------------------- sigmoid


def test_sigmoid_sup_is_one_quarter_exact_attained_at_zero(sigmoid_doc: dict[str, Any]) -> None:
    # σ′ = σ(1 − σ) ≤ 1/4 with equality at σ = 1/2, i.e. x = 0 (Bengio, Simard & Frasconi 1994)
    sup = sigmoid_doc["derivative_bound"]["sup"]
    assert sup["value"] == "1/4" and sup["float"] == 0.25
    assert sup["exact"] is True and sup["error"] == 0.0
    assert sup["at"] == "0" and sup["attained"] is True
    inf = sigmoid_doc["derivative_bound"]["inf"]
    assert inf["value"] == "0" and inf["exact"] is True and inf["attained"] is False
    assert sigmoid_doc["derivative_bound"]["sup_abs"]["value"] == "1/4"
    assert sigmoid_doc["phi"]["expr"] == "1/(1 + exp(-x))"
    assert sp.sympify(sigmoid_doc["phi_prime"]["expr"]).equals(
        sp.exp(-sp.Symbol("x")) / (1 + sp.exp(-sp.Symbol("x"))) ** 2
    )
    assert sigmoid_doc["breakpoints"] == [] and sigmoid_doc["params"] == {}


def test_sigmoid_chain_depth(sigmoid_doc: dict[str, Any]) -> None:
    # (1/4)^4 = 1/256 ≥ 1/1000 > 1/1024 = (1/4)^5: the chain bound falls below 1e-3 at L = 5
    chain = sigmoid_doc["chain_bound"]
    assert Fraction(1, 4) ** 4 >= Fraction(1, 1000) > Fraction(1, 4) ** 5
    assert chain["min_depth"] == 5
    assert chain["bound"] == "1/1024"
    assert chain["eps"] == "1/1000"
    assert chain["factor"] == "1/4" and chain["factor_exact"] is True
    assert chain["vanishes"] is True


def test_sigmoid_saturation_region_in_closed_form(sigmoid_doc: dict[str, Any]) -> None:
    # σ′(x) = t/(1+t)² with t = e^x; σ′ = 1/100 ⇔ t² − 98t + 1 = 0 ⇔ t = 49 ± 20√6
    region = sigmoid_doc["saturation_region"]
    assert region["eps"] == "1/100" and region["exact"] is True
    edge = math.log(49 + 20 * math.sqrt(6))
    floats = [b["float"] for b in region["boundaries"]]
    assert floats == pytest.approx([-edge, edge], rel=4 * EPS64)
    values = [sp.sympify(b["value"]) for b in region["boundaries"]]
    assert sp.simplify(values[1] - sp.log(49 + 20 * sp.sqrt(6))) == 0
    # and NumPy agrees that σ′ crosses 1/100 there (relative error ≈ ε·|x σ″/σ′| ≈ 5ε)
    act = vg.activation("sigmoid")
    assert act.grad(np.array(floats)) == pytest.approx([0.01, 0.01], rel=16 * EPS64)


def test_text_report(sigmoid_result: dict[str, Any]) -> None:
    text = to_text(sigmoid_result)
    assert "sup φ′ = 1/4 (exact), attained at x = 0" in text
    assert "inf φ′ = 0 (exact), approached as x → ±∞" in text
    assert "(sup|φ′|)^L < 1/1000 from depth L = 5 on" in text
    assert "(1/4)^5 = 1/1024 < 1/1000 ≤ (1/4)^4 = 1/256" in text
    assert "x ∈ (-∞, log(49 - 20*sqrt(6))) ∪ (log(20*sqrt(6) + 49), ∞)" in text
    assert "φ″(x)" in text
    ascii_text = to_ascii(to_text(sigmoid_result, unicode=False))
    assert ascii_text.isascii()
    assert "sup phi' = 1/4 (exact), attained at x = 0" in ascii_text
    assert "approached as x -> +-oo" in ascii_text


def test_latex_report(sigmoid_result: dict[str, Any]) -> None:
    tex = to_latex(sigmoid_result)
    lines = tex.strip().splitlines()
    assert lines[0] == "% vgmath derive sigmoid"
    assert all(ln.startswith(r"\[ ") and ln.endswith(r" \]") for ln in lines[1:])
    assert r"\varphi'(x) = \frac{e^{- x}}{\left(1 + e^{- x}\right)^{2}}" in tex
    assert r"\sup_{x} \varphi'(x) = \frac{1}{4}" in tex
    assert r"\min\{L : s^L < \frac{1}{1000}\} = 5" in tex


def test_json_document_is_strict_json(sigmoid_result: dict[str, Any]) -> None:
    doc = to_json(sigmoid_result)
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text) == doc


# --------------------------------------------------------------------------- options


def test_catalog_parameters() -> None:
    doc = run_json("leaky_relu", "--param", "slope=0.1")
    assert doc["activation"] == "leaky_relu(slope=1/10)"
    assert doc["params"] == {"slope": {"value": "1/10", "float": 0.1}}
    b = doc["derivative_bound"]
    assert (b["sup"]["value"], b["inf"]["value"]) == ("1", "1/10")
    assert b["sup"]["at"] == "Interval.open(0, oo)"
    assert b["inf"]["at"] == "Interval(-oo, 0)"  # the kink belongs to the left piece
    assert doc["saturation_region"]["region"] == "EmptySet"  # |φ′| ≥ 1/10 > 1/100
    assert doc["chain_bound"]["min_depth"] is None
    assert doc["chain_bound"]["vanishes"] is False
    assert [b["value"] for b in doc["breakpoints"]] == ["0"]


@pytest.mark.slow
def test_user_expression_with_parameter() -> None:
    # φ′ = 1/10 + sech²x: sup 11/10 at x = 0, inf 1/10 approached as |x| → ∞
    doc = run_json("a*x + tanh(x)", "--param", "a=1/10")
    assert doc["source"] == "a*x + tanh(x)"
    assert doc["phi"]["expr"] == "x/10 + tanh(x)"
    b = doc["derivative_bound"]
    assert b["sup"]["value"] == "11/10" and b["sup"]["exact"] is True
    assert b["sup"]["at"] == "0" and b["sup"]["attained"] is True
    assert b["inf"]["value"] == "1/10" and b["inf"]["attained"] is False


def test_eps_option() -> None:
    # tanh′ = 1 − tanh² < ε ⇔ |x| > artanh(√(1−ε)); at ε = 1/1000 that is |x| > 3.8002
    doc = run_json("tanh", "--eps", "1e-3")
    region = doc["saturation_region"]
    assert region["eps"] == "1/1000"
    edge = math.atanh(math.sqrt(1 - 1e-3))
    # math.atanh near 1 amplifies the rounding of √0.999 by 1/(1 − u²) = 1000: ~1e-13 relative
    assert [b["float"] for b in region["boundaries"]] == pytest.approx([-edge, edge], rel=1e-12)
    assert doc["chain_bound"]["min_depth"] is None  # sup tanh′ = 1


def test_chain_eps_option() -> None:
    # hard_sigmoid′ ≤ 1/6: (1/6)² = 1/36 ≥ 1/100 > 1/216 = (1/6)³
    doc = run_json("hard_sigmoid", "--chain-eps", "1/100")
    assert doc["derivative_bound"]["sup_abs"]["value"] == "1/6"
    assert doc["chain_bound"]["min_depth"] == 3
    assert doc["chain_bound"]["bound"] == "1/216"


def test_default_output_is_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "relu"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("relu")
    for line in ("kinks at x = 0", "sup", "saturation region", "chain bound"):
        assert line in to_ascii(out) or line in out


# --------------------------------------------------------------------------- bad input

BAD = [
    (["nosuch"], "unknown activation", 2),
    (["rleu"], "known: identity, sigmoid", 2),
    (["leaky_relu", "--param", "slope=abc"], "slope", 2),
    (["leaky_relu", "--param", "slope"], "expected NAME=VALUE", 2),
    (["relu", "--param", "slope=1"], "relu has no parameter 'slope'", 2),
    (["silu", "--param", "beta=-1"], "must be > 0", 2),
    (["a*x", "--param", "a=1", "--param", "b=2"], "'b' does not appear", 2),
    (["y*x"], "unknown name 'y'", 2),
    (["x +"], "syntax error", 2),
    (["sign(x)"], "isolated value", 2),
    (["tanh", "--eps", "0"], "--eps", 2),
    (["tanh", "--eps", "abc"], "--eps", 2),
    (["tanh", "--chain-eps", "-1"], "--chain-eps", 2),
    (["tanh", "--json", "--latex"], "not allowed with", 2),
    ([], "required", 2),
]


@pytest.mark.parametrize(("argv", "words", "code"), BAD, ids=[" ".join(a) for a, *_ in BAD])
def test_bad_input_is_one_line_on_stderr(
    argv: list[str], words: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["derive", *argv]) == code
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert words in err
    assert "Traceback" not in err


HOSTILE = [
    "__import__('os').system('touch hacked')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('hacked', 'w')",
    "exp.__globals__",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expression_is_refused(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["derive", text]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("vgmath: error: invalid")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (vg.NumericalError("cannot certify the sign of -sin(x) as x -> -oo"), "sin(x)"),
        # an unexpected failure inside the certifier still gives one line, naming it
        (AttributeError("'Infinity' object has no attribute '_mpf_'"), "AttributeError"),
    ],
)
def test_certifier_failure_is_one_line(
    exc: Exception, words: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vgmath.symbolic.bounds

    def fail(act: Any) -> Any:
        raise exc

    monkeypatch.setattr(vgmath.symbolic.bounds, "derivative_bound", fail)
    assert main(["derive", "tanh"]) == 5
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err
    assert err.startswith("vgmath: error: ")


@pytest.mark.slow
def test_real_subprocess_reports_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vgmath", "derive", "nosuch"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("vgmath: error: invalid activation='nosuch': unknown activation")


# --------------------------------------------------------------------------- the bound is right


def _bound_violations(doc: dict[str, Any], act: vg.Activation) -> list[str]:
    """Compare the reported sup/inf of φ′ with φ′ evaluated by NumPy on a fine grid.

    A certified bound must enclose every value φ′ takes: max over the grid ≤ sup and
    min ≥ inf, up to NumPy's own rounding (≤ 8ε·(|φ′| + |x φ″|), see test_activation.py;
    4e-14 covers it for |x| ≤ 20 and the O(1) values here). Where the sup is attained at a
    point, φ′ there must equal it to that accuracy.
    """
    tol = 4e-14
    xs = np.linspace(-20, 20, 400_001)
    g = act.grad(xs)
    sup, inf = doc["sup"]["float"], doc["inf"]["float"]
    bad = []
    if g.max() > sup + tol:
        bad.append(f"max φ′ on the grid {g.max()} exceeds sup {sup}")
    if g.min() < inf - tol:
        bad.append(f"min φ′ on the grid {g.min()} is below inf {inf}")
    at = sp.sympify(doc["sup"]["at"])
    if doc["sup"]["attained"] and at.is_number and at.is_finite:
        value = float(act.grad(np.array([float(at)]))[0])
        if abs(value - sup) > tol:
            bad.append(f"φ′({at}) = {value}, not the reported sup {sup}")
    return bad


@pytest.mark.parametrize(
    ("name", "params"),
    [("tanh", {}), ("hard_sigmoid", {}), ("leaky_relu", {"slope": "1/10"}), ("gelu", {})],
)
def test_reported_bounds_enclose_numpy_values(name: str, params: dict[str, str]) -> None:
    argv = [name] + [a for k, v in params.items() for a in ("--param", f"{k}={v}")]
    doc = run_json(*argv)
    assert not _bound_violations(doc["derivative_bound"], vg.activation(name, **params))


def test_sigmoid_bound_encloses_numpy_values(sigmoid_doc: dict[str, Any]) -> None:
    assert not _bound_violations(sigmoid_doc["derivative_bound"], vg.activation("sigmoid"))


@pytest.mark.quality
def test_a_wrong_bound_is_caught(sigmoid_doc: dict[str, Any]) -> None:
    act = vg.activation("sigmoid")
    good = sigmoid_doc["derivative_bound"]
    too_small = json.loads(json.dumps(good))
    too_small["sup"]["float"] = 0.2  # e.g. a mis-derived 1/5
    assert _bound_violations(too_small, act)
    misplaced = json.loads(json.dumps(good))
    misplaced["sup"]["at"] = "1"  # the right value at the wrong place
    assert _bound_violations(misplaced, act)
    too_high_inf = json.loads(json.dumps(good))
    too_high_inf["inf"]["float"] = 1e-3
    assert _bound_violations(too_high_inf, act)
