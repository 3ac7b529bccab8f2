"""Report tests leave large object graphs (figures, simulations, subprocess handles) behind;
collect them when each module ends, so that their finalisers do not run later inside another
module's timed section (an effort limit's alarm landing in a finaliser is reported as an
unraisable exception there)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_after_module() -> Iterator[None]:
    yield
    gc.collect()
