"""LaTeX machinery for vgmath's reports: escaping, number formatting, tables, compiling, log checks.

Design requirements
-------------------
* **Safe**: every piece of user-supplied text (activation names, labels, expressions typed by
  a user) goes through :func:`escape_text` before it reaches the document; formulas come only
  from SymPy's LaTeX printer (``sp.latex``) or from the objects' own ``.latex()`` methods.
* **Deterministic**: numbers are formatted by fixed rules (:func:`fmt_float`,
  :func:`fmt_number`), never with ``str(float)`` of platform-dependent width, so the same inputs
  give byte-identical ``.tex``.
* **Standard packages only**: the preamble uses amsmath, amssymb, graphicx, booktabs,
  longtable, array, hyperref, geometry, float, xcolor, caption, lmodern and fontenc — all in
  every TeX Live installation (``texlive-latex-recommended``).
* **Checked**: :func:`compile_latex` runs pdflatex (or latexmk) until cross-references settle
  and :func:`parse_log` reports errors, undefined references/citations and overfull boxes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from ..core.errors import VgmathError
from ..symbolic.typeset import latex_number

__all__ = [
    "Column",
    "CompileResult",
    "LatexError",
    "LatexLog",
    "compile_latex",
    "escape_text",
    "find_engine",
    "finite_float",
    "fit_display",
    "fmt_ci",
    "fmt_exact",
    "fmt_exact_set",
    "fmt_float",
    "label_text",
    "longtable",
    "parse_log",
    "pdf_string",
    "preamble",
    "readable_text",
    "safe_math",
]


class LatexError(VgmathError):
    """pdflatex failed on a generated document (the message quotes the first error)."""


# --------------------------------------------------------------------------- escaping

_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    # brackets: a cell starting with [ right after \\ would be read as \\[<length>]
    "[": "{[}",
    "]": "{]}",
    '"': r"\textquotedbl{}",
    # break TeX's ligatures -- and `` '' so that text is printed as typed
    "-": "-{}",
    "`": r"\textasciigrave{}",
    "'": r"\textquotesingle{}",
}

# Non-ASCII characters users are likely to type, with a safe LaTeX rendering in text mode.
_UNICODE_TEXT = {
    "α": r"\ensuremath{\alpha}",
    "β": r"\ensuremath{\beta}",
    "γ": r"\ensuremath{\gamma}",
    "δ": r"\ensuremath{\delta}",
    "ε": r"\ensuremath{\varepsilon}",
    "λ": r"\ensuremath{\lambda}",
    "μ": r"\ensuremath{\mu}",
    "π": r"\ensuremath{\pi}",
    "σ": r"\ensuremath{\sigma}",
    "φ": r"\ensuremath{\varphi}",
    "χ": r"\ensuremath{\chi}",
    "ξ": r"\ensuremath{\xi}",
    "′": r"\ensuremath{'}",
    "″": r"\ensuremath{''}",
    "→": r"\ensuremath{\to}",
    "≈": r"\ensuremath{\approx}",
    "∈": r"\ensuremath{\in}",
    "ψ": r"\ensuremath{\psi}",
    "κ": r"\ensuremath{\kappa}",
    "τ": r"\ensuremath{\tau}",
    "ℝ": r"\ensuremath{\mathbb{R}}",
    "⁴": r"\textsuperscript{4}",
    "₁": r"\textsubscript{1}",
    "²": r"\textsuperscript{2}",
    "·": r"\ensuremath{\cdot}",
    "×": r"\ensuremath{\times}",
    "−": "-{}",
    "–": "--",
    "—": "---",
    "±": r"\ensuremath{\pm}",
    "≤": r"\ensuremath{\le}",
    "≥": r"\ensuremath{\ge}",
    "√": r"\ensuremath{\surd}",
    "∞": r"\ensuremath{\infty}",
}


def _greek() -> dict[str, str]:
    """Greek letters (both cases) in text mode: LaTeX commands, or the Latin capital that
    looks the same (LaTeX has no ``\\Alpha``)."""
    latin = {"alpha": "A", "beta": "B", "epsilon": "E", "zeta": "Z", "eta": "H", "iota": "I",
             "kappa": "K", "mu": "M", "nu": "N", "omicron": "O", "rho": "P", "tau": "T",
             "chi": "X"}
    names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
             "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau",
             "upsilon", "phi", "chi", "psi", "omega"]
    out: dict[str, str] = {"ς": r"\ensuremath{\varsigma}"}
    for n in names:
        uname = "LAMDA" if n == "lambda" else n.upper()  # Unicode's spelling
        small = unicodedata.lookup(f"GREEK SMALL LETTER {uname}")
        capital = unicodedata.lookup(f"GREEK CAPITAL LETTER {uname}")
        command = "varphi" if n == "phi" else n
        out[small] = "o" if n == "omicron" else "\\ensuremath{\\" + command + "}"
        out[capital] = latin.get(n, "\\ensuremath{\\" + n.capitalize() + "}")
    return out


_UNICODE_TEXT = {**_greek(), **_UNICODE_TEXT}


def escape_text(text: Any, *, breakable: bool = False) -> str:
    """Escape arbitrary text for LaTeX text mode (no character keeps a special meaning).

    ASCII specials are escaped; common Greek letters and symbols are rendered; other non-ASCII
    characters are decomposed to ASCII where possible (``é`` → ``e``) and otherwise shown as
    ``[U+hhhh]`` (its hexadecimal code point, braced so a leading ``[`` is never an optional
    argument) — pdflatex cannot typeset arbitrary Unicode,
    and an unknown character must not break the document. Control characters become spaces.

    ``breakable=True`` allows a line break after every punctuation character and inside long
    runs of letters and digits (``\\allowbreak``), so that a long user-supplied name can wrap
    in a narrow table column instead of running into the margin.
    """
    out: list[str] = []
    run = 0
    for ch in str(text):
        if breakable:
            if ch.isalnum():
                run += 1
                if run > 12:
                    out.append(r"\allowbreak{}")
                    run = 1
            else:
                run = 0
                if ch != " " and out:
                    out.append(escape_text(ch))
                    out.append(r"\allowbreak{}")
                    continue
        if ch in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[ch])
        elif ch in _UNICODE_TEXT:
            out.append(_UNICODE_TEXT[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        elif ch in "\t\n\r\f\v" or unicodedata.category(ch).startswith("C"):
            out.append(" ")
        else:
            ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            if ascii_ and all(" " <= c <= "~" for c in ascii_):
                out.append(escape_text(ascii_))
            else:
                # braces: a '[' at the start of a table row (after \midrule or \\) would
                # otherwise be read as an optional argument ("Missing number")
                out.append(f"{{[}}U+{ord(ch):04X}{{]}}")
    return "".join(out)


_RE_INTERVAL = re.compile(r"Interval(\.open|\.Lopen|\.Ropen)?\(([^(),]+), ([^(),]+)\)")
_RE_LONGNUM = re.compile(r"(?<![\w.])(-?\d+\.\d{7,})(?:e([+-]?\d+))?")
_RE_OO = re.compile(r"(?<![A-Za-z])([+-]?)oo(?![A-Za-z])")
_RE_READABLE = re.compile(
    r"(?P<iv>Interval(?P<kind>\.open|\.Lopen|\.Ropen)?\((?P<a>[^(),]+), (?P<b>[^(),]+)\))"
    r"|(?<![\w.])(?P<num>-?\d+\.\d{7,}(?:e[+-]?\d+)?)"
    r"|(?<![A-Za-z])(?P<sign>[+-]?)oo(?![A-Za-z])"
)


def readable_text(text: Any, *, digits: int = 8) -> str:
    """Machine-made text (SymPy reprs in a method description) as readable LaTeX: intervals
    ``Interval.open(0, oo)`` → :math:`(0, \\infty)`, ``oo`` → ∞, long decimals rounded to
    ``digits`` significant digits; everything else escaped with :func:`escape_text`."""

    def end(v: str) -> str:
        v = v.strip()
        m = _RE_OO.fullmatch(v)
        if m:
            return "-\\infty" if m.group(1) == "-" else "\\infty"
        if _RE_LONGNUM.fullmatch(v):
            return fmt_float(float(v), digits)
        return _plain_math(v)

    def convert(m: re.Match[str]) -> str:
        if m.group("iv") is not None:
            kind, a, b = m.group("kind") or "", m.group("a"), m.group("b")
            left = "(" if kind in (".open", ".Lopen") or a.strip().endswith("oo") else "["
            right = ")" if kind in (".open", ".Ropen") or b.strip().endswith("oo") else "]"
            return f"${left}{end(a)}, {end(b)}{right}$"
        if m.group("num") is not None:
            return "$" + fmt_float(float(m.group("num")), digits) + "$"
        sign = m.group("sign")
        return "$" + {"-": "-", "+": "+"}.get(sign, "") + "\\infty$"

    out: list[str] = []
    pos = 0
    t = str(text)
    for m in _RE_READABLE.finditer(t):
        out.append(escape_text(t[pos:m.start()]))
        out.append(convert(m))
        pos = m.end()
    out.append(escape_text(t[pos:]))
    return "".join(out)


def _plain_math(v: str) -> str:
    """A short SymPy-printed number (``1/100``, ``sqrt(2)``) as math LaTeX, else escaped."""
    if re.fullmatch(r"-?\d+(/\d+)?", v):
        num = sp.Rational(v)
        return sp.latex(num)
    return r"\text{" + escape_text(v) + "}"


def pdf_string(text: Any) -> str:
    """A plain ASCII rendering for PDF bookmarks (``\\texorpdfstring``'s second argument):
    letters, digits, spaces and a few harmless punctuation marks only."""
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    s = re.sub(r"[^A-Za-z0-9 .,:;+=()/*-]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


# --------------------------------------------------------------------------- numbers


def finite_float(value: Any) -> float | None:
    """``float(value)`` when that is a finite number, else None (SymPy, NumPy or text)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_float(value: Any, digits: int = 4, *, missing: str = "---") -> str:
    """A float in LaTeX math notation with ``digits`` significant digits.

    Fixed point for 1e-3 ≤ |v| < 1e4, otherwise ``m\\times 10^{e}`` (untrimmed mantissa:
    :func:`vgmath.symbolic.typeset.latex_number` with ``trim=False, spaced=True``);
    NaN/None → ``missing``;
    ±inf → ``\\pm\\infty``. Deterministic (Python's ``format`` with a fixed spec) and
    idempotent for equal floats. Meant to be placed inside math mode.
    """
    if value is None:
        return missing
    try:
        v = float(value)
    except (TypeError, ValueError):
        return missing
    if math.isnan(v):
        return missing
    return latex_number(v, digits, trim=False, spaced=True)


def fmt_exact(value: Any, *, digits: int = 6, max_len: int = 48) -> str:
    """An exact SymPy number as LaTeX (``\\frac{1}{4}``), falling back to a decimal with
    ``digits`` significant digits prefixed by ``\\approx`` when the exact form is too long to
    typeset in a table (``max_len`` characters of LaTeX) or the value is not a SymPy number.

    Returns math-mode LaTeX.
    """
    if isinstance(value, sp.Basic):
        if value in (sp.oo, -sp.oo, sp.zoo):
            return sp.latex(value)
        if isinstance(value, sp.Float):
            return r"\approx " + fmt_float(value, digits)
        try:
            tex = sp.latex(value)
        except Exception:  # pragma: no cover - sympy printer failure on an exotic object
            tex = None
        if tex is not None and len(tex) <= max_len:
            return tex
        v = finite_float(value.evalf(digits + 5)) if value.is_number else None
        if v is not None:
            return r"\approx " + fmt_float(v, digits)
        return sp.latex(value) if tex is None else tex
    return fmt_float(value, digits)


def fmt_exact_set(s: Any, *, max_len: int = 24, digits: int = 5) -> str:
    """A SymPy subset of ℝ (Interval, Union, FiniteSet) as math LaTeX whose endpoints are
    exact when short and decimals otherwise: ``(-\\infty, -4.585) \\cup (4.585, \\infty)``."""
    if s is sp.S.EmptySet:
        return r"\emptyset"
    if s == sp.S.Reals:
        return r"\mathbb{R}"

    def end(v: Any) -> str:
        tex = fmt_exact(v, digits=digits, max_len=max_len)
        return tex.replace(r"\approx ", "")

    if isinstance(s, sp.Interval):
        left = "(" if s.left_open or s.start == -sp.oo else "["
        right = ")" if s.right_open or s.end == sp.oo else "]"
        return f"{left}{end(s.start)}, {end(s.end)}{right}"
    if isinstance(s, sp.Union):
        return r" \cup ".join(fmt_exact_set(a, max_len=max_len, digits=digits) for a in s.args)
    if isinstance(s, sp.FiniteSet):
        return r"\{" + ", ".join(end(v) for v in s) + r"\}"
    return sp.latex(s)


def fmt_ci(mean: Any, low: Any, high: Any, digits: int = 3) -> str:
    """A mean with its confidence interval, sharing one power of ten:
    ``(6.10\\;[3.60, 10.3])\\times 10^{-3}`` (math LaTeX)."""
    m, lo, hi = finite_float(mean), finite_float(low), finite_float(high)
    if m is None:
        return fmt_float(mean, digits)
    if lo is None or hi is None:
        return fmt_float(m, digits)
    if m == 0:
        return "0"
    e = math.floor(math.log10(abs(m)))

    def f(v: float) -> str:
        if v == 0:
            return "0"
        dec = max(0, digits - 1 - math.floor(math.log10(abs(v))))
        return f"{v:.{dec}f}"

    if -2 <= e < 3:
        return f"{f(m)}\\;[{f(lo)}, {f(hi)}]"
    k = 10.0**e
    return f"({f(m / k)}\\;[{f(lo / k)}, {f(hi / k)}])\\times 10^{{{e}}}"


def fit_display(tex: str) -> str:
    """A displayed formula that is scaled down to the line width if it would not fit
    (``\\vgfit`` is defined in :func:`preamble`; it never produces an overfull box)."""
    return "\\vgfit{" + tex + "}\n"


@dataclass(frozen=True)
class Column:
    """One longtable column: header (LaTeX), alignment spec (``l``, ``r``, ``c`` or a
    ``p{..}``/``>{..}p{..}`` spec from the array package)."""

    header: str
    align: str = "l"


#: tables with more body rows than this may break across pages (longtable); shorter ones
#: are kept in one piece (a ``table`` float placed here), which avoids longtable's orphaned
#: "continued" headers when a short table ends at the foot of a page
LONG_ROWS = 18


def longtable(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    caption: str,
    label: str,
    name: str,
    size: str = r"\small",
    notes: str = "",
    row_sep: str = "",
) -> str:
    """A booktabs table: a ``longtable`` (breaks across pages, repeats its header) when it has
    more than :data:`LONG_ROWS` rows, otherwise a ``tabular`` in a ``table`` float (placed
    here, at the top or bottom of a page, or on a page of floats: ``[htbp]``).

    Cells must already be LaTeX. ``name`` is written in a ``% vgmath-table: name`` comment on
    the line before the table (and ``% vgmath-table-end: name`` after it) so that tests and
    tools can find it and compare it with the data file of the same name. ``notes`` are
    typeset in small print below the table; ``row_sep`` (e.g. ``[3pt]``) adds space after
    each row.
    """
    spec = "@{}" + "".join(c.align for c in columns) + "@{}"
    head = " & ".join(c.header for c in columns) + r" \\"
    n = len(columns)
    body: list[str] = []
    for row in rows:
        if len(row) != n:
            raise ValueError(f"table {name}: row has {len(row)} cells, expected {n}")
        body.append(" & ".join(row) + r" \\" + row_sep)
    if not body:
        raise ValueError(f"table {name} has no rows")
    notes_tex = ([r"\par\smallskip{\raggedright\footnotesize " + notes + r"\par}"]
                 if notes else [])
    if len(body) <= LONG_ROWS:
        lines = [
            f"% vgmath-table: {name}",
            r"\begin{table}[htbp]",
            r"\centering" + size,
            r"\setlength{\tabcolsep}{4pt}",
            r"\caption{" + caption + r"}\label{" + label + "}",
            r"\begin{tabular}{" + spec + "}",
            r"\toprule",
            head,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            *notes_tex,
            r"\end{table}",
            f"% vgmath-table-end: {name}",
        ]
        return "\n".join(lines) + "\n"
    lines = [
        f"% vgmath-table: {name}",
        "{" + size,
        r"\setlength{\tabcolsep}{4pt}",
        r"\begin{longtable}{" + spec + "}",
        r"\caption{" + caption + r"}\label{" + label + r"}\\",
        r"\toprule",
        head,
        r"\midrule",
        r"\endfirsthead",
        r"\multicolumn{" + str(n) + r"}{@{}l}{\footnotesize\itshape Table~\ref{" + label
        + r"} (continued)}\\",
        r"\toprule",
        head,
        r"\midrule",
        r"\endhead",
        r"\bottomrule",
        r"\endlastfoot",
        *body,
        r"\end{longtable}",
    ]
    if notes:
        lines.append(r"\vspace{-0.5\baselineskip}")
        lines.extend(notes_tex)
    lines.append("}")
    lines.append(f"% vgmath-table-end: {name}")
    return "\n".join(lines) + "\n"


def preamble(*, title: str, author: str, pdf_title: str) -> str:
    """The document preamble up to and including ``\\maketitle`` (no date: reproducible)."""
    return "\n".join(
        [
            r"\documentclass[11pt,a4paper]{article}",
            r"\usepackage[T1]{fontenc}",
            r"\usepackage[utf8]{inputenc}",
            r"\usepackage{lmodern}",
            r"\usepackage[margin=2.2cm]{geometry}",
            r"\usepackage{amsmath,amssymb}",
            r"\usepackage{graphicx}",
            r"\usepackage{array}",
            r"\usepackage{booktabs}",
            r"\usepackage{longtable}",
            r"\usepackage{float}",
            # floats stay in their own section when placeins is installed (texlive-latex-extra)
            r"\IfFileExists{placeins.sty}{\usepackage[section]{placeins}}{}",
            r"\usepackage[table]{xcolor}",
            r"\usepackage[font=small,labelfont=bf]{caption}",
            r"\usepackage[hidelinks,pdfcreator={vgmath},pdfproducer={vgmath}]{hyperref}",
            # reproducible PDFs: no creation date, fixed trailer ID (pdfTeX only)
            r"\ifdefined\pdfinfoomitdate\pdfinfoomitdate=1\fi",
            r"\ifdefined\pdftrailerid\pdftrailerid{}\fi",
            r"\hypersetup{pdftitle={" + pdf_string(pdf_title) + r"}}",
            r"\setlength{\LTcapwidth}{\textwidth}",
            r"\setlength{\parindent}{0pt}",
            r"\setlength{\parskip}{0.6ex plus 0.3ex minus 0.1ex}",
            r"\emergencystretch=2em",
            # \vgfit{math}: display math scaled down to \linewidth when wider (never overfull)
            r"\newsavebox{\vgfitbox}",
            (r"\newcommand{\vgfit}[1]{\par\smallskip\noindent"
             r"\sbox{\vgfitbox}{$\displaystyle #1$}%"),
            (r"  \makebox[\linewidth]{\ifdim\wd\vgfitbox>\linewidth"
             r"\resizebox{\linewidth}{!}{\usebox{\vgfitbox}}\else\usebox{\vgfitbox}\fi}"
             r"\par\smallskip}"),
            # \vgfittext{box}: text-mode material (a tabular) scaled down when too wide
            r"\newcommand{\vgfittext}[1]{\sbox{\vgfitbox}{#1}%",
            (r"  \ifdim\wd\vgfitbox>\linewidth\resizebox{\linewidth}{!}{\usebox{\vgfitbox}}"
             r"\else\usebox{\vgfitbox}\fi}"),
            r"\newcommand{\E}{\mathbb{E}}",
            r"\title{" + title + "}",
            r"\author{" + author + "}",
            r"\date{}",
            r"\begin{document}",
            r"\maketitle",
            "",
        ]
    )


# --------------------------------------------------------------------------- compiling


@dataclass(frozen=True)
class LatexLog:
    """What a pdflatex log says about a document."""

    errors: tuple[str, ...] = ()
    undefined_references: tuple[str, ...] = ()
    undefined_citations: tuple[str, ...] = ()
    overfull: tuple[float, ...] = ()  # widths in pt of every "Overfull \hbox"
    rerun: bool = False

    @property
    def max_overfull(self) -> float:
        return max(self.overfull, default=0.0)

    def problems(self, *, overfull_tolerance_pt: float = 3.0) -> list[str]:
        """Human-readable list of the issues that make a document unacceptable."""
        out = [f"LaTeX error: {e}" for e in self.errors]
        out += [f"undefined reference {r!r}" for r in self.undefined_references]
        out += [f"undefined citation {c!r}" for c in self.undefined_citations]
        big = [w for w in self.overfull if w > overfull_tolerance_pt]
        if big:
            out.append(f"{len(big)} overfull hbox(es), widest {max(big):.1f}pt")
        return out


_RE_OVERFULL = re.compile(r"^Overfull \\hbox \(([0-9.]+)pt too wide\)", re.M)
_RE_UNDEF_REF = re.compile(r"LaTeX Warning: Reference `([^']*)' on page", re.M)
_RE_UNDEF_CIT = re.compile(r"LaTeX Warning: Citation `([^']*)' on page", re.M)


def parse_log(text: str) -> LatexLog:
    """Extract errors (``! ...`` lines and ``file:line: ...`` errors), undefined references and
    citations, overfull hbox widths and whether a rerun was requested."""
    errors: list[str] = []
    for line in text.splitlines():
        if line.startswith("! "):
            errors.append(line[2:].strip())
        elif re.match(r"^[^\s:]+\.tex:\d+: ", line):
            errors.append(line.strip())
    return LatexLog(
        errors=tuple(dict.fromkeys(errors)),
        undefined_references=tuple(sorted(set(_RE_UNDEF_REF.findall(text)))),
        undefined_citations=tuple(sorted(set(_RE_UNDEF_CIT.findall(text)))),
        overfull=tuple(float(w) for w in _RE_OVERFULL.findall(text)),
        rerun=bool(
            re.search(r"Rerun to get|Label\(s\) may have changed|Rerun LaTeX", text)
        ),
    )


@dataclass(frozen=True)
class CompileResult:
    """The outcome of compiling a document."""

    engine: str
    passes: int
    pdf: Path | None
    log: LatexLog = field(default_factory=LatexLog)
    seconds: float = 0.0


def find_engine(preference: str = "auto") -> str | None:
    """``"pdflatex"`` or ``"latexmk"`` (whichever is installed, pdflatex first: the document
    needs no bibtex/makeindex, and a direct pdflatex loop is faster), or None."""
    if preference not in ("auto", "pdflatex", "latexmk", "none"):
        from ..core.errors import InvalidArgumentError

        raise InvalidArgumentError(
            "latex", preference, "expected one of auto, pdflatex, latexmk, none"
        )
    if preference == "none":
        return None
    order = ("pdflatex", "latexmk") if preference == "auto" else (preference,)
    for name in order:
        if shutil.which(name):
            return name
    return None


def _latex_env() -> dict[str, str]:
    env = dict(os.environ)
    # reproducible PDFs (pdfTeX honours these): fixed dates and trailer ID
    env["SOURCE_DATE_EPOCH"] = "0"
    env["FORCE_SOURCE_DATE"] = "1"
    return env


def compile_latex(
    tex_path: Path, *, engine: str, max_passes: int = 4, timeout: float = 180.0
) -> CompileResult:
    """Compile ``tex_path`` in its own directory to a PDF.

    pdflatex runs in ``nonstopmode`` with ``-halt-on-error`` and without shell escape, again
    while the log asks for a rerun (cross-references, longtable widths), at most
    ``max_passes`` times; latexmk decides the number of passes itself. Raises
    :class:`LatexError` quoting the first error when the engine fails.
    """
    import time

    t0 = time.perf_counter()
    tex_path = Path(tex_path)
    cwd = tex_path.parent
    stem = tex_path.stem
    env = _latex_env()
    base = ["-interaction=nonstopmode", "-halt-on-error", "-file-line-error", "-no-shell-escape"]
    passes = 0
    log = LatexLog()
    log_path = cwd / f"{stem}.log"

    def run(cmd: list[str]) -> None:
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise LatexError(f"{cmd[0]} did not finish within {timeout:.0f} s") from err
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        parsed = parse_log(text)
        if proc.returncode != 0 or parsed.errors:
            first = (parsed.errors[0] if parsed.errors
                     else proc.stdout.decode(errors="replace")[-500:])
            raise LatexError(f"{cmd[0]} failed on {tex_path.name}: {first}")

    if engine == "pdflatex":
        while passes < max_passes:
            run(["pdflatex", *base, tex_path.name])
            passes += 1
            log = parse_log(log_path.read_text(errors="replace"))
            if not log.rerun:
                break
    elif engine == "latexmk":
        run(["latexmk", "-pdf", "-silent", *[f"-latexoption={b}" for b in base], tex_path.name])
        passes = 1
        log = parse_log(log_path.read_text(errors="replace"))
    else:
        raise LatexError(f"unknown LaTeX engine {engine!r}")
    pdf = cwd / f"{stem}.pdf"
    return CompileResult(
        engine=engine,
        passes=passes,
        pdf=pdf if pdf.exists() else None,
        log=log,
        seconds=time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- math in labels

#: The commands a label may use inside ``$...$`` (no argument unless listed in _ARGS).
MATH_COMMANDS: frozenset[str] = frozenset({
    *(g for g in ("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
                  "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi",
                  "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
                  "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi",
                  "Omega")),
    "tanh", "sinh", "cosh", "sin", "cos", "tan", "exp", "log", "ln", "max", "min", "erf",
    "cdot", "times", "pm", "mp", "infty", "prime", "le", "ge", "leq", "geq", "ne", "approx",
    "to", "ell", ",", ";", "!", "quad",
    "frac", "sqrt", "mathrm", "mathbf", "mathit", "mathcal", "operatorname", "bar", "hat",
    "tilde",
})
#: commands taking arguments: name -> number of braced arguments
_ARGS = {"frac": 2, "sqrt": 1, "mathrm": 1, "mathbf": 1, "mathit": 1, "mathcal": 1,
         "operatorname": 1, "bar": 1, "hat": 1, "tilde": 1}
_MATH_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                  " +-*/=,.;:()[]|<>!")  # a prime only right after an atom


class _Unsafe(ValueError):
    pass


def _parse_group(s: str, i: int, depth: int) -> int:
    """Parse ``{...}`` at s[i]; return the index after it."""
    if i >= len(s) or s[i] != "{":
        raise _Unsafe("expected {")
    j = _parse_math(s, i + 1, depth + 1, closing=True)
    return j + 1


def _parse_atom(s: str, i: int, depth: int) -> int:
    ch = s[i]
    if ch == "{":
        return _parse_group(s, i, depth)
    if ch == "\\":
        m = re.match(r"\\([A-Za-z]+|[,;!])", s[i:])
        if not m or m.group(1) not in MATH_COMMANDS:
            raise _Unsafe("command not allowed")
        j = i + m.end()
        for _ in range(_ARGS.get(m.group(1), 0)):
            j = _parse_group(s, j, depth)
        return j
    if ch in _MATH_CHARS and ch != " ":
        return i + 1
    raise _Unsafe(f"character {ch!r} not allowed")


def _parse_math(s: str, i: int, depth: int, closing: bool) -> int:
    if depth > 6:
        raise _Unsafe("too deeply nested")
    while i < len(s):
        ch = s[i]
        if ch == "}":
            if not closing:
                raise _Unsafe("unbalanced }")
            return i
        if ch == " ":
            i += 1
            continue
        if ch in "_^":
            raise _Unsafe("a sub- or superscript needs something before it")
        i = _parse_atom(s, i, depth)
        # scripts: at most one _ and one ^ per atom, primes before a ^ only
        while i < len(s) and s[i] == "'":
            i += 1
        seen: set[str] = set()
        while i < len(s) and s[i] in "_^":
            if s[i] in seen:
                raise _Unsafe("double script")
            seen.add(s[i])
            i += 1
            if i >= len(s) or s[i] in " _^}":
                raise _Unsafe("empty script")
            i = _parse_atom(s, i, depth)
    if closing:
        raise _Unsafe("unbalanced {")
    return i


def safe_math(tex: str) -> bool:
    """Whether ``tex`` (the inside of ``$...$``) is in the small LaTeX subset a label may use:
    letters, digits, a few operators, balanced braces, sub- and superscripts (one of each per
    atom) and the commands of :data:`MATH_COMMANDS` (Greek letters, function names, \\frac,
    \\sqrt, \\mathrm, ...). Nothing that defines, reads, writes or changes catcodes can pass."""
    if not tex.strip() or len(tex) > 200:
        return False
    try:
        _parse_math(tex, 0, 0, closing=False)
    except _Unsafe:
        return False
    return True


def math_parts(text: Any) -> list[str] | None:
    """The label split at ``$`` when it holds math parts that all pass :func:`safe_math`
    (odd items are math), else None."""
    parts = str(text).split("$")
    if len(parts) >= 3 and len(parts) % 2 == 1 and all(safe_math(p) for p in parts[1::2]):
        return parts
    return None


def label_text(text: Any) -> str:
    """A user label for the document: ``$...$`` parts typeset as mathematics when every one of
    them passes :func:`safe_math`, the rest escaped; otherwise the whole label escaped
    (verbatim), as :func:`escape_text` with ``breakable=True``."""
    s = str(text)
    parts = math_parts(s)
    if parts is not None:
        return "".join(escape_text(p, breakable=True) if k % 2 == 0 else "$" + p + "$"
                       for k, p in enumerate(parts))
    return escape_text(s, breakable=True)
