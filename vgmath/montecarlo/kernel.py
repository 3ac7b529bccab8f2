"""The kernel interface every architecture implements, and the log-space helpers they share."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError
from ..network.description import Chain

FloatArray = np.ndarray


#: The per-network statistics every kernel returns (natural logs, shape (size, L + 1)).
LOG_KEYS = ("q", "act", "grad", "preact", "weight")


#: Sampling methods (``"auto"`` resolves to one of the others).
METHODS = ("auto", "conditioned", "dense")


def check_method(chain: Chain, method: str, *, orthogonal: bool = False) -> None:
    """Refuse an unknown sampling method, or the conditioned sampler for weights it does not
    sample exactly: i.i.d. Gaussian always, Haar orthogonal only where ``orthogonal``."""
    if method not in ("conditioned", "dense"):
        raise InvalidArgumentError("method", method, "expected 'conditioned' or 'dense'")
    exact = chain.rule.gaussian or (orthogonal and chain.rule.distribution == "orthogonal")
    if method == "conditioned" and not exact:
        which = "i.i.d. Gaussian or (plain chains) orthogonal" if orthogonal else (
            "i.i.d. Gaussian")
        raise InvalidArgumentError(
            "method",
            method,
            f"the conditioned sampler is exact only for {which} weights; "
            f"{chain.rule} draws {chain.rule.distribution} weights (use 'dense' or 'auto')",
        )


class Kernel(ABC):
    """One architecture's forward and backward pass over a block of independent networks.

    Subclasses set ``depth`` and ``widths`` (n_0..n_L) and implement :meth:`run`; the driver
    calls ``run(rng, size)`` once per block with the block's own random stream.
    """

    depth: int
    widths: tuple[int, ...]
    method: str
    dtype: np.dtype
    #: architecture-specific per-layer arrays (size, L + 1) that ``run`` also returns,
    #: stored as plain values and summarised as ensemble means with ``_se``
    extra_fields: tuple[str, ...] = ()
    #: architecture-specific per-network scalars (size,) that ``run`` also returns
    extra_samples: tuple[str, ...] = ()

    def _bind_chain(self, chain: Chain, method: str, dtype: Any, *,
                    orthogonal: bool = False) -> None:
        """Validate ``method`` for ``chain`` and set the fields every chain kernel shares
        (``orthogonal``: the kernel's conditioned sampler also handles Haar weights)."""
        check_method(chain, method, orthogonal=orthogonal)
        self.chain = chain
        self.method = method
        self.dtype = np.dtype(dtype)
        self.depth = chain.depth
        self.widths = chain.widths
        self.act = chain.act
        self.sigma_b = math.sqrt(float(chain.sigma_b2))
        self.input_q = float(chain.input_q)

    def setup(self) -> dict[str, Any]:
        """Metadata describing the simulated inputs and gradients, if not the defaults."""
        return {}

    @abstractmethod
    def run(self, rng: np.random.Generator, size: int) -> dict[str, FloatArray]:
        """Simulate ``size`` independent networks; return the :data:`LOG_KEYS` arrays."""

    @abstractmethod
    def bytes_per_network(self) -> int:
        """Working memory one network of a block needs (used to size blocks)."""

    @abstractmethod
    def draws_per_network(self) -> int:
        """Random numbers one network consumes (for throughput figures)."""



def bmm(a: FloatArray, b: FloatArray) -> FloatArray:
    """Stacked matrix product a[s] @ b[s] over the first axis, one BLAS call per network
    (much faster than NumPy's stacked ``matmul`` for these shapes, and the same values)."""
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=np.result_type(a, b))
    for s in range(a.shape[0]):
        np.matmul(a[s], b[s], out=out[s])
    return out



def _log_mean(logs: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Mean and standard error of exp(logs) per column, computed without under/overflow.

    Returns ``(mean, se, log_mean, log_se)``: the mean and its standard error (which may
    under/overflow in float64 like the true values), ln(mean) and the standard error of
    ln(mean) by the delta method (se/mean), both always representable.
    """
    T, K = logs.shape
    top = np.max(logs, axis=0) if T else np.full(K, np.nan)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(under="ignore", over="ignore", invalid="ignore", divide="ignore"):
        scaled = np.exp(logs - finite_top)
        m = scaled.mean(axis=0)
        sd = scaled.std(axis=0, ddof=1) if T > 1 else np.full(K, np.nan)
        rel = sd / (m * math.sqrt(T))
        log_mean = finite_top + np.log(m)
        mean = np.exp(log_mean)
        se = mean * rel
    dead = top == -np.inf  # every network exactly zero
    rel = np.where(dead, np.nan, rel)
    se = np.where(dead, 0.0, se)
    missing = np.isnan(logs).any(axis=0)
    for arr in (mean, se, log_mean, rel):
        arr[missing] = np.nan
    return mean, se, log_mean, rel

