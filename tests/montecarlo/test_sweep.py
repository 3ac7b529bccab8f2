"""Tests of vg.sweep: grid order, per-configuration seeds, equality with direct calls, bit-for-
bit reproducibility on every executor (serial, threads, process pool, Dask), progress,
JSON/CSV round trips, atomic writes, errors and the command line.

Nothing here is statistical: a sweep must return *exactly* what ``vg.predict(chain)`` and
``vg.simulate(chain, trials=..., seed=configuration_seed(seed, i))`` return for each
configuration, so every comparison is bit for bit (``ndarray.tobytes``), and the quality
tests show that these comparisons notice a one-ulp change or a swapped seed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import math
import os
import sys
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vgmath as vg
from vgmath import InvalidArgumentError
from vgmath.cli import main
from vgmath.montecarlo.grid import GRID_KEYS, configuration_seed

ROOT = Path(__file__).resolve().parents[2]

#: a small grid: 2 × 2 × 1 × 2 × 2 = 16 configurations, one non-square width list
SMALL = {
    "activation": ["tanh", "relu"],
    "init": ["xavier", "he"],
    "depth": [3],
    "width": [6, [4, 6, 5, 3]],
    "sigma_b2": [0, "1/20"],
}

#: ≥ 100 configurations (3 × 2 × 2 × 2 × 3 × 2 = 144), small enough to run in seconds;
#: includes a user expression, whose Activation must pickle by its text
BIG = {
    "activation": ["tanh", "relu", "0.5*x + tanh(x)"],
    "init": ["xavier", "he"],
    "depth": [2, 3],
    "width": [3, 5],
    "sigma_b2": [0, "1/20", "1/10"],
    "input_q": [1, 2],
}
BIG_SIZE = 144
TRIALS = 8


def bitwise_equal(a: vg.SweepResult, b: vg.SweepResult) -> None:
    """Independent of SweepResult.differences: every array of every entry, byte for byte."""
    assert len(a) == len(b)
    for ea, eb in zip(a, b, strict=True):
        assert ea.index == eb.index and ea.seed == eb.seed
        assert json.dumps(ea.to_dict()["parameters"]) == json.dumps(eb.to_dict()["parameters"])
        for engine in ("prediction", "simulation"):
            fa, fb = getattr(ea, engine), getattr(eb, engine)
            assert (fa is None) == (fb is None)
            if fa is not None:
                assert fa.keys() == fb.keys()
                for k in fa:
                    assert fa[k].dtype == fb[k].dtype == np.float64
                    assert fa[k].tobytes() == fb[k].tobytes(), (ea.index, engine, k)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality after mapping every NaN to the canonical NaN (a sweep stores one
    NaN bit pattern; NumPy may produce -NaN, which carries no information)."""
    a, b = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    a[np.isnan(a)] = np.nan
    b[np.isnan(b)] = np.nan
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def rows_equal(r1: list[dict[str, Any]], r2: list[dict[str, Any]]) -> bool:
    """Row lists equal, NaN equal to NaN, floats compared exactly."""
    if len(r1) != len(r2):
        return False
    for a, b in zip(r1, r2, strict=True):
        if list(a) != list(b):
            return False
        for k in a:
            x, y = a[k], b[k]
            if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
                continue
            if x != y or type(x) is not type(y):
                return False
    return True


@pytest.fixture(scope="module")
def small() -> vg.SweepResult:
    return vg.sweep(SMALL, trials=TRIALS, seed=7, executor="serial")


@pytest.fixture(scope="module")
def big_serial() -> vg.SweepResult:
    return vg.sweep(BIG, trials=TRIALS, seed=2024, executor="serial")


# --------------------------------------------------------------------------- grid and seeds


def test_canonical_order_is_the_product_in_key_order_whatever_the_dict_order(small) -> None:
    reordered = dict(reversed(list(SMALL.items())))
    res = vg.sweep(reordered, trials=TRIALS, seed=7, executor="serial", simulate=False)
    # the expected order, built independently: itertools.product over GRID_KEYS order
    keys = [k for k in GRID_KEYS if k in SMALL]
    expected = list(itertools.product(*(SMALL[k] for k in keys)))
    assert len(res) == len(small) == len(expected) == 16
    for entry, combo, ref in zip(res, expected, small, strict=True):
        values = dict(zip(keys, combo, strict=True))
        assert entry.parameters["activation"] == values["activation"]
        assert entry.parameters["init"] == values["init"]
        assert entry.parameters["width"] == values["width"]
        assert entry.parameters["sigma_b2_exact"] == str(values["sigma_b2"])
        assert entry.seed == ref.seed
        assert entry.parameters == {**ref.parameters, "sigma_w2": entry.parameters["sigma_w2"]}


def test_configuration_seed_is_the_spawned_child_of_the_sweep_seed() -> None:
    # independent route: SeedSequence.spawn (children get spawn_key (0,), (1,), ...)
    children = np.random.SeedSequence(12345).spawn(6)
    for i, child in enumerate(children):
        expected = int(child.generate_state(1, np.uint64)[0]) >> 1
        assert configuration_seed(12345, i) == expected
        assert 0 <= expected < 2**63


def test_entries_equal_direct_predict_and_simulate_calls(small) -> None:
    for i, entry in enumerate(small):
        assert entry.index == i and entry.seed == configuration_seed(7, i)
        pred = vg.predict(entry.chain)
        for name, arr in entry.prediction.items():
            assert same_bits(arr, getattr(pred, name)), (i, name)
        sim = vg.simulate(entry.chain, trials=TRIALS, seed=entry.seed)
        assert entry.simulation.keys() == sim.fields.keys()
        for name, arr in entry.simulation.items():
            assert same_bits(arr, sim.fields[name]), (i, name)
        for k in ("grad_moment_ratio", "forward_moment_ratio"):
            assert entry.simulation_info[k] == getattr(sim, k) or (
                math.isnan(entry.simulation_info[k]) and math.isnan(getattr(sim, k)))


def test_relu_he_has_chi_exactly_one(small) -> None:
    # He et al. 2015 (arXiv:1502.01852): ReLU with Var(W) = 2/fan_in keeps χ = 1 on square
    # layers, so E[(g^0)²]/E[(g^L)²] = 1 exactly
    entry = next(e for e in small if e.parameters["activation"] == "relu"
                 and e.parameters["init"] == "he" and e.parameters["width"] == 6)
    assert np.all(entry.prediction["chi"][1:] == 1.0)
    assert entry.prediction["grad_second_moment"][0] == 1.0
    assert entry.parameters["sigma_w2_exact"] == "2"


def test_explicit_list_of_chains_gives_the_same_results(small) -> None:
    chains = [e.chain for e in small]
    res = vg.sweep(chains, trials=TRIALS, seed=7, executor="serial")
    assert res.differences(small) == []
    assert res.metadata["grid"] == "explicit list of chains"


def test_sigma_w2_means_custom_init_and_arch_builds_residual_chains() -> None:
    res = vg.sweep({"arch": ["chain", "resnet", "resnet_pre"], "activation": ["tanh"],
                    "sigma_w2": [1, "3/2"], "depth": [4], "width": [8]},
                   executor="serial", simulate=False)
    assert len(res) == 6
    for entry in res:
        assert entry.parameters["init"] == "custom"
        assert entry.simulation is None
        residual = vg.Residual(variant="pre") if entry.parameters["arch"] == "resnet_pre" else (
            vg.Residual() if entry.parameters["arch"] == "resnet" else None)
        chain = vg.Chain("tanh", init=vg.Init.custom(entry.parameters["sigma_w2_exact"]),
                         depth=4, width=8, residual=residual)
        pred = vg.predict(chain)
        assert same_bits(entry.prediction["q"], pred.q)
        assert same_bits(entry.prediction["grad_second_moment"], pred.grad_second_moment)
    assert [e.parameters["sigma_w2_exact"] for e in res][:2] == ["1", "3/2"]


def test_duplicate_configurations_get_distinct_streams() -> None:
    """Quality: seeds follow the index, so two identical configurations simulate different
    networks (same theory) — and swapping seeds would be caught by the comparisons."""
    res = vg.sweep({"activation": ["tanh", "tanh"], "depth": [3], "width": [5]},
                   trials=TRIALS, seed=3, executor="serial")
    a, b = res[0], res[1]
    assert a.parameters == b.parameters and a.seed != b.seed
    assert a.prediction["q"].tobytes() == b.prediction["q"].tobytes()
    assert a.simulation["grad_second_moment"].tobytes() != b.simulation[
        "grad_second_moment"].tobytes()
    swapped = vg.simulate(a.chain, trials=TRIALS, seed=b.seed)
    assert not same_bits(swapped.fields["grad_second_moment"], a.simulation["grad_second_moment"])
    assert same_bits(swapped.fields["grad_second_moment"], b.simulation["grad_second_moment"])


def test_differences_notices_one_ulp_and_a_seed(small) -> None:
    """Quality: the bit-for-bit comparison is not vacuous."""
    e = small[5]
    arr = np.array(e.simulation["chi"])
    arr[2] = np.nextafter(arr[2], np.inf)
    changed = dataclasses.replace(e, simulation={**e.simulation, "chi": arr})
    other = dataclasses.replace(small, entries=(*small.entries[:5], changed,
                                                *small.entries[6:]))
    assert small.differences(other) == ["configuration 5: simulation chi differs"]
    reseeded = dataclasses.replace(small, entries=(dataclasses.replace(e, seed=e.seed + 1),))
    assert small.differences(reseeded) == ["16 configurations against 1"]
    with pytest.raises(AssertionError):
        bitwise_equal(small, other)


# --------------------------------------------------------------------------- executors


class ReversedExecutor(Executor):
    """Completes the submitted calls in reverse order once ``expected`` have been submitted
    (sweep submits all work at once when an executor does not say how many workers it has)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.calls: list[tuple[Future[Any], Any, tuple[Any, ...]]] = []
        self.order: list[int] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        self.calls.append((fut, fn, args))
        if len(self.calls) == self.expected:
            threading.Thread(target=self._run_reversed, daemon=True).start()
        return fut

    def _run_reversed(self) -> None:
        for fut, fn, args in reversed(self.calls):
            fut.set_running_or_notify_cancel()
            self.order.append(args[0][0][0])  # first configuration index of the chunk
            fut.set_result(fn(*args))


def test_completion_order_does_not_change_results(small, capsys) -> None:
    ex = ReversedExecutor(expected=len(small))
    res = vg.sweep(SMALL, trials=TRIALS, seed=7, executor=ex, chunk_size=1, progress=True)
    assert ex.order == list(range(len(small)))[::-1]  # really completed last-first
    bitwise_equal(res, small)
    assert "sweep" in capsys.readouterr().err


def test_threads_and_chunk_sizes_agree_with_serial(small) -> None:
    for chunk in (None, 1, 3, 100):
        res = vg.sweep(SMALL, trials=TRIALS, seed=7, executor="threads", workers=2,
                       chunk_size=chunk)
        assert res.differences(small) == [], chunk
    with ThreadPoolExecutor(max_workers=3) as pool:
        res = vg.sweep(SMALL, trials=TRIALS, seed=7, executor=pool)
    bitwise_equal(res, small)
    assert res.metadata["executor"] == "concurrent.ThreadPoolExecutor"


def test_progress_counts_every_configuration(monkeypatch) -> None:
    import vgmath.montecarlo.sweeps as sweep_module

    seen: dict[str, Any] = {}
    real = sweep_module._progress

    def spy(total: int, **kw: Any) -> Any:
        bar = real(total, **kw)
        seen["total"], seen["updates"], seen["kw"] = total, 0, kw
        update = bar.update

        def counted(n: int = 1) -> None:
            seen["updates"] += n
            update(n)

        bar.update = counted  # type: ignore[method-assign]
        return bar

    monkeypatch.setattr(sweep_module, "_progress", spy)
    vg.sweep(SMALL, trials=TRIALS, seed=7, executor="threads", workers=2, chunk_size=3,
             progress=True)
    assert seen["total"] == seen["updates"] == 16
    assert seen["kw"]["enabled"] is True and seen["kw"]["unit"] == "config"


@pytest.mark.slow
def test_hundred_configurations_identical_on_serial_process_pool_and_dask(
    big_serial, capsys
) -> None:
    """The 'done when' criterion: ≥ 100 configurations, bit-for-bit equal on a serial
    executor, a process pool and a Dask LocalCluster, with progress on stderr; and a failure
    inside a worker process comes back as one readable error."""
    assert len(big_serial) == BIG_SIZE >= 100
    capsys.readouterr()
    # one pool for both runs: starting spawn workers is the expensive part
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        procs = vg.sweep(BIG, trials=TRIALS, seed=2024, executor=pool, progress=True)
        err = capsys.readouterr().err
        failing = {"activation": ["tanh", "exp(x)"], "sigma_w2": [4], "depth": [12],
                   "width": [4], "sigma_b2": [1]}
        with pytest.raises(vg.SweepError) as info:
            vg.sweep(failing, trials=4, seed=0, executor=pool, predict=False)
    assert "sweep" in err and f"/{BIG_SIZE}" in err
    assert procs.metadata["executor"] == "concurrent.ProcessPoolExecutor"
    bitwise_equal(procs, big_serial)
    failure = info.value
    assert failure.index == 1 and failure.parameters["activation"] == "exp(x)"
    assert failure.error_type == "NumericalError"
    assert str(failure).startswith(
        "configuration 1 of 2 failed (arch=chain, activation=exp(x), init=custom, depth=12, "
        "width=4, sigma_w2=4, sigma_b2=1")
    assert "\n" not in str(failure) and "Traceback" in failure.details

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_client = vg.sweep(BIG, trials=TRIALS, seed=2024, executor=client, progress=True)
        on_executor = vg.sweep(BIG, trials=TRIALS, seed=2024,
                               executor=client.get_executor())
    assert f"/{BIG_SIZE}" in capsys.readouterr().err
    assert on_client.metadata["executor"] == "dask"
    bitwise_equal(on_client, big_serial)
    bitwise_equal(on_executor, big_serial)


def test_default_executor_is_a_spawn_process_pool_of_cpu_count_workers(small, monkeypatch):
    """The default pool's construction and shutdown (its workers are exercised above with a
    pool passed in); recorded by standing a thread pool in for the process pool."""
    import vgmath.montecarlo.executors as executors_module

    made: list[dict[str, Any]] = []

    class Recorder(ThreadPoolExecutor):
        def __init__(self, max_workers: int, mp_context: Any) -> None:
            made.append({"max_workers": max_workers, "start": mp_context.get_start_method()})
            super().__init__(max_workers=max_workers)

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            made[-1]["shutdown"] = (wait, cancel_futures)
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(executors_module, "ProcessPoolExecutor", Recorder)
    monkeypatch.setattr(executors_module.os, "cpu_count", lambda: 3)
    res = vg.sweep(SMALL, trials=TRIALS, seed=7)
    assert made == [{"max_workers": 3, "start": "spawn", "shutdown": (True, True)}]
    assert res.metadata["executor"] == "processes(3)"
    bitwise_equal(res, small)
    vg.sweep(SMALL, trials=TRIALS, seed=7, executor="processes", workers=2, chunk_size=10)
    assert made[-1]["max_workers"] == 2  # two chunks of ≤ 10 configurations: two workers


# --------------------------------------------------------------------------- round trips


def test_json_round_trip(small, tmp_path) -> None:
    path = small.save(tmp_path / "s.json")
    back = vg.SweepResult.load(path)
    assert back.to_dict() == small.to_dict()
    bitwise_equal(back, small)
    assert back[2].description == small[2].chain.to_dict()
    assert back[0].prediction_info["method"] == small[0].prediction_info["method"]
    assert json.loads(path.read_text())["kind"] == "vgmath.sweep"


def test_csv_round_trip_is_the_tidy_table(small, tmp_path) -> None:
    path = small.save(tmp_path / "s.csv")
    back = vg.SweepResult.load(path)
    assert rows_equal(back.rows(), small.rows())
    assert rows_equal(back.rows(level="config"), small.rows(level="config"))
    assert back.differences(small) == []
    assert dict(back.metadata) == json.loads(json.dumps(dict(small.metadata)))
    # tidy: one row per configuration × layer, a header line after the '#' metadata
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("#")]
    assert len(lines) == 1 + sum(e.depth + 1 for e in small) == 1 + 16 * 4
    header = lines[0].split(",")
    assert header[:3] == ["config", "arch", "activation"] and "layer" in header
    assert {"theory_chi", "sim_chi", "sim_chi_se", "sim_grad_moment_ratio"} <= set(header)


def test_round_trips_keep_infinities_and_nans(small, tmp_path) -> None:
    e = small[0]
    special = np.array(e.prediction["q"])
    special[1:] = [np.inf, -np.inf, np.nan]
    entry = dataclasses.replace(e, prediction={**e.prediction, "q": special})
    res = dataclasses.replace(small, entries=(entry,))
    for name in ("x.json", "x.csv"):
        back = vg.SweepResult.load(res.save(tmp_path / name))
        q = back[0].prediction["q"]
        assert q[1] == np.inf and q[2] == -np.inf and math.isnan(q[3])
        assert back.differences(res) == []
    assert '"inf"' in res.to_json() and "NaN" not in res.to_json()


def test_rows_columns_and_config_level(small) -> None:
    rows = small.rows()
    assert list(rows[0]) == small.columns()
    assert [r["layer"] for r in rows[:4]] == [0, 1, 2, 3]
    # non-square layers: Xavier's σ_w² = 2 n_{l-1}/(n_{l-1} + n_l) varies by layer (no single
    # value), He's is 2 on every layer
    xavier_wide = next(r for r in rows if r["width"] == [4, 6, 5, 3] and r["init"] == "xavier")
    assert math.isnan(xavier_wide["sigma_w2"]) and xavier_wide["sigma_w2_exact"] is None
    he_wide = next(r for r in rows if r["width"] == [4, 6, 5, 3] and r["init"] == "he")
    assert he_wide["sigma_w2"] == 2.0 and he_wide["sigma_w2_exact"] == "2"
    summary = small.rows(level="config")
    assert len(summary) == 16
    s = summary[3]
    assert s["theory_log10_gradient_ratio"] == pytest.approx(
        small[3].prediction["ln_grad_second_moment"][0] / math.log(10), rel=1e-15)
    assert s["sim_log10_gradient_ratio"] == small[3].simulation["log10_grad_second_moment"][0]
    with pytest.raises(InvalidArgumentError, match="level"):
        small.rows(level="cell")


def test_writes_are_atomic(small, tmp_path, monkeypatch) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")

    def fail(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        small.save(target)
    assert target.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary left
    monkeypatch.undo()
    small.save(target)
    assert vg.SweepResult.load(target).differences(small) == []


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ({}, "grid is empty"),
        ([], "grid is empty"),
        ({"activation": []}, r"grid\['activation'\].*no values"),
        ({"activation": ["tanh"], "depths": [3]},
         r"'depths'.*unknown grid key \(did you mean 'depth'\?\)"),
        ({"depth": [3]}, "needs an 'activation' key"),
        ({"activation": ["tanh"], "init": ["he"], "sigma_w2": [2]}, "either 'init' or"),
        ({"activation": ["tahn"]}, r"grid\['activation'\].*unknown activation"),
        ({"activation": ["tanh"], "init": ["kaimnig"]}, r"grid\['init'\].*unknown init"),
        ({"activation": ["tanh"], "depth": [0]}, r"grid\['depth'\]"),
        ({"activation": ["tanh"], "sigma_b2": ["-1"]}, r"grid\['sigma_b2'\].*>= 0"),
        ({"activation": ["tanh"], "arch": ["transformer"]}, r"grid\['arch'\]"),
        ({"activation": ["tanh"], "depth": [2, 3], "width": [[4, 4, 4]]},
         "configuration 1 is not a valid chain"),
        ([vg.Chain("tanh", depth=2, width=3), "tanh"], r"grid\[1\].*vgmath.Chain"),
        ("tanh", "dict of lists"),
    ],
)
def test_bad_grids_are_named(grid: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        vg.sweep(grid, trials=4, seed=0, executor="serial")


def test_bad_options_are_named() -> None:
    grid = {"activation": ["tanh"], "depth": [2], "width": [3]}
    cases = [
        ({"trials": 0}, "trials"),
        ({"seed": -1}, "seed"),
        ({"predict": False, "simulate": False}, "nothing to do"),
        ({"executor": "gpu"}, "executor"),
        ({"executor": object()}, "executor"),
        ({"executor": "serial", "workers": 2}, "workers"),
        ({"executor": vg.SerialExecutor(), "workers": 2}, "workers"),
        ({"method": "exact"}, "method"),
        ({"dtype": "int8"}, "dtype"),
        ({"chunk_size": 0}, "chunk_size"),
    ]
    for options, match in cases:
        with pytest.raises(InvalidArgumentError, match=match):
            vg.sweep(grid, **{"executor": "serial", **options})


def test_unsimulable_configuration_is_reported_before_running() -> None:
    grid = {"arch": ["chain", "resnet"], "activation": ["tanh"], "depth": [3], "width": [4]}
    try:
        vg.simulate(vg.Chain("tanh", depth=3, width=4, residual=vg.Residual()), trials=2, seed=0)
    except InvalidArgumentError:
        with pytest.raises(InvalidArgumentError, match="configuration 1 cannot be simulated"):
            vg.sweep(grid, trials=4, seed=0, executor="serial")
    else:  # residual chains simulate: the sweep must then run them like any other chain
        res = vg.sweep(grid, trials=4, seed=0, executor="serial")
        assert res[1].simulation is not None
    res = vg.sweep(grid, executor="serial", simulate=False)
    assert [e.parameters["arch"] for e in res] == ["chain", "resnet"]


def test_failing_configuration_names_its_parameters() -> None:
    grid = {"activation": ["tanh", "exp(x)"], "sigma_w2": [4], "depth": [12], "width": [4],
            "sigma_b2": [1]}
    for executor in ("serial", "threads"):
        with pytest.raises(vg.SweepError, match=r"configuration 1 of 2 failed \(.*exp\(x\)"):
            vg.sweep(grid, trials=4, seed=0, executor=executor, predict=False)


def test_executor_failure_is_reported_with_the_configuration() -> None:
    class Broken(Executor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            fut: Future[Any] = Future()
            fut.set_exception(RuntimeError("worker lost"))
            return fut

    with pytest.raises(vg.SweepError, match=r"configuration 0 of 1 failed .*RuntimeError: "
                                            "worker lost"):
        vg.sweep({"activation": ["tanh"], "depth": [2], "width": [3]}, executor=Broken())


def test_unpicklable_activation_is_refused_before_running() -> None:
    # an Activation whose name is not in the catalog and that has no source text cannot be
    # rebuilt by a worker (it pickles by name)
    orphan = dataclasses.replace(vg.activation("tanh"), name="my_tanh")
    with pytest.raises(InvalidArgumentError, match="cannot be sent to worker processes"):
        vg.sweep({"activation": [orphan], "depth": [2], "width": [3]}, executor="serial")


def test_missing_dask_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(vg.OptionalDependencyError, match=r"vgmath\[dask\]"), \
            vg.dask_executor(workers=1):
        pass
    assert isinstance(vg.OptionalDependencyError("x"), ImportError)


def test_unreachable_scheduler_is_named(monkeypatch) -> None:
    class Client:
        def __init__(self, address: str) -> None:
            raise OSError(f"Timed out trying to connect to {address}")

    fake = type(sys)("distributed")
    fake.Client = Client  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "distributed", fake)
    with pytest.raises(InvalidArgumentError, match=r"address=.tcp://nowhere:8786.*cannot reach"), \
            vg.dask_executor("tcp://nowhere:8786"):
        pass
    with pytest.raises(InvalidArgumentError, match="workers"), \
            vg.dask_executor("tcp://nowhere:8786", workers=2):
        pass


# --------------------------------------------------------------------------- command line


@pytest.mark.slow
def test_cli_writes_the_same_sweep_as_the_library(tmp_path, capsys) -> None:
    out = tmp_path / "cli.csv"
    code = main(["sweep", "--activations", "tanh", "relu", "--inits", "xavier", "he",
                 "--depths", "3", "--widths", "6", "4,6,5,3", "--sigma-b2", "0", "1/20",
                 "--trials", str(TRIALS), "--seed", "7", "--workers", "1", "--no-progress",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "wrote" in captured.err and "16 configurations" in captured.err
    assert len(captured.out.splitlines()) == 3 + 16
    lib = vg.sweep(SMALL, trials=TRIALS, seed=7, executor="serial")
    assert vg.SweepResult.load(out).differences(lib) == []


def test_cli_sigma_w2_and_json(tmp_path, capsys) -> None:
    out = tmp_path / "cli.json"
    code = main(["sweep", "--activations", "tanh", "--sigma-w2", "1", "2", "--depths", "3",
                 "--widths", "5", "--no-simulate", "--workers", "1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    back = vg.SweepResult.load(out)
    assert [e.parameters["sigma_w2_exact"] for e in back] == ["1", "2"]
    assert all(e.simulation is None for e in back)


@pytest.mark.parametrize(
    ("argv", "code", "match"),
    [
        (["--activations", "tanh", "--out", "x.txt"], 2, "--out"),
        (["--activations", "tanh", "--inits", "he", "--sigma-w2", "2", "--out", "x.csv"], 2,
         "--inits"),
        (["--activations", "tahn", "--out", "x.csv"], 2, "unknown activation"),
        (["--activations", "tanh", "--widths", "4,x", "--out", "x.csv"], 2, "--widths"),
        (["--activations", "tanh", "--workers", "2", "--dask-local", "2", "--out", "x.csv"], 2,
         "not allowed with"),
        (["--activations", "tanh", "exp(x)", "--sigma-w2", "4", "--sigma-b2", "1", "--depths",
          "12", "--widths", "4", "--trials", "4", "--no-predict", "--workers", "1",
          "--out", "x.csv"], 5, "configuration 1 of 2 failed"),
    ],
)
def test_cli_errors_are_one_line(argv, code, match, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", *argv]) == code
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1 and "Traceback" not in err
    # a failure while running keeps the finished configurations (--on-error record)
    assert (tmp_path / "x.csv").exists() == (code == 5)


def test_cli_dask_without_the_extra(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert main(["sweep", "--activations", "tanh", "--depths", "2", "--widths", "3",
                 "--dask-local", "2", "--out", str(tmp_path / "x.csv")]) == 5
    assert "vgmath[dask]" in capsys.readouterr().err


# --------------------------------------------------------------------------- the example


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("sweep_dask_example",
                                                  ROOT / "examples" / "sweep_dask.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_example_runs_on_a_dask_local_cluster(capsys) -> None:
    pytest.importorskip("distributed")
    example = _load_example()
    assert example.main(["--threads", "--workers", "2", "--trials", "4"]) == 0
    assert "identical" in capsys.readouterr().out


def test_example_fails_when_results_differ(monkeypatch, capsys, small) -> None:
    """Quality: the example's exit code depends on the comparison."""
    example = _load_example()
    e = small[0]
    tweaked = dataclasses.replace(small, entries=(
        dataclasses.replace(e, seed=e.seed ^ 1), *small.entries[1:]))
    monkeypatch.setattr(example, "run", lambda **kw: (small, tweaked))
    assert example.main([]) == 1
    assert "differs" in capsys.readouterr().out


def test_dask_hashing_a_user_activation_leaves_mpmath_intact() -> None:
    """Regression: Dask tokenises task arguments field by field; hashing a user expression's
    lambdified kernels by value rebound mpmath's constants to a half-built context, and every
    later mpmath quadrature in the process failed."""
    dask_base = pytest.importorskip("dask.base")
    from mpmath import mp

    chain = vg.Chain("0.5*x + tanh(x)", "xavier", depth=2, width=3)
    assert dask_base.tokenize(chain) == dask_base.tokenize(
        vg.Chain("0.5*x + tanh(x)", "xavier", depth=2, width=3))
    assert dask_base.tokenize(chain) != dask_base.tokenize(
        vg.Chain("0.25*x + tanh(x)", "xavier", depth=2, width=3))
    assert mp.eps.context is mp
    assert mp.quad(lambda z: mp.exp(-z * z), [-mp.inf, mp.inf]) == pytest.approx(math.sqrt(math.pi))


def test_on_error_record_keeps_finished_points_and_marks_the_result_partial(tmp_path) -> None:
    """One failing point ('exp(x)' among three activations) used to lose the whole sweep."""
    grid = {"activation": ["tanh", "exp(x)", "relu"], "init": ["xavier"], "depth": [4],
            "width": [8]}
    with pytest.raises(vg.SweepError, match="exp"):
        vg.sweep(grid, trials=8, seed=0, executor="serial")
    res = vg.sweep(grid, trials=8, seed=0, executor="serial", on_error="record")
    assert not res.complete
    assert [e.index for e in res.failures] == [1]
    assert res[1].error["type"] == "NumericalError"
    assert res[0].prediction is not None and res[2].simulation is not None
    assert res.metadata["failed"][0]["config"] == 1
    for name in ("partial.json", "partial.csv"):
        path = res.save(tmp_path / name)
        again = vg.SweepResult.load(path)
        assert again.metadata["complete"] is False
        assert len(again) == 3
    assert vg.SweepResult.load(tmp_path / "partial.json")[1].error["type"] == "NumericalError"
    with pytest.raises(vg.InvalidArgumentError):
        vg.sweep(grid, on_error="ignore")


def test_cli_sweep_writes_the_finished_points_and_exits_1(tmp_path) -> None:
    import contextlib
    import io

    from vgmath.cli import main

    out = tmp_path / "g.csv"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["sweep", "--activations", "tanh", "exp(x)", "relu", "--depths", "4",
                     "--widths", "8", "--trials", "8", "--workers", "1", "--out", str(out)])
    assert code == 5
    assert len(err.getvalue().strip().splitlines()) == 1
    assert "marked partial" in err.getvalue()
    assert len(vg.SweepResult.load(out)) == 3
