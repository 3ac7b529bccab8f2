r"""Certified bounds on φ′: its supremum and infimum, saturation regions and chain bounds.

The textbook statement of the vanishing-gradient problem — ``sigmoid′(x) ≤ 1/4``, so a chain of
``L`` sigmoid units multiplies a back-propagated gradient by at most :math:`(1/4)^L` — is *derived*
here for any activation, never typed in:

.. math::

    \prod_{i=1}^{L} |\varphi'(x_i)| \le \Big(\sup_{x\in\mathbb R} |\varphi'(x)|\Big)^{L}.

How a bound is certified
------------------------
φ′ is split into smooth pieces (:func:`vgmath.symbolic.piecewise.pieces`). On each piece:

1. **Tails.** φ″ is rewritten exactly (hyperbolic functions as exponentials, then
   ``together``) as a quotient whose factors are *exp-polynomials*
   :math:`\sum_k c_k\, y^{a_k} e^{q_k(y)}` in :math:`y = \pm x \to +\infty` with polynomials
   :math:`q_k` (or real powers of factors certified positive). For each exp-polynomial the
   dominant term :math:`c_* y^{a_*} e^{q_*}` is found exactly. Every other term divided by it is
   :math:`y^{a} e^{d(y)}`, which decreases on :math:`[T, \infty)` once :math:`T` exceeds
   Kioustelidis' bound on the positive roots of :math:`a + y\,d'(y)`. Then
   :math:`|c_*| > \sum_k |c_k|\, T^{a_k-a_*} e^{d_k(T)}` certifies that the factor has the sign
   of :math:`c_*` on all of :math:`[T, \infty)`. So φ″ has one sign there, φ′ is monotone, and
   its limit is read off the same normal form. When φ″ is not of this form, plain interval
   evaluation on ``[T, ∞]`` is tried. If that fails too, vgmath refuses
   (:class:`~vgmath.NumericalError`) rather than guess: ``x + sin(x)`` has infinitely many
   critical points.
2. **The compact part** ``[-T, T]`` is covered by interval branch-and-bound on φ″
   (:mod:`mpmath.iv`, 192 bits). Each box gets one of three labels: φ″ ≥ 0 on it, φ″ ≤ 0 on it,
   or a box where φ‴ has constant sign and φ″ changes sign strictly between its ends (exactly
   one simple critical point of φ′ inside). Enclosures intersect SymPy's form of φ″ with its
   exact normal form, because SymPy's softplus″ is a difference of nearly equal terms and its
   normal form is not. They also intersect the centred (mean-value) form.
3. Between consecutive critical points φ′ is monotone. Its sup and inf over the piece are
   therefore among: the values at the critical points, the values or one-sided limits at the
   piece's ends, and the limits at ±∞. A closed end attains its value; an open end or an
   infinite end only approaches it.
4. **Exactness.** A critical point is reported exactly when it is *proved*:

   * a box boundary where the sign of φ″ flips from one box to the next (e.g. ``x = 0``);
   * a root of the exact normal form solved algebraically. This covers polynomials times one
     exponential (``(2 - x²) e^{-x²/2}`` → ``±√2``) and polynomials in a single exponential
     (``e^{-x}(1 - e^{-x})`` → ``x = 0``). The root is then matched to the box that certifiably
     holds exactly one root;
   * a simple closed form near the numeric root (``p/q``, ``±√(p/q)``, ``log(p/q)``)
     that survives a 2000-bit interval refutation and satisfies ``simplify(φ″(c)) == 0``.

   Otherwise the value is a SymPy ``Float`` with a rigorous error bound from the interval
   enclosure. The mean-value form ``φ′(m) + φ″(box)(box - m)`` keeps that enclosure tight.

Interval primitives missing from :mod:`mpmath.iv` (``tanh``, ``sinh``, ``cosh``) are built from
``iv.exp``, so they are rigorous. ``erf``, ``erfc``, ``atan`` and ``asinh`` are monotone: their
endpoint values are computed with 40 guard bits and widened by :math:`2^{-190}` relative. This
assumes mpmath's special functions are accurate to far better than :math:`2^{38}` ulps.
Numeric results are 30-digit ``Float`` values whose stated error covers both their binary value
and their printed decimal.

Saturation regions ``{x : |φ′(x)| < ε}`` use the same monotone stretches. On each stretch
``φ′ = ±ε`` has at most one root, which is solved exactly where the normal form allows it and
is otherwise enclosed in a certified bracket.

References
----------
* Hochreiter 1991 (Diplomarbeit, TU München); Bengio, Simard & Frasconi 1994, "Learning
  long-term dependencies with gradient descent is difficult", IEEE TNN 5(2) — the (1/4)^L
  argument.
* Moore, Kearfott & Cloud 2009, *Introduction to Interval Analysis*, SIAM — interval
  branch-and-bound, the mean-value form and certified root isolation.
"""

from __future__ import annotations

from .chain import ChainBound, chain_bound
from .derivative import DerivativeBound, derivative_bound
from .saturation import SaturationRegion, saturation_region

__all__ = [
    "ChainBound",
    "DerivativeBound",
    "SaturationRegion",
    "chain_bound",
    "derivative_bound",
    "saturation_region",
]
