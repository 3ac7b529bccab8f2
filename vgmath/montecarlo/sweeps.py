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
as ``sim_<name>`` and ``sim_<name>_se`` (names as in :mod:`vgmath.theory.prediction` and
:mod:`vgmath.montecarlo.simulation`; NaN where a quantity does not exist).
``rows(level="config")`` has
one summary row per configuration. :meth:`SweepResult.save` writes JSON or CSV atomically;
:meth:`SweepResult.load` reads either back. JSON keeps everything (chain descriptions and the
theory's notes too; NaN is ``null``, ±∞ the strings ``"inf"``/``"-inf"``); the CSV is exactly
the tidy table, with the metadata on leading ``#`` lines (``pandas.read_csv(path,
comment="#")``). Floats are written with ``repr`` so both round-trip exactly.
"""

from __future__ import annotations

import math
import platform
import queue
import time
import traceback
from collections.abc import Mapping, Sequence
from concurrent.futures import (
    CancelledError,
    Future,
)
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, OptionalDependencyError, SweepError, _describe
from ..core.progress import progress as _progress
from ..network.description import Chain
from .executors import _plan_executor, _start_executor
from .grid import (
    _FORMAT,
    ARCHITECTURES,
    GRID_KEYS,
    SIM_SCALARS,
    _check_picklable,
    _configurations,
    _positive_int,
    chain_parameters,
    configuration_seed,
)
from .sweep_results import SweepEntry, SweepResult, _freeze

__all__ = [
    "ARCHITECTURES",
    "GRID_KEYS",
    "SIM_SCALARS",
    "THEORY_FIELDS",
    "OptionalDependencyError",
    "SweepEntry",
    "SweepError",
    "SweepResult",
    "chain_parameters",
    "configuration_seed",
    "sweep",
]


# --------------------------------------------------------------------------- errors


# --------------------------------------------------------------------------- the grid


# --------------------------------------------------------------------------- the work


@dataclass(frozen=True)
class _Options:
    trials: int
    predict: bool
    simulate: bool
    method: str
    dtype: str
    on_error: str = "raise"


#: theory fields kept per configuration (plus the prediction's ``extras``)
THEORY_FIELDS = (
    "q", "chi", "grad_second_moment", "grad_preact_second_moment", "grad_weight_second_moment",
    "sigma_w2", "mean_ln_chi", "ln_grad_second_moment",
)


def _run_one(chain: Chain, seed: int, options: _Options) -> dict[str, Any]:
    from ..theory.prediction import predict
    from .simulation import simulate

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
        except Exception as err:  # reported by the caller as a SweepError (or recorded)
            out.append((index, "error", (type(err).__name__, str(err), traceback.format_exc())))
            if options.on_error == "raise":
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
    on_error: str = "raise",
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
    on_error
        ``"raise"`` (default): the first failing configuration raises :class:`SweepError`.
        ``"record"``: every configuration runs; a failure is kept in its entry's ``error``
        (no data), the finished ones are kept, and the result is marked partial
        (``result.complete`` is False, ``metadata["failed"]`` lists the failures, and
        ``save`` writes both).

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
    if on_error not in ("raise", "record"):
        raise InvalidArgumentError("on_error", on_error, "expected 'raise' or 'record'")
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
    from .simulation import _resolve_dtype

    dt = _resolve_dtype(dtype).name
    options = _Options(n_trials, bool(predict), bool(simulate), method, dt, on_error)
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
    errors: dict[int, dict[str, str]] = {}
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
                        if on_error == "raise":
                            raise SweepError(i, n, params[i], error_type, reason, details)
                        errors[i] = {"type": error_type, "reason": reason}
                    else:
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
    if errors:
        metadata["complete"] = False
        metadata["failed"] = [{"config": i, **errors[i]} for i in sorted(errors)]
    entries = []
    for i, payload in enumerate(results):
        if payload is None:
            entries.append(SweepEntry(
                index=i, parameters=params[i], seed=seeds[i], chain=chains[i],
                description=chains[i].to_dict(), prediction=None, prediction_info=None,
                simulation=None, simulation_info=None, error=errors[i],
            ))
            continue
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
    from .simulation import resolve_method

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


