"""The ``torch`` extra: ``vgmath.torch`` imports PyTorch only when used; ``import vgmath`` never
does. (Without PyTorch this module is the one line that says the adapter's tests skipped.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch", reason="vgmath.torch needs the extra: pip install 'vgmath[torch]'")


def test_import_vgmath_and_its_subpackage_do_not_import_torch() -> None:
    code = (
        "import sys, vgmath, vgmath.torch\n"
        "import vgmath.cli.main\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_public_names_resolve() -> None:
    import vgmath.torch as vgt

    for name in vgt.__all__:
        assert getattr(vgt, name) is not None
