"""Forward/backward kernels for ensembles of independent random networks (Monte Carlo engine).

A *kernel* pushes the fixed input through a **block** of ``size`` independent networks, each
with freshly drawn weights and biases, backpropagates an output gradient g^L with i.i.d.
N(0, 1) entries, and returns per-network, per-layer statistics as natural logarithms
(arrays of shape ``(size, L + 1)``; ``-inf`` is an exact zero, NaN a layer that has no such
quantity):

==========  ==========================================================================
key          per network, layer l
==========  ==========================================================================
``q``        ln(‖h^l‖²/n_l) (l ≥ 1), ln input_q at l = 0
``act``      ln(‖x^l‖²/n_l)
``grad``     ln(‖g^l‖²/n_l)
``preact``   ln(‖δ^l‖²/n_l) (l ≥ 1)
``weight``   ln(‖δ^l‖² ‖x^{l-1}‖²/(n_l n_{l-1})), the mean square of ∂E/∂W^l_ij (l ≥ 1)
==========  ==========================================================================

With ``chain.readout == "linear"`` the output layer has no φ (x^L = h^L and δ^L = g^L, the
neural-tangents/PyTorch read-out); both samplers below implement it, so a simulation and
``vg.predict`` of the same chain always use the same convention.

The driver in :mod:`vgmath.montecarlo.simulation` owns seeds, blocks, processes and statistics; a
kernel
owns only one architecture's forward and backward pass. Residual, batch-normalised and
recurrent networks are further :class:`Kernel` subclasses returning the same keys.

Two exact samplers for a plain chain
------------------------------------
``"dense"``
    materialises every W^l (shape ``(n_l, n_{l-1})``) with the chain's initialisation rule —
    any distribution: Gaussian, uniform, truncated normal, orthogonal — and runs ordinary
    backpropagation, g^{l-1} = (W^l)ᵀ δ^l. Cost O(n_l n_{l-1}) draws per layer and network.
    Gaussian and uniform weights of a block are filled from :data:`FILL_SEGMENTS` child
    streams of the block's stream, in parallel threads when there are spare cores (the
    values never depend on the number of threads).

``"conditioned"`` (i.i.d. Gaussian or Haar-orthogonal weights)
    draws only what the forward and backward passes see, O(n_l + n_{l-1}) per layer.
    Write x = x^{l-1}, u = W x (the pre-activation without bias), P = x xᵀ/‖x‖² and
    P⊥ = I − P. Then W = W P + W P⊥ = u xᵀ/‖x‖² + W P⊥, so

    .. math::  W^\\top \\delta = \\frac{x\\,(u^\\top\\delta)}{\\lVert x\\rVert^2}
               + P_\\perp W^\\top \\delta .

    *Why this is exact.* Condition on x (it depends only on W^1..W^{l-1} and the biases,
    which are independent of W^l). The rows of W are i.i.d. N(0, v I), and the projections
    of an isotropic Gaussian vector onto the orthogonal subspaces span(x) and x^⊥ are
    independent; hence W P⊥ is independent of u = W x. Everything downstream of layer l
    (h^l = u + b^l, the later layers, g^L, and so δ^l) depends on W^l only through u. So
    W P⊥ is independent of (u, δ, all other weights) and may be replaced by W̃ P⊥ with W̃
    an independent copy; given δ, W̃ᵀ δ ~ N(0, v ‖δ‖² I). Therefore

    .. math::  u = \\sqrt{v}\\,\\lVert x\\rVert\\,z,\\qquad
               g^{l-1} = y + x\\,\\frac{u^\\top\\delta - x^\\top y}{\\lVert x\\rVert^2},
               \\qquad y = \\sqrt{v}\\,\\lVert\\delta\\rVert\\,\\zeta,

    with z ~ N(0, I_{n_l}) and ζ ~ N(0, I_{n_{l-1}}) independent, has *exactly* the joint law
    of the forward and backward passes of the dense network (not a mean-field
    approximation: the x(uᵀδ) term is the correlation between the forward and the backward
    use of the same W that the "gradient independence assumption" drops). If x = 0 then
    u = 0 and P⊥ = I. For n_{l-1} = 1 (a scalar chain) P⊥ = 0 and g^{l-1} = (u/x) δ = W δ.

    Per network: Σ_l n_l forward normals (z), Σ_l n_{l-1} backward normals (ζ), n_L for g^L
    (and Σ_l n_l for biases): the ~2·n·L draws no exact sampler can avoid.

    *How far it extends.* Several inputs per network (X of shape n_{l-1} × B): condition on
    W X; then Wᵀ Δ = X (XᵀX)⁻¹ (W X)ᵀ Δ + P⊥ W̃ᵀ Δ with P⊥ the projector off span(X), at
    O(n B²) per layer instead of O(n²). Weights shared across time (recurrent networks):
    condition sequentially on W x_1, W x_2, … (Gram–Schmidt on the inputs seen so far) —
    the Gaussian conditioning technique of Bolthausen (2014, Commun. Math. Phys.
    325:333–366) and Bayati & Montanari (2011, IEEE Trans. Inf. Theory 57:764–785), used
    for tensor programs by Yang (2019, arXiv:1902.04760). It does not apply to non-Gaussian
    entries (the projections are then not independent): those use ``"dense"`` — except
    Haar-orthogonal weights, below.

Haar-orthogonal weights, conditioned
------------------------------------
An orthogonal rule draws W = c Q (c = √(v N), N = max(n_{l-1}, n_l)) with Q the
n_l × n_{l-1} block of a Haar matrix P ∈ O(N): Q = P_{:n_l, :n_{l-1}}, i.e. orthonormal
columns when n_l ≥ n_{l-1}, orthonormal rows otherwise (exactly what ``Init.sample`` draws by
QR). Write E_in = [I; 0] (N × n_{l-1}) and E_out = [I 0] (n_l × N), so Q = E_out P E_in.

*Forward.* x' = E_in x has norm ‖x‖, and P x' is uniform on the sphere of radius ‖x‖ in R^N
(left invariance of Haar measure). Its first n_l coordinates are therefore

.. math::  u = W x = c\\,\\lVert x\\rVert\\,\\frac{z}{\\rho},\\qquad
           \\rho^2 = \\lVert z\\rVert^2 + \\chi^2_{N - n_l},

with z ~ N(0, I_{n_l}) and an independent χ² variable with N − n_l degrees of freedom (the
squared norm of the N − n_l coordinates that are never used; ρ = ‖z‖ when n_l ≥ n_{l-1}).

*Backward.* Let e = x/‖x‖ and w = P x'/‖x‖ (a unit vector whose first n_l coordinates are
u/(c‖x‖)). The conditional law of P given P e' = w (e' = E_in e) is that of R_w diag(1, V) R_eᵀ
with fixed rotations R_e e_1 = e', R_w e_1 = w and V Haar on O(N − 1): P maps e'^⊥ onto w^⊥
by a Haar-random isometry. As for Gaussian weights, everything downstream of layer l —
including δ = δ^l — depends on W only through u, and the unused coordinates of w are
independent of everything downstream given u; so conditioning on (u, δ, the other layers)
leaves P with exactly this law. Then, with δ' = E_outᵀ δ,

.. math::  Q^\\top\\delta = E_{in}^\\top P^\\top\\delta'
           = e\\,t + E_{in}^\\top\\,(\\text{uniform on the sphere of radius }
             \\sqrt{\\lVert\\delta\\rVert^2 - t^2}\\text{ in } e'^{\\perp}),\\qquad
           t = w\\cdot\\delta' = \\frac{u\\cdot\\delta}{c\\,\\lVert x\\rVert},

because P^T δ' = e' (w·δ') + P^T(the part of δ' in w^⊥) and P^T maps w^⊥ to e'^⊥ Haar-
uniformly. A uniform vector on that sphere is r (ζ_⊥, η)/√(‖ζ_⊥‖² + ‖η‖²) with ζ_⊥ the
projection of ζ ~ N(0, I_{n_{l-1}}) off x and η ~ N(0, I_{N − n_{l-1}}); E_in^T keeps ζ_⊥.
Hence, per network and layer,

.. math::  g^{l-1} = W^\\top\\delta = c\\Big[\\,e\\,t + \\sqrt{\\lVert\\delta\\rVert^2 - t^2}\\;
           \\frac{\\zeta_\\perp}{\\rho_b}\\Big],\\qquad
           \\rho_b^2 = \\lVert\\zeta_\\perp\\rVert^2 + \\chi^2_{N - n_{l-1}},

jointly with u above, is exactly the law of the dense network's forward and backward use of
W^l (the e t term is the forward/backward correlation; ‖g^{l-1}‖ = c‖δ‖ exactly when
n_{l-1} ≥ n_l, ‖u‖ = c‖x‖ exactly when n_l ≥ n_{l-1}, as for the matrices themselves). If
x = 0 then u = 0, t = 0 and ζ is not projected; for n_{l-1} = 1, ζ_⊥ = 0 and g = c e t.
Same draws as the Gaussian case (n_l + n_{l-1} normals per layer) plus one χ² per
direction for a non-square layer; the cost is O(n_l + n_{l-1}) per layer instead of the
O(N³) of a QR factorisation. Plain chains only: the residual and batch-normalised kernels
condition on several vectors at once and use ``"dense"`` for orthogonal weights, and so do
recurrent networks — W is shared over the steps, so its law given W h_0, …, W h_{t-1} (a
Haar isometry on the complement of a t-dimensional subspace) would have to be carried
through the steps, and the Jacobian norms they record need the whole matrix anyway.

Scaling (deep chains without underflow)
---------------------------------------
Backward vectors are carried as ĝ with a per-network log scale γ (g = e^γ ĝ) accumulated in
float64, and renormalised every layer, so 10,000 sigmoid layers give finite ln ‖g^l‖² in
float32 and float64. The forward pass is rescaled the same way when φ is positively
homogeneous (φ(c t) = c φ(t) for c > 0: identity, ReLU, leaky ReLU, |t|) and there is no
bias — then φ′ is scale-free and the rescaling is exact. Otherwise the forward pass runs at
its true scale, as the network would; a non-finite forward signal raises
:class:`vgmath.NumericalError`.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import sympy as sp

from ..core.errors import InvalidArgumentError, NumericalError
from ..network.description import Chain
from ..symbolic.catalog import Activation
from ..symbolic.piecewise import pieces
from ..symbolic.symbols import x as X_SYMBOL
from .kernel import LOG_KEYS, Kernel

__all__ = [
    "FILL_SEGMENTS",
    "ChainKernel",
    "dense_pass",
    "fill_parallel",
    "positively_homogeneous",
    "release_buffers",
]


FloatArray = np.ndarray


def positively_homogeneous(act: Activation) -> bool:
    """True when φ(c t) = c φ(t) for every c > 0, decided symbolically piece by piece.

    Every finite breakpoint must be 0 and every smooth piece e(x) must satisfy
    e(c x) − c e(x) ≡ 0 (SymPy ``simplify``) for a positive symbol c.
    """
    key = sp.srepr(act.expr)
    if key not in _HOMOGENEOUS:
        c = sp.Symbol("c", positive=True)
        ok = True
        try:
            parts = pieces(act.expr)
        except TypeError:
            parts = []
            ok = False
        for iv, e in parts:
            for end in (iv.start, iv.end):
                if end.is_finite and end != 0:
                    ok = False
            if ok and sp.simplify(e.subs(X_SYMBOL, c * X_SYMBOL) - c * e) != 0:
                ok = False
            if not ok:
                break
        _HOMOGENEOUS[key] = ok
    return _HOMOGENEOUS[key]


_HOMOGENEOUS: dict[str, bool] = {}  # srepr(φ) -> positively homogeneous?


def _rowdot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Row-wise dot products Σ_j a_ij b_ij, accumulated in the arrays' dtype (as the network
    itself would), returned as float64."""
    if _vecdot is not None:
        return np.asarray(_vecdot(a, b), dtype=np.float64)
    return np.asarray(np.einsum("ij,ij->i", a, b), dtype=np.float64)


_vecdot = getattr(np, "vecdot", None)  # NumPy >= 2.0: the fastest row-wise dot


def _log(values: FloatArray) -> FloatArray:
    """ln of non-negative values (0 → -inf; callers run under ``np.errstate``)."""
    return np.log(values)






class ChainKernel(Kernel):
    """A plain fully connected chain (:class:`vgmath.Chain` without residual connections)."""

    def __init__(self, chain: Chain, *, method: str, dtype: Any, threads: int = 1) -> None:
        if chain.residual is not None:
            raise InvalidArgumentError(
                "chain", str(chain), "residual chains need a residual kernel, not a plain one"
            )
        if getattr(chain, "norm", None) is not None:
            raise InvalidArgumentError(
                "chain", str(chain),
                f"norm={chain.norm!r} chains need a normalisation kernel, not a plain one",
            )
        self._bind_chain(chain, method, dtype, orthogonal=True)
        self.variances = _layer_variances(chain)
        #: Haar-orthogonal weights (the conditioned sampler's second law, see the docstring)
        self.orthogonal = chain.rule.distribution == "orthogonal"
        self.threads = max(1, int(threads))  # dense weight draws; results do not depend on it
        #: a linear read-out: the output layer has no φ (x^L = h^L, δ^L = g^L)
        self.linear_out = chain.readout == "linear"
        # exact rescaling of the forward pass (see the module docstring)
        self.rescale_forward = self.sigma_b == 0.0 and positively_homogeneous(chain.act)

    # ------------------------------------------------------------------ sizes
    def bytes_per_network(self) -> int:
        ns = self.widths
        vec = sum(ns[1:])  # one vector of every hidden/output layer
        stats = 8 * len(LOG_KEYS) * (self.depth + 1)
        if self.method == "conditioned":
            # Z (forward normals), X, D, bias
            k = 4 if self.sigma_b else 3
            return 8 * k * vec + stats
        mats = sum(ns[i] * ns[i + 1] for i in range(self.depth))
        k = 3 if self.sigma_b else 2
        return 8 * (mats + k * vec) + stats

    def draws_per_network(self) -> int:
        ns = self.widths
        bias = sum(ns[1:]) if self.sigma_b else 0
        if self.method == "conditioned":
            chi2 = 0
            if self.orthogonal:  # one χ² per layer and direction where N_l exceeds the width
                chi2 = sum((ns[i] != ns[i + 1]) for i in range(self.depth))
            return sum(ns[1:]) + sum(ns[:-1]) + ns[-1] + bias + chi2
        return sum(ns[i] * ns[i + 1] for i in range(self.depth)) + ns[-1] + bias

    # ------------------------------------------------------------------ helpers
    def _input(self) -> FloatArray:
        """x^0 = √input_q · (1, …, 1): ‖x^0‖²/n_0 = input_q, every unit equally loaded."""
        return np.full(self.widths[0], math.sqrt(self.input_q), dtype=self.dtype)

    def _new_logs(self, size: int) -> dict[str, FloatArray]:
        logs = {k: np.full((size, self.depth + 1), np.nan) for k in LOG_KEYS}
        logs["q"][:, 0] = math.log(self.input_q)
        logs["act"][:, 0] = math.log(self.input_q)
        return logs

    def _check(self, logs: dict[str, FloatArray]) -> None:
        """Raise :class:`NumericalError` at the first layer with a NaN or +inf statistic."""

        def first_bad(*keys: str) -> int | None:
            bad = np.zeros(self.depth + 1, dtype=bool)
            for key in keys:
                arr = logs[key].copy()
                if key in ("preact", "weight"):
                    arr[:, 0] = 0.0  # no such quantity at layer 0
                bad |= (np.isnan(arr) | (arr == np.inf)).any(axis=0)
            return int(np.argmax(bad)) if bad.any() else None

        layer = first_bad("q", "act")
        if layer is not None:
            q_ok = first_bad("q") != layer
            if q_ok:
                why = "φ returned NaN or inf on finite inputs (outside its domain?)"
            elif self.rescale_forward:
                why = "the signal is not finite"
            else:
                why = (f"the signal overflowed; {self.act.label} with σ_b² = "
                       f"{self.chain.sigma_b2} cannot be rescaled exactly (that needs a "
                       "positively homogeneous φ and no bias)")
            raise NumericalError(
                f"the forward pass of {self.chain} is not finite at layer {layer} in "
                f"{self.dtype.name}: {why}"
            )
        layer = first_bad("grad", "preact")
        if layer is not None:
            raise NumericalError(
                f"the backward pass of {self.chain} is not finite at layer {layer} in "
                f"{self.dtype.name}: φ′ returned NaN or inf"
            )

    # ------------------------------------------------------------------ run
    def run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        with np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore"):
            if self.method == "conditioned":
                return self._run_conditioned(rng, size)
            return self._run_dense(rng, size)

    def _chi2(self, rng: np.random.Generator, size: int, dof: int) -> FloatArray | None:
        """``size`` χ² draws with ``dof`` degrees of freedom (None, and no draw, if dof = 0)."""
        if dof <= 0:
            return None
        return 2.0 * rng.standard_gamma(0.5 * dof, size=size)

    def _workspace(self, B: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Buffers for a block of B networks: Z (forward normals, then u), X (x^l), D
        (φ′(h^l)) and the biases for every layer (offsets ``off``), and per-layer scratch of
        the widest layer. Taken from :data:`_WORKSPACE` when one of this shape is there
        (and handed back after the block, :func:`_return_workspace`): fresh block-sized
        arrays cost more in first-touch page faults than the work done in them."""
        ns, dt = self.widths, self.dtype
        key = (B, ns, dt.str, bool(self.sigma_b))
        with _WORKSPACE_LOCK:
            ws = _WORKSPACE.pop(key, None)
        if ws is None:
            off = [0]
            for n in ns[1:]:
                off.append(off[-1] + B * n)
            total, wide = off[-1], B * max(ns)
            ws = {"off": off, "Z": np.empty(total, dt), "X": np.empty(total, dt),
                  "D": np.empty(total, dt),
                  "bias": np.empty(total, dt) if self.sigma_b else None}
            for name in ("h", "t1", "t2", "d", "g0", "g1"):
                ws[name] = np.empty(wide, dt)
        return key, ws

    def _run_conditioned(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        key, ws = self._workspace(size)
        try:
            return self._conditioned_pass(rng, size, ws)
        finally:
            _return_workspace(key, ws)

    def _conditioned_pass(self, rng: np.random.Generator, B: int,
                          ws: dict[str, Any]) -> dict[str, FloatArray]:
        L, ns, dt, act = self.depth, self.widths, self.dtype, self.act
        ortho = self.orthogonal
        off = ws["off"]

        def view(name: str, l: int) -> FloatArray:
            """Layer l's (1..L) slice of a per-layer buffer, shape (B, n_l)."""
            return ws[name][off[l - 1] : off[l]].reshape(B, ns[l])

        def scratch(name: str, n: int) -> FloatArray:
            return ws[name][: B * n].reshape(B, n)

        # per layer: the scale c_l of W^l = c_l·(Gaussian or Haar part); for Haar weights the
        # embedding dimension N_l = max(n_{l-1}, n_l)
        scales = [math.sqrt(v * (max(ns[l - 1], ns[l]) if ortho else 1.0))
                  for l, v in zip(range(1, L + 1), self.variances, strict=True)]
        # draw order (fixed): forward normals (all layers), [Haar: the forward χ² of every
        # layer], biases, g^L, then the backward normals [Haar: and χ²] from layer L down to 1
        rng.standard_normal(out=ws["Z"], dtype=dt)
        chi_f = ([self._chi2(rng, B, max(ns[l - 1], ns[l]) - ns[l]) for l in range(1, L + 1)]
                 if ortho else [])
        if self.sigma_b:
            rng.standard_normal(out=ws["bias"], dtype=dt)
            ws["bias"] *= dt.type(self.sigma_b)
        gbufs = ("g0", "g1")
        g = scratch(gbufs[L % 2], ns[L])
        rng.standard_normal(out=g, dtype=dt)

        logs = self._new_logs(B)
        lq, lx = logs["q"], logs["act"]
        xs: list[FloatArray] = [np.broadcast_to(self._input(), (B, ns[0]))]
        sx = np.empty((B, L))  # ‖x̂^{l-1}‖² as used at layer l (scaled in the rescaled regime)
        # Z holds u^l/k_l: z itself (k = 1) when rescaling, else u = k z in place; with
        # ρ_l = 1 (Gaussian) or the Haar normaliser, k_inv_x = 1/(k_l ρ_l ‖x̂^{l-1}‖) turns
        # (stored u)·δ into (z·δ)/(ρ ‖x̂‖)
        k_inv_x = np.empty((B, L))
        sx_prev = np.full(B, ns[0] * self.input_q)
        for l in range(1, L + 1):
            n, v, c = ns[l], self.variances[l - 1], scales[l - 1]
            z = view("Z", l)
            sx[:, l - 1] = sx_prev
            rho = None
            if ortho:
                # u = W x = c ‖x‖ z/ρ, ρ² = ‖z‖² + χ²_{N−n}: uniform on a sphere (see above)
                zz = _rowdot(z, z)
                chi = chi_f[l - 1]
                rho = np.sqrt(zz if chi is None else zz + chi)
            if self.rescale_forward:
                # true h^l = e^β z with e^{2β} = c² ‖x^{l-1}‖²/ρ² (x^{l-1} true); x̂^l = φ(z)
                log_s2 = 2.0 * math.log(c) + lx[:, l - 1] + math.log(ns[l - 1])
                h = z
                if not (sx_prev > 0).all():  # x = 0: h = 0
                    h = scratch("h", n)
                    np.multiply(z, (sx_prev > 0)[:, None], out=h)
                if rho is None:
                    k_inv_x[:, l - 1] = 1.0 / np.sqrt(sx_prev)
                    lq[:, l] = log_s2 + _log(_rowdot(h, h) / n)
                else:
                    log_s2 = log_s2 - 2.0 * _log(rho)
                    k_inv_x[:, l - 1] = 1.0 / (rho * np.sqrt(sx_prev))
                    lq[:, l] = log_s2 + _log(zz / n)
            else:
                s = np.sqrt(v * sx_prev) if rho is None else c * np.sqrt(sx_prev) / rho
                z *= s.astype(dt)[:, None]  # u^l = W^l x^{l-1}, stored in place of z
                k_inv_x[:, l - 1] = 1.0 / (c * sx_prev)  # k ρ ‖x‖ = c ‖x‖²
                h = z
                if ws["bias"] is not None:
                    h = scratch("h", n)
                    np.add(z, view("bias", l), out=h)
                lq[:, l] = _log(_rowdot(h, h) / n)
                log_s2 = 0.0
            x = view("X", l)
            if self.linear_out and l == L:  # linear read-out: x^L = h^L, φ′ ≡ 1
                np.copyto(x, h)
                view("D", l).fill(1)
            else:
                act.value_and_grad(h, x, view("D", l), (scratch("t1", n), scratch("t2", n)))
            xx = _rowdot(x, x)
            lx[:, l] = log_s2 + _log(xx / n)
            if l < L:
                xs.append(x)
            sx_prev = xx

        lg, ld, lw = logs["grad"], logs["preact"], logs["weight"]
        gamma = np.zeros(B)  # g^l = e^γ ĝ^l
        lg[:, L] = _log(_rowdot(g, g) / ns[L])
        for l in range(L, 0, -1):
            n, m, c = ns[l], ns[l - 1], scales[l - 1]
            d = scratch("d", n)
            np.multiply(view("D", l), g, out=d)  # δ̂^l
            dd = _rowdot(d, d)
            ld[:, l] = 2.0 * gamma + _log(dd / n)
            lw[:, l] = ld[:, l] + lx[:, l - 1]
            u = view("Z", l)
            zeta = scratch(gbufs[(l - 1) % 2], m)  # not g's buffer: that is layer l's
            rng.standard_normal(out=zeta, dtype=dt)
            chi_b = self._chi2(rng, B, max(m, n) - m) if ortho else None
            xp = xs[l - 1]
            sxp = sx[:, l - 1]
            zd_nx = _rowdot(u, d) * k_inv_x[:, l - 1]  # (z·δ̂)/(ρ ‖x̂‖)
            xz = _rowdot(xp, zeta)
            nd = np.sqrt(dd)
            ok = (nd > 0) & (sxp > 0)  # x = 0: u = 0 and P⊥ = I; δ = 0: g = 0 below
            along = np.divide(zd_nx, nd, out=np.zeros(B), where=ok)
            proj = np.divide(xz, sxp, out=np.zeros(B), where=sxp > 0)
            if not ortho:
                # ĝ^{l-1} = ζ + x̂ [ (z·δ̂)/(‖δ̂‖‖x̂‖) − (x̂·ζ)/‖x̂‖² ],  γ += ln(c ‖δ̂‖)
                coef = along - proj
                step = nd
            else:
                # ĝ^{l-1} = ω ζ + x̂ [ t/‖x̂‖ − ω (x̂·ζ)/‖x̂‖² ] with t = (z·δ̂)/(ρ ‖δ̂‖) and
                # ω = √(1 − t²)/ρ_b, ρ_b² = ‖P⊥ζ‖² + χ²_{N−m}; carried as ĝ/ω, γ += ln(c‖δ̂‖ω)
                t2 = along * along * sxp
                rho_b2 = _rowdot(zeta, zeta) - xz * proj
                if chi_b is not None:
                    rho_b2 += chi_b
                omega = np.sqrt(np.maximum(1.0 - t2, 0.0) / rho_b2)
                live = omega > 0
                coef = np.divide(along, omega, out=np.zeros(B), where=live) - proj
                step = nd * np.where(live, omega, 1.0)
                if not live.all():  # W^T δ ∥ x: n_{l-1} = 1 or an exactly aligned δ
                    zeta[~live] = 0.0
                    coef[~live] = along[~live]
            tmp = scratch("t1", m)
            np.multiply(xp, coef.astype(dt)[:, None], out=tmp)
            zeta += tmp
            g = zeta
            if not (dd > 0).all():
                g[dd <= 0] = 0.0
            gamma = gamma + math.log(c) + _log(step)
            lg[:, l - 1] = 2.0 * gamma + _log(_rowdot(g, g) / m)
        self._check(logs)
        return logs

    # ------------------------------------------------------------------ dense
    def _draw_weights(self, rng: np.random.Generator, B: int) -> list[FloatArray]:
        ns, dt, rule = self.widths, self.dtype, self.chain.rule
        shapes = [(B, ns[l], ns[l - 1]) for l in range(1, self.depth + 1)]
        sizes = [int(np.prod(s)) for s in shapes]
        if rule.distribution in ("normal", "uniform"):
            flat = np.empty(sum(sizes), dtype=dt)
            fill_parallel(rng, flat, rule.distribution, threads=self.threads)
            out, start = [], 0
            for shape, size, v in zip(shapes, sizes, self.variances, strict=True):
                w = flat[start : start + size].reshape(shape)
                start += size
                if rule.distribution == "normal":
                    w *= dt.type(math.sqrt(v))
                else:  # U(−a, a) with a = √(3v): variance v
                    a = math.sqrt(3.0 * v)
                    w *= dt.type(2.0 * a)
                    w -= dt.type(a)
                out.append(w)
            return out
        return [
            np.ascontiguousarray(rule.sample(rng, ns[l - 1], ns[l], batch=(B,), dtype=dt))
            for l in range(1, self.depth + 1)
        ]

    def _run_dense(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        B, ns, dt = size, self.widths, self.dtype
        weights = self._draw_weights(rng, B)
        biases = None
        if self.sigma_b:
            biases = [rng.standard_normal((B, n), dtype=dt) * dt.type(self.sigma_b) for n in ns[1:]]
        g_out = rng.standard_normal((B, ns[-1]), dtype=dt)
        x0 = np.broadcast_to(self._input(), (B, ns[0]))
        logs = self._new_logs(B)
        dense_pass(weights, biases, x0, g_out, self.act, logs,
                   rescale_forward=self.rescale_forward, linear_out=self.linear_out)
        self._check(logs)
        return logs


@np.errstate(divide="ignore", over="ignore", under="ignore", invalid="ignore")
def dense_pass(
    weights: list[FloatArray],
    biases: list[FloatArray] | None,
    x0: FloatArray,
    g_out: FloatArray,
    act: Activation,
    logs: dict[str, FloatArray],
    *,
    rescale_forward: bool,
    linear_out: bool = False,
) -> None:
    """Ordinary backpropagation through explicit weights, filling ``logs`` in place.

    ``weights[l-1]`` has shape (B, n_l, n_{l-1}), ``biases[l-1]`` (B, n_l), ``x0`` (B, n_0),
    ``g_out`` = g^L (B, n_L). Vectors are renormalised every layer with their log scale kept
    in float64 (the forward ones only when ``rescale_forward``, which requires a positively
    homogeneous φ and no biases). ``logs`` needs the :data:`LOG_KEYS` arrays with column 0 of
    ``q`` and ``act`` already set. ``linear_out``: the last layer is a linear read-out (no φ:
    x^L = h^L, δ^L = g^L).
    """
    L = len(weights)
    B = x0.shape[0]
    lq, lx, lg, ld, lw = (logs[k] for k in LOG_KEYS)
    alpha = np.zeros(B)  # x^{l} = e^α x̂^l
    x = x0
    ds: list[FloatArray] = []
    for l in range(1, L + 1):
        w = weights[l - 1]
        n = w.shape[1]
        h = np.matmul(w, x[:, :, None])[:, :, 0]
        if biases is not None:
            h += biases[l - 1]
        lq[:, l] = 2.0 * alpha + _log(_rowdot(h, h) / n)
        no_phi = linear_out and l == L
        xr = h if no_phi else np.asarray(act(h), dtype=h.dtype)
        xx = _rowdot(xr, xr)
        lx[:, l] = 2.0 * alpha + _log(xx / n)
        if rescale_forward:
            r = np.sqrt(xx / n)
            x = xr / np.where(r > 0, r, 1.0).astype(h.dtype)[:, None]
            alpha = alpha + _log(r)
        else:
            x = xr
        ds.append(np.ones_like(h) if no_phi else np.asarray(act.grad(h), dtype=h.dtype))
    g = g_out
    gamma = np.zeros(B)
    lg[:, L] = _log(_rowdot(g, g) / g.shape[1])
    for l in range(L, 0, -1):
        w = weights[l - 1]
        n, m = w.shape[1], w.shape[2]
        d = ds[l - 1] * g
        ld[:, l] = 2.0 * gamma + _log(_rowdot(d, d) / n)
        lw[:, l] = ld[:, l] + lx[:, l - 1]
        gr = np.matmul(d[:, None, :], w)[:, 0, :]
        gg = _rowdot(gr, gr) / m
        lg[:, l - 1] = 2.0 * gamma + _log(gg)
        r = np.sqrt(gg)
        g = gr / np.where(r > 0, r, 1.0).astype(gr.dtype)[:, None]
        gamma = gamma + _log(r)


#: The conditioned sampler's most recent workspace (one at most, and only up to
#: :data:`_KEEP_BYTES`, the size of a default block), reused by the next block of the same
#: shape — in the same simulation or the next one: on a machine with slow page faults,
#: touching a fresh block-sized workspace costs as much as simulating the block. A running
#: block owns its workspace (it is taken out while in use), so concurrent kernels never
#: share one. :func:`release_buffers` frees it.
_WORKSPACE: dict[tuple[Any, ...], dict[str, Any]] = {}
_WORKSPACE_LOCK = threading.Lock()
_KEEP_BYTES = 320 * 2**20


def release_buffers() -> None:
    """Free the conditioned sampler's kept workspace (it is rebuilt when next needed)."""
    with _WORKSPACE_LOCK:
        _WORKSPACE.clear()


def _return_workspace(key: tuple[Any, ...], ws: dict[str, Any]) -> None:
    size = sum(a.nbytes for a in ws.values() if isinstance(a, np.ndarray))
    if size > _KEEP_BYTES:
        return
    with _WORKSPACE_LOCK:
        _WORKSPACE.clear()
        _WORKSPACE[key] = ws


def _layer_variances(chain: Chain) -> tuple[float, ...]:
    """v_l = Var(W^l_ij) as floats, evaluating the rule once per distinct (n_in, n_out)."""
    ws = chain.widths
    cache: dict[tuple[int, int], float] = {}
    out = []
    for i in range(chain.depth):
        key = (ws[i], ws[i + 1])
        if key not in cache:
            cache[key] = float(chain.rule.variance(*key))
        out.append(cache[key])
    return tuple(out)


#: Independent sub-streams of one block's weight draws (fixed, so that results do not depend
#: on the number of threads filling them).
FILL_SEGMENTS = 8
_MIN_PARALLEL = 2**18  # below this a single thread is faster


def fill_parallel(
    rng: np.random.Generator, out: FloatArray, distribution: str, *, threads: int
) -> None:
    """Fill ``out`` (1-D, contiguous) with N(0, 1) (``"normal"``) or U[0, 1) (``"uniform"``)
    draws from :data:`FILL_SEGMENTS` child streams of ``rng`` (``Generator.spawn``), one per
    contiguous segment, using up to ``threads`` threads (NumPy releases the GIL while it
    fills). The values depend on ``rng`` only, never on ``threads``."""
    children = rng.spawn(FILL_SEGMENTS)
    segments = np.array_split(out, FILL_SEGMENTS)

    def work(i: int) -> None:
        if distribution == "normal":
            children[i].standard_normal(out=segments[i], dtype=out.dtype)
        else:
            children[i].random(out=segments[i], dtype=out.dtype)

    if threads > 1 and out.size >= _MIN_PARALLEL:
        with ThreadPoolExecutor(max_workers=min(threads, FILL_SEGMENTS)) as pool:
            list(pool.map(work, range(FILL_SEGMENTS)))
    else:
        for i in range(FILL_SEGMENTS):
            work(i)


