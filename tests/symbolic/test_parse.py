"""The safe expression parser (vgmath/symbolic/parse.py): what it builds, what it refuses, and that
refusing never executes anything."""

from __future__ import annotations

import builtins
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

import vgmath as vg
from vgmath.symbolic.parse import (
    FUNCTIONS,
    MAX_BITS,
    MAX_DEPTH,
    MAX_KINKS,
    MAX_LENGTH,
    parse_expression,
)
from vgmath.symbolic.piecewise import pieces

x = vg.x


def parse(text: str, **params: Any) -> sp.Expr:
    return parse_expression(text, params=params)


# --------------------------------------------------------------------------- what it builds

EXACT = [
    # numbers are exact: decimals and scientific notation become Rationals
    ("0.1*x", x / 10),
    ("1e-3*x", x / 1000),
    ("1.5E+3*x", 1500 * x),
    (".5*x + 5.", x / 2 + 5),
    ("1_000*x", 1000 * x),
    ("0.30000000000000004*x", sp.Rational(30000000000000004, 10**17) * x),
    # operators: ^ is a power, right-associative like **, binding tighter than unary minus
    ("x^2", x**2),
    ("2^3^2*x", 512 * x),
    ("2**3**2*x", 512 * x),
    ("-x^2", -(x**2)),
    ("x^2 + 1", x**2 + 1),
    ("--x", x),
    ("+-+x", -x),
    ("x/2/2", x / 4),
    ("x - 1 - 1", x - 2),
    # constants and functions
    ("e^x", sp.exp(x)),
    ("pi*x", sp.pi * x),
    ("log(x, 2)", sp.log(x) / sp.log(2)),
    ("arctan(x) - atan(x) + asinh(x)", sp.asinh(x)),
    ("sigmoid(x)", 1 / (1 + sp.exp(-x))),
    ("softplus(x)", sp.log(1 + sp.exp(x))),
    ("erf(x) + erfc(x) + sqrt(x)", sp.erf(x) + sp.erfc(x) + sp.sqrt(x)),
    (
        "sin(x)*cos(x)*tan(x)*sinh(x)*cosh(x)",
        sp.sin(x) * sp.cos(x) * sp.tan(x) * sp.sinh(x) * sp.cosh(x),
    ),
    # kinked functions become Piecewise with the kink in the left piece
    ("relu(x)", sp.Piecewise((0, x <= 0), (x, True))),
    ("heaviside(x)", sp.Piecewise((0, x <= 0), (1, True))),
    ("abs(x)", sp.Piecewise((-x, x <= 0), (x, True))),
    # at a tie of max/min a constant argument wins (as in the catalog), else the first one
    ("max(0, x)", sp.Piecewise((0, x <= 0), (x, True))),
    ("max(x, 0)", sp.Piecewise((0, x <= 0), (x, True))),
    ("min(x, 1)", sp.Piecewise((x, x < 1), (1, True))),
    ("max(x, 2*x, x/3)", sp.Piecewise((x / 3, x <= 0), (2 * x, True))),
    ("relu(x)*relu(-x) + x", x),
    ("sign(x)*log(1 + abs(x))", sp.Piecewise((-sp.log(1 - x), x <= 0), (sp.log(1 + x), True))),
]


@pytest.mark.parametrize(("text", "expected"), EXACT, ids=[t for t, _ in EXACT])
def test_builds_the_exact_expression(text: str, expected: sp.Expr) -> None:
    assert parse(text) == expected


def test_variable_is_the_real_symbol() -> None:
    e = parse("x*tanh(x)")
    assert e.free_symbols == {vg.x}
    assert next(iter(e.free_symbols)).is_real


@pytest.mark.parametrize(
    ("text", "catalog"),
    [
        ("x*tanh(log(1+exp(x)))", "mish"),
        ("x*tanh(softplus(x))", "mish"),
        ("max(0, x)", "relu"),
        ("x*heaviside(x)", "relu"),
        ("x/(1+abs(x))", "softsign"),
        ("1/(1+exp(-x))", "sigmoid"),
        ("x*sigmoid(x)", "silu"),
        ("x/2*(1+erf(x/sqrt(2)))", "gelu"),
        ("max(x/100, x)", "leaky_relu"),
    ],
)
def test_user_spelling_of_a_catalog_entry_is_identical(text: str, catalog: str) -> None:
    assert parse(text) == vg.activation(catalog).expr


def test_parameters_are_substituted_exactly() -> None:
    assert parse("a*x + tanh(x)", a=sp.Rational(1, 10)) == x / 10 + sp.tanh(x)
    # values may be anything to_sympy_number reads: floats as the decimal they print as
    assert parse("a*x + b", a=0.1, b="1/4") == x / 10 + sp.Rational(1, 4)
    assert vg.activation("a*x + tanh(x)", a=0.1).expr == x / 10 + sp.tanh(x)
    assert parse("relu(x - s)", s=1) == sp.Piecewise((0, x <= 1), (x - 1, True))


def test_numbers_for_parameter_values() -> None:
    # the route to_sympy_number takes for "1/4", "sqrt(2)": constants allowed there only
    assert parse_expression("1/4", params={}, allow_constant=True) == sp.Rational(1, 4)
    assert parse_expression("sqrt(2)", params={}, allow_constant=True) == sp.sqrt(2)
    assert vg.activation("leaky_relu", slope="1/4").params["slope"] == sp.Rational(1, 4)
    with pytest.raises(vg.InvalidArgumentError, match="slope"):
        vg.activation("leaky_relu", slope="__import__('os')")


# --------------------------------------------------------------------------- random trees


def _trees() -> st.SearchStrategy[tuple[str, Callable[[Any], Any]]]:
    """Random expressions as (text, mpmath function): an oracle built without the parser."""
    leaves = st.sampled_from(
        [
            ("x", lambda v: v),
            ("2", lambda v: mpmath.mpf(2)),
            ("0.5", lambda v: mpmath.mpf(1) / 2),
            ("pi", lambda v: +mpmath.pi),
            ("3e-1", lambda v: mpmath.mpf(3) / 10),
        ]
    )
    unary = {
        "tanh": mpmath.tanh,
        "sigmoid": lambda u: 1 / (1 + mpmath.exp(-u)),
        "softplus": lambda u: mpmath.log(1 + mpmath.exp(u)),
        "erf": mpmath.erf,
        "atan": mpmath.atan,
        "sin": mpmath.sin,
        "abs": abs,
        "relu": lambda u: max(u, 0),
    }

    def extend(
        children: st.SearchStrategy[tuple[str, Callable[[Any], Any]]],
    ) -> st.SearchStrategy[tuple[str, Callable[[Any], Any]]]:
        def binary(op: str, a: tuple[str, Any], b: tuple[str, Any]) -> tuple[str, Any]:
            fa, fb = a[1], b[1]
            fn = {
                "+": lambda v: fa(v) + fb(v),
                "-": lambda v: fa(v) - fb(v),
                "*": lambda v: fa(v) * fb(v),
            }[op]
            return (f"({a[0]}) {op} ({b[0]})", fn)

        def call(name: str, a: tuple[str, Any]) -> tuple[str, Any]:
            g, fa = unary[name], a[1]
            return (f"{name}({a[0]})", lambda v: g(fa(v)))

        return st.one_of(
            st.builds(binary, st.sampled_from(["+", "-", "*"]), children, children),
            st.builds(call, st.sampled_from(sorted(unary)), children),
        )

    return st.recursive(leaves, extend, max_leaves=6)


def _agrees(expr: sp.Expr, oracle: Callable[[Any], Any], points: list[float]) -> bool:
    f = sp.lambdify(x, expr, modules="mpmath")
    with mpmath.workdps(30):
        for p in points:
            got, want = mpmath.mpf(f(mpmath.mpf(p))), mpmath.mpf(oracle(mpmath.mpf(p)))
            # both sides are 30-digit evaluations of the same formula: 1e-20 leaves room for
            # the few digits lost to cancellation in sums of terms of size up to ~1e5
            if abs(got - want) > mpmath.mpf(10) ** -20 * (1 + abs(want)):
                return False
    return True


_POINTS = [-2.5, -0.75, 0.3, 1.9]


@given(_trees())
def test_random_trees_match_an_independent_oracle(tree: tuple[str, Callable[[Any], Any]]) -> None:
    text, oracle = tree
    try:
        expr = parse(text)
    except vg.ExpressionError as err:
        # the only refusals allowed here: no x left, or a kink SymPy cannot solve for
        assert "does not depend on x" in str(err) or "kinks" in str(err)
        return
    assert _agrees(expr, oracle, _POINTS)


@pytest.mark.quality
def test_oracle_comparison_catches_a_wrong_precedence() -> None:
    # had ^ been read as Python's XOR-precedence, x^2 + 1 would mean x^(2+1)
    good = parse("x^2 + 1")
    assert _agrees(good, lambda v: v**2 + 1, _POINTS)
    assert not _agrees(x ** (2 + 1), lambda v: v**2 + 1, _POINTS)


@given(st.text(alphabet="x()+-*/^.,0123456789e abcdfglmnpqrstuw_[]'\"=<>:", max_size=40))
def test_arbitrary_text_parses_or_is_refused_cleanly(text: str) -> None:
    start = time.perf_counter()
    try:
        parse(text)
    except vg.ExpressionError as err:
        assert err.argument == "expression"
        assert "offending token" in str(err)
    assert time.perf_counter() - start < 5.0


# --------------------------------------------------------------------------- refusals

REFUSED = [
    # (text, offending token, words of the reason)
    ("", "", "empty"),
    ("   ", "", "empty"),
    ("x +", "", "syntax error at the end"),
    ("2x", "2x", "syntax error at column 1"),
    ("tanh(x", "(x", "column 5"),
    ("x ^^ 2", "^", "column 4"),  # the column counts the user's '^', not the rewritten '**'
    ("x\n+1", "'\\n'", "control characters"),
    ("y*x", "y", "unknown name 'y'; the variable is x, no parameters"),
    ("E*x", "E", "unknown name 'E'"),
    ("tanh", "tanh", "must be called"),
    ("tanh(x, 1)", "tanh", "takes 1 argument, got 2"),
    ("max(x)", "max", "takes 2 or more arguments, got 1"),
    ("log(x, 1)", "1", "base must be > 0"),
    ("log(x, -2)", "-2", "base must be > 0"),
    ("foo(x)", "foo", "unknown function 'foo'"),
    ("x(2)", "x", "not a function"),
    ("pi(2)*x", "pi", "not a function"),
    ("tanh(x=1)", "x=", "keyword arguments"),
    ("tanh(**{})", "**", "keyword arguments"),
    ("tanh(*x)", "*", "unpacking"),
    ("x.real", ".real", "attribute access"),
    ("x[0]", "x[0]", "subscripts"),
    ("'x'", "'x'", "strings"),
    ("f'{x}'", "f'{x}'", "strings"),
    ("b'x'", "b'x'", "strings"),
    ("x*2j", "2j", "complex numbers"),
    ("True*x", "True", "not a number"),
    ("None", "None", "not a number"),
    ("(x, 1)", "(x, 1)", "tuples"),
    ("[x]", "[x]", "lists"),
    ("{x: 1}", "{x: 1}", "dicts"),
    ("x < 1", "<", "comparisons"),
    ("x and 1", "and", "and/or"),
    ("x if x else 0", "if", "conditional"),
    ("(y := x)", ":=", "assignment"),
    ("not x", "not", "operator"),
    ("~x", "~", "operator"),
    ("x // 2", "//", "operator"),
    ("x % 2", "%", "operator"),
    ("x @ x", "@", "operator"),
    ("x | 1", "|", "operator"),
    ("x << 1", "<<", "operator"),
    ("1/0 + x", "/", "division by zero"),
    ("log(0) + x", "log(0)", "undefined or infinite"),
    ("sqrt(-1)*x", "sqrt(-1)", "not a real number"),
    ("(-8)**(1/3)*x", "(-8)**(1/3)", "not a real number"),
    ("1/4", "1/4", "does not depend on x"),
    ("tanh(2) + x - x", "tanh(2) + x - x", "does not depend on x"),
    ("sign(x)", "sign", "isolated value"),
    ("relu(sin(x))", "sin(x) <= 0", "cannot locate the kinks"),
    ("9**9**9*x", "9**9**9", f"more than {MAX_BITS} bits"),
    ("(2*x)**100000", "(2*x)**100000", f"more than {MAX_BITS} bits"),
    ("(3*x)**9000", "(3*x)**9000", f"more than {MAX_BITS} bits"),
    ("(x/3)**-9000", "(x/3)**-9000", f"more than {MAX_BITS} bits"),
    ("2**8000*x*2**8000", "2**8000*x*2**8000", f"more than {MAX_BITS} bits"),
    ("1e5000*x", "1e5000", "decimal exponents"),
    (
        "+".join(f"relu(x - {i})" for i in range(MAX_KINKS + 1)),
        "relu",
        f"more than {MAX_KINKS} kinks",
    ),
    ("max(" + ", ".join(["x"] * (MAX_KINKS + 2)) + ")", "max", f"more than {MAX_KINKS} kinks"),
    ("x**" * MAX_DEPTH + "x", "x", f"more than {MAX_DEPTH} levels"),
    ("tanh(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1), "tanh(", "levels deep"),
]


@pytest.mark.parametrize(("text", "token", "reason"), REFUSED, ids=[r[0][:30] for r in REFUSED])
def test_refused_with_the_offending_token(text: str, token: str, reason: str) -> None:
    with pytest.raises(vg.ExpressionError) as info:
        parse(text)
    err = info.value
    assert err.argument == "expression"
    assert err.token.startswith(token) if token.endswith("(") else err.token == token
    assert reason in str(err)
    assert "\n" not in str(err).replace("\\n", "")


def test_refusal_lists_given_parameters() -> None:
    with pytest.raises(
        vg.ExpressionError, match=r"unknown name 'y'; the variable is x, parameters: a, b"
    ):
        parse("a*x + b + y", a=1, b=2)


@pytest.mark.slow
def test_many_kinks_fold_in_reasonable_time() -> None:
    # a sum of MAX_KINKS ramps: 2^8 combinations before simplification, 9 pieces after
    start = time.perf_counter()
    e = parse("+".join(f"relu(x - {i})" for i in range(MAX_KINKS)))
    assert time.perf_counter() - start < 5.0
    assert isinstance(e, sp.Piecewise) and len(e.args) == MAX_KINKS + 1
    assert pieces(e)[-1][1] == MAX_KINKS * x - sum(range(MAX_KINKS))


def test_long_chains_are_not_mistaken_for_deep_nesting() -> None:
    # sums, products and sign runs are read iteratively: 400 terms are fine
    assert parse("+".join(["x"] * 400)) == 400 * x
    assert parse("-" * 900 + "x") == x
    assert parse("*".join(["x"] * 300)) == x**300


def test_length_limit() -> None:
    assert parse("x" + " " * (MAX_LENGTH - 1)) == x
    with pytest.raises(vg.ExpressionError, match=f"longer than {MAX_LENGTH} characters"):
        parse("x" + "+x" * MAX_LENGTH)


def test_huge_powers_are_refused_before_they_are_computed() -> None:
    start = time.perf_counter()
    for text in ["9**9**9**9*x", "x*10**10**10", "(3*x)**(10**12)", "(1/3)**-(9**9)*x"]:
        with pytest.raises(vg.ExpressionError, match="bits"):
            parse(text)
    # computing any of them would take minutes and gigabytes
    assert time.perf_counter() - start < 1.0
    # the guard leaves ordinary powers alone
    assert parse("(2*x)**3") == 8 * x**3
    assert parse("2**100*x") == 2**100 * x
    assert parse("x**1000") == x**1000
    assert parse("(1 + x)**-1000") == (1 + x) ** -1000  # stays unexpanded: nothing grows
    assert parse("2**1000*x") == 2**1000 * x  # inside the float64 range
    with pytest.raises(vg.ExpressionError, match="float64 range"):
        parse("2**8000*x")  # 8001 bits: inside MAX_BITS, but beyond any float


# --------------------------------------------------------------------------- parameters


def test_unused_parameter_is_named() -> None:
    with pytest.raises(vg.InvalidArgumentError) as info:
        parse("a*x", a=1, b=2)
    assert info.value.argument == "b"
    assert "does not appear" in str(info.value)


@pytest.mark.parametrize("name", ["x", "tanh", "relu", "pi", "e", "__class__"])
def test_parameter_names_must_not_shadow(name: str) -> None:
    with pytest.raises(vg.InvalidArgumentError) as info:
        parse_expression("tanh(x)", params={name: 1})
    assert info.value.argument == name


@pytest.mark.parametrize(
    ("value", "reason"),
    [(float("nan"), "finite"), (float("inf"), "finite"), (True, "bool"), (1j, "real number")],
)
def test_bad_parameter_values_are_named(value: Any, reason: str) -> None:
    with pytest.raises(vg.InvalidArgumentError, match=reason) as info:
        parse("a*x", a=value)
    assert info.value.argument == "a"


def test_every_function_is_reachable() -> None:
    for name, spec in FUNCTIONS.items():
        args = ", ".join(["x", "3"][: spec.min_args] if name != "log" else ["x"])
        text = f"{name}({args})" if name != "sign" else "sign(x)*x"
        assert x in parse(text).free_symbols, name


# --------------------------------------------------------------------------- safety

HOSTILE = [
    "__import__('os').system('touch hacked')",
    "().__class__.__bases__[0].__subclasses__()",
    "exp.__globals__",
    "lambda: 0",
    "[x for x in ()]",
    "open('f')",
    "open('f', 'w').write('x')",
    "__builtins__",
    "globals()['__builtins__']",
    "eval('1')",
    "exec('import os')",
    "getattr(x, 'real')",
    "tanh.__call__(x)",
    "(lambda: __import__('os').system('touch hacked'))()",
    "[c for c in ().__class__.__base__.__subclasses__()][0]",
    "x if __import__('os').system('touch hacked') else x",
    "tanh(x)*{__import__('os').system('touch hacked')}",
    'sigmoid(x) + f\'{__import__("os").system("touch hacked")}\'',
    "max(x, (yield))",
    "breakpoint()",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_refused_without_executing_anything(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    real_eval, real_exec = builtins.eval, builtins.exec

    def no_source(kind: str, real: Callable[..., Any]) -> Callable[..., Any]:
        # imports run module code objects through exec; source *text* must never get there
        # (that is what eval, sympify and parse_expr do with a string)
        def spy(source: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(source, str):
                raise AssertionError(f"{kind} called on text {source!r}")
            return real(source, *args, **kwargs)

        return spy

    monkeypatch.setattr(builtins, "eval", no_source("eval", real_eval))
    monkeypatch.setattr(builtins, "exec", no_source("exec", real_exec))
    with pytest.raises(vg.InvalidArgumentError):
        parse(text)
    with pytest.raises(vg.InvalidArgumentError):
        vg.activation(text)
    assert not (tmp_path / "hacked").exists()
    assert not (tmp_path / "f").exists()
    assert list(tmp_path.iterdir()) == []


def test_the_eval_spy_would_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    # the spy above is not vacuous: sympify of raw text goes through eval of a string
    seen: list[str] = []
    real_eval = builtins.eval

    def spy(source: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(source, str):
            seen.append(source)
        return real_eval(source, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", spy)
    sp.sympify("x + 1")
    assert seen


# --------------------------------------------------------------------------- user activations


def test_user_kinks_follow_one_convention_in_sympy_and_numpy() -> None:
    for text in [
        "max(0, x)",
        "max(x, 0)",
        "abs(x)",
        "min(max(x, -1), 1)",
        "relu(x - 1/2)",
        "sign(x)*log(1 + abs(x))",
        "heaviside(x)*x**2 + x",
    ]:
        act = vg.activation(text)
        bps = [float(b) for b in act.breakpoints]
        assert bps, text
        sym = [float(act.derivative.subs(x, b)) for b in act.breakpoints]
        num = act.grad(np.array(bps))
        np.testing.assert_array_equal(num, sym, err_msg=text)


def test_user_expression_derivative_matches_finite_differences() -> None:
    act = vg.activation("a*x + tanh(x)*sigmoid(x)", a=0.1)
    xs = np.linspace(-4, 4, 17)
    h = 1e-5
    fd = (act(xs + h) - act(xs - h)) / (2 * h)
    # central differences: truncation h²|φ‴|/6 ≤ 1e-10·O(1), rounding ε|φ|/h ≈ 1e-11
    np.testing.assert_allclose(act.grad(xs), fd, rtol=0, atol=1e-9)
    assert math.isclose(float(act.derivative.subs(x, 0)), 0.1 + 0.5, rel_tol=1e-15)


@pytest.mark.parametrize("text", ["x**100000", "(1 + x)**9000", "x**1e300", "2**x**10**10",
                                  "x**-1001"])
def test_powers_of_x_beyond_the_exponent_limit_are_refused_at_once(text: str) -> None:
    """``x**1e300`` took 87 s and ``2**x**10**10`` 7.4 GB before: every evaluation of such a
    power is astronomically expensive and it overflows float64 everywhere but near |x| = 1."""
    start = time.perf_counter()
    with pytest.raises(vg.ExpressionError, match="exponent of at most 1000"):
        parse(text)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("text", ["1e1000*x", "1e-1000*x", "x + 10**400"])
def test_numbers_outside_the_float64_range_are_refused(text: str) -> None:
    with pytest.raises(vg.ExpressionError, match="float64 range"):
        parse(text)


def test_kink_condition_sympy_cannot_solve_is_one_expression_error() -> None:
    """abs(erf(x)) raised NotImplementedError from SymPy's ConditionSet (found by the
    random-tree test)."""
    with pytest.raises(vg.ExpressionError, match="kinks"):
        parse("abs(erf(x))")


def test_isolated_point_inside_one_piece_is_merged() -> None:
    """abs(x*x) folds to x² on x < 0 or x > 0 plus the point {0} with the same value: the
    point lies inside one piece's closure (not at its inf or sup), and is merged, not
    refused as a jump (found by test_random_trees_match_an_independent_oracle)."""
    assert parse("abs((x) * (x))") == x**2
