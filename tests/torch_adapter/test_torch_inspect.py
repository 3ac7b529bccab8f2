"""``vgmath inspect FILE:FUNCTION``: text and JSON, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vgmath.cli.main import main

MODEL = '''
import torch.nn as nn

def build_model():
    layers = []
    for _ in range(6):
        lin = nn.Linear(64, 64)
        nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU()]
    layers.append(nn.Linear(64, 10))
    return nn.Sequential(*layers)

def not_a_chain():
    return nn.Sequential(nn.Conv1d(1, 1, 3))
'''


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return path


def test_inspect_prints_description_profiles_and_verdict(model_file: Path, capsys) -> None:
    assert main(["inspect", f"{model_file}:build_model", "--reinit", "16"]) == 0
    out = capsys.readouterr().out
    assert "Chain(relu, he, depth=6, width=64)" in out
    assert "kaiming_normal_(nonlinearity='relu')" in out
    assert "predicted" in out and "measured" in out
    assert "verdict: PASS" in out
    assert "read-out nn.Linear at '12'" in out


def test_inspect_json(model_file: Path, capsys) -> None:
    assert main(["inspect", f"{model_file}:build_model", "--reinit", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"]["kind"] == "chain"
    assert len(data["prediction"]["grad_second_moment"]) == 7
    assert data["measured"]["trials"] == 8 and data["measured"]["method"] == "torch"
    assert isinstance(data["passed"], bool)


@pytest.mark.parametrize(
    ("target", "message"),
    [("missing.py:f", "no file"), ("{}:nope", "defines no function nope"),
     ("{}:not_a_chain", "nn.Conv1d at '0'")],
)
def test_inspect_errors_are_one_line(model_file: Path, capsys, target: str,
                                     message: str) -> None:
    code = main(["inspect", target.format(model_file), "--reinit", "4"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


OTHERS = '''
import torch.nn as nn

def lstm():
    return nn.LSTM(8, 16)

def bn():
    layers = []
    for _ in range(4):
        layers += [nn.Linear(32, 32), nn.BatchNorm1d(32), nn.Tanh()]
    return nn.Sequential(*layers)
'''


@pytest.mark.parametrize(("func", "extra", "expect", "why"), [
    # no theory for recurrent nets; batch-normalised chains have one only at infinite width
    # (an O(B·L/n) gap at width 32): both are compared with vg.simulate of their description
    ("lstm", ["--steps", "6"], "Recurrent(lstm", "no mean-field theory"),
    ("bn", [], "batchnorm(batch=4)", "infinite-width limit"),
])
def test_inspect_without_a_finite_width_theory_compares_with_simulate(
        tmp_path: Path, capsys, func: str, extra: list[str], expect: str, why: str) -> None:
    path = tmp_path / "others.py"
    path.write_text(OTHERS)
    assert main(["inspect", f"{path}:{func}", "--reinit", "8", *extra]) == 0
    out = capsys.readouterr().out
    assert expect in out and "prediction: vg.simulate" in out and why in out
    assert "verdict:" in out


def test_inspect_the_example(capsys) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "torch_diagnose.py"
    assert main(["inspect", f"{example}:build_model", "--reinit", "4", "--inputs", "2"]) == 0
    out = capsys.readouterr().out
    assert "Chain(sigmoid, xavier, depth=40, width=256)" in out and "verdict:" in out
