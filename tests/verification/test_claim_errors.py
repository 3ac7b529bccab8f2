"""Claims that cannot be read get one line that speaks of claims (l, L, n), not of the
expression parser's x; ``vgmath verify --out ''`` is refused."""

from __future__ import annotations

import pytest

import vgmath as vg
from vgmath.cli import main
from vgmath.verification.claims import parse_claim

CHAIN = vg.Chain("tanh", init="xavier", depth=3, width=8)


@pytest.mark.parametrize(("text", "message"), [
    ("l)", "unbalanced ')' at column 2"),
    ("(l", "1 unclosed '('"),
    ("2**(L - l", "1 unclosed '('"),
    ("l**y", "a claim may use l (layer), L (depth) and n (width)"),
    ("x*2", "written in l (layer) and L (depth), not x"),
])
def test_unreadable_claims_say_why_in_claim_terms(text: str, message: str) -> None:
    with pytest.raises(vg.InvalidArgumentError) as err:
        parse_claim(text, CHAIN)
    assert err.value.argument == "claim"
    assert message in str(err.value)
    assert "EOF" not in str(err.value) and "the variable is x" not in str(err.value)


def test_verify_refuses_an_empty_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "tanh", "--depth", "3", "--trials", "10", "--out", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0]
