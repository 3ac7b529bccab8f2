r"""``vgmath derive``: an activation's derivatives and its certified gradient bounds.

::

    vgmath derive sigmoid
    vgmath derive leaky_relu --param slope=0.1 --json
    vgmath derive "a*x + tanh(x)" --param a=1/10 --latex
    vgmath derive gelu --eps 1e-3

prints φ, φ′ and φ″ (SymPy), the certified bound on φ′ — sup and inf over ℝ, where each is
attained or approached, exact or with a rigorous error bound (:func:`vgmath.symbolic.bounds
.derivative_bound`) — the saturation region :math:`\{x : |\varphi'(x)| < \varepsilon\}` and the
chain bound :math:`\prod_{i=1}^{L} |\varphi'(x_i)| \le (\sup|\varphi'|)^L` with the smallest depth
at which it falls below ``--chain-eps`` (1/1000). For the sigmoid: sup φ′ = 1/4, exact, attained
at x = 0, and (1/4)^L < 1/1000 from L = 5 on (Bengio, Simard & Frasconi 1994).

``--json`` gives every value as an exact string (``"1/4"``) and as a float; ``--latex`` prints
display-math lines ready for a document.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import sympy as sp

from ..core.effort import effort_limit
from ..core.errors import InvalidArgumentError, NumericalError, VgmathError
from ..reporting.latex import finite_float

__all__ = ["HELP", "add_arguments", "derive", "run", "to_ascii", "to_json", "to_latex", "to_text"]

HELP = "derivatives of an activation and certified bounds on φ′ (sup, saturation, chain depth)"

_DEFAULT_EPS = "1/100"
_DEFAULT_CHAIN_EPS = "1/1000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "activation",
        metavar="ACTIVATION",
        help="catalog name (sigmoid, relu, ...) or an expression in x, e.g. 'a*x + tanh(x)'",
    )
    parser.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="activation parameter, e.g. slope=0.1 or a=1/10 (repeatable)",
    )
    parser.add_argument(
        "--eps",
        default=_DEFAULT_EPS,
        help=f"saturation threshold: the region |φ′| < EPS ({_DEFAULT_EPS})",
    )
    parser.add_argument(
        "--chain-eps",
        default=_DEFAULT_CHAIN_EPS,
        help=f"chain bound threshold: smallest L with (sup|φ′|)^L < EPS ({_DEFAULT_CHAIN_EPS})",
    )
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument(
        "--json", action="store_true", help="machine-readable output (exact strings and floats)"
    )
    fmt.add_argument("--latex", action="store_true", help="LaTeX display-math lines")


# --------------------------------------------------------------------------- the computation


def _threshold(option: str, text: Any) -> sp.Expr:
    from ..symbolic.parse import to_sympy_number

    value = to_sympy_number(option, text)
    if not value.is_positive:
        raise InvalidArgumentError(option, text, "must be > 0")
    return value


def derive(
    activation: Any,
    *,
    params: dict[str, Any] | None = None,
    eps: Any = _DEFAULT_EPS,
    chain_eps: Any = _DEFAULT_CHAIN_EPS,
) -> dict[str, Any]:
    """Everything ``vgmath derive`` reports, as Python objects.

    Returns a dict with the :class:`vgmath.Activation` (``"activation"``), the thresholds
    (``"eps"``, ``"chain_eps"``, exact SymPy numbers), the :class:`vgmath.DerivativeBound`
    (``"bound"``), the :class:`vgmath.SaturationRegion` (``"region"``) and the
    :class:`vgmath.ChainBound` (``"chain"``).
    """
    from ..symbolic.catalog import activation as make_activation

    act = make_activation(activation, **(params or {}))
    eps_v = _threshold("--eps", eps)
    chain_v = _threshold("--chain-eps", chain_eps)
    try:
        # one effort limit for the three certifications together (each also has its own)
        with effort_limit(f"certify the bounds of {act.label}"):
            bound = act.derivative_bound()
            region = act.saturation_region(eps_v)
            chain = act.chain_bound(eps=chain_v)
    except VgmathError:
        raise
    except Exception as err:
        # a user expression the certifier cannot analyse (log(x) is not real for x ≤ 0, 1/x
        # has a pole): one readable line rather than a traceback; the cause stays chained
        raise NumericalError(
            f"cannot certify the bounds of {act.label}: {type(err).__name__}: {err}"
        ) from err
    return {
        "activation": act,
        "eps": eps_v,
        "chain_eps": chain_v,
        "bound": bound,
        "region": region,
        "chain": chain,
    }


# --------------------------------------------------------------------------- output


def _unicode_ok(stream: Any) -> bool:
    try:
        "φ′″∞≈±∏".encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


_ASCII = [
    ("φ′", "phi'"),
    ("φ″", "phi''"),
    ("φ", "phi"),
    ("′", "'"),
    ("″", "''"),
    ("≥", ">="),
    ("≤", "<="),
    ("±", "+-"),
    ("≈", "~"),
    ("∞", "oo"),
    ("→", "->"),
    ("∈", "in"),
    ("∪", "U"),
    ("∅", "{}"),
    ("ℝ", "R"),
]


def to_ascii(text: str) -> str:
    """Transliterate the report's symbols for a terminal that cannot print them."""
    for uni, asc in _ASCII:
        text = text.replace(uni, asc)
    return text.encode("ascii", errors="replace").decode("ascii")


def _json_safe(obj: Any) -> Any:
    """Recursively make ``obj`` valid JSON: non-finite floats become null, SymPy/mpmath
    objects their exact strings."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return str(obj)


def _number(v: sp.Expr) -> dict[str, Any]:
    return {"value": str(v), "float": finite_float(v)}


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` document (exact values as strings, with floats alongside)."""
    act = result["activation"]
    out: dict[str, Any] = {
        "activation": act.label,
        "name": act.name,
        "source": act.source or None,
        "params": {k: _number(v) for k, v in act.params.items()},
        "phi": {"expr": str(act.expr), "latex": sp.latex(act.expr)},
        "phi_prime": {"expr": str(act.derivative), "latex": sp.latex(act.derivative)},
        "phi_second": {
            "expr": str(act.second_derivative),
            "latex": sp.latex(act.second_derivative),
            "away_from_kinks": act.is_piecewise,
        },
        "breakpoints": [_number(b) for b in act.breakpoints],
        "derivative_bound": result["bound"].to_dict(),
        "saturation_region": result["region"].to_dict(),
        "chain_bound": result["chain"].to_dict(),
    }
    return _json_safe(out)


def to_latex(result: dict[str, Any]) -> str:
    """Display-math lines: φ, φ′, φ″, the derivative bound, saturation region, chain bound."""
    act = result["activation"]
    lines = [
        f"% vgmath derive {act.label}",
        r"\[ \varphi(x) = " + sp.latex(act.expr) + r" \]",
        r"\[ \varphi'(x) = " + sp.latex(act.derivative) + r" \]",
        r"\[ \varphi''(x) = "
        + sp.latex(act.second_derivative)
        + (r" \quad\text{(away from the kinks)}" if act.is_piecewise else "")
        + r" \]",
        r"\[ " + _strip_math(result["bound"].latex()) + r" \]",
        r"\[ " + _strip_math(result["region"].latex()) + r" \]",
        r"\[ " + _strip_math(result["chain"].latex()) + r" \]",
    ]
    return "\n".join(lines) + "\n"


def _strip_math(tex: str) -> str:
    tex = tex.strip()
    for left, right in (("$$", "$$"), ("$", "$"), (r"\[", r"\]"), (r"\(", r"\)")):
        if tex.startswith(left) and tex.endswith(right) and len(tex) > len(left) + len(right):
            return tex[len(left) : -len(right)].strip()
    return tex


def _set_text(s: sp.Set, uni: bool) -> str:
    """``(-∞, 0] ∪ (1, ∞)`` rather than SymPy's ``Union(Interval(-oo, 0), ...)``."""
    inf = "∞" if uni else "oo"

    def end(v: sp.Expr) -> str:
        if v is sp.oo:
            return inf
        if v is sp.S.NegativeInfinity:
            return "-" + inf
        return str(v)

    if s is sp.S.EmptySet:
        return "∅" if uni else "{}"
    if s == sp.S.Reals:
        return "ℝ" if uni else "R"
    if isinstance(s, sp.Interval):
        left = "(" if s.left_open or s.start.is_infinite else "["
        right = ")" if s.right_open or s.end.is_infinite else "]"
        return f"{left}{end(s.start)}, {end(s.end)}{right}"
    if isinstance(s, sp.FiniteSet):
        return "{" + ", ".join(end(v) for v in s) + "}"
    if isinstance(s, sp.Union):
        return (" ∪ " if uni else " U ").join(_set_text(a, uni) for a in s.args)
    return str(s)


def _where(where: Any, attained: bool, uni: bool) -> str:
    inf = "∞" if uni else "oo"
    arrow = "→" if uni else "->"
    if isinstance(where, sp.FiniteSet) and set(where) == {sp.oo, -sp.oo}:
        place = ("±" if uni else "+-") + inf
    elif where is sp.oo or where is sp.S.NegativeInfinity:
        place = ("-" if where is sp.S.NegativeInfinity else "+") + inf
    elif isinstance(where, sp.Set):
        place = _set_text(where, uni)
    else:
        place = str(where)
    if attained:
        return (
            ("attained on x ∈ " if uni else "attained on x in ") + place
            if isinstance(where, sp.Set)
            else "attained at x = " + place
        )
    return f"approached as x {arrow} {place}"


def _approx(v: sp.Expr, uni: bool) -> str:
    f = finite_float(v)
    if f is None or v.is_Rational:
        return str(v)
    return f"{v} {'≈' if uni else '~'} {f:.6g}"


def _value(v: sp.Expr, exact: bool, err: Any, uni: bool) -> str:
    if exact:
        return f"{_approx(v, uni)} (exact)"
    return f"{v} {'±' if uni else '+-'} {sp.Float(err, 3)} (certified enclosure)"


def _region_lines(region: Any, uni: bool) -> list[str]:
    member = "∈" if uni else "in"
    lines = [f"  x {member} {_set_text(region.region, uni)}"]
    if region.boundaries:
        shown = [_approx(b, uni) if region.exact else str(b) for b in region.boundaries]
        tail = "" if region.exact else f" (certified, each within {sp.Float(region.error, 3)})"
        lines.append("  boundaries: " + ", ".join(shown) + tail)
    if region.region is sp.S.EmptySet:
        lines.append("  (φ′ never gets this small)" if uni else "  (phi' never gets this small)")
    return lines


def _chain_lines(chain: Any, uni: bool) -> list[str]:
    lines = ["  " + str(chain)]
    L = chain.min_depth
    if L is not None and chain.factor_exact and chain.bound is not None and L > 1:
        s = chain.factor
        before = sp.nsimplify(s ** (L - 1))
        lt, le = ("<", "≤") if uni else ("<", "<=")
        lines.append(f"  ({s})^{L} = {chain.bound} {lt} {chain.eps} {le} ({s})^{L - 1} = {before}")
    return lines


def to_text(result: dict[str, Any], *, unicode: bool = True) -> str:
    """The default human-readable report."""
    act, bound = result["activation"], result["bound"]
    uni = unicode
    phi, d1, d2 = ("φ", "φ′", "φ″") if uni else ("phi", "phi'", "phi''")

    def block(label: str, expr: sp.Expr) -> list[str]:
        art = sp.pretty(expr, use_unicode=uni)
        if "\n" not in art:
            return [f"{label} = {art}"]
        return [f"{label} =", *("    " + line for line in art.splitlines())]

    head = act.label + (f"  ({act.doc})" if act.doc and not act.source else "")
    lines = [head, ""]
    lines += block(f"{phi}(x)", act.expr)
    lines += block(f"{d1}(x)", act.derivative)
    kinks = " (away from the kinks)" if act.is_piecewise else ""
    lines += block(f"{d2}(x){kinks}", act.second_derivative)
    if act.breakpoints:
        lines.append("kinks at x = " + ", ".join(str(b) for b in act.breakpoints))
    lines += [
        "",
        f"certified bound on {d1}",
        f"  sup {d1} = {_value(bound.sup, bound.sup_exact, bound.sup_error, uni)}, "
        + _where(bound.argsup, bound.attained, uni),
        f"  inf {d1} = {_value(bound.inf, bound.inf_exact, bound.inf_error, uni)}, "
        + _where(bound.arginf, bound.inf_attained, uni),
        f"  sup |{d1}| = " + _value(bound.sup_abs, bound.sup_abs_exact, bound.sup_abs_error, uni),
        "",
        f"saturation region |{d1}(x)| < {result['eps']}",
        *_region_lines(result["region"], uni),
        "",
        f"chain bound (sup|{d1}|)^L < {result['chain_eps']}",
        *_chain_lines(result["chain"], uni),
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from .options import parse_params

    params = parse_params(args.param)
    result = derive(args.activation, params=params, eps=args.eps, chain_eps=args.chain_eps)
    if args.json:
        text = json.dumps(to_json(result), indent=2, allow_nan=False) + "\n"
    elif args.latex:
        text = to_latex(result)
        if not _unicode_ok(sys.stdout):
            text = to_ascii(text)
    else:
        uni = _unicode_ok(sys.stdout)
        text = to_text(result, unicode=uni)
        if not uni:
            text = to_ascii(text)
    sys.stdout.write(text)
    return 0
