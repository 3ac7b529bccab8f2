"""Safe parsing of user-written activation expressions.

``vg.activation("x*tanh(log(1+exp(x)))")`` and ``vg.activation("a*x + tanh(x)", a=0.1)`` come
here. The text is never ``eval``-ed, never handed to ``sympify`` or ``parse_expr``: it is read
with :func:`ast.parse` (which only builds a syntax tree and executes nothing) and that tree is
walked node by node, building the SymPy expression from a whitelist.

What is accepted
----------------
=========================  ==================================================================
numbers                    ``2``, ``0.1`` (→ exactly 1/10), ``1e-3`` (→ 1/1000), ``1_000``
the variable               ``x`` (→ :data:`vgmath.x`, the real symbol)
parameters                 names passed in ``params`` (replaced by their exact values)
constants                  ``pi``, ``e``
operators                  unary ``+ -``; binary ``+ - * / **``; ``^`` is also a power
functions                  ``exp log sqrt sin cos tan sinh cosh tanh asinh atan arctan erf erfc``
                           (one argument; ``log(u, base)`` also), ``abs sign relu heaviside
                           sigmoid softplus`` (one argument), ``max min`` (two or more)
=========================  ==================================================================

Everything else is refused with :class:`vgmath.ExpressionError`, which names the offending
token: attribute access, subscripts, names with ``__``, ``lambda``, comprehensions, strings,
keyword arguments, calls of other names, unknown names, comparisons, syntax errors (with the
column). An expression that does not contain ``x`` is refused as an activation (φ′ ≡ 0 passes
no gradient at all); :func:`vgmath.symbolic.parse.to_sympy_number` reads numbers such as ``"1/4"``
or ``"sqrt(2)"`` with ``allow_constant=True``.

Kinked functions become ``Piecewise`` (what :func:`vgmath.symbolic.piecewise.pieces` splits),
with the
kink in the piece whose closed condition holds there — vgmath's convention
(:mod:`vgmath.symbolic.catalog`):

* ``relu(u) = Piecewise((0, u <= 0), (u, True))`` (relu′(0) = 0, as in the catalog);
* ``heaviside(u) = Piecewise((0, u <= 0), (1, True))`` (so ``relu′ = heaviside``);
* ``abs(u) = Piecewise((-u, u <= 0), (u, True))``;
* ``max(a, b)`` and ``min(a, b)``: at a tie a *constant* argument wins, so ``max(x, 0)`` and
  ``max(0, x)`` are both exactly ``relu(x)`` (φ′(0) = 0) and ``min(max(x, -1), 1)`` has
  φ′(±1) = 0 like the catalog's ``hard_tanh``; between two arguments that both depend on x
  the first one wins (``max(x, 2*x)`` has φ′(0) = 1);
* ``sign(u)`` is −1, 0, 1; an isolated value at a point (the 0 of ``sign(0)``) is kept only
  when it agrees with a neighbouring piece, as in ``sign(x)*log(1 + abs(x))``; a lone jump to a
  different value at one point (``sign(x)`` itself) is refused, since φ′ there is undefined.

Resource guards
---------------
Input longer than :data:`MAX_LENGTH` characters and nesting deeper than :data:`MAX_DEPTH`
levels are refused (SymPy's differentiation, printing and solving recurse over the tree, and
Python's recursion limit is 1000 frames), as are more than :data:`MAX_KINKS` kinked calls
(folding them into one ``Piecewise`` is exponential in their number). Exact arithmetic is
guarded *before* SymPy evaluates it: a power whose exact result would need more than
:data:`MAX_BITS` bits (``9**9**9`` has about 1.2·10⁹ bits) is refused, as is any exact number
of that size.

This module is longer than the others (~830 lines) because it is one cohesive thing: the
single door through which user text becomes SymPy — the AST whitelist, the number reader
(:func:`to_sympy_number`, :func:`as_sympy`) and the limits that keep both bounded — and
splitting it would open a second door.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NoReturn

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from ..core.errors import ExpressionError, InvalidArgumentError
from .symbols import x

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_BITS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_KINKS",
    "MAX_LENGTH",
    "as_sympy",
    "expression_text",
    "parse_expression",
    "to_sympy_number",
    "to_sympy_parameter",
]

#: Longest accepted expression (characters).
MAX_LENGTH = 1000
#: Deepest accepted nesting of calls, powers and parentheses. Chains such as ``x + x + … + x``
#: or ``- - x`` are read iteratively and do not count.
MAX_DEPTH = 50
#: Largest exact integer (numerator or denominator) an expression may hold or produce, in
#: bits: 8192 bits ≈ 2466 decimal digits, below Python's 4300-digit printing limit.
MAX_BITS = 8192
#: Most kinked calls (relu, abs, sign, heaviside; max/min count one per extra argument) in
#: one expression: folding them into one ``Piecewise`` is exponential in their number (2^n
#: combinations before simplification; 8 take under a second).
MAX_KINKS = 8
#: Largest decimal exponent of a literal such as ``1e300`` (10**1000 has 3322 bits < MAX_BITS).
MAX_LITERAL_EXPONENT = 1000
#: Largest |n| in a power ``u**n`` of an expression in x (``x**1e300`` or ``2**x**10**10``
#: would make every evaluation, derivative and bound astronomically expensive).
MAX_EXPONENT = 1000
#: Largest magnitude of a number in an activation: beyond float64 it cannot be simulated.
MAX_MAGNITUDE = sp.Float("1.7976931348623157e308")


# --------------------------------------------------------------------------- the whitelist


def _relu(u: sp.Expr) -> sp.Expr:
    if u.is_nonnegative:  # relu(x**2) = x**2: no piece for the isolated zero
        return u
    if u.is_nonpositive:
        return sp.Integer(0)
    return sp.Piecewise((0, u <= 0), (u, True))


def _heaviside(u: sp.Expr) -> sp.Expr:
    return sp.Piecewise((0, u <= 0), (1, True))


def _abs(u: sp.Expr) -> sp.Expr:
    if u.is_nonnegative:  # abs(x**2) = x**2 (its zero at 0 is not a kink)
        return u
    if u.is_nonpositive:
        return -u
    return sp.Piecewise((-u, u <= 0), (u, True))


def _sign(u: sp.Expr) -> sp.Expr:
    return sp.Piecewise((-1, u < 0), (0, sp.Eq(u, 0)), (1, True))


def _tie_to_second(a: sp.Expr, b: sp.Expr) -> bool:
    """At a tie of max/min, a constant argument wins (φ′ = 0 there, as for the catalog's
    relu, hard_tanh and hard_sigmoid); otherwise the first argument does."""
    return not b.free_symbols and bool(a.free_symbols)


def _max(*args: sp.Expr) -> sp.Expr:
    out = args[0]
    for b in args[1:]:
        cond = out > b if _tie_to_second(out, b) else out >= b
        out = sp.Piecewise((out, cond), (b, True))
    return out


def _min(*args: sp.Expr) -> sp.Expr:
    out = args[0]
    for b in args[1:]:
        cond = out < b if _tie_to_second(out, b) else out <= b
        out = sp.Piecewise((out, cond), (b, True))
    return out


def _sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


def _softplus(u: sp.Expr) -> sp.Expr:
    return sp.log(1 + sp.exp(u))


def _log(u: sp.Expr, base: sp.Expr | None = None) -> sp.Expr:
    return sp.log(u) if base is None else sp.log(u, base)


@dataclass(frozen=True)
class _Function:
    build: Callable[..., sp.Expr]
    min_args: int = 1
    max_args: int | None = 1  # None: no upper limit

    def arity(self) -> str:
        if self.max_args is None:
            return f"{self.min_args} or more arguments"
        if self.min_args == self.max_args:
            return f"{self.min_args} argument" + ("s" if self.min_args != 1 else "")
        return f"{self.min_args} to {self.max_args} arguments"


#: name -> builder and arity of every function an expression may call.
FUNCTIONS: Mapping[str, _Function] = {
    "exp": _Function(sp.exp),
    "log": _Function(_log, 1, 2),
    "sqrt": _Function(sp.sqrt),
    "sin": _Function(sp.sin),
    "cos": _Function(sp.cos),
    "tan": _Function(sp.tan),
    "sinh": _Function(sp.sinh),
    "cosh": _Function(sp.cosh),
    "tanh": _Function(sp.tanh),
    "asinh": _Function(sp.asinh),
    "atan": _Function(sp.atan),
    "arctan": _Function(sp.atan),
    "erf": _Function(sp.erf),
    "erfc": _Function(sp.erfc),
    "abs": _Function(_abs),
    "sign": _Function(_sign),
    "max": _Function(_max, 2, None),
    "min": _Function(_min, 2, None),
    "sigmoid": _Function(_sigmoid),
    "softplus": _Function(_softplus),
    "relu": _Function(_relu),
    "heaviside": _Function(_heaviside),
}

#: The named constants an expression may use.
CONSTANTS: Mapping[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}
_CMPOPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_KINKED = {"relu", "abs", "sign", "heaviside", "max", "min"}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_DISPLAYS = {ast.Tuple: "tuples", ast.List: "lists", ast.Set: "sets", ast.Dict: "dicts"}
_FLOAT_LITERAL = re.compile(r"([0-9]*\.?[0-9]*)(?:[eE]([+-]?[0-9]+))?")
_UNDEFINED = (sp.zoo, sp.nan, sp.oo, -sp.oo)


# --------------------------------------------------------------------------- the walker


class _Walker:
    """Builds the SymPy expression for one text; every refusal names the offending token."""

    def __init__(self, text: str, params: Mapping[str, sp.Expr]) -> None:
        self.text = text
        self.params = params
        self.used: set[str] = set()
        self.kinks = 0
        # '^' is read as '**' (math notation); keep, for every character of the rewritten
        # text, its index in the user's text so tokens and columns refer to what they typed.
        chars: list[str] = []
        origin: list[int] = []
        for i, c in enumerate(text):
            if c == "^":
                chars += ["*", "*"]
                origin += [i, i]
            else:
                chars.append(c)
                origin.append(i)
        self.source = "".join(chars)
        self.origin = origin

    # ---- errors and tokens
    def fail(self, token: str, reason: str) -> NoReturn:
        raise ExpressionError(self.text, token, reason)

    def segment(self, node: ast.AST) -> str:
        """The user's text of ``node`` (ast offsets are UTF-8 byte offsets in one line)."""
        start_b = getattr(node, "col_offset", None)
        end_b = getattr(node, "end_col_offset", None)
        if start_b is None or end_b is None:
            return type(node).__name__
        raw = self.source.encode()
        start = len(raw[:start_b].decode(errors="replace"))
        end = len(raw[:end_b].decode(errors="replace"))
        if end <= start or end > len(self.origin):
            return type(node).__name__
        seg = self.text[self.origin[start] : self.origin[end - 1] + 1]
        return seg if len(seg) <= 40 else seg[:37] + "..."

    # ---- entry point
    def parse(self) -> sp.Expr:
        try:
            tree = ast.parse(self.source, mode="eval")
        except SyntaxError as err:
            self.syntax_error(err)
        except (ValueError, RecursionError, MemoryError) as err:  # pragma: no cover - guarded
            self.fail(self.text[:40], f"cannot be parsed ({type(err).__name__})")
        return self.walk(tree.body, 1)

    def syntax_error(self, err: SyntaxError) -> NoReturn:
        msg = err.msg or "invalid syntax"
        offset = err.offset or 0
        if (err.lineno or 1) == 1 and 1 <= offset <= len(self.origin):
            col = self.origin[offset - 1] + 1
            token = self.text[col - 1 : col + 9].split(" ")[0] or self.text[col - 1]
            self.fail(token, f"syntax error at column {col}: {msg}")
        self.fail("", f"syntax error at the end of the expression: {msg}")

    # ---- the node kinds
    def walk(self, node: ast.AST, depth: int) -> sp.Expr:
        if depth > MAX_DEPTH:
            self.fail(
                self.segment(node),
                f"the expression is nested more than {MAX_DEPTH} levels deep",
            )
        if isinstance(node, ast.BinOp):
            return self.binop_chain(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unary_chain(node, depth)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        self.refuse(node)

    def refuse(self, node: ast.AST) -> NoReturn:
        if isinstance(node, ast.Attribute):
            self.fail("." + node.attr, "attribute access is not allowed")
        if isinstance(node, ast.Subscript):
            self.fail(self.segment(node), "subscripts ([...]) are not allowed")
        if isinstance(node, ast.Lambda):
            self.fail("lambda", "lambda is not allowed")
        if isinstance(node, _COMPREHENSIONS):
            self.fail("for", "comprehensions are not allowed")
        if isinstance(node, ast.Compare):
            op = _CMPOPS.get(type(node.ops[0]), type(node.ops[0]).__name__)
            self.fail(op, "comparisons are not allowed (use relu, max, min or heaviside)")
        if isinstance(node, ast.BoolOp):
            self.fail("and" if isinstance(node.op, ast.And) else "or", "and/or are not allowed")
        if isinstance(node, ast.IfExp):
            self.fail("if", "conditional expressions are not allowed (use relu, max or min)")
        if isinstance(node, ast.NamedExpr):
            self.fail(":=", "assignment is not allowed")
        if isinstance(node, ast.Starred):
            self.fail("*", "argument unpacking is not allowed")
        if isinstance(node, ast.JoinedStr):
            self.fail(self.segment(node), "strings are not allowed")
        for kind, what in _DISPLAYS.items():
            if isinstance(node, kind):
                self.fail(self.segment(node), f"{what} are not allowed")
        self.fail(self.segment(node), f"{type(node).__name__} is not allowed")

    def constant(self, node: ast.Constant) -> sp.Expr:
        v = node.value
        if isinstance(v, bool) or v is None or v is Ellipsis:
            self.fail(repr(v), f"{v!r} is not a number")
        if isinstance(v, int):
            if v.bit_length() > MAX_BITS:  # pragma: no cover - MAX_LENGTH keeps literals small
                self.fail(self.segment(node), f"the number has more than {MAX_BITS} bits")
            return sp.Integer(v)
        if isinstance(v, float):
            return self.decimal(node)
        if isinstance(v, complex):
            self.fail(self.segment(node), "complex numbers are not allowed")
        if isinstance(v, (str, bytes)):
            self.fail(self.segment(node), "strings are not allowed")
        self.fail(self.segment(node), f"{type(v).__name__} constants are not allowed")

    def decimal(self, node: ast.Constant) -> sp.Expr:
        """A decimal literal, read exactly from its text: ``0.1`` → 1/10, ``1e-3`` → 1/1000."""
        literal = self.segment(node)
        digits = literal.replace("_", "")
        m = _FLOAT_LITERAL.fullmatch(digits)
        if m is None:  # pragma: no cover - ast only produces floats from such literals
            self.fail(literal, "not a decimal number")
        if m.group(2) is not None and abs(int(m.group(2))) > MAX_LITERAL_EXPONENT:
            self.fail(literal, f"decimal exponents beyond ±{MAX_LITERAL_EXPONENT} are not allowed")
        exact = Fraction(digits)
        return sp.Rational(exact.numerator, exact.denominator)

    def name(self, node: ast.Name) -> sp.Expr:
        n = node.id
        if n.startswith("__") or n.endswith("__"):
            self.fail(n, "names with double underscores are not allowed")
        if n == "x":
            return x
        if n in self.params:
            self.used.add(n)
            return self.params[n]
        if n in CONSTANTS:
            return CONSTANTS[n]
        if n in FUNCTIONS:
            self.fail(n, f"the function {n} must be called, e.g. {n}(x)")
        given = ", ".join(sorted(self.params))
        hint = (
            f"parameters: {given}"
            if given
            else "no parameters were given (pass them by name, e.g. activation(text, "
            f"{n}=0.1), or --param {n}=0.1 on the command line)"
        )
        self.fail(n, f"unknown name {n!r}; the variable is x, {hint}")

    def unary_chain(self, node: ast.UnaryOp, depth: int) -> sp.Expr:
        negate = False
        inner: ast.AST = node
        while isinstance(inner, ast.UnaryOp):
            if isinstance(inner.op, ast.USub):
                negate = not negate
            elif not isinstance(inner.op, ast.UAdd):
                token = "not" if isinstance(inner.op, ast.Not) else "~"
                self.fail(token, f"the operator {token!r} is not allowed")
            inner = inner.operand
        value = self.walk(inner, depth + 1)
        return self.checked(-value if negate else value, node)

    def binop_chain(self, node: ast.BinOp, depth: int) -> sp.Expr:
        # a left-leaning chain a + b - c * d ... is read iteratively: its length is not depth
        spine: list[ast.BinOp] = []
        left: ast.AST = node
        while isinstance(left, ast.BinOp):
            spine.append(left)
            left = left.left
        value = self.walk(left, depth + 1)
        for op_node in reversed(spine):
            symbol = _BINOPS.get(type(op_node.op), type(op_node.op).__name__)
            if symbol not in ("+", "-", "*", "/", "**"):
                self.fail(symbol, f"the operator {symbol!r} is not allowed")
            right = self.walk(op_node.right, depth + 1)
            value = self.checked(self.apply(symbol, value, right, op_node), op_node)
        return value

    def apply(self, symbol: str, a: sp.Expr, b: sp.Expr, node: ast.BinOp) -> sp.Expr:
        if symbol == "+":
            return a + b
        if symbol == "-":
            return a - b
        if symbol == "*":
            return a * b
        if symbol == "/":
            if b == 0:
                self.fail("/", "division by zero")
            return a / b
        self.guard_power(a, b, node)
        return a**b

    def guard_power(self, base: sp.Expr, exponent: sp.Expr, node: ast.AST) -> None:
        """Refuse ``base**exponent`` if its exact value would be astronomically large.

        SymPy evaluates a power of exact numbers at once (and distributes integer powers over
        numeric factors: ``(2*x)**n = 2**n * x**n``), so the result needs about ``|exponent|
        · log2(r)`` bits, r the largest numerator or denominator of an exact number in the base
        (±1 never grows). That estimate is checked before SymPy computes anything.
        """
        if exponent.free_symbols:
            return
        self.guard_bits(base, exponent, node)
        if base.free_symbols:
            try:
                large = bool(abs(exponent) > MAX_EXPONENT)
            except TypeError:
                large = False
            if large:
                self.fail(
                    self.segment(node),
                    f"a power of an expression in x needs an exponent of at most "
                    f"{MAX_EXPONENT} in magnitude",
                )

    def guard_bits(self, base: sp.Expr, exponent: sp.Expr, node: ast.AST) -> None:
        """The exact-size part of :meth:`guard_power`."""
        sizes = [
            max(math.log2(abs(int(r.p))), math.log2(int(r.q)))
            for r in base.atoms(sp.Rational)
            if r != 0
        ]
        if not sizes or max(sizes) == 0:
            return
        try:
            magnitude = abs(float(exponent))
        except (OverflowError, TypeError):
            magnitude = math.inf
        if not math.isfinite(magnitude) or magnitude * max(sizes) > MAX_BITS:
            self.fail(
                self.segment(node),
                f"the power would need more than {MAX_BITS} bits (exponent too large)",
            )

    def checked(self, value: sp.Expr, node: ast.AST) -> sp.Expr:
        """Refuse undefined, infinite or non-real values as soon as they appear."""
        if any(value.has(u) for u in _UNDEFINED):
            self.fail(self.segment(node), "the value is undefined or infinite (division by zero?)")
        if value.has(sp.I) or (not value.free_symbols and value.is_extended_real is False):
            self.fail(self.segment(node), "the value is not a real number")
        if (
            isinstance(value, sp.Rational)
            and max(int(value.p).bit_length(), int(value.q).bit_length()) > MAX_BITS
        ):
            self.fail(self.segment(node), f"the number has more than {MAX_BITS} bits")
        return value

    def call(self, node: ast.Call, depth: int) -> sp.Expr:
        func = node.func
        if isinstance(func, ast.Attribute):
            self.fail("." + func.attr, "attribute access is not allowed")
        if not isinstance(func, ast.Name):
            self.fail(self.segment(func), "only the listed functions can be called")
        fname = func.id
        if fname.startswith("__") or fname.endswith("__"):
            self.fail(fname, "names with double underscores are not allowed")
        spec = FUNCTIONS.get(fname)
        if spec is None:
            what = (
                "the variable"
                if fname == "x"
                else "a parameter"
                if fname in self.params
                else "a constant"
                if fname in CONSTANTS
                else None
            )
            if what is not None:
                self.fail(fname, f"{fname!r} is {what}, not a function (write * to multiply)")
            self.fail(fname, f"unknown function {fname!r}; allowed: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            kw = node.keywords[0]
            token = f"{kw.arg}=" if kw.arg is not None else "**"
            self.fail(token, "keyword arguments are not allowed")
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.fail("*", "argument unpacking is not allowed")
        n = len(node.args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            self.fail(fname, f"{fname} takes {spec.arity()}, got {n}")
        if fname in _KINKED:
            self.kinks += max(n - 1, 1)
            if self.kinks > MAX_KINKS:
                self.fail(
                    fname,
                    f"more than {MAX_KINKS} kinks (relu, abs, sign, heaviside, one per extra "
                    "argument of max and min) in one expression",
                )
        args = [self.walk(a, depth + 1) for a in node.args]
        if fname == "log" and len(args) == 2:
            base = args[1]
            if not base.free_symbols and not (base.is_positive and base != 1):
                self.fail(self.segment(node.args[1]), "a logarithm base must be > 0 and != 1")
        return self.checked(spec.build(*args), node)


# --------------------------------------------------------------------------- piecewise tidy-up


def _condition_set(cond: sp.Basic, cache: dict[sp.Basic, sp.Set]) -> sp.Set:
    """The solution set in x of a piece's condition.

    Folding a sum of n kinked terms gives up to 2^n pieces whose conditions are And/Or of the
    same n inequalities; each inequality is solved once (SymPy's ``as_set`` is slow) and the
    boolean structure is evaluated with set operations.
    """
    if cond is sp.true:
        return sp.S.Reals
    if cond is sp.false:
        return sp.S.EmptySet
    if isinstance(cond, sp.And):
        return sp.Intersection(*[_condition_set(c, cache) for c in cond.args])
    if isinstance(cond, sp.Or):
        return sp.Union(*[_condition_set(c, cache) for c in cond.args])
    if isinstance(cond, sp.Not):
        return sp.Complement(sp.S.Reals, _condition_set(cond.args[0], cache))
    if cond not in cache:
        cache[cond] = cond.as_set()
    return cache[cond]


def _piece_sets(expr: sp.Piecewise) -> list[tuple[sp.Expr, sp.Set]]:
    remaining: sp.Set = sp.S.Reals
    out: list[tuple[sp.Expr, sp.Set]] = []
    cache: dict[sp.Basic, sp.Set] = {}
    for e, c in expr.args:
        s = sp.Intersection(_condition_set(c, cache), remaining)
        remaining = sp.Complement(remaining, s)
        if s is not sp.S.EmptySet:
            out.append((e, s))
        if remaining is sp.S.EmptySet:
            break
    return out


def _isolated_points(s: sp.Set) -> list[sp.Expr] | None:
    """The points of ``s`` if it is a finite set, else None."""
    return list(s) if isinstance(s, sp.FiniteSet) else None


def _touches(s: sp.Set, p: sp.Expr) -> bool:
    """Whether the point p is on the boundary of the set s (False when SymPy cannot tell)."""
    try:
        return bool(s.boundary.contains(p) == sp.true)
    except Exception:
        return False


def _tidy_piecewise(expr: sp.Expr, fail: Callable[[str, str], NoReturn]) -> sp.Expr:
    """Rewrite a folded ``Piecewise`` with one simple condition per piece, left to right.

    Each piece's condition becomes the relational form of its solution set, pieces with the
    same expression are merged (``relu(x)*relu(-x) + x`` is just ``x``), and a piece that holds
    only isolated points is merged into a neighbour with the same value there:
    ``sign(x)*log(1+abs(x))`` folds to three pieces, the middle one being ``{0}`` with value 0;
    the left piece ``-log(1-x)`` is also 0 at 0, so the point joins it (the kink convention).
    A point whose value differs from both neighbours (``sign(x)`` itself) is a jump to an
    isolated value that no derivative can describe, and is refused. Conditions SymPy cannot
    solve are left as they are for :func:`_check_pieces` to report.
    """
    if not isinstance(expr, sp.Piecewise):
        return expr
    try:
        parts = _piece_sets(expr)
    except Exception:
        return expr
    regular = [(e, s) for e, s in parts if _isolated_points(s) is None]
    for e_pt, s in parts:
        for p in _isolated_points(s) or []:
            value = e_pt.subs(x, p)
            # the left neighbour first (the kink convention), then the right one
            neighbours = [i for i, (_, s_n) in enumerate(regular) if s_n.sup == p] + [
                i for i, (_, s_n) in enumerate(regular) if s_n.inf == p
            ]
            # a piece on both sides of the point (abs(x*x): x² on x < 0 or x > 0)
            neighbours += [i for i, (_, s_n) in enumerate(regular)
                           if i not in neighbours and _touches(s_n, p)]
            for i in neighbours:
                e_n, s_n = regular[i]
                if sp.simplify(e_n.subs(x, p) - value) == 0:
                    regular[i] = (e_n, sp.Union(s_n, sp.FiniteSet(p)))
                    break
            else:
                fail(
                    "sign",
                    f"the expression jumps to an isolated value {value} at x = {p} "
                    "(as sign(x) does); multiply by something that vanishes there, "
                    "e.g. sign(x)*log(1+abs(x))",
                )
    merged: list[tuple[sp.Expr, sp.Set]] = []
    for e, s in regular:
        for i, (e_m, s_m) in enumerate(merged):
            if e_m == e:
                merged[i] = (e, sp.Union(s_m, s))
                break
        else:
            merged.append((e, s))
    if len(merged) == 1:
        return merged[0][0]
    try:
        merged.sort(key=lambda p: float(p[1].inf) if p[1].inf.is_finite else -math.inf)
    except (NotImplementedError, TypeError):
        return expr  # a solution set SymPy cannot order (a ConditionSet): _check_pieces

    return sp.Piecewise(*[(e, s.as_relational(x)) for e, s in merged[:-1]], (merged[-1][0], True))


def _check_pieces(expr: sp.Expr, fail: Callable[[str, str], NoReturn]) -> None:
    """Every kink condition must have a solution set SymPy can split into intervals."""
    from .piecewise import pieces

    try:
        pieces(expr)
    except Exception:
        for cond in (c for _, c in expr.args if isinstance(expr, sp.Piecewise)):
            if cond is sp.true:
                continue
            try:
                s = cond.as_set()
            except Exception:
                s = None
            if not isinstance(s, (sp.Interval, sp.Union, sp.FiniteSet)) and s not in (
                sp.S.EmptySet,
                sp.S.Reals,
            ):
                fail(str(cond), "cannot locate the kinks: no closed-form solution set")
        fail(str(expr)[:40], "cannot split the expression into smooth pieces")


# --------------------------------------------------------------------------- entry point


def _check_params(params: Mapping[str, Any]) -> dict[str, sp.Expr]:
    if not isinstance(params, Mapping):
        raise InvalidArgumentError("params", params, "expected a mapping of names to numbers")
    out: dict[str, sp.Expr] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidArgumentError("params", name, "a parameter name must be an identifier")
        if name.startswith("__") or name.endswith("__"):
            raise InvalidArgumentError(name, value, "parameter names cannot use double underscores")
        if name == "x":
            raise InvalidArgumentError(name, value, "x is the variable and cannot be a parameter")
        if name in FUNCTIONS:
            raise InvalidArgumentError(
                name, value, f"the parameter name shadows the function {name}"
            )
        if name in CONSTANTS:
            raise InvalidArgumentError(
                name, value, f"the parameter name shadows the constant {name}"
            )
        out[name] = to_sympy_number(name, value)
    return out


def parse_expression(
    text: str, *, params: Mapping[str, Any], allow_constant: bool = False
) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in :data:`vgmath.x`, safely (see the module doc).

    ``params`` maps each parameter name used in ``text`` to its value (exact SymPy numbers, or
    anything :func:`vgmath.symbolic.parse.to_sympy_number` accepts); every given parameter must
    appear in the text. With ``allow_constant=True`` the text may be a plain number
    (``"1/4"``, ``"sqrt(2)"``); otherwise it must contain ``x``.

    >>> parse_expression("a*x + tanh(x)", params={"a": sp.Rational(1, 10)})
    x/10 + tanh(x)
    >>> parse_expression("x^2/2", params={})
    x**2/2

    Raises :class:`vgmath.ExpressionError` (naming the offending token) for text it refuses,
    :class:`vgmath.InvalidArgumentError` for bad ``params``.
    """
    if not isinstance(text, str):
        raise InvalidArgumentError("expression", text, "expected a string")
    values = _check_params(params)
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            text[:60] + "...", text[:20], f"longer than {MAX_LENGTH} characters ({len(text)})"
        )
    stripped = text.strip()
    if not stripped:
        raise ExpressionError(text, "", "the expression is empty")
    for c in stripped:
        if not c.isprintable():
            raise ExpressionError(text, repr(c), "control characters are not allowed")
    walker = _Walker(stripped, values)
    expr = walker.parse()

    unused = [n for n in values if n not in walker.used]
    if unused:
        n = unused[0]
        raise InvalidArgumentError(
            n, values[n], f"the parameter {n!r} does not appear in the expression {stripped!r}"
        )
    if not allow_constant and x not in expr.free_symbols:
        walker.fail(
            stripped if len(stripped) <= 40 else stripped[:37] + "...",
            "the expression does not depend on x: a constant activation has φ′ = 0 and "
            "passes no gradient",
        )
    for r in expr.atoms(sp.Rational):
        if max(int(r.p).bit_length(), int(r.q).bit_length()) > MAX_BITS:
            walker.fail(
                stripped[:40], f"the expression holds a number with more than {MAX_BITS} bits"
            )
        if r != 0 and not sp.Float("2.2250738585072014e-308") <= abs(r) <= MAX_MAGNITUDE:
            walker.fail(
                _short(r), "the number is outside the float64 range (about 1e-308 to 1e308)"
            )
    if expr.has(sp.Piecewise):
        expr = sp.piecewise_fold(expr)
        try:
            expr = _tidy_piecewise(expr, walker.fail)
        except InvalidArgumentError:
            raise
        except (NotImplementedError, TypeError, ValueError):
            # SymPy cannot solve a kink condition (abs(erf(x)): erf(x) <= 0)
            walker.fail(stripped[:40], "cannot locate the kinks: no closed-form solution set")
        _check_pieces(expr, walker.fail)
    return expr


def _short(r: sp.Rational) -> str:
    """A number for a message: itself when short, else its order of magnitude."""
    text = str(r)
    if len(text) <= 40:
        return text
    p, q = abs(int(r.p)), int(r.q)
    log10 = (p.bit_length() - q.bit_length()) * math.log10(2)  # no float overflow
    return f"{'-' if r < 0 else ''}1e{round(log10)} (about)"


_NON_FINITE_WORDS = ("nan", "inf", "infinity", "oo")


def to_sympy_number(name: str, value: Any) -> sp.Expr:
    """Convert a user parameter value to an exact SymPy number where possible.

    ints and Fractions are exact; a Python float is read as the decimal it prints as
    (``0.01`` → ``1/100``), which is what a person typing it means; strings are parsed by the
    safe expression parser (``"1/4"``, ``"sqrt(2)"``). Non-finite or non-real values raise
    :class:`InvalidArgumentError` naming the parameter.
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(name, value, "expected a real number, got a bool")
    try:
        if isinstance(value, sp.Basic):
            v = value
        elif isinstance(value, (int, np.integer)):
            v = sp.Integer(int(value))
        elif isinstance(value, Fraction):
            v = sp.Rational(value.numerator, value.denominator)
        elif isinstance(value, (float, np.floating)):
            if not math.isfinite(float(value)):
                raise InvalidArgumentError(name, value, "must be finite")
            v = sp.Rational(repr(float(value)))
        elif isinstance(value, str):
            if value.strip().lower().lstrip("+-") in _NON_FINITE_WORDS:
                raise InvalidArgumentError(name, value, "must be a finite real number")
            v = parse_expression(value, params={}, allow_constant=True)
        else:
            raise InvalidArgumentError(name, value, "expected a real number")
    except InvalidArgumentError as err:
        if err.argument == name:
            raise
        raise InvalidArgumentError(name, value, err.reason) from None
    if v.free_symbols:
        raise InvalidArgumentError(name, value, "must be a number, not an expression in a variable")
    if not (v.is_real and v.is_finite):
        raise InvalidArgumentError(name, value, "must be a finite real number")
    return v


def as_sympy(name: str, value: Any) -> sp.Basic:
    """Coerce ``value`` to a SymPy object without ever evaluating text.

    The one door for values that may be a number *or* a symbolic expression (a fan that is
    :data:`vgmath.fan_in` or 256, a point that is ``sp.pi`` or ``"1/2"``): SymPy objects pass
    unchanged, Python numbers become exact SymPy numbers and strings are read by the safe
    parser (a number such as ``"1/4"``; never ``sympify``). Anything else is refused with
    :class:`InvalidArgumentError` naming ``name``.
    """
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool):
        raise InvalidArgumentError(name, value, "expected a number or a SymPy expression")
    if isinstance(value, (str, int, float, Fraction, np.integer, np.floating)):
        return to_sympy_number(name, value)
    raise InvalidArgumentError(name, value, "expected a number or a SymPy expression")


def to_sympy_parameter(name: str, value: Any) -> sp.Expr:
    """A parameter that may be a number *or* a SymPy expression in symbols of the user's own
    (σ_w² = ``s``, a width ``n``, a slope ``a``): numbers go through :func:`to_sympy_number`;
    a SymPy expression with free symbols passes unchanged (no text is ever evaluated), its
    symbols read as real parameters. Refused: :data:`vgmath.x` (the activation's variable),
    and an expression SymPy knows is not real or not finite. Sign checks are the caller's
    (a symbol of unknown sign is accepted where a positive value is needed: symbols are taken
    to be positive reals, and only a provably non-positive expression is refused).
    """
    if not (isinstance(value, sp.Basic) and getattr(value, "free_symbols", None)):
        return to_sympy_number(name, value)
    if not isinstance(value, sp.Expr):
        raise InvalidArgumentError(name, value, "expected a number or a SymPy expression")
    if x in value.free_symbols:
        raise InvalidArgumentError(
            name, value, "must not contain vgmath.x, the activation's variable"
        )
    if value.is_real is False or value.is_finite is False:
        raise InvalidArgumentError(name, value, "must be a finite real number or expression")
    return value


# --------------------------------------------------------------------------- SymPy in


class _GrammarPrinter(StrPrinter):
    """Prints a SymPy expression in the parser's own grammar (``max``, ``abs``,
    ``heaviside``, ``e``; a ``Piecewise`` as a sum of ``heaviside`` indicators), so that a
    SymPy expression enters vgmath through :func:`parse_expression`, the one door."""

    def _print_Max(self, e: sp.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Min(self, e: sp.Min) -> str:
        return "min(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Abs(self, e: sp.Abs) -> str:
        return f"abs({self._print(e.args[0])})"

    def _print_Heaviside(self, e: sp.Heaviside) -> str:
        return f"heaviside({self._print(e.args[0])})"

    def _print_Exp1(self, e: Any) -> str:
        return "e"

    def _print_Symbol(self, e: sp.Symbol) -> str:
        if e != x:
            hint = " (use vgmath.x, the real symbol)" if e.name == "x" else (
                "; substitute a number for it first (expr.subs(...))")
            raise ExpressionError(str(e), e.name, "an activation depends on vgmath.x only" + hint)
        return "x"

    def _indicator(self, cond: Any) -> str:
        """The 0/1 indicator of a condition, from heaviside (0 at 0, vgmath's convention)."""
        if cond is sp.true:
            return "1"
        if cond is sp.false:
            return "0"
        if isinstance(cond, sp.And):
            return "*".join(f"({self._indicator(c)})" for c in cond.args)
        if isinstance(cond, sp.Or):
            return "(1 - " + "*".join(f"(1 - {self._indicator(c)})" for c in cond.args) + ")"
        if isinstance(cond, sp.Not):
            return f"(1 - {self._indicator(cond.args[0])})"
        if isinstance(cond, (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan,
                             sp.GreaterThan)):
            return self._pair(cond)[0]
        raise ExpressionError(
            str(cond), str(cond), "a Piecewise condition must be an inequality in x "
            "(or And/Or/Not of inequalities)"
        )

    def _pair(self, cond: Any) -> tuple[str, str]:
        """(indicator, 1 − indicator) of a condition."""
        if isinstance(cond, (sp.StrictLessThan, sp.LessThan, sp.StrictGreaterThan,
                             sp.GreaterThan)):
            u = self._print(cond.lhs - cond.rhs)
            strict = isinstance(cond, (sp.StrictLessThan, sp.StrictGreaterThan))
            below = isinstance(cond, (sp.StrictLessThan, sp.LessThan))
            h = f"heaviside({u})" if strict != below else f"heaviside(-({u}))"
            # u < 0: H(−u); u ≤ 0: 1 − H(u); u > 0: H(u); u ≥ 0: 1 − H(−u)
            return (h, f"(1 - {h})") if strict else (f"(1 - {h})", h)
        ind = self._indicator(cond)
        return ind, f"(1 - {ind})"

    def _print_Piecewise(self, e: sp.Piecewise) -> str:
        text = "0"
        for value, cond in reversed(e.args):
            v = self._print(value)
            if cond is sp.true:
                text = v
                continue
            ind, comp = self._pair(cond)
            text = f"{ind}*({v}) + {comp}*({text})"
        return f"({text})"


def expression_text(expr: Any) -> str:
    """A SymPy expression in :data:`vgmath.x` written in the parser's grammar (the inverse of
    :func:`parse_expression` up to its conventions): ``Max``, ``Min``, ``Abs``,
    ``Heaviside`` and ``Piecewise`` become ``max``, ``min``, ``abs``, ``heaviside`` and
    heaviside indicators. Parsing the text applies every rule of user text to a SymPy
    expression; a function outside the whitelist stays as its name and is refused there.

    >>> expression_text(sp.Max(x, 0) + sp.Heaviside(x))
    'heaviside(x) + max(0, x)'

    Note: ``Heaviside(0)`` is 1/2 in SymPy and 0 in vgmath (so that relu′ = heaviside); at a
    single point this changes no integral, and φ′ at a kink follows vgmath's convention.
    """
    if not isinstance(expr, sp.Expr):
        raise InvalidArgumentError("expression", expr, "expected a SymPy expression in vgmath.x")
    return _GrammarPrinter({"full_prec": "auto"}).doprint(expr)
