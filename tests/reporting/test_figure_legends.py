"""The figures' legends say what they show (read back from the matplotlib objects)."""

from __future__ import annotations

import numpy as np

from vgmath.reporting import figures as F


def _texts(fig: object) -> list[str]:
    out = [t.get_text() for leg in fig.legends for t in leg.get_texts()]  # type: ignore[attr-defined]
    for ax in fig.axes:  # type: ignore[attr-defined]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


def test_phase_diagram_legend_typesets_sigma_w_squared() -> None:
    fig = F.phase_diagram(sigma_b2=np.linspace(0, 0.5, 5), sigma_w2_critical=np.linspace(1, 3, 5),
                          activation_label="tanh", xlim=(0.5, 4.0),
                          markers=[("xavier, lecun", 1.0, 0.0, "critical")])
    texts = _texts(fig)
    assert "xavier, lecun: $\\sigma_w^2 = 1$, critical" in texts
    assert not any("σ_w" in t for t in texts)


def test_time_figure_legends_are_per_panel() -> None:
    steps = np.arange(4)
    g = [F.TimeSeries("RNN, tanh", steps, np.ones(4), np.ones(4) * 0.9, np.ones(4) * 1.1)]
    n = [F.NormSeries("RNN, tanh", steps, np.zeros(4), np.zeros(4))]
    fig = F.time_figure(gradient=g, norms=n, ci_label="99% CI", theory=[("RNN, tanh", np.ones(4))])
    left, right = (ax.get_legend() for ax in fig.axes)
    assert [t.get_text() for t in left.get_texts()] == ["mean field", "Monte Carlo mean, 99% CI"]
    assert [t.get_text() for t in right.get_texts()][:1] == ["measured norm"]
    assert not any("left:" in t or "right:" in t for t in _texts(fig))


def test_thin_saturated_intervals_are_marked() -> None:
    xs = np.linspace(-3, 3, 61)
    fig = F.activation_figure(label="gelu", xs=xs, phi=xs, dphi=np.ones_like(xs),
                              saturation=[(-0.78, -0.73)], eps=0.01, sup=1.0, inf=0.0,
                              narrow=[-0.75])
    assert "thin saturated interval (φ′ crosses 0)" in _texts(fig)
    plain = F.activation_figure(label="tanh", xs=xs, phi=xs, dphi=np.ones_like(xs),
                                saturation=[], eps=0.01, sup=1.0, inf=0.0)
    assert not any("thin" in t for t in _texts(plain))


def test_depth_figure_draws_and_names_the_finite_width_prediction() -> None:
    """With a finite-width profile the figure has a thin line per series and says which line
    is which; without one it keeps the one-kind legend."""
    layers = np.arange(5)
    th, fw = 0.5 ** (4 - layers), 0.6 ** (4 - layers)
    with_fw = F.depth_figure(panels=[("tanh", [F.DepthSeries("xavier", layers, th,
                                                             finite=fw)])],
                             ci_label="99% CI", ylabel="g")
    texts = _texts(with_fw)
    assert "lines: mean field" in texts and "thin: finite width" in texts
    drawn = [line.get_ydata() for line in with_fw.axes[0].get_lines()]
    assert any(np.allclose(y, fw) for y in drawn) and any(np.allclose(y, th) for y in drawn)
    without = F.depth_figure(panels=[("tanh", [F.DepthSeries("xavier", layers, th)])],
                             ci_label="99% CI", ylabel="g")
    assert "lines: theory" in _texts(without) and "thin: finite width" not in _texts(without)
