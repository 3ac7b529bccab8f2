"""A small progress helper over tqdm, writing to stderr (off unless asked for).

>>> from vgmath.core.progress import progress
>>> with progress(100, enabled=False, desc="networks") as bar:
...     bar.update(100)

The API functions take ``progress=False`` by default; the command line turns the bar on when
stderr is a terminal (:func:`stderr_is_tty`) or ``--progress`` is given.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from tqdm import tqdm

__all__ = ["Progress", "progress", "stderr_is_tty"]


class _Bar(tqdm):  # type: ignore[misc]
    # no monitor thread: a bar must not leave a thread behind (processes may fork later)
    monitor_interval = 0


class _Lines:
    """Progress as whole lines at 0 %, every 10 % and the end (for a non-terminal stderr)."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = max(int(total), 0), desc, unit
        self.n = 0
        self._next = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.total and self.n * 10 >= self._next * self.total:
            pct = min(100, 100 * self.n // self.total)
            print(f"{self.desc}: {self.n}/{self.total} {self.unit} ({pct}%)", file=sys.stderr,
                  flush=True)
            self._next = self.n * 10 // self.total + 1

    def close(self) -> None:
        pass


class Progress:
    """A progress bar on stderr, or a no-op when disabled. Use as a context manager."""

    def __init__(self, total: int, *, enabled: bool, desc: str = "", unit: str = "it") -> None:
        self.enabled = bool(enabled)
        self.total = int(total)
        self._bar: Any = None
        if self.enabled and not stderr_is_tty():
            # a file or a pipe: plain lines (at most 11), no carriage returns
            self._bar = _Lines(self.total, desc or "progress", unit)
        elif self.enabled:
            self._bar = _Bar(
                total=self.total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                dynamic_ncols=True, mininterval=0.2,
            )

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` units."""
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        """Remove the bar (idempotent)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def progress(total: int, *, enabled: bool = False, desc: str = "", unit: str = "it") -> Progress:
    """A :class:`Progress` bar of ``total`` units on stderr (a no-op unless ``enabled``)."""
    return Progress(total, enabled=enabled, desc=desc, unit=unit)


def stderr_is_tty() -> bool:
    """Whether stderr is an interactive terminal (the command line's default for bars)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False
