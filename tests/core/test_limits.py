"""Effort limits (time budgets) and memory limits (estimate before allocating)."""

from __future__ import annotations

import contextlib
import math
import time

import pytest

import vgmath as vg
from vgmath.core.effort import configured_seconds, effort_limit
from vgmath.core.errors import EffortLimitError, ResourceLimitError
from vgmath.core.resources import check_memory, format_bytes, memory_limit, parse_size


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_effort_limit_interrupts_a_long_computation_with_one_clear_error() -> None:
    start = time.monotonic()
    with pytest.raises(EffortLimitError, match="cannot spin within the effort limit"), \
            effort_limit("spin", 0.2):
        _spin(5)
    assert time.monotonic() - start < 1.5


def test_effort_limits_nest_and_an_inner_limit_never_extends_an_outer_one() -> None:
    with pytest.raises(EffortLimitError, match="cannot outer"), effort_limit("outer", 0.2), \
            effort_limit("inner", 10):
        _spin(5)
    with effort_limit("outer", 10):
        with pytest.raises(EffortLimitError, match="cannot inner"), effort_limit("inner", 0.1):
            _spin(5)
        _spin(0.3)  # the outer limit is still armed and has not fired


def test_effort_limit_fires_again_when_the_error_is_swallowed() -> None:
    start = time.monotonic()
    with pytest.raises(EffortLimitError), effort_limit("stubborn", 0.2):
        with contextlib.suppress(Exception):  # a careless broad except must not defeat it
            _spin(5)
        _spin(5)
    assert time.monotonic() - start < 2


def test_effort_limit_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGMATH_EFFORT_SECONDS", "7")
    assert configured_seconds() == 7
    monkeypatch.setenv("VGMATH_EFFORT_SECONDS", "0")
    assert math.isinf(configured_seconds())
    monkeypatch.setenv("VGMATH_EFFORT_SECONDS", "soon")
    with pytest.raises(vg.InvalidArgumentError):
        configured_seconds()


def test_certification_ends_within_the_effort_limit_with_an_estimate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """tanh(tanh(tanh(x))) ran for more than 170 s; now the limit ends it with the numeric
    estimate in the message."""
    monkeypatch.setenv("VGMATH_EFFORT_SECONDS", "1")
    act = vg.activation("tanh(tanh(tanh(x)))")
    start = time.monotonic()
    with pytest.raises(EffortLimitError, match=r"certify the bound of .*numeric estimate"):
        act.derivative_bound()
    assert time.monotonic() - start < 3


def test_uncertifiable_bound_is_one_numerical_error() -> None:
    with pytest.raises(vg.NumericalError, match="x"):
        vg.activation("x+sin(x)").derivative_bound()


@pytest.mark.parametrize("text", ["exp(exp(exp(x)))", "2**2**2**x", "sin(exp(exp(x)))"])
def test_towers_of_exponentials_are_refused_quickly(text: str) -> None:
    start = time.monotonic()
    with pytest.raises(vg.InvalidArgumentError, match="not a finite real"):
        vg.activation(text)
    assert time.monotonic() - start < 3


def test_overflow_inside_saturating_functions_is_repaired_quickly() -> None:
    start = time.monotonic()
    act = vg.activation("tanh(exp(exp(x)))")
    assert act([1e3, 1e300]).tolist() == [1.0, 1.0]
    assert vg.activation("tanh(10**100)*x")([2.0]).tolist() == [2.0]
    assert time.monotonic() - start < 3


def test_sizes_and_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("s", "8G") == 8 * 2**30
    assert parse_size("s", "512MiB") == 512 * 2**20
    assert math.isinf(parse_size("s", "0"))
    with pytest.raises(vg.InvalidArgumentError):
        parse_size("s", "lots")
    monkeypatch.setenv("VGMATH_MAX_MEMORY", "1M")
    assert memory_limit() == 2**20
    assert memory_limit("2M") == 2 * 2**20
    monkeypatch.delenv("VGMATH_MAX_MEMORY")
    assert 0 < memory_limit() < math.inf
    assert format_bytes(7.45 * 2**30) == "7.45 GiB"
    with pytest.raises(ResourceLimitError, match="needs about 2 MiB"):
        check_memory("a test", 2 * 2**20, argument="size", value=1, max_memory="1M")


@pytest.mark.parametrize(
    ("depth", "width", "method", "init"),
    [(10_000, 100_000, "auto", "xavier"), (10_000, 100_000, "dense", "xavier"),
     (1000, 100_000, "dense", "orthogonal"), (10_000, 100_000, "auto", "orthogonal")],
)
def test_simulate_refuses_before_allocating(depth: int, width: int, method: str,
                                            init: str) -> None:
    """These allocated 7.45 GiB, 149 GiB and 74.5 GiB and crashed (the third with dense QR,
    then what ``"auto"`` chose for orthogonal weights); now one error, at once."""
    chain = vg.Chain("tanh", init=init, depth=depth, width=width)
    start = time.monotonic()
    with pytest.raises(ResourceLimitError, match="above the memory limit"):
        vg.simulate(chain, trials=10, seed=0, method=method)
    assert time.monotonic() - start < 2


def test_simulate_memory_limit_is_overridable() -> None:
    chain = vg.Chain("tanh", depth=3, width=4)
    with pytest.raises(ResourceLimitError):
        vg.simulate(chain, trials=10, seed=0, max_memory="1K")
    assert vg.simulate(chain, trials=10, seed=0, max_memory="0").trials == 10


@pytest.mark.parametrize("depth", [10**7, 10**5000], ids=["1e7", "1e5000"])
def test_huge_depths_are_refused_in_one_line(depth: int) -> None:
    with pytest.raises(vg.InvalidArgumentError, match="depth") as info:
        vg.Chain("tanh", depth=depth)
    assert len(str(info.value)) < 200
    with pytest.raises(vg.InvalidArgumentError, match="steps"):
        vg.Recurrent(steps=depth)


def test_exact_depth_profiles_stop_at_their_depth_limit() -> None:
    """predict relu with σ_w² = 3/7 at depth 100,000 built exact profiles for minutes and
    14 GB; beyond MAX_EXACT_DEPTH the profile is float only."""
    from vgmath.theory.profile import MAX_EXACT_DEPTH

    init = {"scheme": "custom", "sigma_w2": "3/7"}
    start = time.monotonic()
    deep = vg.predict(vg.Chain("relu", init=init, depth=100_000, width=10))
    assert deep.exact is None
    assert vg.predict(vg.Chain("relu", init=init, depth=MAX_EXACT_DEPTH, width=10)).exact
    assert time.monotonic() - start < 10


def test_exact_finite_width_ratio_has_an_effort_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGMATH_EFFORT_SECONDS", "0.5")
    start = time.monotonic()
    with pytest.raises(EffortLimitError, match="finite-width ratio"):
        vg.finite_width_moment_ratio(vg.Chain("relu", init="he", depth=100_000, width=100))
    assert time.monotonic() - start < 3


def test_the_limit_is_not_lost_in_a_garbage_collector_callback(monkeypatch) -> None:
    """An alarm that lands inside another library's gc callback (Hypothesis installs one)
    is postponed, not raised there — Python would print it as unraisable and drop it, and
    the block would run on."""
    import gc
    import sys

    lost: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: lost.append(u.exc_value))

    def callback(phase: str, info: dict[str, int]) -> None:
        for _ in range(300):  # a callback that takes a while: alarms land in it often
            pass

    threshold = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(50)
    start = time.monotonic()
    try:
        with pytest.raises(EffortLimitError), effort_limit("allocate", 0.05):
            while time.monotonic() - start < 5:
                [[] for _ in range(100)]
    finally:
        gc.callbacks.remove(callback)
        gc.set_threshold(*threshold)
    assert time.monotonic() - start < 1
    assert not [e for e in lost if isinstance(e, EffortLimitError)]


def test_an_expired_alarm_inside_a_gc_callback_waits_for_the_collector() -> None:
    """Deterministic half of the test above: the handler, called with a gc callback's frame
    and an expired deadline, re-arms instead of raising; with any other frame it raises."""
    import gc
    import signal

    from vgmath.core import effort

    def callback(phase: str, info: dict[str, int]) -> None:
        pass

    class Frame:
        def __init__(self, code: object, back: object = None) -> None:
            self.f_code = code
            self.f_back = back

    class Finalised:
        def __del__(self) -> None:
            pass

    gc.callbacks.append(callback)
    try:
        with effort_limit("wait", 30):
            effort._stack[-1].deadline = time.monotonic() - 1  # expired
            effort._on_alarm(signal.SIGALRM, Frame(callback.__code__))  # no raise
            # nor in a finaliser, or in a function a finaliser called
            inner = Frame(test_uncertifiable_bound_is_one_numerical_error.__code__,
                          Frame(Finalised.__del__.__code__))
            effort._on_alarm(signal.SIGALRM, inner)
            assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.01  # fires again soon
            with pytest.raises(EffortLimitError):
                other = Frame(test_uncertifiable_bound_is_one_numerical_error.__code__)
                effort._on_alarm(signal.SIGALRM, other)
    finally:
        gc.callbacks.remove(callback)
