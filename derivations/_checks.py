"""Shared plumbing of the derivation scripts: printing steps and recording checks.

Every script in ``derivations/`` derives a classic result with vgmath, prints its steps
(plain text, or LaTeX with ``--latex``) and checks the result against the literature and,
where it applies, against Monte Carlo. A :class:`Checks` object records each comparison; the
script's exit status is 0 only when every check passed (:meth:`Checks.exit_code`).

Tolerances are never tuned by hand: exact results are compared exactly (``simplify(a - b)
== 0``), high-precision numbers to the precision of the published value, and Monte Carlo
means to a multiple of their standard error that is chosen from a stated false-alarm rate
(:func:`z_threshold`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import mpmath
import sympy as sp

__all__ = ["ALPHA", "Check", "Checks", "parse_args", "verdict", "z_threshold"]

#: Family-wise level passed to ``vg.verify`` by every script: a true claim is rejected by bad
#: luck in at most 1 run in 10,000 (the scripts make a few dozen verifications in all, so a
#: correct suite fails spuriously well under 1% of the time). False claims in the scripts are
#: rejected with p-values many orders of magnitude smaller.
ALPHA = 1e-4


def z_threshold(false_alarm: float = 1e-4, *, tests: int = 1) -> float:
    """Two-sided normal quantile for a family of ``tests`` Monte Carlo comparisons whose
    combined false-alarm probability is at most ``false_alarm`` (Bonferroni).

    With the default 1e-4 a single comparison uses |z| ≤ 3.89: a correct script fails by
    bad luck in fewer than 1 run in 10,000.
    """
    return NormalDist().inv_cdf(1.0 - false_alarm / (2.0 * tests))


def verdict(result: Any) -> str:
    """The verdict line of a :class:`vgmath.Verification` summary."""
    lines = str(result.summary()).splitlines()
    for line in lines:
        if line.strip().startswith("verdict"):
            return line.strip()
    return lines[0] if lines else ""


def parse_args(description: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``--fast`` (small settings, a few seconds) and ``--latex`` (print steps as LaTeX)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true", help="small settings (test suite)")
    parser.add_argument("--latex", action="store_true", help="print the steps as LaTeX")
    parser.add_argument("--seed", type=int, default=0, help="Monte Carlo seed (0)")
    return parser.parse_args(argv)


@dataclass
class Check:
    """One comparison: what was checked, whether it passed, and the numbers behind it."""

    name: str
    passed: bool
    detail: str
    source: str = ""


@dataclass
class Checks:
    """Records steps and checks of one derivation and prints them as it goes."""

    title: str
    latex: bool = False
    quiet: bool = False
    results: list[Check] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._say("=" * len(self.title))
        self._say(self.title)
        self._say("=" * len(self.title))

    # ---- printing
    def _say(self, text: str) -> None:
        if not self.quiet:
            print(text)

    def section(self, text: str) -> None:
        self._say("")
        self._say(f"-- {text}")

    def step(self, text: str, expr: Any = None, *, lhs: str = "") -> None:
        """Print a step: a sentence, then (optionally) ``lhs = expr`` pretty or as LaTeX."""
        self._say(text)
        if expr is None:
            return
        if self.latex:
            body = sp.latex(expr) if isinstance(expr, sp.Basic) else str(expr)
            self._say("    $$" + (lhs + " = " if lhs else "") + body + "$$")
        else:
            body = sp.pretty(expr, use_unicode=True) if isinstance(expr, sp.Basic) else str(expr)
            lines = body.splitlines() or [""]
            pad = " " * (len(lhs) + 3) if lhs else ""
            for i, line in enumerate(lines):
                head = (lhs + " = ") if (lhs and i == len(lines) // 2) else pad
                self._say("    " + head + line)

    # ---- checks
    def _record(self, name: str, passed: bool, detail: str, source: str) -> bool:
        self.results.append(Check(name, passed, detail, source))
        mark = "PASS" if passed else "FAIL"
        cite = f"  [{source}]" if source else ""
        self._say(f"  [{mark}] {name}: {detail}{cite}")
        return passed

    def exact(self, name: str, value: Any, reference: Any, *, source: str = "") -> bool:
        """Exact SymPy equality: ``simplify(value - reference) == 0``."""
        v, r = sp.sympify(value), sp.sympify(reference)
        ok = bool(sp.simplify(v - r) == 0)
        return self._record(name, ok, f"{v} {'==' if ok else '!='} {r}", source)

    def close(
        self, name: str, value: Any, reference: Any, *, rel: float, source: str = ""
    ) -> bool:
        """|value − reference| ≤ rel·|reference|, evaluated at 60 significant digits."""
        with mpmath.workdps(60):
            v, r = _mp(value), _mp(reference)
            err = abs(v - r) / abs(r) if r != 0 else abs(v - r)
            ok = bool(err <= rel)
            detail = (
                f"{mpmath.nstr(v, 20)} vs {mpmath.nstr(r, 20)} "
                f"(relative difference {mpmath.nstr(err, 3)} {'<=' if ok else '>'} {rel:g})"
            )
        return self._record(name, ok, detail, source)

    def within(
        self, name: str, value: float, reference: float, *, tol: float, why: str,
        source: str = "",
    ) -> bool:
        """|value − reference| ≤ tol, with the origin of the tolerance spelled out."""
        diff = abs(float(value) - float(reference))
        ok = bool(math.isfinite(diff) and diff <= tol)
        detail = (
            f"{float(value):.6g} vs {float(reference):.6g} (|difference| {diff:.3g} "
            f"{'<=' if ok else '>'} {tol:.3g} = {why})"
        )
        return self._record(name, ok, detail, source)

    def mc(
        self, name: str, mean: float, se: float, reference: float, *, z: float,
        bias: float = 0.0, source: str = "",
    ) -> bool:
        """A Monte Carlo mean against a reference: |mean − reference| ≤ z·se + |bias|."""
        why = f"{z:.2f} standard errors" + (f" + finite-width bias {abs(bias):.2g}" if bias else "")
        return self.within(
            name, mean, reference, tol=z * float(se) + abs(bias), why=why, source=source
        )

    def true(self, name: str, condition: bool, detail: str, *, source: str = "") -> bool:
        return self._record(name, bool(condition), detail, source)

    # ---- result
    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.results)

    def exit_code(self) -> int:
        failed = [c.name for c in self.results if not c.passed]
        self._say("")
        if failed:
            self._say(f"FAILED {len(failed)} of {len(self.results)} checks: " + "; ".join(failed))
            return 1
        self._say(f"all {len(self.results)} checks passed")
        return 0


def _mp(value: Any) -> mpmath.mpf:
    if isinstance(value, sp.Basic):
        return mpmath.mpf(sp.N(value, 70))
    if isinstance(value, str):
        return mpmath.mpf(value)
    return mpmath.mpf(value)
