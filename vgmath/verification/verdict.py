"""The three-valued verdict of a statistical verification, and how much of a claim was tested.

A test that cannot see a layer says nothing about it. vgmath therefore never reports a claim
as passed on the strength of layers it could not test:

``PASS``
    every layer the claim covers (except a normalisation layer, whose value is fixed by
    construction) was tested with a resolution below the stated maximum, and none was
    rejected;
``FAIL``
    at least one layer was rejected at family-wise level alpha;
``INCONCLUSIVE``
    nothing was rejected, but some layer could not be tested (finite-width bias too large,
    heavy tails, interval too wide) — or only the normalisation layer was tested.

The command line maps them to exit codes 0 (PASS), 1 (FAIL) and 3 (INCONCLUSIVE); 2 is a
usage error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["EXIT_CODES", "Coverage", "RowStatus", "Verdict", "decide"]


class Verdict(str, Enum):
    """PASS, FAIL or INCONCLUSIVE (a ``str``: ``Verdict.PASS == "PASS"``)."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"

    def __str__(self) -> str:
        return self.value


class RowStatus(str, Enum):
    """Per-layer outcome: ``pass`` (tested, not rejected), ``fail`` (rejected) or
    ``untestable`` (no evidence either way; the row's ``reason`` says why)."""

    PASS = "pass"
    FAIL = "fail"
    UNTESTABLE = "untestable"

    def __str__(self) -> str:
        return self.value


#: Exit status of ``vgmath verify`` per verdict (2 is reserved for usage errors).
EXIT_CODES = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3}


@dataclass(frozen=True)
class Coverage:
    """How much of a claim was tested: ``tested`` of ``claimed`` layers (the normalisation
    layer counts in neither), and whether layer 0 — the input layer, the one a vanishing-
    gradient claim is usually about — was among them."""

    tested: int
    claimed: int
    layer0_tested: bool

    @property
    def fraction(self) -> float:
        return self.tested / self.claimed if self.claimed else 0.0

    @property
    def complete(self) -> bool:
        return self.claimed > 0 and self.tested == self.claimed

    def __str__(self) -> str:
        return (f"{self.tested}/{self.claimed} layers tested"
                f" (layer 0 {'tested' if self.layer0_tested else 'NOT tested'})")

    def to_dict(self) -> dict[str, object]:
        return {"tested": self.tested, "claimed": self.claimed,
                "fraction": self.fraction, "layer0_tested": self.layer0_tested}


def decide(any_rejected: bool, coverage: Coverage) -> Verdict:
    """FAIL if anything was rejected; PASS only with complete coverage; else INCONCLUSIVE."""
    if any_rejected:
        return Verdict.FAIL
    if coverage.complete:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE
