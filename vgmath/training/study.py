r"""Training studies: ensembles of networks described by vgmath, trained with SGD on real data.

:func:`train_study` trains every configuration of a grid (the same grid ``vg.sweep`` takes,
or an explicit list of :class:`vgmath.Chain` objects) ``replicas`` times for ``steps`` SGD
steps on a data set (:func:`vgmath.training.data.load_dataset`), on a process pool, a Dask
cluster or serially, and logs every ``log_every`` steps:

=================  =====================================================================
per run and step   ``train_loss``, ``train_acc`` (the whole training split), ``test_loss``,
                   ``test_acc`` (the test split), ``batch_loss`` (the SGD mini-batch)
per dense layer    ``rel_change`` = ‖W_t − W_0‖/‖W_0‖, ``grad_w2`` = mean (∂E/∂W)²,
                   ``grad_h2`` = mean (∂e/∂h)² per example (see :mod:`vgmath.training.mlp`)
=================  =====================================================================

Seeds are derived from the study seed and the run's *content* (its description, budget, data
and replica number), never from its position in the grid: the same run gets the same numbers
in any grid, on one core or many, and a study resumed from its saved file (``out=``, which is
rewritten atomically after every finished run) continues exactly where it stopped.

Layer indices: for plain and batch-normalised chains, layer l = 1..L is the chain's layer l
and the read-out is L + 1; for residual chains, layer 0 is the input layer (data → width n),
the blocks' dense layers follow (``branch_depth`` per block) and the read-out is last.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, VgmathError
from ..core.io import atomic_write
from ..core.progress import progress as _progress
from ..core.version import __version__
from ..montecarlo.executors import _plan_executor, _start_executor
from ..montecarlo.grid import _configurations
from ..network.description import Chain
from ..symbolic.typeset import Typeset, escape_text, latex_number
from .data import load_dataset
from .mlp import MLP, softmax_cross_entropy

__all__ = ["Run", "TrainingStudy", "train_study"]

_FORMAT = 1
STEP_FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "batch_loss")
LAYER_FIELDS = ("rel_change", "grad_w2", "grad_h2")


@dataclass(frozen=True)
class _Budget:
    steps: int
    lr: float
    batch: int
    log_every: int
    data: str
    test_fraction: float
    limit: int | None


@dataclass
class Run:
    """One trained network: its configuration, replica, seed and logged curves."""

    config: int
    label: str
    replica: int
    key: str
    seed: list[int]
    steps: np.ndarray  # (K,) logged step numbers (0 = before training)
    metrics: dict[str, np.ndarray]  # STEP_FIELDS -> (K,)
    layers: dict[str, np.ndarray]  # LAYER_FIELDS -> (K, n_layers)
    seconds: float = 0.0

    def steps_to(self, target: float, metric: str = "test_acc") -> int | None:
        """The first logged step at which ``metric`` ≥ ``target`` (None if never)."""
        hit = np.nonzero(self.metrics[metric] >= target)[0]
        return int(self.steps[hit[0]]) if hit.size else None

    def final(self, metric: str = "test_acc") -> float:
        return float(self.metrics[metric][-1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "label": self.label, "replica": self.replica,
            "key": self.key, "seed": self.seed, "seconds": self.seconds,
            "steps": self.steps.tolist(),
            "metrics": {k: _enc(v) for k, v in self.metrics.items()},
            "layers": {k: [_enc(row) for row in v] for k, v in self.layers.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Run:
        return cls(
            config=int(d["config"]), label=str(d["label"]), replica=int(d["replica"]),
            key=str(d["key"]), seed=[int(s) for s in d["seed"]],
            steps=np.asarray(d["steps"], dtype=np.int64),
            metrics={k: _dec(v) for k, v in d["metrics"].items()},
            layers={k: np.array([_dec(r) for r in v]) for k, v in d["layers"].items()},
            seconds=float(d.get("seconds", 0.0)),
        )


def _enc(a: Any) -> list[Any]:
    return [None if not math.isfinite(float(v)) else float(v) for v in np.asarray(a).ravel()]


def _dec(values: Sequence[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


@dataclass
class TrainingStudy(Typeset):
    """The result of :func:`train_study`: the configurations and every run's curves."""

    configs: list[dict[str, Any]]
    budget: dict[str, Any]
    seed: int
    runs: list[Run] = field(default_factory=list)
    version: str = __version__
    #: what the study is (set by the analyses: ``{"kind": "trainability", ...}``), so that it
    #: can be analysed again from its file (:meth:`vgmath.training.Trainability.from_study`)
    meta: dict[str, Any] = field(default_factory=dict)

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The size of the study, its SGD budget and the range of the final test accuracy
        (mean over replicas) with the best configuration (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        n, runs = len(self.configs), len(self.runs)
        out = [("study", (rf"{n}\ \text{{configuration{'' if n == 1 else 's'}}},\ {runs}\ "
                          rf"\text{{run{'' if runs == 1 else 's'} (seed {self.seed})}}"))]
        b = self.budget
        if {"steps", "lr", "batch"} <= set(b):
            out.append(("budget", (rf"{int(b['steps'])}\ \text{{SGD steps}},\ \eta = "
                                   rf"{latex_number(b['lr'], digits)},\ B = {int(b['batch'])}")))
        acc = self.final("test_acc")
        if np.isfinite(acc).any():
            lo, hi = float(np.nanmin(acc)), float(np.nanmax(acc))
            span = (rf" = {latex_number(hi, digits)}" if lo == hi else
                    rf" \in \bigl[{latex_number(lo, digits)},\ {latex_number(hi, digits)}\bigr]")
            out.append(("final test accuracy", r"\overline{\mathrm{acc}}_{\text{test}}" + span))
            best = self.configs[int(np.nanargmax(acc))]
            label = str(best.get("label", int(np.nanargmax(acc))))
            out.append(("best configuration", rf"\text{{best: {escape_text(label)}}}"))
        return out

    # ---- views
    def chains(self) -> list[Chain]:
        """The configurations as :class:`vgmath.Chain` objects (rebuilt from their data)."""
        return [Chain.from_dict(c["chain"]) for c in self.configs]

    def runs_of(self, config: int) -> list[Run]:
        return sorted((r for r in self.runs if r.config == config), key=lambda r: r.replica)

    def final(self, metric: str = "test_acc") -> np.ndarray:
        """Mean over replicas of the final ``metric``, per configuration (NaN if no run)."""
        out = np.full(len(self.configs), np.nan)
        for i in range(len(self.configs)):
            vals = [r.final(metric) for r in self.runs_of(i)]
            if vals:
                out[i] = float(np.mean(vals))
        return out

    def rows(self, level: str = "step") -> list[dict[str, Any]]:
        """Tidy rows: ``level="step"`` (one per run and logged step), ``"layer"`` (one per run,
        step and layer) or ``"run"`` (one per run: final metrics and steps to 80%/90%)."""
        if level not in ("step", "layer", "run"):
            raise InvalidArgumentError("level", level, "expected 'step', 'layer' or 'run'")
        out: list[dict[str, Any]] = []
        for r in sorted(self.runs, key=lambda r: (r.config, r.replica)):
            base = {"config": r.config, "label": r.label, "replica": r.replica,
                    **self.configs[r.config]["parameters"]}
            if level == "run":
                out.append({**base, **{f"final_{k}": r.final(k) for k in STEP_FIELDS},
                            "steps_to_80": r.steps_to(0.8), "steps_to_90": r.steps_to(0.9),
                            "seconds": r.seconds})
                continue
            for k, step in enumerate(r.steps):
                row = {**base, "step": int(step),
                       **{m: float(r.metrics[m][k]) for m in STEP_FIELDS}}
                if level == "step":
                    out.append(row)
                    continue
                for layer in range(r.layers["rel_change"].shape[1]):
                    out.append({**row, "layer": layer,
                                **{m: float(r.layers[m][k, layer]) for m in LAYER_FIELDS}})
        return out

    # ---- files
    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "vgmath": self.version, "seed": self.seed,
                "meta": self.meta, "budget": self.budget, "configs": self.configs,
                "runs": [r.to_dict() for r in sorted(self.runs, key=lambda r: (r.config,
                                                                                r.replica))]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    def to_csv(self, level: str = "layer") -> str:
        rows = self.rows(level)
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            for row in rows:
                w.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else v)
                            for k, v in row.items()})
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON (everything; resumable) or CSV (tidy per-layer rows), atomically."""
        suffix = Path(path).suffix.lower()
        if suffix == ".json":
            return atomic_write(path, self.to_json())
        if suffix == ".csv":
            return atomic_write(path, self.to_csv())
        raise InvalidArgumentError("path", str(path), "expected a .json or .csv file name")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainingStudy:
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InvalidArgumentError("path", str(path), f"cannot read a study: {err}") from None
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise InvalidArgumentError("path", str(path), "not a vgmath training study file")
        return cls(configs=d["configs"], budget=d["budget"], seed=int(d["seed"]),
                   runs=[Run.from_dict(r) for r in d["runs"]], version=d.get("vgmath", ""),
                   meta=dict(d.get("meta") or {}))


# --------------------------------------------------------------------------- one run


def run_key(chain: Chain, budget: _Budget, replica: int) -> str:
    """A stable hash of everything that determines a run (not its position in a grid)."""
    payload = json.dumps({"chain": chain.to_dict(), "budget": budget.__dict__,
                          "replica": replica}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def run_seed(seed: int, key: str) -> list[int]:
    """The run's SeedSequence entropy: the study seed and 128 bits of the run's key."""
    return [int(seed), *(int(key[i:i + 8], 16) for i in range(0, 32, 8))]


def train_one(chain: Chain, budget: _Budget, seed: Sequence[int]) -> dict[str, Any]:
    """Train one network; returns the logged curves (plain arrays, picklable)."""
    t0 = time.perf_counter()
    data = load_dataset(budget.data, test_fraction=budget.test_fraction, limit=budget.limit)
    ss = np.random.SeedSequence(list(seed))
    init_ss, batch_ss = ss.spawn(2)
    model = MLP(chain, data.n_features, data.n_classes, np.random.default_rng(init_ss))
    rng = np.random.default_rng(batch_ss)
    n = len(data.y_train)
    B = min(budget.batch, n)
    steps: list[int] = []
    metrics: dict[str, list[float]] = {k: [] for k in STEP_FIELDS}
    layers: dict[str, list[np.ndarray]] = {k: [] for k in LAYER_FIELDS}
    perm = rng.permutation(n)
    pos = 0
    with np.errstate(all="ignore"):
        for step in range(budget.steps + 1):
            if pos + B > n:
                perm, pos = rng.permutation(n), 0
            idx = perm[pos:pos + B]
            pos += B
            log = step % budget.log_every == 0 or step == budget.steps
            if log:  # the network as it is before this step's update
                tr = model.evaluate(data.x_train, data.y_train)
                te = model.evaluate(data.x_test, data.y_test)
                rel = model.relative_changes()
            if step == budget.steps:  # the last log: no further update
                logits, _ = model.forward(data.x_train[idx])
                bl = softmax_cross_entropy(logits, data.y_train[idx])[0]
                gw2 = gh2 = np.full(len(model.dense_layers), np.nan)
            else:
                b = model.step(data.x_train[idx], data.y_train[idx], budget.lr)
                bl, gw2, gh2 = b.loss, b.grad_w2, b.grad_h2
            if log:
                steps.append(step)
                for k, v in zip(STEP_FIELDS, (*tr, *te, bl), strict=True):
                    metrics[k].append(v if math.isfinite(v) else math.nan)
                layers["rel_change"].append(rel)
                layers["grad_w2"].append(gw2)
                layers["grad_h2"].append(gh2)
    return {
        "steps": np.asarray(steps, dtype=np.int64),
        "metrics": {k: np.asarray(v) for k, v in metrics.items()},
        "layers": {k: np.vstack(v) for k, v in layers.items()},
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- the study


def _positive(name: str, value: Any, kind: type = int) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise InvalidArgumentError(name, value, f"must be a positive {kind.__name__}")
    if not (math.isfinite(value) and value > 0):
        raise InvalidArgumentError(name, value, "must be finite and > 0")
    return kind(value)


def train_study(
    grid: Any,
    *,
    steps: int = 300,
    lr: float = 0.01,
    batch: int = 64,
    replicas: int = 1,
    log_every: int = 10,
    data: str = "digits",
    test_fraction: float = 0.2,
    limit: int | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
    executor: Any = None,
    workers: int | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = False,
    callback: Callable[[Run], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> TrainingStudy:
    """Train every configuration of ``grid`` ``replicas`` times and log per-layer learning.

    Parameters
    ----------
    grid
        A dict of lists over the keys of :func:`vgmath.sweep` (``activation``, ``init`` or
        ``sigma_w2``, ``depth``, ``width``, ``sigma_b2``, ``arch``, ``input_q``) or a list of
        :class:`vgmath.Chain` objects (batch-normalised chains included).
    steps, lr, batch, log_every
        The budget: SGD steps of mini-batches of ``batch`` examples at learning rate ``lr``
        (constant), metrics logged every ``log_every`` steps and at the end.
    replicas
        Independently initialised (and independently batched) runs per configuration.
    data, test_fraction, limit
        See :func:`vgmath.training.data.load_dataset`.
    labels
        One label per configuration (default: the chain's description).
    seed
        The study seed; each run's seed is derived from it and the run's content.
    executor, workers
        As in :func:`vgmath.sweep`: ``None`` (a process pool), ``"serial"``, ``"threads"``,
        an Executor or a dask.distributed Client.
    out, resume
        A ``.json`` file rewritten atomically after each finished run; with ``resume`` an
        existing file's finished runs are kept and only the missing ones are trained.
    progress, callback
        A progress bar on stderr; a function called with each finished :class:`Run`.
    meta
        Plain data saved with the study (what it is, for later analysis).

    Reference: Schoenholz et al. 2017, arXiv:1611.01232, §5 (trainability experiments).
    """
    budget = _Budget(
        steps=_positive("steps", steps), lr=_positive("lr", lr, float),
        batch=_positive("batch", batch), log_every=_positive("log_every", log_every),
        data=str(data), test_fraction=float(test_fraction),
        limit=None if limit is None else _positive("limit", limit),
    )
    replicas = _positive("replicas", replicas)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgumentError("seed", seed, "must be a non-negative integer")
    load_dataset(budget.data, test_fraction=budget.test_fraction, limit=budget.limit)  # fail early
    chains, _ = _configurations(grid)
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != len(chains):
            raise InvalidArgumentError("labels", labels,
                                       f"expected {len(chains)} labels, one per configuration")
    else:
        labels = [str(c) for c in chains]
    from ..montecarlo.grid import chain_parameters

    configs = [{"label": labels[i], "chain": c.to_dict(), "parameters": chain_parameters(c)}
               for i, c in enumerate(chains)]
    configs = json.loads(json.dumps(configs, default=str))
    study = TrainingStudy(configs=configs, budget=dict(budget.__dict__), seed=seed,
                          meta=json.loads(json.dumps(dict(meta or {}), default=str)))
    done: dict[str, Run] = {}
    if out is not None and resume and Path(out).exists():
        old = TrainingStudy.load(out)
        done = {r.key: r for r in old.runs}
    tasks = []
    for i, c in enumerate(chains):
        for r in range(replicas):
            key = run_key(c, budget, r)
            if key in done:
                prev = done[key]
                prev.config, prev.label = i, labels[i]
                study.runs.append(prev)
            else:
                tasks.append((i, r, key, c))

    def finish(i: int, r: int, key: str, payload: dict[str, Any]) -> None:
        run = Run(config=i, label=labels[i], replica=r, key=key, seed=run_seed(seed, key),
                  steps=payload["steps"], metrics=payload["metrics"], layers=payload["layers"],
                  seconds=float(payload["seconds"]))
        study.runs.append(run)
        if out is not None:
            study.save(out)
        if callback is not None:
            callback(run)

    if tasks:
        kind, parallelism, obj = _plan_executor(executor, workers)
        runner = _start_executor(kind, parallelism, obj, len(tasks))
        finished: SimpleQueue[Any] = SimpleQueue()
        try:
            with _progress(len(tasks), enabled=progress, desc="train", unit="run") as bar:
                pending = {}
                for t in tasks:
                    fut = runner.executor.submit(train_one, t[3], budget, run_seed(seed, t[2]))
                    pending[fut] = t
                    fut.add_done_callback(finished.put)
                while pending:
                    fut = finished.get()
                    i, r, key, c = pending.pop(fut)
                    try:
                        payload = fut.result()
                    except (Exception, CancelledError) as err:
                        raise VgmathError(
                            f"training configuration {i} ({labels[i]}), replica {r} failed: "
                            f"{type(err).__name__}: {err}"
                        ) from None
                    finish(i, r, key, payload)
                    bar.update()
        finally:
            if runner.owned:
                runner.executor.shutdown(wait=True, cancel_futures=True)
    study.runs.sort(key=lambda r: (r.config, r.replica))
    if out is not None:
        study.save(out)
    return study
