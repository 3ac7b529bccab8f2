"""Mean-field theory through depth: :func:`predict` and :class:`Prediction`.

For a :class:`vgmath.Chain` (conventions in :mod:`vgmath.network.description`) the infinite-width
(mean-field) theory of Poole et al. 2016 (arXiv:1606.05340) and Schoenholz et al. 2017
(arXiv:1611.01232) gives, layer by layer (v_l = Var(W^l_ij), σ_w²⁽ˡ⁾ = n_{l-1} v_l, z ~ N(0, 1)),

.. math::

    q^1 = \\sigma_w^{2\\,(1)} q_\\text{in} + \\sigma_b^2,\\qquad
    q^l = \\sigma_w^{2\\,(l)}\\,\\mathbb{E}[\\varphi(\\sqrt{q^{l-1}} z)^2] + \\sigma_b^2,

    \\chi^l = v_l\\, n_l\\, \\mathbb{E}[\\varphi'(\\sqrt{q^l} z)^2],\\qquad
    \\mathbb{E}[(g^{l-1}_i)^2] = \\chi^l\\, \\mathbb{E}[(g^l_i)^2].

The forward map uses the *second moment* E[φ²] (not the variance): with zero-mean weights,
E[(h^l_i)²] = n_{l-1} v_l E[(x^{l-1}_j)²] + σ_b² whatever the mean of φ (sigmoid, softplus).
Glorot & Bengio 2010 (χ = 1 for a linear network with fan_avg on square layers) and He et
al. 2015 (arXiv:1502.01852, χ = 1 for ReLU with Var = 2/n_in) are special cases.

Per-layer fields (arrays of length L + 1, NaN where a quantity does not exist) follow the
shared conventions of :mod:`vgmath.network.description`: ``q``, ``chi``, ``grad_second_moment``
(E[(g^l)²]/E[(g^L)²]), ``grad_preact_second_moment`` (E[(δ^l)²]/E[(g^L)²] =
E[φ′²]·grad_second_moment), ``grad_weight_second_moment`` (E[(∂E/∂W^l_ij)²]/E[(g^L)²] =
E[(δ^l_i)²]·E[(x^{l-1}_j)²]), plus ``sigma_w2`` and ``mean_ln_chi`` (the finite-width
E[ln R_l] of :mod:`vgmath.theory.finite_width`).

Weight distributions: mean-field theory only sees second moments, so uniform, truncated-
normal and orthogonal weights with the rule's variance give the same prediction as Gaussian
weights of that variance (for orthogonal matrices this is the mean-field statement; the
finite-width fluctuations differ — Saxe et al. 2014, arXiv:1312.6120).

Closed forms: when E[φ′(√q z)²] does not depend on q (φ positively homogeneous: identity,
ReLU, leaky ReLU, …) χ is an exact number, ``prediction.exact`` holds exact SymPy profiles
(ReLU + He: χ = 1 exactly; ReLU + Xavier on square layers: grad_second_moment[0] = 2^{-L})
and ``prediction.formula`` is E[(g^l)²]/E[(g^L)²] = χ^{L−l} in :data:`vgmath.depth_symbol`
and :data:`vgmath.layer_symbol` when every layer has the same χ. Otherwise the profile is
numeric, with the accuracy of the Gaussian moments (~1e-12 relative per evaluation).

Residual chains (``chain.residual``) dispatch to :mod:`vgmath.theory.residual`, batch-normalised
chains (``chain.norm == "batch"``) to :mod:`vgmath.theory.batchnorm` (Yang et al. 2019,
arXiv:1902.08129; exact at the chain's batch B, infinite width).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import sympy as sp

from ..core.errors import InvalidArgumentError
from ..network.description import Chain, Recurrent
from ..symbolic.symbols import depth_symbol, layer_symbol
from .finite_width import coupling_coefficient, mean_log_chi_profile
from .meanfield import Q_MIN, Moments, homogeneous, moment_provider
from .profile import (
    ExactProfile,
    FloatArray,
    Prediction,
    _as_fraction,
    _LayerScales,
    _readonly,
    _to_sympy,
    distribution_notes,
    layer_scales,
)
from .residual import predict_residual
from .symbolic_profile import SymbolicPrediction, predict_symbolic

__all__ = ["predict"]


_EPS = float(np.finfo(np.float64).eps)
#: Relative step below which q is taken as converged to its fixed point (see ``_q_profile``).
_CONVERGED = 4.0 * _EPS
#: Below this q (σ_b² = 0, φ(0) = 0) the variance map is linear to double precision.
_Q_LINEAR = 1e-40


# --------------------------------------------------------------------------- results


# --------------------------------------------------------------------------- predict


def predict(chain: Chain, *, finite_width: bool = False) -> Prediction | SymbolicPrediction:
    """The mean-field depth profile of ``chain`` (see the module docstring).

    ``finite_width=True`` predicts the ensemble means at the chain's own widths instead
    (plain chains: :mod:`vgmath.theory.markov`, the per-network variance as an exact
    Markov chain, the backward pass along it; post-activation residual chains with ReLU or
    leaky ReLU and no bias: :mod:`vgmath.theory.residual_finite_width`, the gradient's bulk
    and its components along the forward directions), with the mean-field profiles in ``extras``
    (``mean_field_q``, ``mean_field_grad_second_moment``, …) and the estimated error per
    layer (natural log) in ``extras["error"]``.

    >>> import vgmath as vg
    >>> p = vg.predict(vg.Chain(activation="relu", init="he", depth=50, width=256))
    >>> p.exact.chi[1], p.formula
    (1, 1)
    >>> vg.predict(vg.Chain("relu", init="xavier", depth=10, width=64)).exact.grad_second_moment[0]
    1/1024

    A chain with SymPy symbols (``chain.is_symbolic``: σ_w², σ_b², widths, depth, an
    activation parameter) gives a :class:`vgmath.SymbolicPrediction` instead: closed forms
    where they exist, the recursion as a SymPy object otherwise.

    References: Poole et al. 2016, arXiv:1606.05340; Schoenholz et al. 2017,
    arXiv:1611.01232; He et al. 2015, arXiv:1502.01852; Glorot & Bengio 2010.
    """
    if isinstance(chain, Recurrent):
        limit = ("its infinite-width mean-field limit is vg.predict(net.mean_field_chain()) "
                 "(Chen, Pennington & Schoenholz 2018), which the tied weights make drift at "
                 "finite width (tanh + Xavier, width 64: simulated/limit E[g_0^2] = 1.32 after "
                 "15 steps, 6 after 30) — " if chain.cell == "rnn"
                 else "gated cells have no mean-field prediction in vgmath — ")
        raise InvalidArgumentError(
            "chain", f"Recurrent(cell={chain.cell!r}, steps={chain.steps})",
            "vg.predict takes a feed-forward Chain: a recurrent net applies the same W at every "
            "step, so the finite-width Markov chain (fresh weights per layer) does not apply; "
            + limit + "measure it with vg.simulate(net) and test a claim with "
            "vg.verify(net, claim)")
    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    if chain.is_symbolic:
        if finite_width:
            raise InvalidArgumentError(
                "finite_width", True, "the finite-width prediction is numeric: substitute "
                "numbers (chain.subs(...)) or use the symbolic finite_width_ratio()")
        if getattr(chain, "readout", "activation") != "activation":
            # the symbolic engines build χ^L from E[φ′²] like every other layer
            raise InvalidArgumentError(
                "readout", chain.readout, "symbolic predictions cover the activation read-out; "
                "substitute numbers (chain.subs(...)) for a linear read-out")
        return predict_symbolic(chain, predict)
    if finite_width:
        from .markov import finite_width_refusal

        why = finite_width_refusal(chain)
        if why:
            raise InvalidArgumentError("finite_width", True, why)
    if getattr(chain, "norm", None) == "batch":
        from .batchnorm import predict_batchnorm

        return predict_batchnorm(chain)
    if chain.residual is not None:
        # an exploding or dying profile overflows/underflows to ±inf/0, stated in the notes
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            mean_field = predict_residual(chain)
        if finite_width:
            from .residual_finite_width import residual_finite_width_profile

            return residual_finite_width_profile(chain, mean_field)
        return mean_field
    if finite_width:
        from .markov import finite_width_profile

        return finite_width_profile(chain, _predict_plain(chain))
    return _predict_plain(chain)


def _q_profile(
    mom: Moments, sw2: FloatArray, input_q: float, sigma_b2: float, *, linear_tail: float | None
) -> tuple[FloatArray, int | None, int | None]:
    """q[0..L] by the recursion; returns (q, converged_at, linear_from).

    Early stop 1 (fixed point): once the layers ahead all share one σ_w² and a step changes q
    by at most 4ε relative, q is at its fixed point to machine precision and the rest of the
    profile is filled with it (if the map's slope at q* is s < 1 the neglected drift is at
    most 4ε·s/(1−s) relative; a slowly-converging critical map never triggers the test,
    since its relative steps are ~q, far above 4ε).
    Early stop 2 (linear regime): with σ_b² = 0 and φ(0) = 0, below q = 1e-40 the map is
    q ↦ σ_w² E[φ′²]₀ q to double precision (corrections are O(√q) relative at a kink and
    O(q) for smooth φ), so the rest is a geometric sequence (``linear_tail`` = E[φ′²]₀).
    """
    L = sw2.size
    sw = sw2.tolist()  # plain floats: the loop below runs per layer
    qs = [float(input_q), sw[0] * input_q + sigma_b2]
    # first layer index (1-based) from which every σ_w² is the same
    tail = L
    while tail > 1 and sw[tail - 2] == sw[L - 1]:
        tail -= 1
    phi2 = mom.phi2_scalar()
    converged_at: int | None = None
    linear_from: int | None = None
    fill: list[float] = []
    prev = qs[1]
    for l in range(2, L + 1):
        cur = sw[l - 1] * phi2(prev) + sigma_b2
        qs.append(cur)
        if not math.isfinite(cur):  # the forward signal overflowed float64
            fill = [math.inf] * (L - l)
            break
        if l >= tail and l < L:
            if abs(cur - prev) <= _CONVERGED * abs(cur):
                fill = [cur] * (L - l)
                converged_at = l
                break
            if linear_tail is not None and cur < _Q_LINEAR:
                a = sw[l - 1] * linear_tail
                with np.errstate(under="ignore"):
                    fill = (cur * a ** np.arange(1, L - l + 1, dtype=np.float64)).tolist()
                linear_from = l
                break
        prev = cur
    q = np.array(qs + fill, dtype=np.float64)
    return q, converged_at, linear_from


def _predict_plain(chain: Chain) -> Prediction:
    act = chain.act
    mom = moment_provider(act)
    sc = layer_scales(chain)
    input_q = float(chain.input_q)
    sb2 = float(chain.sigma_b2)

    linear_tail = None
    if sb2 == 0 and mom.homogeneous is None and mom.phi0_is_zero:
        linear_tail = mom.dphi2_limit
    with np.errstate(over="ignore", invalid="ignore"):
        q, converged_at, linear_from = _q_profile(
            mom, sc.sw2, input_q, sb2, linear_tail=linear_tail
        )
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _finish_plain(chain, mom, sc, q, converged_at, linear_from, input_q)


def _finish_plain(
    chain: Chain,
    mom: Moments,
    sc: _LayerScales,
    q: FloatArray,
    converged_at: int | None,
    linear_from: int | None,
    input_q: float,
) -> Prediction:
    L = chain.depth
    notes: list[str] = []
    if linear_from is not None:
        notes.append(
            f"q < 1e-40 from layer {linear_from}: the variance map is linear there to double "
            "precision and q decays geometrically"
        )
    if np.any(q[1:] < Q_MIN):
        notes.append(
            "q underflows below 1e-300 in deep layers; moments there use the q → 0⁺ limit"
        )
    if np.any(~np.isfinite(q)) or np.any(q > 1e300):
        notes.append(
            "q overflows float64 in deep layers"
            + ("" if mom.homogeneous is not None else "; moments there are evaluated at q = 1e300")
        )

    qa = q[1:]
    linear_out = chain.readout == "linear"
    d2 = np.array(mom.dphi2(qa), dtype=np.float64)
    if linear_out:  # no φ on the output layer: φ′ ≡ 1 there
        d2[-1] = 1.0
    chi = np.full(L + 1, np.nan)
    chi[1:] = sc.vn * d2
    with np.errstate(divide="ignore"):
        logchi = np.log(chi[1:])
    log_grad = np.zeros(L + 1)
    # log grad[l] = Σ_{k=l+1}^{L} ln χ^k
    log_grad[:-1] = np.cumsum(logchi[::-1])[::-1]
    with np.errstate(under="ignore", over="ignore"):
        grad = np.exp(log_grad)
    preact = np.full(L + 1, np.nan)
    preact[1:] = d2 * grad[1:]
    # E[(x^{l-1}_j)²]: the input's second moment for l = 1, E[φ(√q^{l-1} z)²] after
    m_in = np.empty(L)
    m_in[0] = input_q
    if L > 1:
        m_in[1:] = mom.phi2(q[1:L])
    weight = np.full(L + 1, np.nan)
    with np.errstate(under="ignore", over="ignore"):
        weight[1:] = preact[1:] * m_in
    sigma_w2 = np.full(L + 1, np.nan)
    sigma_w2[1:] = sc.sw2
    d4 = np.array(mom.dphi4(qa), dtype=np.float64)
    coupling = np.zeros(L + 1)
    if mom.homogeneous is None:
        coupling[1:] = coupling_coefficient(
            qa, d2, mom.z2dphi2(qa), float(chain.sigma_b2)
        )
    if linear_out:  # E[φ′⁴] = 1 and no forward/backward coupling through a constant φ′
        d4[-1] = 1.0
        coupling[L] = 0.0
    mlc = mean_log_chi_profile(chi, d2, d4, chain.widths, coupling)

    formula, formulas, exact_chi = _plain_formulas(chain, sc)
    method = "mean-field recursion; moments: " + mom.method
    notes.extend(distribution_notes(chain))
    if linear_out:
        notes.append(
            "linear read-out: no φ on layer L (χ^L = n_L v_L), so every ratio "
            "E[(g^l)²]/E[(g^L)²], l < L, is 1/E[φ′(h^L)²] times the activation read-out's"
            + ("" if formula is None else "; the closed form holds for l < L")
        )
    return Prediction(
        chain=chain,
        q=_readonly(q),
        chi=_readonly(chi),
        grad_second_moment=_readonly(grad),
        grad_preact_second_moment=_readonly(preact),
        grad_weight_second_moment=_readonly(weight),
        sigma_w2=_readonly(sigma_w2),
        mean_ln_chi=_readonly(mlc),
        ln_grad_second_moment=_readonly(log_grad),
        formula=formula,
        formulas=formulas,
        method=method,
        notes=tuple(notes),
        converged_at=converged_at,
        _exact_builder=(lambda: _plain_exact(chain, sc)) if exact_chi else None,
    )


def _plain_formulas(
    chain: Chain, sc: _LayerScales
) -> tuple[sp.Expr | None, dict[str, sp.Expr], bool]:
    """(formula, formulas, χ exact?) for a plain chain (built without ``simplify``: the
    exact numbers involved are already in canonical form)."""
    h = homogeneous(chain.act)
    if h is None:
        return None, {}, False
    c2 = h.c2
    chis = {u[2] * c2 for u in sc.unique}
    formulas: dict[str, sp.Expr] = {}
    formula = None
    L, l = depth_symbol, layer_symbol
    if len(chis) == 1:
        chi = next(iter(chis))
        formula = chi ** (L - l)
        formulas["chi"] = chi
        if chain.readout == "linear":
            # χ^L = n_L v_L (no φ′ on the output layer); valid for l < L
            chi_out = sc.unique[sc.index[-1]][2]
            formula = chi_out * chi ** (L - 1 - l) if chi != chi_out else formula
            formulas["chi_out"] = chi_out
        formulas["grad_second_moment"] = formula
    sws = {u[1] for u in sc.unique}
    if len(sws) == 1:
        sw = next(iter(sws))
        a = sw * c2
        q1 = sw * chain.input_q + chain.sigma_b2
        if a == 1:
            ql = q1 + (l - 1) * chain.sigma_b2
        elif chain.sigma_b2 == 0:
            ql = q1 * a ** (l - 1)
        else:
            ql = a ** (l - 1) * q1 + chain.sigma_b2 * (1 - a ** (l - 1)) / (1 - a)
        formulas["q"] = ql  # valid for l ≥ 1
    return formula, formulas, True


def _plain_exact(chain: Chain, sc: _LayerScales) -> ExactProfile | None:
    """Exact profiles by rational arithmetic (positively homogeneous φ, rational inputs)."""
    h = homogeneous(chain.act)
    assert h is not None
    vals = [h.c2, chain.input_q, chain.sigma_b2, *(e for u in sc.unique for e in u[1:])]
    if not all(isinstance(sp.sympify(v), sp.Rational) for v in vals):
        return None
    c2 = _as_fraction(h.c2)
    iq = _as_fraction(chain.input_q)
    sb2 = _as_fraction(chain.sigma_b2)
    sw = [_as_fraction(e) for e in sc.sigma_w2]
    go = [_as_fraction(e) for e in sc.gain_out]
    assert c2 is not None and iq is not None and sb2 is not None
    L = chain.depth
    q: list[Fraction | None] = [iq]
    m_in: list[Fraction] = [iq]  # E[(x^{l-1})²] for l = 1..L
    for l in range(1, L + 1):
        s = sw[l - 1]
        assert s is not None
        ql = s * m_in[-1] + sb2
        q.append(ql)
        m_in.append(c2 * ql)
    chi: list[Fraction | None] = [None]
    d2 = [c2] * L  # E[φ′²] per layer; 1 on a linear read-out
    if chain.readout == "linear":
        d2[-1] = Fraction(1)
    for l in range(1, L + 1):
        g = go[l - 1]
        assert g is not None
        chi.append(g * d2[l - 1])
    grad: list[Fraction | None] = [None] * (L + 1)
    acc = Fraction(1)
    grad[L] = acc
    for l in range(L, 0, -1):
        c = chi[l]
        assert c is not None
        acc = acc * c
        grad[l - 1] = acc
    pre: list[Fraction | None] = [None] + [
        d * g for d, g in zip(d2, grad[1:], strict=True) if g is not None
    ]
    wgt: list[Fraction | None] = [None]
    for l in range(1, L + 1):
        p = pre[l]
        assert p is not None
        wgt.append(p * m_in[l - 1])
    return ExactProfile(
        q=_to_sympy(q),
        chi=_to_sympy(chi),
        grad_second_moment=_to_sympy(grad),
        grad_preact_second_moment=_to_sympy(pre),
        grad_weight_second_moment=_to_sympy(wgt),
        sigma_w2=(sp.nan, *sc.sigma_w2),
    )
