"""Every command of the fuzz corpus ends quickly with one line and a documented exit code."""

from __future__ import annotations

import contextlib
import faulthandler
import io
import runpy
import time
from pathlib import Path

import pytest

from vgmath.cli import main

_CORPUS = runpy.run_path(str(Path(__file__).with_name("fuzz_corpus.py")))
CORPUS: list[tuple[list[str], set[int]]] = _CORPUS["CORPUS"]
TIME_LIMIT: float = _CORPUS["TIME_LIMIT"]


def _run(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    # a hang must fail the run loudly rather than block it forever
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        faulthandler.cancel_dump_traceback_later()
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - start


@pytest.mark.parametrize(
    ("argv", "codes"), CORPUS, ids=[" ".join(a)[:60] for a, _ in CORPUS]
)
def test_fuzz_corpus_ends_with_one_line(argv: list[str], codes: set[int], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # a short effort limit keeps the suite fast; the default (3 s) is timed in the README
    monkeypatch.setenv("VGMATH_EFFORT_SECONDS", "1")
    code, _, err, elapsed = _run(argv)
    assert "Traceback" not in err
    assert code in codes, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code != 0:
        assert len(lines) == 1, err
        assert lines[0].startswith(("vgmath", "usage")), err
    assert elapsed <= TIME_LIMIT, f"{elapsed:.1f} s"
    assert not (tmp_path / "PWN").exists()
    assert not (tmp_path / "never.csv").exists()
