"""Precision limits of a depth profile: where the gradient second moment leaves a float format.

A gradient that vanishes (or explodes) geometrically through depth eventually leaves the range
of the format the network computes in. For a format with largest finite value M, smallest
normal number N = 2^{e_min} and smallest subnormal S = 2^{e_min − p + 1} (p bits of
precision), and the profile G_l = E[(g^l)²] = G_L · E[(g^l)²]/E[(g^L)²], the chain loses

* **normal range** at the first l (counting back from the output, k = L − l layers) with
  G_l < N: below N the value is subnormal and keeps fewer significant bits;
* **all range** at the first l with G_l < S: the value rounds to zero;
* **overflow** at the first l with G_l > M.

Scaling the loss by s multiplies every gradient by s and every second moment by s², so a loss
scale keeps the whole profile normal and finite iff N ≤ s² min G and s² max G ≤ M, i.e.
s ∈ [√(N / min G), √(M / max G)] (Micikevicius et al. 2018, "Mixed precision training",
arXiv:1710.03740, §3.2); :attr:`PrecisionLimits.loss_scale` is 1 when the profile is already
in range, else the power of two nearest the geometric centre of that interval (the largest
margin on both sides), or None when the profile spans more than the format's
dynamic range M/N (no single scale helps; see also Kalamkar et al. 2019, arXiv:1905.12322,
for bfloat16).

Formats (IEEE 754-2008 binary16/32/64; bfloat16 = binary32's 8 exponent bits with 8 bits of
precision):

==========  ============  ==============  ===============
format      N (normal)    S (subnormal)   M (max)
==========  ============  ==============  ===============
float16     2^-14         2^-24           65504
bfloat16    2^-126        2^-133          (2 − 2^-7)·2^127
float32     2^-126        2^-149          (2 − 2^-23)·2^127
float64     2^-1022       2^-1074         (2 − 2^-52)·2^1023
==========  ============  ==============  ===============

All comparisons are made on ln G (the profile's ``ln_grad_second_moment``), so they stay
exact where G itself underflows float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.errors import InvalidArgumentError

__all__ = ["FLOAT_FORMATS", "FloatFormat", "PrecisionLimits", "float_format", "precision_limits"]

_LN2 = math.log(2.0)
#: ln-units slack for ties: a profile value within 1e-9 relative of a threshold counts as in
#: range. The profile itself is accurate to ~1e-12 relative per layer (a sum of L logs), so
#: an exact power of two (ReLU + Xavier: 2^-126 after 126 layers) must not fall out of range
#: by its rounding; no format resolves a relative 1e-9 at its range limits anyway.
_TIE = 1e-9


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format: ``precision`` bits (implicit bit included), exponents
    of normal numbers in [``emin``, ``emax``]."""

    name: str
    precision: int
    emin: int
    emax: int

    @property
    def ln_normal_min(self) -> float:
        """ln N, N = 2^emin (the smallest positive normal number)."""
        return self.emin * _LN2

    @property
    def ln_subnormal_min(self) -> float:
        """ln S, S = 2^(emin − precision + 1) (the smallest positive subnormal number)."""
        return (self.emin - self.precision + 1) * _LN2

    @property
    def ln_max(self) -> float:
        """ln M, M = (2 − 2^(1 − precision)) · 2^emax (the largest finite number)."""
        return math.log(2.0 - 2.0 ** (1 - self.precision)) + self.emax * _LN2

    @property
    def normal_min(self) -> float:
        return math.ldexp(1.0, self.emin)

    @property
    def subnormal_min(self) -> float:
        return math.ldexp(1.0, self.emin - self.precision + 1)

    @property
    def max(self) -> float:
        return math.ldexp(2.0 - 2.0 ** (1 - self.precision), self.emax)


#: The formats :func:`float_format` knows, by name.
FLOAT_FORMATS: dict[str, FloatFormat] = {
    "float16": FloatFormat("float16", 11, -14, 15),
    "bfloat16": FloatFormat("bfloat16", 8, -126, 127),
    "float32": FloatFormat("float32", 24, -126, 127),
    "float64": FloatFormat("float64", 53, -1022, 1023),
}


def float_format(dtype: Any) -> FloatFormat:
    """The :class:`FloatFormat` of ``dtype``: a name (``"float16"``, ``"bfloat16"``,
    ``"float32"``, ``"float64"``, ``"half"``, ``"single"``, ``"double"``), a NumPy dtype or
    type, or a PyTorch dtype (``torch.bfloat16`` is read by its name)."""
    if isinstance(dtype, FloatFormat):
        return dtype
    name = str(dtype).removeprefix("torch.")
    name = {"half": "float16", "single": "float32", "double": "float64"}.get(name, name)
    if name not in FLOAT_FORMATS:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = ""
    if name not in FLOAT_FORMATS:
        raise InvalidArgumentError(
            "dtype", dtype, f"expected one of {', '.join(FLOAT_FORMATS)}"
        )
    return FLOAT_FORMATS[name]


@dataclass(frozen=True)
class PrecisionLimits:
    """Where a chain's gradient second moment leaves a float format (module docstring).

    Depths count layers back from the output: ``normal_depth`` = k means G_{L−k} is the first
    value below the smallest normal number; ``subnormal_depth`` the first below the smallest
    subnormal (it rounds to 0); ``overflow_depth`` the first above the largest finite value.
    None: the chain's L layers stay in range. ``loss_scale``: a power of two keeping every
    layer normal and finite (None when no scale can), within ``loss_scale_range`` (the
    interval of all such scales, empty — low > high — when none exists; its ends are capped
    at e^709 to stay finite); ``excess_decades``: by how many powers of ten the profile's
    spread max G/min G exceeds the format's normal range M/N (0 when a scale exists).
    """

    dtype: str
    depth: int
    ln_output_second_moment: float
    normal_depth: int | None
    subnormal_depth: int | None
    overflow_depth: int | None
    loss_scale: float | None
    loss_scale_range: tuple[float, float]
    excess_decades: float
    normal_min: float
    subnormal_min: float
    max: float

    @property
    def representable(self) -> bool:
        """Every layer's second moment is a normal, finite number without loss scaling."""
        return self.normal_depth is None and self.overflow_depth is None

    def summary(self) -> str:
        def at(k: int | None) -> str:
            return f"after {k} layers (l = {self.depth - k})" if k is not None else "never"

        if self.loss_scale is None:
            scale = (f"no loss scale keeps every layer normal (the profile is "
                     f"{self.excess_decades:.3g} decades wider than the format's normal range)")
        else:
            scale = f"loss scale 2^{round(math.log2(self.loss_scale))} keeps every layer normal"
        return (f"{self.dtype}: below normal {at(self.normal_depth)}; "
                f"flushed to 0 {at(self.subnormal_depth)}; overflow {at(self.overflow_depth)}; "
                f"{scale}")

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.loss_scale_range
        return {
            "dtype": self.dtype,
            "normal_depth": self.normal_depth,
            "subnormal_depth": self.subnormal_depth,
            "overflow_depth": self.overflow_depth,
            "loss_scale": self.loss_scale,
            "excess_decades": self.excess_decades,
            "log2_loss_scale_range": [_finite(math.log2(lo)) if lo > 0 else None,
                                      _finite(math.log2(hi)) if hi > 0 else None],
            "normal_min": self.normal_min,
            "subnormal_min": self.subnormal_min,
            "max": self.max,
        }


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _first_back(mask: NDArray[np.bool_]) -> int | None:
    """The smallest k = L − l with mask[l] True (mask indexed by l = 0..L), or None."""
    back = mask[::-1]
    return int(np.argmax(back)) if back.any() else None


def precision_limits(
    ln_profile: Any, dtype: Any, *, output_second_moment: float = 1.0
) -> PrecisionLimits:
    """The :class:`PrecisionLimits` of a profile ln(E[(g^l)²]/E[(g^L)²]), l = 0..L, for
    ``dtype``, with the output gradient's second moment E[(g^L)²] = ``output_second_moment``.

    >>> import numpy as np
    >>> lim = precision_limits(-np.log(2.0) * np.arange(30, -1, -1), "float16")  # G = 2^-(L-l)
    >>> lim.normal_depth, lim.subnormal_depth, lim.loss_scale  # 2^30 > M/N: no single scale
    (15, 25, None)
    >>> precision_limits(-np.log(2.0) * np.arange(20, -1, -1), "float16").loss_scale
    32.0
    """
    fmt = float_format(dtype)
    if not (isinstance(output_second_moment, (int, float))
            and not isinstance(output_second_moment, bool)
            and math.isfinite(output_second_moment) and output_second_moment > 0):
        raise InvalidArgumentError(
            "output_second_moment", output_second_moment, "must be a finite number > 0"
        )
    ln_out = math.log(output_second_moment)
    lg = np.asarray(ln_profile, dtype=np.float64) + ln_out
    if lg.ndim != 1 or lg.size < 1 or np.isnan(lg).any():
        raise InvalidArgumentError("ln_profile", ln_profile, "expected a 1-D profile without NaN")
    with np.errstate(invalid="ignore"):
        normal = _first_back(lg < fmt.ln_normal_min - _TIE)
        sub = _first_back(lg < fmt.ln_subnormal_min - _TIE)
        over = _first_back(lg > fmt.ln_max + _TIE)
    # s² G within [N, M] for every layer: 2 ln s in [ln N − min ln G, ln M − max ln G]
    lo2 = fmt.ln_normal_min - float(np.min(lg))
    hi2 = fmt.ln_max - float(np.max(lg))
    scale: float | None = None
    if lo2 <= 0.0 <= hi2:
        scale = 1.0  # already in range: no scaling needed
    elif lo2 <= hi2:
        centre = (lo2 + hi2) / (4 * _LN2)  # log2 of the geometric centre of [√e^lo2, √e^hi2]
        for k in sorted({math.floor(centre), math.ceil(centre)}, key=lambda k: abs(k - centre)):
            if lo2 <= 2 * k * _LN2 <= hi2:
                scale = math.ldexp(1.0, k)
                break
    with np.errstate(over="ignore", under="ignore"):
        rng = (math.exp(min(lo2 / 2, 709.0)), math.exp(min(hi2 / 2, 709.0)))
    return PrecisionLimits(
        dtype=fmt.name,
        depth=lg.size - 1,
        ln_output_second_moment=ln_out,
        normal_depth=normal,
        subnormal_depth=sub,
        overflow_depth=over,
        loss_scale=scale,
        loss_scale_range=rng,
        excess_decades=max(0.0, (lo2 - hi2) / math.log(10.0)),
        normal_min=fmt.normal_min,
        subnormal_min=fmt.subnormal_min,
        max=fmt.max,
    )
