"""Data sets for training studies: scikit-learn's bundled digits, or a local MNIST file.

``digits`` is scikit-learn's ``load_digits`` (1797 8×8 greyscale images of the digits 0–9,
64 features with values 0..16; shipped inside the package, no download). ``mnist:PATH`` reads
a local ``.npz`` file with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test`` (the layout
of the common ``mnist.npz``); nothing is ever fetched from the network.

Features are standardised with the training split's per-feature mean and standard deviation
(constant features are left at 0), so that the input's per-unit second moment is ≈ 1 — the
``input_q = 1`` of vgmath's theory. The train/test split of ``digits`` is a seeded
permutation (``split_seed``), stratification-free, 20% test by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, OptionalDependencyError

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Standardised features and integer labels, split into train and test."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = train.mean(axis=0)
    sd = train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (train - mu) / sd, (test - mu) / sd


def load_dataset(name: str = "digits", *, test_fraction: float = 0.2, split_seed: int = 0,
                 limit: int | None = None) -> Dataset:
    """The data set ``name`` (``"digits"`` or ``"mnist:/path/to/mnist.npz"``), standardised.

    ``limit`` keeps the first ``limit`` training examples (after the split), for quick runs.
    A process reads and standardises each data set once (the arrays are read-only and shared
    by every run of a study); a changed ``mnist:`` file is read again.
    """
    if not isinstance(name, str):
        raise InvalidArgumentError("data", name, "expected 'digits' or 'mnist:PATH'")
    key = name
    if name.startswith("mnist:"):
        path = Path(name[len("mnist:"):]).expanduser()
        key = f"{name}@{path.stat().st_mtime_ns if path.is_file() else 0}"
    return _load(key, name, test_fraction, split_seed, limit)


@lru_cache(maxsize=8)
def _load(key: str, name: str, test_fraction: float, split_seed: int,
          limit: int | None) -> Dataset:
    if not isinstance(name, str):
        raise InvalidArgumentError("data", name, "expected 'digits' or 'mnist:PATH'")
    if not (isinstance(test_fraction, float | int) and 0 < test_fraction < 1):
        raise InvalidArgumentError("test_fraction", test_fraction, "must be in (0, 1)")
    if name == "digits":
        try:
            from sklearn.datasets import load_digits
        except ImportError:  # pragma: no cover - exercised only without the extra
            raise OptionalDependencyError(
                "the digits data set needs scikit-learn: pip install 'vgmath[training]'"
            ) from None
        d = load_digits()
        x = np.asarray(d.data, dtype=np.float64)
        y = np.asarray(d.target, dtype=np.int64)
        perm = np.random.default_rng(split_seed).permutation(len(y))
        n_test = round(test_fraction * len(y))
        te, tr = perm[:n_test], perm[n_test:]
        xtr, xte = _standardise(x[tr], x[te])
        ytr, yte = y[tr], y[te]
    elif name.startswith("mnist:"):
        path = Path(name[len("mnist:"):]).expanduser()
        if not path.is_file():
            raise InvalidArgumentError("data", name, f"no such file: {path}")
        try:
            with np.load(path) as f:
                keys = ("x_train", "y_train", "x_test", "y_test")
                arrays: dict[str, Any] = {k: f[k] for k in keys}
        except (KeyError, ValueError, OSError) as err:
            raise InvalidArgumentError(
                "data", name, f"expected an .npz with x_train, y_train, x_test, y_test ({err})"
            ) from None
        xtr = arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype(np.float64)
        xte = arrays["x_test"].reshape(len(arrays["x_test"]), -1).astype(np.float64)
        xtr, xte = _standardise(xtr, xte)
        ytr = arrays["y_train"].astype(np.int64)
        yte = arrays["y_test"].astype(np.int64)
    else:
        raise InvalidArgumentError("data", name, "expected 'digits' or 'mnist:PATH'")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError("limit", limit, "must be a positive integer")
        xtr, ytr = xtr[:limit], ytr[:limit]
    arrays = [np.ascontiguousarray(a) for a in (xtr, ytr, xte, yte)]
    for a in arrays:
        a.setflags(write=False)
    return Dataset(name, *arrays)
