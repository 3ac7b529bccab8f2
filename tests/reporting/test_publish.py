"""The report folder never loses a file vgmath did not write (race reproductions included)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vgmath as vg
from vgmath.reporting.publish import OWNER, make_temp, publish, remove_stale

report_module = importlib.import_module("vgmath.reporting.driver")
MANIFEST = "manifest.json"
GEN = "vgmath report"


def _fake_report(folder: Path, files: dict[str, str]) -> None:
    """A finished build folder with a manifest listing ``files`` with their hashes."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    digest = {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in files.items()}
    (folder / MANIFEST).write_text(json.dumps({"generator": GEN, "files": digest}))


def _publish(tmp: Path, out: Path) -> list[str]:
    notes: list[str] = []
    publish(tmp, out, manifest=MANIFEST, generator=GEN, note=notes.append)
    return notes


def test_new_folder_is_one_rename(tmp_path: Path) -> None:
    tmp = tmp_path / ".R.x.tmp"
    _fake_report(tmp, {"report.tex": "new"})
    _publish(tmp, tmp_path / "R")
    assert (tmp_path / "R" / "report.tex").read_text() == "new"
    assert not tmp.exists()


def test_rerun_removes_only_unchanged_files_vgmath_wrote(tmp_path: Path) -> None:
    out = tmp_path / "R"
    _fake_report(out, {"report.tex": "old", "data/a.csv": "1", "data/gone.csv": "2"})
    (out / "thesis.tex").write_text("mine")           # a file vgmath did not write
    (out / "data" / "notes.txt").write_text("mine too")
    tmp = tmp_path / ".R.y.tmp"
    _fake_report(tmp, {"report.tex": "new", "data/a.csv": "3"})
    notes = _publish(tmp, out)
    assert (out / "report.tex").read_text() == "new"
    assert (out / "thesis.tex").read_text() == "mine"
    assert (out / "data" / "notes.txt").read_text() == "mine too"
    assert not (out / "data" / "gone.csv").exists()  # vgmath's own, unchanged: removed
    assert any("kept 2 file(s)" in n and "thesis.tex" in n for n in notes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R"]  # no .old folder left


def test_an_edited_report_file_is_never_overwritten_silently(tmp_path: Path) -> None:
    out = tmp_path / "R"
    _fake_report(out, {"report.tex": "old"})
    (out / "report.tex").write_text("old, edited by hand")
    tmp = tmp_path / ".R.z.tmp"
    _fake_report(tmp, {"report.tex": "new"})
    notes = _publish(tmp, out)
    assert (out / "report.tex").read_text() == "new"
    kept = tmp_path / "R.vgmath-old"
    assert (kept / "report.tex").read_text() == "old, edited by hand"
    assert any(str(kept) in n for n in notes)


def test_folder_created_during_the_run_keeps_its_files(tmp_path: Path) -> None:
    """``sleep 2; mkdir R; echo x > R/thesis.tex`` during ``vgmath report --out R``."""
    out = tmp_path / "R"
    tmp = tmp_path / ".R.w.tmp"
    _fake_report(tmp, {"report.tex": "new"})
    out.mkdir()
    (out / "thesis.tex").write_text("x\n")
    _publish(tmp, out)
    assert (out / "thesis.tex").read_text() == "x\n"
    assert (out / "report.tex").read_text() == "new"


def test_stale_temporary_folders_are_removed_live_ones_kept(tmp_path: Path) -> None:
    out = tmp_path / "R"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / ".R.dead.tmp"
    stale.mkdir()
    (stale / OWNER).write_text(dead.stdout)
    (stale / "big.bin").write_bytes(b"0" * 1000)
    live = make_temp(out)  # this process: alive
    notes: list[str] = []
    remove_stale(out, notes.append)
    assert not stale.exists()
    assert live.exists()
    assert notes


def _tiny_report(out: Path) -> vg.Report:
    return vg.report(out, activations=["tanh"], inits=["xavier"], depth=3, width=8,
                     simulate=False, latex="none")


@pytest.fixture(scope="module")
def tiny_report_seconds(tmp_path_factory: pytest.TempPathFactory) -> float:
    start = time.perf_counter()
    _tiny_report(tmp_path_factory.mktemp("warm") / "R")
    return time.perf_counter() - start


def test_report_race_file_saved_into_out_during_the_run_survives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_report_seconds: float) -> None:
    out = tmp_path / "R"
    real = report_module.build_document

    def build_and_race(ctx):  # the user creates R and saves a file while vgmath works
        result = real(ctx)
        out.mkdir()
        (out / "thesis.tex").write_text("x\n")
        return result

    monkeypatch.setattr(report_module, "build_document", build_and_race)
    _tiny_report(out)
    assert (out / "thesis.tex").read_text() == "x\n"
    assert (out / "report.tex").exists()


def test_report_rerun_keeps_extra_files_and_follows_the_umask(
        tmp_path: Path, tiny_report_seconds: float) -> None:
    out = tmp_path / "R"
    old = os.umask(0o022)
    try:
        _tiny_report(out)
        (out / "my-notes.md").write_text("keep me")
        _tiny_report(out)
    finally:
        os.umask(old)
    assert (out / "my-notes.md").read_text() == "keep me"
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for f in (out / "data").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    assert [p.name for p in tmp_path.iterdir()] == ["R"]


@pytest.mark.slow
def test_sigterm_removes_the_temporary_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(vg.__file__).parent.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vgmath", "report", "--out", str(tmp_path / "R"),
         "--activations", "tanh", "relu", "sigmoid", "--inits", "xavier", "he",
         "--trials", "50", "--latex", "none", "--quiet"],
        env=env, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".R.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_report_into_a_symlinked_folder_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    _tiny_report(link)
    assert link.is_symlink() and (real / "report.tex").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # no .old left


def test_an_ownerless_folder_is_removed_only_if_it_is_an_old_build(tmp_path: Path) -> None:
    out = tmp_path / "R"
    old = time.time() - 3 * 24 * 3600
    build = tmp_path / ".R.old1.tmp"
    (build / "figures").mkdir(parents=True)
    (build / "report.tex").write_text("x")
    mine = tmp_path / ".R.mine.tmp"
    mine.mkdir()
    (mine / "thesis.tex").write_text("not vgmath's")
    for p in (build, mine):
        os.utime(p, (old, old))
    remove_stale(out, lambda _: None)
    assert not build.exists()
    assert (mine / "thesis.tex").exists()
