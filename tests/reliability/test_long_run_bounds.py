"""Meta-parameters stay finite and inside their bounds over long runs.

The drop-in :func:`bootstrap_meta.meta_learned` learns Adam's learning rate
(``positive``, log bijection) and ``b1`` (``unit_interval``, sigmoid) by MG
(Xu et al. 2018) on a 2-d quadratic whose optimum circles the origin (a
non-stationary problem, so the meta-gradient never settles), for 1e5
updates in CI and 1e6 in the slow test, all inside one ``lax.scan``. The
scan carries the running minimum and maximum of each hyperparameter and
whether every parameter and meta-parameter stayed finite.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax
import pytest

import bootstrap_meta as bm

_CURVATURE = jnp.asarray([1.0, 10.0])
_PERIOD = 2000.0  # Steps per turn of the optimum.


def _loss(x, t):
  angle = 2 * jnp.pi * t / _PERIOD
  target = jnp.stack([jnp.cos(angle), jnp.sin(angle)])
  return 0.5 * jnp.sum(_CURVATURE * (x - target) ** 2)


def _transform():
  return bm.meta_learned(
      optax.adam, learned={"learning_rate": bm.positive(0.05),
                           "b1": bm.unit_interval(0.9)},
      method=bm.MG(K=1), meta_optimizer=optax.adam(0.01))


def _finite(tree):
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x))
                            for x in jax.tree.leaves(tree)]))


@functools.partial(jax.jit, static_argnums=0)
def _long_run(steps: int):
  tx = _transform()

  def body(carry, t):
    x, state, low, high, finite = carry
    f = functools.partial(_loss, t=t)
    u, state = tx.update(jax.grad(f)(x), state, x, value_fn=f)
    x = optax.apply_updates(x, u)
    hp = jnp.stack([state.hyperparams["learning_rate"],
                    state.hyperparams["b1"]])
    finite = finite & _finite((x, state.meta_params, state.inner_opt_state,
                               hp))
    return (x, state, jnp.minimum(low, hp), jnp.maximum(high, hp),
            finite), None

  x = jnp.zeros(2)
  carry = (x, tx.init(x), jnp.full(2, jnp.inf), jnp.full(2, -jnp.inf),
           jnp.array(True))
  ts = jnp.arange(steps, dtype=jnp.float32)
  (x, state, low, high, finite), _ = jax.lax.scan(body, carry, ts)
  return x, state, low, high, finite


def _check(steps: int):
  x, state, low, high, finite = jax.device_get(_long_run(steps))
  assert bool(finite)
  assert int(state.count) == steps
  assert int(state.num_skipped) == 0 and int(state.num_bad_updates) == 0
  lr_low, b1_low = low
  lr_high, b1_high = high
  assert 0.0 < lr_low <= lr_high < float("inf")
  assert 0.0 < b1_low <= b1_high < 1.0
  # The meta-parameters did move (a frozen run would pass trivially).
  assert lr_high - lr_low > 1e-3 and b1_high - b1_low > 1e-3
  # And the learner still tracks the moving optimum at the end.
  assert float(_loss(x, jnp.float32(steps - 1))) < 0.5
  return low, high


def test_bounds_hold_over_1e5_updates():
  _check(100_000)


@pytest.mark.slow
def test_bounds_hold_over_1e6_updates():
  _check(1_000_000)
