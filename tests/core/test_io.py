"""Atomic writes: the target is named in errors, links are written through, umask respected."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import vgmath as vg
from vgmath.core.io import atomic_write


def test_directory_target_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(vg.InvalidArgumentError, match="is a directory") as info:
        atomic_write(tmp_path, "x")
    assert ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_and_empty_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(vg.InvalidArgumentError, match="does not exist"):
        atomic_write(tmp_path / "nope" / "a.json", "x")
    with pytest.raises(vg.InvalidArgumentError, match="empty"):
        atomic_write("", "x")


def test_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_permissions_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "a.csv", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
