"""The grid of a sweep: its keys, coercion of values to network descriptions, labels and the
per-configuration seeds (the same configuration gets the same seed in any grid order).
"""

from __future__ import annotations

import difflib
import itertools
import math
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError
from ..network.description import Chain, Residual
from ..network.init import Init, as_init
from ..symbolic.catalog import Activation, as_activation
from ..symbolic.parse import to_sympy_number

FloatArray = np.ndarray

#: Grid keys in canonical order (the first varies slowest).
GRID_KEYS = ("arch", "activation", "init", "sigma_w2", "depth", "width", "sigma_b2", "input_q")

#: Named architectures of the ``arch`` grid key.
ARCHITECTURES: dict[str, Residual | None] = {
    "chain": None,
    "resnet": Residual(),
    "resnet_pre": Residual(variant="pre"),
}

#: Parameter columns of every row, in order (exact values as text in the ``*_exact`` ones).
PARAMETER_COLUMNS = (
    "arch", "activation", "init", "depth", "width", "sigma_w2", "sigma_b2", "input_q",
    "sigma_w2_exact", "sigma_b2_exact", "input_q_exact",
)
#: Per-configuration Monte Carlo scalars (repeated on each of the configuration's rows).
SIM_SCALARS = (
    "grad_moment_ratio", "grad_moment_ratio_se", "forward_moment_ratio", "forward_moment_ratio_se",
)
_INT_COLUMNS = frozenset({"config", "depth", "layer", "seed"})
_TEXT_COLUMNS = frozenset(
    {"arch", "activation", "init", "sigma_w2_exact", "sigma_b2_exact", "input_q_exact"}
)
_FORMAT = 1
_LN10 = math.log(10.0)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(name, value, "expected a positive integer")
    return int(value)


def _values(key: str, value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        values = list(value)
    elif isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        values = [value]
    else:
        values = list(value)
    if not values:
        raise InvalidArgumentError(f"grid[{key!r}]", value, "has no values (the grid is empty)")
    return values


def _coerce(key: str, value: Any) -> Any:
    """One grid value, validated and converted (errors name the grid key)."""
    arg = f"grid[{key!r}]"
    try:
        if key == "arch":
            if value is None:
                return None
            if isinstance(value, Residual):
                return value
            if isinstance(value, dict):
                return Residual(**value)
            if isinstance(value, str) and value.lower() in ARCHITECTURES:
                return ARCHITECTURES[value.lower()]
            raise InvalidArgumentError(
                arg, value,
                f"expected one of {', '.join(ARCHITECTURES)} or a vgmath.Residual",
            )
        if key == "activation":
            return as_activation(value, arg)
        if key == "init":
            return as_init(value, arg)
        if key == "sigma_w2":
            return Init.custom(value)
        if key == "depth":
            return _positive_int(arg, value)
        if key == "width":
            if isinstance(value, (list, tuple)):
                return tuple(_positive_int(arg, w) for w in value)
            return _positive_int(arg, value)
        number = to_sympy_number(arg, value)
        if key == "sigma_b2" and number.is_negative:
            raise InvalidArgumentError(arg, value, "must be >= 0")
        if key == "input_q" and not number.is_positive:
            raise InvalidArgumentError(arg, value, "must be > 0")
        return number
    except InvalidArgumentError as err:
        if err.argument == arg:
            raise
        raise InvalidArgumentError(arg, value, err.reason) from None
    except TypeError as err:  # Residual(**dict) with unknown keys
        raise InvalidArgumentError(arg, value, str(err)) from None


def _label(key: str, value: Any) -> Any:
    """Plain-data form of a coerced grid value (for the metadata)."""
    if key == "arch":
        return _arch_label(value)
    if key == "activation":
        return value.label
    if key in ("init", "sigma_w2"):
        return str(value) if key == "init" else str(value.scale)
    if key == "width":
        return list(value) if isinstance(value, tuple) else value
    if key == "depth":
        return value
    return str(value)


def _arch_label(residual: Residual | None) -> str:
    for name, res in ARCHITECTURES.items():
        if res == residual:
            return name
    assert residual is not None
    return (f"resnet(alpha={residual.alpha}, branch_depth={residual.branch_depth}, "
            f"variant={residual.variant})")


def _configurations(grid: Any) -> tuple[list[Chain], dict[str, Any] | str]:
    """The chains of a grid in canonical order, and a plain-data description of the grid."""
    if isinstance(grid, Mapping):
        if not grid:
            raise InvalidArgumentError("grid", grid, "the grid is empty")
        unknown = [k for k in grid if k not in GRID_KEYS]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), GRID_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidArgumentError(
                "grid", unknown[0], f"unknown grid key{hint}; known keys: " + ", ".join(GRID_KEYS)
            )
        if "init" in grid and "sigma_w2" in grid:
            raise InvalidArgumentError(
                "grid", ["init", "sigma_w2"],
                "give either 'init' or 'sigma_w2' (which means Init.custom(sigma_w2)), not both",
            )
        if "activation" not in grid:
            raise InvalidArgumentError("grid", dict(grid), "the grid needs an 'activation' key")
        keys = [k for k in GRID_KEYS if k in grid]
        axes = [[_coerce(k, v) for v in _values(k, grid[k])] for k in keys]
        description = {k: [_label(k, v) for v in axis] for k, axis in zip(keys, axes, strict=True)}
        chains = []
        for combo in itertools.product(*axes):
            values = dict(zip(keys, combo, strict=True))
            kwargs: dict[str, Any] = {"activation": values["activation"]}
            if "arch" in values:
                kwargs["residual"] = values["arch"]
            if "init" in values:
                kwargs["init"] = values["init"]
            if "sigma_w2" in values:
                kwargs["init"] = values["sigma_w2"]
            for k in ("depth", "width", "sigma_b2", "input_q"):
                if k in values:
                    kwargs[k] = values[k]
            try:
                chains.append(Chain(**kwargs))
            except InvalidArgumentError as err:
                shown = {k: _label(k, v) for k, v in values.items()}
                raise InvalidArgumentError(
                    "grid", shown, f"configuration {len(chains)} is not a valid chain: {err}"
                ) from None
        return chains, description
    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence):
        raise InvalidArgumentError(
            "grid", grid, "expected a dict of lists (keys: " + ", ".join(GRID_KEYS)
            + ") or a list of vgmath.Chain objects",
        )
    if not grid:
        raise InvalidArgumentError("grid", grid, "the grid is empty")
    for i, c in enumerate(grid):
        if not isinstance(c, Chain):
            raise InvalidArgumentError(f"grid[{i}]", c, "expected a vgmath.Chain")
    return list(grid), "explicit list of chains"


def configuration_seed(seed: int, index: int) -> int:
    """The Monte Carlo seed of configuration ``index`` of a sweep with ``seed``: the
    ``index``-th child of ``SeedSequence(seed)`` reduced to 63 bits (see the module
    docstring)."""
    child = np.random.SeedSequence(seed, spawn_key=(index,))
    return int(child.generate_state(1, np.uint64)[0]) >> 1


def chain_parameters(chain: Chain) -> dict[str, Any]:
    """Plain-data parameters of a chain, as in the parameter columns of the rows."""
    sws = set(chain.sigma_w2s)
    sw_exact = str(next(iter(sws))) if len(sws) == 1 else None
    ws = chain.widths
    return {
        "arch": _arch_label(chain.residual),
        "activation": chain.act.label,
        "init": str(chain.rule),
        "depth": chain.depth,
        "width": ws[0] if len(set(ws)) == 1 else list(ws),
        "sigma_w2": float(next(iter(sws))) if sw_exact is not None else math.nan,
        "sigma_b2": float(chain.sigma_b2),
        "input_q": float(chain.input_q),
        "sigma_w2_exact": sw_exact,
        "sigma_b2_exact": str(chain.sigma_b2),
        "input_q_exact": str(chain.input_q),
    }


def _activation_key(act: Activation) -> tuple[Any, ...]:
    return (act.name, act.source, tuple(sorted((k, str(v)) for k, v in act.params.items())))


def _check_picklable(chains: Sequence[Chain]) -> None:
    """Every distinct activation and init must survive a pickle round trip unchanged (what a
    process pool or a Dask cluster does to them)."""
    seen: set[Any] = set()
    for chain in chains:
        for what, obj in (("activation", chain.act), ("init", chain.rule)):
            key = (what, _activation_key(obj) if what == "activation" else obj)
            if key in seen:
                continue
            seen.add(key)
            try:
                back = pickle.loads(pickle.dumps(obj))
            except Exception as err:  # any failure means it cannot reach a worker
                raise InvalidArgumentError(
                    what, str(obj), f"cannot be sent to worker processes ({type(err).__name__}: "
                    f"{err})",
                ) from None
            same = (
                back == obj if what == "init"
                else (back.expr == obj.expr and dict(back.params) == dict(obj.params))
            )
            if not same:
                raise InvalidArgumentError(
                    what, str(obj), "changes when pickled, so workers would run another network"
                )
