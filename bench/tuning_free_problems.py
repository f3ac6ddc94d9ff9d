"""Small supervised problems for ``bench/tuning_free.py``, made in numpy.

Each problem has fixed data (seed 0); the benchmark's seeds vary the
initialisation and the minibatch order. Classification losses are
cross-entropies, regression losses mean squared errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Problem(NamedTuple):
  """A supervised problem: data, an initialiser and a loss."""

  name: str
  kind: str  # "regression" or "classification"
  init: Callable[[jax.Array], Any]
  loss: Callable[[Any, tuple[jax.Array, jax.Array]], jax.Array]
  train: tuple[jax.Array, jax.Array]
  val: tuple[jax.Array, jax.Array]


def _dense(key, d_in, d_out, scale=1.0):
  w = jax.random.normal(key, (d_in, d_out)) * scale / np.sqrt(d_in)
  return {"w": w, "b": jnp.zeros((d_out,))}


def _mlp_init(key, dims):
  keys = jax.random.split(key, len(dims) - 1)
  return [_dense(k, a, b) for k, a, b in zip(keys, dims[:-1], dims[1:],
                                             strict=True)]


def _mlp_apply(params, x, act):
  for layer in params[:-1]:
    x = act(x @ layer["w"] + layer["b"])
  return x @ params[-1]["w"] + params[-1]["b"]


def _xent(logits, y):
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def _mse(pred, y):
  return jnp.mean((pred - y) ** 2)


def _split(x, y, n_val):
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y)
  if jnp.issubdtype(y.dtype, jnp.floating):
    y = y.astype(jnp.float32)
  return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def _mlp_problem(name, kind, x, y, dims, act, n_val=512):
  out = _mse if kind == "regression" else _xent

  def loss(params, batch):
    pred = _mlp_apply(params, batch[0], act)
    return out(pred[:, 0] if kind == "regression" else pred, batch[1])

  train, val = _split(x, y, n_val)
  return Problem(name, kind, lambda k: _mlp_init(k, dims), loss, train, val)


def mlp_regression(n=2560) -> Problem:
  """tanh MLP 8-64-64-1 on a smooth nonlinear function plus noise."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 8))
  a, b = rng.normal(size=(2, 8)) / np.sqrt(8)
  y = np.sin(2 * x @ a) + 0.5 * np.cos(3 * x @ b) + 0.1 * rng.normal(size=n)
  return _mlp_problem("mlp_regression", "regression", x, y, (8, 64, 64, 1),
                      jnp.tanh)


def spirals(n=2560) -> Problem:
  """ReLU MLP 2-64-64-3 on three interleaved noisy spirals."""
  rng = np.random.default_rng(0)
  y = rng.integers(0, 3, size=n)
  r = rng.uniform(0.1, 1.0, size=n)
  theta = 3 * np.pi * r + 2 * np.pi * y / 3 + 0.2 * rng.normal(size=n)
  x = np.stack([r * np.cos(theta), r * np.sin(theta)], 1) * 2
  return _mlp_problem("spirals_mlp", "classification", x, y, (2, 64, 64, 3),
                      jax.nn.relu)


def teacher_classification(n=2560) -> Problem:
  """ReLU MLP 20-64-5 on labels of a random teacher network."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 20))
  w1, w2 = rng.normal(size=(20, 32)), rng.normal(size=(32, 5))
  y = np.argmax(np.tanh(x @ w1 / np.sqrt(20)) @ w2, axis=1)
  return _mlp_problem("teacher_mlp", "classification", x, y, (20, 64, 5),
                      jax.nn.relu)


def _rotated(rng, n, d, cond):
  q, _ = np.linalg.qr(rng.normal(size=(d, d)))
  scales = np.logspace(0, -np.log10(np.sqrt(cond)), d)
  return rng.normal(size=(n, d)) * scales @ q


def illcond_linear(n=2560) -> Problem:
  """Linear least squares, rotated features, Hessian condition 1e4."""
  rng = np.random.default_rng(0)
  x = _rotated(rng, n, 20, 1e4)
  w = rng.normal(size=20) * 3
  y = x @ w + 0.05 * rng.normal(size=n)
  return _mlp_problem("illcond_linear", "regression", x, y, (20, 1),
                      jnp.tanh)


def illcond_logistic(n=2560) -> Problem:
  """Logistic regression, rotated features, condition 1e3."""
  rng = np.random.default_rng(0)
  x = _rotated(rng, n, 20, 1e3) * 3
  w = rng.normal(size=20)
  y = (x @ w + 0.3 * rng.normal(size=n) > 0).astype(np.int32)
  return _mlp_problem("illcond_logistic", "classification", x, y, (20, 2),
                      jnp.tanh)


def _bars(rng, n):
  """8x8 images with one bar of 4 orientations, noise; label = orientation."""
  y = rng.integers(0, 4, size=n)
  img = rng.normal(size=(n, 8, 8))
  pos = rng.integers(1, 7, size=n)
  idx = np.arange(8)
  for i in range(n):
    p = pos[i]
    if y[i] == 0:
      img[i, p, :] += 1.0
    elif y[i] == 1:
      img[i, :, p] += 1.0
    elif y[i] == 2:
      img[i, idx, idx] += 1.0
    else:
      img[i, idx, 7 - idx] += 1.0
  return img[..., None], y


def conv_classification(n=2560) -> Problem:
  """Small conv net (3x3x8, 3x3x16 stride 2, mean pool) on oriented bars."""
  x, y = _bars(np.random.default_rng(0), n)

  def init(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {"c1": jax.random.normal(k1, (3, 3, 1, 8)) / 3.0,
            "c2": jax.random.normal(k2, (3, 3, 8, 16)) / np.sqrt(72),
            "out": _dense(k3, 16, 4)}

  def conv(x, w, stride):
    return jax.lax.conv_general_dilated(
        x, w, (stride, stride), "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  def loss(params, batch):
    h = jax.nn.relu(conv(batch[0], params["c1"], 1))
    h = jax.nn.relu(conv(h, params["c2"], 2)).mean(axis=(1, 2))
    return _xent(h @ params["out"]["w"] + params["out"]["b"], batch[1])

  train, val = _split(x, y, 512)
  return Problem("conv_bars", "classification", init, loss, train, val)


def _rnn_problem(name, kind, x, y, hidden, n_out):
  d_in = x.shape[-1]

  def init(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return {"wx": jax.random.normal(k1, (d_in, hidden)) / np.sqrt(d_in),
            "wh": jax.random.normal(k2, (hidden, hidden)) * 0.9
            / np.sqrt(hidden),
            "b": jnp.zeros((hidden,)), "out": _dense(k3, hidden, n_out)}

  def loss(params, batch):
    def cell(h, xt):
      return jnp.tanh(xt @ params["wx"] + h @ params["wh"] + params["b"]), None

    xs = jnp.swapaxes(batch[0], 0, 1)
    h0 = jnp.zeros((xs.shape[1], hidden))
    h, _ = jax.lax.scan(cell, h0, xs)
    pred = h @ params["out"]["w"] + params["out"]["b"]
    if kind == "regression":
      return _mse(pred[:, 0], batch[1])
    return _xent(pred, batch[1])

  train, val = _split(x, y, 512)
  return Problem(name, kind, init, loss, train, val)


def rnn_classification(n=2560) -> Problem:
  """tanh RNN (32 units, 12 steps): is the sum of the first 4 inputs > 0."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 12, 2))
  y = (x[:, :4, 0].sum(1) > 0).astype(np.int32)
  return _rnn_problem("rnn_classification", "classification", x, y, 32, 2)


def rnn_regression(n=2560) -> Problem:
  """tanh RNN (32 units, 10 steps): a decayed sum of input products."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 10, 2))
  decay = 0.8 ** np.arange(10)[::-1]
  y = (x[:, :, 0] * np.roll(x[:, :, 1], 1, axis=1) * decay).sum(1) / 2
  return _rnn_problem("rnn_regression", "regression", x, y, 32, 1)


def all_problems() -> list[Problem]:
  """The benchmark's eight problems, in a fixed order."""
  return [mlp_regression(), spirals(), teacher_classification(),
          illcond_linear(), illcond_logistic(), conv_classification(),
          rnn_classification(), rnn_regression()]
