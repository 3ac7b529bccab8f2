"""Where PyTorch is absent, ``vgmath inspect`` says which extra to install (one line, exit 1)
and the rest of the command line does not need it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import sys

class NoTorch:  # PyTorch made unimportable
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTorch())
from vgmath.cli.main import main
code = main(["inspect", sys.argv[1] + ":build"])
assert "torch" not in sys.modules
sys.exit(code)
"""


def test_inspect_without_torch_names_the_extra(tmp_path: Path) -> None:
    model = tmp_path / "model.py"
    model.write_text("import torch\n\ndef build():\n    return torch.nn.Linear(2, 2)\n")
    run = subprocess.run([sys.executable, "-c", CODE, str(model)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 5, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'vgmath[torch]'" in lines[0]
