"""Fragments a paper can \\input (compiled inside a minimal paper with BibTeX), the choice and
order of sections, and a failing section reported in place while the rest builds."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import vgmath as vg
from vgmath.cli import main as cli_main
from vgmath.core.errors import InvalidArgumentError
from vgmath.reporting import core
from vgmath.reporting.fragments import extract

HAVE_TEX = all(shutil.which(t) for t in ("pdflatex", "bibtex"))
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="pdflatex/bibtex are not installed")

SMALL: dict[str, Any] = {
    "activations": ["tanh", "relu"], "inits": ["xavier", "he"], "depth": 6, "width": 16,
    "trials": 30, "seed": 2,
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("fragments") / "gradients"
    return vg.report(out, sections=["inits", "depth"], latex="none", **SMALL)


def test_every_table_and_figure_is_a_fragment(small: Any) -> None:
    tex = small.tex.read_text()
    tables = re.findall(r"^% vgmath-table: (\S+)$", tex, re.M)
    figures = re.findall(r"^% vgmath-figure: (\S+)$", tex, re.M)
    assert tables and figures
    frag = small.directory / "fragments"
    names = sorted(p.name for p in frag.glob("*.tex"))
    assert names == sorted([f"table-{t}.tex" for t in tables]
                           + [f"figure-{f}.tex" for f in figures] + ["preamble.tex"])
    for f in figures:
        body = (frag / f"figure-{f}.tex").read_text()
        assert r"\caption{" in body and r"\label{fig:" in body
        assert r"{\vgmathdir figures/" + f + ".pdf}" in body
    for t in tables:
        body = (frag / f"table-{t}.tex").read_text()
        assert r"\caption{" in body and r"\label{tab:" in body
    # the manifest lists (and hashes) them like every other file
    assert all(f"fragments/{n}" in small.files for n in names)
    assert "references.bib" in small.files


def test_references_bib_holds_exactly_the_cited_works(small: Any) -> None:
    tex = small.tex.read_text()
    cited = set()
    for group in re.findall(r"\\cite\{([^}]*)\}", tex):
        cited.update(group.split(","))
    bib = (small.directory / "references.bib").read_text()
    assert set(re.findall(r"^@\w+\{(\w+),", bib, re.M)) == cited
    # the report's own bibliography lists the same works and nothing else
    assert set(re.findall(r"\\bibitem\{(\w+)\}", tex)) == cited


@pytest.mark.slow
@needs_tex
def test_fragments_compile_inside_a_paper_with_bibtex(small: Any, tmp_path: Path) -> None:
    paper_dir = tmp_path / "paper"
    paper_dir.mkdir()
    shutil.copytree(small.directory, paper_dir / "gradients")
    frags = sorted((paper_dir / "gradients" / "fragments").glob("*-*.tex"))
    body = "\n".join(r"\input{gradients/fragments/" + p.name + "}" for p in frags)
    (paper_dir / "paper.tex").write_text("\n".join([
        r"\documentclass{article}",
        r"\newcommand{\vgmathdir}{gradients/}",
        r"\input{gradients/fragments/preamble.tex}",
        r"\begin{document}",
        r"Our networks follow the rules of Table~\ref{tab:inits}; see Figure~\ref{fig:depth-0}.",
        body,
        r"\bibliographystyle{plain}",
        r"\bibliography{gradients/references}",
        r"\end{document}",
        "",
    ]))

    def run(*cmd: str) -> None:
        proc = subprocess.run([*cmd], cwd=paper_dir, capture_output=True, text=True,
                              timeout=180, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:]

    latex = ("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex")
    run(*latex)
    run("bibtex", "paper")
    run(*latex)
    run(*latex)
    log = (paper_dir / "paper.log").read_text(errors="replace")
    assert "undefined" not in log.lower(), re.findall(r".*undefined.*", log, re.I)
    bbl = (paper_dir / "paper.bbl").read_text()
    assert "Glorot" in bbl and "He" in bbl
    assert (paper_dir / "paper.pdf").stat().st_size > 10_000


def test_fragment_extraction_rewrites_only_figure_paths() -> None:
    tex = "\n".join([
        "% vgmath-figure: a", r"\begin{figure}[htbp]",
        r"\includegraphics[width=\textwidth]{figures/a.pdf}", r"\caption{c}\label{fig:a}",
        r"\end{figure}", "% vgmath-figure-end: a",
        "% vgmath-table: t", r"\begin{table}[htbp]figures/x\end{table}",
        "% vgmath-table-end: t", "",
    ])
    out = dict(extract(tex))
    assert set(out) == {"figure-a.tex", "table-t.tex"}
    assert r"{\vgmathdir figures/a.pdf}" in out["figure-a.tex"]
    assert "figures/x" in out["table-t.tex"] and r"\vgmathdir" not in out["table-t.tex"]


# --------------------------------------------------------------------------- sections


def test_sections_are_chosen_and_ordered(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "r", sections="edge,depth", simulate=False, latex="none", **SMALL)
    assert rep.sections == ("edge_of_chaos", "depth")
    tex = rep.tex.read_text()
    assert tex.index(r"\label{sec:edge_of_chaos}") < tex.index(r"\label{sec:depth}")
    assert r"\label{sec:activations}" not in tex and r"\label{sec:recurrent}" not in tex
    assert rep.omitted["recurrent"] == "not requested (--sections)"
    # no reference to a section that is not there
    for key in re.findall(r"\\ref\{sec:([\w-]+)\}", tex):
        assert r"\label{sec:" + key + "}" in tex


@pytest.mark.parametrize(("value", "message"), [
    ("depth,nonsense", "unknown section"),
    (["depth", "depth"], "appears more than once"),
    ("", "needs at least one section"),
])
def test_bad_section_names_are_refused(value: Any, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        core.coerce_sections(value)


def test_command_line_sections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["report", "--sections", "depth,edge", "--activations", "tanh",
                          "--inits", "he", "--depth", "4", "--width", "8", "--no-simulate",
                          "--latex", "none", "--quiet", "--out", str(tmp_path / "R")])
    assert code == 0
    tex = (tmp_path / "R" / "report.tex").read_text()
    assert tex.index(r"\label{sec:depth}") < tex.index(r"\label{sec:edge_of_chaos}")
    code = cli_main(["report", "--sections", "depth", "bogus", "--out",
                          str(tmp_path / "S")])
    err = capsys.readouterr().err
    assert code != 0 and "bogus" in err and "unknown section" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "S").exists()


@needs_tex
def test_a_failing_section_is_reported_in_place(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from vgmath.reporting.sections import InitialisationsSection

    def broken(self: Any, ctx: Any) -> str:
        raise RuntimeError("the χ engine is broken & 100% wrong")

    monkeypatch.setattr(InitialisationsSection, "build", broken)
    rep = vg.report(tmp_path / "r", sections=["activations", "inits", "edge"],
                    simulate=False, **SMALL)
    assert rep.sections == ("activations", "initialisations", "edge_of_chaos")
    assert "RuntimeError" in rep.failed["initialisations"]
    tex = rep.tex.read_text()
    part = tex.split(r"\label{sec:initialisations}", 1)[1].split(r"\section{", 1)[0]
    assert r"\emph{This section could not be built:}" in part
    assert r"\&" in part and r"100\%" in part
    assert rep.pdf is not None and rep.pdf.exists()
    assert r"% vgmath-table: gains" in tex  # the sections after it were built


def test_an_interruption_turned_into_an_error_still_stops_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SIGTERM/Ctrl-C inside library code can surface as an ordinary error whose context is
    # the interruption (zlib: "Error -2 while flushing: inconsistent stream state"); a
    # section must not contain it (even a deliberate "from None"), and no output is left
    from vgmath.reporting.sections import InitialisationsSection

    def in_finally(self: Any, ctx: Any) -> str:
        try:
            raise KeyboardInterrupt
        finally:
            raise ValueError("Error -2 while flushing: inconsistent stream state")

    def converted(self: Any, ctx: Any) -> str:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("interrupted") from None

    for k, build in enumerate((in_finally, converted)):
        monkeypatch.setattr(InitialisationsSection, "build", build)
        with pytest.raises(KeyboardInterrupt):
            vg.report(tmp_path / f"r{k}", sections=["activations", "inits"], simulate=False,
                      latex="none", **SMALL)
        assert list(tmp_path.iterdir()) == []


def test_several_depths_and_widths(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "r", sections=["inits", "depth", "edge"], depths=[3, 5],
                    widths=[8, 16], activations=["tanh", "relu"], inits=["he"], trials=20,
                    latex="none")
    variants = [f"-L{d}-n{n}" for d in (3, 5) for n in (8, 16)]
    assert rep.sections == (*(f"initialisations{v}" for v in variants),
                            *(f"depth{v}" for v in variants), "edge_of_chaos")
    tex = rep.tex.read_text()
    labels = re.findall(r"\\label\{([^}]*)\}", tex)
    assert len(labels) == len(set(labels)), "every label once"
    for ref in re.findall(r"\\ref\{([^}]*)\}", tex):
        assert ref in labels, ref
    for v, (d, n) in zip(variants, [(3, 8), (3, 16), (5, 8), (5, 16)], strict=True):
        rows = list((rep.directory / "data" / f"depth{v}.json").read_text().splitlines())
        meta = __import__("json").loads("\n".join(rows))["meta"]
        assert (meta["depth"], meta["width"]) == (d, n)
        assert f"% vgmath-table: depth{v}\n" in tex
        assert (rep.directory / "fragments" / f"table-depth{v}.tex").exists()
        assert (rep.directory / "figures" / f"depth-00{v}.pdf").exists()
    manifest = __import__("json").loads((rep.directory / "manifest.json").read_text())
    assert manifest["options"]["depths"] == [3, 5] and manifest["options"]["widths"] == [8, 16]


def test_depth_and_depths_exclude_each_other(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["report", "--depth", "5", "--depths", "3", "4", "--out",
                     str(tmp_path / "R")])
    assert code == 2 and "--depths" in capsys.readouterr().err
    with pytest.raises(InvalidArgumentError, match="more than once"):
        vg.report(tmp_path / "S", depths=[3, 3], latex="none")


@needs_tex
def test_summary_is_short_and_self_contained(tmp_path: Path) -> None:
    rep = vg.report(tmp_path / "s", summary=True, **SMALL)
    assert rep.sections == ("depth",)
    tex = rep.tex.read_text()
    assert r"\section{" not in tex and r"\begin{abstract}" not in tex
    assert "% vgmath-figure: depth-00" in tex and "% vgmath-table: depth" in tex
    labels = set(re.findall(r"\\label\{([^}]*)\}", tex))
    for ref in re.findall(r"\\ref\{([^}]*)\}", tex):
        assert ref in labels, ref
    # bare verdicts in the table; every profile that did not pass explained in the text
    import csv

    with (rep.directory / "data" / "depth.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for r in rows:
        if r["verdict"] != "PASS":
            assert r"\item \textbf{" + r["verdict"] + "}, " + r["activation"] in tex
    assert "layers tested)" not in tex.split("% vgmath-table: depth", 1)[1]
    assert rep.latex_log is not None and not rep.latex_log.problems()
    pages = subprocess.run(["pdfinfo", str(rep.pdf)], capture_output=True, text=True,
                           check=False).stdout
    if pages:
        assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) <= 2  # type: ignore[union-attr]
    # the references come before the floats: a bibliography section placed after them waits
    # for them (placeins) and takes a page of its own
    assert tex.index(r"\begin{thebibliography}") < tex.index("% vgmath-figure: depth-00")


@needs_tex
@pytest.mark.slow
def test_summary_of_the_default_report_is_two_pages(tmp_path: Path) -> None:
    """At the default settings (nine activations × three inits: 27 table rows and eight
    explanations) the summary is the page of findings and the page with figure and table."""
    if shutil.which("pdfinfo") is None:
        pytest.skip("poppler-utils (pdfinfo) are not installed")
    rep = vg.report(tmp_path / "s", summary=True)
    pages = subprocess.run(["pdfinfo", str(rep.pdf)], capture_output=True, text=True,
                           check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", pages).group(1)) == 2  # type: ignore[union-attr]
    assert rep.latex_log is not None and not rep.latex_log.problems()
