"""Coverage of vg.verify's 95% intervals at depth 50, width 32, against committed data.

tests/verification/data/coverage_50x32.json holds, per config, 200 replicates of 1000
networks (benchmarks/coverage_deep_narrow.py, seeds 9_000_000 + ...): whether Hall's
interval, the plain normal interval and the studentised bootstrap covered the pooled mean
of all 200 000 networks at each layer, and the raw per-layer tail diagnostic (before the
window of vgmath.verification.tolerance). The trust rule is recomputed by the code under
test, so a change of TAIL_K_MAX or of the window is checked against the data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vgmath.verification.tolerance import TAIL_K_MAX, window_max

DATA = Path(__file__).parent / "data" / "coverage_50x32.json"


def _load() -> dict:
    with open(DATA) as fh:
        return {r["config"]: r for r in json.load(fh)["records"]}


def _k(rec: dict) -> np.ndarray:
    return np.array([[np.nan if v is None else v / 100 for v in row]
                     for row in rec["k_raw_x100"]], dtype=float)


def _hits(rec: dict, key: str) -> np.ndarray:
    return np.array([[c == "1" for c in row] for row in rec[key]], dtype=bool)


def _coverage(hit: np.ndarray, ok: np.ndarray) -> tuple[float, float]:
    """Coverage over trusted cells and its standard error over replicates (the layers of a
    replicate share their networks: their misses are correlated)."""
    n_ok = ok.sum(axis=1)
    rows = n_ok > 0
    cov = float((hit & ok).sum() / ok.sum())
    per = (hit & ok).sum(axis=1)[rows] / n_ok[rows]
    w = n_ok[rows] / n_ok[rows].mean()
    r = int(rows.sum())
    return cov, float(np.sqrt(np.sum((w * (per - cov)) ** 2) / (r * (r - 1))))


def _verify_rule(k: np.ndarray) -> np.ndarray:
    return ~(np.array([window_max(row) for row in k]) > TAIL_K_MAX)


@pytest.fixture(scope="module")
def data() -> dict:
    return _load()


def test_trusted_layers_cover_in_every_measured_config(data: dict) -> None:
    """Hall's interval over the layers vg.verify trusts: consistent with ≥ 90% everywhere
    (coverage + 2 se ≥ 0.90) and never below 0.88 (softplus + Xavier measures 0.887 ± 0.022)."""
    for name, rec in data.items():
        cov, se = _coverage(_hits(rec, "hall_pooled"), _verify_rule(_k(rec)))
        assert cov >= 0.88 and cov + 2 * se >= 0.90, (name, cov, se)


def test_per_layer_tail_rule_is_caught(data: dict) -> None:
    """Trusting a layer on its own k̂ ≤ 1/2 (no window) selects the runs that missed the rare
    networks: softplus chains then cover clearly below 90% — the data detect that rule."""
    for name in ("softplus+lecun", "softplus+xavier"):
        rec = data[name]
        cov, se = _coverage(_hits(rec, "hall_pooled"), ~(_k(rec) > 0.5))
        assert cov + 2 * se < 0.90, (name, cov, se)


def test_plain_normal_interval_is_caught(data: dict) -> None:
    """mean ± 1.96 se on the heavy-tailed softplus layers covers ~82–84%: a test that used it
    would be wrong, and the data show it."""
    for name in ("softplus+lecun", "softplus+xavier"):
        rec = data[name]
        cov, se = _coverage(_hits(rec, "normal_pooled"), ~(_k(rec) > 0.5))
        assert cov + 2 * se < 0.88, (name, cov, se)


def test_identity_chains_cover_the_exact_value(data: dict) -> None:
    """Linear Gaussian networks: the mean-field value is exact at any width, so this checks
    coverage without the (slightly optimistic) pooled reference."""
    for name in ("identity+lecun", "identity+xavier"):
        rec = data[name]
        cov, se = _coverage(_hits(rec, "hall_exact"), _verify_rule(_k(rec)))
        assert cov >= 0.90, (name, cov, se)
