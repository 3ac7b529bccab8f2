"""Network descriptions: the one object that both ``predict`` (theory) and ``simulate``
(Monte Carlo) read, so that the two can never drift apart.

Conventions (used everywhere in vgmath)
---------------------------------------
A :class:`Chain` of depth L has widths n_0 (input), n_1, …, n_L and layers l = 1..L::

    h^l = W^l x^{l-1} + b^l,     x^l = φ(h^l),     x^0 = the input,

with W^l of shape (n_l, n_{l-1}), Var(W^l_ij) = v_l from the init rule (fan_in = n_{l-1},
fan_out = n_l) and b^l_i ~ N(0, σ_b²). The input has per-unit second moment
``input_q = ‖x^0‖²/n_0``. The gradient flows back from the output x^L:
g^l = ∂E/∂x^l (the gradient w.r.t. the *input of layer l+1*), δ^l = ∂E/∂h^l = φ′(h^l) ⊙ g^l,
g^{l-1} = (W^l)ᵀ δ^l. Depth profiles index layers 0..L.

Read-out (``readout``). With ``readout="activation"`` (the default) φ acts on the output
layer too, x^L = φ(h^L), and the output gradient g^L = ∂E/∂x^L enters through
δ^L = φ′(h^L) ⊙ g^L. With ``readout="linear"`` — the convention of neural-tangents
(``stax.serial(..., Dense)``) and of a PyTorch ``nn.Sequential`` ending in ``nn.Linear`` — the
last layer has no φ: the output is h^L itself, x^L = h^L and δ^L = g^L. Every ratio
E[(g^l)²]/E[(g^L)²] with l < L then changes by the same factor

    χ^L_linear / χ^L_activation = n_L v_L / (n_L v_L E[φ′(h^L)²]) = 1 / E[φ′(√q^L z)²]

(2 for ReLU, whatever the init: the linear read-out does not halve the gradient), while the
forward profile q^1..q^L is unchanged.

A batch-normalised chain (``norm="batch"``) pushes ``batch`` = B inputs through each network
and normalises every pre-activation over the batch before φ (Ioffe & Szegedy 2015,
arXiv:1502.03167; scale 1 and shift 0, their values at initialisation)::

    h^l = W^l x^{l-1} + b^l,   ĥ^l_{i,b} = (h^l_{i,b} − μ_i)/√(σ_i² + eps),   x^l = φ(ĥ^l),

μ_i and σ_i² the mean and (biased) variance of unit i over the batch.

A :class:`Recurrent` network applies one cell with *shared* weights for T steps; its
"layers" are the time steps t = 0..T (see its docstring for the cell equations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from ..core.errors import InvalidArgumentError
from ..symbolic.catalog import Activation, as_activation
from ..symbolic.parse import to_sympy_number, to_sympy_parameter
from .init import Init, as_init

__all__ = ["CELLS", "MAX_DEPTH", "READOUTS", "Chain", "Recurrent", "Residual"]

#: Deepest chain (and longest recurrent run) vgmath describes: every engine keeps per-layer
#: arrays, and a million layers already take seconds of theory and megabytes of results.
MAX_DEPTH = 1_000_000

#: Output-layer conventions of a :class:`Chain` (the first is the default): φ on the output
#: layer, or a linear read-out as in neural-tangents and PyTorch.
READOUTS = ("activation", "linear")


@dataclass(frozen=True)
class Residual:
    """A residual block ``x_{l+1} = x_l + alpha · F(x_l)``.

    ``branch_depth`` dense+activation layers form F (1 or 2). ``variant`` is ``"post"``
    (F(x) = φ(W x + b), repeated) or ``"pre"`` (F(x) = W φ(x) + b, repeated: the
    pre-activation ordering of He et al. 2016, arXiv:1603.05027).
    Reference: Yang & Schoenholz 2017, arXiv:1712.08969.
    """

    alpha: Any = 1
    branch_depth: int = 1
    variant: str = "post"

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", to_sympy_number("alpha", self.alpha))
        if self.branch_depth not in (1, 2):
            raise InvalidArgumentError("branch_depth", self.branch_depth, "must be 1 or 2")
        if self.variant not in ("post", "pre"):
            raise InvalidArgumentError("variant", self.variant, "must be 'post' or 'pre'")


def _short_int(v: Any) -> Any:
    """An int for a message: itself, or ``<a 5001-digit integer>`` (never a 5000-digit echo,
    and never Python's 4300-digit ``str`` limit)."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"<a {math.floor(v.bit_length() * math.log10(2)) + 1}-digit integer>"
    return v


def _symbolic_size(name: str, value: Any, full: Any) -> Any:
    """An int, or a SymPy expression in symbols (a width ``n``, a depth ``L``), checked
    not to be provably a non-positive or non-integer number."""
    if isinstance(value, sp.Basic) and not value.free_symbols:
        if value.is_Integer and value.is_positive:
            return int(value)
        raise InvalidArgumentError(name, full, "must be a positive integer")
    if not isinstance(value, sp.Expr):
        return value
    v = to_sympy_parameter(name, value)
    if v.is_positive is False or v.is_integer is False:
        raise InvalidArgumentError(name, full, "a symbolic size must be a positive integer")
    return v


def _is_symbolic(value: Any) -> bool:
    return isinstance(value, sp.Basic) and bool(value.free_symbols)


def _widths(width: Any, depth: int) -> tuple[Any, ...]:
    if isinstance(width, sp.Basic):
        width = _symbolic_size("width", width, width)
    elif isinstance(width, Sequence) and not isinstance(width, str):
        width = [_symbolic_size("width", w, width) if isinstance(w, sp.Basic) else w
                 for w in width]
    if not isinstance(depth, int):  # a symbolic depth: one width for every layer
        if isinstance(width, (int, sp.Expr)) and not isinstance(width, bool):
            _widths(width, 1)  # the checks of a numeric width
            return ()
        raise InvalidArgumentError(
            "width", width, "a chain of symbolic depth needs one width (an int or a symbol)"
        )
    if _is_symbolic(width):
        return (width,) * (depth + 1)
    if isinstance(width, bool):
        raise InvalidArgumentError("width", width, "expected a positive integer or a sequence")
    if isinstance(width, int):
        ws: tuple[int, ...] = (width,) * (depth + 1)
    elif isinstance(width, Sequence) and not isinstance(width, str):
        ws = tuple(width)
        if len(ws) != depth + 1:
            raise InvalidArgumentError(
                "width", width,
                f"a sequence of widths needs depth + 1 = {depth + 1} entries (n_0..n_L)",
            )
    else:
        raise InvalidArgumentError("width", width, "expected a positive integer or a sequence")
    for w in ws:
        if _is_symbolic(w):
            continue
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise InvalidArgumentError("width", width, "widths must be positive integers")
    return ws


class _TypedViews:
    """Typed views of a network's coerced fields (``__post_init__`` guarantees the types)."""

    activation: Any
    init: Any

    @property
    def act(self) -> Activation:
        return self.activation  # type: ignore[no-any-return]

    @property
    def rule(self) -> Init:
        return self.init  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Chain(_TypedViews):
    """A plain (or residual) fully connected chain; *the* description of a network.

    >>> import vgmath as vg
    >>> chain = vg.Chain(activation="relu", init="he", depth=50, width=256)
    >>> chain.widths[:3], chain.sigma_w2s[0]
    ((256, 256, 256), 2)

    ``activation``: catalog name, expression or :class:`vgmath.Activation`; ``init``: scheme
    name, ``{"scheme": ..., **options}`` or :class:`vgmath.Init`; ``width``: one int (square)
    or the sequence n_0..n_L; ``sigma_b2``: bias variance; ``input_q``: per-unit second
    moment of the input; ``residual``: ``None`` or a :class:`vgmath.Residual`;
    ``norm``: ``None`` or ``"batch"`` (batch normalisation of every pre-activation over
    ``batch`` ≥ 2 inputs per network, with ``norm_eps`` added to the variance — PyTorch's
    default 1e-5; see the module docstring); ``readout``: ``"activation"`` (default, φ on
    the output layer) or ``"linear"`` (no φ on the output layer: the neural-tangents and
    PyTorch convention; plain chains only; see the module docstring).

    Symbolic chains: σ_w² (``Init.custom(sigma_w2=s)``, a gain), ``sigma_b2``, ``input_q``,
    the widths, an activation parameter and the ``depth`` may be SymPy expressions in
    symbols of your own (read as positive reals; a symbolic depth takes one width). Such a
    chain has ``is_symbolic`` true: :func:`vgmath.predict` returns a
    :class:`vgmath.SymbolicPrediction` (closed forms, or the recursion as a SymPy object),
    :meth:`subs` gives back a numeric chain, and the Monte Carlo engine refuses it.
    ``widths`` is empty when the depth is symbolic.

    >>> vg.Chain("relu", depth=20, width=128, norm="batch", batch=32).batch
    32
    """

    activation: Any
    init: Any = "he"
    depth: int = 10
    width: Any = 100
    sigma_b2: Any = 0
    residual: Residual | None = None
    input_q: Any = 1
    norm: str | None = None
    batch: int | None = None
    norm_eps: Any = "1/100000"
    readout: str = "activation"
    widths: tuple[Any, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "activation", as_activation(self.activation))
        set_(self, "init", as_init(self.init))
        d = self.depth
        if isinstance(d, sp.Basic):
            d = _symbolic_size("depth", d, d)
            set_(self, "depth", d)
        if isinstance(d, sp.Expr):
            pass  # a symbolic depth (checked by _symbolic_size)
        elif isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise InvalidArgumentError("depth", _short_int(d), "must be a positive integer")
        elif d > MAX_DEPTH:
            raise InvalidArgumentError(
                "depth", _short_int(d), f"at most {MAX_DEPTH:,} layers are supported"
            )
        set_(self, "widths", _widths(self.width, d))
        sb = to_sympy_parameter("sigma_b2", self.sigma_b2)
        if sb.is_negative:
            raise InvalidArgumentError("sigma_b2", self.sigma_b2, "must be >= 0")
        set_(self, "sigma_b2", sb)
        iq = to_sympy_parameter("input_q", self.input_q)
        if not iq.is_positive and (not iq.free_symbols or iq.is_positive is False):
            raise InvalidArgumentError("input_q", self.input_q, "must be > 0")
        set_(self, "input_q", iq)
        if self.residual is not None and not isinstance(self.residual, Residual):
            if isinstance(self.residual, dict):
                set_(self, "residual", Residual(**self.residual))
            else:
                raise InvalidArgumentError("residual", self.residual, "expected a vgmath.Residual")
        if self.residual is not None and self.widths and len(set(self.widths)) != 1:
            raise InvalidArgumentError("width", self.width, "residual chains need equal widths")
        self._check_norm()
        if self.is_symbolic and (self.residual is not None or self.norm is not None):
            raise InvalidArgumentError(
                "residual" if self.residual is not None else "norm",
                self.residual if self.residual is not None else self.norm,
                "symbolic chains are plain chains (no residual branch, no normalisation)",
            )

        self._check_readout()

    def _check_readout(self) -> None:
        if self.readout not in READOUTS:
            raise InvalidArgumentError(
                "readout", self.readout, f"expected one of {', '.join(map(repr, READOUTS))}"
            )
        if self.readout == "linear" and (self.residual is not None or self.norm is not None):
            raise InvalidArgumentError(
                "readout", self.readout,
                "a linear read-out is implemented for plain chains (no residual, no norm)",
            )

    @property
    def free_symbols(self) -> set[sp.Symbol]:
        """The user's symbols in the description (σ_w², σ_b², widths, depth, parameters)."""
        out: set[sp.Symbol] = set()
        for v in (self.depth, *self.widths, self.sigma_b2, self.input_q, self.rule.scale,
                  *self.act.params.values()):
            if isinstance(v, sp.Basic):
                out |= v.free_symbols
        if not isinstance(self.width, (int, str)) and isinstance(self.width, sp.Basic):
            out |= self.width.free_symbols
        return out

    @property
    def is_symbolic(self) -> bool:
        """True when some field is a SymPy expression in symbols (see the class docstring)."""
        return bool(self.free_symbols)

    def subs(self, values: Any = None, /, **named: Any) -> Chain:
        """The chain with symbols replaced by numbers (``chain.subs(s=2, L=10, n=256)`` or
        ``chain.subs({s: 2})``; keys are symbols or their names) — validated again.

        >>> import sympy as sp, vgmath as vg
        >>> s, L = sp.symbols("s L", positive=True)
        >>> print(vg.Chain("relu", init=vg.Init.custom(sigma_w2=s), depth=L, width=64).subs(
        ...     s=2, L=5))
        Chain(relu, custom, depth=5, width=64)
        """
        mapping = _substitutions(self.free_symbols, values, named)

        def sub(v: Any) -> Any:
            if not isinstance(v, sp.Basic):
                return v
            out = v.xreplace(mapping)
            if out.free_symbols:
                return out
            return int(out) if out.is_Integer else sp.nsimplify(out) if out.is_Float else out

        act = self.act
        if any(isinstance(v, sp.Basic) and v.free_symbols for v in act.params.values()):
            from ..symbolic.catalog import activation

            act = activation(act.name, **{k: sub(v) for k, v in act.params.items()})
        rule = self.rule
        if rule.is_symbolic:
            rule = Init(rule.name, sub(rule.scale), rule.mode, rule.distribution)
        width = self.width
        if isinstance(width, Sequence) and not isinstance(width, str):
            width = [sub(w) for w in width]
        else:
            width = sub(width)
        return replace(
            self, activation=act, init=rule, depth=sub(self.depth), width=width,
            sigma_b2=sub(self.sigma_b2), input_q=sub(self.input_q),
        )

    def _check_norm(self) -> None:
        eps = to_sympy_number("norm_eps", self.norm_eps)
        if eps.is_negative:
            raise InvalidArgumentError("norm_eps", self.norm_eps, "must be >= 0")
        object.__setattr__(self, "norm_eps", eps)
        if self.norm not in (None, "batch"):
            raise InvalidArgumentError("norm", self.norm, "expected None or 'batch'")
        if self.norm is None:
            if self.batch is not None:
                raise InvalidArgumentError("batch", self.batch, "a batch needs norm='batch'")
            return
        b = self.batch
        if isinstance(b, bool) or not isinstance(b, int) or b < 2:
            raise InvalidArgumentError(
                "batch", b, "batch normalisation needs an integer batch of at least 2 inputs"
            )
        if self.residual is not None:
            raise InvalidArgumentError(
                "norm", self.norm, "batch-normalised residual chains are not supported"
            )


    def require_numeric(self, what: str) -> None:
        """Refuse a symbolic chain where numbers are needed, naming the symbols."""
        if self.is_symbolic:
            names = ", ".join(sorted(map(str, self.free_symbols)))
            raise InvalidArgumentError(
                "chain", str(self), f"{what} needs numbers: substitute the symbols {names} "
                "first (chain.subs(...))"
            )

    def _numeric_depth(self, what: str) -> None:
        if not isinstance(self.depth, int):
            raise InvalidArgumentError(
                "depth", self.depth, f"{what} needs a numeric depth: substitute one (chain.subs)"
            )

    @property
    def weight_variances(self) -> tuple[sp.Expr, ...]:
        """v_l = Var(W^l_ij) for l = 1..L (exact SymPy numbers)."""
        self._numeric_depth("per-layer weight variances")
        ws = self.widths
        return tuple(self.rule.variance(ws[i], ws[i + 1]) for i in range(self.depth))

    @property
    def sigma_w2s(self) -> tuple[sp.Expr, ...]:
        """Mean-field σ_w² of each layer: n_{l-1} · v_l."""
        self._numeric_depth("per-layer σ_w²")
        ws = self.widths
        return tuple(ws[i] * v for i, v in enumerate(self.weight_variances))

    def replace(self, **changes: Any) -> Chain:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description (JSON-ready), enough to rebuild the chain."""
        out: dict[str, Any] = {
            "kind": "chain",
            "activation": self.act.label if not self.act.source else self.act.source,
            "activation_params": {k: str(v) for k, v in self.act.params.items()},
            "init": {
                "name": self.rule.name,
                "scale": str(self.rule.scale),
                "mode": self.rule.mode,
                "distribution": self.rule.distribution,
            },
            "depth": self.depth if isinstance(self.depth, int) else str(self.depth),
            "widths": [w if isinstance(w, int) else str(w) for w in self.widths]
            or [str(self.width)],
            "sigma_b2": str(self.sigma_b2),
            "input_q": str(self.input_q),
            "residual": None,
            "norm": self.norm,
            "batch": self.batch,
            "norm_eps": None if self.norm is None else str(self.norm_eps),
            "readout": self.readout,
        }
        if self.residual is not None:
            out["residual"] = {
                "alpha": str(self.residual.alpha),
                "branch_depth": self.residual.branch_depth,
                "variant": self.residual.variant,
            }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chain:
        """The chain of :meth:`to_dict`'s plain data (a round trip: equal fields)."""
        from ..symbolic.catalog import activation, activations

        try:
            label = str(data["activation"])
            params = dict(data.get("activation_params") or {})
            name = label.split("(", 1)[0]
            act = activation(name if name in activations() else label, **params)
            init = data["init"]
            rule = Init(str(init["name"]), to_sympy_number("scale", init["scale"]),
                        str(init["mode"]), str(init["distribution"]))
            res = data.get("residual")
            widths = [int(w) for w in data["widths"]]
            return cls(
                act, init=rule, depth=int(data["depth"]),
                width=widths[0] if len(set(widths)) == 1 else widths,
                sigma_b2=data["sigma_b2"], input_q=data.get("input_q", 1),
                residual=None if res is None else Residual(
                    alpha=res["alpha"], branch_depth=int(res["branch_depth"]),
                    variant=str(res["variant"])),
                norm=data.get("norm"), batch=data.get("batch"),
                norm_eps=data.get("norm_eps") or "1/100000",
                readout=str(data.get("readout") or "activation"),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidArgumentError("data", data, f"not a chain description ({err})") from None

    def __str__(self) -> str:
        if not self.widths:
            w: Any = self.width
        else:
            w = self.widths[0] if len(set(self.widths)) == 1 else list(self.widths)
        extra = "" if self.residual is None else f", residual(alpha={self.residual.alpha})"
        if self.norm == "batch":
            extra += f", batchnorm(batch={self.batch})"
        if self.readout != "activation":
            extra += f", readout={self.readout}"
        return f"Chain({self.act.label}, {self.rule}, depth={self.depth}, width={w}{extra})"




def _substitutions(
    symbols: set[sp.Symbol], values: Any, named: dict[str, Any]
) -> dict[sp.Basic, sp.Expr]:
    """{symbol: exact number} from a mapping keyed by symbols or names, plus keywords."""
    by_name = {str(sym): sym for sym in symbols}
    items = list((values or {}).items()) + list(named.items())
    if values is not None and not isinstance(values, dict):
        raise InvalidArgumentError("values", values, "expected a dict {symbol or name: value}")
    out: dict[sp.Basic, sp.Expr] = {}
    for key, value in items:
        name = key if isinstance(key, str) else str(key)
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise InvalidArgumentError(
                name, value, f"not a symbol of this chain (its symbols: {known})"
            )
        out[by_name[name]] = to_sympy_parameter(name, value)
    return out


#: Recurrent cells: vanilla (Elman) RNN, LSTM and GRU, with PyTorch's gate equations.
CELLS = ("rnn", "lstm", "gru")
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_JACOBIAN_MODES = ("auto", "spectral", "vector")
#: Largest hidden size for which ``jacobian="auto"`` computes exact spectral norms.
SPECTRAL_MAX_HIDDEN = 128


def _positive_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(name, _short_int(value), f"must be an integer >= {minimum}")
    if name == "steps" and value > MAX_DEPTH:
        raise InvalidArgumentError(
            name, _short_int(value), f"at most {MAX_DEPTH:,} steps are supported"
        )
    return value


@dataclass(frozen=True)
class Recurrent(_TypedViews):
    """A recurrent network unrolled over ``steps`` = T time steps with *shared* weights.

    Cells follow PyTorch's conventions (``torch.nn.RNN``, ``LSTM``, ``GRU``; σ the logistic
    sigmoid, ⊙ the elementwise product, a_t the pre-activations, W the recurrent weights
    W_hh, U the input weights W_ih, gate blocks in PyTorch's order)::

        rnn:   h_t = φ(U x_t + W h_{t-1} + b)
        lstm:  i, f, g, o = σ(a_i), σ(a_f), tanh(a_g), σ(a_o),  a = U x_t + W h_{t-1} + b
               c_t = f ⊙ c_{t-1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
        gru:   r = σ(U_r x_t + W_r h_{t-1} + b_r),  z = σ(U_z x_t + W_z h_{t-1} + b_z)
               n = tanh(U_n x_t + b_in + r ⊙ (W_n h_{t-1} + b_hn)),  h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

    Parameters: ``cell`` (``"rnn"``, ``"lstm"``, ``"gru"``); ``activation`` φ of the vanilla
    cell (gated cells use tanh); ``hidden`` = n; ``steps`` = T; ``init``: the rule of W,
    applied to each n × n gate block (fan_in = fan_out = n), e.g. ``"orthogonal"`` or
    ``{"scheme": "orthogonal", "gain": "9/10"}`` for W = 0.9·(Haar orthogonal);
    ``input_size`` = m (0: no input), ``input_init`` the rule of U (fan_in = m, fan_out = n),
    ``input_q``: inputs x_t are i.i.d. N(0, input_q) entries, fresh at every step;
    ``sigma_b2``: variance of each pre-activation's total bias (b_ih + b_hh, each drawn with
    half of it); ``forget_bias``: constant added to the LSTM forget-gate bias (1 is the usual
    choice: Gers, Schmidhuber & Cummins 2000; Jozefowicz, Zaremba & Sutskever 2015);
    ``h0_q``: the initial state is h_0 = √h0_q · (1, …, 1) (0: PyTorch's zero state; the
    LSTM cell starts at c_0 = 0); ``jacobian``: how ‖∂h_T/∂h_t‖ is measured —
    ``"spectral"`` (exact operator 2-norm of the full n × n Jacobian), ``"vector"`` (its
    action ‖J_{T,t}ᵀ u‖ on one random unit vector u, a lower bound) or ``"auto"`` (spectral
    for n ≤ 128).

    PyTorch's own default (``nn.RNN``/``nn.LSTM``/``nn.GRU``) draws *every* weight and bias
    from U(−1/√n, 1/√n), n = hidden, and starts from h₀ = 0 (and c₀ = 0). All of it, not only
    W_hh: ``init={"scheme": "custom", "sigma_w2": "1/3", "distribution": "uniform"}``
    (Var = 1/(3n) per gate block), ``input_init={"scheme": "custom", "sigma_w2": m/(3n),
    "distribution": "uniform"}`` (Var = 1/(3n) although fan_in = m), ``sigma_b2 = 2/(3n)``
    (b_ih + b_hh; vgmath draws it Gaussian with that variance) and ``h0_q=0``. Leaving the
    inputs, biases and zero state out changes the gradients through time: for an LSTM with
    n = 64, m = 32 and T = 30, E ln‖∂E/∂h₀‖² is −27.9 with W_hh alone and −29.0 with the
    whole recipe (``vg.simulate``, 200 networks, standard errors 0.08).
    ``torch.nn.init.orthogonal_``/``xavier_normal_`` applied to the stacked G n × n
    ``weight_hh_l0`` use fan_out = G n, not a gate block's n: each block then has
    Var = gain²/(G n) and is not orthogonal. :func:`vgmath.torch.describe` reads all of this
    from a model's own weights.

    >>> import vgmath as vg
    >>> rnn = vg.Recurrent("rnn", activation="tanh", hidden=64, steps=50, init="orthogonal")
    >>> rnn.depth, rnn.gates
    (50, 1)
    """

    cell: str = "rnn"
    activation: Any = "tanh"
    hidden: int = 32
    steps: int = 20
    init: Any = "xavier"
    input_size: int = 0
    input_init: Any = "xavier"
    sigma_b2: Any = 0
    forget_bias: Any = 0
    h0_q: Any = 1
    input_q: Any = 1
    jacobian: str = "auto"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.cell not in CELLS:
            raise InvalidArgumentError("cell", self.cell, f"expected one of {', '.join(CELLS)}")
        act = as_activation(self.activation)
        if self.cell != "rnn" and act.label != "tanh":
            raise InvalidArgumentError(
                "activation", self.activation, f"the {self.cell} cell uses tanh (and sigmoid gates)"
            )
        set_(self, "activation", act)
        set_(self, "init", as_init(self.init))
        set_(self, "input_init", as_init(self.input_init, "input_init"))
        _positive_int("hidden", self.hidden, minimum=1)
        _positive_int("steps", self.steps, minimum=1)
        _positive_int("input_size", self.input_size, minimum=0)
        for name in ("sigma_b2", "h0_q", "input_q"):
            value = to_sympy_number(name, getattr(self, name))
            if value.is_negative:
                raise InvalidArgumentError(name, getattr(self, name), "must be >= 0")
            set_(self, name, value)
        if self.input_size and not (self.input_q).is_positive:
            raise InvalidArgumentError("input_q", self.input_q, "inputs need input_q > 0")
        fb = to_sympy_number("forget_bias", self.forget_bias)
        if fb != 0 and self.cell != "lstm":
            raise InvalidArgumentError("forget_bias", self.forget_bias, "only LSTM cells have it")
        set_(self, "forget_bias", fb)
        if self.jacobian not in _JACOBIAN_MODES:
            raise InvalidArgumentError(
                "jacobian", self.jacobian, f"expected one of {', '.join(_JACOBIAN_MODES)}"
            )

    # ---- views shared with Chain (act, rule: _TypedViews), so Simulation can report either

    @property
    def input_rule(self) -> Init:
        return self.input_init  # type: ignore[no-any-return]

    @property
    def depth(self) -> int:
        """The number of steps T (the "layers" of the depth profiles are t = 0..T)."""
        return self.steps

    @property
    def widths(self) -> tuple[int, ...]:
        return (self.hidden,) * (self.steps + 1)

    @property
    def gates(self) -> int:
        """Gate blocks of the pre-activation: 1 (rnn), 4 (lstm: i, f, g, o), 3 (gru: r, z, n)."""
        return _GATES[self.cell]

    @property
    def weight_variance(self) -> sp.Expr:
        """Var(W_ij) of the recurrent weights (each n × n gate block)."""
        return self.rule.variance(self.hidden, self.hidden)

    @property
    def input_variance(self) -> sp.Expr:
        """Var(U_ij) of the input weights (0 without inputs)."""
        if not self.input_size:
            return sp.Integer(0)
        return self.input_rule.variance(self.input_size, self.hidden)

    @property
    def spectral(self) -> bool:
        """Whether ‖∂h_T/∂h_t‖ is the exact spectral norm (else a random-vector action)."""
        if self.jacobian == "auto":
            return self.hidden <= SPECTRAL_MAX_HIDDEN
        return self.jacobian == "spectral"

    def mean_field_chain(self) -> Chain:
        """The plain :class:`Chain` whose mean-field theory a vanilla RNN follows.

        With tied weights the mean-field recursions are those of a chain of depth T and width
        n with the same φ and weight rule (Chen, Pennington & Schoenholz 2018,
        arXiv:1806.05394): the fresh input U x_t acts as a bias of variance
        σ_u²·input_q (σ_u² = m·Var(U)), so the chain's σ_b² is sigma_b2 + σ_u²·input_q, and its
        input is h_0 (input_q = h0_q). Finite-width corrections differ from a chain's
        (W is reused) and grow with the number of steps; vgmath has no finite-width
        prediction for them. Measured (tanh, no input, h0_q = 1, 1000 networks; simulated /
        this limit for E[(g_0)²]): Xavier, width 64: 1.32 ± 0.06 after 15 steps, 6 ± 2 after
        30 (heavy-tailed); width 256: 1.02 ± 0.02 and 1.28 ± 0.04; orthogonal W, width 64:
        1.02 ± 0.01 after 30 steps. Compare at large n.
        """
        if self.cell != "rnn":
            raise InvalidArgumentError(
                "cell", self.cell, "only a vanilla RNN has a plain-chain mean-field limit"
            )
        if not (self.h0_q).is_positive:
            raise InvalidArgumentError(
                "h0_q", self.h0_q, "the mean-field chain needs a nonzero initial state"
            )
        extra = self.input_size * self.input_variance * self.input_q if self.input_size else 0
        return Chain(
            activation=self.act,
            init=self.rule,
            depth=self.steps,
            width=self.hidden,
            sigma_b2=sp.nsimplify(self.sigma_b2 + extra),
            input_q=self.h0_q,
        )

    def replace(self, **changes: Any) -> Recurrent:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data description (JSON-ready)."""

        def rule(r: Init) -> dict[str, Any]:
            return {"name": r.name, "scale": str(r.scale), "mode": r.mode,
                    "distribution": r.distribution}

        return {
            "kind": "recurrent",
            "cell": self.cell,
            "activation": self.act.label if not self.act.source else self.act.source,
            "hidden": self.hidden,
            "steps": self.steps,
            "init": rule(self.rule),
            "input_size": self.input_size,
            "input_init": rule(self.input_rule) if self.input_size else None,
            "sigma_b2": str(self.sigma_b2),
            "forget_bias": str(self.forget_bias),
            "h0_q": str(self.h0_q),
            "input_q": str(self.input_q) if self.input_size else None,
            "jacobian": "spectral" if self.spectral else "vector",
        }

    def __str__(self) -> str:
        kind = f"rnn-{self.act.label}" if self.cell == "rnn" else self.cell
        extra = f", inputs={self.input_size}" if self.input_size else ""
        if self.cell == "lstm" and self.forget_bias != 0:
            extra += f", forget_bias={self.forget_bias}"
        return f"Recurrent({kind}, {self.rule}, hidden={self.hidden}, steps={self.steps}{extra})"
