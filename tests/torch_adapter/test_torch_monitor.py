"""``GradientMonitor`` in a training loop, its files, and ``vgmath plot-monitor``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn
from vgt_helpers import mlp

import vgmath as vg
import vgmath.torch as vgt
from vgmath.cli.main import main


def _train(model: nn.Module, monitor: vgt.GradientMonitor, steps: int, *, lr: float = 0.05,
           seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        x = torch.randn(16, 32, generator=gen)
        y = torch.randint(0, 10, (16,), generator=gen)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        monitor.step()


def test_monitor_records_every_k_steps_and_matches_autograd(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = mlp(nn.Tanh, "xavier", depth=4, width=32)
    monitor = vgt.GradientMonitor(model, every=3)
    _train(model, monitor, 7)
    rec = monitor.record()
    assert rec.steps == [0, 3, 6]
    assert len(rec.rows) == 3 * 5  # 4 hidden layers and the read-out
    row = next(r for r in rec.rows if r["step"] == 6 and r["layer"] == 2)
    assert row["grad_preact_second_moment"] > 0 and row["grad_input_second_moment"] > 0
    assert 0 < row["update_ratio"] < 1
    first = next(r for r in rec.rows if r["layer"] == 1)
    assert math.isnan(first["grad_input_second_moment"])  # the input does not require grad
    # the weight-gradient column is autograd's own (checked on one fresh step)
    monitor2 = vgt.GradientMonitor(model, every=1)
    x = torch.randn(8, 32)
    model.zero_grad()
    model(x).pow(2).sum().backward()
    monitor2.step()
    w = model[2].weight
    r2 = next(r for r in monitor2.rows if r["path"] == "2")
    assert r2["weight_grad_second_moment"] == pytest.approx(float((w.grad.double()**2).mean()),
                                                            rel=1e-6)
    assert r2["update_ratio"] == 0.0  # no optimiser step
    monitor.remove()
    monitor2.remove()
    for name in ("m.json", "m.csv"):
        path = monitor.save(tmp_path / name)
        back = vgt.load_monitor(path)
        assert back.steps == [0, 3, 6] and len(back.rows) == 15
        assert back.prediction is not None and len(back.prediction) == 5
        assert back.rows[4]["path"] == rec.rows[4]["path"]


def test_plot_monitor_command(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model = mlp(nn.ReLU, "kaiming", depth=5, width=32)
    monitor = vgt.GradientMonitor(model, every=2)
    _train(model, monitor, 6)
    path = monitor.save(tmp_path / "grads.json")
    assert main(["plot-monitor", str(path)]) == 0
    assert (tmp_path / "grads.png").stat().st_size > 1000
    assert "3 recorded steps" in capsys.readouterr().out
    assert main(["plot-monitor", str(tmp_path / "missing.json")]) == 2


def test_recurrent_modules_are_refused() -> None:
    with pytest.raises(vg.InvalidArgumentError, match="recurrent"):
        vgt.GradientMonitor(nn.LSTM(4, 4))
