"""The results of a sweep (:class:`SweepEntry`, :class:`SweepResult`): tidy rows, JSON/CSV
round trips and the summary per configuration.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError
from ..core.io import save_by_extension, text_or_file
from ..network.description import Chain
from ..symbolic.typeset import Typeset, latex_from_ln
from .grid import _INT_COLUMNS, _LN10, _TEXT_COLUMNS, PARAMETER_COLUMNS, SIM_SCALARS, FloatArray

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
    #: ``{"type": ..., "reason": ...}`` when this configuration failed (``on_error="record"``)
    error: Mapping[str, str] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

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
            **({} if self.error is None else {"error": dict(self.error)}),
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
            error=data.get("error"),
        )


@dataclass(frozen=True, eq=False)
class SweepResult(Typeset):
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

    @property
    def complete(self) -> bool:
        """False when some configurations failed (``on_error="record"``; see ``failures``)."""
        return not any(e.failed for e in self.entries)

    @property
    def failures(self) -> list[SweepEntry]:
        """The entries that failed, with their ``error``."""
        return [e for e in self.entries if e.failed]

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The number of configurations and the range over them of the gradient ratio
        E[(g⁰_i)²]/E[(g^L_i)²], from theory and from Monte Carlo (``.latex(mode, digits)``:
        :mod:`vgmath.symbolic.typeset`)."""
        n, failed = len(self.entries), len(self.failures)
        what = rf"{n}\ \text{{configuration{'' if n == 1 else 's'} (seed {self.seed}"
        out = [("sweep", what + (f", {failed} failed)}}" if failed else ")}"))]
        theory = [float(e.prediction["ln_grad_second_moment"][0]) for e in self.entries
                  if e.prediction is not None and "ln_grad_second_moment" in e.prediction]
        sim = [float(e.simulation["log10_grad_second_moment"][0]) * _LN10 for e in self.entries
               if e.simulation is not None and "log10_grad_second_moment" in e.simulation]
        ratio = r"\frac{\mathbb{E}[(g^0_i)^2]}{\mathbb{E}[(g^L_i)^2]}"
        for label, lns in (("theory", theory), ("Monte Carlo", sim)):
            known = [v for v in lns if not math.isnan(v)]
            if not known:
                continue
            lo, hi = latex_from_ln(min(known), digits), latex_from_ln(max(known), digits)
            span = rf" = {lo}" if lo == hi else rf" \in [{lo},\ {hi}]"
            out.append((f"gradient ratio ({label})", rf"\text{{{label}: }}" + ratio + span))
        return out

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
                e.prediction["ln_grad_second_moment"][0] / _LN10)
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
