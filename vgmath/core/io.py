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
    if not str(path).strip():
        raise InvalidArgumentError("path", str(path), "expected a file name, got an empty one")
    target = Path(path)
    if target.is_symlink():
        # write through the link (replacing the link itself would break it)
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise InvalidArgumentError("path", str(path), "is a directory; expected a file name")
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InvalidArgumentError(
            "path", str(path), f"its folder {str(directory)!r} does not exist"
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as err:
        reason = err.strerror or str(err)
        raise OSError(err.errno, f"cannot write {str(path)!r}: {reason}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; follow the umask
        os.replace(tmp, target)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        reason = err.strerror or str(err)
        raise OSError(err.errno, f"cannot write {str(path)!r}: {reason}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
