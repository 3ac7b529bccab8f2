"""Sweeps: theory and Monte Carlo over a grid of networks, on any ``concurrent.futures`` executor.

``vg.sweep(grid, trials=200, seed=0)`` builds every configuration of a grid of
:class:`vgmath.Chain` parameters, runs :func:`vgmath.predict` and/or :func:`vgmath.simulate` on
each, and collects the per-layer profiles in a :class:`SweepResult` that exports a tidy table::

    >>> import vgmath as vg
    >>> grid = {"activation": ["tanh", "relu"], "init": ["xavier", "he"],
    ...         "depth": [3], "width": [8]}
    >>> res = vg.sweep(grid, trials=16, seed=0, executor="serial")
    >>> len(res), res[3].parameters["activation"], res[3].parameters["init"]
    (4, 'relu', 'he')
    >>> float(res[3].prediction["grad_second_moment"][0])   # ReLU + He: χ = 1 exactly
    1.0
    >>> res.save("sweep.csv")                                 # doctest: +SKIP
    >>> df = pandas.DataFrame(res.rows())                     # doctest: +SKIP
    >>> df = pandas.read_csv("sweep.csv", comment="#")        # the same table  # doctest: +SKIP

The grid
--------
A dict of lists over the keys of :data:`GRID_KEYS`; its configurations are the Cartesian
product in the **canonical order** of :data:`GRID_KEYS` (``arch`` slowest, ``input_q``
fastest; values in the order given), whatever the order of the dict's keys:

=============  =================================================================================
key            values
=============  =================================================================================
``arch``       ``"chain"`` (plain), ``"resnet"`` (x_l = x_{l-1} + φ(W x_{l-1} + b)),
               ``"resnet_pre"`` (pre-activation blocks), or :class:`vgmath.Residual` objects
``activation`` catalog names, expressions in x, or :class:`vgmath.Activation` objects (required)
``init``       scheme names, ``{"scheme": ..., **options}`` dicts or :class:`vgmath.Init`
``sigma_w2``   mean-field σ_w² values, each meaning ``Init.custom(sigma_w2)`` (not with ``init``)
``depth``      positive integers L
``width``      positive integers, or sequences n_0..n_L
``sigma_b2``   bias variances σ_b² ≥ 0
``input_q``    input second moments ‖x⁰‖²/n_0 > 0
=============  =================================================================================

Keys left out take the :class:`vgmath.Chain` defaults (``arch="chain"``, ``init="he"``,
``depth=10``, ``width=100``, ``sigma_b2=0``, ``input_q=1``). A grid may instead be a list of
:class:`vgmath.Chain` objects, run in the order given.

Reproducibility
---------------
Configuration i (its index in the canonical order) simulates with the seed

.. math::  s_i = \\big\\lfloor \\text{SeedSequence}(\\text{seed}, \\text{spawn\\_key}=(i,))
           .\\text{generate\\_state}(1, \\text{uint64})_0 / 2 \\big\\rfloor,

i.e. the i-th child of ``SeedSequence(seed).spawn(...)`` reduced to a 63-bit integer (so it
fits every int64 column), and ``vg.simulate(chain_i, trials=trials, seed=s_i)`` seeds its own
blocks from s_i. Seeds depend only on ``seed`` and i — never on the executor, the number of
workers, ``chunk_size`` or the order in which configurations complete — and the theory has
no randomness at all, so every executor returns bit-for-bit the arrays of a serial run
(SeedSequence: O'Neill 2014, PCG, HMC-CS-2014-0905; NumPy's "Parallel random number
generation" guide).

Executors
---------
``executor=None`` (or ``"processes"``) is a process pool (spawn start method) of
``workers`` (default ``os.cpu_count()``) processes; ``"threads"`` a thread pool;
``"serial"`` runs in the calling thread (:class:`SerialExecutor`); any
``concurrent.futures.Executor`` may be passed, including Dask's
``distributed.Client.get_executor()`` — or the ``distributed.Client`` itself. Work is sent
in chunks of ``chunk_size`` configurations (module-level functions and plain data, so it
pickles; activations pickle through their catalog name or expression text, which is checked
before anything runs). :func:`dask_executor` starts a Dask ``LocalCluster`` (or connects to a
scheduler) and needs the optional extra ``vgmath[dask]``.

Output
------
:meth:`SweepResult.rows` is a tidy long table, one row per configuration × layer: the
configuration's parameters (floats, with exact values in ``*_exact`` text columns), its
``seed``, ``layer``, the theory's fields as ``theory_<name>`` and the Monte Carlo estimates
as ``sim_<name>`` and ``sim_<name>_se`` (names as in :mod:`vgmath.theory.predict` and
:mod:`vgmath.montecarlo.simulate`; NaN where a quantity does not exist).
``rows(level="config")`` has
one summary row per configuration. :meth:`SweepResult.save` writes JSON or CSV atomically;
:meth:`SweepResult.load` reads either back. JSON keeps everything (chain descriptions and the
theory's notes too; NaN is ``null``, ±∞ the strings ``"inf"``/``"-inf"``); the CSV is exactly
the tidy table, with the metadata on leading ``#`` lines (``pandas.read_csv(path,
comment="#")``). Floats are written with ``repr`` so both round-trip exactly.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import itertools
import json
import math
import os
import pickle
import platform
import queue
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, OptionalDependencyError, SweepError, _describe
from ..core.io import save_by_extension, text_or_file
from ..core.progress import progress as _progress
from ..network.description import Chain, Residual
from ..network.init import Init, as_init
from ..symbolic.activation import Activation, as_activation
from ..symbolic.parse import to_sympy_number

__all__ = [
    "ARCHITECTURES",
    "GRID_KEYS",
    "PARAMETER_COLUMNS",
    "SIM_SCALARS",
    "THEORY_FIELDS",
    "OptionalDependencyError",
    "SerialExecutor",
    "SweepEntry",
    "SweepError",
    "SweepResult",
    "chain_parameters",
    "configuration_seed",
    "dask_executor",
    "sweep",
]

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


# --------------------------------------------------------------------------- errors


# --------------------------------------------------------------------------- executors


class SerialExecutor(Executor):
    """A ``concurrent.futures.Executor`` that runs each call at submission, in the calling
    thread (the reference every other executor must agree with)."""

    def __init__(self) -> None:
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        fut: Future[Any] = Future()
        fut.set_running_or_notify_cancel()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as err:  # delivered through the future, as every executor does
            fut.set_exception(err)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        raise OptionalDependencyError(
            "Dask support needs the optional extra 'dask': pip install 'vgmath[dask]' "
            f"(importing dask.distributed failed: {err})"
        ) from None
    return distributed


@contextlib.contextmanager
def dask_executor(
    address: str | None = None, *, workers: int | None = None, processes: bool = True
) -> Iterator[Executor]:
    """A Dask ``concurrent.futures`` executor for :func:`sweep`, closed on exit.

    With ``address`` (``"tcp://host:8786"``) it connects to a running scheduler; without, it
    starts a ``LocalCluster`` of ``workers`` single-threaded workers (default
    ``os.cpu_count()``), as processes or, with ``processes=False``, as threads of this
    process. Needs the optional extra ``vgmath[dask]``.

    >>> with vg.dask_executor(workers=2) as ex:                # doctest: +SKIP
    ...     res = vg.sweep(grid, trials=100, seed=0, executor=ex)
    """
    distributed = _import_distributed()
    cluster: Any = None
    if address is not None:
        if workers is not None:
            raise InvalidArgumentError(
                "workers", workers, "the scheduler at address decides its workers"
            )
        try:
            client = distributed.Client(address)
        except (OSError, TimeoutError) as err:
            raise InvalidArgumentError(
                "address", address,
                f"cannot reach a Dask scheduler there ({type(err).__name__}: {err})",
            ) from None
    else:
        n = _positive_int("workers", workers) if workers is not None else (os.cpu_count() or 1)
        cluster = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=processes, dashboard_address=None
        )
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "distributed" and hasattr(obj, "get_executor")


@dataclass
class _Runner:
    executor: Executor
    owned: bool
    label: str
    parallelism: int | None  # None: unknown (the executor queues the work itself)


def _parallelism(workers: int | None, kind: str) -> int:
    if kind == "serial":
        if workers is not None:
            raise InvalidArgumentError("workers", workers, "the serial executor has no workers")
        return 1
    if workers is not None:
        return _positive_int("workers", workers)
    return os.cpu_count() or 1


def _plan_executor(executor: Any, workers: int | None) -> tuple[str, int | None, Any]:
    """(kind, parallelism, object) for the executor argument; nothing is started yet."""
    if executor is None or isinstance(executor, str):
        kind = "processes" if executor is None else executor
        if kind not in ("processes", "threads", "serial"):
            raise InvalidArgumentError(
                "executor", executor,
                "expected 'processes', 'threads', 'serial', a concurrent.futures.Executor "
                "or a dask.distributed Client",
            )
        return kind, _parallelism(workers, kind), None
    if workers is not None:
        raise InvalidArgumentError(
            "workers", workers, "workers sizes the executors vgmath starts, not a given one"
        )
    if _is_dask_client(executor):
        try:
            n = int(sum(executor.nthreads().values()))
        except Exception:  # a client that cannot report its workers: let Dask queue
            n = 0
        return "dask", (n if n > 0 else None), executor
    if isinstance(executor, Executor):
        if isinstance(executor, SerialExecutor):
            return "given", 1, executor
        n = getattr(executor, "_max_workers", None)
        return "given", (n if isinstance(n, int) and n > 0 else None), executor
    raise InvalidArgumentError(
        "executor", executor,
        "expected 'processes', 'threads', 'serial', a concurrent.futures.Executor or a "
        "dask.distributed Client",
    )


def _start_executor(kind: str, parallelism: int | None, obj: Any, n_tasks: int) -> _Runner:
    n = max(1, min(parallelism or 1, n_tasks))
    if kind == "processes":
        pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"))
        return _Runner(pool, True, f"processes({n})", parallelism)
    if kind == "threads":
        return _Runner(ThreadPoolExecutor(max_workers=n), True, f"threads({n})", parallelism)
    if kind == "serial":
        return _Runner(SerialExecutor(), True, "serial", 1)
    if kind == "dask":
        return _Runner(obj.get_executor(pure=False), False, "dask", parallelism)
    kind_name = type(obj)
    return _Runner(obj, False, f"{kind_name.__module__.split('.')[0]}.{kind_name.__name__}",
                   parallelism)


# --------------------------------------------------------------------------- the grid


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


# --------------------------------------------------------------------------- the work


@dataclass(frozen=True)
class _Options:
    trials: int
    predict: bool
    simulate: bool
    method: str
    dtype: str


#: theory fields kept per configuration (plus the prediction's ``extras``)
THEORY_FIELDS = (
    "q", "chi", "grad_second_moment", "grad_preact_second_moment", "grad_weight_second_moment",
    "sigma_w2", "mean_log_chi", "log_grad_second_moment",
)


def _run_one(chain: Chain, seed: int, options: _Options) -> dict[str, Any]:
    from ..theory.predict import predict
    from .simulate import simulate

    out: dict[str, Any] = {"prediction": None, "prediction_info": None,
                           "simulation": None, "simulation_info": None}
    if options.predict:
        p = predict(chain)
        fields = {name: np.array(getattr(p, name), dtype=np.float64) for name in THEORY_FIELDS}
        for name in sorted(p.extras):
            fields[name] = np.array(p.extras[name], dtype=np.float64)
        out["prediction"] = fields
        out["prediction_info"] = {
            "method": p.method,
            "converged_at": p.converged_at,
            "notes": list(p.notes),
            "formula": None if p.formula is None else str(p.formula),
        }
    if options.simulate:
        s = simulate(chain, trials=options.trials, seed=seed, method=options.method,
                     dtype=options.dtype)
        out["simulation"] = {k: np.array(v, dtype=np.float64) for k, v in s.fields.items()}
        out["simulation_info"] = {
            "method": s.method,
            "dtype": s.dtype,
            "block_size": s.block_size,
            **{k: float(getattr(s, k)) for k in SIM_SCALARS},
        }
    return out


def _run_chunk(
    tasks: Sequence[tuple[int, Chain, int]], options: _Options
) -> list[tuple[int, str, Any]]:
    """Run configurations in order (the unit of work sent to an executor). A failure is
    returned as plain data (its type name, message and traceback text) and ends the chunk:
    exceptions need not pickle, and the caller names the configuration."""
    out: list[tuple[int, str, Any]] = []
    for index, chain, seed in tasks:
        try:
            out.append((index, "ok", _run_one(chain, seed, options)))
        except Exception as err:  # reported by the caller as a SweepError
            out.append((index, "error", (type(err).__name__, str(err), traceback.format_exc())))
            break
    return out


def sweep(
    grid: Mapping[str, Any] | Sequence[Chain],
    *,
    trials: int = 200,
    seed: int | None = None,
    executor: Any = None,
    workers: int | None = None,
    progress: bool = False,
    predict: bool = True,
    simulate: bool = True,
    method: str = "auto",
    dtype: Any = "float64",
    chunk_size: int | None = None,
) -> SweepResult:
    """Predict and/or simulate every configuration of a grid of networks.

    Parameters
    ----------
    grid
        A dict of lists over :data:`GRID_KEYS` (Cartesian product in canonical order) or a
        list of :class:`vgmath.Chain` objects; see the module docstring.
    trials, method, dtype
        Passed to :func:`vgmath.simulate` for every configuration.
    seed
        Non-negative integer; configuration i simulates with :func:`configuration_seed`
        (seed, i). ``None`` draws fresh entropy (recorded in the result).
    executor
        ``None``/``"processes"`` (process pool, the default), ``"threads"``, ``"serial"``,
        any ``concurrent.futures.Executor`` (e.g. Dask's ``client.get_executor()``) or a
        ``distributed.Client``. Results do not depend on it.
    workers
        Size of the pool vgmath starts (default ``os.cpu_count()``); not with a given executor.
    progress
        A progress bar on stderr counting completed configurations.
    predict, simulate
        Which engines to run (at least one).
    chunk_size
        Configurations per unit of work (default: about four units per worker, or one when
        the executor's size is unknown). Does not change the results.

    Returns
    -------
    SweepResult
        Entries in grid order; ``rows()`` gives the tidy table, ``save`` JSON or CSV.

    Raises
    ------
    InvalidArgumentError
        An empty grid, an unknown key, a bad value (named by its grid key), a configuration
        that is not a valid chain or that the simulator cannot run (named by its parameters).
    SweepError
        A configuration failed while running (its index and parameters in the message).
    """
    chains, description = _configurations(grid)
    n_trials = _positive_int("trials", trials)
    if not (predict or simulate):
        raise InvalidArgumentError("predict, simulate", (predict, simulate),
                                   "nothing to do: enable predict or simulate")
    if seed is None:
        seed_value = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InvalidArgumentError("seed", seed, "expected a non-negative integer")
        seed_value = int(seed)
    from .simulate import _resolve_dtype

    dt = _resolve_dtype(dtype).name
    options = _Options(n_trials, bool(predict), bool(simulate), method, dt)
    params = [chain_parameters(c) for c in chains]
    if simulate:
        _check_simulable(chains, params, method, dt)
    _check_picklable(chains)
    kind, parallelism, obj = _plan_executor(executor, workers)
    n = len(chains)
    if chunk_size is None:
        # about four chunks per worker balances the load; one per chunk when the size is unknown
        workers_known = parallelism or 1
        size = 1 if workers_known == 1 else max(1, math.ceil(n / (4 * workers_known)))
    else:
        size = _positive_int("chunk_size", chunk_size)
    seeds = [configuration_seed(seed_value, i) for i in range(n)]
    tasks = [(i, chains[i], seeds[i]) for i in range(n)]
    chunks = [tasks[i : i + size] for i in range(0, n, size)]

    results: list[dict[str, Any] | None] = [None] * n
    t0 = time.perf_counter()
    runner = _start_executor(kind, parallelism, obj, len(chunks))
    # at most two chunks per worker in flight (all of them when the size is unknown)
    window = len(chunks) if runner.parallelism is None else 2 * runner.parallelism
    pending: dict[Future[Any], int] = {}
    finished: queue.SimpleQueue[Future[Any]] = queue.SimpleQueue()
    upcoming = iter(range(len(chunks)))

    def fill() -> None:
        while len(pending) < window:
            k = next(upcoming, None)
            if k is None:
                return
            fut = runner.executor.submit(_run_chunk, chunks[k], options)
            pending[fut] = k
            fut.add_done_callback(finished.put)

    try:
        with _progress(n, enabled=progress, desc="sweep", unit="config") as bar:
            fill()
            while pending:
                fut = finished.get()
                k = pending.pop(fut)
                try:
                    outcomes = fut.result()
                except (Exception, CancelledError) as err:  # the executor could not run it
                    i = chunks[k][0][0]
                    raise SweepError(i, n, params[i], type(err).__name__, str(err)) from None
                for i, status, payload in outcomes:
                    if status == "error":
                        error_type, reason, details = payload
                        raise SweepError(i, n, params[i], error_type, reason, details)
                    results[i] = payload
                    bar.update(1)
                fill()
    finally:
        for fut in pending:
            fut.cancel()
        if runner.owned:
            runner.executor.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - t0

    from ..core.version import __version__

    metadata: dict[str, Any] = {
        "kind": "vgmath.sweep",
        "format": _FORMAT,
        "configurations": n,
        "grid": description,
        "seed": seed_value,
        "trials": n_trials if simulate else None,
        "predict": bool(predict),
        "simulate": bool(simulate),
        "method": method if simulate else None,
        "dtype": dt if simulate else None,
        "seeding": "configuration i: vg.simulate(chain_i, seed=SeedSequence(seed, "
        "spawn_key=(i,)).generate_state(1, uint64)[0] >> 1)",
        "executor": runner.label,
        "elapsed_seconds": elapsed,
        "versions": {"vgmath": __version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }
    entries = []
    for i, payload in enumerate(results):
        assert payload is not None
        entries.append(SweepEntry(
            index=i, parameters=params[i], seed=seeds[i], chain=chains[i],
            description=chains[i].to_dict(),
            prediction=_freeze(payload["prediction"]),
            prediction_info=payload["prediction_info"],
            simulation=_freeze(payload["simulation"]),
            simulation_info=payload["simulation_info"],
        ))
    return SweepResult(metadata=metadata, entries=tuple(entries))


def _check_simulable(
    chains: Sequence[Chain], params: Sequence[Mapping[str, Any]], method: str, dtype: str
) -> None:
    """Build each configuration's Monte Carlo kernel once up front, so that a configuration
    the simulator cannot run is reported before any work starts."""
    from .kernel import METHODS
    from .kernels import make_kernel
    from .simulate import resolve_method

    if method not in METHODS:
        raise InvalidArgumentError("method", method, f"expected one of {', '.join(METHODS)}")
    for i, chain in enumerate(chains):
        try:
            make_kernel(chain, method=resolve_method(chain, method), dtype=np.dtype(dtype))
        except InvalidArgumentError as err:
            raise InvalidArgumentError(
                "grid", _describe(params[i]),
                f"configuration {i} cannot be simulated: {err}",
            ) from None


def _freeze(fields: Mapping[str, FloatArray] | None) -> Mapping[str, FloatArray] | None:
    if fields is None:
        return None
    out = {}
    for k, v in fields.items():
        a = np.array(v, dtype=np.float64)
        # one NaN bit pattern (NumPy may produce -NaN): results then round-trip bit for bit
        a[np.isnan(a)] = np.nan
        a.flags.writeable = False
        out[k] = a
    return out


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class SweepEntry:
    """One configuration of a sweep.

    ``parameters``: plain-data parameters (the rows' parameter columns); ``seed``: its Monte
    Carlo seed; ``chain``: the :class:`vgmath.Chain` (None when loaded from a file);
    ``description``: ``chain.to_dict()`` (None when loaded from CSV); ``prediction`` and
    ``simulation``: per-layer float64 arrays (length L + 1) by field name, or None when that
    engine did not run; ``prediction_info`` (method, converged_at, notes, formula) and
    ``simulation_info`` (method, dtype, block_size and the moment ratios of
    :class:`vgmath.Simulation`).
    """

    index: int
    parameters: Mapping[str, Any]
    seed: int
    chain: Chain | None
    description: Mapping[str, Any] | None
    prediction: Mapping[str, FloatArray] | None
    prediction_info: Mapping[str, Any] | None
    simulation: Mapping[str, FloatArray] | None
    simulation_info: Mapping[str, Any] | None

    @property
    def depth(self) -> int:
        return int(self.parameters["depth"])

    def to_dict(self) -> dict[str, Any]:
        """Plain data (NaN → None, ±inf → "inf"/"-inf")."""
        return {
            "index": self.index,
            "parameters": {k: _enc_param(v) for k, v in self.parameters.items()},
            "seed": self.seed,
            "chain": None if self.description is None else dict(self.description),
            "prediction": None if self.prediction is None else {
                **(self.prediction_info or {}),
                "fields": {k: _enc_array(v) for k, v in self.prediction.items()},
            },
            "simulation": None if self.simulation is None else {
                **{k: _enc(v) if isinstance(v, float) else v
                   for k, v in (self.simulation_info or {}).items()},
                "fields": {k: _enc_array(v) for k, v in self.simulation.items()},
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepEntry:
        pred = data.get("prediction")
        sim = data.get("simulation")
        pinfo = None if pred is None else {k: v for k, v in pred.items() if k != "fields"}
        sinfo = None
        if sim is not None:
            sinfo = {k: (_dec(v) if k in SIM_SCALARS else v)
                     for k, v in sim.items() if k != "fields"}
        return cls(
            index=int(data["index"]),
            parameters={k: _dec_param(k, v) for k, v in data["parameters"].items()},
            seed=int(data["seed"]),
            chain=None,
            description=data.get("chain"),
            prediction=None if pred is None else _freeze(
                {k: _dec_array(v) for k, v in pred["fields"].items()}),
            prediction_info=pinfo,
            simulation=None if sim is None else _freeze(
                {k: _dec_array(v) for k, v in sim["fields"].items()}),
            simulation_info=sinfo,
        )


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The result of :func:`sweep`: one :class:`SweepEntry` per configuration, in grid order.

    ``len(res)``, ``res[i]`` and iteration give the entries; :meth:`rows` the tidy table;
    :meth:`to_dict`, :meth:`to_json`, :meth:`to_csv`, :meth:`save` and :meth:`load` export
    and import (see the module docstring for the formats).
    """

    metadata: Mapping[str, Any]
    entries: tuple[SweepEntry, ...]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> SweepEntry:
        return self.entries[index]

    def __iter__(self) -> Iterator[SweepEntry]:
        return iter(self.entries)

    @property
    def seed(self) -> int:
        return int(self.metadata["seed"])

    def columns(self) -> list[str]:
        """The columns of :meth:`rows` (per-layer level), in order."""
        theory: dict[str, None] = {}
        sim: dict[str, None] = {}
        for e in self.entries:
            theory.update(dict.fromkeys(e.prediction or ()))
            sim.update(dict.fromkeys(e.simulation or ()))
        cols = ["config", *PARAMETER_COLUMNS, "seed", "layer"]
        cols += [f"theory_{k}" for k in theory]
        cols += [f"sim_{k}" for k in sim]
        if any(e.simulation is not None for e in self.entries):
            cols += [f"sim_{k}" for k in SIM_SCALARS]
        return cols

    def rows(self, *, level: str = "layer") -> list[dict[str, Any]]:
        """The tidy table as a list of dicts (``pandas.DataFrame(res.rows())``).

        ``level="layer"``: one row per configuration × layer l = 0..L with every per-layer
        field (``theory_<name>``, ``sim_<name>``, ``sim_<name>_se``; NaN where absent).
        ``level="config"``: one row per configuration with its parameters, seed and summary
        columns: ``theory_log10_gradient_ratio`` = log10 E[(g⁰)²]/E[(g^L)²] from theory,
        ``sim_log10_gradient_ratio`` ± ``_se`` from Monte Carlo, and the moment ratios.
        """
        if level == "config":
            return [self._summary(e) for e in self.entries]
        if level != "layer":
            raise InvalidArgumentError("level", level, "expected 'layer' or 'config'")
        cols = self.columns()
        out = []
        for e in self.entries:
            consts: dict[str, Any] = {"config": e.index, **e.parameters, "seed": e.seed}
            for k in SIM_SCALARS:
                consts[f"sim_{k}"] = float((e.simulation_info or {}).get(k, math.nan))
            columns: dict[str, list[float] | None] = {}
            for c in cols:
                if c in consts or c == "layer":
                    continue
                fields, name = (e.prediction, c[7:]) if c.startswith("theory_") else (
                    e.simulation, c[4:])
                columns[c] = None if fields is None or name not in fields else (
                    fields[name].tolist())
            for layer in range(e.depth + 1):
                row: dict[str, Any] = {}
                for c in cols:
                    if c == "layer":
                        row[c] = layer
                    elif c in consts:
                        row[c] = consts[c]
                    else:
                        values = columns[c]
                        row[c] = math.nan if values is None else values[layer]
                out.append(row)
        return out

    def _summary(self, e: SweepEntry) -> dict[str, Any]:
        row: dict[str, Any] = {"config": e.index, **e.parameters, "seed": e.seed}
        if e.prediction is not None:
            row["theory_log10_gradient_ratio"] = float(
                e.prediction["log_grad_second_moment"][0] / _LN10)
        if e.simulation is not None:
            row["sim_log10_gradient_ratio"] = float(e.simulation["log10_grad_second_moment"][0])
            row["sim_log10_gradient_ratio_se"] = float(
                e.simulation["log10_grad_second_moment_se"][0])
            for k in SIM_SCALARS:
                row[f"sim_{k}"] = float((e.simulation_info or {}).get(k, math.nan))
        return row

    def differences(self, other: SweepResult) -> list[str]:
        """What differs from ``other`` in parameters, seeds or per-layer arrays (compared
        bit for bit, so a one-ulp change or a different NaN counts); empty when identical.
        Metadata such as the executor and the elapsed time is not compared."""
        out: list[str] = []
        if len(self) != len(other):
            return [f"{len(self)} configurations against {len(other)}"]
        for a, b in zip(self.entries, other.entries, strict=True):
            where = f"configuration {a.index}"
            if a.to_dict()["parameters"] != b.to_dict()["parameters"]:
                out.append(f"{where}: parameters {dict(a.parameters)} != {dict(b.parameters)}")
            if a.seed != b.seed:
                out.append(f"{where}: seed {a.seed} != {b.seed}")
            for engine in ("prediction", "simulation"):
                fa, fb = getattr(a, engine), getattr(b, engine)
                if (fa is None) != (fb is None):
                    out.append(f"{where}: {engine} present in only one result")
                    continue
                if fa is None or fb is None:
                    continue
                if set(fa) != set(fb):
                    out.append(f"{where}: {engine} fields {sorted(fa)} != {sorted(fb)}")
                    continue
                for name in fa:
                    xa, xb = np.asarray(fa[name]), np.asarray(fb[name])
                    if xa.shape != xb.shape or xa.tobytes() != xb.tobytes():
                        out.append(f"{where}: {engine} {name} differs")
        return out

    # ---- export
    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready): the metadata and every configuration."""
        return {**self.metadata, "entries": [e.to_dict() for e in self.entries]}

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """JSON text (written atomically to ``path`` if given)."""
        text = json.dumps(self.to_dict(), allow_nan=False) + "\n"
        return text_or_file(text, path)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The tidy per-layer table as CSV, metadata on leading ``#`` lines (JSON values);
        written atomically to ``path`` if given."""
        buf = io.StringIO()
        for key, value in self.metadata.items():
            buf.write(f"# {key}: {json.dumps(value)}\n")
        cols = self.columns()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for row in self.rows():
            writer.writerow([_csv_cell(row[c]) for c in cols])
        text = buf.getvalue()
        return text_or_file(text, path)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON (``.json``) or CSV (``.csv``) by extension, atomically."""
        return save_by_extension(path, self.to_json, self.to_csv)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SweepResult:
        """Read a sweep written by :meth:`save` (``.json`` or ``.csv``)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise InvalidArgumentError("path", str(path), "expected a .json or .csv file name")
        text = p.read_text(encoding="utf-8")
        if suffix == ".json":
            return cls.from_json(text)
        return cls.from_csv(text)

    @classmethod
    def from_json(cls, text: str) -> SweepResult:
        """Rebuild a result from :meth:`to_json` text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidArgumentError("json", text[:80], f"not JSON: {err}") from None
        if not isinstance(data, dict) or data.get("kind") != "vgmath.sweep":
            raise InvalidArgumentError("json", text[:80], "not a vgmath sweep")
        metadata = {k: v for k, v in data.items() if k != "entries"}
        entries = tuple(SweepEntry.from_dict(e) for e in data["entries"])
        return cls(metadata=metadata, entries=entries)

    @classmethod
    def from_csv(cls, text: str) -> SweepResult:
        """Rebuild a result from :meth:`to_csv` text (no chain descriptions or theory notes:
        the CSV holds the tidy table and the metadata)."""
        lines = text.splitlines()
        metadata: dict[str, Any] = {}
        k = 0
        while k < len(lines) and lines[k].startswith("# "):
            key, _, value = lines[k][2:].partition(": ")
            metadata[key] = json.loads(value)
            k += 1
        if metadata.get("kind") != "vgmath.sweep":
            raise InvalidArgumentError("csv", text[:80], "not a vgmath sweep")
        reader = csv.reader(lines[k:])
        header = next(reader)
        groups: dict[int, list[dict[str, Any]]] = {}
        try:
            for raw in reader:
                row = {c: _csv_parse(c, v) for c, v in zip(header, raw, strict=True)}
                groups.setdefault(row["config"], []).append(row)
        except (ValueError, KeyError) as err:
            raise InvalidArgumentError("csv", text[:80], f"malformed sweep table: {err}") from None
        theory = [c for c in header if c.startswith("theory_")]
        scalar_cols = {f"sim_{s}" for s in SIM_SCALARS}
        sim = [c for c in header if c.startswith("sim_") and c not in scalar_cols]
        entries = []
        for index in sorted(groups):
            rows = sorted(groups[index], key=lambda r: r["layer"])
            first = rows[0]
            params = {c: first[c] for c in PARAMETER_COLUMNS}
            if isinstance(params["width"], str):
                params["width"] = [int(w) for w in params["width"].split(",")]
            has_sim = bool(sim) and metadata.get("simulate", True)
            entries.append(SweepEntry(
                index=index, parameters=params, seed=first["seed"], chain=None,
                description=None,
                prediction=_freeze({c[7:]: np.array([r[c] for r in rows]) for c in theory})
                if theory else None,
                prediction_info=None,
                simulation=_freeze({c[4:]: np.array([r[c] for r in rows]) for c in sim})
                if has_sim else None,
                simulation_info={s: first[f"sim_{s}"] for s in SIM_SCALARS} if has_sim else None,
            ))
        return cls(metadata=metadata, entries=tuple(entries))

    def __repr__(self) -> str:
        return (f"SweepResult({len(self)} configurations, seed={self.metadata.get('seed')}, "
                f"predict={self.metadata.get('predict')}, "
                f"simulate={self.metadata.get('simulate')})")


# --------------------------------------------------------------------------- encoding


def _enc(v: float) -> float | str | None:
    f = float(v)
    if math.isnan(f):
        return None
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def _dec(v: Any) -> float:
    if v is None:
        return math.nan
    return float(v)  # float("inf") / float("-inf") read the markers


def _enc_array(a: FloatArray) -> list[float | str | None]:
    return [_enc(v) for v in np.asarray(a, dtype=np.float64).tolist()]


def _dec_array(values: Sequence[Any]) -> FloatArray:
    return np.array([_dec(v) for v in values], dtype=np.float64)


def _enc_param(v: Any) -> Any:
    return _enc(v) if isinstance(v, float) else v


def _dec_param(key: str, v: Any) -> Any:
    if key in ("sigma_w2", "sigma_b2", "input_q"):
        return _dec(v)
    return v


def _csv_cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    if isinstance(v, list):
        return ",".join(str(w) for w in v)
    return str(v)


def _csv_parse(column: str, text: str) -> Any:
    if column in _INT_COLUMNS:
        return int(text)
    if column in _TEXT_COLUMNS:
        return text if text else None
    if column == "width":
        return int(text) if "," not in text else text
    return float(text) if text else math.nan


