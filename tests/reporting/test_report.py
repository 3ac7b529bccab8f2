"""Tests of ``vg.report``: the LaTeX document, its figures and data, compiled with pdflatex.

The oracle for "the document holds up" is TeX itself: a representative report (catalog
activations with exact and certified bounds, SELU's long closed-form constants, a user
expression under a hostile label, two initialisations, Monte Carlo and verification) is
compiled with pdflatex and its log is checked for errors, undefined references/citations and
overfull boxes; pdftotext reads the hostile label back from the PDF. The data files are
compared with the typeset tables by parsing the numbers out of the LaTeX, so the two are
checked against each other rather than against the formatter that produced them.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import vgmath as vg
from vgmath.cli import main as cli_main
from vgmath.cli.report import parse_activation_items
from vgmath.reporting import core as core
from vgmath.reporting import latex as L

HAVE_PDFLATEX = shutil.which("pdflatex") is not None
HAVE_POPPLER = shutil.which("pdftotext") is not None and shutil.which("pdftoppm") is not None
needs_tex = pytest.mark.skipif(not HAVE_PDFLATEX, reason="pdflatex is not installed")

HOSTILE = "x*tanh(x)_1 & % [a] $\\end{document}# ~^{"
#: the representative report: exact bounds (sigmoid, relu), long exact constants (selu), a
#: user expression with certified numeric bounds under a hostile label, two inits
SMALL: dict[str, Any] = {
    "activations": ["sigmoid", "relu", "selu", (HOSTILE, "x*tanh(x)")],
    "inits": ["xavier", "he"],
    "depth": 8,
    "width": 32,
    "trials": 60,
    "seed": 3,
}
#: overfull boxes up to this width are invisible in print (TeX's own \hfuzz default is 0.1pt;
#: a few points is a common tolerance for generated documents)
OVERFULL_TOLERANCE_PT = 3.0


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The representative report, compiled (when pdflatex exists), with its stderr."""
    out = tmp_path_factory.mktemp("report") / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rep = vg.report(out, progress=True, **SMALL)
    return {"report": rep, "out": out, "stderr": err.getvalue()}


# --------------------------------------------------------------------------- fast units


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a_b", r"a\_b"),
        ("50% & $5", r"50\% \& \$5"),
        ("#{x}", r"\#\{x\}"),
        ("a^b~c", r"a\textasciicircum{}b\textasciitilde{}c"),
        ("\\end", r"\textbackslash{}end"),
        ("[x]", "{[}x{]}"),
        ("a--b", "a-{}-{}b"),
        ("φ′", r"\ensuremath{\varphi}\ensuremath{'}"),
        ("\x07bell", " bell"),
        ("é", "e"),
        ("\u2603", "{[}U+2603{]}"),
    ],
)
def test_escape_text(text: str, expected: str) -> None:
    assert L.escape_text(text) == expected


def test_escape_text_leaves_no_active_character() -> None:
    specials = "\\{}$&%#_^~<>|\"`'[]"
    out = L.escape_text(specials)
    # remove the escapes themselves; what is left must contain no special character
    stripped = re.sub(r"\\[a-zA-Z]+\{\}|\\[{}$&%#_]|\{[\[\]]\}", "", out)
    assert stripped == ""


def test_readable_text_turns_sympy_reprs_into_math() -> None:
    s = L.readable_text("constant φ′ = 1 on Interval.open(0, oo); limit x→-oo; x≈2.3993572805154")
    assert "$(0, \\infty)$" in s
    assert "$-\\infty$" in s
    assert "$2.3993573$" in s
    assert "Interval" not in s
    assert L.readable_text("Interval.Lopen(-1, 2)") == "$(-1, 2]$"
    assert L.readable_text("Interval(-oo, 0)") == "$(-\\infty, 0]$"


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.25, 4, "0.25"),
        (1.2345e-5, 4, r"1.234\times 10^{-5}"),  # 1.2345 rounds half-even in binary: 1.234
        (123456.0, 3, r"1.23\times 10^{5}"),
        (-0.5, 3, "-0.5"),
        (float("nan"), 3, "---"),
        (float("inf"), 3, r"\infty"),
        (0.0, 3, "0"),
    ],
)
def test_fmt_float(value: float, digits: int, expected: str) -> None:
    assert L.fmt_float(value, digits) == expected


def test_fmt_ci_shares_the_exponent() -> None:
    assert L.fmt_ci(6.1e-3, 3.6e-3, 1.03e-2) == r"(6.10\;[3.60, 10.3])\times 10^{-3}"
    assert L.fmt_ci(0.5, 0.4, 0.6) == r"0.500\;[0.400, 0.600]"


def test_fmt_exact_falls_back_to_decimals_for_long_forms() -> None:
    import sympy as sp

    assert L.fmt_exact(sp.Rational(1, 4)) == r"\frac{1}{4}"
    from vgmath.symbolic.specs import SELU_LAMBDA

    assert L.fmt_exact(SELU_LAMBDA, digits=6) == r"\approx 1.0507"  # 1.050701: %g drops 0s
    s = sp.Union(sp.Interval.open(-sp.oo, -sp.log(100)), sp.Interval(3, 4))
    assert L.fmt_exact_set(s, max_len=40) == r"(-\infty, - \log{\left(100 \right)}) \cup [3, 4]"
    assert L.fmt_exact_set(s) == r"(-\infty, -4.6052) \cup [3, 4]"  # -log(100) = -4.60517


def test_parse_log_finds_every_kind_of_problem() -> None:
    log = "\n".join([
        "This is pdfTeX",
        "! Undefined control sequence.",
        "./report.tex:12: LaTeX Error: Environment foo undefined.",
        "LaTeX Warning: Reference `fig:x' on page 2 undefined on input line 40.",
        "LaTeX Warning: Citation `nobody2020' on page 1 undefined on input line 9.",
        "Overfull \\hbox (12.5pt too wide) in paragraph at lines 3--4",
        "Overfull \\hbox (0.8pt too wide) in paragraph at lines 5--6",
        "LaTeX Warning: Label(s) may have changed. Rerun to get cross-references right.",
    ])
    parsed = L.parse_log(log)
    assert parsed.errors[0] == "Undefined control sequence."
    assert len(parsed.errors) == 2
    assert parsed.undefined_references == ("fig:x",)
    assert parsed.undefined_citations == ("nobody2020",)
    assert parsed.overfull == (12.5, 0.8)
    assert parsed.rerun
    problems = parsed.problems(overfull_tolerance_pt=OVERFULL_TOLERANCE_PT)
    assert any("12.5pt" in p for p in problems)
    assert L.parse_log("clean log").problems() == []


def test_long_tables_break_across_pages_and_short_ones_do_not() -> None:
    cols = [L.Column("a"), L.Column("b")]
    short = L.longtable(cols, [["1", "2"]] * L.LONG_ROWS, caption="c", label="t", name="t")
    long = L.longtable(cols, [["1", "2"]] * (L.LONG_ROWS + 1), caption="c", label="t",
                       name="t")
    assert r"\begin{tabular}" in short and "longtable" not in short
    assert r"\begin{longtable}" in long and r"\endhead" in long
    assert short.count(r"1 & 2 \\") == L.LONG_ROWS


def test_longtable_rejects_ragged_rows() -> None:
    cols = [L.Column("a"), L.Column("b")]
    with pytest.raises(ValueError, match="row has 1 cells"):
        L.longtable(cols, [["x"]], caption="c", label="t", name="t")
    with pytest.raises(ValueError, match="no rows"):
        L.longtable(cols, [], caption="c", label="t", name="t")


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"depth": 0}, "depth"),
        ({"width": -3}, "width"),
        ({"trials": 1}, "trials"),
        ({"alpha": 1.5}, "alpha"),
        ({"seed": -1}, "seed"),
        ({"eps": 0}, "eps"),
        ({"sigma_b2": -1}, "sigma_b2"),
        ({"activations": []}, "activations"),
        ({"activations": ["relu", "relu"]}, "activations"),
        ({"activations": ["nosuch"]}, "activation"),
        ({"inits": ["nosuch"]}, "init"),
        ({"latex": "word"}, "latex"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    tmp_path: Path, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(vg.InvalidArgumentError) as info:
        vg.report(tmp_path / "out", **kwargs)
    assert info.value.argument == argument
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_directory_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "thesis"
    target.mkdir()
    (target / "chapter1.tex").write_text("precious")
    with pytest.raises(vg.InvalidArgumentError, match="does not hold a vgmath report"):
        vg.report(target)
    assert (target / "chapter1.tex").read_text() == "precious"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(vg.InvalidArgumentError, match="not a directory"):
        vg.report(a_file)


def test_activation_items_of_the_command_line() -> None:
    assert parse_activation_items(["relu", "mine=x*tanh(x)"]) == ["relu", ("mine", "x*tanh(x)")]
    with pytest.raises(vg.InvalidArgumentError):
        parse_activation_items(["=x"])


def test_command_line_defaults_are_the_documented_ones() -> None:
    from vgmath.cli import build_parser

    args = build_parser().parse_args(["report", "--out", "somewhere"])
    assert args.activations == list(core.DEFAULT_ACTIVATIONS)
    assert args.inits == ["xavier", "he", "lecun"]
    assert (args.depth, args.width, args.trials, args.seed) == (30, 128, 300, 0)
    assert not args.no_simulate


def test_command_line_usage_error_is_one_line(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code = cli_main(["report", "--depth", "0", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "depth" in err


def test_a_section_whose_engine_is_missing_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Future(core.Section):
        key = "future"
        title = "A section from the future"
        name = "future section"
        requires = (("_no_such_engine", "simulate_rnn"),)

    class Partial(core.Section):
        key = "partial"
        title = "A section whose engine lacks a function"
        requires = (("network.init", "no_such_function"),)

    from vgmath.reporting.sections import InitialisationsSection

    monkeypatch.setattr(core, "SECTIONS", [Future, Partial, InitialisationsSection])
    import vgmath.reporting.driver as R

    monkeypatch.setattr(R, "SECTIONS", core.SECTIONS)
    rep = vg.report(tmp_path / "o", activations=["relu"], inits=["he"], depth=3, width=8,
                    simulate=False, latex="none")
    err = capsys.readouterr().err
    assert rep.sections == ("initialisations",)
    assert "vgmath._no_such_engine is not available" in rep.omitted["future"]
    assert "has no no_such_function" in rep.omitted["partial"]
    assert "section 'future section' left out" in err
    tex = rep.tex.read_text()
    assert "from the future" not in tex and "lacks a function" not in tex
    manifest = json.loads((rep.directory / "manifest.json").read_text())
    assert set(manifest["omitted"]) == {"future", "partial"}


# --------------------------------------------------------------------------- the document


def _table_block(tex: str, name: str) -> list[list[str]]:
    """The body rows (cells) of the table written with ``% vgmath-table: name``."""
    m = re.search(r"% vgmath-table: " + re.escape(name) + r"\n(.*?)% vgmath-table-end: "
                  + re.escape(name), tex, re.S)
    assert m, f"table {name} not found"
    block = m.group(1)
    if r"\endlastfoot" in block:  # a longtable
        body = block.split(r"\endlastfoot", 1)[1].split(r"\end{longtable}", 1)[0]
    else:  # a tabular
        body = block.split(r"\midrule", 1)[1].split(r"\bottomrule", 1)[0]
    rows = []
    for line in body.strip().splitlines():
        line = line.strip()
        if not line.endswith(r"\\") and r"\\[" not in line:
            continue
        line = re.sub(r"\\\\(\[[^\]]*\])?$", "", line).strip()
        rows.append([c.strip() for c in re.split(r"(?<!\\)&", line)])
    return rows


def _csv_rows(out: Path, name: str) -> list[dict[str, str]]:
    with (out / "data" / f"{name}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


_NUM = r"-?\d+(?:\.\d+)?"


def _numbers(cell: str) -> list[float]:
    """Numbers typeset in a cell, with a trailing shared ``\\times 10^{e}`` applied to all
    and a per-number ``m\\times 10^{e}`` applied to that number."""
    shared = re.search(r"\)\\times 10\^\{(-?\d+)\}", cell)
    scale = 10.0 ** int(shared.group(1)) if shared else 1.0
    if shared:
        cell = cell[: shared.start()]
    out = []
    for m in re.finditer(r"(" + _NUM + r")(?:\\times 10\^\{(-?\d+)\})?", cell):
        v = float(m.group(1)) * (10.0 ** int(m.group(2)) if m.group(2) else 1.0)
        out.append(v * scale)
    return out


def _close(shown: float, value: float, digits: int) -> bool:
    """``shown`` is ``value`` rounded to ``digits`` significant digits (half an ulp of the
    last shown digit, plus float slack)."""
    if value == 0:
        return shown == 0
    ulp = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    return abs(shown - value) <= 0.5 * ulp * (1 + 1e-9) + 1e-300


@pytest.mark.slow
@needs_tex
def test_report_compiles_cleanly(built: dict[str, Any]) -> None:
    rep, out = built["report"], built["out"]
    assert rep.engine == "pdflatex"
    assert rep.pdf is not None and rep.pdf.exists()
    assert rep.pdf.read_bytes().startswith(b"%PDF")
    assert rep.pdf.stat().st_size > 50_000  # text, tables and 6 vector figures
    assert set(rep.sections) == {"activations", "initialisations", "depth", "recurrent",
                                 "edge_of_chaos", "phase_diagram"}
    log = L.parse_log((out / "report.log").read_text(errors="replace"))
    assert log.errors == ()
    assert log.undefined_references == () and log.undefined_citations == ()
    assert "There were undefined" not in (out / "report.log").read_text(errors="replace")
    assert log.max_overfull <= OVERFULL_TOLERANCE_PT, log.overfull
    assert not log.rerun
    # every \cite key has a bibitem and every \includegraphics file exists
    tex = rep.tex.read_text()
    cited = {k for group in re.findall(r"\\cite\{([^}]*)\}", tex) for k in group.split(",")}
    assert cited <= set(re.findall(r"\\bibitem\{([^}]*)\}", tex))
    for key in ("glorot2010", "he2015", "saxe2014", "poole2016", "schoenholz2017",
                "pennington2017", "hanin2018", "pascanu2013", "klambauer2017"):
        assert key in cited
    for path in re.findall(r"\\includegraphics\[[^]]*\]\{([^}]*)\}", tex):
        assert (out / path).exists() and (out / path).with_suffix(".png").exists()
    # the version is printed, no date
    assert f"vgmath {vg.__version__}" in tex and r"\date{}" in tex


@pytest.mark.slow
@needs_tex
def test_progress_and_notes_go_to_stderr(built: dict[str, Any]) -> None:
    err = built["stderr"]
    assert "Monte Carlo" in err  # the progress bar of the simulations
    assert "compiling with pdflatex" in err


@pytest.mark.slow
@needs_tex
@pytest.mark.skipif(not HAVE_POPPLER, reason="poppler-utils are not installed")
def test_hostile_label_is_typeset_verbatim(built: dict[str, Any], tmp_path: Path) -> None:
    rep = built["report"]
    tex = rep.tex.read_text()
    assert L.escape_text(HOSTILE, breakable=True) in tex
    assert HOSTILE not in tex
    text = subprocess.run(["pdftotext", "-layout", str(rep.pdf), "-"], capture_output=True,
                          check=True, text=True).stdout
    # pdftotext may render the T1 tilde/caret glyphs as their Unicode forms
    flat = text.replace("\u02dc", "~").replace("\u02c6", "^").replace("ˆ", "^")
    assert "x*tanh(x)_1 & % [a] $\\end{document}#" in flat
    # the pages render
    subprocess.run(["pdftoppm", "-r", "20", "-png", "-f", "1", "-l", "2", str(rep.pdf),
                    str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page*.png"))) == 2


@pytest.mark.slow
@needs_tex
def test_data_files_match_the_tables(built: dict[str, Any]) -> None:
    out, tex = built["out"], built["report"].tex.read_text()
    # depth: predicted (4 digits) and Monte Carlo mean (3 digits) per chain
    rows, data = _table_block(tex, "depth"), _csv_rows(out, "depth")
    assert len(rows) == len(data) == 4 * 2
    for cells, d in zip(rows, data, strict=True):
        assert cells[0] == L.escape_text(d["activation"], breakable=True)
        assert cells[1] == L.escape_text(d["init"], breakable=True)
        assert _close(_numbers(cells[3])[0], float(d["predicted"]), 4), (cells[3], d)
        assert _close(_numbers(cells[4])[0], float(d["predicted_finite_width"]), 4), (
            cells[4], d)
        mean, lo, hi = _numbers(cells[5])[:3]
        assert _close(mean, float(d["simulated"]), 3), (cells[5], d)
        assert _close(lo, float(d["ci_low"]), 3) and _close(hi, float(d["ci_high"]), 3)
        assert ("PASS" in cells[6]) == (d["passed"] == "True")
        label = {"PASS": "PASS", "FAIL": "FAIL", "INCONCLUSIVE": "INCONCLUSIVE"}[d["verdict"]]
        assert label in cells[6] and "untestable" not in d["verdict"]
    # the per-chain files agree with the summary at layer 0
    per = _csv_rows(out, "depth-00-sigmoid-01-he")
    assert float(per[0]["grad_second_moment_theory"]) == float(data[1]["predicted"])
    assert float(per[-1]["grad_second_moment_theory"]) == 1.0
    # activations: sup / inf (exact values printed as fractions are compared as numbers)
    rows, data = _table_block(tex, "activations"), _csv_rows(out, "activations")
    assert [r[0] for r in rows] == [L.escape_text(d["activation"], breakable=True)
                                    for d in data]
    for cells, d in zip(rows, data, strict=True):
        sup = _latex_value(cells[1])
        assert math.isclose(sup, float(d["sup"]), rel_tol=1e-5), (cells[1], d["sup"])
    # chi: one column pair per init
    rows, data = _table_block(tex, "chi"), _csv_rows(out, "chi")
    for cells, d in zip(rows, data, strict=True):
        for k, key in enumerate(("xavier:chi_1", "xavier:chi_L", "he:chi_1", "he:chi_L")):
            assert math.isclose(_latex_value(cells[1 + k]), float(d[key]), rel_tol=1e-3)
    # gains: the critical sigma_w^2 column
    rows, data = _table_block(tex, "gains"), _csv_rows(out, "gains")
    assert len(rows) == len(data) == 4
    for cells, d in zip(rows, data, strict=True):
        if d["critical_sigma_w2"]:
            assert math.isclose(_latex_value(cells[6]), float(d["critical_sigma_w2"]),
                                rel_tol=1e-5)
        else:
            assert "none" in cells[6]
    # recurrent: Monte Carlo mean [CI] and the Pascanu bound check per cell
    rows, data = _table_block(tex, "recurrent"), _csv_rows(out, "recurrent")
    assert len(rows) == len(data) == 5
    for cells, d in zip(rows, data, strict=True):
        mean, lo, hi = _numbers(cells[2])[:3]
        assert _close(mean, float(d["simulated"]), 3) and _close(lo, float(d["ci_low"]), 3)
        if d["bound_holds_networks"]:
            # Pascanu et al. 2013's bound is a theorem: it must hold on every network
            assert cells[5] == f"{d['bound_holds_networks']} of {d['trials']}"
            assert d["bound_holds_networks"] == d["trials"]
            assert float(d["mean_ln_jacobian_norm"]) <= float(d["mean_ln_pascanu_bound"])
    # JSON and CSV hold the same rows
    js = json.loads((out / "data" / "depth.json").read_text())
    assert len(js["rows"]) == len(_csv_rows(out, "depth"))


def _latex_value(cell: str) -> float:
    """The first number of a cell; ``\\frac{a}{b}`` and ``\\sqrt{2}`` read exactly."""
    m = re.search(r"\\frac\{(\d+)\}\{(\d+)\}", cell)
    if m and cell.index(m.group(0)) <= 2:
        return int(m.group(1)) / int(m.group(2))
    if cell.lstrip("$").startswith(r"\sqrt{2}"):
        return math.sqrt(2)
    return _numbers(cell)[0]


@pytest.mark.slow
@needs_tex
def test_manifest_hashes_every_file(built: dict[str, Any]) -> None:
    out = built["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["generator"] == core.GENERATOR
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest
    # no LaTeX by-products, no temporary folders left beside the report
    assert not list(out.glob("*.aux")) and not list(out.glob("*.out"))
    assert [p.name for p in out.parent.iterdir()] == ["out"]


@pytest.mark.slow
@needs_tex
def test_same_seed_gives_identical_files(built: dict[str, Any], tmp_path: Path) -> None:
    """report.tex, every figure (PDF and PNG), every data file, the manifest and — with
    pdfTeX's SOURCE_DATE_EPOCH — the PDF itself are byte-identical for the same options,
    also from another process with another string-hash seed (no set/dict-order effects)."""
    import os
    import sys

    again = tmp_path / "again"
    code = f"import vgmath as vg; vg.report({str(again)!r}, **{SMALL!r})"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    first = _tree_hashes(built["out"])
    second = _tree_hashes(again)
    first.pop("report.log")  # pdfTeX's log names the folder it ran in
    second.pop("report.log")
    differ = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
    assert not differ, differ
    assert {"report.tex", "report.pdf", "manifest.json"} <= set(first)
    assert any(k.startswith("figures/") and k.endswith(".png") for k in first)


@pytest.mark.slow
def test_the_seed_changes_the_document(tmp_path: Path) -> None:
    # shows that the byte comparison above can fail: a different seed, different numbers
    opts: dict[str, Any] = {"activations": ["tanh"], "inits": ["xavier"], "depth": 4,
                            "width": 8, "trials": 20, "latex": "none"}
    a = vg.report(tmp_path / "a", seed=0, **opts).tex.read_bytes()
    b = vg.report(tmp_path / "b", seed=1, **opts).tex.read_bytes()
    assert a != b


@pytest.mark.slow
# (an ordinary exception in one section is reported in its place instead: see
# tests/reporting/test_fragments_and_sections.py; running out of memory stops the report)
@pytest.mark.parametrize("interruption", [MemoryError, KeyboardInterrupt])
def test_an_interrupted_run_leaves_the_old_report_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interruption: type[BaseException]
) -> None:
    opts: dict[str, Any] = {"activations": ["relu"], "inits": ["he"], "depth": 3,
                            "width": 8, "simulate": False, "latex": "none"}
    out = tmp_path / "rep"
    vg.report(out, **opts)
    before = _tree_hashes(out)
    assert "report.tex" in before and any(k.startswith("figures/") for k in before)

    import vgmath.reporting.figures as F

    def boom(**kwargs: Any) -> Any:  # the phase diagram comes after several files are written
        raise interruption("injected")

    monkeypatch.setattr(F, "phase_diagram", boom)
    with pytest.raises(interruption):
        vg.report(out, **{**opts, "seed": 7})
    assert _tree_hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    # and a report that never existed is not created half-way
    with pytest.raises(interruption):
        vg.report(tmp_path / "new", **opts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


@pytest.mark.slow
def test_theory_only_report_has_no_monte_carlo(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "t", activations=["relu", "tanh"], inits=["he"], depth=5,
                    width=16, simulate=False, latex="none")
    tex = rep.tex.read_text()
    assert "Monte Carlo [" not in tex and "verdict" not in tex
    assert "theory-only" in tex
    assert "recurrent" in rep.omitted and "Gradients through time" not in tex
    header = (rep.directory / "data" / "depth.csv").read_text().splitlines()[0]
    assert "simulated" not in header
    assert not list((rep.directory / "data").glob("verify-*"))
    # relu + he: the exact closed form, chi = 1 at every layer
    assert r"\frac{\mathbb{E}[(g^{l}_i)^2]}{\mathbb{E}[(g^{L}_i)^2]} = 1" in tex


@pytest.mark.slow
def test_without_a_latex_engine_the_tex_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(L.shutil, "which", lambda name: None)
    rep = vg.report(tmp_path / "t", activations=["relu"], inits=["he"], depth=3, width=8,
                    simulate=False)
    assert rep.pdf is None and rep.engine is None and rep.tex.exists()
    assert "no LaTeX engine found" in capsys.readouterr().err


@pytest.mark.slow
def test_command_line_writes_the_report(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = cli_main(["report", "--activations", "relu", "mine=tanh(x)", "--inits", "he",
                     "--depth", "3", "--width", "8", "--no-simulate", "--latex", "none",
                     "--quiet", "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out / "report.tex")
    assert "mine" in (out / "report.tex").read_text()
    assert json.loads((out / "manifest.json").read_text())["options"]["simulate"] is False


@pytest.mark.slow
@needs_tex
def test_a_broken_document_is_caught(tmp_path: Path) -> None:
    """The log checks can fail: an undefined reference and citation and an overfull box are
    reported, and a TeX error raises."""
    doc = tmp_path / "bad.tex"
    doc.write_text("\n".join([
        r"\documentclass{article}\begin{document}",
        r"See \ref{nowhere} and \cite{nobody}.",
        r"\noindent\hbox to 1.3\textwidth{x\hfil}",
        r"\end{document}",
    ]))
    res = L.compile_latex(doc, engine="pdflatex")
    assert res.log.undefined_references == ("nowhere",)
    assert res.log.undefined_citations == ("nobody",)
    assert res.log.max_overfull > 50
    assert len(res.log.problems()) == 3
    doc.write_text(r"\documentclass{article}\begin{document}\undefinedmacro\end{document}")
    with pytest.raises(L.LatexError, match="Undefined control sequence"):
        L.compile_latex(doc, engine="pdflatex")


@pytest.mark.slow
@needs_tex
def test_a_document_that_does_not_compile_is_an_error_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vgmath.reporting.driver as R
    from vgmath.reporting.sections import InitialisationsSection

    monkeypatch.setattr(R, "SECTIONS", [InitialisationsSection])
    monkeypatch.setattr(R, "_bibliography", lambda ctx: "\\undefinedmacro\n")
    with pytest.raises(L.LatexError, match="Undefined control sequence") as info:
        vg.report(tmp_path / "o", activations=["relu"], inits=["he"], depth=3, width=8,
                  simulate=False)
    assert str(tmp_path / "o") in str(info.value)
    assert (tmp_path / "o" / "report.log").exists() and (tmp_path / "o" / "report.tex").exists()
    assert not (tmp_path / "o" / "report.pdf").exists()
