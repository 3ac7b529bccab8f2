"""Figures for vgmath's reports: matplotlib (Agg), vector PDF plus PNG, byte-reproducible.

Every figure is drawn on a :class:`matplotlib.figure.Figure` with an Agg canvas — pyplot and
the global backend are never touched, so generating a report works headless and does not
disturb a user's interactive session. :func:`save` writes ``stem.pdf`` and ``stem.png`` with
fixed metadata (no creation date, a fixed producer string, ``svg.hashsalt`` fixed), so the
same data give identical files.

The functions take plain NumPy data (the report computes it), so they do not depend on which
engines are installed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "RC",
    "DepthSeries",
    "TimeSeries",
    "activation_figure",
    "depth_figure",
    "figure_context",
    "mpl_text",
    "new_figure",
    "phase_diagram",
    "save",
    "time_figure",
]

#: rcParams used for every report figure (deterministic output, readable at half page width).
RC: dict[str, Any] = {
    "svg.hashsalt": "vgmath",
    "pdf.fonttype": 3,
    "font.size": 9.0,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9.0,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "lines.linewidth": 1.4,
    "savefig.dpi": 150,
    "text.usetex": False,
    "axes.unicode_minus": True,
    "path.simplify": True,
}

#: colours for series (colour-blind-safe Tableau 10)
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)


@contextmanager
def figure_context() -> Iterator[None]:
    """rcParams isolated for report figures (restored on exit)."""
    with matplotlib.rc_context(RC):
        yield


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure with an Agg canvas. Layout is set by hand (``subplots_adjust`` with margins in
    inches): matplotlib's constrained layout costs more than the drawing itself here."""
    fig = Figure(figsize=(width_in, height_in))
    FigureCanvasAgg(fig)
    return fig


def _margins(fig: Figure, *, left: float, right: float, top: float, bottom: float,
             wspace: float = 0.2, hspace: float = 0.2) -> None:
    """``subplots_adjust`` with the four margins given in inches."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h,
                        bottom=bottom / h, wspace=wspace, hspace=hspace)


def save(fig: Figure, directory: Path, stem: str, *, version: str) -> tuple[Path, Path]:
    """Write ``directory/stem.pdf`` (vector) and ``directory/stem.png`` with fixed metadata."""
    directory.mkdir(parents=True, exist_ok=True)
    pdf, png = directory / f"{stem}.pdf", directory / f"{stem}.png"
    producer = f"vgmath {version}"
    with figure_context():
        fig.savefig(
            pdf,
            format="pdf",
            metadata={"CreationDate": None, "ModDate": None, "Creator": producer,
                      "Producer": producer},
        )
        fig.savefig(png, format="png", metadata={"Software": producer})
    return pdf, png


def mpl_text(text: str) -> str:
    """User text made safe for matplotlib: no mathtext (``$`` escaped) unless its ``$...$``
    parts are in the report's safe subset (:func:`vgmath.reporting.latex.safe_math`) and
    matplotlib's mathtext parses them, and never the ``_nolegend_`` convention (a leading
    underscore hides a legend entry)."""
    from .latex import math_parts

    if math_parts(text) is not None:
        try:
            from matplotlib.mathtext import MathTextParser

            MathTextParser("path").parse(str(text))
        except Exception:  # mathtext lacks a command: shown as plain text
            pass
        else:
            return (" " + str(text)) if str(text).startswith("_") else str(text)
    s = "".join(ch if _has_glyph(ch) else f"[U+{ord(ch):04X}]" for ch in str(text))
    s = s.replace("$", r"\$")
    return (" " + s) if s.startswith("_") else s


_GLYPHS: dict[str, bool] = {}


def _has_glyph(ch: str) -> bool:
    """Whether matplotlib's default font can draw ``ch`` (a missing glyph is a warning — an
    error under strict warning filters — and an empty box in the figure)."""
    if ch.isascii():
        return True
    if ch not in _GLYPHS:
        try:
            from matplotlib import font_manager
            from matplotlib.ft2font import FT2Font

            font = FT2Font(font_manager.findfont(font_manager.FontProperties()))
            _GLYPHS[ch] = font.get_char_index(ord(ch)) != 0
        except Exception:  # pragma: no cover - no font information: be conservative
            _GLYPHS[ch] = ord(ch) < 0x2000
    return _GLYPHS[ch]


# --------------------------------------------------------------------------- activations


def _clip_intervals(
    intervals: Sequence[tuple[float, float]], lo: float, hi: float
) -> list[tuple[float, float]]:
    out = []
    for a, b in intervals:
        a2, b2 = max(a, lo), min(b, hi)
        if b2 > a2:
            out.append((a2, b2))
    return out


def activation_figure(
    *,
    label: str,
    xs: np.ndarray,
    phi: np.ndarray,
    dphi: np.ndarray,
    saturation: Sequence[tuple[float, float]],
    eps: float,
    sup: float | None,
    inf: float | None,
    kinks: Sequence[float] = (),
    narrow: Sequence[float] = (),
) -> Figure:
    """φ and φ′ side by side on the grid ``xs``, the saturation region {|φ′| < eps} shaded in
    both panels, the certified sup/inf of φ′ as dashed lines and kinks as dotted lines; one
    shared legend below the panels. ``narrow``: centres of saturated intervals too thin to
    see when shaded (where φ′ crosses zero), marked by a triangle on the φ′ axis."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    lo, hi = float(xs[0]), float(xs[-1])
    shade = _clip_intervals(saturation, lo, hi)
    with figure_context():
        fig = new_figure(6.4, 2.7)
        ax1, ax2 = fig.subplots(1, 2)
        _margins(fig, left=0.42, right=0.08, top=0.25, bottom=0.92, wspace=0.2)
        for ax in (ax1, ax2):
            for a, b in shade:
                ax.axvspan(a, b, color="0.86", lw=0)
            for kx in kinks:
                if lo < kx < hi:
                    ax.axvline(kx, color="0.45", lw=0.7, ls=":")
            ax.set_xlim(lo, hi)
            ax.set_xlabel("x")
        ax1.plot(xs, phi, color=PALETTE[0])
        ax1.set_title("φ(x)")
        ax2.plot(xs, dphi, color=PALETTE[1])
        ax2.set_title("φ′(x)")
        handles: list[Any] = [Line2D([], [], color=PALETTE[0]), Line2D([], [], color=PALETTE[1])]
        labels = [f"φ = {mpl_text(label)}" if len(label) <= 30 else "φ", "φ′"]
        ymin, ymax = float(np.nanmin(dphi)), float(np.nanmax(dphi))
        if sup is not None and math.isfinite(sup):
            ax2.axhline(sup, color="0.2", lw=0.8, ls="--")
            handles.append(Line2D([], [], color="0.2", lw=0.8, ls="--"))
            labels.append(f"sup φ′ = {sup:.4g}")
            ymax = max(ymax, sup)
        if inf is not None and math.isfinite(inf) and inf != sup:
            ax2.axhline(inf, color="0.2", lw=0.8, ls="-.")
            handles.append(Line2D([], [], color="0.2", lw=0.8, ls="-."))
            labels.append(f"inf φ′ = {inf:.4g}")
            ymin = min(ymin, inf)
        pad = 0.08 * ((ymax - ymin) if ymax > ymin else 1.0)
        ax2.set_ylim(ymin - pad, ymax + pad)
        if shade:
            handles.append(Patch(color="0.86"))
            labels.append(f"saturated: |φ′| < {eps:g}")
        if kinks:
            handles.append(Line2D([], [], color="0.45", lw=0.7, ls=":"))
            labels.append("kink")
        shown = [c for c in narrow if lo < c < hi]
        if shown:
            for c in shown:
                for ax in (ax1, ax2):
                    ax.axvline(c, color="#b2182b", lw=0.6, ls="-", alpha=0.6)
                ax2.plot([c], [0.0], marker="v", color="#b2182b", ms=5, ls="none", zorder=5)
            handles.append(Line2D([], [], color="#b2182b", marker="v", ms=5, lw=0.6))
            labels.append("thin saturated interval (φ′ crosses 0)")
        # one legend row when it fits the width, otherwise two (the bottom margin has room)
        ncol = len(labels) if sum(len(t) + 6 for t in labels) <= 95 else math.ceil(len(labels) / 2)
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                   ncol=ncol, frameon=False, fontsize=7.5)
    return fig


# --------------------------------------------------------------------------- depth


@dataclass(frozen=True)
class DepthSeries:
    """One chain's gradient second moment against layer: theory and (optional) simulation.

    ``lo``/``hi`` are the confidence-interval ends of the simulated mean (same length as
    ``simulated``); ``finite`` is the finite-width prediction at the chain's width (a thin
    line beside the mean-field one); NaN or non-positive entries are not drawn (log scale).
    """

    label: str
    layers: np.ndarray
    theory: np.ndarray
    simulated: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    finite: np.ndarray | None = None


#: line styles and markers per series, so that coinciding curves stay distinguishable
STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v")


def _draw_series(ax: Any, s: DepthSeries, color: str, k: int) -> None:
    th = np.asarray(s.theory, dtype=float)
    ok = np.isfinite(th) & (th > 0)
    ax.plot(s.layers[ok], th[ok], color=color, lw=1.3, ls=STYLES[k % len(STYLES)], zorder=2)
    if s.finite is not None:
        fw = np.asarray(s.finite, dtype=float)
        okf = np.isfinite(fw) & (fw > 0)
        ax.plot(s.layers[okf], fw[okf], color=color, lw=0.7, ls="-", alpha=0.6, zorder=2)
    if s.simulated is None or s.lo is None or s.hi is None:
        return
    sim = np.asarray(s.simulated, dtype=float)
    lo = np.asarray(s.lo, dtype=float)
    hi = np.asarray(s.hi, dtype=float)
    good = np.isfinite(sim) & (sim > 0) & np.isfinite(lo) & (lo > 0) & np.isfinite(hi)
    # one LineCollection for the bars and one Line2D for the points: far cheaper to draw
    # than errorbar's per-point caps
    xs = s.layers[good]
    ax.vlines(xs, lo[good], hi[good], color=color, lw=0.8, zorder=3)
    ax.plot(xs, sim[good], ls="none", marker=MARKERS[k % len(MARKERS)], ms=2.6, mec=color,
            mfc="white", mew=0.8, zorder=4)


def depth_figure(
    *, panels: Sequence[tuple[str, Sequence[DepthSeries]]], ci_label: str, ylabel: str
) -> Figure:
    """Small multiples: one panel per activation (title), one colour per series (e.g. per
    initialisation) — theory as lines, Monte Carlo means as open points with confidence-interval
    error bars, log scale, each panel with its own range so that deviations stay visible."""
    ncol = 3 if len(panels) > 2 else len(panels)
    nrow = math.ceil(len(panels) / ncol)
    with figure_context():
        fig = new_figure(6.6, 1.95 * nrow + 0.75)
        axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
        _margins(fig, left=0.62, right=0.1, top=0.22, bottom=0.82, wspace=0.32, hspace=0.5)
        names: list[str] = []
        any_sim = any_finite = False
        for ax, (title, series) in zip(axes, panels, strict=False):
            for k, s in enumerate(series):
                _draw_series(ax, s, PALETTE[k % len(PALETTE)], k)
                if s.label not in names:
                    names.append(s.label)
                any_sim = any_sim or s.simulated is not None
                any_finite = any_finite or s.finite is not None
            ax.set_yscale("log")
            ax.set_title(mpl_text(title), fontsize=8.5, pad=3)
            ax.tick_params(labelsize=7)
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=5))
            ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        for r in range(nrow):
            axes[r * ncol].set_ylabel(ylabel, fontsize=7.5)
        for ax in axes[max(0, len(panels) - ncol):len(panels)]:
            ax.set_xlabel("layer l", fontsize=7.5)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=PALETTE[k % len(PALETTE)], lw=1.4,
                          ls=STYLES[k % len(STYLES)],
                          marker=MARKERS[k % len(MARKERS)] if any_sim else None, ms=3.5,
                          mfc="white") for k in range(len(names))]
        labels = [mpl_text(n) for n in names]
        handles.append(Line2D([], [], color="0.3", lw=1.3))
        labels.append("lines: mean field" if any_finite else "lines: theory")
        if any_finite:
            handles.append(Line2D([], [], color="0.3", lw=0.7, alpha=0.6))
            labels.append("thin: finite width")
        if any_sim:
            handles.append(Line2D([], [], color="0.3", marker="o", ms=3.5, mfc="white", lw=0))
            labels.append(f"points: Monte Carlo mean, {ci_label}")
        # one row of legend entries fits the width up to five; more take two rows
        ncol = len(labels) if len(labels) <= 5 else math.ceil(len(labels) / 2)
        if ncol < len(labels):
            fig.set_size_inches(6.6, 1.95 * nrow + 0.95)
            _margins(fig, left=0.62, right=0.1, top=0.22, bottom=1.02, wspace=0.32,
                     hspace=0.5)
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                   ncol=ncol, frameon=False, fontsize=7.5)
    return fig


# --------------------------------------------------------------------------- phase diagram


def phase_diagram(
    *,
    sigma_b2: np.ndarray,
    sigma_w2_critical: np.ndarray,
    activation_label: str,
    xlim: tuple[float, float],
    markers: Sequence[tuple[str, float, float] | tuple[str, float, float, str]] = (),
) -> Figure:
    """The (σ_w², σ_b²) plane with the critical line χ₁ = 1 separating the ordered phase
    (χ₁ < 1: vanishing gradients) from the chaotic phase (χ₁ > 1: exploding gradients).

    ``markers`` are labelled points (e.g. initialisation schemes at σ_b² = 0): ``(name, σ_w²,
    σ_b²)`` or ``(name, σ_w², σ_b², phase)``; the legend reads "name: σ_w² = value, phase"
    with σ_w² typeset as mathematics.
    """
    sb = np.asarray(sigma_b2, dtype=float)
    sw = np.asarray(sigma_w2_critical, dtype=float)
    with figure_context():
        legend_in = 0.17 * (len(markers) + 1) + 0.1
        fig = new_figure(4.8, 3.3 + legend_in)
        ax = fig.subplots()
        _margins(fig, left=0.6, right=0.15, top=0.3, bottom=0.5 + legend_in)
        ymax = float(np.nanmax(sb))
        ok = np.isfinite(sw)
        ax.fill_betweenx(sb[ok], xlim[0], sw[ok], color="#dbe7f3", lw=0)
        ax.fill_betweenx(sb[ok], sw[ok], xlim[1], color="#f7dcdc", lw=0)
        ok = np.isfinite(sw)
        ax.plot(sw[ok], sb[ok], color="k", lw=1.8, label=r"critical line $\chi_1 = 1$")
        mid = len(sb) // 2
        y_txt = float(sb[mid]) if len(sb) else 0.5 * ymax
        x_ord = 0.5 * (xlim[0] + float(np.nanmin(sw[ok]))) if ok.any() else xlim[0]
        ax.text(max(x_ord, xlim[0] + 0.05 * (xlim[1] - xlim[0])), y_txt,
                "ordered\n(vanishing)", ha="left", va="center", fontsize=8)
        ax.text(xlim[1] - 0.03 * (xlim[1] - xlim[0]), y_txt * 0.5,
                "chaotic\n(exploding)", ha="right", va="center", fontsize=8)
        for k, marker in enumerate(markers):
            name, x, y = marker[0], marker[1], marker[2]
            text = mpl_text(name) + f": $\\sigma_w^2 = {x:.4g}$"
            if len(marker) > 3:
                text += ", " + mpl_text(marker[3])  # type: ignore[misc]
            ax.plot([x], [y], marker="o", ms=5, color=PALETTE[(k + 1) % len(PALETTE)],
                    ls="none", label=text, clip_on=False, zorder=4)
        ax.set_xlim(*xlim)
        ax.set_ylim(0.0, ymax)
        ax.set_xlabel(r"$\sigma_w^2$")
        ax.set_ylabel(r"$\sigma_b^2$")
        ax.set_title(f"phase diagram of {mpl_text(activation_label)}")
        fig.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=1, frameon=False,
                   fontsize=7.5)
    return fig


# --------------------------------------------------------------------------- through time


@dataclass(frozen=True)
class TimeSeries:
    """A Monte Carlo profile against time step t = 0..T: mean and confidence interval."""

    label: str
    steps: np.ndarray
    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class NormSeries:
    """Mean log10 of ‖∂h_T/∂h_t‖ against t, and (optionally) the mean log10 of a bound."""

    label: str
    steps: np.ndarray
    log10_norm: np.ndarray
    log10_bound: np.ndarray | None = None


def time_figure(
    *, gradient: Sequence[TimeSeries], norms: Sequence[NormSeries], ci_label: str,
    theory: Sequence[tuple[str, np.ndarray]] = (),
) -> Figure:
    """Recurrent networks: left, the gradient second moment against the time step (log scale,
    Monte Carlo means with confidence intervals as points, a theory line where ``theory``
    has one for the series' label, otherwise the points joined by a thin dotted line); right,
    the mean log10 of the Jacobian norm ‖∂h_T/∂h_t‖ (solid) beside the mean log10 of Pascanu
    et al.'s bound (γ‖W‖₂)^{T−t} (dashed), one colour per cell."""
    from matplotlib.lines import Line2D

    with figure_context():
        fig = new_figure(6.6, 3.1)
        ax1, ax2 = fig.subplots(1, 2)
        _margins(fig, left=0.62, right=0.1, top=0.25, bottom=1.0, wspace=0.3)
        colours: dict[str, str] = {}
        lines = dict(theory)
        for k, s in enumerate(gradient):
            c = colours.setdefault(s.label, PALETTE[len(colours) % len(PALETTE)])
            m = np.asarray(s.mean, dtype=float)
            lo, hi = np.asarray(s.lo, dtype=float), np.asarray(s.hi, dtype=float)
            good = np.isfinite(m) & (m > 0) & np.isfinite(lo) & (lo > 0) & np.isfinite(hi)
            th = lines.get(s.label)
            if th is not None:
                th = np.asarray(th, dtype=float)
                ok = np.isfinite(th) & (th > 0)
                ax1.plot(s.steps[ok], th[ok], color=c, lw=1.2, zorder=2)
            ax1.plot(s.steps[good], m[good], color=c, lw=0.7,
                     ls=":" if th is None else "none", marker=MARKERS[k % len(MARKERS)],
                     ms=2.6, mfc="white", mec=c, mew=0.8, zorder=4)
            ax1.vlines(s.steps[good], lo[good], hi[good], color=c, lw=0.8, zorder=3)
        ax1.set_yscale("log")
        ax1.yaxis.set_major_locator(matplotlib.ticker.LogLocator(numticks=6))
        ax1.set_xlabel("time step t")
        ax1.set_ylabel(r"$E[(\partial E/\partial h_t)^2]\,/\,E[g_T^2]$", fontsize=8)
        ax1.set_title("gradient through time", fontsize=9)
        for s in norms:
            c = colours.setdefault(s.label, PALETTE[len(colours) % len(PALETTE)])
            ax2.plot(s.steps, s.log10_norm, color=c, lw=1.3)
            if s.log10_bound is not None:
                ax2.plot(s.steps, s.log10_bound, color=c, lw=1.0, ls="--")
        ax2.set_xlabel("time step t")
        ax2.set_ylabel(r"mean $\log_{10}\Vert\partial h_T/\partial h_t\Vert_2$", fontsize=8)
        ax2.set_title("Jacobian norm and Pascanu bound", fontsize=9)
        # each panel explains its own line styles; the shared legend gives the colours
        ax1.legend([Line2D([], [], color="0.3", lw=1.2),
                    Line2D([], [], color="0.3", marker="o", ms=3.5, mfc="white", lw=0)],
                   ["mean field", f"Monte Carlo mean, {ci_label}"], loc="lower right",
                   fontsize=6.5, frameon=True, framealpha=0.85)
        ax2.legend([Line2D([], [], color="0.3", lw=1.3),
                    Line2D([], [], color="0.3", lw=1.0, ls="--")],
                   ["measured norm", "bound (γ‖W‖₂)^(T−t)"], loc="lower left",
                   fontsize=6.5, frameon=True, framealpha=0.85)
        handles = [Line2D([], [], color=c, lw=1.4) for c in colours.values()]
        labels = [mpl_text(n) for n in colours]
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(labels), 5), frameon=False, fontsize=7.5)
    return fig
