r"""LaTeX output of every result object: one behaviour, three modes.

Every object with a ``.latex(mode=..., digits=...)`` method builds a short list of
*statements* — ``(label, math)`` pairs such as ``("bound", r"\sup_x \varphi'(x) = \frac14")``
— and :func:`render` typesets them the same way for all:

``mode="math"`` (the default)
    the bare math-mode content ``math_1,\quad math_2``, for your own ``$…$``, ``\[…\]`` or
    equation environment (and for notebooks: ``_repr_latex_`` wraps it in ``$…$``).
``mode="inline"``
    ``$math_1$; $math_2$`` — text-mode glue between the statements, so a paragraph can break
    between them (one long ``$…$`` breaks only at relations and operators); a statement that
    is prose (``\text{…}``) is set as text. Long inline formulas typeset best with some
    ``\emergencystretch`` (the test document uses 3em).
``mode="display"``
    ``\begin{gather*} math_1 \\ math_2 \end{gather*}`` — one statement per line.
``mode="table"``
    ``\begin{tabular}{ll} label_1 & $math_1$ \\ … \end{tabular}`` — a two-column table
    (objects with per-layer rows, :class:`vgmath.Verification`, give their row table: nine
    columns, which fit a 6.5 in text block in ``\footnotesize``).

Every output compiles in a standalone document that loads ``amsmath`` and ``amssymb``
(``tests/symbolic/test_latex_api.py`` runs pdflatex on all of them).

Numbers follow one convention: decimals in math mode as ``2.8\times10^{-28}`` (never the
``2.8e-28`` of Python), rounded to ``digits`` significant digits; ``\infty`` and ``\text{--}``
(NaN). Exact SymPy numbers are printed exactly when short, with powers of fractions
parenthesised (``\left(\frac{1}{4}\right)^{L-l}``); algebraic numbers given as ``CRootOf`` are
rewritten with radicals when they have them (:func:`radical_form`, verified exactly); an
exact form whose LaTeX is still longer than :data:`MAX_EXACT_CHARS` is shown as its rounded
value ``\approx 0.6536`` (likewise a number with an integer of more than
:data:`MAX_INTEGER_DIGITS` digits) — the exact form stays in the object and its ``to_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..core.effort import effort_limit
from ..core.errors import EffortLimitError, InvalidArgumentError

__all__ = [
    "MAX_EXACT_CHARS",
    "MODES",
    "Typeset",
    "check_digits",
    "latex_equation",
    "latex_expr",
    "latex_from_ln",
    "latex_number",
    "radical_form",
    "render",
]

#: The layouts of ``.latex(mode=...)``; the first is the default.
MODES = ("math", "inline", "display", "table")

#: Longest exact LaTeX shown as such; longer exact values are shown rounded (about two thirds
#: of a 6.5 in text line at 10 pt, since the LaTeX source is longer than its typeset width).
MAX_EXACT_CHARS = 90

_X = sp.Symbol("x")


def check_mode(mode: Any) -> str:
    """``mode`` itself if it is one of :data:`MODES`; else an error naming it."""
    if mode not in MODES:
        raise InvalidArgumentError("mode", mode, f"expected one of {', '.join(MODES)}")
    return str(mode)


def check_digits(digits: Any) -> int:
    """``digits`` (significant digits of decimals) if it is an integer in 1..17."""
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise InvalidArgumentError("digits", digits, "expected an integer from 1 to 17")
    return digits


def latex_number(value: Any, digits: int = 4, *, trim: bool = True,
                 spaced: bool = False) -> str:
    r"""A float in math-mode LaTeX: ``0.25``, ``1.234``, ``2.8\times10^{-28}``.

    Plain decimals for 1e-3 ≤ |v| < 1e4, else a mantissa with ``digits`` significant digits
    times a power of ten (no ``e`` notation); ``\infty`` for ±inf, ``\text{--}`` for NaN.
    ``trim`` drops the mantissa's trailing zeros (and a mantissa of 1: ``10^{-5}``);
    ``spaced`` writes ``\times 10`` (the report's tables: ``trim=False, spaced=True``).

    >>> latex_number(2.8e-28, 2), latex_number(0.25), latex_number(-float("inf"))
    ('2.8\\times10^{-28}', '0.25', '-\\infty')
    >>> latex_number(1.5e-7, 3, trim=False, spaced=True)
    '1.50\\times 10^{-7}'
    """
    check_digits(digits)
    v = float(value)
    if math.isnan(v):
        return r"\text{--}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if "e" not in text and 1e-3 <= abs(v) < 1e4:
        return text
    mant, _, exp = f"{v:.{digits - 1}e}".partition("e")
    e = int(exp)
    times = r"\times 10" if spaced else r"\times10"
    if trim:
        if "." in mant:
            mant = mant.rstrip("0").rstrip(".")
        if mant in ("1", "-1"):
            return ("-" if mant == "-1" else "") + rf"10^{{{e}}}"
    return rf"{mant}{times}^{{{e}}}"


def latex_from_ln(ln_value: float, digits: int = 4) -> str:
    r"""e^{ln_value} in :func:`latex_number`'s form, without under/overflow
    (``latex_from_ln(-2000.0)`` is ``1.384\times10^{-869}``, far below float64's range)."""
    check_digits(digits)
    if not math.isfinite(ln_value):
        return {math.inf: r"\infty", -math.inf: "0"}.get(ln_value, r"\text{--}")
    log10 = ln_value / math.log(10.0)
    e = math.floor(log10)
    if -300 < e < 300:
        return latex_number(math.exp(ln_value), digits)
    mant = 10.0 ** (log10 - e)
    text = f"{mant:.{digits - 1}f}"
    if float(text) >= 10.0:  # rounding carried into the next decade
        mant, e = mant / 10.0, e + 1
        text = f"{mant:.{digits - 1}f}"
    text = text.rstrip("0").rstrip(".")
    return (rf"{text}\times10^{{{e}}}" if text != "1" else rf"10^{{{e}}}")


class _Printer(LatexPrinter):  # type: ignore[misc]
    """SymPy's LaTeX printer with every power of a fraction parenthesised."""

    def _print_Pow(self, expr: sp.Pow) -> str:
        base = expr.base
        if isinstance(base, sp.Rational) and not isinstance(base, sp.Integer) and (
            expr.exp != sp.S.Half and expr.exp != -sp.S.Half
        ):
            return (r"\left(" + self._print(base) + r"\right)^{" + self._print(expr.exp)
                    + "}")
        return str(super()._print_Pow(expr))


def _round_floats(expr: sp.Basic, digits: int) -> sp.Basic:
    return expr.xreplace({f: sp.Float(f, digits) for f in expr.atoms(sp.Float)})


def latex_expr(expr: Any, digits: int = 4, *, max_chars: int = MAX_EXACT_CHARS) -> str:
    r"""An exact SymPy value or formula in LaTeX (the module's conventions).

    Decimals (``Float``) inside are rounded to ``digits``; a number with ``CRootOf`` is first
    rewritten with radicals (:func:`radical_form`); a *number* whose LaTeX is still longer
    than ``max_chars`` becomes ``\approx`` its rounded value (a formula with symbols is
    kept whole).

    >>> import sympy as sp
    >>> L, l = sp.symbols("L l")
    >>> latex_expr(sp.Rational(1, 4) ** (L - l))
    '\\left(\\frac{1}{4}\\right)^{L - l}'
    """
    check_digits(digits)
    e = sp.sympify(expr)
    if isinstance(e, sp.Float) or (e.is_number and e.is_real is not False and e.atoms(sp.Float)
                                   and not e.free_symbols):
        try:
            return latex_number(float(e), digits)
        except TypeError:
            pass
    if e.is_number and e.atoms(sp.CRootOf):
        e = radical_form(e)
    e = _round_floats(e, digits)
    text = str(_Printer().doprint(e))
    too_long = len(text) > max_chars or _has_long_integer(e)
    if too_long and e.is_number and not e.free_symbols:
        try:
            return r"\approx " + latex_number(float(sp.N(e, digits + 5)), digits)
        except TypeError:  # complex or not a number after all
            return text
    if len(text) > max_chars and isinstance(e, sp.Set) and not e.free_symbols:
        # a union of intervals: round the endpoints that are themselves too long to read
        # (half the budget each), keep the others exact
        limit = max_chars // 2
        changed = False

        def endpoint(v: sp.Expr) -> sp.Expr:
            nonlocal changed
            if v.is_finite and (len(sp.latex(v)) > limit or _has_long_integer(v)):
                changed = True
                return _rounded(v, digits)
            return v

        rounded = e.replace(
            lambda a: isinstance(a, sp.Interval),
            lambda iv: sp.Interval(endpoint(iv.start), endpoint(iv.end),
                                   iv.left_open, iv.right_open),
        )
        return (r"\approx " if changed else "") + str(_Printer().doprint(rounded))
    return text


#: Integers with more digits than this inside an exact number are not read by anyone: the
#: number is shown rounded (2^-60 = 1/1152921504606846976 as 8.674×10^-19).
MAX_INTEGER_DIGITS = 15


def _has_long_integer(e: sp.Basic) -> bool:
    limit = 10**MAX_INTEGER_DIGITS
    return any(abs(r.p) >= limit or r.q >= limit for r in e.atoms(sp.Rational))


def _rounded(v: sp.Expr, digits: int) -> sp.Expr:
    return v if not v.is_finite else sp.Float(sp.N(v, digits + 5), digits)


def latex_equation(lhs: str, value: Any, digits: int = 4) -> str:
    r"""``lhs = value`` with :func:`latex_expr`'s conventions, or ``lhs \approx value`` when
    the exact value is too long to show."""
    text = latex_expr(value, digits)
    if text.startswith(r"\approx "):
        return lhs + " " + text
    if isinstance(value, sp.Basic) and value.atoms(sp.Float):  # a decimal approximation
        return lhs + r" \approx " + text
    return lhs + " = " + text


def _match_root(target: sp.Expr, poly: sp.Poly) -> sp.Expr | None:
    """The root of ``poly`` in radicals equal to ``target`` (an exact root of it), or None.

    Verification: the candidates are the exact roots of the same polynomial; the one within
    1e-40 of ``target`` at 60 digits is the target when it is the only one (distinct roots of
    a polynomial with small integer coefficients are far further apart)."""
    roots = sp.roots(poly, multiple=True)
    if len(roots) != poly.degree():
        return None  # not all roots found in radicals
    v = sp.N(target, 60)
    near = [r for r in roots if abs(sp.N(r, 60) - v) < sp.Float("1e-40", 60)]
    return near[0] if len(near) == 1 else None


_RADICAL_CACHE: dict[str, sp.Expr] = {}


def radical_form(expr: Any, *, seconds: float = 10.0) -> sp.Expr:
    r"""``expr`` with algebraic numbers rewritten in radicals where possible (else unchanged).

    Two exact steps: (1) every ``CRootOf(p, k)`` whose polynomial p is solvable in radicals
    (degree ≤ 4, or factors so) becomes the root of p in radicals at the same place
    (:func:`_match_root`); (2) if the result is algebraic — a rational function of such
    roots once ``tanh``/``exp``/``log`` of them are rewritten (``tanh(log r) = (r² − 1)/(r² + 1)``)
    — its minimal polynomial (SymPy ``minimal_polynomial``, exact) is solved in radicals and
    the matching root taken. The shortest form wins; the effort is bounded by ``seconds``.
    As ``nsimplify`` would, it finds the closed form; unlike a bare ``nsimplify`` the answer
    is an exact root of the exact minimal polynomial.

    >>> import sympy as sp
    >>> r = sp.CRootOf(sp.Symbol("x") ** 2 - 2, 1)
    >>> radical_form(r / 2 + sp.Rational(1, 3))
    1/3 + sqrt(2)/2
    """
    e = sp.sympify(expr)
    if not e.atoms(sp.CRootOf):
        return e  # type: ignore[no-any-return]
    key = sp.srepr(e)
    if key not in _RADICAL_CACHE:
        _RADICAL_CACHE[key] = _radical_form(e, seconds)
    return _RADICAL_CACHE[key]


def _radical_form(e: sp.Expr, seconds: float) -> sp.Expr:
    best = e
    try:
        with effort_limit("rewrite an algebraic number in radicals", seconds):
            subs = {}
            for r in e.atoms(sp.CRootOf):
                cand = _match_root(r, sp.Poly(r.poly.as_expr(), r.poly.gen))
                if cand is not None:
                    subs[r] = cand
            step1 = e.xreplace(subs) if subs else e
            if _size(step1) < _size(best):
                best = step1
            step2 = _algebraic_radical(e)
            if step2 is not None and _size(step2) < _size(best):
                best = step2
    except (EffortLimitError, NotImplementedError, ValueError, TypeError,
            sp.PolynomialError, ZeroDivisionError):
        pass
    return best  # type: ignore[no-any-return]


def _algebraic_radical(e: sp.Expr) -> sp.Expr | None:
    """Step (2) of :func:`radical_form` (None when it does not apply)."""
    work = e
    back = {}
    for r in e.atoms(sp.CRootOf):
        y = sp.Dummy("y", positive=True) if r.is_positive else sp.Dummy("y")
        work = work.xreplace({r: y})
        back[y] = r
    work = sp.cancel(sp.together(work.rewrite(sp.exp)))
    if work.atoms(sp.Function) - set(back):  # still transcendental
        return None
    alg = work.xreplace(back)
    mp = sp.minimal_polynomial(alg, _X)
    poly = sp.Poly(mp, _X)
    if poly.degree() > 4:
        return None
    return _match_root(e, poly)


def _size(e: sp.Expr) -> int:
    return len(sp.latex(e))


def render(statements: Sequence[tuple[str, str]], mode: str = "math") -> str:
    """Typeset ``(label, math)`` statements in one of :data:`MODES` (module docstring)."""
    check_mode(mode)
    parts = [(lab, m) for lab, m in statements if m]
    if mode == "math":
        return r",\quad ".join(m for _, m in parts)
    if mode == "inline":  # prose statements (a bare \text{…}) as text, so they can break
        return "; ".join(_inner_text(m) or f"${m}$" for _, m in parts)
    if mode == "display":
        return "\\begin{gather*}\n" + " \\\\\n".join(m for _, m in parts) + "\n\\end{gather*}"
    rows = [f"{_text(lab)} & ${m}$ \\\\" for lab, m in parts]
    return "\\begin{tabular}{ll}\n\\hline\n" + "\n".join(rows) + "\n\\hline\n\\end{tabular}"


def _inner_text(m: str) -> str | None:
    r"""The content of ``m`` when ``m`` is exactly one ``\text{…}``, else None."""
    if not (m.startswith(r"\text{") and m.endswith("}")):
        return None
    depth = 0
    for i, c in enumerate(m[len(r"\text"):], start=len(r"\text")):
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth == 0 and i != len(m) - 1:
            return None  # the first group closes before the end: more than one piece
    return m[len(r"\text{"):-1]


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}"}


#: Non-ASCII characters of vgmath's own labels, as LaTeX text (anything else becomes "?":
#: a label must never stop a document from compiling).
_TEX_UNICODE = {"·": r"$\cdot$", "−": "-", "–": "--", "—": "---", "≤": r"$\le$",
                "≥": r"$\ge$", "≈": r"$\approx$", "×": r"$\times$", "±": r"$\pm$",
                "²": r"$^2$", "³": r"$^3$", "⁴": r"$^4$", "φ": r"$\varphi$", "χ": r"$\chi$",
                "ξ": r"$\xi$", "σ": r"$\sigma$", "α": r"$\alpha$", "δ": r"$\delta$",
                "ε": r"$\varepsilon$", "′": "'", "∞": r"$\infty$", "→": r"$\to$",
                "‖": r"$\|$", "√": r"$\surd$", "ĉ": r"$\hat c$"}


def _text(s: str) -> str:
    """Plain text made safe for LaTeX text mode (special characters escaped, non-ASCII
    characters as LaTeX or ``?``)."""
    out = []
    for c in s:
        if c in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[c])
        elif ord(c) < 128:
            out.append(c)
        else:
            out.append(_TEX_UNICODE.get(c, "?"))
    return "".join(out)


def escape_text(s: str) -> str:
    """``s`` with LaTeX's special characters escaped (for labels inside ``\\text{…}``)."""
    return _text(s)


class Typeset:
    """The shared ``.latex(mode, digits)`` of result objects: a subclass implements
    ``_latex_statements(digits)`` returning ``(label, math)`` pairs (module docstring)."""

    #: supplied by each subclass: ``(label, math)`` pairs at ``digits`` significant digits
    _latex_statements: Callable[[int], list[tuple[str, str]]]

    def latex(self, mode: str = "math", *, digits: int = 4) -> str:
        """LaTeX of this result: ``mode`` one of ``"math"`` (default: bare math for your own
        ``$…$``), ``"inline"`` (``$…$`` statements joined in text), ``"display"``
        (``gather*``) or ``"table"`` (a ``tabular``); decimals to ``digits`` significant
        digits. See :mod:`vgmath.symbolic.typeset` for the conventions."""
        check_mode(mode)
        return render(self._latex_statements(check_digits(digits)), mode)

    def _repr_latex_(self) -> str:
        return "$" + self.latex() + "$"
