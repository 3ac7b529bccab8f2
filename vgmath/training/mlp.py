r"""A fully connected network built from a vgmath description, trained with plain SGD in NumPy.

The trained model is the description itself plus what a classifier needs:

* **plain and batch-normalised chains**: the chain's layers l = 1..L with widths
  n_0 = the data's dimension, n_1..n_L as described (``h^l = W^l x^{l-1} + b^l``,
  ``x^l = φ(ĥ^l)``, ĥ the batch-normalised h when ``norm="batch"``), then a linear read-out
  ``z = V x^L + c`` to the classes;
* **residual chains** (equal widths n): one input layer ``x^0 = φ(W^0 u + b^0)`` mapping the
  data u to width n (a residual block cannot change the width), then the chain's blocks
  ``x^l = x^{l-1} + α F(x^{l-1})`` (:class:`vgmath.Residual`), then the read-out.

Every weight is drawn with the description's init rule at its own fan-in/fan-out
(:meth:`vgmath.Init.sample`), biases from N(0, σ_b²); the read-out uses the same rule with
σ_b² biases. Batch norm's scale γ and shift β start at 1 and 0 (vgmath's convention at
initialisation) and are trained. The loss is the mean softmax cross-entropy; training is
mini-batch SGD with a constant learning rate (no momentum, no weight decay), so the per-layer
update is exactly −η ∂E/∂W^l and the relative weight change measures what each layer learnt.

All arithmetic is float64 in NumPy with a fixed order of operations, so a run is a
deterministic function of its seed (same numbers on one core or many when BLAS is
single-threaded, as the study's worker processes are).

Measured per dense layer l (the chain's layers, the input layer of a residual chain as l = 0,
the read-out as the last index):

* ``rel_change`` = ‖W^l_t − W^l_0‖_F / ‖W^l_0‖_F, the cumulative relative weight change;
* ``grad_w2`` = mean over entries of (∂E/∂W^l)², E the mean loss of the current mini-batch;
* ``grad_h2`` = mean over the batch and units of (∂e/∂h^l)², e the per-example loss (the
  quantity vgmath's theory predicts through depth, at initialisation).

References: Schoenholz et al. 2017, arXiv:1611.01232 (trainability and ξ_c); Glorot & Bengio
2010 (early layers of deep sigmoid networks learn slowly); Ioffe & Szegedy 2015 (batch norm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InvalidArgumentError
from ..network.description import Chain

__all__ = ["MLP", "Batch", "softmax_cross_entropy"]

FloatArray = np.ndarray


@dataclass
class _Dense:
    W: FloatArray
    b: FloatArray
    W0: FloatArray = field(init=False)
    norm0: float = field(init=False)

    def __post_init__(self) -> None:
        self.W0 = self.W.copy()
        self.norm0 = float(np.linalg.norm(self.W0))


@dataclass
class _BN:
    gamma: FloatArray
    beta: FloatArray
    eps: float


@dataclass
class Batch:
    """The per-step record of one forward/backward pass (what the study logs)."""

    loss: float
    accuracy: float
    grad_w2: FloatArray
    grad_h2: FloatArray


def softmax_cross_entropy(
    logits: FloatArray, labels: np.ndarray
) -> tuple[float, FloatArray, float]:
    """Mean cross-entropy, its gradient w.r.t. the logits, and the accuracy."""
    z = logits - logits.max(axis=1, keepdims=True)
    logsum = np.log(np.exp(z).sum(axis=1))
    logp = z - logsum[:, None]
    B = logits.shape[0]
    loss = float(-logp[np.arange(B), labels].mean())
    p = np.exp(logp)
    p[np.arange(B), labels] -= 1.0
    acc = float((logits.argmax(axis=1) == labels).mean())
    return loss, p / B, acc


class MLP:
    """The trainable network of a :class:`vgmath.Chain` (see the module docstring)."""

    def __init__(self, chain: Chain, n_inputs: int, n_classes: int, rng: np.random.Generator):
        if not isinstance(chain, Chain):
            raise InvalidArgumentError("chain", chain, "expected a vgmath.Chain")
        for name, v in (("n_inputs", n_inputs), ("n_classes", n_classes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidArgumentError(name, v, "must be a positive integer")
        self.chain = chain
        self.act = chain.act
        self.residual = chain.residual
        self.alpha = float(chain.residual.alpha) if chain.residual is not None else 0.0
        self.bn = chain.norm == "batch"
        self.eps = float(chain.norm_eps)
        sb = math.sqrt(float(chain.sigma_b2))
        rule = chain.rule

        def dense(n_in: int, n_out: int) -> _Dense:
            W = rule.sample(rng, n_in, n_out)
            b = rng.standard_normal(n_out) * sb
            return _Dense(np.ascontiguousarray(W), b)

        ws = chain.widths
        self.layers: list[_Dense] = []
        self.norms: list[_BN] = []
        if self.residual is None:
            sizes = [n_inputs, *ws[1:]]
            for i in range(chain.depth):
                self.layers.append(dense(sizes[i], sizes[i + 1]))
                if self.bn:
                    self.norms.append(_BN(np.ones(sizes[i + 1]), np.zeros(sizes[i + 1]), self.eps))
        else:
            n = ws[0]
            self.layers.append(dense(n_inputs, n))  # the input layer, l = 0
            k = self.residual.branch_depth
            for _ in range(chain.depth):
                for _ in range(k):
                    self.layers.append(dense(n, n))
        self.readout = dense(ws[-1], n_classes)

    # ------------------------------------------------------------------ passes
    @property
    def dense_layers(self) -> list[_Dense]:
        """Every dense layer in order, the read-out last."""
        return [*self.layers, self.readout]

    def _affine(self, layer: _Dense, x: FloatArray) -> FloatArray:
        return x @ layer.W.T + layer.b

    def forward(self, x: FloatArray) -> tuple[FloatArray, list[Any]]:
        """Logits and the cache the backward pass needs."""
        caches: list[Any] = []
        if self.residual is None:
            for i, layer in enumerate(self.layers):
                h = self._affine(layer, x)
                if self.bn:
                    nb = self.norms[i]
                    mu = h.mean(axis=0)
                    var = h.var(axis=0)
                    inv = 1.0 / np.sqrt(var + nb.eps)
                    hat = (h - mu) * inv
                    u = nb.gamma * hat + nb.beta
                    caches.append((x, h, hat, inv, u))
                    x = self.act(u)
                else:
                    caches.append((x, h))
                    x = self.act(h)
        else:
            first = self.layers[0]
            h = self._affine(first, x)
            caches.append((x, h))
            x = self.act(h)
            k = self.residual.branch_depth
            pre = self.residual.variant == "pre"
            for blk in range(self.chain.depth):
                block_in = x
                y = x
                inner = []
                for j in range(k):
                    layer = self.layers[1 + blk * k + j]
                    if pre:
                        a = self.act(y)
                        h = self._affine(layer, a)
                        inner.append((y, a, h))
                        y = h
                    else:
                        h = self._affine(layer, y)
                        inner.append((y, h))
                        y = self.act(h)
                caches.append(inner)
                x = block_in + self.alpha * y
        logits = self._affine(self.readout, x)
        caches.append(x)
        return logits, caches

    def backward(self, d_logits: FloatArray, caches: list[Any]) -> tuple[
        list[tuple[FloatArray, FloatArray]], list[tuple[FloatArray, FloatArray]], FloatArray
    ]:
        """Gradients (dW, db) of every dense layer (read-out last), of every BN (dγ, dβ), and
        the per-layer mean of (∂e/∂h)² (per-example loss e; read-out: its logits)."""
        B = d_logits.shape[0]
        xL = caches[-1]
        grads: list[Any] = [None] * (len(self.layers) + 1)
        bn_grads: list[Any] = [None] * len(self.norms)
        h2 = np.zeros(len(self.layers) + 1)
        grads[-1] = (d_logits.T @ xL, d_logits.sum(axis=0))
        h2[-1] = float(np.mean((d_logits * B) ** 2))
        g = d_logits @ self.readout.W
        if self.residual is None:
            for i in range(len(self.layers) - 1, -1, -1):
                layer = self.layers[i]
                if self.bn:
                    x, h, hat, inv, u = caches[i]
                    nb = self.norms[i]
                    du = g * self.act.grad(u)
                    bn_grads[i] = ((du * hat).sum(axis=0), du.sum(axis=0))
                    dhat = du * nb.gamma
                    dh = inv * (dhat - dhat.mean(axis=0) - hat * (dhat * hat).mean(axis=0))
                else:
                    x, h = caches[i]
                    dh = g * self.act.grad(h)
                grads[i] = (dh.T @ x, dh.sum(axis=0))
                h2[i] = float(np.mean((dh * B) ** 2))
                g = dh @ layer.W
        else:
            k = self.residual.branch_depth
            pre = self.residual.variant == "pre"
            for blk in range(self.chain.depth - 1, -1, -1):
                inner = caches[1 + blk]
                gy = self.alpha * g
                for j in range(k - 1, -1, -1):
                    idx = 1 + blk * k + j
                    layer = self.layers[idx]
                    if pre:
                        y, a, h = inner[j]
                        dh = gy
                        grads[idx] = (dh.T @ a, dh.sum(axis=0))
                        h2[idx] = float(np.mean((dh * B) ** 2))
                        gy = (dh @ layer.W) * self.act.grad(y)
                    else:
                        y, h = inner[j]
                        dh = gy * self.act.grad(h)
                        grads[idx] = (dh.T @ y, dh.sum(axis=0))
                        h2[idx] = float(np.mean((dh * B) ** 2))
                        gy = dh @ layer.W
                g = g + gy
            x, h = caches[0]
            dh = g * self.act.grad(h)
            grads[0] = (dh.T @ x, dh.sum(axis=0))
            h2[0] = float(np.mean((dh * B) ** 2))
        return grads, bn_grads, h2

    # ------------------------------------------------------------------ training
    def step(self, x: FloatArray, labels: np.ndarray, lr: float) -> Batch:
        """One SGD step on a mini-batch; returns the batch's loss, accuracy and gradients."""
        logits, caches = self.forward(x)
        loss, d_logits, acc = softmax_cross_entropy(logits, labels)
        grads, bn_grads, h2 = self.backward(d_logits, caches)
        gw2 = np.array([float(np.mean(dW**2)) for dW, _ in grads])
        for layer, (dW, db) in zip(self.dense_layers, grads, strict=True):
            layer.W -= lr * dW
            layer.b -= lr * db
        for nb, (dg, dbeta) in zip(self.norms, bn_grads, strict=True):
            nb.gamma -= lr * dg
            nb.beta -= lr * dbeta
        return Batch(loss, acc, gw2, h2)

    def evaluate(self, x: FloatArray, labels: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) on a data set, in batch mode (BN uses the set's statistics)."""
        logits, _ = self.forward(x)
        loss, _, acc = softmax_cross_entropy(logits, labels)
        return loss, acc

    def relative_changes(self) -> FloatArray:
        """‖W_t − W_0‖_F / ‖W_0‖_F for every dense layer (read-out last)."""
        return np.array(
            [float(np.linalg.norm(d.W - d.W0)) / d.norm0 if d.norm0 > 0 else math.nan
             for d in self.dense_layers]
        )
