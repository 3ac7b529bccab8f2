"""Executors for sweeps: a serial executor, process pools and Dask clusters, chosen and started
in one place so that every sweep runs the same way on one core or many.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import (
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from ..core.errors import InvalidArgumentError, OptionalDependencyError
from .grid import _positive_int

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


