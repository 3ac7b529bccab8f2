"""Training studies: data, seeds, executors, resume, files and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vgmath as vg
from vgmath.cli import main
from vgmath.training.data import load_dataset
from vgmath.training.study import TrainingStudy, train_study

pytest.importorskip("sklearn", reason="training studies need: pip install 'vgmath[training]'")

GRID = {"activation": ["tanh", "relu"], "init": ["xavier"], "depth": [3], "width": [16]}
BUDGET = {"steps": 30, "log_every": 10, "lr": 0.05, "batch": 32, "limit": 400}


def _same(a: TrainingStudy, b: TrainingStudy) -> None:
    assert len(a.runs) == len(b.runs)
    for ra, rb in zip(a.runs, b.runs, strict=True):
        assert (ra.config, ra.replica, ra.key, ra.seed) == (rb.config, rb.replica, rb.key, rb.seed)
        for k in ra.metrics:
            np.testing.assert_array_equal(ra.metrics[k], rb.metrics[k])
        for k in ra.layers:
            np.testing.assert_array_equal(ra.layers[k], rb.layers[k])


def test_digits_are_standardised_and_split_by_seed() -> None:
    d = load_dataset("digits")
    assert d.x_train.shape == (1438, 64) and d.x_test.shape == (359, 64)
    assert d.n_classes == 10
    # per-feature mean 0 on the training split (constant features stay 0)
    assert np.abs(d.x_train.mean(axis=0)).max() < 1e-12
    assert load_dataset("digits", split_seed=1).y_test.tolist() != d.y_test.tolist()


def test_a_local_mnist_file_is_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 255, (50, 28, 28)), y_train=rng.integers(0, 10, 50),
             x_test=rng.integers(0, 255, (20, 28, 28)), y_test=rng.integers(0, 10, 20))
    d = load_dataset(f"mnist:{path}")
    assert d.x_train.shape == (50, 784) and d.n_features == 784
    with pytest.raises(vg.InvalidArgumentError, match="no such file"):
        load_dataset(f"mnist:{tmp_path / 'missing.npz'}")
    with pytest.raises(vg.InvalidArgumentError, match="digits"):
        load_dataset("cifar")


@pytest.mark.slow
def test_same_seed_same_numbers_serial_or_processes() -> None:
    a = train_study(GRID, executor="serial", seed=3, **BUDGET)
    b = train_study(GRID, workers=2, seed=3, **BUDGET)
    _same(a, b)
    c = train_study(GRID, executor="serial", seed=4, **BUDGET)
    assert not np.array_equal(a.runs[0].metrics["test_loss"], c.runs[0].metrics["test_loss"])


@pytest.mark.slow
def test_same_numbers_on_a_dask_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    serial = train_study(GRID, executor="serial", seed=5, **BUDGET)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _same(serial, train_study(GRID, executor=client, seed=5, **BUDGET))


def test_a_run_does_not_depend_on_its_place_in_the_grid() -> None:
    a = train_study(GRID, executor="serial", seed=0, **BUDGET)
    only_relu = train_study({**GRID, "activation": ["relu"]}, executor="serial", seed=0,
                            **BUDGET)
    np.testing.assert_array_equal(a.runs[1].metrics["test_acc"],
                                  only_relu.runs[0].metrics["test_acc"])


def test_resume_trains_only_what_is_missing(tmp_path: Path) -> None:
    out = tmp_path / "study.json"
    first = train_study({**GRID, "activation": ["tanh"]}, executor="serial", seed=0, out=out,
                        **BUDGET)
    seen = []
    full = train_study(GRID, executor="serial", seed=0, out=out, callback=seen.append, **BUDGET)
    assert [r.label for r in seen] == [full.runs[1].label]  # only relu was trained
    np.testing.assert_array_equal(full.runs[0].metrics["test_acc"],
                                  first.runs[0].metrics["test_acc"])
    _same(full, train_study(GRID, executor="serial", seed=0, **BUDGET))
    _same(full, TrainingStudy.load(out))


def test_json_and_csv_files(tmp_path: Path) -> None:
    s = train_study(GRID, executor="serial", seed=0, replicas=2, **BUDGET)
    s.save(tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"config", "replica", "step", "layer", "rel_change", "grad_w2",
            "test_acc"} <= set(header)
    # 2 configs x 2 replicas x 4 logged steps x 4 dense layers (3 + read-out)
    assert len(lines) == 1 + 2 * 2 * 4 * 4
    runs = s.rows("run")
    assert len(runs) == 4 and all("final_test_acc" in r for r in runs)
    assert s.chains()[0] == vg.Chain("tanh", init="xavier", depth=3, width=16)
    with pytest.raises(vg.InvalidArgumentError, match=r"json or \.csv"):
        s.save(tmp_path / "s.txt")


def test_first_logged_step_is_the_initial_network() -> None:
    s = train_study(GRID, executor="serial", seed=0, **BUDGET)
    r = s.runs[0]
    assert r.steps.tolist() == [0, 10, 20, 30]
    assert np.all(r.layers["rel_change"][0] == 0)
    assert np.all(r.layers["rel_change"][-1] > 0)
    assert np.all(np.isnan(r.layers["grad_w2"][-1]))  # no step after the last log


def test_every_logged_step_records_the_network_of_that_step() -> None:
    """With a log at every step the last record is the network after the last update (a stale
    record of the step before would repeat the previous relative change)."""
    s = train_study({**GRID, "activation": ["tanh"]}, executor="serial", seed=0,
                    **{**BUDGET, "steps": 4, "log_every": 1})
    rel = s.runs[0].layers["rel_change"]
    assert rel.shape[0] == 5
    assert np.all(np.diff(rel[:, :-1], axis=0) != 0)


def test_the_data_set_is_read_once_and_shared_read_only() -> None:
    a = load_dataset("digits", limit=100)
    assert load_dataset("digits", limit=100) is a
    assert not a.x_train.flags.writeable


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"replicas": 1.5}, "replicas"),
    ({"seed": -1}, "seed"), ({"data": "nope"}, "data"), ({"labels": ["a"]}, "labels"),
])
def test_bad_arguments_name_themselves(kwargs: dict, argument: str) -> None:
    with pytest.raises(vg.InvalidArgumentError) as err:
        train_study(GRID, executor="serial", **{**BUDGET, **kwargs})
    assert err.value.argument == argument


def test_cli_grid_and_phase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.csv"
    assert main(["train-study", "grid", "--activations", "tanh", "--depths", "3", "--width", "8",
                 "--steps", "10", "--log-every", "5", "--workers", "1", "--out", str(out)]) == 0
    assert out.read_text().startswith("config,")
    capsys.readouterr()
    phase = tmp_path / "p.json"
    assert main(["train-study", "phase", "--sigma-w2", "1", "2", "--depths", "3", "--width", "8",
                 "--steps", "10", "--workers", "1", "--out", str(phase), "--json",
                 "--figure", str(tmp_path / "fig")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["accuracy"]) == 2 and 0 <= payload["agreement"] <= 1
    assert (tmp_path / "fig.pdf").exists() and (tmp_path / "fig.png").exists()
    assert len(TrainingStudy.load(phase).runs) == 2


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-study", "grid", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--activations" in err[0]
    assert main(["train-study", "grid", "--activations", "tanh", "--out", "x.txt"]) == 2
