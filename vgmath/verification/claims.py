"""Claims about a depth profile: text, SymPy, callables, arrays and predictions, read as
natural logs per layer (exact SymPy values never underflow). Text is parsed safely
(tokenised, then an AST whitelist; nothing is evaluated)."""

from __future__ import annotations

import io
import math
import re
import tokenize
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ..core.errors import ExpressionError, InvalidArgumentError
from ..network.description import Chain
from ..symbolic.symbols import depth_symbol, layer_symbol

__all__ = ["claim_logs", "log_of", "parse_claim"]

FloatArray = NDArray[np.float64]


def log_of(value: Any, where: str) -> float:
    """Natural log of a claimed positive value (exact SymPy values never underflow)."""
    if isinstance(value, sp.Basic):
        v = sp.sympify(value)
        if v.free_symbols:
            raise InvalidArgumentError(
                "claim", str(value), f"{where}: still depends on {sorted(map(str, v.free_symbols))}"
            )
        if v.is_zero:
            return -math.inf
        if v.is_negative or v.is_real is False:
            raise InvalidArgumentError("claim", str(value), f"{where}: must be a positive real")
        ln = sp.log(v).evalf(30)
        if not ln.is_real:
            raise InvalidArgumentError("claim", str(value), f"{where}: must be a positive real")
        return float(ln)
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError("claim", value, f"{where}: expected a number") from None
    if math.isnan(f):
        return math.nan
    if f < 0:
        raise InvalidArgumentError("claim", value, f"{where}: must be >= 0")
    return math.log(f) if f > 0 else -math.inf


def parse_claim(text: str, chain: Chain) -> sp.Expr:
    """Parse a claim written in ``l`` (layer) and ``L`` (depth) — and ``n`` (width, when all
    widths are equal) — safely: the text is tokenised, ``l`` is renamed to the parser's
    variable and the expression is read by :func:`vgmath.symbolic.parse.parse_expression` (an AST
    whitelist; nothing is evaluated). Returns an expression in :data:`vgmath.layer_symbol`.

    >>> import vgmath as vg
    >>> parse_claim("2**(-(L - l))", vg.Chain("relu", init="xavier", depth=3, width=8))
    2**(l - 3)
    """
    from ..symbolic.parse import parse_expression
    from ..symbolic.symbols import x

    if not isinstance(text, str):
        raise InvalidArgumentError("claim", text, "expected a string")
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise InvalidArgumentError("claim", text, f"unbalanced ')' at column {i + 1}")
    if depth > 0:
        raise InvalidArgumentError("claim", text, f"{depth} unclosed '('")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text.strip()).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as err:
        raise InvalidArgumentError("claim", text, f"cannot be read: {err}") from None
    names = {t.string for t in tokens if t.type == tokenize.NAME}
    if "x" in names:
        raise InvalidArgumentError(
            "claim", text, "a claim is written in l (layer) and L (depth), not x"
        )
    params: dict[str, Any] = {}
    if "L" in names:
        params["L"] = chain.depth
    if "n" in names:
        if len(set(chain.widths)) != 1:
            raise InvalidArgumentError("claim", text, "n is only defined when all widths are equal")
        params["n"] = chain.widths[0]
    out = []
    for t in tokens:
        if t.type == tokenize.NAME and t.string == "l":
            out.append((tokenize.NAME, "x"))
        else:
            out.append((t.type, t.string))
    renamed = tokenize.untokenize(out).strip()
    try:
        expr = parse_expression(renamed, params=params, allow_constant=True)
    except ExpressionError as err:
        reason = err.reason.replace("'x'", "'l'")
        # the parser speaks of its variable x and of activation parameters; a claim has l, L, n
        reason = re.sub(r"; the variable is x,.*?(?=\(offending|$)",
                        "; a claim may use l (layer), L (depth) and n (width) ", reason)
        raise InvalidArgumentError("claim", text, reason.strip()) from None
    except InvalidArgumentError as err:
        raise InvalidArgumentError("claim", text, err.reason) from None
    return expr.subs(x, layer_symbol)


def claim_logs(
    claim: Any, chain: Chain, quantity: str, prediction: Any
) -> tuple[FloatArray, str]:
    """The claim as natural logs per layer (NaN where nothing is claimed), and a label."""
    L = chain.depth
    if claim is None:
        if quantity == "grad_second_moment":
            logs = np.asarray(prediction.ln_grad_second_moment, dtype=float).copy()
            return logs, "vgmath.predict"
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(getattr(prediction, quantity), dtype=float)), "vgmath.predict"
    if isinstance(claim, str):
        expr = parse_claim(claim, chain)
        return _expr_logs(expr, L), claim.strip()
    if isinstance(claim, sp.Basic):
        return _expr_logs(sp.sympify(claim).subs(depth_symbol, L), L), str(claim)
    if hasattr(claim, quantity) and not callable(claim):
        label = type(claim).__name__
        if quantity == "grad_second_moment" and hasattr(claim, "ln_grad_second_moment"):
            logs = np.asarray(claim.ln_grad_second_moment, dtype=float)  # never underflows
            if logs.shape != (L + 1,):
                raise InvalidArgumentError("claim", label, f"expected L + 1 = {L + 1} layers")
            return logs.copy(), label
        values = np.asarray(getattr(claim, quantity), dtype=float)
        return _array_logs(values, L), label
    if callable(claim):
        logs = np.full(L + 1, np.nan)
        for l in range(L + 1):
            try:
                value = claim(l)
            except Exception as err:  # a user's function: report, don't leak a traceback
                raise InvalidArgumentError(
                    "claim", getattr(claim, "__name__", claim), f"raised at l={l}: {err!r}"
                ) from None
            logs[l] = log_of(value, f"claim({l})")
        return logs, getattr(claim, "__name__", "callable")
    if isinstance(claim, (Sequence, np.ndarray)):
        return _array_logs(np.asarray(claim, dtype=object), L), "array"
    raise InvalidArgumentError(
        "claim", claim, "expected None, a callable of l, an array, a SymPy expression or text"
    )


def _array_logs(values: Any, L: int) -> FloatArray:
    if values.shape != (L + 1,):
        raise InvalidArgumentError(
            "claim", f"array of shape {values.shape}", f"expected length L + 1 = {L + 1}"
        )
    return np.array([log_of(v, f"claim[{l}]") for l, v in enumerate(values)])


def _expr_logs(expr: sp.Expr, L: int) -> FloatArray:
    extra = expr.free_symbols - {layer_symbol}
    if extra:
        names = ", ".join(sorted(map(str, extra)))
        raise InvalidArgumentError(
            "claim", str(expr), f"may only depend on l and L (found {names})"
        )
    return np.array([log_of(expr.subs(layer_symbol, l), f"claim at l={l}") for l in range(L + 1)])

