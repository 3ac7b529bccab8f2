"""Writing results: atomically (temporary file + rename), JSON or CSV by extension."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import InvalidArgumentError

__all__ = ["atomic_write", "save_by_extension", "text_or_file"]


def atomic_write(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: an
    interrupted run leaves the old file (or none), never half a file."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def save_by_extension(
    path: str | os.PathLike[str], to_json: Callable[[], str], to_csv: Callable[[], str]
) -> Path:
    """Write ``to_json()`` to a ``.json`` path or ``to_csv()`` to a ``.csv`` path, atomically."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return atomic_write(path, to_json())
    if suffix == ".csv":
        return atomic_write(path, to_csv())
    raise InvalidArgumentError("path", str(path), "expected a .json or .csv file name")


def text_or_file(text: str, path: str | os.PathLike[str] | None) -> str:
    """Return ``text``, also writing it atomically to ``path`` when one is given (the
    ``to_json(path=None)`` / ``to_csv(path=None)`` convention of vgmath's results)."""
    if path is not None:
        atomic_write(path, text)
    return text
