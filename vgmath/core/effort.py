"""Effort limits: every potentially unbounded computation runs against a deadline.

Certifying a bound, repairing a non-finite float by exact evaluation, simplifying exactly or
refining a quadrature can take unboundedly long on a short but hostile input
(``tanh(tanh(tanh(x)))``, a sum of ten shifted ``tanh``). Such a computation runs inside

    with effort_limit("certify the bound of tanh(tanh(tanh(x)))"):
        ...

and ends with one :class:`~vgmath.core.errors.EffortLimitError` ("cannot certify the bound
of … within the effort limit (3 s; …)") when its time runs out, instead of hanging.

The limit is :data:`DEFAULT_SECONDS` (3 s; the catalog certifies in under 0.6 s), or the
``VGMATH_EFFORT_SECONDS`` environment variable, or the ``seconds`` given; ``0`` or ``inf``
switch it off. Limits nest: an inner limit never extends an outer one, and the error names
the computation whose deadline passed.

The deadline is enforced with ``SIGALRM`` (``setitimer``), so it interrupts pure-Python work
anywhere (SymPy, mpmath). It applies in the main thread of a process on POSIX systems; in
other threads (thread executors) and on Windows the block runs unlimited. A single C-level
operation (one huge integer power) cannot be interrupted: the safe parser refuses the inputs
that would ask for one (:mod:`vgmath.symbolic.parse`).
"""

from __future__ import annotations

import gc
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import EffortLimitError, InvalidArgumentError

__all__ = ["DEFAULT_SECONDS", "configured_seconds", "effort_limit"]

#: Default effort limit of one computation, in seconds.
DEFAULT_SECONDS = 3.0
_ENV = "VGMATH_EFFORT_SECONDS"


@dataclass
class _Frame:
    what: str
    seconds: float
    deadline: float


_stack: list[_Frame] = []
#: after a limit fires, it fires again this often while its block is still running
_REFIRE_SECONDS = 0.5


def configured_seconds() -> float:
    """The effort limit in force: ``VGMATH_EFFORT_SECONDS`` if set, else :data:`DEFAULT_SECONDS`
    (``inf`` when switched off with 0 or ``inf``)."""
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return DEFAULT_SECONDS
    try:
        v = float(raw)
    except ValueError:
        raise InvalidArgumentError(_ENV, raw, "expected a number of seconds") from None
    if math.isnan(v) or v < 0:
        raise InvalidArgumentError(_ENV, raw, "expected a number of seconds >= 0")
    return math.inf if v == 0 else v


def _usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _in_gc_callback(frame: Any) -> bool:
    """Whether the signal interrupted code the garbage collector runs — another library's
    gc callback, an object's ``__del__`` or a ``weakref.finalize`` callback, or something
    they call: an exception raised there is "unraisable" (printed and lost) instead of
    ending the limited block, so the alarm waits until the collector is done."""
    callbacks = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    depth = 0
    while frame is not None and depth < 200:
        code = frame.f_code
        if (code in callbacks or code.co_name == "__del__"
                or code.co_filename.endswith("weakref.py")):
            return True
        frame = frame.f_back
        depth += 1
    return False


def _on_alarm(signum: int, frame: Any) -> None:
    now = time.monotonic()
    expired = [f for f in _stack if f.deadline <= now + 1e-3]
    if expired and _in_gc_callback(frame):
        signal.setitimer(signal.ITIMER_REAL, 1e-3)  # raise once the collector is done
        return
    if expired:
        f = expired[0]  # the outermost expired limit: its whole block is over
        # fire again shortly if the error is swallowed and the block goes on
        f.deadline = now + _REFIRE_SECONDS
        _arm()
        raise EffortLimitError(f.what, f.seconds)
    _arm()  # woken early (a timer of another frame): re-arm for the nearest deadline


def _arm() -> None:
    if not _stack:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    nearest = min(f.deadline for f in _stack)
    signal.setitimer(signal.ITIMER_REAL, max(nearest - time.monotonic(), 1e-3))


@contextmanager
def effort_limit(what: str, seconds: float | None = None) -> Iterator[None]:
    """Run the block against a deadline; raise :class:`EffortLimitError` naming ``what``
    ("cannot <what> within the effort limit …") when it passes.

    ``seconds=None`` uses :func:`configured_seconds`; ``math.inf`` (or 0 in the environment)
    switches the limit off for this block (an enclosing limit still applies).
    """
    limit = configured_seconds() if seconds is None else float(seconds)
    if math.isnan(limit) or limit <= 0:
        raise InvalidArgumentError("seconds", seconds, "expected a positive number of seconds")
    if math.isinf(limit) or not _usable():
        yield
        return
    frame = _Frame(what, limit, time.monotonic() + limit)
    previous = signal.getsignal(signal.SIGALRM) if not _stack else None
    if not _stack:
        if previous not in (signal.SIG_DFL, signal.SIG_IGN, None, _on_alarm):
            # somebody else owns SIGALRM: do not take it from them
            yield
            return
        signal.signal(signal.SIGALRM, _on_alarm)
    _stack.append(frame)
    _arm()
    try:
        yield
    finally:
        _stack.remove(frame)
        if _stack:
            _arm()
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
