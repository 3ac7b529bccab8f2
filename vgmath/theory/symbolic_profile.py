"""Mean-field theory with symbols: :class:`SymbolicPrediction`, what :func:`vgmath.predict`
returns for a chain whose σ_w², σ_b², widths, depth or activation parameters are SymPy
symbols (``chain.is_symbolic``).

With the conventions of :mod:`vgmath.theory.prediction` (layers l = 1..L, v_l = Var(W^l),
σ_w²⁽ˡ⁾ = n_{l−1}v_l, χ^l = v_l n_l E[φ′(√q^l z)²]):

* **Closed form** — positively homogeneous φ (identity, ReLU, leaky ReLU/PReLU with a
  numeric or symbolic slope a): E[φ′²] = c₂ = (c₊² + c₋²)/2 for every q, so on square
  layers (σ_w² the same in every layer)

  .. math::

      \\frac{\\mathbb{E}[(g^l)^2]}{\\mathbb{E}[(g^L)^2]} = (\\sigma_w^2 c_2)^{L-l},\\qquad
      q^l = a^{l-1} q^1 + \\sigma_b^2\\,\\frac{1 - a^{l-1}}{1 - a},\\quad
      a = \\sigma_w^2 c_2,\\; q^1 = \\sigma_w^2 q_\\text{in} + \\sigma_b^2,

  (q^l = q^1 + (l−1)σ_b² when a = 1), e.g. (σ_w²(1 + a²)/2)^{L−l} for leaky ReLU (He et al.
  2015, arXiv:1502.01852). With a numeric depth and a sequence of (symbolic) widths the
  ratio is the product ∏_{k=l+1}^{L} v_k n_k c₂ (Glorot & Bengio 2010:
  Var = 2/(n_in + n_out) gives the forward and backward factors 2n_in/(n_in + n_out) and
  2n_out/(n_in + n_out)).
* **Recursion** — every other φ (tanh, sigmoid, …; square layers): q^l and χ^l are the
  SymPy functions ``q_φ(l, σ_w², σ_b², q_in)`` and ``chi_φ(l, σ_w², σ_b², q_in)`` whose
  meaning is the recurrence :attr:`SymbolicPrediction.recurrence` (the variance map with
  its unevaluated Gaussian ``Integral``, :func:`vgmath.variance_map`), and the gradient
  ratio is ``Product(chi_φ(k, …), (k, l + 1, L))``. Once its arguments are numbers,
  ``.evalf()`` runs the recursion with the moments :func:`vgmath.predict` uses (about 1e-12
  relative), so the two agree; :meth:`SymbolicPrediction.evaluate` gives the full numeric
  :class:`vgmath.Prediction`.

References: Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017, arXiv:1611.01232.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy as sp

from ..core.errors import InvalidArgumentError
from ..network.description import Chain
from ..symbolic.catalog import Activation
from ..symbolic.symbols import layer_symbol
from ..symbolic.symbols import q as Q
from ..symbolic.typeset import Typeset, latex_equation
from .finite_width import finite_width_formula
from .maps import METHOD_HOMOGENEOUS, METHOD_INTEGRAL, phi2_expectation
from .meanfield import homogeneous, moment_provider

__all__ = ["SymbolicPrediction", "predict_symbolic"]

_K = sp.Symbol("k", integer=True, positive=True)


# --------------------------------------------------------------------------- the recursion


class _MeanField(sp.Function):
    """q^l (``_role = "q"``) or χ^l (``"chi"``) of a square chain, defined by the recursion
    q^0 = q_in, q^1 = σ_w² q_in + σ_b², q^l = σ_w² E[φ(√q^{l−1} z)²] + σ_b², χ^l =
    σ_w² E[φ′(√q^l z)²]; arguments (l, σ_w², σ_b², q_in). Unevaluated while any argument is
    symbolic; ``evalf`` runs the recursion in double precision (predict's moments)."""

    nargs = 4
    _act: Activation
    _role: str

    @classmethod
    def eval(cls, l: sp.Expr, sw2: sp.Expr, sb2: sp.Expr, iq: sp.Expr) -> sp.Expr | None:
        return None  # stays unevaluated: its meaning is the recursion (evalf computes it)

    def _eval_evalf(self, prec: int) -> sp.Expr | None:
        l, sw2, sb2, iq = self.args
        if not (l.is_Integer and all(a.is_number for a in (sw2, sb2, iq))):
            return None
        if int(l) < (0 if self._role == "q" else 1):
            return None
        q, chi = _numeric(self._act, int(l), float(sw2), float(sb2), float(iq))
        return sp.Float(q if self._role == "q" else chi, precision=prec)


def _numeric(act: Activation, l: int, sw2: float, sb2: float, iq: float) -> tuple[float, float]:
    """(q^l, χ^l) by predict's recursion and moments (χ^0 is NaN); the q profile of each
    (φ, σ_w², σ_b², q_in) is extended as deeper layers are asked for, so the L factors of
    a Product cost O(L) moment evaluations, not O(L²)."""
    qs = _q_profile(act, sw2, sb2, iq)
    if len(qs) <= l:
        phi2 = moment_provider(act).phi2_scalar()
        while len(qs) <= l:
            qs.append(sw2 * iq + sb2 if len(qs) == 1 else sw2 * phi2(qs[-1]) + sb2)
    q = qs[l]
    chi = float(sw2 * moment_provider(act).dphi2(q)) if l >= 1 else math.nan
    return q, chi


@lru_cache(maxsize=256)
def _q_profile(act: Activation, sw2: float, sb2: float, iq: float) -> list[float]:
    """The q^l computed so far for one recursion ([q^0], extended by :func:`_numeric`)."""
    return [iq]


@lru_cache(maxsize=256)
def _functions(act: Activation) -> tuple[type[_MeanField], type[_MeanField]]:
    """The q and χ function classes of ``act`` (one pair per activation, so equal
    activations give equal expressions)."""
    name = act.name if act.name.isidentifier() else "phi"
    q_cls = type(f"q_{name}", (_MeanField,), {"_act": act, "_role": "q"})
    chi_cls = type(f"chi_{name}", (_MeanField,), {"_act": act, "_role": "chi"})
    return q_cls, chi_cls  # type: ignore[return-value]


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class SymbolicPrediction(Typeset):
    """The mean-field prediction of a symbolic chain (see the module docstring).

    >>> import sympy as sp, vgmath as vg
    >>> s, L, n, a = sp.symbols("s L n a", positive=True)
    >>> leaky = vg.activation("leaky_relu", slope=a)
    >>> p = vg.predict(vg.Chain(leaky, init=vg.Init.custom(sigma_w2=s), depth=L, width=n))
    >>> p.formula
    (s*(a**2 + 1)/2)**(L - l)
    >>> float(p.evaluate(s=2, a=1, L=10, n=64).grad_second_moment[0])
    1024.0
    """

    chain: Chain
    exact: bool
    method: str
    _sw2: tuple[sp.Expr, ...] = field(repr=False)  # σ_w² per layer (one entry: all layers)
    _gain_out: tuple[sp.Expr, ...] = field(repr=False)  # v_l n_l per layer
    _c2: sp.Expr | None = field(repr=False)
    #: :func:`vgmath.predict` itself (handed over by it: this module sits below it)
    _predict: Callable[[Chain], Any] = field(repr=False, compare=False)

    @property
    def depth(self) -> sp.Expr:
        return sp.sympify(self.chain.depth)

    @property
    def formula(self) -> sp.Expr:
        """E[(g^l)²]/E[(g^L)²] in :data:`vgmath.layer_symbol` (= :meth:`ratio`)."""
        return self.ratio()

    def _square(self) -> bool:
        return len(set(self._sw2)) == 1 and len(set(self._gain_out)) == 1

    def _layer(self, l: Any) -> sp.Expr:
        lv = sp.sympify(l) if isinstance(l, (int, sp.Basic)) else None
        if lv is None or isinstance(l, bool) or lv.is_integer is False or lv.is_negative:
            raise InvalidArgumentError("l", l, "expected a layer: an integer >= 0 or a symbol")
        if lv.is_number and isinstance(self.chain.depth, int) and lv > self.chain.depth:
            raise InvalidArgumentError("l", l, f"must be at most the depth {self.chain.depth}")
        return lv

    def _concrete(self, what: str, l: sp.Expr) -> int:
        if not (l.is_Integer and isinstance(self.chain.depth, int)):
            raise InvalidArgumentError(
                "l", l, f"{what} of a chain with layer-dependent widths needs a numeric "
                "depth and layer"
            )
        return int(l)

    def ratio(self, l: Any = layer_symbol) -> sp.Expr:
        """E[(g^l)²]/E[(g^L)²], the gradient second moment at layer l relative to the output."""
        lv = self._layer(l)
        L = self.depth
        if self._c2 is not None:
            if self._square():
                return (self._gain_out[0] * self._c2) ** (L - lv)
            k = self._concrete("the ratio", lv)
            return sp.Mul(*(g * self._c2 for g in self._gain_out[k:]))
        _, chi = self._recursion()
        return sp.Product(chi(_K, *self._args()), (_K, lv + 1, L))

    def chi(self, l: Any = layer_symbol) -> sp.Expr:
        """χ^l = v_l n_l E[φ′(√q^l z)²] (layer l ≥ 1)."""
        lv = self._layer(l)
        if self._c2 is not None:
            if self._square():
                return self._gain_out[0] * self._c2
            return self._gain_out[self._concrete("χ", lv) - 1] * self._c2
        return self._recursion()[1](lv, *self._args())

    def q(self, l: Any = layer_symbol) -> sp.Expr:
        """q^l = E[(h^l_i)²] (q^0 = input_q; the closed form holds for l ≥ 1)."""
        lv = self._layer(l)
        c = self.chain
        if lv == 0:
            return c.input_q
        if self._c2 is None:
            return self._recursion()[0](lv, *self._args())
        if not self._square():
            k = self._concrete("q", lv)
            qv = c.input_q
            for j in range(k):
                qv = self._sw2[j] * (qv if j == 0 else self._c2 * qv) + c.sigma_b2
            return sp.simplify(qv)
        sw, sb = self._sw2[0], c.sigma_b2
        a = sw * self._c2
        q1 = sw * c.input_q + sb
        if sb == 0:
            return q1 * a ** (lv - 1)
        general = a ** (lv - 1) * q1 + sb * (1 - a ** (lv - 1)) / (1 - a)
        at_one = q1 + (lv - 1) * sb
        unit = sp.Eq(a, 1)
        if unit is sp.true:
            return at_one
        if unit is sp.false:
            return general
        return sp.Piecewise((at_one, unit), (general, True))

    @property
    def recurrence(self) -> tuple[sp.Eq, ...]:
        """The defining equations: q^1 = σ_w² q_in + σ_b², q^l = 𝒱(q^{l−1}) (l ≥ 2),
        χ^l = χ(q^l) and the gradient recursion E[(g^{l−1})²] = χ^l E[(g^l)²], with the
        maps' closed forms or Gaussian integrals."""
        c = self.chain
        l = layer_symbol
        square = self._square()
        sw = self._sw2[0] if square else sp.Function("sigma_w2")(l)
        gain = self._gain_out[0] if square else sp.Function("v")(l) * sp.Function("n")(l)
        phi2, dphi2, _ = phi2_expectation(c.act, Q)
        if self._c2 is None:
            qf, chif = self._recursion()
            ql, qprev, chil = qf(l, *self._args()), qf(l - 1, *self._args()), chif(l, *self._args())
        else:
            qf_ = sp.Function("q")
            ql, qprev, chil = qf_(l), qf_(l - 1), sp.Function("chi")(l)
        g = sp.Function("E_g2")
        return (
            sp.Eq(ql.subs(l, 1), (sw * c.input_q + c.sigma_b2).subs(l, 1)),
            sp.Eq(ql, (sw * phi2 + c.sigma_b2).subs(Q, qprev)),
            sp.Eq(chil, (gain * dphi2).subs(Q, ql)),
            sp.Eq(g(l - 1), chil * g(l)),
        )

    def finite_width_ratio(self, which: str = "gradient") -> sp.Expr:
        """The exact finite-width E[‖v‖⁴]/E[‖v‖²]² in the chain's own width and depth
        symbols (:func:`vgmath.finite_width_formula`: (1 + 2/n)(1 + 5/n)^L for ReLU's input
        gradient); positively homogeneous φ, one width, σ_b² = 0."""
        c = self.chain
        ws = {c.width} if not isinstance(c.width, (list, tuple)) else set(c.width)
        if self._c2 is None or len(ws) != 1 or c.sigma_b2 != 0:
            raise InvalidArgumentError(
                "chain", str(c), "exact finite-width ratios need a positively homogeneous "
                "activation, one width and sigma_b2 = 0"
            )
        return finite_width_formula(
            c.act, which=which, width=sp.sympify(next(iter(ws))), depth=self.depth
        )

    def _args(self) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
        return (self._sw2[0], self.chain.sigma_b2, self.chain.input_q)

    def _recursion(self) -> tuple[Any, Any]:
        if not self._square():
            raise InvalidArgumentError(
                "width", self.chain.width, f"the recursion form for {self.chain.act.label} "
                "needs square layers (one width); substitute numbers for the others"
            )
        return _functions(self.chain.act)

    # ---- back to numbers

    def subs(self, values: Any = None, /, **named: Any) -> Any:
        """:func:`vgmath.predict` of ``chain.subs(...)``: a :class:`SymbolicPrediction` while
        symbols remain, the numeric :class:`vgmath.Prediction` once none do."""
        return self._predict(self.chain.subs(values, **named))

    def evaluate(self, values: Any = None, /, **named: Any) -> Any:
        """The numeric :class:`vgmath.Prediction` with every symbol given a value."""
        out = self.subs(values, **named)
        if isinstance(out, SymbolicPrediction):
            left = sorted(map(str, out.chain.free_symbols))
            raise InvalidArgumentError(
                "values", dict(named) or values, f"no value for the symbols {', '.join(left)}"
            )
        return out

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        r"""``\frac{E[(g^l)^2]}{E[(g^L)^2]} = …`` and ``q^l = …`` (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        return [
            ("gradient ratio", latex_equation(
                r"\frac{\mathbb{E}[(g^l_i)^2]}{\mathbb{E}[(g^L_i)^2]}", self.formula, digits)),
            ("forward pass", latex_equation("q^l", self.q(), digits)),
        ]

    def __str__(self) -> str:
        return f"SymbolicPrediction({self.chain}: ratio = {self.formula}; {self.method})"


def predict_symbolic(chain: Chain, predict: Callable[[Chain], Any]) -> SymbolicPrediction:
    """The :class:`SymbolicPrediction` of a symbolic plain chain (``predict`` dispatches
    here and passes itself, used by :meth:`SymbolicPrediction.subs`)."""
    rule = chain.rule
    if isinstance(chain.depth, int):
        ws = chain.widths
        pairs = [(ws[i], ws[i + 1]) for i in range(chain.depth)]
    else:
        pairs = [(chain.width, chain.width)]
    scales: dict[tuple[Any, Any], tuple[sp.Expr, sp.Expr]] = {}
    for fi, fo in set(pairs):  # one simplification per distinct pair of fans
        v = rule.variance(fi, fo)
        scales[(fi, fo)] = (sp.simplify(fi * v), sp.simplify(fo * v))
    sw2 = tuple(scales[p][0] for p in pairs)
    gain_out = tuple(scales[p][1] for p in pairs)
    if len(set(sw2)) == 1 and len(set(gain_out)) == 1:
        sw2, gain_out = sw2[:1], gain_out[:1]
    h = homogeneous(chain.act)
    if h is not None:
        c2 = sp.factor(h.c2)
        return SymbolicPrediction(chain, True, METHOD_HOMOGENEOUS, sw2, gain_out, c2, predict)
    if len(sw2) != 1:
        raise InvalidArgumentError(
            "width", chain.width, f"the symbolic recursion for {chain.act.label} needs square "
            "layers (one width): substitute numbers for the widths, or use one width"
        )
    return SymbolicPrediction(
        chain, False, "mean-field recursion (" + METHOD_INTEGRAL + ")", sw2, gain_out, None,
        predict,
    )
