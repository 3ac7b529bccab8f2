"""Every derivation and example runs end to end (``--fast``) and exits 0; a derivation's
literature check is shown to fail when the literature value is perturbed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = sorted(p for p in (ROOT / "derivations").glob("*.py") if not p.name.startswith("_"))
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if p.name != "sweep_dask.py")
SWEEP_DASK = ROOT / "examples" / "sweep_dask.py"
#: Each script takes a few seconds with --fast; the limit only stops a hung process.
TIMEOUT = 120


def _run(path: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "error::DeprecationWarning:vgmath"}
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          timeout=TIMEOUT, cwd=cwd, env=env, check=False)


def test_scripts_are_found() -> None:
    assert len(DERIVATIONS) >= 12
    assert len(EXAMPLES) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("path", DERIVATIONS + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_script_runs_fast(path: Path, tmp_path: Path) -> None:
    if "import torch" in path.read_text() and not _has_torch():
        pytest.skip("needs the torch extra: pip install 'vgmath[torch]'")
    run = _run(path, "--fast", cwd=tmp_path)
    assert run.returncode == 0, f"{path.name} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    if path.parent.name == "derivations":
        assert "[FAIL]" not in run.stdout
        assert "checks passed" in run.stdout


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_sweep_dask_example(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    run = _run(SWEEP_DASK, "--fast", cwd=tmp_path)
    assert run.returncode == 0, f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(ROOT / "derivations"))
    try:
        spec = importlib.util.spec_from_file_location(name.removesuffix(".py"),
                                                      ROOT / "derivations" / name)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "derivations"))


@pytest.mark.slow
@pytest.mark.quality
def test_selu_check_catches_a_wrong_digit() -> None:
    """The SELU derivation's check accepts the published constants and rejects λ changed in
    its 16th significant digit (Klambauer et al. 2017 publish 32 digits)."""
    selu = _load("04_selu_constants.py")
    checks_mod = sys.modules["_checks"]
    lam, alpha = selu.solve_closed_form(selu.expectations())
    good = checks_mod.Checks("published", quiet=True)
    assert selu.check_constants(good, lam, alpha, how="closed form")
    assert good.passed and good.exit_code() == 0
    wrong_lambda = "1.050700987355481" + "5" + "934193349852946"  # 16th digit 4 -> 5 (+1e-15)
    bad = checks_mod.Checks("perturbed", quiet=True)
    assert not selu.check_constants(bad, lam, alpha, how="closed form",
                                    published_lambda=wrong_lambda)
    assert not bad.passed and bad.exit_code() == 1
    assert [c.name for c in bad.results if not c.passed] == ["λ (closed form)"]


@pytest.mark.quality
def test_exact_check_catches_a_wrong_formula() -> None:
    """Glorot's compromise is checked exactly: the fan-in rule 1/n_in would be caught."""
    glorot = _load("02_glorot_bengio.py")
    checks_mod = sys.modules["_checks"]
    import vgmath as vg

    c = glorot.conditions()
    ck = checks_mod.Checks("wrong", quiet=True)
    assert ck.exact("compromise", c["compromise"], 2 / (vg.fan_in + vg.fan_out))
    assert not ck.exact("compromise vs 1/n_in", c["compromise"], 1 / vg.fan_in)
    assert ck.exit_code() == 1


def test_monte_carlo_check_uses_the_stated_false_alarm_rate() -> None:
    checks_mod = _load_checks()
    z = checks_mod.z_threshold(1e-4)
    assert z == pytest.approx(3.8906, abs=1e-4)  # Φ⁻¹(1 − 5e-5)
    ck = checks_mod.Checks("mc", quiet=True)
    assert ck.mc("inside", 1.0 + 3.8 * 0.01, 0.01, 1.0, z=z)
    assert not ck.mc("outside", 1.0 + 4.0 * 0.01, 0.01, 1.0, z=z)


def _load_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_checks", ROOT / "derivations" / "_checks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
