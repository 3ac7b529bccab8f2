"""Which kernel simulates which network: the one place a new architecture is registered."""

from __future__ import annotations

from typing import Any

from ..core.errors import InvalidArgumentError
from ..network.description import Chain, Recurrent
from .architectures import BatchKernel, ResidualKernel
from .kernel import Kernel
from .sampler import ChainKernel

__all__ = ["architecture_kernel", "auto_method", "conditioned_is_exact", "make_kernel"]


def architecture_kernel(network: Any, *, method: str, dtype: Any) -> Kernel | None:
    """The kernel of a residual, batch-normalised or recurrent network; None for a plain
    chain (simulated by :class:`vgmath.montecarlo.sampler.ChainKernel`)."""

    if isinstance(network, Recurrent):
        from .recurrent import RecurrentKernel

        return RecurrentKernel(network, method=method, dtype=dtype)
    if not isinstance(network, Chain):
        raise InvalidArgumentError(
            "chain", network, "expected a vgmath.Chain or a vgmath.Recurrent network"
        )
    if network.residual is not None:
        return ResidualKernel(network, method=method, dtype=dtype)
    if network.norm == "batch":
        return BatchKernel(network, method=method, dtype=dtype)
    return None


def auto_method(network: Any) -> str:
    """``"conditioned"`` when it is exact and implemented (i.i.d. Gaussian weights in a
    chain; Haar-orthogonal weights in a plain chain), else ``"dense"``."""

    if isinstance(network, Recurrent):
        return "dense"
    return "conditioned" if conditioned_is_exact(network) else "dense"


def conditioned_is_exact(network: Any) -> bool:
    """Whether the conditioned sampler is exact and implemented for ``network``."""
    if not isinstance(network, Chain):
        return False
    if network.rule.gaussian:
        return True
    plain = network.residual is None and getattr(network, "norm", None) is None
    return plain and network.rule.distribution == "orthogonal"



def make_kernel(chain: Chain, *, method: str, dtype: Any, threads: int = 1) -> Kernel:
    """The kernel simulating ``chain`` (``method`` already resolved from ``"auto"``).

    New architectures (residual, batch-normalised, recurrent networks) add a
    :class:`Kernel` subclass here; the driver, seeds and statistics are shared."""
    from .kernels import architecture_kernel

    kernel = architecture_kernel(chain, method=method, dtype=dtype)
    if kernel is not None:
        return kernel
    return ChainKernel(chain, method=method, dtype=dtype, threads=threads)

