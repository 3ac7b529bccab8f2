"""Memory limits: estimate before allocating, refuse in one line above the limit.

Every allocation that scales with depth × width × trials (the simulator's working blocks and
result arrays, the theory's per-layer profiles) is estimated first and compared with
:func:`memory_limit`: 80 % of the memory the system reports as available, or the
``VGMATH_MAX_MEMORY`` environment variable (``"8G"``, ``"512M"``, a number of bytes; ``0``
switches the check off), or the ``max_memory`` a caller passes. Above it,
:class:`~vgmath.core.errors.ResourceLimitError` says what was asked for, the estimate and
the limit — before a byte is allocated.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

from .errors import InvalidArgumentError, ResourceLimitError

__all__ = ["available_memory", "check_memory", "format_bytes", "memory_limit", "parse_size"]

_ENV = "VGMATH_MAX_MEMORY"
#: share of the available memory one request may use by default
DEFAULT_SHARE = 0.8
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(name: str, value: Any) -> float:
    """A size in bytes from ``8G``, ``512M``, ``1.5T``, ``1000000`` (``0`` = no limit → inf)."""
    if isinstance(value, bool):
        raise InvalidArgumentError(name, value, "expected a size such as 8G or 512M")
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*",
                         str(value), flags=re.IGNORECASE)
        if m is None:
            raise InvalidArgumentError(name, value, "expected a size such as 8G, 512M or bytes")
        v = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(v) or v < 0:
        raise InvalidArgumentError(name, value, "expected a size >= 0")
    return math.inf if v == 0 else v


def available_memory() -> float:
    """Bytes the system reports as available (``MemAvailable``), else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 8.0 * 2**30


def memory_limit(max_memory: Any = None) -> float:
    """The limit in force: ``max_memory`` if given, else ``VGMATH_MAX_MEMORY``, else 80 % of
    :func:`available_memory` (``inf`` when switched off)."""
    if max_memory is not None:
        return parse_size("max_memory", max_memory)
    raw = os.environ.get(_ENV, "").strip()
    if raw:
        return parse_size(_ENV, raw)
    return DEFAULT_SHARE * available_memory()


def format_bytes(n: float) -> str:
    """``7.45 GiB``."""
    if not math.isfinite(n):
        return "unlimited"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_memory(what: str, estimate: float, *, argument: str, value: Any,
                 max_memory: Any = None, hint: str = "") -> None:
    """Raise :class:`ResourceLimitError` if ``estimate`` bytes exceed :func:`memory_limit`."""
    limit = memory_limit(max_memory)
    if estimate <= limit:
        return
    tail = f"; {hint}" if hint else ""
    source = (
        "given" if max_memory is not None
        else _ENV if os.environ.get(_ENV, "").strip()
        else "80% of the available memory"
    )
    raise ResourceLimitError(
        argument, value,
        f"{what} needs about {format_bytes(estimate)}, above the memory limit of "
        f"{format_bytes(limit)} ({source}; override with VGMATH_MAX_MEMORY, or "
        f"simulate --max-memory){tail}",
    )
