"""Monte Carlo through depth: ensembles of independent random networks, layer by layer.

``vg.simulate(chain, trials=200, seed=0)`` draws ``trials`` independent networks (fresh
weights and biases for each) from the same :class:`vgmath.Chain` description that
``vg.predict`` reads, pushes a fixed input through each, backpropagates an output gradient
g^L with i.i.d. N(0, 1) entries, and reports per layer the empirical means and standard
errors of the quantities the theory predicts, under the same names:

===============================  ===========================================================
field (index l = 0..L)            per network, averaged over the ensemble
===============================  ===========================================================
``q``                             ‖h^l‖²/n_l (l ≥ 1); q[0] = ‖x^0‖²/n_0 = input_q
``grad_second_moment``            ‖g^l‖²/n_l (relative to E[(g^L_i)²] = 1)
``grad_preact_second_moment``     ‖δ^l‖²/n_l (l ≥ 1)
``grad_weight_second_moment``     ‖δ^l‖² ‖x^{l-1}‖²/(n_l n_{l-1}) = mean of (∂E/∂W^l_ij)²
``activation_second_moment``      ‖x^l‖²/n_l
``chi``                           ratio of consecutive means: mean g²[l-1] / mean g²[l]
``mean_ln_chi``                  mean of ln R_l, R_l = (‖g^{l-1}‖²/n_{l-1})/(‖g^l‖²/n_l)
``log10_<name>``                  log10 of the ensemble mean, without under/overflow
===============================  ===========================================================

Each has a standard error under ``<name>_se`` (the sample standard deviation over √trials;
delta method for ratios and logarithms). Entries that do not exist (δ at layer 0, χ at
layer 0) are NaN. ``.samples`` holds the raw per-network arrays (shape (trials, L + 1)),
also as ``log10_<name>`` and natural ``ln_<name>``. The fourth-moment ratios
E[‖g^0‖⁴]/E[‖g^0‖²]² and E[‖x^L‖⁴]/E[‖x^L‖²]² come with delta-method standard errors.

The input is the fixed vector x^0 = √input_q · (1, …, 1) (so ‖x^0‖²/n_0 = input_q, and
every input unit carries the same load); for Gaussian weights its direction is irrelevant
(rotation invariance). ``trials`` counts independent networks — pushing a batch of inputs
through one network gives correlated samples and is not a substitute.

Reproducibility: networks are simulated in fixed blocks of ``block_size`` (chosen from the
chain, not from the number of trials or processes); block k draws from its own stream
``SeedSequence(seed, spawn_key=(k,))`` (NumPy's PCG64). Chunks and worker processes only
group blocks, so the same seed gives bit-identical results whatever ``chunk_size`` and
``workers``, and a run with more trials extends one with fewer, block by block.

The samplers (``method``) are described and proved exact in :mod:`vgmath.montecarlo.sampler`:
``"conditioned"`` (Gaussian weights, and Haar-orthogonal weights in a plain chain, O(n) per
layer) and ``"dense"`` (any initialisation, explicit weights); ``"auto"`` picks the first
wherever it is exact.

>>> import vgmath as vg
>>> sim = vg.simulate(vg.Chain("relu", init="he", depth=10, width=64), trials=400, seed=0)
>>> sim.method, sim.trials, sim.samples["grad_second_moment"].shape
('conditioned', 400, (400, 11))
>>> bool(abs(sim.grad_second_moment[0] - 1) < 4 * sim.grad_second_moment_se[0])  # ReLU + He
True
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from ..core.deprecation import renamed_alias, warn_renamed
from ..core.errors import InvalidArgumentError
from ..core.io import save_by_extension, text_or_file
from ..core.progress import progress as _progress
from ..core.resources import check_memory, format_bytes
from ..network.description import Chain, Recurrent
from ..symbolic.typeset import Typeset, escape_text, latex_from_ln
from .kernel import LOG_KEYS, METHODS, Kernel, _log_mean
from .kernels import conditioned_is_exact, make_kernel

__all__ = [
    "FIELDS",
    "MEAN_FIELDS",
    "Simulation",
    "default_block_size",
    "resolve_method",
    "simulate",
]

FloatArray = np.ndarray

#: per-network quantity -> kernel key (natural logs)
_SAMPLE_KEYS: dict[str, str] = {
    "q": "q",
    "activation_second_moment": "act",
    "grad_second_moment": "grad",
    "grad_preact_second_moment": "preact",
    "grad_weight_second_moment": "weight",
}
#: Fields that are ensemble means of per-network quantities.
MEAN_FIELDS = tuple(_SAMPLE_KEYS)
#: Every per-layer field of a :class:`Simulation` (each also has ``<name>_se``).
FIELDS = (
    *MEAN_FIELDS,
    "chi",
    "mean_ln_chi",
    *(f"log10_{name}" for name in MEAN_FIELDS),
)

_LN10 = math.log(10.0)
_BLOCK_BYTES = 256 * 2**20  # working-memory budget of one block
_MAX_BLOCK = 256


# --------------------------------------------------------------------------- statistics




def _ratio_of_means(
    num: FloatArray, den: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """E[A]/E[B] per column from log-samples of A and B, with a delta-method standard error.

    Var(Ā/B̄)/(Ā/B̄)² ≈ [Var A/Ā² + Var B/B̄² − 2 Cov(A, B)/(Ā B̄)]/T (same networks).
    """
    T = num.shape[0]
    with np.errstate(under="ignore", over="ignore", invalid="ignore", divide="ignore"):
        ta = np.max(num, axis=0)
        tb = np.max(den, axis=0)
        a = np.exp(num - ta)
        b = np.exp(den - tb)
        ma, mb = a.mean(axis=0), b.mean(axis=0)
        ratio = np.exp(ta - tb) * ma / mb
        if T > 1:
            va, vb = a.var(axis=0, ddof=1), b.var(axis=0, ddof=1)
            cab = ((a - ma) * (b - mb)).sum(axis=0) / (T - 1)
            rel2 = (va / ma**2 + vb / mb**2 - 2.0 * cab / (ma * mb)) / T
            se = np.abs(ratio) * np.sqrt(np.maximum(rel2, 0.0))
        else:
            se = np.full(num.shape[1], np.nan)
    return ratio, se


def _moment_ratio(logs: FloatArray) -> tuple[float, float]:
    """E[Y²]/E[Y]² from ln Y samples, with a delta-method standard error.

    With m1 = mean Y, m2 = mean Y², r = m2/m1² and ∇r = (−2 m2/m1³, 1/m1²),
    Var(r̂) ≈ ∇ᵀ Σ ∇ / T where Σ is the sample covariance of (Y, Y²). Scale-free: Y is
    divided by its maximum first.
    """
    T = logs.shape[0]
    top = np.max(logs)
    if not np.isfinite(top):
        return math.nan, math.nan
    with np.errstate(under="ignore"):
        y = np.exp(logs - top)
    y2 = y * y
    m1, m2 = y.mean(), y2.mean()
    r = float(m2 / m1**2)
    if T < 2:
        return r, math.nan
    cov = np.cov(np.vstack([y, y2]), ddof=1)
    grad = np.array([-2.0 * m2 / m1**3, 1.0 / m1**2])
    return r, float(math.sqrt(max(float(grad @ cov @ grad), 0.0) / T))


# --------------------------------------------------------------------------- samples


def _renamed(name: str) -> str:
    """The current name of a field renamed to say its logarithm's base
    (``mean_log_chi`` → ``mean_ln_chi``, ``log_jacobian_norm`` → ``ln_jacobian_norm``), or
    ``name`` itself."""
    if name.startswith("mean_log_"):
        return "mean_ln_" + name[len("mean_log_"):]
    if name.startswith("log_"):
        return "ln_" + name[len("log_"):]
    return name


class _Fields(dict[str, FloatArray]):
    """The per-layer fields of a simulation: a dict whose former ``log_`` / ``mean_log_``
    keys still read the renamed ``ln_`` / ``mean_ln_`` entries, with a DeprecationWarning."""

    def __missing__(self, key: str) -> FloatArray:
        new = _renamed(key)
        if new != key and new in self:
            warn_renamed(f"fields[{key!r}]", f"fields[{new!r}]")
            return self[new]
        raise KeyError(key)


class _Samples(Mapping[str, FloatArray]):
    """Per-network arrays (trials, L + 1), computed on access from the stored natural logs.

    Keys: ``<name>`` (values; these may underflow to 0 for very deep chains like the true
    float64 values would), ``log10_<name>`` and ``ln_<name>`` (natural log), for every
    name in :data:`MEAN_FIELDS`. The former ``log_<name>`` keys still work, with a
    DeprecationWarning (logarithms are named by their base: ``ln_`` or ``log10_``).
    """

    def __init__(
        self, logs: Mapping[str, FloatArray], extra: Mapping[str, FloatArray] | None = None
    ) -> None:
        self._logs = dict(logs)
        self._extra = dict(extra or {})  # architecture-specific arrays, stored as they are
        self._keys = [
            f"{prefix}{name}" for name in MEAN_FIELDS for prefix in ("", "log10_", "ln_")
        ] + [k for k in self._extra if k not in _SAMPLE_KEYS]

    def with_extra(self, extra: Mapping[str, FloatArray]) -> _Samples:
        """A copy with more architecture-specific arrays."""
        return _Samples(self._logs, {**self._extra, **extra})

    def __getitem__(self, key: str) -> FloatArray:
        if key.startswith("log_") and key not in self._extra:
            new = _renamed(key)
            if new in self._extra or new[len("ln_"):] in _SAMPLE_KEYS:
                warn_renamed(f"samples[{key!r}]", f"samples[{new!r}]")
                key = new
        if key in self._extra:
            out = np.array(self._extra[key], dtype=np.float64)
            out.flags.writeable = False
            return out
        for prefix in ("log10_", "ln_", ""):
            name = key[len(prefix) :] if key.startswith(prefix) else None
            if name in _SAMPLE_KEYS:
                ln = self._logs[_SAMPLE_KEYS[name]]
                if prefix == "ln_":
                    out = ln.copy()
                elif prefix == "log10_":
                    out = ln / _LN10
                else:
                    with np.errstate(under="ignore", over="ignore"):
                        out = np.exp(ln)
                out.flags.writeable = False
                return out
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, eq=False)
class Simulation(Typeset):
    """The result of :func:`vgmath.simulate`: per-layer ensemble means and standard errors.

    Per-layer arrays (length L + 1, index l = 0..L) are named as in :func:`vgmath.predict`
    (see :data:`FIELDS`), each with ``<name>_se``; ``samples`` maps names to per-network
    arrays. Export with :meth:`to_dict`, :meth:`to_json`, :meth:`to_csv` or :meth:`save`.
    """

    chain: Chain | Recurrent
    trials: int
    seed: int
    method: str
    dtype: str
    block_size: int
    elapsed_seconds: float
    fields: Mapping[str, FloatArray] = field(repr=False)
    grad_moment_ratio: float = field(repr=False)
    grad_moment_ratio_se: float = field(repr=False)
    forward_moment_ratio: float = field(repr=False)
    forward_moment_ratio_se: float = field(repr=False)
    samples: Mapping[str, FloatArray] = field(repr=False)
    #: architecture-specific metadata (inputs, clipping, ...) overriding the defaults
    setup: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.fields, _Fields):
            object.__setattr__(self, "fields", _Fields(self.fields))

    # ---- per-layer fields as attributes: sim.q, sim.q_se, sim.chi, ...
    def __getattr__(self, name: str) -> FloatArray:
        fields = self.__dict__.get("fields")
        try:
            return fields[name]  # type: ignore[index]  # _Fields: renamed keys warn
        except (KeyError, TypeError):
            raise AttributeError(f"'Simulation' object has no attribute {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.fields})

    @property
    def depth(self) -> int:
        return self.chain.depth

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The ensemble and the simulated gradient second moment at the input with its
        standard error (``.latex(mode, digits)``: :mod:`vgmath.symbolic.typeset`)."""
        ln_mean = float(self.fields["log10_grad_second_moment"][0]) * _LN10
        rel = float(self.fields["log10_grad_second_moment_se"][0]) * _LN10
        value = latex_from_ln(ln_mean, digits)
        if math.isfinite(rel) and rel > 0:
            value += r" \pm " + latex_from_ln(ln_mean + math.log(rel), 2)
        return [
            ("ensemble", (rf"T = {self.trials}\ \text{{networks (seed {self.seed}, "
             rf"{escape_text(self.dtype)})}}")),
            ("input layer", (rf"\overline{{\lVert g^0\rVert^2/n_0}} = {value}\ "
             rf"(L = {self.depth},\ \mathbb{{E}}[(g^L_i)^2] = 1)")),
        ]

    def profile(self, name: str) -> FloatArray:
        """A per-layer field by name (``"q"``, ``"chi_se"``, ... see :data:`FIELDS`), as
        :meth:`vgmath.Prediction.profile`."""
        try:
            return self.fields[name]  # renamed keys warn (_Fields)
        except KeyError:
            raise InvalidArgumentError(
                "name", name, "not a field of this simulation; fields: " + ", ".join(FIELDS)
            ) from None

    @property
    def layers(self) -> FloatArray:
        """Layer indices 0..L."""
        return np.arange(self.depth + 1)

    def ln_grad_quantiles(self, probs: Any) -> FloatArray:
        """Empirical quantiles over the simulated networks of ln(‖g^l‖²/n_l), shape
        (len(probs), L + 1) — to compare with ``Prediction.ln_grad_quantiles`` of a
        finite-width prediction (an exact-zero gradient counts as −inf)."""
        p = np.atleast_1d(np.asarray(probs, dtype=np.float64))
        if not np.all((p >= 0) & (p <= 1)):
            raise InvalidArgumentError("probs", probs, "expected probabilities in [0, 1]")
        logs = np.asarray(self.samples["ln_grad_second_moment"], dtype=np.float64)
        return np.quantile(logs, p, axis=0)  # type: ignore[no-any-return]

    def ln_gradient_slope(self, first: int, last: int | None = None) -> tuple[float, float]:
        """Average of ln R_l over layers first < l ≤ last, with its standard error.

        Per network this is (ln G_first − ln G_last)/(last − first), G_l = ‖g^l‖²/n_l, i.e.
        minus the slope of ln G against depth; the standard error comes from its spread over
        the independent networks (no assumption about correlations between layers). Compare
        with the mean over the same layers of the theory's ``mean_ln_chi``.
        """
        last = self.depth if last is None else last
        if not (0 <= first < last <= self.depth):
            raise InvalidArgumentError(
                "first, last", (first, last), f"need 0 <= first < last <= {self.depth}"
            )
        lg = self.samples["ln_grad_second_moment"]
        per_net = (lg[:, first] - lg[:, last]) / (last - first)
        se = float(per_net.std(ddof=1) / math.sqrt(self.trials)) if self.trials > 1 else math.nan
        return float(per_net.mean()), se

    log_gradient_slope = renamed_alias("ln_gradient_slope", "log_gradient_slope")

    def finite_width_moment_ratio(
        self, which: str = "gradient", *, layer: int | None = None
    ) -> tuple[float, float]:
        """E[‖v‖⁴]/E[‖v‖²]² and its standard error at one layer.

        ``which="gradient"``: v = g^layer (default layer 0, the input gradient);
        ``which="forward"``: v = x^layer (default layer L, the output).
        """
        if which not in ("gradient", "forward"):
            raise InvalidArgumentError("which", which, "expected 'gradient' or 'forward'")
        if layer is None:
            layer = 0 if which == "gradient" else self.depth
        if not (0 <= layer <= self.depth):
            raise InvalidArgumentError("layer", layer, f"need 0 <= layer <= {self.depth}")
        key = "ln_grad_second_moment" if which == "gradient" else "ln_activation_second_moment"
        return _moment_ratio(self.samples[key][:, layer])

    def tail_shape(self, name: str = "grad_second_moment") -> FloatArray:
        """Per-layer tail diagnostic k̂ of a field's per-network values
        (:func:`vgmath.montecarlo.tails.pareto_k`): where k̂ ≥ 1/2 the variance is infinite
        and ``<name>_se`` means little; vg.verify treats k̂ > 0.5 as untrustworthy."""
        from .tails import pareto_k

        key = f"ln_{name}"
        if key not in self.samples:
            raise InvalidArgumentError("name", name, "not a per-network field of this simulation")
        return pareto_k(self.samples[key])

    def moment_ratio_check(
        self, which: str = "gradient", *, layer: int | None = None
    ) -> dict[str, Any]:
        """The fourth-moment ratio of :meth:`finite_width_moment_ratio` with what it takes
        to trust its error: the tail shape k̂ of ‖v‖², a seeded studentised-bootstrap 95%
        interval ``bootstrap_ci`` (percentile-t on the log of the ratio) — the interval to
        report — and ``interval_trusted`` = k̂ ≤ 0.5 (beyond it E[‖v‖⁴] = ∞ and no interval
        is meaningful). ``se`` is the delta-method standard error, kept for comparison only.

        Measured (benchmarks/moment_ratio_coverage.py, 80 × 1000 networks, depth 20, width
        128): for moderate tails (ReLU, tanh, GELU) the delta-method ± 1.96 se and the
        percentile bootstrap cover 86–90%, the studentised bootstrap 92–95%; for SiLU + He
        (k̂ ≈ 1 at the input gradient) no interval covers and ``interval_trusted`` is False
        in every run. No threshold on k̂ certifies the ± se: the runs whose k̂ is low are the
        runs that missed the rare networks, and cover less, not more."""
        from .tails import TAIL_K_MAX, bootstrap_moment_ratio, pareto_k

        if which not in ("gradient", "forward"):
            raise InvalidArgumentError("which", which, "expected 'gradient' or 'forward'")
        if layer is None:
            layer = 0 if which == "gradient" else self.depth
        ratio, se = self.finite_width_moment_ratio(which, layer=layer)
        key = "ln_grad_second_moment" if which == "gradient" else "ln_activation_second_moment"
        col = self.samples[key][:, layer]
        k = float(pareto_k(col)[0])
        lo, hi = bootstrap_moment_ratio(col, seed=self.seed, method="t")
        return {"ratio": ratio, "se": se, "tail_k": k, "bootstrap_ci": (lo, hi),
                "interval_trusted": bool(k <= TAIL_K_MAX)}

    # ---- export
    def metadata(self) -> dict[str, Any]:
        """Everything needed to reproduce the run (chain, seed, method, versions, ...)."""
        from ..core.version import __version__

        meta = {
            "kind": "simulation",
            "chain": self.chain.to_dict(),
            "trials": self.trials,
            "seed": self.seed,
            "method": self.method,
            "dtype": self.dtype,
            "block_size": self.block_size,
            "input": "x0 = sqrt(input_q) * (1, ..., 1)",
            "output_gradient": "g^L with i.i.d. N(0, 1) entries",
            "rng": "numpy PCG64, block k seeded by SeedSequence(seed, spawn_key=(k,))",
            "elapsed_seconds": self.elapsed_seconds,
            "versions": {
                "vgmath": __version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        }
        meta.update(self.setup)
        return meta

    def to_dict(self, *, samples: bool = False) -> dict[str, Any]:
        """Plain data (JSON-ready; NaN and ±inf become ``None``)."""
        out = self.metadata()
        out["layers"] = list(range(self.depth + 1))
        out["fields"] = {k: _jsonable(v) for k, v in self.fields.items()}
        out["moment_ratios"] = {
            "gradient": _num(self.grad_moment_ratio),
            "gradient_se": _num(self.grad_moment_ratio_se),
            "forward": _num(self.forward_moment_ratio),
            "forward_se": _num(self.forward_moment_ratio_se),
        }
        if isinstance(self.chain, Chain) and "ln_grad_second_moment" in self.samples:
            for which in ("gradient", "forward"):
                check = self.moment_ratio_check(which)
                out["moment_ratios"][f"{which}_tail_k"] = _num(check["tail_k"])
                out["moment_ratios"][f"{which}_bootstrap_ci"] = [
                    _num(v) for v in check["bootstrap_ci"]]
                out["moment_ratios"][f"{which}_bootstrap_ci_trusted"] = check[
                    "interval_trusted"]
        if samples:
            out["samples"] = {
                f"log10_{name}": _jsonable(self.samples[f"log10_{name}"]) for name in MEAN_FIELDS
            }
        return out

    def to_json(self, path: str | os.PathLike[str] | None = None, *, samples: bool = False) -> str:
        """JSON text (written atomically to ``path`` if given)."""
        text = json.dumps(self.to_dict(samples=samples), indent=2, allow_nan=False) + "\n"
        return text_or_file(text, path)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """CSV, one row per layer; metadata on leading ``#`` lines (``comment="#"``)."""
        buf = io.StringIO()
        meta = self.metadata()
        for key, value in meta.items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            buf.write(f"# {key}: {text}\n")
        buf.write(
            f"# moment_ratios: gradient={self.grad_moment_ratio!r} "
            f"+- {self.grad_moment_ratio_se!r}; forward={self.forward_moment_ratio!r} "
            f"+- {self.forward_moment_ratio_se!r}\n"
        )
        names = [n for f in FIELDS for n in (f, f"{f}_se")]
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["layer", *names])
        for l in range(self.depth + 1):
            writer.writerow([l, *(_csv_num(self.fields[n][l]) for n in names)])
        text = buf.getvalue()
        return text_or_file(text, path)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write JSON (``.json``) or CSV (``.csv``) by extension, atomically."""
        return save_by_extension(path, self.to_json, self.to_csv)

    def __repr__(self) -> str:
        g0, se = self.fields["log10_grad_second_moment"][0], self.fields[
            "log10_grad_second_moment_se"
        ][0]
        return (
            f"Simulation({self.chain}, trials={self.trials}, method={self.method!r}, "
            f"dtype={self.dtype!r}, seed={self.seed}, log10 E[g0^2]={g0:.4g} ± {se:.2g})"
        )


def _num(value: float) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


def _jsonable(arr: FloatArray) -> list[Any]:
    a = np.asarray(arr, dtype=float)
    if a.ndim > 1:
        return [_jsonable(row) for row in a]
    return [_num(v) for v in a]


def _csv_num(value: float) -> str:
    v = float(value)
    return "" if math.isnan(v) else repr(v)


def _block_rng(seed: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


def _block_sizes(trials: int, block_size: int) -> list[int]:
    full, rest = divmod(trials, block_size)
    return [block_size] * full + ([rest] if rest else [])


def _run_blocks(
    kernel: Kernel, seed: int, blocks: Sequence[tuple[int, int]]
) -> list[tuple[int, dict[str, FloatArray]]]:
    """Run the (block index, size) pairs in order (the unit of work of a process)."""
    return [(k, kernel.run(_block_rng(seed, k), size)) for k, size in blocks]


def _int_arg(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidArgumentError(name, value, f"expected an integer >= {minimum}")
    return int(value)


def _optional_int_arg(name: str, value: Any, *, minimum: int) -> int | None:
    return None if value is None else _int_arg(name, value, minimum=minimum)


def _resolve_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InvalidArgumentError("dtype", dtype, "expected float32 or float64")
    return dt


def resolve_method(chain: Chain, method: str) -> str:
    """``"auto"`` → ``"conditioned"`` for i.i.d. Gaussian weights (and Haar-orthogonal
    weights in a plain chain), else ``"dense"``."""
    if method not in METHODS:
        raise InvalidArgumentError("method", method, f"expected one of {', '.join(METHODS)}")
    if method == "auto":
        return "conditioned" if conditioned_is_exact(chain) else "dense"
    return method


def simulation_bytes(chain: Chain | Recurrent, kernel: Kernel, trials: int, block_size: int,
                     workers: int) -> float:
    """Estimated peak memory of a run: one block per worker (the kernel's working set, plus
    the QR workspace of orthogonal weights) and the per-layer result arrays."""
    per_net = float(kernel.bytes_per_network())
    if (isinstance(chain, Chain) and chain.rule.distribution == "orthogonal"
            and kernel.method == "dense"):
        per_net += 3.0 * 8 * max(chain.widths) ** 2
    fields = len(LOG_KEYS) + len(kernel.extra_fields)
    results = 8.0 * trials * (chain.depth + 1) * fields * 3  # logs, summaries, samples
    return per_net * block_size * workers + results


def check_simulation_memory(chain: Chain | Recurrent, kernel: Kernel, trials: int,
                            block_size: int, workers: int, *, max_memory: Any = None) -> None:
    """Refuse (:class:`vgmath.ResourceLimitError`) a run whose estimate is above the limit."""
    estimate = simulation_bytes(chain, kernel, trials, block_size, workers)
    check_memory(
        f"simulating {trials} networks of {chain}", estimate, argument="size",
        value=f"depth={chain.depth}, width={max(chain.widths)}, trials={trials}",
        max_memory=max_memory,
        hint="lower the depth, width, trials or workers (one network alone needs "
        f"{format_bytes(simulation_bytes(chain, kernel, 1, 1, 1))})",
    )


def default_block_size(kernel: Kernel) -> int:
    """Networks per block: as many as fit a 256 MiB working set, between 1 and 256.

    Depends only on the chain and the method (never on trials, chunks or workers), so that
    the stream of every network is fixed by the seed.
    """
    return int(min(_MAX_BLOCK, max(1, _BLOCK_BYTES // max(1, kernel.bytes_per_network()))))


def simulate(
    chain: Chain,
    *,
    trials: int = 200,
    seed: int | None = None,
    method: str = "auto",
    dtype: Any = np.float64,
    progress: bool = False,
    workers: int = 1,
    block_size: int | None = None,
    chunk_size: int | None = None,
    clip_norm: Any = None,
    max_memory: Any = None,
) -> Simulation:
    """Simulate ``trials`` independent random networks described by ``chain``.

    Parameters
    ----------
    chain
        The network: a :class:`vgmath.Chain` (plain, residual or batch-normalised; the same
        object ``vg.predict`` reads) or a :class:`vgmath.Recurrent` network (layers are
        then time steps; see :mod:`vgmath.montecarlo.architectures` and
        :mod:`vgmath.montecarlo.recurrent`).
    trials
        Number of independent networks (fresh weights and biases for each).
    seed
        Non-negative integer; ``None`` draws fresh entropy (recorded in the result).
    method
        ``"conditioned"`` (exact O(n)-per-layer sampler for i.i.d. Gaussian weights),
        ``"dense"`` (explicit weight matrices, any initialisation) or ``"auto"``.
    dtype
        ``float64`` or ``float32`` for the network arithmetic; statistics and log scales
        are always accumulated in float64.
    progress
        Show a progress bar on stderr.
    workers
        Processes (``> 1`` uses a pool of processes started with the ``"spawn"`` method,
        so a script calling it needs the usual ``if __name__ == "__main__":`` guard);
        results are identical to ``workers=1``.
    block_size
        Networks per independently seeded block (default from the chain's memory needs);
        part of what a seed means, recorded in the result.
    chunk_size
        Networks per unit of work handed to a process (rounded up to whole blocks); does
        not change the results.
    clip_norm
        Also report gradient clipping by global norm at this threshold
        (:mod:`vgmath.montecarlo.clipping`).
    max_memory
        Memory limit for this run (``"8G"``, bytes; default: ``VGMATH_MAX_MEMORY`` or 80 % of
        the available memory, :mod:`vgmath.core.resources`). The working set (one block per
        worker, the per-layer results) is estimated before anything is allocated; above the
        limit :class:`vgmath.ResourceLimitError` is raised. Blocks shrink to fit first.

    Returns
    -------
    Simulation
        Per-layer means and standard errors, per-network samples and the fourth-moment
        ratios; see :class:`Simulation` and the module docstring.
    """
    if not isinstance(chain, (Chain, Recurrent)):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain or vgmath.Recurrent")
    if isinstance(chain, Chain):
        chain.require_numeric("a simulation")
    if clip_norm is not None:
        from .clipping import as_clip_norm

        clip_norm = as_clip_norm(clip_norm)
    n_trials = _int_arg("trials", trials, minimum=1)
    if seed is None:
        seed_value = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    else:
        seed_value = _int_arg("seed", seed, minimum=0)
    n_workers = _int_arg("workers", workers, minimum=1)
    dt = _resolve_dtype(dtype)
    resolved = resolve_method(chain, method)
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    kernel = make_kernel(chain, method=resolved, dtype=dt, threads=threads)
    bsize = _optional_int_arg("block_size", block_size, minimum=1)
    if bsize is None:
        bsize = default_block_size(kernel)
    check_simulation_memory(chain, kernel, n_trials, min(bsize, n_trials), n_workers,
                            max_memory=max_memory)
    csize = _optional_int_arg("chunk_size", chunk_size, minimum=1)

    sizes = _block_sizes(n_trials, bsize)
    blocks = list(enumerate(sizes))
    if csize is None:
        per_chunk = max(1, math.ceil(len(blocks) / (4 * n_workers))) if n_workers > 1 else 1
    else:
        per_chunk = max(1, math.ceil(csize / bsize))
    chunks = [blocks[i : i + per_chunk] for i in range(0, len(blocks), per_chunk)]

    keys = (*LOG_KEYS, *kernel.extra_fields)
    logs = {k: np.empty((n_trials, chain.depth + 1)) for k in keys}
    logs.update({k: np.empty(n_trials) for k in kernel.extra_samples})
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

    def store(k: int, block_logs: dict[str, FloatArray]) -> None:
        for key in logs:
            logs[key][starts[k] : starts[k + 1]] = block_logs[key]

    t0 = time.perf_counter()
    with _progress(n_trials, enabled=progress, desc="simulate", unit="net") as bar:
        if n_workers == 1 or len(chunks) == 1:
            for chunk in chunks:
                for k, block_logs in _run_blocks(kernel, seed_value, chunk):
                    store(k, block_logs)
                    bar.update(sizes[k])
        else:
            pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context("spawn"))
            try:
                futures = [pool.submit(_run_blocks, kernel, seed_value, c) for c in chunks]
                for fut in as_completed(futures):
                    for k, block_logs in fut.result():
                        store(k, block_logs)
                        bar.update(sizes[k])
            except BaseException:  # an error or Ctrl-C: do not wait for the queued work
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
    elapsed = time.perf_counter() - t0
    extra = {k: logs.pop(k) for k in (*kernel.extra_fields, *kernel.extra_samples)}
    sim = _summarise(chain, logs, seed=seed_value, method=resolved, dtype=dt.name,
                     block_size=bsize, elapsed=elapsed, extra=extra,
                     extra_fields=kernel.extra_fields, setup=kernel.setup())
    if clip_norm is not None:
        from .clipping import clip_simulation

        sim = clip_simulation(sim, clip_norm)
    return sim


def _summarise(
    chain: Chain,
    logs: dict[str, FloatArray],
    *,
    seed: int,
    method: str,
    dtype: str,
    block_size: int,
    elapsed: float,
    extra: Mapping[str, FloatArray] | None = None,
    extra_fields: Sequence[str] = (),
    setup: Mapping[str, Any] | None = None,
) -> Simulation:
    T = logs["q"].shape[0]
    fields: dict[str, FloatArray] = {}
    for name, key in _SAMPLE_KEYS.items():
        mean, se, log_mean, log_se = _log_mean(logs[key])
        fields[name], fields[f"{name}_se"] = mean, se
        fields[f"log10_{name}"] = log_mean / _LN10
        fields[f"log10_{name}_se"] = log_se / _LN10
    lg = logs["grad"]
    L = chain.depth
    chi = np.full(L + 1, np.nan)
    chi_se = np.full(L + 1, np.nan)
    chi[1:], chi_se[1:] = _ratio_of_means(lg[:, :-1], lg[:, 1:])
    fields["chi"], fields["chi_se"] = chi, chi_se
    mlc = np.full(L + 1, np.nan)
    mlc_se = np.full(L + 1, np.nan)
    with np.errstate(invalid="ignore"):
        log_r = lg[:, :-1] - lg[:, 1:]
        mlc[1:] = log_r.mean(axis=0)
        if T > 1:
            mlc_se[1:] = log_r.std(axis=0, ddof=1) / math.sqrt(T)
    fields["mean_ln_chi"], fields["mean_ln_chi_se"] = mlc, mlc_se
    # architecture-specific per-layer quantities: plain ensemble means and standard errors
    for name in extra_fields:
        vals = np.asarray((extra or {})[name], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            fields[name] = vals.mean(axis=0)
            fields[f"{name}_se"] = (vals.std(axis=0, ddof=1) / math.sqrt(T) if T > 1
                                    else np.full(vals.shape[1], np.nan))
    # the input is fixed: q[0] and ‖x^0‖²/n_0 are exact
    for name in ("q", "activation_second_moment"):
        fields[f"{name}_se"][0] = 0.0
        fields[f"log10_{name}_se"][0] = 0.0
    for arr in fields.values():
        arr.flags.writeable = False
    gr, gr_se = _moment_ratio(lg[:, 0])
    fr, fr_se = _moment_ratio(logs["act"][:, L])
    return Simulation(
        chain=chain,
        trials=T,
        seed=seed,
        method=method,
        dtype=dtype,
        block_size=block_size,
        elapsed_seconds=elapsed,
        fields=fields,
        grad_moment_ratio=gr,
        grad_moment_ratio_se=gr_se,
        forward_moment_ratio=fr,
        forward_moment_ratio_se=fr_se,
        samples=_Samples(logs, extra),
        setup=dict(setup or {}),
    )
