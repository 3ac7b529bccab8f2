"""Shared test setup: Hypothesis profiles (CI is derandomised so a red run reproduces), and
vgmath's on-disk cache in a fresh temporary folder (never the user's), removed at exit."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

if "VGMATH_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="vgmath-test-cache-")
    os.environ["VGMATH_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)

settings.register_profile(
    "ci", max_examples=60, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=2000, deadline=None)
_default = "ci" if os.environ.get("CI") else "dev"
settings.load_profile(os.environ.get("VGMATH_HYPOTHESIS_PROFILE", _default))


# ---------------------------------------------------------------- the report's tools under CI
#: Programs the report needs. Building the PDF is vgmath's main job, so under CI (``CI`` set)
#: a test skipped because one of them is missing is turned into a failure: a green CI run
#: always built and read the PDF. Locally the tests skip with one line.
REPORT_TOOLS = ("pdflatex", "pdftotext", "pdftoppm", "bibtex", "latexmk", "poppler")


def _is_report_tool_skip(reason: str) -> bool:
    low = reason.lower()
    return any(tool in low for tool in REPORT_TOOLS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not (os.environ.get("CI") and report.skipped):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(
        report.longrepr)
    if _is_report_tool_skip(reason):
        report.outcome = "failed"
        report.longrepr = (f"CI is set, so the report's tools must be installed "
                           f"(.ci/run installs them): {reason}")
