"""Meta-gradients of the actor-critic agent against central finite
differences (float64), through one agent update (K = 1), for MG and BMG,
with and without a context, on a tiny recurrent (GRU) network.

The losses are semi-gradients: targets and advantages are stop-gradiented
functions of the parameters they are evaluated at. So the finite
differences hold them fixed at their values at ``w``: the outer advantages
for MG, the bootstrapped target for BMG. (With K >= 2 the meta-gradient is
also truncated where step k's targets depend on ``x^(k)``; finite
differences of the unmodified loss then disagree, by design.)

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bootstrap_meta as bm
from agents.actor_critic import hyperparams, learning, losses
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import LEARNABLE, ActorCriticConfig
from agents.actor_critic.networks import make_networks

_T, _B, _D, _A, _H = 4, 2, 3, 3, 4


def _traj(rng, networks):
  dones = rng.random((_T, _B)) < 0.3
  resets = np.concatenate([np.ones((1, _B), bool), dones])
  return Trajectory(
      initial_state=jax.tree.map(
          lambda x: jnp.asarray(rng.normal(size=x.shape)),
          networks.initial_state(_B)),
      obs=jnp.asarray(rng.normal(size=(_T + 1, _B, _D))),
      resets=jnp.asarray(resets),
      actions=jnp.asarray(rng.integers(0, _A, (_T, _B)), jnp.int32),
      rewards=jnp.asarray(rng.normal(size=(_T, _B))),
      dones=jnp.asarray(dones),
      logits=jnp.asarray(rng.normal(size=(_T, _B, _A))),
      values=jnp.asarray(rng.normal(size=(_T + 1, _B))),
      episode_returns=jnp.zeros((_T, _B)))


def _stack(trajs):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trajs)


def _setup(config, seed=0):
  rng = np.random.default_rng(seed)
  networks = make_networks(core="gru", width=_H, num_actions=_A)
  n = config.K + (config.L - 1 if config.method == "bmg" else 0)
  trajs = _stack([_traj(rng, networks) for _ in range(n)])
  last = _traj(rng, networks)
  params = networks.init(jax.random.key(seed), last.obs, last.resets)
  opt = learning.inner_optimizer(config.learning_rate,
                                 max_norm=config.max_grad_norm)
  context = None
  if config.context:
    context = bm.context_init(history=config.context_history,
                              num_stats=hyperparams.NUM_STATS)
    # A nonzero history so the context MLPs see a real input.
    for _ in range(2):
      stats = rng.normal(size=hyperparams.NUM_STATS)
      context = bm.context_update(context, stats)
  carry = learning.LearnerState(params, opt.init(params), context)
  w = hyperparams.init_meta_params(jax.random.key(seed + 1), config)
  # Move the raw meta-parameters off their round initial values.
  w = jax.tree.map(lambda x: x + 0.1 * jnp.asarray(
      rng.normal(size=x.shape)), w)
  return networks, carry, w, trajs, last, rng


def _directional_fd(f, w, direction, eps=1e-5):
  plus = jax.tree.map(lambda a, d: a + eps * d, w, direction)
  minus = jax.tree.map(lambda a, d: a - eps * d, w, direction)
  return (f(plus) - f(minus)) / (2 * eps)


def _check(f, grads, w, rng):
  for _ in range(2):
    direction = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape)),
                             w)
    fd = _directional_fd(f, w, direction)
    analytic = sum(jnp.vdot(g, d) for g, d in zip(
        jax.tree.leaves(grads), jax.tree.leaves(direction), strict=True))
    np.testing.assert_allclose(analytic, fd, rtol=1e-5, atol=1e-9)
  assert float(bm_norm(grads)) > 1e-6


def bm_norm(tree):
  return jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(tree)))


def _config(method, context):
  return ActorCriticConfig(
      core="gru", width=_H, method=method, learned=LEARNABLE, K=1,
      L=2 if method == "bmg" else 1, learning_rate=0.05, max_grad_norm=0.5,
      kl_value_weight=0.5, target_step="sgd", target_step_size=0.3,
      context=context,
      context_history=2, context_hidden=3)


@pytest.mark.parametrize("context", [
    False, pytest.param(True, marks=pytest.mark.slow)])
def test_mg_meta_gradient_matches_finite_differences(context):
  with jax.enable_x64(True):
    config = _config("mg", context)
    networks, carry, w, trajs, last, rng = _setup(config)
    meta_loss = learning.make_meta_loss(config, networks)
    grads = jax.jit(jax.grad(
        lambda w: meta_loss(w, carry, trajs, last)[0]))(w)
    step = learning.make_step_fn(config, networks)
    rep = lambda w: losses.replay(  # noqa: E731
        networks.unroll, bm.unroll(step, carry, w, trajs).params, last)
    _, values = rep(w)
    discounts = 0.99 * (1.0 - last.dones)
    adv = losses.lambda_returns(last.rewards, discounts, values, 0.95)
    adv = adv - values[:-1]

    def outer(w):  # Plain policy gradient with the advantages held fixed.
      logp = losses.log_prob(rep(w)[0][:-1], last.actions)
      return -jnp.mean(logp * adv)

    np.testing.assert_allclose(outer(w), meta_loss(w, carry, trajs, last)[0],
                               rtol=1e-7)
    _check(jax.jit(outer), grads, w, rng)


@pytest.mark.parametrize("context", [
    pytest.param(False, marks=pytest.mark.slow), True])
def test_bmg_meta_gradient_matches_finite_differences(context):
  with jax.enable_x64(True):
    config = _config("bmg", context)
    networks, carry, w, trajs, last, rng = _setup(config, seed=3)
    meta_loss = learning.make_meta_loss(config, networks)
    grads, (_, after) = jax.jit(jax.grad(
        lambda w: meta_loss(w, carry, trajs, last), has_aux=True))(w)
    # The target, rebuilt by hand and then held fixed.
    step = learning.make_step_fn(config, networks)
    outer = losses.make_outer_loss(networks.unroll, discount=0.99,
                                   lambda_=0.95)
    inner = jax.tree.map(lambda x: x[:1], trajs)
    extra = jax.tree.map(lambda x: x[1:], trajs)
    x_k = bm.unroll(step, carry, w, inner)
    x_k1 = bm.unroll(step, x_k, w, extra)
    # Default continue_from="K+L-1": the learner goes on from x^(K+L-1).
    for a, b in zip(jax.tree.leaves(after.params),
                    jax.tree.leaves(x_k1.params), strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
    g = jax.grad(outer)(x_k1.params, last)
    target = jax.tree.map(lambda p, d: p - 0.3 * d, x_k1.params, g)

    def matching(w):
      params = bm.unroll(step, carry, w, inner).params
      rep = lambda p: tuple(  # noqa: E731
          a[:-1] for a in losses.replay(networks.unroll, p, last))
      (lt, vt), (lx, vx) = rep(target), rep(params)
      kl = jnp.sum(jax.nn.softmax(lt) * (jax.nn.log_softmax(lt)
                                         - jax.nn.log_softmax(lx)), -1)
      return jnp.mean(kl) + 0.5 * jnp.mean((vt - vx) ** 2)

    np.testing.assert_allclose(jax.jit(matching)(w),
                               meta_loss(w, carry, trajs, last)[0], rtol=1e-7)
    _check(jax.jit(matching), grads, w, rng)


def test_bmg_continue_from_k():
  with jax.enable_x64(True):
    config = _config("bmg", False)
    config_k = ActorCriticConfig(**{**config.__dict__, "continue_from": "K"})
    networks, carry, w, trajs, last, _ = _setup(config_k, seed=5)
    _, (carry_k, after) = learning.make_meta_loss(config_k, networks)(
        w, carry, trajs, last)
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(carry_k),
                    strict=True):
      np.testing.assert_array_equal(a, b)
