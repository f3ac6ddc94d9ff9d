"""Flax recipes: a linen ``TrainState`` passes ``value_fn`` through
:mod:`bootstrap_meta.flax`; NNX's ``Optimizer.update`` forwards it as is.

Flax is a test-only dependency: ``import bootstrap_meta`` must not import
it. On a tiny regression (an MLP on ``sin(2 x₀) + x₁ / 2``) the learned SGD
learning rate moves and the loss falls, and one step equals, bit for bit,
the manual ``tx.update(..., value_fn=...)`` + ``optax.apply_updates``.
"""

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bootstrap_meta as bm

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")
train_state = pytest.importorskip("flax.training.train_state")
bm_flax = pytest.importorskip("bootstrap_meta.flax")

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_LR = 0.05
_BATCH = 32


def _data():
  x = jax.random.normal(jax.random.key(0), (8 * _BATCH, 2))
  y = jnp.sin(2.0 * x[:, 0]) + 0.5 * x[:, 1]
  return x.reshape(8, _BATCH, 2), y.reshape(8, _BATCH)


def _tx():
  return bm.meta_learned(
      optax.sgd, learned={"learning_rate": bm.positive(_LR)},
      method=bm.MG(K=1), meta_optimizer=optax.adam(1e-2))


class _LinenMLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(jnp.tanh(nn.Dense(16)(x)))[:, 0]


def _linen_loss(params, x, y):
  return jnp.mean(jnp.square(_LinenMLP().apply(params, x) - y))


def _linen_state(cls=None):
  xs, _ = _data()
  params = _LinenMLP().init(jax.random.key(1), xs[0])
  cls = cls or bm_flax.TrainState
  return cls.create(apply_fn=_LinenMLP().apply, params=params, tx=_tx())


def _lr(opt_state) -> float:
  return float(bm.find_meta_state(opt_state).hyperparams["learning_rate"])


def test_import_bootstrap_meta_does_not_import_flax():
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  out = subprocess.run(
      [sys.executable, "-c", "import sys, bootstrap_meta; "
       "print(sorted(m for m in sys.modules if m.split('.')[0] == 'flax'))"],
      env=env, capture_output=True, text=True, timeout=300, check=True)
  assert out.stdout.strip() == "[]"


def test_linen_train_state_learns_the_learning_rate_and_the_loss_falls():
  xs, ys = _data()

  @jax.jit
  def step(state, i):
    batch, nxt = i % 8, (i + 1) % 8  # Outer objective: the next batch.
    grads = jax.grad(_linen_loss)(state.params, xs[batch], ys[batch])
    return state.apply_gradients(
        grads=grads, value_fn=lambda p: _linen_loss(p, xs[nxt], ys[nxt]))

  state = _linen_state()
  full = lambda s: float(_linen_loss(s.params, xs.reshape(-1, 2),  # noqa: E731
                                     ys.reshape(-1)))
  before = full(state)
  for i in range(200):
    state = step(state, i)
  assert int(state.step) == 200
  assert int(bm.find_meta_state(state.opt_state).num_skipped) == 0
  assert full(state) < 0.5 * before
  assert abs(_lr(state.opt_state) - _LR) > 1e-3  # It moved.


def test_linen_step_equals_manual_update_exactly():
  xs, ys = _data()
  state = _linen_state()
  grads = jax.grad(_linen_loss)(state.params, xs[0], ys[0])
  value_fn = lambda p: _linen_loss(p, xs[1], ys[1])  # noqa: E731

  @jax.jit
  def manual(params, opt_state):
    updates, opt_state = state.tx.update(grads, opt_state, params,
                                         value_fn=value_fn)
    return optax.apply_updates(params, updates), opt_state

  params, opt_state = manual(state.params, state.opt_state)
  by_method = jax.jit(lambda s: s.apply_gradients(
      grads=grads, value_fn=value_fn))(state)
  by_function = jax.jit(lambda s: bm_flax.apply_gradients(
      s, grads=grads, value_fn=value_fn))(state)
  for new in (by_method, by_function):
    assert int(new.step) == 1
    jax.tree.map(np.testing.assert_array_equal, new.params, params)
    jax.tree.map(np.testing.assert_array_equal, new.opt_state, opt_state)
  assert _lr(opt_state) != _LR  # One meta-step was taken.


def test_linen_plain_train_state_cannot_forward_value_fn():
  """Why the helper exists: Flax's own step calls ``tx.update`` without
  extra arguments, and its keyword arguments are fields to replace."""
  state = _linen_state(train_state.TrainState)
  xs, ys = _data()
  grads = jax.grad(_linen_loss)(state.params, xs[0], ys[0])
  with pytest.raises(ValueError, match="value_fn"):
    state.apply_gradients(grads=grads)
  with pytest.raises(ValueError, match="value_fn"):  # Not forwarded.
    state.apply_gradients(grads=grads, value_fn=lambda p: 0.0)


def test_subclass_fields_are_replaced_and_extra_args_forwarded():
  class WithStats(bm_flax.TrainState):
    stats: jax.Array

  xs, ys = _data()
  params = _LinenMLP().init(jax.random.key(1), xs[0])
  state = WithStats.create(apply_fn=_LinenMLP().apply, params=params,
                           tx=_tx(), stats=jnp.zeros([]))
  grads = jax.grad(_linen_loss)(params, xs[0], ys[0])
  new = state.apply_gradients(grads=grads, stats=jnp.ones([]),
                              value_fn=lambda p: _linen_loss(p, xs[1], ys[1]))
  assert float(new.stats) == 1.0 and int(new.step) == 1
  assert _lr(new.opt_state) != _LR


class _NNXMLP(nnx.Module):

  def __init__(self, rngs):
    self.hidden = nnx.Linear(2, 16, rngs=rngs)
    self.out = nnx.Linear(16, 1, rngs=rngs)

  def __call__(self, x):
    return self.out(jnp.tanh(self.hidden(x)))[:, 0]


def _nnx_loss(model, x, y):
  return jnp.mean(jnp.square(model(x) - y))


def test_nnx_optimizer_forwards_value_fn_learns_and_matches_manual():
  xs, ys = _data()
  model = _NNXMLP(nnx.Rngs(1))
  optimizer = nnx.Optimizer(model, _tx(), wrt=nnx.Param)
  graphdef, _, rest = nnx.split(model, nnx.Param, ...)

  def value_fn(batch):
    # value_fn gets the nnx.State of the optimiser's wrt filter.
    return lambda p: _nnx_loss(nnx.merge(graphdef, p, rest), xs[batch],
                               ys[batch])

  # One step against the functional computation on the same arrays.
  params = nnx.as_pure(nnx.state(model, nnx.Param))
  opt_state = nnx.as_pure(optimizer.opt_state)
  grads = nnx.grad(_nnx_loss)(model, xs[0], ys[0])

  @jax.jit
  def manual(params, opt_state, grads):
    updates, opt_state = _tx().update(grads, opt_state, params,
                                      value_fn=value_fn(1))
    return optax.apply_updates(params, updates), opt_state

  want_params, want_state = manual(
      params, opt_state, nnx.as_pure(nnx.state(grads, nnx.Param)))

  @nnx.jit
  def update(model, optimizer, grads):
    optimizer.update(model, grads, value_fn=value_fn(1))

  update(model, optimizer, grads)
  jax.tree.map(np.testing.assert_array_equal,
               nnx.as_pure(nnx.state(model, nnx.Param)), want_params)
  jax.tree.map(np.testing.assert_array_equal,
               nnx.as_pure(optimizer.opt_state), want_state)
  # Then it learns: the learning rate moves and the loss falls.
  full = lambda: float(_nnx_loss(model, xs.reshape(-1, 2),  # noqa: E731
                                 ys.reshape(-1)))
  before = full()

  @nnx.jit
  def step(model, optimizer, batch, nxt):
    grads = nnx.grad(_nnx_loss)(model, xs[batch], ys[batch])
    optimizer.update(model, grads, value_fn=value_fn(nxt))

  for i in range(1, 200):
    step(model, optimizer, i % 8, (i + 1) % 8)
  assert full() < 0.5 * before
  assert abs(_lr(nnx.as_pure(optimizer.opt_state)) - _LR) > 1e-3
