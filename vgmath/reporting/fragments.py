"""Fragments for papers: every table and figure of a report as a standalone ``.tex`` file.

The report marks each table (``% vgmath-table: name`` … ``% vgmath-table-end: name``, see
:func:`vgmath.reporting.latex.longtable`) and each figure (``% vgmath-figure: stem`` …
``% vgmath-figure-end: stem``, see :meth:`ReportContext.figure`). After the build they are cut
out of ``report.tex`` into ``fragments/table-<name>.tex`` and ``fragments/figure-<stem>.tex``,
each with its caption and label, so a paper can ``\\input`` them. Two more files make that work:

* ``fragments/preamble.tex``: the packages and the few macros the fragments use (``\\E``,
  ``\\vgfittext``, ``\\nolinkurl`` without hyperref), to ``\\input`` in the paper's preamble;
* ``references.bib``: the works the report cites, for BibTeX.

Figures are found through ``\\vgmathdir`` (the report folder as seen from the paper, with a
trailing slash; empty by default)::

    \\documentclass{article}
    \\newcommand{\\vgmathdir}{gradients/}
    \\input{gradients/fragments/preamble.tex}
    \\begin{document}
    \\input{gradients/fragments/table-depth.tex}
    \\input{gradients/fragments/figure-depth-00.tex}
    \\bibliographystyle{plain}
    \\bibliography{gradients/references}
    \\end{document}
"""

from __future__ import annotations

import re
from pathlib import Path

from .core import BIBTEX, REFERENCES

__all__ = ["FRAGMENTS", "PREAMBLE", "bibtex", "extract", "write_fragments"]

#: folder of the fragments inside a report
FRAGMENTS = "fragments"

PREAMBLE = "\n".join([
    "% vgmath fragments: \\input this file in the preamble of a paper that \\input's them.",
    "% Set \\vgmathdir to the report folder (with a trailing slash) before it.",
    r"\providecommand{\vgmathdir}{}",
    r"\usepackage{amsmath,amssymb}",
    r"\usepackage{graphicx}",
    r"\usepackage{array}",
    r"\usepackage{booktabs}",
    r"\usepackage{longtable}",
    r"\providecommand{\E}{\mathbb{E}}",
    r"\ifdefined\vgfitbox\else\newsavebox{\vgfitbox}\fi",
    (r"\providecommand{\vgfittext}[1]{\sbox{\vgfitbox}{#1}"
     r"\ifdim\wd\vgfitbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\vgfitbox}}"
     r"\else\usebox{\vgfitbox}\fi}"),
    # hyperref defines \nolinkurl; without it, file names are set in typewriter type
    r"\AtBeginDocument{\providecommand{\nolinkurl}[1]{\texttt{#1}}}",
    "",
])

_RE_BLOCK = re.compile(
    r"^% vgmath-(?P<kind>table|figure): (?P<name>[^\n]+)\n(?P<body>.*?)"
    r"^% vgmath-(?P=kind)-end: (?P=name)$", re.S | re.M)


def extract(tex: str) -> list[tuple[str, str]]:
    """``(file name, LaTeX)`` of every marked table and figure of ``tex``, in document
    order; figure paths go through ``\\vgmathdir``."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for m in _RE_BLOCK.finditer(tex):
        kind, name = m.group("kind"), m.group("name").strip()
        fname = f"{kind}-{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}.tex"
        if fname in seen:  # pragma: no cover - names are unique within a report
            continue
        seen.add(fname)
        body = m.group("body").replace(r"]{figures/", r"]{\vgmathdir figures/")
        out.append((fname, f"% vgmath {kind} {name}: \\input in a paper (see preamble.tex)\n"
                    + body))
    return out


def bibtex(keys: set[str] | list[str]) -> str:
    """BibTeX entries of the cited works, in the bibliography's order."""
    return "\n".join(BIBTEX[k] for k in REFERENCES if k in set(keys)) + "\n"


def write_fragments(tex: str, root: Path, cited: set[str]) -> list[Path]:
    """Write the fragments of ``tex``, their preamble and ``references.bib`` under ``root``."""
    folder = root / FRAGMENTS
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, body in extract(tex):
        path = folder / fname
        path.write_text(body, encoding="utf-8")
        written.append(path)
    pre = folder / "preamble.tex"
    pre.write_text(PREAMBLE, encoding="utf-8")
    bib = root / "references.bib"
    bib.write_text(bibtex(cited), encoding="utf-8")
    return [*written, pre, bib]
