"""Huge exact numbers print short; progress off a terminal has no carriage returns."""

from __future__ import annotations

import io
import sys

import pytest
import sympy as sp

from vgmath.core.progress import progress
from vgmath.symbolic.numbers import exact_text, short_expr, short_text


def test_huge_numbers_print_short() -> None:
    assert short_text(sp.Integer(10) ** 300) == "≈1.0e+300"
    assert short_text(sp.Integer(10) ** 5000) == "≈1.0e+5000"  # beyond Python's str limit
    assert short_text(sp.Rational(1, 3)) == "1/3"
    L = sp.Symbol("L")
    assert str(short_expr((sp.Integer(5) * 10**299) ** L)) == "5.0e+299**L"
    assert len(exact_text(sp.Integer(10) ** 5000 * L)) < 100


def test_progress_on_a_file_is_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with progress(100, enabled=True, desc="simulate", unit="net") as bar:
        for _ in range(10):
            bar.update(10)
    text = err.getvalue()
    assert "\r" not in text
    assert text.splitlines()[-1] == "simulate: 100/100 net (100%)"
    assert len(text.splitlines()) <= 11
