"""A small versioned on-disk cache for results that are expensive to derive and cheap to
check (per-activation analysis: kinks, behaviour at 0, Gaussian moment tables).

Where it lives
    ``$VGMATH_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/vgmath``, else
    ``~/.cache/vgmath``. ``VGMATH_CACHE=0`` (or ``off``, ``no``, ``false``) disables it:
    nothing is read or written. :func:`clear` empties it.

What makes an entry valid
    One JSON file per key, named by the SHA-256 of (format version, namespace, key). An entry
    is used only if it parses, names the same format version, vgmath version, namespace and
    key, and its payload has the SHA-256 recorded beside it. Keys should include a
    fingerprint of the code that produced the payload (:func:`source_fingerprint`), so that
    editing that code invalidates the entry. Anything else — a truncated or corrupted file,
    an unreadable folder, another version's file — is ignored and the value recomputed;
    callers check what they load where a check is cheap. Writes are atomic (temporary file
    and rename, :func:`vgmath.core.io.atomic_write`), and a failed write (read-only disk,
    full disk) is silently skipped: the cache only ever saves time.

Standard library only, imported lazily by the layers that use it (``import vgmath`` does not
touch the disk).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .io import atomic_write
from .version import __version__

__all__ = ["CACHE_FORMAT", "cache_dir", "clear", "load", "source_fingerprint", "store"]

#: Bumped whenever the layout of an entry changes.
CACHE_FORMAT = 1

_OFF = {"0", "off", "no", "false"}


def cache_dir() -> Path | None:
    """The cache folder (not necessarily existing), or None when the cache is disabled."""
    if os.environ.get("VGMATH_CACHE", "").strip().lower() in _OFF:
        return None
    explicit = os.environ.get("VGMATH_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "vgmath"


def source_fingerprint(*files: str | os.PathLike[str]) -> str:
    """SHA-256 (hex, 16 characters) of the given source files' bytes ("" if one is
    unreadable, which makes every key containing it distinct from a readable build's)."""
    h = hashlib.sha256()
    for f in files:
        try:
            h.update(Path(f).read_bytes())
        except OSError:
            return ""
    return h.hexdigest()[:16]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _path(folder: Path, namespace: str, key: Mapping[str, Any]) -> Path:
    digest = hashlib.sha256(
        _canonical([CACHE_FORMAT, __version__, namespace, dict(key)]).encode()
    ).hexdigest()
    return folder / namespace / f"{digest[:40]}.json"


def load(namespace: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The payload stored under ``key``, or None (missing, disabled, or not valid)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = _path(folder, namespace, key)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entry, dict):
            return None
        if (entry.get("format") != CACHE_FORMAT or entry.get("vgmath") != __version__
                or entry.get("namespace") != namespace
                or _canonical(entry.get("key")) != _canonical(dict(key))):
            return None
        payload = entry.get("payload")
        if not isinstance(payload, dict):
            return None
        if hashlib.sha256(_canonical(payload).encode()).hexdigest() != entry.get("sha256"):
            return None
        return payload
    except (OSError, ValueError, TypeError, RecursionError):
        return None


def store(namespace: str, key: Mapping[str, Any], payload: Mapping[str, Any]) -> bool:
    """Store ``payload`` (JSON-serialisable) under ``key``; True if it was written."""
    folder = cache_dir()
    if folder is None:
        return False
    path = _path(folder, namespace, key)
    body = dict(payload)
    entry = {
        "format": CACHE_FORMAT,
        "vgmath": __version__,
        "namespace": namespace,
        "key": dict(key),
        "sha256": hashlib.sha256(_canonical(body).encode()).hexdigest(),
        "payload": body,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, _canonical(entry))
    except (OSError, ValueError, TypeError):
        return False
    return True


def clear(namespace: str | None = None) -> int:
    """Delete the cache's entries (one namespace, or all); returns how many were removed."""
    folder = cache_dir()
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    spaces = [folder / namespace] if namespace else [p for p in folder.iterdir() if p.is_dir()]
    for space in spaces:
        if not space.is_dir():
            continue
        for f in space.glob("*.json"):
            try:
                f.unlink()
                removed += 1
            except OSError:
                pass
    return removed
