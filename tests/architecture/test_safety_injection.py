"""No user string is ever evaluated: the public API is walked with code-injection strings.

Every exported function and constructor, and the public methods of the objects they return,
is called with an injection string in each of its parameters in turn (the other parameters
get small valid values). The strings would create a file or set a flag if anything handed
them to ``eval``/``sympify``; the test asserts that nothing ran. Errors are expected (most
calls refuse the string); only the side effect matters.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sympy as sp

import vgmath as vg

_FLAG = "_VGMATH_INJECTED"
INJECTIONS = (
    "__import__('os').system('touch PWN') or 1",
    "__import__('pathlib').Path('PWN2').touch() or 1",
    f"setattr(__import__('builtins'), '{_FLAG}', 1) or 1",
    f"exec(\"import builtins; builtins.{_FLAG} = 1\") or 1",
    "open('PWN3', 'w') and 1",
    "(lambda: __import__('os').system('touch PWN4'))() or 1",
    "Symbol('x').__class__.__base__.__subclasses__() and 1",
)

# parameters whose value is a path, an executor or a flag that would start heavy work
_SKIP = {
    ("report", "out"), ("dask_executor", "address"), ("sweep", "executor"),
    ("report", "progress"), ("sweep", "progress"), ("sweep", "predict"), ("sweep", "simulate"),
}
#: the whole API is walked with these (each walk takes about two seconds); the other strings
#: go through the entry points the issue reported
WALKED = (INJECTIONS[0], " or ".join(s.removesuffix(" or 1").removesuffix(" and 1")
                                     for s in INJECTIONS[1:]) + " or 1")
# result records (built by vgmath, not from user input) are not walked
_RECORDS = {
    "DerivativeBound", "SaturationRegion", "ChainBound", "GaussianResult", "Prediction",
    "CriticalPoint", "ExactProfile", "FixedPoint", "GainRow", "Simulation",
    "PreactivationProfile", "ClipReport", "SweepResult", "SweepEntry", "Verification",
    "BoundVerification", "GradientBoundVerification", "Report", "SerialExecutor",
    "Activation",
}


def _chain() -> vg.Chain:
    return vg.Chain("tanh", init="xavier", depth=2, width=3)


def _required(name: str, param: str) -> Any:
    table: dict[str, Callable[[], Any]] = {
        "chain": _chain,
        "activation": lambda: "tanh",
        "name_or_expression": lambda: "tanh",
        "scheme": lambda: "xavier",
        "f": lambda: vg.activation("tanh").derivative,
        "q": lambda: 1,
        "order": lambda: 2,
        "sigma_w2": lambda: 1,
        "sigma_b2_values": lambda: [0],
        "grads": lambda: [[1.0, 2.0]],
        "clip_norm": lambda: 1,
        "c": lambda: 1,
        "sim": lambda: vg.simulate(_chain(), trials=2, seed=0),
        "grid": lambda: [_chain()],
        "name": lambda: "custom",
        "scale": lambda: 1,
        "out": lambda: "unused-report-folder",
    }
    return table[param]()


def _calls() -> Iterator[tuple[str, Callable[..., Any], inspect.Signature]]:
    for name in vg._EXPORTS:
        obj = getattr(vg, name)
        if not callable(obj) or name in _RECORDS:
            continue
        if isinstance(obj, type) and issubclass(obj, BaseException):
            continue
        yield name, obj, inspect.signature(obj)
    instances: dict[str, Any] = {
        "Activation": vg.activation("tanh"),
        "Init": vg.Init.preset("xavier"),
        "SaturationRegion": vg.activation("tanh").saturation_region(),
        "Chain": _chain(),
    }
    for cls_name, inst in instances.items():
        for meth in dir(inst):
            if meth.startswith("_") or meth in ("replace", "sample"):
                continue
            fn = getattr(inst, meth)
            if inspect.ismethod(fn):
                yield f"{cls_name}.{meth}", fn, inspect.signature(fn)
    yield "Init.preset", vg.Init.preset, inspect.signature(vg.Init.preset)
    yield "Init.custom", vg.Init.custom, inspect.signature(vg.Init.custom)


def _cases() -> list[tuple[str, Callable[..., Any], str | None, dict[str, Any], list[str]]]:
    out = []
    for name, fn, sig in _calls():
        params = [p for p in sig.parameters.values() if p.name != "self"]
        required = [p.name for p in params if p.default is inspect.Parameter.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        targets = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if any(p.kind is p.VAR_KEYWORD for p in params):
            targets.append("**")
        for target in targets:
            if (name, target) in _SKIP:
                continue
            out.append((name, fn, target, {}, required))
    return out


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout


def _call(name: str, fn: Callable[..., Any], target: str, required: list[str], text: str) -> None:
    base = name.split(".")[-1]
    kwargs: dict[str, Any] = {}
    for r in required:
        if r != target:
            kwargs[r] = _required(base, r)
    positional = []
    if target == "**":
        # free keyword options: activation parameters, init options
        if base == "activation":
            positional = ["a*x + tanh(x)"]
            kwargs.pop("name_or_expression", None)
            _quiet(fn, *positional, **kwargs, a=text)
            _quiet(fn, "leaky_relu", slope=text)
            return
        for key, scheme in (("gain", "he"), ("negative_slope", "he"), ("sigma_w2", "custom")):
            kw = dict(kwargs)
            if "scheme" in kw:
                kw["scheme"] = scheme
            _quiet(fn, *positional, **kw, **{key: text})
        return
    kwargs[target] = text
    fn(*positional, **kwargs)


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(Exception):  # refusals are expected; only side effects matter
        fn(*args, **kwargs)


@pytest.mark.parametrize("text", WALKED)
def test_public_api_never_evaluates_strings(text: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = signal.signal(signal.SIGALRM, _alarm)
    called = 0
    try:
        for name, fn, target, _, required in _cases():
            signal.alarm(20)
            try:
                _call(name, fn, target or "", required, text)
            except _Timeout:
                pytest.fail(f"{name}({target}=...) ran for more than 20 s")
            except Exception:  # refusals are expected; only side effects matter
                pass
            finally:
                signal.alarm(0)
            called += 1
            leaked = sorted(p.name for p in tmp_path.iterdir())
            assert not leaked, f"{name}({target}=...) executed the string: created {leaked}"
            assert not hasattr(builtins, _FLAG), f"{name}({target}=...) executed the string"
    finally:
        signal.signal(signal.SIGALRM, old)
    assert called > 100  # the walk really covered the API


@pytest.mark.parametrize("text", INJECTIONS)
def test_reported_injection_points_refuse_the_string(text: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(vg.InvalidArgumentError):
        vg.init_variance("xavier", fan_in=text)
    with pytest.raises(vg.InvalidArgumentError):
        vg.Init(name="custom", scale=text)
    with pytest.raises(vg.InvalidArgumentError):
        vg.Init.preset("xavier").fan(text, 2)
    with pytest.raises(vg.InvalidArgumentError):
        vg.Init.preset("xavier").variance(text, 2)
    with pytest.raises(vg.InvalidArgumentError):
        vg.activation("tanh").saturation_region().contains(text)
    assert not list(tmp_path.iterdir())
    assert not hasattr(builtins, _FLAG)


def test_number_strings_still_work() -> None:
    assert vg.init_variance("xavier", fan_in="3", fan_out=5) == sp.Rational(1, 4)
    assert vg.Init(name="custom", scale="2").scale == 2
    assert vg.Init.preset("he").variance("4", 4) == sp.Rational(1, 2)
    assert vg.activation("tanh").saturation_region().contains("100")
    assert not vg.activation("tanh").saturation_region().contains("1/2")
