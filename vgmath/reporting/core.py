"""The machinery of vgmath's reports: options, the shared build context, and sections.

The document is a list of independent :class:`Section` objects (:data:`SECTIONS`, filled by
:mod:`vgmath.reporting.sections`). Each declares the engines it needs (``requires``) and builds
its LaTeX, figures and data files from a shared :class:`ReportContext`, which caches expensive
results (predictions, simulations) that several sections read. :func:`vgmath.report` (in
:mod:`vgmath.reporting.driver`) drives the build.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import re
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import sympy as sp

from ..core.errors import InvalidArgumentError, VgmathError
from ..network.description import Chain
from ..network.init import Init, as_init
from ..symbolic.catalog import Activation, as_activation
from . import figures as F

__all__ = [
    "BIBTEX",
    "DEFAULT_ACTIVATIONS",
    "DEFAULT_INITS",
    "GENERATOR",
    "MANIFEST",
    "REFERENCES",
    "SECTIONS",
    "SECTION_ALIASES",
    "Progress",
    "ReportContext",
    "ReportOptions",
    "Section",
    "coerce_activations",
    "coerce_inits",
    "coerce_sections",
    "dumps_json",
    "note",
    "positive_int",
    "register",
]

#: The activations of the default report (the README's first command).
DEFAULT_ACTIVATIONS: tuple[str, ...] = (
    "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus",
)
#: The initialisation schemes of the default report.
DEFAULT_INITS: tuple[str, ...] = ("xavier", "he", "lecun")

MANIFEST = "manifest.json"
GENERATOR = "vgmath report"

# --------------------------------------------------------------------------- references

#: Bibliography: key -> LaTeX bibitem text (thebibliography; no bibtex run needed).
REFERENCES: dict[str, str] = {
    "hochreiter1991": (
        r"S.~Hochreiter. \emph{Untersuchungen zu dynamischen neuronalen Netzen}. Diploma"
        r" thesis, Institut f\"ur Informatik, Technische Universit\"at M\"unchen, 1991."
    ),
    "bengio1994": (
        r"Y.~Bengio, P.~Simard and P.~Frasconi. Learning long-term dependencies with gradient"
        r" descent is difficult. \emph{IEEE Transactions on Neural Networks}, 5(2):157--166,"
        r" 1994."
    ),
    "glorot2010": (
        r"X.~Glorot and Y.~Bengio. Understanding the difficulty of training deep feedforward "
        r"neural networks. In \emph{Proc.\ AISTATS}, PMLR 9:249--256, 2010."
    ),
    "he2015": (
        r"K.~He, X.~Zhang, S.~Ren and J.~Sun. Delving deep into rectifiers: surpassing "
        r"human-level performance on ImageNet classification. In \emph{Proc.\ ICCV}, 2015. "
        r"arXiv:1502.01852."
    ),
    "saxe2014": (
        r"A.~M.~Saxe, J.~L.~McClelland and S.~Ganguli. Exact solutions to the nonlinear "
        r"dynamics of learning in deep linear neural networks. In \emph{Proc.\ ICLR}, 2014. "
        r"arXiv:1312.6120."
    ),
    "poole2016": (
        r"B.~Poole, S.~Lahiri, M.~Raghu, J.~Sohl-Dickstein and S.~Ganguli. Exponential "
        r"expressivity in deep neural networks through transient chaos. In \emph{NeurIPS}, "
        r"2016. arXiv:1606.05340."
    ),
    "schoenholz2017": (
        r"S.~S.~Schoenholz, J.~Gilmer, S.~Ganguli and J.~Sohl-Dickstein. Deep information "
        r"propagation. In \emph{Proc.\ ICLR}, 2017. arXiv:1611.01232."
    ),
    "pennington2017": (
        r"J.~Pennington, S.~S.~Schoenholz and S.~Ganguli. Resurrecting the sigmoid in deep "
        r"learning through dynamical isometry: theory and practice. In \emph{NeurIPS}, 2017. "
        r"arXiv:1711.04735."
    ),
    "hanin2018": (
        r"B.~Hanin. Which neural net architectures give rise to exploding and vanishing "
        r"gradients? In \emph{NeurIPS}, 2018. arXiv:1801.03744."
    ),
    "pascanu2013": (
        r"R.~Pascanu, T.~Mikolov and Y.~Bengio. On the difficulty of training recurrent "
        r"neural networks. In \emph{Proc.\ ICML}, PMLR 28(3):1310--1318, 2013. "
        r"arXiv:1211.5063."
    ),
    "lecun1998": (
        r"Y.~LeCun, L.~Bottou, G.~B.~Orr and K.-R.~M\"uller. Efficient BackProp. In"
        r" \emph{Neural Networks: Tricks of the Trade}, LNCS 1524, pages 9--50. Springer, 1998."
    ),
    "klambauer2017": (
        r"G.~Klambauer, T.~Unterthiner, A.~Mayr and S.~Hochreiter. Self-normalizing neural "
        r"networks. In \emph{NeurIPS}, 2017. arXiv:1706.02515."
    ),
}

#: The same works as BibTeX entries (``references.bib``, for papers that \input fragments).
BIBTEX: dict[str, str] = {
    "hochreiter1991": """@mastersthesis{hochreiter1991,
  author = {Hochreiter, Sepp},
  title = {Untersuchungen zu dynamischen neuronalen {N}etzen},
  school = {Institut f{\\"u}r Informatik, Technische Universit{\\"a}t M{\\"u}nchen},
  type = {Diploma thesis},
  year = {1991}
}""",
    "bengio1994": """@article{bengio1994,
  author = {Bengio, Yoshua and Simard, Patrice and Frasconi, Paolo},
  title = {Learning long-term dependencies with gradient descent is difficult},
  journal = {IEEE Transactions on Neural Networks},
  volume = {5}, number = {2}, pages = {157--166},
  year = {1994}
}""",
    "glorot2010": """@inproceedings{glorot2010,
  author = {Glorot, Xavier and Bengio, Yoshua},
  title = {Understanding the difficulty of training deep feedforward neural networks},
  booktitle = {Proceedings of the Thirteenth International Conference on Artificial
    Intelligence and Statistics (AISTATS)},
  series = {PMLR}, volume = {9}, pages = {249--256},
  year = {2010}
}""",
    "he2015": """@inproceedings{he2015,
  author = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title = {Delving deep into rectifiers: surpassing human-level performance on
    {ImageNet} classification},
  booktitle = {Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
  year = {2015},
  note = {arXiv:1502.01852}
}""",
    "saxe2014": """@inproceedings{saxe2014,
  author = {Saxe, Andrew M. and McClelland, James L. and Ganguli, Surya},
  title = {Exact solutions to the nonlinear dynamics of learning in deep linear neural
    networks},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2014},
  note = {arXiv:1312.6120}
}""",
    "poole2016": """@inproceedings{poole2016,
  author = {Poole, Ben and Lahiri, Subhaneil and Raghu, Maithra and Sohl-Dickstein, Jascha
    and Ganguli, Surya},
  title = {Exponential expressivity in deep neural networks through transient chaos},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2016},
  note = {arXiv:1606.05340}
}""",
    "schoenholz2017": """@inproceedings{schoenholz2017,
  author = {Schoenholz, Samuel S. and Gilmer, Justin and Ganguli, Surya and
    Sohl-Dickstein, Jascha},
  title = {Deep information propagation},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2017},
  note = {arXiv:1611.01232}
}""",
    "pennington2017": """@inproceedings{pennington2017,
  author = {Pennington, Jeffrey and Schoenholz, Samuel S. and Ganguli, Surya},
  title = {Resurrecting the sigmoid in deep learning through dynamical isometry: theory
    and practice},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2017},
  note = {arXiv:1711.04735}
}""",
    "hanin2018": """@inproceedings{hanin2018,
  author = {Hanin, Boris},
  title = {Which neural net architectures give rise to exploding and vanishing gradients?},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2018},
  note = {arXiv:1801.03744}
}""",
    "pascanu2013": """@inproceedings{pascanu2013,
  author = {Pascanu, Razvan and Mikolov, Tomas and Bengio, Yoshua},
  title = {On the difficulty of training recurrent neural networks},
  booktitle = {Proceedings of the 30th International Conference on Machine Learning (ICML)},
  series = {PMLR}, volume = {28}, number = {3}, pages = {1310--1318},
  year = {2013},
  note = {arXiv:1211.5063}
}""",
    "lecun1998": """@incollection{lecun1998,
  author = {LeCun, Yann and Bottou, L{\\'e}on and Orr, Genevieve B. and
    M{\\"u}ller, Klaus-Robert},
  title = {Efficient {BackProp}},
  booktitle = {Neural Networks: Tricks of the Trade},
  series = {LNCS}, volume = {1524}, pages = {9--50},
  publisher = {Springer},
  year = {1998}
}""",
    "klambauer2017": """@inproceedings{klambauer2017,
  author = {Klambauer, G{\\"u}nter and Unterthiner, Thomas and Mayr, Andreas and
    Hochreiter, Sepp},
  title = {Self-normalizing neural networks},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2017},
  note = {arXiv:1706.02515}
}""",
}

# activation references (from the catalog) that have a bibliography entry
_ACTIVATION_CITES = {"selu": "klambauer2017"}


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class ReportOptions:
    """Everything that determines a report's content (and so its bytes)."""

    activations: tuple[tuple[str, Activation], ...]
    inits: tuple[tuple[str, Init], ...]
    sigma_b2: sp.Expr
    eps: sp.Expr
    depth: int = 30
    width: int = 128
    trials: int = 300
    seed: int = 0
    simulate: bool = True
    alpha: float = 0.01
    #: saved training studies (``vg.train_study(..., out=...)``) for the training section
    training: tuple[str, ...] = ()
    #: the chains' output-layer convention (:data:`vgmath.network.description.READOUTS`)
    readout: str = "activation"
    #: keys of the sections to build, in document order (empty: every registered section)
    sections: tuple[str, ...] = ()
    #: every depth and width to show (``--depths``/``--widths``); empty: ``(depth,)`` and
    #: ``(width,)``. Sections that depend on them are built once per combination.
    depths: tuple[int, ...] = ()
    widths: tuple[int, ...] = ()
    #: the short document (findings, depth figure and table) instead of the full report
    summary: bool = False

    def __post_init__(self) -> None:
        if not self.sections:
            object.__setattr__(self, "sections", tuple(cls.key for cls in SECTIONS))
        if not self.depths:
            object.__setattr__(self, "depths", (self.depth,))
        if not self.widths:
            object.__setattr__(self, "widths", (self.width,))

    def chain(self, act: Activation, init: Init) -> Chain:
        return Chain(
            activation=act, init=init, depth=self.depth, width=self.width,
            sigma_b2=self.sigma_b2, readout=self.readout,
        )

    def chain_seed(self, act_label: str, init_label: str) -> int:
        """A per-chain seed from the report seed and the chain's labels (stable under adding
        or reordering activations): SeedSequence(seed, spawn_key=(crc32 labels))."""
        key = (zlib.crc32(act_label.encode()), zlib.crc32(init_label.encode()))
        ss = np.random.SeedSequence(self.seed, spawn_key=key)
        return int(ss.generate_state(1, dtype=np.uint32)[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "activations": [
                {"label": lab, "activation": _activation_source(a),
                 "params": {k: str(v) for k, v in a.params.items()}}
                for lab, a in self.activations
            ],
            "inits": [
                {"label": lab, "name": i.name, "scale": str(i.scale), "mode": i.mode,
                 "distribution": i.distribution}
                for lab, i in self.inits
            ],
            "depth": self.depth,
            "width": self.width,
            "trials": self.trials,
            "seed": self.seed,
            "simulate": self.simulate,
            "sigma_b2": str(self.sigma_b2),
            "eps": str(self.eps),
            "alpha": self.alpha,
            "training": [Path(t).name for t in self.training],
            "readout": self.readout,
            "sections": list(self.sections),
            "depths": list(self.depths),
            "widths": list(self.widths),
            "summary": self.summary,
        }


def _activation_source(act: Activation) -> str:
    return act.source if act.source else act.name


def _default_label(act: Activation) -> str:
    if act.source:
        return act.source
    try:
        from ..symbolic.catalog import activation as _make

        if dict(_make(act.name).params) == dict(act.params):
            return act.name
    except VgmathError:  # pragma: no cover - catalog names always rebuild
        pass
    return act.label


#: Longest activation label a report accepts (a label is a section title, a table cell and a
#: figure legend; TeX cannot typeset a 3000-character one: "Dimension too large").
MAX_LABEL = 80


def coerce_activations(value: Any) -> tuple[tuple[str, Activation], ...]:
    items: list[tuple[str, Any]] = []
    if isinstance(value, (str, Activation)):
        value = [value]
    if isinstance(value, Mapping):
        items = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, Iterable):
        for item in value:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
                items.append((item[0], item[1]))
            else:
                items.append(("", item))
    else:
        raise InvalidArgumentError("activations", value, "expected a list of names/expressions")
    if not items:
        raise InvalidArgumentError("activations", value, "needs at least one activation")
    out: list[tuple[str, Activation]] = []
    for label, v in items:
        act = as_activation(v, "activations")
        lab = label.strip() if label.strip() else _default_label(act)
        if len(lab) > MAX_LABEL:
            raise InvalidArgumentError(
                "activations", lab[:40] + "...",
                f"a label has at most {MAX_LABEL} characters ({len(lab)} given)",
            )
        out.append((lab, act))
    labels = [lab for lab, _ in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise InvalidArgumentError("activations", dup[0], "appears more than once")
    return tuple(out)


def coerce_inits(value: Any) -> tuple[tuple[str, Init], ...]:
    if isinstance(value, (str, Init)):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise InvalidArgumentError("inits", value, "expected a list of initialisation names")
    out: list[tuple[str, Init]] = []
    for v in value:
        custom = _RE_CUSTOM.fullmatch(v.strip()) if isinstance(v, str) else None
        if custom:
            from ..symbolic.parse import to_sympy_number

            sw2 = to_sympy_number("inits", custom.group(1))
            if not sw2.is_positive:
                raise InvalidArgumentError("inits", v, "a custom sigma_w2 must be > 0")
            init = Init.custom(sw2)
        else:
            init = as_init(v, "inits")
        if init.name == "custom":
            lab = custom_label(init)
        else:
            lab = v.strip().lower() if isinstance(v, str) else str(init)
        out.append((lab, init))
    if not out:
        raise InvalidArgumentError("inits", value, "needs at least one initialisation")
    labels = [lab for lab, _ in out]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise InvalidArgumentError("inits", dup[0], "appears more than once")
    return tuple(out)


#: Short names accepted for sections besides their keys (``--sections depth,edge``).
SECTION_ALIASES: dict[str, str] = {
    "inits": "initialisations",
    "init": "initialisations",
    "edge": "edge_of_chaos",
    "criticality": "edge_of_chaos",
    "gains": "edge_of_chaos",
    "phase": "phase_diagram",
    "time": "recurrent",
    "rnn": "recurrent",
}


def coerce_sections(value: Any) -> tuple[str, ...]:
    """Section keys in the order given (None: ``()``, which :class:`ReportOptions` reads as
    every section). Accepts keys, aliases (:data:`SECTION_ALIASES`) and comma-separated
    strings; unknown or repeated names are an :class:`InvalidArgumentError` naming the valid
    ones."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise InvalidArgumentError("sections", value, "expected a list of section names")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgumentError("sections", item, "expected a section name")
        names.extend(p.strip().lower().replace("-", "_") for p in item.split(",") if p.strip())
    keys = [cls.key for cls in SECTIONS]
    out: list[str] = []
    for n in names:
        key = SECTION_ALIASES.get(n, n)
        if key not in keys:
            raise InvalidArgumentError(
                "sections", n, "unknown section; choose from " + ", ".join(keys)
                + " (aliases: " + ", ".join(f"{a}={k}" for a, k in SECTION_ALIASES.items())
                + ")")
        if key in out:
            raise InvalidArgumentError("sections", n, "appears more than once")
        out.append(key)
    if not out:
        raise InvalidArgumentError("sections", value, "needs at least one section")
    return tuple(out)


#: ``custom:2``, ``custom=5/2``, ``custom(2)``: a custom mean-field rule σ_w² = value
_RE_CUSTOM = re.compile(r"custom\s*[:=(]\s*([^()]+?)\s*\)?", re.I)


def custom_label(init: Init) -> str:
    """A custom rule's label: its weight variance (``custom σ_w² = 5/2``), not just "custom"."""
    from .latex import safe_math

    dist = "" if init.distribution == "normal" else f", {init.distribution}"
    math = r"\sigma_w^2 = " + sp.latex(init.scale)
    if safe_math(math) and len(math) <= 60:
        return f"custom ${math}${dist}"
    return f"custom σ_w² = {sp.sstr(init.scale)}{dist}"


def positive_int(name: str, value: Any, *, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgumentError(name, value, "must be a positive integer")
    if maximum is not None and value > maximum:
        raise InvalidArgumentError(name, value, f"must be at most {maximum}")
    return int(value)


# --------------------------------------------------------------------------- context


class Progress:
    """Progress lines on stderr (one line per stage; the Monte Carlo stages add a bar of
    :mod:`vgmath.core.progress`). Silent unless ``enabled``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = bool(enabled)

    def __call__(self, message: str) -> None:
        if self.enabled:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()


def note(message: str) -> None:
    """A one-line note on stderr (always shown: it explains what a report leaves out)."""
    sys.stderr.write(f"vgmath report: {message}\n")
    sys.stderr.flush()


@dataclass
class ReportContext:
    """Shared state of one report build: options, output folders, caches, citations."""

    options: ReportOptions
    root: Path
    progress: Progress
    version: str
    cited: set[str] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: keys of the sections this report builds (a section refers only to these)
    planned: tuple[str, ...] = ()
    #: sections that raised while building: key -> reason (stated in place in the document)
    failed: dict[str, str] = field(default_factory=dict)
    #: appended to every data file and figure name (one build of a section per depth/width)
    suffix: str = ""
    _cache: dict[Any, Any] = field(default_factory=dict)

    def see(self, key: str, text: str) -> str:
        """``text`` with ``Section~\ref{sec:key}`` in it when that section is in this report,
        else the empty string (no dangling reference)."""
        return text.replace("@", r"Section~\ref{sec:" + key + "}") if key in self.planned else ""

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    # ---- timing
    def timed(self, stage: str) -> _Timer:
        return _Timer(self.timings, stage)

    # ---- citations
    def cite(self, *keys: str) -> str:
        for k in keys:
            if k not in REFERENCES:
                raise KeyError(f"unknown reference {k!r}")
            self.cited.add(k)
        return r"~\cite{" + ",".join(keys) + "}"

    # ---- engines
    @staticmethod
    def engine(module: str, attribute: str) -> Any:
        """``getattr(import vgmath.<module>, attribute)`` (the caller checked availability)."""
        return getattr(importlib.import_module(f"vgmath.{module}"), attribute)

    @staticmethod
    def has(module: str, attribute: str) -> bool:
        return _missing([(module, attribute)]) is None

    # ---- cached results shared by sections
    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # ---- files
    def _record(self, path: Path) -> None:
        rel = path.relative_to(self.root).as_posix()
        if rel not in self.files:
            self.files.append(rel)

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.data_dir / f"{name}{self.suffix}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps_json(obj), encoding="utf-8")
        self._record(path)
        return path

    def write_table(self, name: str, rows: Sequence[Mapping[str, Any]], *,
                    meta: Mapping[str, Any] | None = None) -> None:
        """``data/name.csv`` and ``data/name.json`` (same rows; JSON adds ``meta``)."""
        if not rows:
            raise ValueError(f"data table {name} has no rows")
        columns = list(rows[0])
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_cell(r.get(c)) for c in columns])
        path = self.data_dir / f"{name}{self.suffix}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(buf.getvalue(), encoding="utf-8")
        self._record(path)
        self.write_json(name, {"meta": dict(meta or {}), "columns": columns,
                               "rows": [dict(r) for r in rows]})

    def figure(
        self, fig: Any, stem: str, *, caption: str, label: str, width: str = r"\textwidth",
        data: Mapping[str, Any] | None = None,
    ) -> str:
        """Save a figure (PDF + PNG, and its data as JSON) and return its LaTeX."""
        if data is not None:
            self.write_json(f"figure-{stem}", data)  # adds the suffix itself
        stem = stem + self.suffix
        pdf, png = F.save(fig, self.figures_dir, stem, version=self.version)
        self._record(pdf)
        self._record(png)
        return "\n".join([
            f"% vgmath-figure: {stem}",
            r"\begin{figure}[htbp]",
            r"\centering",
            r"\includegraphics[width=" + width + "]{figures/" + stem + ".pdf}",
            r"\caption{" + caption + "}",
            r"\label{" + label + "}",
            r"\end{figure}",
            f"% vgmath-figure-end: {stem}",
            "",
        ])


class _Timer:
    def __init__(self, sink: dict[str, float], stage: str) -> None:
        self.sink, self.stage = sink, stage

    def __enter__(self) -> _Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sink[self.stage] = self.sink.get(self.stage, 0.0) + time.perf_counter() - self.t0


def _csv_cell(v: Any) -> Any:
    v = _plain(v)
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return v


def _plain(v: Any) -> Any:
    """JSON-ready plain data: SymPy numbers → exact string or float, NumPy → Python, NaN → None."""
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, sp.Basic):
        if v.is_Integer:
            return int(v)
        if isinstance(v, sp.Float) or not v.is_number:
            try:
                return _plain(float(v))
            except TypeError:
                return str(v)
        return str(v)
    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)


def dumps_json(obj: Any) -> str:
    """Deterministic JSON (insertion order kept, NaN → null, SymPy numbers as strings)."""
    return json.dumps(_plain(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- sections


def _missing(requires: Sequence[tuple[str, str]]) -> str | None:
    """None when every (module, attribute) is importable, else the reason."""
    for module, attribute in requires:
        try:
            mod = importlib.import_module(f"vgmath.{module}")
        except ModuleNotFoundError as err:
            if err.name == f"vgmath.{module}":
                return f"its engine vgmath.{module} is not available"
            return f"its engine vgmath.{module} cannot be imported ({err})"
        except Exception as err:  # a broken engine must not take the other sections down
            return f"its engine vgmath.{module} cannot be imported ({type(err).__name__}: {err})"
        if not hasattr(mod, attribute):
            return f"vgmath.{module} has no {attribute}"
    return None


class Section:
    """One independent part of the report.

    Subclasses set ``key`` (stable id), ``title`` (LaTeX), ``name`` (plain text) and ``requires``
    (``(module, attribute)`` pairs under ``vgmath``), and implement :meth:`build`, returning
    the section body (LaTeX, without the ``\\section`` line). :meth:`highlights` may return
    one-sentence findings for the summary. ``available`` is checked before ``build``.
    """

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    name: ClassVar[str] = ""  # plain-text title for messages (the LaTeX title may hold math)
    requires: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: built once per depth and width of ``--depths``/``--widths`` (it shows depth profiles)
    per_depth: ClassVar[bool] = False

    def available(self, ctx: ReportContext) -> str | None:
        return _missing(self.requires)

    def build(self, ctx: ReportContext) -> str:
        raise TypeError(f"{type(self).__name__} does not build anything")

    def highlights(self, ctx: ReportContext) -> list[str]:
        return []


#: The sections of a report, in document order (see the module docstring).
SECTIONS: list[type[Section]] = []


def register(cls: type[Section]) -> type[Section]:
    """Class decorator appending a section to :data:`SECTIONS`."""
    SECTIONS.append(cls)
    return cls
