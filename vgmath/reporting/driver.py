"""``vg.report``: a compiled, citable LaTeX report in which every formula is derived by vgmath
and every prediction is checked by simulation.

One call (or ``vgmath report --out DIR``) writes

* ``DIR/report.tex`` and, when a LaTeX engine is installed, ``DIR/report.pdf`` and
  ``DIR/report.log``;
* ``DIR/figures/*.pdf`` (vector) and ``*.png`` (matplotlib, Agg backend);
* ``DIR/data/*.csv`` and ``*.json``: the numbers behind every table and figure;
* ``DIR/fragments/*.tex``: every table and figure as a standalone fragment a paper can
  ``\\input`` (with ``fragments/preamble.tex``), and ``DIR/references.bib`` with the cited
  works (:mod:`vgmath.reporting.fragments`);
* ``DIR/manifest.json``: the options, the versions, the sections included and left out, and
  the SHA-256 of every file.

>>> import vgmath as vg
>>> r = vg.report(out="gradients", activations=["tanh", "relu"], inits=["xavier", "he"])
...                                                     # doctest: +SKIP
>>> r.pdf                                               # doctest: +SKIP
PosixPath('.../gradients/report.pdf')

Contents (each part is an independent section, see :mod:`vgmath.reporting.core`): per
activation its definition, derivative, certified derivative bound with how it was derived,
saturation region and chain bound, with a figure of φ and φ′; per initialisation the variance
rule and the gradient factor χ; the predicted gradient second moment through depth (closed form
where one exists) beside the Monte Carlo mean ± CI and the verification verdict, with figures;
gradient decay through time in recurrent networks (vanilla RNN, LSTM, GRU) against the bound
of Pascanu et al. 2013 (arXiv:1211.5063); the edge of chaos (derived gains beside PyTorch's) and
tanh's phase diagram; references.
The mean-field theory is that of Poole et al. 2016 (arXiv:1606.05340) and Schoenholz et al.
2017 (arXiv:1611.01232); Glorot & Bengio 2010 and He et al. 2015 are special cases.

Reproducibility and safety
--------------------------
The same options and seed give a byte-identical ``report.tex`` (no dates — the vgmath version
is printed instead; numbers formatted by fixed rules; per-chain seeds derived from the seed and
the chain's labels with :class:`numpy.random.SeedSequence`), identical figures (fixed PDF and
PNG metadata) and, with pdfTeX, an identical PDF (``SOURCE_DATE_EPOCH``). Everything is built
in a temporary directory beside ``DIR`` and renamed into place at the end, so an interrupted
run (an exception, Ctrl-C, SIGTERM from the command line) leaves ``DIR`` as it was, and the
temporary folder of a killed run is removed by the next run. An existing ``DIR`` is accepted
only when it is empty or holds a previous vgmath report (its ``manifest.json`` says so); at the
end vgmath removes only the files it wrote there itself (listed in that manifest, unchanged)
and keeps every other file — also one saved into ``DIR`` while the report was being built —
and says so (:mod:`vgmath.reporting.publish`). Permissions follow the umask.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError, VgmathError
from ..network.description import READOUTS
from ..symbolic.parse import to_sympy_number
from . import latex as L
from . import sections as _report_sections  # noqa: F401  (registers the sections)
from .core import (
    DEFAULT_ACTIVATIONS,
    DEFAULT_INITS,
    GENERATOR,
    MANIFEST,
    REFERENCES,
    SECTIONS,
    Progress,
    ReportContext,
    ReportOptions,
    Section,
    coerce_activations,
    coerce_inits,
    coerce_sections,
    dumps_json,
    note,
    positive_int,
)
from .fragments import write_fragments
from .publish import make_temp, publish, remove_stale

__all__ = ["Report", "build_document", "report"]


@dataclass(frozen=True)
class Report:
    """What :func:`vgmath.report` wrote.

    ``pdf`` is None when no LaTeX engine is installed (or ``latex="none"``); ``omitted``
    maps the key of each section left out to the reason; ``timings`` gives the wall time in
    seconds of each stage (theory, Monte Carlo, figures, LaTeX, ...); ``latex_log`` holds the
    parsed pdflatex log (errors, undefined references, overfull boxes).
    """

    directory: Path
    tex: Path
    pdf: Path | None
    sections: tuple[str, ...]
    omitted: dict[str, str]
    files: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    engine: str | None = None
    latex_log: L.LatexLog | None = None
    #: sections that raised while building: key -> reason (the document says so in place)
    failed: dict[str, str] = field(default_factory=dict)

    def _repr_html_(self) -> str:  # a notebook shows where the report went
        pdf = f", PDF: {self.pdf}" if self.pdf else " (no PDF: no LaTeX engine)"
        return f"<p>vgmath report in <code>{self.directory}</code>{pdf}</p>"


def _check_out(out: Any) -> Path:
    if not isinstance(out, (str, os.PathLike)) or not str(out).strip():
        raise InvalidArgumentError("out", out, "expected a directory path")
    path = Path(out).expanduser().absolute()
    # resolve '..' and symlinks of the parent, keep the final name as given
    path = path.parent.resolve() / path.name
    if path.is_symlink():
        # a link to a folder: the report goes into the folder, the link stays a link
        path = path.resolve()
    if path.name in ("", ".", ".."):
        raise InvalidArgumentError("out", out, "expected a directory path with a name")
    if path.exists():
        if not path.is_dir():
            raise InvalidArgumentError("out", out, "exists and is not a directory")
        entries = list(path.iterdir())
        if entries and not _is_report_dir(path):
            raise InvalidArgumentError(
                "out", out,
                "exists, is not empty and does not hold a vgmath report; "
                "choose a new or empty directory (it would be replaced)",
            )
    return path


def _is_report_dir(path: Path) -> bool:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("generator") == GENERATOR


def _int_list(name: str, values: Any, single: Any, maximum: int) -> tuple[int, ...]:
    """``values`` (several positive integers, no repeats) or, when None, ``(single,)``."""
    if values is None:
        return (positive_int(name[:-1], single, maximum=maximum),)
    items = [values] if isinstance(values, int) else values
    try:
        out = tuple(positive_int(name, v, maximum=maximum) for v in items)
    except TypeError as err:
        raise InvalidArgumentError(name, values, "expected a list of positive integers") from err
    if not out:
        raise InvalidArgumentError(name, values, "needs at least one value")
    if len(set(out)) != len(out):
        raise InvalidArgumentError(name, values, "a value appears more than once")
    return out


def check_report_memory(options: ReportOptions) -> None:
    """Refuse (before any work) a report whose simulations would not fit in memory: the
    largest chain it simulates has the options' depth and width and ``trials`` networks."""
    if not options.simulate:
        return
    from ..montecarlo.kernels import make_kernel
    from ..montecarlo.simulation import check_simulation_memory, default_block_size, resolve_method
    from ..network.description import Chain

    for _, init in options.inits:
        chain = Chain("tanh", init=init, depth=max(options.depths),
                      width=max(options.widths))
        method = resolve_method(chain, "auto")
        kernel = make_kernel(chain, method=method, dtype=np.dtype("float64"), threads=1)
        block = min(default_block_size(kernel), options.trials)
        check_simulation_memory(chain, kernel, options.trials, block, 1)


def build_document(ctx: ReportContext) -> tuple[str, list[str], dict[str, str]]:
    """Build every available section into ``ctx.root``; return the LaTeX source, the keys
    of the sections included and the reasons of those left out."""
    from ..core.version import __version__

    bodies: list[tuple[str, str, str]] = []
    omitted: dict[str, str] = {}
    failed = ctx.failed
    highlights: list[str] = []
    by_key = {cls.key: cls for cls in SECTIONS}
    chosen = [by_key[k] for k in ctx.options.sections if k in by_key]
    for cls in SECTIONS:
        if cls not in chosen:
            omitted[cls.key] = "not requested (--sections)"
    ready: list[tuple[type[Section], Section]] = []
    for cls in chosen:
        section = cls()
        reason = section.available(ctx)
        if reason is not None:
            omitted[cls.key] = reason
            note(f"section '{cls.name or cls.key}' left out: {reason}")
            continue
        ready.append((cls, section))
    ctx.planned = tuple(cls.key for cls, _ in ready)
    for cls, first in ready:
        name = cls.name or cls.key
        for k, (vctx, suffix, what) in enumerate(_variants(ctx, cls)):
            section = first if k == 0 else cls()
            key = cls.key + suffix
            title = cls.title + what
            ctx.progress(f"vgmath report: {name}{_plain_variant(suffix)} ...")
            try:
                body = section.build(vctx)
            except (MemoryError, OSError):
                raise  # the machine ran out of something: the whole report stops (exit 4)
            except Exception as err:
                stop = _interruption(err)
                if stop is not None:
                    # Ctrl-C or SIGTERM arrived inside library code that turned it into an
                    # ordinary error on the way out (zlib: "Error -2 while flushing"): the
                    # run was stopped, so the whole report stops
                    raise stop from err
                # one activation the theory cannot handle (a bound that cannot be certified, a
                # Gaussian rule that does not converge, an effort limit) or a fault in one
                # section costs that section, not the report: the failure is stated in place
                kind = "" if isinstance(err, VgmathError) else f"{type(err).__name__}: "
                reason = f"{kind}{err}"
                failed[key] = reason
                note(f"section '{name}{_plain_variant(suffix)}' could not be built: {reason}")
                bodies.append((key, title, _failed_body(reason)))
                continue
            if not body.strip():
                omitted[key] = "nothing to show for these options"
                continue
            found = section.highlights(vctx)
            if suffix:
                body, found = _rename_labels(body, found, cls.key, suffix)
            bodies.append((key, title, body))
            highlights.extend(found)

    title = r"Vanishing and exploding gradients:\\ derived and verified"
    author = r"Generated by vgmath " + L.escape_text(__version__)
    parts = [L.preamble(title=title, author=author,
                        pdf_title="Vanishing and exploding gradients: derived and verified")]
    if ctx.options.summary:
        # small type throughout: the findings and the references fill the first page, the
        # figure and the table the second
        text, floats = _short_document(ctx, bodies, highlights)
        # the references before the floats: a bibliography section would otherwise wait for
        # them (placeins), leaving a page of its own
        parts.append("{\\small\n" + text)
        parts.append("{\\footnotesize\\setlength{\\itemsep}{0pt}\\setlength{\\parskip}{0pt}\n"
                     + _bibliography(ctx) + "}}\n")
        parts.append(floats)
        parts.append(r"\end{document}" + "\n")
        return "\n".join(parts), [k for k, _, _ in bodies], omitted
    parts.append(_summary(ctx, [(k, t) for k, t, _ in bodies], highlights))
    for key, title_, body in bodies:
        parts.append(r"\section{" + title_ + r"}\label{sec:" + key + "}\n")
        parts.append(body)
    parts.append(_bibliography(ctx))
    parts.append(r"\end{document}" + "\n")
    tex = "\n".join(parts)
    return tex, [k for k, _, _ in bodies], omitted


def _variants(ctx: ReportContext, cls: type[Section]) -> list[tuple[ReportContext, str, str]]:
    """``(context, key suffix, title suffix)`` of each build of a section: one per depth and
    width of ``--depths``/``--widths`` for a section that depends on them, else one."""
    o = ctx.options
    if not cls.per_depth or (len(o.depths) == 1 and len(o.widths) == 1):
        return [(ctx, "", "")]
    out = []
    for depth in o.depths:
        for width in o.widths:
            suffix = ((f"-L{depth}" if len(o.depths) > 1 else "")
                      + (f"-n{width}" if len(o.widths) > 1 else ""))
            what = ", ".join(([f"$L = {depth}$"] if len(o.depths) > 1 else [])
                             + ([f"$n = {width}$"] if len(o.widths) > 1 else []))
            vctx = dataclasses.replace(
                ctx, options=dataclasses.replace(o, depth=depth, width=width), suffix=suffix)
            vctx._cache = {}  # predictions and simulations are per depth and width
            out.append((vctx, suffix, r" \texorpdfstring{(" + what + ")}{(" + what.replace(
                "$", "") + ")}"))
    return out


def _plain_variant(suffix: str) -> str:
    return f" ({suffix[1:].replace('-', ', ')})" if suffix else ""


_RE_LABEL = re.compile(r"\\label\{([^}]*)\}")


def _rename_labels(body: str, highlights: list[str], key: str, suffix: str
                   ) -> tuple[str, list[str]]:
    """Labels defined in one build of a section (and the section's own label, and the names of
    its table and figure markers) with ``suffix`` appended, in its body and its findings, so
    that several builds of one section live in one document."""
    names = {"sec:" + key, *_RE_LABEL.findall(body)}

    def fix(text: str) -> str:
        for n in names:
            for cmd in ("label", "ref", "pageref"):
                text = text.replace("\\" + cmd + "{" + n + "}", "\\" + cmd + "{" + n + suffix + "}")
        return re.sub(r"^(% vgmath-(?:table|figure)(?:-end)?: )(\S+)$",
                      lambda m: m.group(1) + (m.group(2) if m.group(2).endswith(suffix)
                                              else m.group(2) + suffix), text, flags=re.M)

    return fix(body), [fix(h) for h in highlights]


_RE_FIGURE = re.compile(r"^% vgmath-figure: .*?^% vgmath-figure-end: [^\n]*\n", re.S | re.M)
_RE_NON_PASS = re.compile(r"\\paragraph\{Profiles that did not pass\.\}.*?\\end\{itemize\}\n",
                          re.S)


def _short_document(ctx: ReportContext, bodies: Sequence[tuple[str, str, str]],
                    highlights: list[str]) -> tuple[str, str]:
    """``--summary``: (text, floats). The text is the setting and the findings with the
    one-sentence explanation of each profile that did not pass; the floats are the depth
    figure and the depth table (bare verdicts), which share the second page."""
    o = ctx.options
    out = [
        # the figure and the table may share the top of one page
        (r"\renewcommand{\topfraction}{0.98}\setcounter{topnumber}{2}"
         r"\renewcommand{\textfraction}{0.02}"),
        r"\noindent\textbf{Summary.} Mean-field predictions" + ctx.cite("poole2016",
                                                                        "schoenholz2017")
        + r" of the gradient second moment through depth"
        + (r", checked against Monte Carlo simulation" if o.simulate else "") + r". Chains"
        r" of depth $L = " + _values(o.depths) + r"$ and width $n = " + _values(o.widths)
        + r"$, $\sigma_b^2 = " + sp_latex(o.sigma_b2) + "$"
        + (r"; " + str(o.trials) + r" networks per chain, seed " + str(o.seed)
           + r", level $\alpha = " + L.fmt_float(o.alpha, 3) + "$" if o.simulate else "")
        + r". The full report (\texttt{vgmath report} without \texttt{-{}-summary}) derives"
        r" and explains every number.",
        "",
    ]
    if highlights:
        found = [re.sub(r", Section~\\ref\{sec:depth-rejected[^}]*\}", "",
                        re.sub(r"below Table~\\ref\{tab:depth[^}]*\}", "below", h))
                 for h in highlights]
        out += [r"\begin{itemize}", *(r"\item " + h for h in found), r"\end{itemize}", ""]
    floats: list[str] = []  # the figure and the table, placed after the references
    for key, _title, body in bodies:
        if key in ctx.failed:
            out.append(body)
            continue
        non_pass = _RE_NON_PASS.search(body)
        if non_pass:  # right after the findings, which point to it
            out.append(r"{\footnotesize\setlength{\itemsep}{0pt}"
                       + _terse_reasons(non_pass.group(0)) + "}")
        # the figure a little smaller than in the full report, so that it and the table
        # share one page
        floats.extend(m.group(0).replace(r"[width=\textwidth]", r"[width=0.56\textwidth]")
                   .replace(r"\begin{figure}[htbp]", r"\begin{figure}[t]")
                   for m in _RE_FIGURE.finditer(body))
        name = "depth" + key[len("depth"):]
        table = re.search(r"^% vgmath-table: " + re.escape(name) + r"\n.*?^% vgmath-table-end: "
                          + re.escape(name) + r"\n", body, re.S | re.M)
        if table:
            floats.append(_compact_verdicts(table.group(0)))
    return "\n".join(out) + "\n", "\n".join(floats) + "\n"


#: the full report's sentences → the summary's (the paragraph before the list already says
#: that INCONCLUSIVE means nothing was rejected)
_TERSE = (
    (": nothing was rejected, but ", ": "),
    ("claimed layers could not be tested", "layers untestable"),
    ((r"per-{}\allowbreak{}network values too heavy-{}\allowbreak{}tailed for a trustworthy"
      r" mean at layers"), "heavy tails at layers"),
)


def _terse_reasons(text: str) -> str:
    for old, new in _TERSE:
        text = text.replace(old, new)
    return text


_RE_VERDICT_CELL = re.compile(
    r"(PASS|\\textbf\{FAIL\}|\\textit\{INCONCLUSIVE\}) \([^&\\]*?\)(?= \\\\)")


def _compact_verdicts(table: str) -> str:
    """The depth table with bare verdicts (the coverage is in the explanations below it), as
    one float in small type — not a longtable broken over pages — so that the summary is the
    page of findings plus the page a paper keeps (figure and table)."""
    table = _RE_VERDICT_CELL.sub(lambda m: m.group(1), table)
    table = table.replace(r">{\raggedright\arraybackslash}p{2.9cm}@{}}", "l@{}}")
    return _longtable_as_float(table)


def _longtable_as_float(block: str) -> str:
    """A ``longtable`` block (caption, header repeated for continuation pages, rows) as a
    ``table`` float with a ``tabular`` in script size; anything else is returned unchanged."""
    lines = block.splitlines()
    try:
        start = next(i for i, t in enumerate(lines) if t.startswith(r"\begin{longtable}"))
        cap = next(i for i in range(start, len(lines)) if lines[i].startswith(r"\caption"))
        first = lines.index(r"\endfirsthead", cap)
        last = lines.index(r"\endlastfoot", first)
        end = lines.index(r"\end{longtable}", last)
    except (StopIteration, ValueError):
        return block
    spec = lines[start][len(r"\begin{longtable}"):]
    caption = lines[cap].removesuffix(r"\\")
    head = lines[cap + 1 : first]
    rows = lines[last + 1 : end]
    markers = [t for t in lines if t.startswith("% vgmath-table")]
    out = [markers[0] if markers else "",
           r"\begin{table}[t]\centering\scriptsize\setlength{\tabcolsep}{3pt}",
           caption, r"\begin{tabular}" + spec, *head, *rows, r"\bottomrule",
           r"\end{tabular}", r"\end{table}"]
    if len(markers) > 1:
        out.append(markers[-1])
    return "\n".join(out) + "\n"


def _interruption(err: BaseException) -> BaseException | None:
    """The interruption (a BaseException that is not an Exception: KeyboardInterrupt, the
    command line's SIGTERM, SystemExit) in ``err``'s chain of causes and contexts, if any."""
    seen: set[int] = set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if not isinstance(cur, Exception):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _failed_body(reason: str) -> str:
    if len(reason) > 400:
        reason = reason[:397] + "..."
    return (r"\emph{This section could not be built:} " + L.escape_text(reason, breakable=True)
            + ". The other sections are unaffected.\n")


def _summary(ctx: ReportContext, sections: Sequence[tuple[str, str]], highlights: list[str]) -> str:
    o = ctx.options
    # the Monte Carlo check is in the depth and recurrent sections
    checked = bool({"depth", "recurrent"} & set(ctx.planned))
    acts = ", ".join(L.label_text(lab) for lab, _ in o.activations)
    inits = ", ".join(L.label_text(lab) for lab, _ in o.inits)
    lines = [
        r"\begin{abstract}",
        r"\noindent This report explains, predicts and checks the vanishing (and exploding)"
        r" gradient problem for fully connected networks with the activations " + acts
        + r" under the initialisations " + inits + r". Every formula below was derived"
        r" symbolically by vgmath; every number marked as exact is an exact symbolic result,"
        r" every other number states how it was obtained and how accurate it is.",
        r"Predictions come from mean-field signal-propagation theory"
        + ctx.cite("poole2016", "schoenholz2017") + r", of which the classical"
        r" initialisation rules" + ctx.cite("glorot2010", "he2015") + r" are special cases"
        + (r"; they are checked against Monte Carlo simulations of independent random"
           r" networks with a statistical test per layer" if o.simulate and checked else
           r"; this is a theory-only report (no Monte Carlo simulation was run)"
           if not o.simulate else "")
        + ".",
        r"\end{abstract}",
        "",
        r"\noindent The vanishing-gradient problem is the exponential decay, with depth, of the"
        r" gradient that reaches the early layers of a deep network; it was first analysed"
        r" for recurrent networks" + ctx.cite("hochreiter1991", "bengio1994")
        + r" and revisited for them by Pascanu et al." + ctx.cite("pascanu2013")
        + r". Linear networks"
        r" already show the role of the weight scale" + ctx.cite("saxe2014") + r"; for"
        r" nonlinear networks the relevant quantity is the per-layer gradient factor"
        r" $\chi$ of mean-field theory" + ctx.cite("poole2016", "schoenholz2017")
        + r", whose value 1 defines the edge of chaos. Finite width adds fluctuations around"
        r" the mean-field prediction" + ctx.cite("hanin2018") + r", and orthogonal weights"
        r" and self-normalising activations" + ctx.cite("pennington2017", "klambauer2017")
        + r" are two ways of keeping $\chi$ close to 1.",
        "",
        r"\paragraph{Setting.} Chains of depth $L = " + _values(o.depths)
        + r"$ and width $n = " + _values(o.widths) + r"$ with bias variance $\sigma_b^2 = "
        + sp_latex(o.sigma_b2)
        + r"$" + (
            r"; Monte Carlo: " + str(o.trials) + r" independent networks per chain, seed "
            + str(o.seed) + r", tests at level $\alpha = " + L.fmt_float(o.alpha, 3) + r"$"
            if o.simulate and checked else ""
        ) + ((r". Saturation threshold $\varepsilon = " + sp_latex(o.eps) + "$")
             if "activations" in ctx.planned else "") + r". Read-out: " + (
            r"$\varphi$ on the output layer too (the gradient ratios include $\chi^L$)"
            if o.readout == "activation" else
            r"linear (no $\varphi$ on the output layer, as in neural-tangents and PyTorch)"
        ) + "."
        r" The numbers behind every table and figure are in the \nolinkurl{data/} folder"
        r" beside this document.",
        "",
    ]
    if sections:
        lines.append(r"\paragraph{Contents.} " + "; ".join(
            f"Section~\\ref{{sec:{k}}}: {t}" for k, t in sections) + ".")
        lines.append("")
    if highlights:
        lines.append(r"\paragraph{Findings.}")
        lines.append(r"\begin{itemize}")
        lines.extend(r"\item " + h for h in highlights)
        lines.append(r"\end{itemize}")
        lines.append("")
    return "\n".join(lines) + "\n"


def _values(vs: Sequence[int]) -> str:
    return ", ".join(str(v) for v in vs)


def sp_latex(v: Any) -> str:
    import sympy as sp

    from ..symbolic.parse import as_sympy

    return sp.latex(as_sympy("value", v))


def _bibliography(ctx: ReportContext) -> str:
    # the works cited, in a fixed order
    lines = [r"\begin{thebibliography}{99}"]
    for key, text in REFERENCES.items():
        if key in ctx.cited:
            lines.append(r"\bibitem{" + key + "} " + text)
    lines.append(r"\end{thebibliography}")
    return "\n".join(lines) + "\n"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _training_files(training: Any) -> tuple[str, ...]:
    """Saved training studies, checked to be readable now (not half-way through the build)."""
    if training is None:
        return ()
    items = [training] if isinstance(training, (str, os.PathLike)) else list(training)
    out = []
    for item in items:
        path = Path(item)
        if not path.is_file():
            raise InvalidArgumentError("training", str(item), "no such study file")
        from ..training.study import TrainingStudy

        TrainingStudy.load(path)  # raises InvalidArgumentError naming the file if unreadable
        out.append(str(path.resolve()))
    return tuple(out)


def report(
    out: str | os.PathLike[str],
    *,
    activations: Any = DEFAULT_ACTIVATIONS,
    inits: Any = DEFAULT_INITS,
    depth: int = 30,
    width: int = 128,
    trials: int = 300,
    seed: int = 0,
    simulate: bool = True,
    sigma_b2: Any = 0,
    eps: Any = "1/100",
    alpha: float = 0.01,
    training: Any = None,
    sections: Any = None,
    depths: Any = None,
    widths: Any = None,
    summary: bool = False,
    latex: str = "auto",
    progress: bool = False,
    readout: str = "activation",
) -> Report:
    """Write a LaTeX report (and its PDF when a LaTeX engine is installed) to the folder ``out``.

    ``activations``: catalog names, expressions, :class:`vgmath.Activation` objects or
    ``(label, activation)`` pairs (a mapping label → activation also works; labels are free
    text and are escaped); ``inits``: scheme names or :class:`vgmath.Init` objects;
    ``depth``/``width``: the chains' depth L and (square) width n; ``trials``: independent
    networks per chain; ``seed``: the Monte Carlo seed; ``simulate=False``: a theory-only report;
    ``sigma_b2``: the bias variance; ``eps``: the saturation threshold |φ′| < eps; ``alpha``:
    the verification level; ``latex``: ``"auto"`` (pdflatex, else latexmk), ``"pdflatex"``,
    ``"latexmk"`` or ``"none"`` (write the ``.tex`` only); ``progress``: progress on stderr;
    ``readout``: ``"activation"`` (φ on the output layer, the default) or ``"linear"`` (the
    neural-tangents/PyTorch read-out), see :class:`vgmath.Chain`.

    The defaults (9 activations × 3 initialisations, depth 30, width 128, 300 trials) are the
    README's first command and finish in about a minute on two cores. The recurrent section
    simulates five cells (vanilla RNN with tanh, sigmoid and ReLU, LSTM, GRU) over
    ``depth`` steps with hidden size min(``width``, 64) and min(``trials``, 200) networks.
    ``training``: files saved by ``vg.train_study``/``vgmath train-study`` (trainability and
    mitigations studies get their figure and table) for the section "Does it train?".
    ``sections``: the sections to build, in this order (keys or aliases, see
    :data:`vgmath.reporting.core.SECTION_ALIASES`; a comma-separated string also works);
    default: all. A section that raises while building is reported in its place and the
    others are built. ``depths``/``widths``: several depths and widths (instead of
    ``depth``/``width``); the sections that show depth profiles (initialisations, depth,
    recurrent) are built once for each combination, the others at the first.
    ``summary=True``: a short document (about two pages) with the findings, the depth figure
    and the depth table, the part a paper would keep (``sections`` is then ignored).

    Raises :class:`vgmath.InvalidArgumentError` for bad options (before any work is done) and
    :class:`vgmath.reporting.latex.LatexError` if the generated document does not compile (the
    report is still written, with the log, so the problem can be inspected).
    """
    from ..core.version import __version__

    out_path = _check_out(out)
    if not isinstance(summary, bool):
        raise InvalidArgumentError("summary", summary, "expected True or False")
    if not isinstance(simulate, bool):
        raise InvalidArgumentError("simulate", simulate, "expected True or False")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not 0 < alpha < 1:
        raise InvalidArgumentError("alpha", alpha, "must be a number in (0, 1)")
    engine = L.find_engine(latex)
    eps_v = to_sympy_number("eps", eps)
    if not eps_v.is_positive:
        raise InvalidArgumentError("eps", eps, "must be > 0")
    sb2 = to_sympy_number("sigma_b2", sigma_b2)
    if sb2.is_negative:
        raise InvalidArgumentError("sigma_b2", sigma_b2, "must be >= 0")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidArgumentError("seed", seed, "must be a non-negative integer")
    if readout not in READOUTS:
        raise InvalidArgumentError("readout", readout, f"expected one of {READOUTS}")
    depth_list = _int_list("depths", depths, depth, 10_000)
    width_list = _int_list("widths", widths, width, 100_000)
    options = ReportOptions(
        activations=coerce_activations(activations),
        inits=coerce_inits(inits),
        depth=depth_list[0],
        width=width_list[0],
        depths=depth_list,
        widths=width_list,
        trials=positive_int("trials", trials, maximum=10_000_000),
        seed=seed,
        simulate=simulate,
        sigma_b2=sb2,
        eps=eps_v,
        alpha=float(alpha),
        training=_training_files(training),
        readout=readout,
        sections=("depth",) if summary else coerce_sections(sections),
        summary=summary,
    )
    if simulate and options.trials < 2:
        raise InvalidArgumentError("trials", trials, "needs at least 2 networks for a CI")

    show = Progress(progress)
    check_report_memory(options)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_path, note)
    tmp = make_temp(out_path)
    t_start = time.perf_counter()
    try:
        ctx = ReportContext(options=options, root=tmp, progress=show, version=__version__)
        tex, included, omitted = build_document(ctx)
        tex_path = tmp / "report.tex"
        tex_path.write_text(tex, encoding="utf-8")
        ctx.files.append("report.tex")
        for path in write_fragments(tex, tmp, ctx.cited):
            ctx.files.append(path.relative_to(tmp).as_posix())
        result_log: L.LatexLog | None = None
        pdf_name: str | None = None
        compile_error: L.LatexError | None = None
        if engine is None:
            if latex != "none":
                note("no LaTeX engine found (pdflatex or latexmk); wrote report.tex only "
                     "(install TeX Live, e.g. apt-get install texlive-latex-recommended)")
        else:
            show(f"vgmath report: compiling with {engine} ...")
            with ctx.timed("latex"):
                try:
                    res = L.compile_latex(tex_path, engine=engine)
                except L.LatexError as err:
                    compile_error = err
                else:
                    result_log = res.log
                    if res.pdf is not None:
                        pdf_name = res.pdf.name
                        ctx.files.append(pdf_name)
            if (tmp / "report.log").exists():
                ctx.files.append("report.log")
            for junk in ("report.aux", "report.out", "report.toc", "report.fls",
                         "report.fdb_latexmk"):
                with contextlib.suppress(FileNotFoundError):
                    (tmp / junk).unlink()
            if result_log is not None:
                for problem in result_log.problems():
                    note(f"LaTeX: {problem}")
        ctx.timings["total"] = time.perf_counter() - t_start
        manifest = {
            "generator": GENERATOR,
            "vgmath": __version__,
            "options": options.to_dict(),
            "sections": included,
            "omitted": omitted,
            "failed": dict(ctx.failed),
            "references": sorted(ctx.cited),
            "files": {
                rel: _sha256(tmp / rel)
                for rel in sorted(set(ctx.files))
                if rel != "report.log"  # the log names the build folder
            },
        }
        (tmp / MANIFEST).write_text(dumps_json(manifest), encoding="utf-8")
        publish(tmp, out_path, manifest=MANIFEST, generator=GENERATOR, note=note)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    show(f"vgmath report: wrote {out_path} in {ctx.timings['total']:.1f} s")
    if compile_error is not None:
        raise L.LatexError(f"{compile_error} (report.tex and report.log are in {out_path})")
    return Report(
        directory=out_path,
        tex=out_path / "report.tex",
        pdf=(out_path / pdf_name) if pdf_name else None,
        sections=tuple(included),
        omitted=omitted,
        failed=dict(ctx.failed),
        files=tuple(sorted(set(ctx.files) | {MANIFEST})),
        timings=dict(ctx.timings),
        engine=engine,
        latex_log=result_log,
    )
