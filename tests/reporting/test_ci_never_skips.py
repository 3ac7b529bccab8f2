"""Under CI a report test cannot pass by skipping: a missing pdflatex or poppler fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROBE = '''
import pytest

@pytest.mark.skipif(True, reason="pdflatex is not installed")
def test_marked():
    pass

def test_imperative():
    pytest.skip("poppler-utils are not installed")

def test_unrelated_extra():
    pytest.skip("needs torch")
'''


def _run(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    shutil.copy(Path(__file__).parents[1] / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-rs", str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, check=False)


def test_missing_report_tools_fail_under_ci(tmp_path: Path) -> None:
    run = _run(tmp_path, ci=True)
    assert run.returncode == 1, run.stdout
    # the skipif marker fails at setup (an error), the imperative skip in the call (a failure)
    assert "1 failed" in run.stdout and "1 error" in run.stdout, run.stdout
    assert "1 skipped" in run.stdout, run.stdout  # a missing optional extra still skips


def test_they_skip_elsewhere(tmp_path: Path) -> None:
    run = _run(tmp_path, ci=False)
    assert run.returncode == 0 and "3 skipped" in run.stdout, run.stdout
