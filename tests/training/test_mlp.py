"""The NumPy trainer: exact gradients (finite differences, PyTorch autograd), the built network
matches its description, and SGD is the textbook update."""

from __future__ import annotations

import numpy as np
import pytest

import vgmath as vg
from vgmath.training.mlp import MLP, softmax_cross_entropy

pytest.importorskip("sklearn", reason="training studies need: pip install 'vgmath[training]'")

CHAINS = {
    "plain": lambda: vg.Chain("tanh", init="xavier", depth=3, width=[5, 4, 3, 4], sigma_b2=0.1),
    "bn": lambda: vg.Chain("sigmoid", init="xavier", depth=2, width=4, norm="batch", batch=6),
    "post1": lambda: vg.Chain("softplus", init="he", depth=2, width=4,
                              residual=vg.Residual(alpha="1/2")),
    "pre2": lambda: vg.Chain("gelu", init="he", depth=2, width=4,
                             residual=vg.Residual(alpha=1, branch_depth=2, variant="pre"),
                             sigma_b2=0.1),
}


def _loss(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    logits, _ = model.forward(x)
    return softmax_cross_entropy(logits, y)[0]


def _params(model: MLP) -> list[np.ndarray]:
    out = []
    for d in model.dense_layers:
        out += [d.W, d.b]
    for nb in model.norms:
        out += [nb.gamma, nb.beta]
    return out


@pytest.mark.parametrize("kind", sorted(CHAINS))
def test_gradients_match_central_differences(kind: str) -> None:
    """Every parameter's gradient against central differences with h = 1e-6: the truncation
    error is O(h²)·|f‴| ≈ 1e-12 and the rounding error ≈ ε·|f|/h ≈ 1e-10, so agreement to
    1e-6 relative (of the largest gradient) is loose by 10^4 and a wrong backward fails it.
    Parameters with no effect (biases before batch norm) have a zero gradient; there the
    difference is pure rounding, bounded by ~4·ε·|E|/h ≈ 2e-9, hence the absolute 1e-8."""
    rng = np.random.default_rng(0)
    model = MLP(CHAINS[kind](), 5, 3, rng)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    logits, caches = model.forward(x)
    _, d_logits, _ = softmax_cross_entropy(logits, y)
    grads, bn_grads, _ = model.backward(d_logits, caches)
    analytic = [g for pair in grads for g in pair] + [g for pair in bn_grads for g in pair]
    h = 1e-6
    for p, g in zip(_params(model), analytic, strict=True):
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + h
            up = _loss(model, x, y)
            p[idx] = old - h
            down = _loss(model, x, y)
            p[idx] = old
            num[idx] = (up - down) / (2 * h)
        assert np.abs(num - g).max() <= 1e-6 * np.abs(num).max() + 1e-8, kind


@pytest.mark.quality
def test_a_wrong_backward_is_caught() -> None:
    """Dropping batch norm's centring term from the backward pass breaks the finite-difference
    agreement (the check above can fail)."""
    rng = np.random.default_rng(1)
    model = MLP(CHAINS["bn"](), 5, 3, rng)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    logits, caches = model.forward(x)
    _, d_logits, _ = softmax_cross_entropy(logits, y)
    grads, _, _ = model.backward(d_logits, caches)
    # the mutant: dh = inv * dhat (no centring) in the first layer
    xin, _, _, inv, u = caches[0]
    g_next = d_logits @ model.readout.W
    for i in range(len(model.layers) - 1, 0, -1):
        _, _, hat_i, inv_i, u_i = caches[i]
        du = g_next * model.act.grad(u_i)
        dhat = du * model.norms[i].gamma
        dh = inv_i * (dhat - dhat.mean(axis=0) - hat_i * (dhat * hat_i).mean(axis=0))
        g_next = dh @ model.layers[i].W
    du = g_next * model.act.grad(u)
    wrong = (inv * du * model.norms[0].gamma).T @ xin
    assert not np.allclose(wrong, grads[0][0], rtol=1e-3, atol=1e-8)


def test_weights_follow_the_description() -> None:
    """Layer widths, biases and the init rule's variance: the sample variance of 1.1e5 He
    weights is within 4 standard errors (SE = v·√(2/N) for Gaussian entries) of 2/fan_in."""
    chain = vg.Chain("relu", init="he", depth=3, width=[64, 300, 300, 300], sigma_b2=0)
    model = MLP(chain, 64, 10, np.random.default_rng(2))
    shapes = [d.W.shape for d in model.dense_layers]
    assert shapes == [(300, 64), (300, 300), (300, 300), (10, 300)]
    w = np.concatenate([d.W.ravel() for d in model.layers[1:]])
    v = 2 / 300
    assert abs(w.var() - v) <= 4 * v * np.sqrt(2 / w.size)
    assert all(np.all(d.b == 0) for d in model.dense_layers)


def test_sgd_step_is_the_textbook_update() -> None:
    rng = np.random.default_rng(3)
    model = MLP(CHAINS["plain"](), 5, 3, rng)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    before = [p.copy() for p in _params(model)]
    logits, caches = model.forward(x)
    _, d_logits, _ = softmax_cross_entropy(logits, y)
    grads, _, _ = model.backward(d_logits, caches)
    model.step(x, y, 0.1)
    flat = [g for pair in grads for g in pair]
    for b, a, g in zip(before, _params(model), flat, strict=True):
        np.testing.assert_array_equal(a, b - 0.1 * g)


@pytest.mark.parametrize("kind", ["plain", "bn", "pre2"])
def test_one_sgd_step_agrees_with_pytorch(kind: str) -> None:
    """The same weights and batch through torch.nn and torch.optim.SGD: loss and updated
    weights agree to 1e-12 relative (float64 round-off over a few hundred operations)."""
    torch = pytest.importorskip("torch", reason="the PyTorch cross-check needs vgmath[torch]")
    rng = np.random.default_rng(4)
    chain = CHAINS[kind]()
    model = MLP(chain, 5, 3, rng)
    x = rng.standard_normal((6, 5))
    y = rng.integers(0, 3, 6)
    act = {"tanh": torch.tanh, "sigmoid": torch.sigmoid,
           "gelu": torch.nn.functional.gelu}[chain.act.name]
    params = [torch.tensor(p.copy(), requires_grad=True) for p in _params(model)]
    dense = [(params[2 * i], params[2 * i + 1]) for i in range(len(model.dense_layers))]
    bns = [(params[2 * len(dense) + 2 * i], params[2 * len(dense) + 2 * i + 1])
           for i in range(len(model.norms))]
    t = torch.tensor(x)
    if chain.residual is None:
        for i, (W, b) in enumerate(dense[:-1]):
            h = t @ W.T + b
            if bns:
                g, beta = bns[i]
                h = torch.nn.functional.batch_norm(h, None, None, g, beta, training=True,
                                                   eps=float(chain.norm_eps))
            t = act(h)
    else:
        W, b = dense[0]
        t = act(t @ W.T + b)
        k = chain.residual.branch_depth
        for blk in range(chain.depth):
            yb = t
            for j in range(k):
                W, b = dense[1 + blk * k + j]
                yb = act(yb) @ W.T + b
            t = t + float(chain.residual.alpha) * yb
    W, b = dense[-1]
    loss = torch.nn.functional.cross_entropy(t @ W.T + b, torch.tensor(y))
    opt = torch.optim.SGD(params, lr=0.05)
    opt.zero_grad()
    loss.backward()
    opt.step()
    ours = model.step(x, y, 0.05)
    ref = loss.detach().item()
    assert abs(ours.loss - ref) <= 1e-12 * abs(ref)
    for mine, theirs in zip(_params(model), params, strict=True):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
