"""Shared test setup: Hypothesis profiles (CI is derandomised so a red run reproduces), and
vgmath's on-disk cache in a fresh temporary folder (never the user's), removed at exit."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

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
