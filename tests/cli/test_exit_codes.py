"""Exit codes: each documented code means one thing, so a script can branch on it.

``verify`` owns 1 (FAIL) and 3 (INCONCLUSIVE); every other failure has its own code, so
``$? == 1`` after ``vgmath verify`` always means "the claim was rejected", never "the
computation broke".
"""

from __future__ import annotations

import argparse
import importlib

import pytest

from vgmath.core.errors import VgmathError
from vgmath.verification.verdict import EXIT_CODES, Verdict

# the module, not the function ``vgmath.cli.main`` that the package re-exports
cli = importlib.import_module("vgmath.cli.main")


def test_the_codes_are_distinct() -> None:
    codes = [cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_INCONCLUSIVE,
             cli.EXIT_RESOURCES, cli.EXIT_NOT_COMPLETED, cli.EXIT_INTERNAL, 130, 143]
    assert len(set(codes)) == len(codes)
    assert EXIT_CODES == {Verdict.PASS: cli.EXIT_OK, Verdict.FAIL: cli.EXIT_FAILED,
                          Verdict.INCONCLUSIVE: cli.EXIT_INCONCLUSIVE}


def _run_raising(monkeypatch: pytest.MonkeyPatch, err: BaseException) -> int:
    """Run ``vgmath predict tanh`` with its work replaced by ``raise err``."""
    import vgmath.cli.predict as cmd

    def boom(args: argparse.Namespace) -> int:
        raise err

    monkeypatch.setattr(cmd, "run", boom)
    return cli.main(["predict", "tanh", "--depth", "3"])


def test_a_computation_that_cannot_complete_is_not_a_rejected_claim(monkeypatch, capsys) -> None:
    assert _run_raising(monkeypatch, VgmathError("no fixed point")) == cli.EXIT_NOT_COMPLETED == 5
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no fixed point" in err


def test_a_bug_is_an_internal_error_not_an_inconclusive_verdict(monkeypatch, capsys) -> None:
    monkeypatch.delenv("VGMATH_DEBUG", raising=False)
    assert _run_raising(monkeypatch, ZeroDivisionError("x")) == cli.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "Traceback" not in err


def test_an_undecided_bound_is_inconclusive_not_failed(capsys) -> None:
    """``--bound c`` with c inside the certified enclosure of silu's sup φ′: neither proved
    nor refuted, so exit 3 (INCONCLUSIVE); just below the sup it is refuted (exit 1)."""
    import sympy as sp

    import vgmath as vg

    b = vg.activation("silu").derivative_bound()
    sup, err = sp.Float(b.sup, 60), sp.Float(b.sup_error, 60)
    inside = sp.Rational(sup + err / 2)
    base = ["verify", "silu", "--init", "xavier", "--depth", "3", "--width", "8",
            "--trials", "20"]
    assert cli.main([*base, "--bound", str(inside)]) == cli.EXIT_INCONCLUSIVE
    assert cli.main([*base, "--bound", "1.09983932"]) == cli.EXIT_FAILED
    capsys.readouterr()
