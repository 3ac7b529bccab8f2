"""Bound claims: "φ′(x) ≤ c for all x" (certified supremum and sampling) and
"‖g^l‖ ≤ c^{L−l} ‖g^L‖" on every simulated network.

:func:`verify_bound` checks "φ′(x) ≤ c for all x" (or |φ′| ≤ c) against the certified
supremum of :mod:`vgmath.symbolic.bounds` — exactly, or undecided when c falls inside the
enclosure of a numeric supremum — and by sampling φ′ at many points, confirming any
counterexample with exact SymPy arithmetic. :func:`verify_gradient_bound` checks
"‖g^l‖ ≤ c^{L−l} ‖g^L‖ for every layer l" on every simulated network and reports the worst
case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import NDArray

from ..core.deprecation import renamed_alias
from ..core.errors import InvalidArgumentError, NumericalError
from ..network.description import Chain
from ..symbolic.typeset import escape_text, latex_expr, latex_number
from .formatting import LN10, Report, num, positive_int, row_selection, sci, seed_value, versions
from .profile import DEFAULT_TRIALS

__all__ = [
    "BoundVerification",
    "GradientBoundVerification",
    "verify_bound",
    "verify_gradient_bound",
]

FloatArray = NDArray[np.float64]



def _sample_points(act: Any, bound: Any, rng: np.random.Generator, samples: int) -> FloatArray:
    """Where to look for a counterexample: Gaussian clouds at several scales, both sides of
    every kink, around every certified critical point and where the sup is attained."""
    scales = np.array([0.01, 0.1, 1.0, 3.0, 10.0, 100.0])
    per = max(1, samples // len(scales))
    pts = [rng.standard_normal((len(scales), per)).ravel() * np.repeat(scales, per)]
    anchors: list[float] = [0.0]
    for b in act.breakpoints:
        anchors.append(float(b))
    for loc, _ in getattr(bound, "critical_points", ()):
        try:
            anchors.append(float(loc))
        except TypeError:
            continue
    arg = getattr(bound, "argsup", None)
    try:
        if arg is not None and sp.sympify(arg).is_number and sp.sympify(arg).is_finite:
            anchors.append(float(arg))
    except (TypeError, sp.SympifyError):
        pass
    for a in anchors:
        for eps in (0.0, 1e-12, 1e-9, 1e-6, 1e-3):
            pts.append(np.array([a - eps, a + eps]))
    return np.unique(np.concatenate(pts))


def _exact_derivative_at(act: Any, point: float) -> sp.Expr:
    """φ′ at a float point (read exactly as the binary rational it is), to 60 digits."""
    from ..symbolic.symbols import x

    value = act.derivative.subs(x, sp.Rational(point))
    return sp.N(value, 60)


@dataclass(frozen=True, eq=False)
class BoundVerification(Report):
    """The verdict on "φ′(x) ≤ c for every real x" (or "|φ′(x)| ≤ c").

    ``holds`` is True/False when decided by the certified supremum (``certified_sup`` with
    enclosure ``sup_interval``; exact when ``sup_error == 0``), and None when c lies inside
    the enclosure of a numeric supremum (undecidable at the certified precision).
    ``counterexample`` is a point x (a float, with φ′(x) checked exactly) where the claim
    fails, found by property sampling; ``sampled_max`` is the largest sampled value.
    """

    activation: str
    c: sp.Expr
    absolute: bool
    holds: bool | None
    certified_sup: sp.Expr
    sup_error: sp.Expr
    sup_interval: tuple[float, float]
    sup_exact: bool
    sup_method: str
    counterexample: tuple[float, sp.Expr] | None
    sampled_max: float
    sampled_argmax: float
    samples: int
    seed: int

    @property
    def passed(self) -> bool:
        return self.holds is True

    @property
    def claim(self) -> str:
        lhs = "|φ′(x)|" if self.absolute else "φ′(x)"
        return f"{lhs} ≤ {self.c} for all real x"

    @property
    def verdict(self) -> str:
        return {True: "holds", False: "fails", None: "undecided"}[self.holds]

    def table(self) -> str:
        sup = "sup |φ′|" if self.absolute else "sup φ′"
        exact = "exact" if self.sup_exact else f"± {sp.N(self.sup_error, 3)}"
        lines = [
            f"claim: {self.claim}  (activation {self.activation})",
            f"certified {sup} = {self.certified_sup} ({exact}; {self.sup_method})",
            f"  enclosure [{self.sup_interval[0]:.17g}, {self.sup_interval[1]:.17g}]",
            (
                f"sampled max over {self.samples} points (seed {self.seed}) = "
                f"{self.sampled_max:.17g} at x = {self.sampled_argmax:.17g}"
            ),
        ]
        if self.counterexample is not None:
            xc, val = self.counterexample
            lines.append(f"counterexample: x = {xc!r}, φ′(x) = {val} > {self.c}")
        if self.holds is None:
            lines.append(
                f"verdict: UNDECIDED — c = {self.c} lies inside the certified enclosure of the "
                "supremum; no counterexample found"
            )
        else:
            lines.append(f"verdict: {self.verdict.upper()}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The claim with its verdict, and the certified supremum against c."""
        lhs = r"|\varphi'(x)|" if self.absolute else r"\varphi'(x)"
        sup = r"\sup|\varphi'|" if self.absolute else r"\sup\varphi'"
        rel = {True: r"\le", False: ">", None: r"\approx"}[self.holds]
        c = latex_expr(self.c, digits)
        s = latex_expr(self.certified_sup, digits).removeprefix(r"\approx ")
        return [
            ("claim", rf"\forall x:\ {lhs} \le {c}\ \text{{({escape_text(str(self.verdict))})}}"),
            ("certified supremum", rf"{sup} = {s} {rel} {c}"),
        ]

    def to_dict(self) -> dict[str, Any]:
        ce = None
        if self.counterexample is not None:
            ce = {"x": self.counterexample[0], "derivative": str(self.counterexample[1])}
        return {
            "kind": "vgmath.bound_verification",
            "claim": self.claim,
            "activation": self.activation,
            "c": str(self.c),
            "absolute": self.absolute,
            "holds": self.holds,
            "verdict": self.verdict,
            "passed": self.passed,
            "certified_sup": str(self.certified_sup),
            "sup_exact": self.sup_exact,
            "sup_error": str(self.sup_error),
            "sup_interval": [float(self.sup_interval[0]), float(self.sup_interval[1])],
            "sup_method": self.sup_method,
            "counterexample": ce,
            "sampled_max": num(self.sampled_max),
            "sampled_argmax": num(self.sampled_argmax),
            "parameters": {"samples": self.samples, "seed": self.seed},
            "versions": versions(),
            "rows": [],
        }

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        d = self.to_dict()
        keys = ["claim", "verdict", "certified_sup", "sup_error", "sampled_max", "sampled_argmax"]
        return keys, [[d[k] for k in keys]]


def verify_bound(
    activation: Any, c: Any, *, absolute: bool = False, samples: int = 20000,
    seed: int | None = None,
) -> BoundVerification:
    """Check "φ′(x) ≤ c for all x" (``absolute=True``: "|φ′(x)| ≤ c"), certified and sampled.

    The certified decision compares c with the supremum proved by :mod:`vgmath.symbolic.bounds`:
    the claim holds iff c ≥ sup (exact comparison when the supremum is exact); with a
    numeric supremum enclosed in [lo, hi] it holds if c ≥ hi, fails if c < lo and is
    undecided in between. Independently, φ′ is sampled at ``samples`` points (several
    scales, both sides of every kink, every certified critical point); a sampled value above
    c is re-evaluated exactly before it is reported as a counterexample. A certified "holds"
    contradicted by a confirmed counterexample raises :class:`vgmath.NumericalError`.

    >>> import vgmath as vg
    >>> vg.verify_bound("sigmoid", "1/4").holds, vg.verify_bound("sigmoid", 0.24).holds
    (True, False)
    """
    from ..symbolic.catalog import as_activation

    act = as_activation(activation)
    cval = _bound_constant(c)
    n_samples = positive_int("samples", samples)
    seed_used = seed_value(seed)
    b = act.derivative_bound()
    if absolute:
        sup, err, exact, interval = b.sup_abs, b.sup_abs_error, b.sup_abs_exact, b.sup_abs_interval
    else:
        sup, err, exact, interval = b.sup, b.sup_error, b.sup_exact, b.sup_interval
    lo, hi = (float(interval[0]), float(interval[1])) if interval is not None else (math.nan,) * 2
    holds: bool | None
    if sup is sp.oo or sup == sp.oo:
        holds = False
        lo = hi = math.inf
    elif exact:
        diff = sp.simplify(cval - sup)
        if diff == 0:
            holds = True
        else:
            # a nonzero difference of exact numbers: 60 digits decide its sign (a zero that
            # simplify missed shows up as |diff| < 1e-45 and counts as c = sup)
            dv = diff.evalf(60)
            holds = bool(dv >= 0) or bool(abs(dv) < sp.Float("1e-45"))
    else:
        # the certified enclosure sup ± sup_error (a Float of 30 digits and a rigorous bound)
        mlo, mhi = sp.Float(sup, 60) - sp.Float(err, 60), sp.Float(sup, 60) + sp.Float(err, 60)
        lo, hi = float(mlo), float(mhi)
        if bool(cval >= mhi):
            holds = True
        elif bool(cval < mlo):
            holds = False
        else:
            holds = None
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed_used)))
    pts = _sample_points(act, b, rng, n_samples)
    with np.errstate(all="ignore"):
        vals = np.asarray(act.grad(pts), dtype=float)
    if absolute:
        vals = np.abs(vals)
    finite = np.isfinite(vals)
    k = int(np.argmax(np.where(finite, vals, -np.inf)))
    counter: tuple[float, sp.Expr] | None = None
    cf = float(cval)
    for i in np.argsort(-np.where(finite, vals, -np.inf))[:20]:
        if not finite[i] or vals[i] <= cf - 1e-12 * max(1.0, abs(cf)):
            break
        exact_val = _exact_derivative_at(act, float(pts[i]))
        if absolute:
            exact_val = abs(exact_val)
        if exact_val.is_number and bool(exact_val > cval):
            counter = (float(pts[i]), exact_val)
            break
    if counter is not None and holds is True:
        raise NumericalError(
            f"certified sup {sup} ≤ c = {cval} but φ′({counter[0]!r}) = {counter[1]} > c"
        )
    if counter is not None and holds is None:
        holds = False
    return BoundVerification(
        activation=act.label,
        c=cval,
        absolute=bool(absolute),
        holds=holds,
        certified_sup=sup,
        sup_error=err,
        sup_interval=(lo, hi),
        sup_exact=bool(exact),
        sup_method=b.sup_method if not absolute else "max(|sup|, |inf|)",
        counterexample=counter,
        sampled_max=float(vals[k]),
        sampled_argmax=float(pts[k]),
        samples=int(pts.size),
        seed=seed_used,
    )


def _bound_constant(c: Any) -> sp.Expr:
    from ..symbolic.parse import to_sympy_number

    try:
        value = to_sympy_number("c", c)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            "c", c, "expected a number such as 1/4, 0.25 or sqrt(2)/2"
        ) from None
    return value



@dataclass(frozen=True, eq=False)
class GradientBoundVerification(Report):
    """The verdict on "‖g^l‖ ≤ c^{L−l} ‖g^L‖ for every layer l and every network".

    Per layer (``layers`` = 0..L−1): ``ln_bound`` = (L − l) ln c, ``worst`` = the largest
    ln(‖g^l‖/‖g^L‖) over the simulated networks, ``violations`` = how many networks break
    the bound, ``median`` = the median of ln(‖g^l‖/‖g^L‖). The claim is refuted by any
    violation; with none in T networks, the probability that a random network violates it
    at some layer is below 3/T at 95% confidence (the "rule of three"), not proved zero.
    """

    chain: Chain
    c: sp.Expr
    trials: int
    seed: int
    layers: NDArray[np.int64]
    ln_bound: FloatArray
    worst: FloatArray
    median: FloatArray
    violations: NDArray[np.int64]
    worst_network: int
    simulation: Mapping[str, Any] = field(default_factory=dict, repr=False)

    #: deprecated alias: logarithms are named by their base (``ln_`` / ``log10_``)
    log_bound = renamed_alias("ln_bound", "log_bound")

    @property
    def passed(self) -> bool:
        return int(self.violations.sum()) == 0

    @property
    def holds(self) -> bool:
        return self.passed

    @property
    def rejected_layers(self) -> list[int]:
        return [int(l) for l in self.layers[self.violations > 0]]

    @property
    def worst_margin(self) -> float:
        """max over layers and networks of ln(‖g^l‖/‖g^L‖) − (L − l) ln c (> 0: violated)."""
        return float(np.max(self.worst - self.ln_bound))

    def table(self, *, rows: int | None = None) -> str:
        head = (
            f"{'l':>4} {'bound c^(L-l)':>14} {'worst ratio':>12} {'median ratio':>13} "
            f"{'violations':>11}"
        )
        verdict = "HOLDS on every network" if self.passed else (
            f"FAILS: violated at layers {self.rejected_layers}"
        )
        lines = [
            f"claim: ‖g^l‖/‖g^L‖ ≤ ({self.c})^(L−l) for every layer, {self.chain}",
            (
                f"{self.trials} networks, seed {self.seed}; worst margin ln(ratio/bound) = "
                f"{self.worst_margin:+.4g} (network {self.worst_network})"
            ),
            f"verdict: {verdict}",
            "",
            head,
            "-" * len(head),
        ]
        for i in row_selection(self.layers, self.violations > 0, rows):
            lines.append(
                f"{self.layers[i]:>4} {sci(self.ln_bound[i]):>14} {sci(self.worst[i]):>12} "
                f"{sci(self.median[i]):>13} {int(self.violations[i]):>11}"
            )
        if self.passed:
            lines.append(
                f"\nno violation in {self.trials} networks: P(violation) < {3 / self.trials:.2g} "
                "at 95% confidence (rule of three); sampling cannot prove the bound"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table(rows=25)

    def _latex_statements(self, digits: int) -> list[tuple[str, str]]:
        """The claim, its verdict over the networks and the worst margin."""
        verdict = "holds" if self.passed else "fails"
        c = latex_expr(self.c, digits).removeprefix(r"\approx ")
        return [
            ("claim", rf"\lVert g^{{l}}\rVert \le \left({c}\right)^{{L-l}}\lVert g^{{L}}\rVert"),
            ("verdict", rf"\text{{{verdict} on {self.trials} networks}}"),
            ("worst margin", (r"\max_{l,\,\text{net}} \ln\frac{\lVert g^l\rVert}{\lVert g^L\rVert}"
             rf" - (L-l)\ln c = {latex_number(self.worst_margin, digits)}")),
        ]

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {
                "layer": int(self.layers[i]),
                "log10_bound": num(self.ln_bound[i] / LN10),
                "log10_worst_ratio": num(self.worst[i] / LN10),
                "log10_median_ratio": num(self.median[i] / LN10),
                "violations": int(self.violations[i]),
            }
            for i in range(len(self.layers))
        ]
        return {
            "kind": "vgmath.gradient_bound_verification",
            "claim": f"||g^l|| <= {self.c}^(L-l) ||g^L|| for every layer and network",
            "c": str(self.c),
            "passed": self.passed,
            "rejected_layers": self.rejected_layers,
            "worst_margin": num(self.worst_margin),
            "worst_network": self.worst_network,
            "chain": self.chain.to_dict(),
            "parameters": {"trials": self.trials, "seed": self.seed},
            "simulation": dict(self.simulation),
            "versions": versions(),
            "rows": rows,
        }

    def _csv_rows(self) -> tuple[list[str], list[list[Any]]]:
        rows = self.to_dict()["rows"]
        header = list(rows[0])
        return header, [[r[k] for k in header] for r in rows]


def verify_gradient_bound(
    chain: Chain, c: Any, *, trials: int = DEFAULT_TRIALS, seed: int | None = None,
    simulation: Any = None, workers: int = 1,
) -> GradientBoundVerification:
    """Check ‖g^l‖ ≤ c^{L−l} ‖g^L‖ at every layer of every simulated network.

    ‖g^l‖² = n_l · (‖g^l‖²/n_l) is read from the per-network samples of
    :func:`vgmath.simulate`, so the check is exact for each simulated network (no mean, no
    statistics): one violating network refutes the claim, and the worst case is reported.

    >>> import vgmath as vg
    >>> chain = vg.Chain("sigmoid", init="xavier", depth=10, width=64)
    >>> vg.verify_gradient_bound(chain, "1/4", trials=50, seed=0).passed
    False
    """
    from ..montecarlo.simulation import Simulation, simulate

    if not isinstance(chain, Chain):
        raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
    cval = _bound_constant(c)
    if not cval.is_positive:
        raise InvalidArgumentError("c", c, "must be > 0")
    if simulation is None:
        sim = simulate(chain, trials=trials, seed=seed, workers=workers)
    else:
        if not isinstance(simulation, Simulation) or simulation.chain != chain:
            raise InvalidArgumentError(
                "simulation", simulation, f"expected a Simulation of {chain}"
            )
        sim = simulation
    L = chain.depth
    lg = np.asarray(sim.samples["ln_grad_second_moment"], dtype=float)
    ns = np.log(np.asarray(chain.widths, dtype=float))
    # ln(‖g^l‖/‖g^L‖) = ½ (ln(‖g^l‖²/n_l) + ln n_l − ln(‖g^L‖²/n_L) − ln n_L)
    log_ratio = 0.5 * (lg + ns[None, :] - lg[:, [L]] - ns[L])[:, :L]
    log_c = float(sp.log(cval).evalf(30))
    ln_bound = (L - np.arange(L)) * log_c
    margin = log_ratio - ln_bound[None, :]
    worst = np.max(log_ratio, axis=0)
    violations = (margin > 0).sum(axis=0)
    worst_net = int(np.unravel_index(int(np.argmax(margin)), margin.shape)[0])
    return GradientBoundVerification(
        chain=chain,
        c=cval,
        trials=int(sim.trials),
        seed=int(sim.seed),
        layers=np.arange(L, dtype=np.int64),
        ln_bound=ln_bound,
        worst=worst,
        median=np.median(log_ratio, axis=0),
        violations=violations.astype(np.int64),
        worst_network=worst_net,
        simulation={"trials": int(sim.trials), "seed": int(sim.seed), "method": sim.method},
    )
