"""The public surface: ``import vgmath as vg`` keeps the 0.1 names, every subpackage's
``__all__`` resolves, and ``import vgmath`` imports no engine."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import vgmath as vg

#: the names of vgmath 0.1.0's ``__all__`` (the contract scripts rely on)
NAMES_0_1 = [
    "__version__", "VgmathError", "InvalidArgumentError", "UnknownActivationError",
    "ExpressionError", "NoFixedPointError", "NumericalError", "x", "q", "depth_symbol",
    "layer_symbol", "fan_in", "fan_out", "Activation", "activation", "activations",
    "DerivativeBound", "SaturationRegion", "ChainBound", "Init", "init_variance", "Chain",
    "Residual", "Recurrent", "gaussian_expectation", "GaussianResult", "gaussian_series",
    "predict", "Prediction", "critical_point", "CriticalPoint", "ExactProfile",
    "fixed_point", "FixedPoint", "critical_line", "gain_table", "GainRow",
    "finite_width_moment_ratio", "finite_width_formula", "simulate", "Simulation",
    "preactivation_profile", "PreactivationProfile", "bn_relu_gradient_rate",
    "clip_grad_norm", "clip_report", "ClipReport", "sweep", "SweepResult", "SweepEntry",
    "SweepError", "SerialExecutor", "dask_executor", "OptionalDependencyError", "verify",
    "Verification", "verify_bound", "BoundVerification", "verify_gradient_bound",
    "GradientBoundVerification", "report", "Report",
]

SUBPACKAGES = ("core", "symbolic", "network", "theory", "montecarlo", "verification",
               "training", "reporting", "cli")


def test_the_0_1_names_are_all_still_public() -> None:
    missing = [n for n in NAMES_0_1 if n not in vg.__all__]
    assert missing == []
    for name in vg.__all__:
        assert getattr(vg, name) is not None


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_names_what_it_owns(package: str) -> None:
    mod = importlib.import_module(f"vgmath.{package}")
    assert mod.__doc__ and "import" in mod.__doc__.lower()  # says what it may import
    assert mod.__all__
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"vgmath.{package}.{name}"


def test_root_and_subpackage_exports_are_the_same_objects() -> None:
    assert vg.predict is importlib.import_module("vgmath.theory").predict
    assert vg.simulate is importlib.import_module("vgmath.montecarlo").simulate
    assert vg.Chain is importlib.import_module("vgmath.network").Chain
    assert vg.activation is importlib.import_module("vgmath.symbolic").activation


def test_no_module_shadows_an_exported_name() -> None:
    """Importing every module of the package must not replace an exported function by a
    submodule of the same name (``vgmath.theory.predict`` is the function, always)."""
    import pkgutil
    from types import ModuleType

    import vgmath

    for info in pkgutil.walk_packages(vgmath.__path__, "vgmath."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra (PyTorch) that is not installed
            continue
    for package in ("vgmath", *(f"vgmath.{p}" for p in SUBPACKAGES)):
        mod = importlib.import_module(package)
        for name in mod.__all__:
            value = getattr(mod, name)
            assert not isinstance(value, ModuleType), f"{package}.{name} is a module"
            if hasattr(vg, name) and name != "__version__":
                assert value is getattr(vg, name), f"{package}.{name} is not vg.{name}"


def test_import_vgmath_imports_no_engine() -> None:
    """``import vgmath`` is cheap: it loads only ``vgmath.core`` helpers, no SymPy/NumPy."""
    code = (
        "import sys, vgmath\n"
        "mods = sorted(m for m in sys.modules if m.startswith('vgmath'))\n"
        "heavy = [m for m in ('sympy', 'numpy', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print(mods, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    mods, heavy = out.rsplit("] [", 1)
    assert "vgmath.theory" not in mods and "vgmath.symbolic" not in mods
    assert heavy.strip() == "]"
