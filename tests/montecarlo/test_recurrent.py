"""Recurrent networks (vanilla RNN, LSTM, GRU) with shared weights: backpropagation through
time against finite differences, the LSTM cell path, the Pascanu et al. 2013 bound, the
mean-field limit of the vanilla RNN, and reproducibility.

Tolerances: finite differences use central differences with step 1e-6 in float64, whose
truncation error is O(h²·|φ‴|) ≈ 1e-12 and rounding error O(ε/h) ≈ 1e-10, so 1e-7 relative
is a safe bound. Monte Carlo comparisons are z or interval tests with standard errors from
the sample, Holm-controlled at family-wise level ALPHA.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import vgmath as vg
from vgmath import InvalidArgumentError
from vgmath.cli import main
from vgmath.montecarlo.recurrent import draw_parameters, forward, jacobians, state_vjp
from vgmath.verification.stats import holm, log_mean_test

ALPHA = 1e-3


def _net(cell: str, **kw):
    base = {"hidden": 5, "steps": 4, "input_size": 3, "sigma_b2": "1/2",
            "init": {"scheme": "custom", "sigma_w2": "3/2"}}
    if cell == "lstm":
        base["forget_bias"] = 1
    base.update(kw)
    return vg.Recurrent(cell, **base)


def _state_after(net, p, traj, t, h_t, c_t=None):
    """Re-run the steps t+1..T from a perturbed state (h_t, c_t); return h_T and c_T."""
    n = net.hidden
    h, c = h_t.copy(), (None if c_t is None else c_t.copy())
    for k in range(t + 1, net.steps + 1):
        xk = traj.x[k]
        gi = p.b_ih + (np.einsum("sij,sj->si", p.U, xk) if xk is not None else 0)
        gh = np.einsum("sij,sj->si", p.W, h) + p.b_hh
        sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
        if net.cell == "rnn":
            h = np.tanh(gi + gh)
        elif net.cell == "lstm":
            a = gi + gh
            i, f = sig(a[:, :n]), sig(a[:, n:2 * n])
            g, o = np.tanh(a[:, 2 * n:3 * n]), sig(a[:, 3 * n:])
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            r = sig(gi[:, :n] + gh[:, :n])
            z = sig(gi[:, n:2 * n] + gh[:, n:2 * n])
            nn = np.tanh(gi[:, 2 * n:] + r * gh[:, 2 * n:])
            h = (1 - z) * nn + z * h
    return h, c


def _setup(cell, seed=0, **kw):
    net = _net(cell, **kw)
    rng = np.random.default_rng(seed)
    p = draw_parameters(net, rng, 2)
    inputs = rng.standard_normal((2, net.steps, net.input_size)) if net.input_size else None
    return net, p, forward(net, p, inputs)


# --------------------------------------------------------------------------- calculus


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_full_jacobians_match_finite_differences(cell):
    net, p, traj = _setup(cell, h0_q="1/3")
    jac = jacobians(net, p, traj)
    h_step = 1e-6
    for t in (0, 2):
        c_t = traj.c[t] if cell == "lstm" else None
        fd = np.empty((2, net.hidden, net.hidden))
        for j in range(net.hidden):
            e = np.zeros(net.hidden)
            e[j] = h_step
            hp, _ = _state_after(net, p, traj, t, traj.h[t] + e, c_t)
            hm, _ = _state_after(net, p, traj, t, traj.h[t] - e, c_t)
            fd[:, :, j] = (hp - hm) / (2 * h_step)
        np.testing.assert_allclose(jac[t], fd, rtol=1e-7, atol=1e-9)


def test_lstm_cell_gradient_matches_finite_differences():
    net, p, traj = _setup("lstm", h0_q="1/3")
    t, n = 1, net.hidden
    gh = np.zeros((2, n, n))
    gc = np.zeros((2, n, n))
    # d c_T / d c_t by the VJP: push the identity into ∂/∂c_T, nothing into ∂/∂h_T
    gc_t = np.broadcast_to(np.eye(n), (2, n, n)).copy()
    gh_t = gh
    for k in range(net.steps, t, -1):
        gh_t, gc_t, _, _ = state_vjp(net, p, traj, k, gh_t, gc_t)
    fd = np.empty((2, n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1e-6
        _, cp = _state_after(net, p, traj, t, traj.h[t], traj.c[t] + e)
        _, cm = _state_after(net, p, traj, t, traj.h[t], traj.c[t] - e)
        fd[:, :, j] = (cp - cm) / 2e-6
    np.testing.assert_allclose(gc_t, fd, rtol=1e-7, atol=1e-9)
    assert gc.shape == gh.shape


def test_lstm_cell_path_is_the_product_of_forget_gates():
    """With W_hh = 0 (the paths through h switched off) c_k = f_k c_{k-1} + i_k g_k with gates
    depending on the inputs only, so ∂c_T/∂c_t = diag(∏_{k>t} f_k) exactly."""
    net, p, _ = _setup("lstm", steps=6)
    p.W[:] = 0.0
    rng = np.random.default_rng(5)
    traj = forward(net, p, rng.standard_normal((2, net.steps, net.input_size)))
    n, T = net.hidden, net.steps
    for t in (0, 3):
        gh = np.zeros((2, n, n))
        gc = np.broadcast_to(np.eye(n), (2, n, n)).copy()
        for k in range(T, t, -1):
            gh, gc, _, _ = state_vjp(net, p, traj, k, gh, gc)
        prod = np.prod([traj.gates[k][:, n:2 * n] for k in range(t + 1, T + 1)], axis=0)
        expected = np.einsum("si,ij->sij", prod, np.eye(n))
        np.testing.assert_allclose(gc, expected, rtol=1e-13, atol=0)
        assert not gh.any()  # no path from c_T back to h_t
        # independent check by finite differences of the forward pass
        for j in range(n):
            e = np.zeros(n)
            e[j] = 1e-6
            _, cp = _state_after(net, p, traj, t, traj.h[t], traj.c[t] + e)
            _, cm = _state_after(net, p, traj, t, traj.h[t], traj.c[t] - e)
            np.testing.assert_allclose((cp - cm)[:, j] / 2e-6, prod[:, j], rtol=1e-7)


@pytest.mark.slow
def test_forget_bias_keeps_the_lstm_cell_path_alive():
    """The simulated cell-path log gain per step is E[ln σ(a_f)], which the forget bias moves
    towards 0; compared with a contracting vanilla tanh RNN (‖W‖₂ = 0.9) over 40 steps."""
    T = 40
    lstm = vg.Recurrent("lstm", hidden=24, steps=T, forget_bias=3, init="xavier",
                        jacobian="vector")
    rnn = vg.Recurrent("rnn", activation="tanh", hidden=24, steps=T,
                       init={"scheme": "orthogonal", "gain": "9/10"}, jacobian="vector")
    s_lstm = vg.simulate(lstm, trials=60, seed=0)
    s_rnn = vg.simulate(rnn, trials=60, seed=0)
    cell = s_lstm.fields["ln_forget_product"][0] / T
    cell_se = s_lstm.fields["ln_forget_product_se"][0] / T
    # tanh path: ln‖∂h_T/∂h_0‖/T ≤ ln 0.9 (the Pascanu bound with γ = 1)
    van = s_rnn.fields["ln_jacobian_norm"][0] / T
    assert van <= math.log(0.9) + 1e-12
    # ln σ(3) ≈ −0.0486 is the zero-input gain; the fluctuating a_f only lowers it (Jensen)
    assert cell <= math.log(1 / (1 + math.exp(-3))) + 4 * cell_se
    assert cell > van + 4 * cell_se  # the cell path decays far slower than the tanh RNN


# --------------------------------------------------------------------------- Pascanu bound


@pytest.mark.parametrize(
    ("act", "init", "h0_q", "inputs"),
    [
        ("tanh", "xavier", 1, 0),
        ("tanh", {"scheme": "custom", "sigma_w2": 4}, 1, 8),
        ("sigmoid", {"scheme": "custom", "sigma_w2": 16}, "1/4", 8),
        ("relu", {"scheme": "orthogonal", "gain": "11/10"}, 1, 0),
        ("tanh", {"scheme": "orthogonal", "gain": "9/10"}, "1/10000", 0),
    ],
)
def test_pascanu_bound_holds_on_every_network(act, init, h0_q, inputs):
    net = vg.Recurrent("rnn", activation=act, hidden=16, steps=15, init=init, h0_q=h0_q,
                       input_size=inputs, sigma_b2="1/10")
    sim = vg.simulate(net, trials=40, seed=1)
    lj, lb = sim.samples["ln_jacobian_norm"], sim.samples["ln_pascanu_bound"]
    gamma = {"tanh": 1.0, "sigmoid": 0.25, "relu": 1.0}[act]
    k = np.arange(net.steps, -1, -1)
    np.testing.assert_allclose(
        lb, k * (math.log(gamma) + sim.samples["ln_recurrent_norm"][:, None]), rtol=1e-12
    )
    # ‖J‖₂ ≤ (γ‖W‖₂)^(T−t) on every network and step (1e-9 allows float64 rounding of the
    # SVDs and of T−t matrix products)
    assert (lj <= lb + 1e-9 * (k + 1)).all()


def test_a_wrong_bound_is_caught():
    """γ = 1/4 (the sigmoid value) is not a bound for tanh: some network violates it."""
    net = vg.Recurrent("rnn", activation="tanh", hidden=16, steps=10,
                       init={"scheme": "orthogonal", "gain": "9/10"}, h0_q="1/100")
    sim = vg.simulate(net, trials=10, seed=0)
    wrong = sim.samples["ln_pascanu_bound"] + np.arange(10, -1, -1) * math.log(0.25)
    assert (sim.samples["ln_jacobian_norm"][:, :-1] > wrong[:, :-1]).all()


def test_pascanu_bound_is_tight_for_small_states_and_orthogonal_weights():
    """W = s·Q (Q Haar orthogonal) and tiny pre-activations: ∂h_T/∂h_t ≈ s^(T−t) Q^(T−t), so
    the bound (s)^(T−t) is attained up to the factor ∏ 1/tanh′(a_k) ≈ 1 + O(q). Measured
    (n = 32, T = 20, s = 0.9, h0_q = 1e-4): bound/‖J‖ ≤ 1.0003 over 20 steps; with h0_q = 1 the
    median factor is ≈ 1.5 (≈ 1.02 per step)."""
    net = vg.Recurrent("rnn", activation="tanh", hidden=32, steps=20,
                       init={"scheme": "orthogonal", "gain": "9/10"}, h0_q="1/10000")
    sim = vg.simulate(net, trials=30, seed=0)
    ratio = np.exp(sim.samples["ln_pascanu_bound"] - sim.samples["ln_jacobian_norm"])
    assert (ratio >= 1.0 - 1e-12).all() and ratio.max() <= 1.001
    loose = vg.simulate(net.replace(h0_q=1), trials=30, seed=0)
    r2 = np.exp(loose.samples["ln_pascanu_bound"] - loose.samples["ln_jacobian_norm"])[:, 0]
    assert np.median(r2) > 1.1  # large states: tanh′ < 1 and the bound loosens


def test_vector_action_never_exceeds_the_spectral_norm():
    net = vg.Recurrent("gru", hidden=12, steps=8, input_size=4)
    spec = vg.simulate(net.replace(jacobian="spectral"), trials=20, seed=3)
    vec = vg.simulate(net.replace(jacobian="vector"), trials=20, seed=3)
    np.testing.assert_array_equal(spec.samples["ln_q"], vec.samples["ln_q"])  # same nets
    assert (vec.samples["ln_jacobian_norm"] <= spec.samples["ln_jacobian_norm"] + 1e-12).all()
    assert spec.metadata()["jacobian_norm"].startswith("exact")


# --------------------------------------------------------------------------- mean field


@pytest.mark.slow
@pytest.mark.parametrize("inputs", [0, 64])
def test_vanilla_rnn_follows_the_mean_field_chain(inputs):
    """Chen, Pennington & Schoenholz 2018 (arXiv:1806.05394): a vanilla RNN at large width has
    the q/χ recursions of a chain with the same φ and weight variance (inputs act as a fresh
    bias). Tied weights add finite-width corrections of relative order t/n for q[t] and
    (T − t)/n for the gradient (each reuse of W correlates it with its own past outputs by
    O(1/n)); that is the allowed band (constant 1; the measured deviations at n = 64 are
    2–4 times smaller). Interval tests on the log of the mean (Hall's method), Holm."""
    n, T = 64, 8
    net = vg.Recurrent("rnn", activation="tanh", hidden=n, steps=T, input_size=inputs,
                       init={"scheme": "custom", "sigma_w2": "3/2"}, sigma_b2="1/20",
                       jacobian="vector")
    sim = vg.simulate(net, trials=400, seed=11)
    pred = vg.predict(net.mean_field_chain())
    t = np.arange(T + 1)
    q = log_mean_test(sim.samples["ln_q"][:, 1:], np.log(pred.q[1:]),
                      band=np.log1p(t[1:] / n))
    g = log_mean_test(sim.samples["ln_grad_second_moment"][:, :-1],
                      np.log(pred.grad_second_moment[:-1]), band=np.log1p((T - t[:-1]) / n))
    assert (holm(np.concatenate([q.p_value, g.p_value])) > ALPHA).all()
    # quality: a 20 % error in σ_w² is far outside the band
    wrong = vg.predict(net.mean_field_chain().replace(init={"scheme": "custom",
                                                            "sigma_w2": "9/5"}))
    g2 = log_mean_test(sim.samples["ln_grad_second_moment"][:, :-1],
                       np.log(wrong.grad_second_moment[:-1]),
                       band=np.log1p((T - t[:-1]) / n))
    assert (holm(g2.p_value) <= ALPHA).any()


def test_mean_field_chain_is_only_for_vanilla_cells():
    with pytest.raises(InvalidArgumentError, match="vanilla"):
        vg.Recurrent("lstm").mean_field_chain()
    with pytest.raises(InvalidArgumentError, match="h0_q"):
        vg.Recurrent("rnn", h0_q=0).mean_field_chain()
    chain = vg.Recurrent("rnn", hidden=10, input_size=5, input_q=2,
                         input_init={"scheme": "custom", "sigma_w2": 3}).mean_field_chain()
    assert chain.sigma_b2 == 6 and chain.depth == 20  # σ_u² · input_q = 3 · 2


# --------------------------------------------------------------------------- plumbing


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_seeded_runs_reproduce_bit_for_bit(cell):
    net = vg.Recurrent(cell, hidden=8, steps=5, input_size=3)
    a = vg.simulate(net, trials=9, seed=4, block_size=4)
    b = vg.simulate(net, trials=9, seed=4, block_size=4, chunk_size=8)
    c = vg.simulate(net, trials=9, seed=5, block_size=4)
    for key in ("ln_grad_second_moment", "ln_jacobian_norm", "ln_param_grad_norm"):
        np.testing.assert_array_equal(a.samples[key], b.samples[key])
    assert not np.array_equal(a.samples["ln_q"], c.samples["ln_q"])
    d = a.to_dict()
    assert d["chain"]["kind"] == "recurrent" and d["method"] == "dense"
    assert "ln_jacobian_norm" in d["fields"]


def test_fields_follow_the_shared_conventions():
    net = vg.Recurrent("lstm", hidden=6, steps=5, h0_q=0, forget_bias=1)
    sim = vg.simulate(net, trials=12, seed=0)
    assert sim.depth == 5 and sim.q.shape == (6,)
    assert sim.grad_second_moment[5] == pytest.approx(sim.samples["grad_second_moment"][:, 5]
                                                      .mean())
    assert np.isneginf(sim.samples["ln_q"][:, 0]).all()  # h_0 = 0
    assert np.isnan(sim.grad_preact_second_moment[0])
    assert sim.fields["ln_forget_product"][5] == 0.0
    # the zero-input forget gate is σ(1 + W h): its log gain per step is below 0
    assert (np.diff(sim.fields["ln_forget_product"]) > 0).all()


def test_bad_recurrent_arguments():
    with pytest.raises(InvalidArgumentError, match="cell"):
        vg.Recurrent("transformer")
    with pytest.raises(InvalidArgumentError, match="tanh"):
        vg.Recurrent("lstm", activation="relu")
    with pytest.raises(InvalidArgumentError, match="forget_bias"):
        vg.Recurrent("gru", forget_bias=1)
    with pytest.raises(InvalidArgumentError, match="jacobian"):
        vg.Recurrent("rnn", jacobian="frobenius")
    with pytest.raises(InvalidArgumentError, match="dense"):
        vg.simulate(vg.Recurrent("rnn", hidden=4, steps=2), trials=2, seed=0,
                    method="conditioned")


def test_cli_recurrent_and_errors(capsys):
    assert main(["simulate", "tanh", "--arch", "rnn", "--init", "orthogonal", "--steps", "6",
                 "--width", "8", "--trials", "6"]) == 0
    out = capsys.readouterr().out
    assert "Pascanu bound" in out and "holds on every network: yes" in out
    assert main(["simulate", "tanh", "--arch", "lstm", "--steps", "4", "--width", "6",
                 "--trials", "4"]) == 0
    assert "cell path" in capsys.readouterr().out
    assert main(["simulate", "tanh", "--arch", "rnn", "--alpha", "1", "--trials", "2"]) == 2
    assert "--alpha" in capsys.readouterr().err


def test_ks_sanity_of_seeds():
    """Two seeds give samples from one law (two-sample KS on ln‖∂h_T/∂h_0‖)."""
    net = vg.Recurrent("rnn", hidden=8, steps=6)
    a = vg.simulate(net, trials=80, seed=1).samples["ln_jacobian_norm"][:, 0]
    b = vg.simulate(net, trials=80, seed=2).samples["ln_jacobian_norm"][:, 0]
    assert stats.ks_2samp(a, b).pvalue > ALPHA


def test_log_moments_of_the_jacobian_norm_against_the_lag():
    """mean ln‖∂h_T/∂h_t‖ is ≈ (T − t) ln s for W = s·Q and small states (the tight case of
    the Pascanu bound); log_moments reports its mean and variance over networks."""
    from vgmath.montecarlo.recurrent import log_moments

    T, s = 12, 0.8
    net = vg.Recurrent("rnn", activation="tanh", hidden=16, steps=T,
                       init={"scheme": "orthogonal", "gain": "4/5"}, h0_q="1/10000")
    sim = vg.simulate(net, trials=20, seed=0)
    lm = log_moments(sim.samples["ln_jacobian_norm"])
    lag = np.arange(T, -1, -1)
    np.testing.assert_allclose(lm["mean"], sim.fields["ln_jacobian_norm"], rtol=1e-12)
    np.testing.assert_allclose(lm["mean"], lag * math.log(s), atol=1e-3)
    assert (lm["var"] >= 0).all() and lm["var"][-1] == 0.0
