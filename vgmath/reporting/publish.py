"""Publishing a finished report folder without ever deleting a file vgmath did not write.

A report is built in a hidden temporary folder ``.DIR.<random>.tmp`` beside ``DIR`` and
published at the end by :func:`publish`:

* ``DIR`` absent: one rename.
* ``DIR`` present (an earlier report, or a folder that appeared during the run): it is
  renamed aside, the new report renamed into place, and then every file of the old folder is
  examined. A file that vgmath wrote (listed in the old ``manifest.json`` with the same
  SHA-256) is removed; any other file (one you saved there, one you edited) is moved into the
  new report at the same path — or, if the new report has a file of that name, left in the
  old folder, which is then kept and named in a note. Nothing is deleted blindly.

Temporary folders carry the id of the process that owns them (``.owner``). A folder whose
owner is no longer running — left by ``kill -9`` or a power cut — is removed by the next
report written beside it (:func:`remove_stale`). The command line turns SIGTERM into a normal
unwinding, so the temporary folder of a terminated run is removed at once.

The published folder's permissions follow the umask (temporary folders are created 0700).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["OWNER", "apply_umask", "make_temp", "publish", "remove_stale"]

#: file in a temporary folder naming the process that builds it
OWNER = ".owner"
#: a temporary folder without a readable owner is stale after this many seconds
_STALE_SECONDS = 24 * 3600
#: what a report build folder may hold (an ownerless folder with anything else is not ours)
_BUILD_NAMES = frozenset({
    "report.tex", "report.pdf", "report.log", "report.aux", "report.out", "report.toc",
    "report.fls", "report.fdb_latexmk", "manifest.json", "figures", "data", OWNER,
})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(root: Path) -> None:
    """chmod ``root`` and everything below it as if created under the current umask."""
    mask = _umask()
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o777 & ~mask)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o666 & ~mask)


def make_temp(out: Path) -> Path:
    """A new temporary build folder beside ``out``, marked with this process's id."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    (tmp / OWNER).write_text(f"{os.getpid()}\n", encoding="ascii")
    return tmp


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(out: Path, note: Callable[[str], None]) -> list[Path]:
    """Remove the temporary folders of ``out`` whose owning process has ended."""
    removed: list[Path] = []
    try:
        candidates = list(out.parent.glob(f".{out.name}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        if not tmp.is_dir() or tmp.is_symlink():
            continue
        try:
            pid = int((tmp / OWNER).read_text(encoding="ascii").strip())
            stale = not _alive(pid)
        except (OSError, ValueError):
            # no owner (an older vgmath): only an old folder that holds nothing but what a
            # report build writes is vgmath's; anything else is left alone
            try:
                names = {p.name for p in tmp.iterdir()}
                stale = (time.time() - tmp.stat().st_mtime > _STALE_SECONDS
                         and names <= _BUILD_NAMES)
            except OSError:
                continue
        if stale:
            shutil.rmtree(tmp, ignore_errors=True)
            if not tmp.exists():
                removed.append(tmp)
    if removed:
        note(f"removed {len(removed)} temporary folder(s) left by an interrupted run: "
             + ", ".join(p.name for p in removed))
    return removed


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ours(folder: Path, manifest: str, generator: str) -> dict[str, str | None]:
    """Relative path → SHA-256 (None: any content) of the files vgmath wrote in ``folder``,
    from its manifest; empty when ``folder`` holds no vgmath report."""
    try:
        data = json.loads((folder / manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("generator") != generator:
        return {}
    files = data.get("files")
    out: dict[str, str | None] = {}
    if isinstance(files, dict):
        out.update({str(k): str(v) for k, v in files.items()})
    out[manifest] = None
    out["report.log"] = None  # written by LaTeX, not hashed (it names the build folder)
    return out


def _files(root: Path) -> list[str]:
    rels = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            rels.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(rels)


def _free_name(path: Path, suffix: str) -> Path:
    for i in range(1, 10_000):
        candidate = path.with_name(f"{path.name}{suffix}{'' if i == 1 else f'-{i}'}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)  # pragma: no cover


def publish(tmp: Path, out: Path, *, manifest: str, generator: str,
            note: Callable[[str], None]) -> None:
    """Move the finished build folder ``tmp`` to ``out`` (module doc), keeping every file
    in an existing ``out`` that vgmath did not write."""
    with contextlib.suppress(FileNotFoundError):
        (tmp / OWNER).unlink()
    apply_umask(tmp)
    if not out.exists() and not out.is_symlink():
        try:
            os.rename(tmp, out)
            return
        except OSError:
            if not out.exists():
                raise
            # DIR appeared (and is not empty) while the report was built: merge below
    if out.is_symlink() or not out.is_dir():
        kept = _free_name(out, ".vgmath-new")
        os.rename(tmp, kept)
        raise FileExistsError(
            f"{out} was replaced by a file or link while the report was built; nothing was "
            f"overwritten and the new report is in {kept}"
        )
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    old.rmdir()
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    ours = _ours(old, manifest, generator)
    kept_in_new: list[str] = []
    left: list[str] = []
    for rel in _files(old):
        src = old / rel
        expected = ours.get(rel, "missing")
        if expected != "missing" and (expected is None or _sha256(src) == expected):
            src.unlink()  # a file of the previous report, unchanged: vgmath wrote it
            continue
        dst = out / rel
        if dst.exists() or dst.is_symlink():
            left.append(rel)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dst)
        kept_in_new.append(rel)
    for dirpath, _, _ in sorted(os.walk(old), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)  # only empty folders
    if kept_in_new:
        note(f"kept {len(kept_in_new)} file(s) in {out} that vgmath did not write: "
             + ", ".join(kept_in_new[:5]) + (" ..." if len(kept_in_new) > 5 else ""))
    if left:
        keep = _free_name(out, ".vgmath-old")
        os.rename(old, keep)
        note(f"{len(left)} file(s) that vgmath did not write have the name of a new report "
             f"file; they were not touched and are in {keep}: " + ", ".join(left[:5]))
