"""Per-layer gradients during training, against the prediction at initialisation.

``GradientMonitor(model, every=k)`` hooks the model's ``Linear`` layers (the ones
:func:`vgmath.torch.read_model` finds). Every k-th step — the forward and backward passes of
the training loop itself, no extra backward — it records for each ``Linear`` (layer l,
path, widths n_in → n_out, batch B):

=============================  ==============================================================
column                         value at that step
=============================  ==============================================================
``grad_input_second_moment``   ‖∂E/∂x^{l-1}‖²/(n_in·B), the gradient reaching the layer's
                               input (g^{l-1} in vgmath's notation; NaN for the model's
                               input unless it requires grad)
``grad_preact_second_moment``  ‖∂E/∂h^l‖²/(n_out·B), h^l = the layer's output (δ^l)
``weight_grad_second_moment``  ‖∂E/∂W^l‖²_F/(n_out·n_in), the batch gradient the optimiser
                               sees
``weight_second_moment``       ‖W^l‖²_F/(n_out·n_in) before the step
``update_ratio``               ‖ΔW^l‖_F/‖W^l‖_F over the optimiser step (the "update-to-
                               weight ratio"; about 1e-3 is the usual rule of thumb)
=============================  ==============================================================

Use::

    monitor = vgt.GradientMonitor(model, every=10)
    for x, y in data:
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
        monitor.step()                 # after optimizer.step()
    monitor.save("grads.json")         # or .csv; `vgmath plot-monitor grads.json`

The recorded steps cost one copy of each weight (for ΔW) and one sum of squares per hooked
tensor; the other steps cost a flag test per hooked module. The saved file carries the
initialisation-time prediction ``vg.predict(describe(model))`` of the gradient profile
(chains and residual chains; batch-normalised chains have none): the plot compares the
shape of the measured profile, relative to its value at the last layer, with the
predicted one relative to the same layer (the loss sets the overall scale, vgmath's
E[(g^L)²] = 1 does not).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgumentError
from ..core.io import save_by_extension, text_or_file
from .backend import require_torch
from .model import ModelInfo, read_model

__all__ = ["COLUMNS", "GradientMonitor", "MonitorRecord", "load_monitor", "plot_monitor"]

#: per-layer columns of a record (besides step, layer, role, path, fan_in, fan_out)
COLUMNS = ("grad_input_second_moment", "grad_preact_second_moment",
           "weight_grad_second_moment", "weight_second_moment", "update_ratio")
_KEYS = ("step", "layer", "role", "path", "fan_in", "fan_out", *COLUMNS)


def _prediction(info: ModelInfo) -> list[float] | None:
    """Predicted E[(g^l)²], l = 0..L, at initialisation (None where vg.predict has no theory)."""
    from ..core.errors import VgmathError
    from ..theory.prediction import predict

    try:
        pred = predict(info.description)
    except VgmathError:
        return None
    return [float(v) for v in pred.profile("grad_second_moment")]


class GradientMonitor:
    """Record per-layer gradient statistics every ``every`` steps (module docstring).

    ``batch``: the batch size, needed to describe a batch-normalised model.
    """

    def __init__(self, model: Any, *, every: int = 10, batch: int | None = None) -> None:
        torch = require_torch()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidArgumentError("every", every, "expected an integer >= 1")
        if isinstance(model, torch.nn.RNNBase):
            raise InvalidArgumentError("model", type(model).__name__, "GradientMonitor hooks "
                                       "Linear layers; recurrent modules are not monitored")
        self.info = read_model(model, batch=batch)
        self.every = every
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.prediction = _prediction(self.info)
        self._step = 0
        self._acc: dict[str, dict[str, float]] = {}
        self._before: dict[str, Any] = {}
        self._layers = [*self.info.layers, *(() if self.info.readout is None else
                                             (self.info.readout,))]
        self._handles = []
        for layer in self._layers:
            mod = model.get_submodule(layer.path)
            if not isinstance(mod, torch.nn.Linear):  # pragma: no cover - read_model's contract
                raise InvalidArgumentError("model", layer.path, "expected an nn.Linear")
            self._handles.append(mod.register_forward_hook(self._hook(layer.path)))

    # ---- hooks
    @property
    def armed(self) -> bool:
        """Whether the current step is recorded."""
        return self._step % self.every == 0

    def _hook(self, path: str) -> Any:
        torch = require_torch()

        def add(key: str, numel_per_row: int) -> Any:
            def on_grad(grad: Any) -> None:
                g = grad.detach().to(torch.float64)
                rows = g.shape[0] if g.ndim > 1 else 1
                acc = self._acc.setdefault(path, {})
                acc[key] = acc.get(key, 0.0) + float((g * g).sum()) / (numel_per_row * rows)

            return on_grad

        def hook(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
            if not self.armed or not torch.is_grad_enabled():
                return
            if path not in self._before:
                self._before[path] = module.weight.detach().clone()
            x = inputs[0]
            if x.requires_grad:
                x.register_hook(add("grad_input_second_moment", module.in_features))
            if output.requires_grad:
                output.register_hook(add("grad_preact_second_moment", module.out_features))

        return hook

    # ---- the training loop's call
    def step(self) -> None:
        """Call once per training step, after ``optimizer.step()``."""
        if self.armed and self._before:
            torch = require_torch()
            for layer in self._layers:
                mod = self.model.get_submodule(layer.path)
                acc = self._acc.get(layer.path, {})
                before = self._before.get(layer.path)
                w = mod.weight.detach()
                wg = mod.weight.grad
                N = w.numel()
                row: dict[str, Any] = {
                    "step": self._step, "layer": layer.layer, "role": layer.role,
                    "path": layer.path, "fan_in": layer.fan_in, "fan_out": layer.fan_out,
                    "grad_input_second_moment": acc.get("grad_input_second_moment", math.nan),
                    "grad_preact_second_moment": acc.get("grad_preact_second_moment",
                                                         math.nan),
                    "weight_grad_second_moment": (math.nan if wg is None else float(
                        (wg.detach().to(torch.float64) ** 2).sum()) / N),
                }
                if before is None:
                    row["weight_second_moment"] = row["update_ratio"] = math.nan
                else:
                    b64 = before.to(torch.float64)
                    norm2 = float((b64 * b64).sum())
                    row["weight_second_moment"] = norm2 / N
                    diff = float(((w.to(torch.float64) - b64) ** 2).sum())
                    row["update_ratio"] = math.sqrt(diff / norm2) if norm2 > 0 else math.nan
                self.rows.append(row)
        self._acc.clear()
        self._before.clear()
        self._step += 1

    def remove(self) -> None:
        """Remove the hooks (the monitor keeps its records)."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # ---- export
    def record(self) -> MonitorRecord:
        return MonitorRecord(self.metadata(), [dict(r) for r in self.rows])

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": "gradient_monitor",
            "every": self.every,
            "model": self.info.to_dict(),
            "prediction": {"grad_second_moment": self.prediction},
            "columns": {
                "grad_input_second_moment": "‖∂E/∂x^{l-1}‖²/(n_in·B)",
                "grad_preact_second_moment": "‖∂E/∂h^l‖²/(n_out·B)",
                "weight_grad_second_moment": "‖∂E/∂W‖²_F/(n_out·n_in)",
                "weight_second_moment": "‖W‖²_F/(n_out·n_in) before the step",
                "update_ratio": "‖ΔW‖_F/‖W‖_F over the step",
            },
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """JSON (``.json``) or CSV (``.csv``, metadata on ``#`` lines), atomically."""
        return self.record().save(path)


class MonitorRecord:
    """A saved monitor: ``metadata`` (with the prediction) and ``rows`` (one per layer and
    recorded step)."""

    def __init__(self, metadata: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
        self.metadata = dict(metadata)
        self.rows = rows

    @property
    def prediction(self) -> list[float] | None:
        pred = self.metadata.get("prediction") or {}
        return pred.get("grad_second_moment")

    @property
    def steps(self) -> list[int]:
        return sorted({int(r["step"]) for r in self.rows})

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        data = {**self.metadata, "rows": [{k: _jnum(v) for k, v in r.items()} for r in self.rows]}
        return text_or_file(json.dumps(data, indent=2, allow_nan=False) + "\n", path)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        buf = io.StringIO()
        for key, value in self.metadata.items():
            buf.write(f"# {key}: {json.dumps(value, allow_nan=False, default=str)}\n")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(_KEYS)
        for r in self.rows:
            writer.writerow(["" if isinstance(r[k], float) and math.isnan(r[k]) else r[k]
                             for k in _KEYS])
        return text_or_file(buf.getvalue(), path)

    def save(self, path: str | os.PathLike[str]) -> Path:
        return save_by_extension(path, self.to_json, self.to_csv)


def _jnum(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def load_monitor(path: str | os.PathLike[str]) -> MonitorRecord:
    """Read a file written by :meth:`GradientMonitor.save` (JSON or CSV)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidArgumentError("path", str(path), f"cannot read it ({err.strerror})") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidArgumentError("path", str(path), f"not JSON ({err})") from None
        if not isinstance(data, dict) or data.get("kind") != "gradient_monitor":
            raise InvalidArgumentError("path", str(path), "not a gradient monitor file")
        rows = [{k: (math.nan if v is None else v) for k, v in r.items()}
                for r in data.pop("rows", [])]
        return MonitorRecord(data, rows)
    meta: dict[str, Any] = {}
    body = []
    for line in text.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(": ")
            meta[key] = json.loads(value)
        elif line:
            body.append(line)
    if meta.get("kind") != "gradient_monitor":
        raise InvalidArgumentError("path", str(path), "not a gradient monitor file")
    rows = []
    for r in csv.DictReader(body):
        row: dict[str, Any] = {"role": r["role"], "path": r["path"]}
        for k in ("step", "layer", "fan_in", "fan_out"):
            row[k] = int(r[k])
        for k in COLUMNS:
            row[k] = float(r[k]) if r[k] else math.nan
        rows.append(row)
    return MonitorRecord(meta, rows)


def plot_monitor(source: Any, path: str | os.PathLike[str] | None = None) -> Any:
    """Plot a monitor (a :class:`GradientMonitor`, a :class:`MonitorRecord` or a saved file):
    left, the gradient reaching each layer's input relative to the last layer's, one line per
    recorded step (light → dark), with the initialisation-time prediction (dashed); right,
    the update-to-weight ratio per layer. Returns the figure (saved to ``path`` if given)."""
    import matplotlib
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rec = (source.record() if isinstance(source, GradientMonitor) else source
           if isinstance(source, MonitorRecord) else load_monitor(source))
    hidden = [r for r in rec.rows if r["role"] != "readout"]
    steps = rec.steps
    if not hidden or not steps:
        raise InvalidArgumentError("monitor", "empty", "no recorded steps to plot")
    L = max(int(r["layer"]) for r in hidden)
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    ax, ax2 = fig.subplots(1, 2)
    cmap = matplotlib.colormaps["viridis"]
    by_step: dict[int, list[dict[str, Any]]] = {}
    for r in rec.rows:
        by_step.setdefault(int(r["step"]), []).append(r)
    for i, s in enumerate(steps):
        rows = by_step[s]
        g = np.full(L + 1, np.nan)  # g^{l}, l = 0..L: input gradient of layer l + 1 / read-out
        for r in rows:
            idx = int(r["layer"]) - 1 if r["role"] in ("hidden", "readout", "branch1") else None
            if idx is not None and 0 <= idx <= L:
                g[idx] = r["grad_input_second_moment"]
        colour = cmap(i / max(1, len(steps) - 1))
        top = g[L] if np.isfinite(g[L]) else g[np.isfinite(g)][-1] if np.isfinite(g).any() else 1
        ax.semilogy(np.arange(L + 1), g / top, color=colour, lw=1.2,
                    label=f"step {s}" if i in (0, len(steps) - 1) else None)
        ur = sorted((int(r["layer"]), r["update_ratio"]) for r in rows if r["role"] != "readout")
        ax2.semilogy([u[0] for u in ur], [u[1] for u in ur], color=colour, lw=1.2)
    pred = rec.prediction
    if pred is not None and len(pred) == L + 1 and pred[L]:
        p = np.asarray(pred, dtype=float)
        ax.semilogy(np.arange(L + 1), p / p[L], "k--", lw=2, label="vg.predict at init")
    ax.set_xlabel("layer l (gradient at the input of layer l + 1)")
    ax.set_ylabel("E[(g^l)²] / E[(g^L)²]")
    ax.set_title("gradient profile during training")
    ax.legend(fontsize=8)
    ax2.set_xlabel("layer")
    ax2.set_ylabel("‖ΔW‖ / ‖W‖")
    ax2.axhline(1e-3, color="grey", lw=0.8, ls=":")
    ax2.set_title("update-to-weight ratio")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
