"""Numbers for MG through PPO's minibatch steps: one window's meta-gradient
against central finite differences (float64), the learner's steps equal
plain PPO's when ``w`` is frozen, as many learner steps per rollout as
plain PPO, a non-finite meta-gradient is skipped and counted, and the
settings that remain refused.

The PPO minibatches' advantages and targets are functions of behaviour
values and of γ, λ only (never of the parameters being trained), so the
window's meta-loss is an ordinary function of ``w``: its finite
differences need no held-fixed terms.

References:
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  Schulman et al, `Proximal Policy Optimization Algorithms
  <https://arxiv.org/abs/1707.06347>`_, 2017.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agents.actor_critic import hyperparams, meta_ppo, ppo, training
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.learning import LearnerState
from agents.actor_critic.networks import make_networks

# The random recurrent trajectory (crossing episode ends) of the learner tests.
from tests.agents.test_learning import _A, _B, _H, _traj

_LEARNED = ("entropy_weight", "lambda_")


def _fd_setup(config, seed=0):
  rng = np.random.default_rng(seed)
  networks = make_networks(core="gru", width=_H, num_actions=_A)
  traj = _traj(rng, networks)
  params = networks.init(jax.random.key(seed), traj.obs, traj.resets)
  params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
  opt = meta_ppo.meta_ppo_optimizer(config)
  learner = LearnerState(params, opt.init(params), None,
                         jnp.zeros([], jnp.int32))
  w = hyperparams.init_meta_params(jax.random.key(seed + 1), config)
  w = jax.tree.map(lambda x: x + 0.3 * jnp.asarray(rng.normal(size=x.shape)),
                   w)
  return networks, learner, w, traj, rng


def test_window_meta_gradient_matches_finite_differences():
  """K = 2 Adam steps (clipped) on two one-env minibatches, the outer PPO
  loss on the next: ∇_w of the entropy weight and λ equals central
  differences."""
  with jax.enable_x64(True):
    config = ActorCriticConfig(
        core="gru", width=_H, loss="ppo", method="mg", learned=_LEARNED,
        K=2, ppo_epochs=2, num_minibatches=2, num_envs=_B,
        learning_rate=0.05, max_grad_norm=0.5, ppo_clip=0.2,
        entropy_weight=0.1, lambda_=0.8, outer_lambda=0.9,
        outer_entropy_weight=0.01, discount=0.9, outer_discount=0.9)
    networks, learner, w, traj, rng = _fd_setup(config)
    window_loss = meta_ppo.make_window_loss(config, networks)
    outer_batch = ppo.make_batch(traj, meta_ppo.outer_hyperparams(config))
    window = jnp.array([[1], [0], [1]])
    f = jax.jit(lambda w: window_loss(w, learner, traj, outer_batch,
                                      window)[0])
    grads = jax.jit(jax.grad(f))(w)
    assert all(abs(float(grads[n])) > 1e-6 for n in _LEARNED), grads
    for name in _LEARNED:  # Each coordinate, then a random direction.
      eps = 1e-5
      plus = {**w, name: w[name] + eps}
      minus = {**w, name: w[name] - eps}
      fd = (f(plus) - f(minus)) / (2 * eps)
      np.testing.assert_allclose(grads[name], fd, rtol=1e-6, atol=1e-10)
    d = {n: jnp.asarray(rng.normal()) for n in _LEARNED}
    plus = jax.tree.map(lambda a, b: a + 1e-5 * b, w, d)
    minus = jax.tree.map(lambda a, b: a - 1e-5 * b, w, d)
    fd = (f(plus) - f(minus)) / 2e-5
    np.testing.assert_allclose(sum(grads[n] * d[n] for n in _LEARNED), fd,
                               rtol=1e-6, atol=1e-10)


def test_gae_once_per_rollout_when_gamma_and_lambda_are_constants():
  """Learning the entropy weight only, the window's loss and meta-gradient
  with the rollout's GAE batch passed in equal those recomputing it."""
  with jax.enable_x64(True):
    config = ActorCriticConfig(
        core="gru", width=_H, loss="ppo", method="mg",
        learned=("entropy_weight",), K=2, ppo_epochs=2, num_minibatches=2,
        num_envs=_B, learning_rate=0.05, entropy_weight=0.1)
    assert not meta_ppo.gae_learned(config)
    assert meta_ppo.gae_learned(dataclasses.replace(config,
                                                    learned=_LEARNED))
    networks, learner, w, traj, _ = _fd_setup(config)
    window_loss = meta_ppo.make_window_loss(config, networks)
    outer_batch = ppo.make_batch(traj, meta_ppo.outer_hyperparams(config))
    batch = ppo.make_batch(traj, hyperparams.make_hyperparams_fn(config)(w))
    window = jnp.array([[1], [0], [1]])
    grad = jax.jit(jax.value_and_grad(
        lambda w, b: window_loss(w, learner, traj, outer_batch, window,
                                 batch=b)[0]))
    (with_batch, g_batch), (recomputed, g) = grad(w, batch), grad(w, None)
    assert abs(float(g["entropy_weight"])) > 1e-6
    np.testing.assert_allclose(with_batch, recomputed, rtol=1e-12)
    np.testing.assert_allclose(g_batch["entropy_weight"],
                               g["entropy_weight"], rtol=1e-12)


def _agent_and_traj(*, seed=0, ppo_epochs=2, learned=_LEARNED, **kwargs):
  """A small MG-PPO agent on RepeatPreviousEasy and its second rollout."""
  cfg = ActorCriticConfig(
      task="RepeatPreviousEasy", core="gru", width=8, num_layers=1,
      num_envs=4, unroll_length=16, loss="ppo", method="mg",
      learned=learned, ppo_epochs=ppo_epochs, num_minibatches=2,
      entropy_weight=0.05, **kwargs)
  agent = training.make_agent(cfg)
  state = training.init_state(jax.random.key(seed), agent)
  rollout = jax.jit(agent.rollout)
  actor = state.actor
  for _ in range(2):
    actor, traj = rollout(state.learner.params, actor)
  return agent, state, traj


def _count(opt_state):
  return int(optax.tree.get(opt_state, "count"))


@pytest.mark.parametrize("K,learned", [(1, _LEARNED), (2, _LEARNED),
                                       (1, ("entropy_weight",))])
def test_frozen_meta_parameters_take_plain_ppo_steps(K, learned):
  """With a meta-optimiser that never moves ``w``, the learner ends where
  plain PPO (same minibatch order, same Adam ``eps_root``) ends; with the
  entropy weight alone learned, GAE is computed once per rollout."""
  agent, state, traj = _agent_and_traj(K=K, learned=learned)
  cfg = agent.config
  update = meta_ppo.make_meta_ppo_update(
      cfg, agent.networks, meta_optimizer=optax.set_to_zero())
  key = jax.random.key(5)
  learner, meta, metrics = jax.jit(update)(state.learner, state.meta, traj,
                                           key)
  plain_cfg = dataclasses.replace(cfg, method="none", learned=())
  plain = ppo.make_ppo_update(plain_cfg, agent.networks,
                              eps_root=meta_ppo.EPS_ROOT)
  ref, ref_metrics = jax.jit(plain)(state.learner, traj, key)
  for a, b in zip(jax.tree.leaves(learner.params),
                  jax.tree.leaves(ref.params), strict=True):
    np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)
  assert _count(learner.opt_state) == _count(ref.opt_state) == 4
  for name in ("loss", "entropy", "clip_fraction", "approx_kl"):
    np.testing.assert_allclose(metrics[f"ppo/{name}"],
                               ref_metrics[f"ppo/{name}"], rtol=1e-4,
                               atol=1e-6)
  for a, b in zip(jax.tree.leaves(meta.params),
                  jax.tree.leaves(state.meta.params), strict=True):
    np.testing.assert_array_equal(a, b)
  assert float(metrics["meta_grad_norm"]) > 0.0  # Gradients were there.


def test_learner_steps_per_rollout_equal_plain_ppo():
  """E × M = 6 minibatch steps with K = 2: two windows (inner 0-1, outer
  2; inner 2-3, outer 4), then plain steps on minibatches 4 and 5; ``w``
  moves by at most two Adam steps."""
  agent, state, traj = _agent_and_traj(K=2, ppo_epochs=3,
                                       meta_learning_rate=0.1)
  assert meta_ppo.num_windows(agent.config) == 2
  assert agent.config.rollouts_per_iteration == 1
  step = jax.jit(lambda s: training.iteration(agent, s))
  new, metrics = step(state)
  assert _count(new.learner.opt_state) == 6
  assert int(new.learner.skipped) == 0
  assert float(metrics["skipped_meta_updates"]) == 0.0
  for name in _LEARNED:
    moved = float(new.meta.params[name] - state.meta.params[name])
    # Two Adam steps of 0.1: each |step| <= about the learning rate.
    assert 0.0 < abs(moved) < 0.21, (name, moved)
    assert float(metrics[f"meta_grad/{name}"]) != 0.0
  hp = float(metrics["hp/entropy_weight"])
  assert hp == pytest.approx(float(jax.nn.sigmoid(
      new.meta.params["entropy_weight"])), rel=1e-6)
  new, _ = step(new)
  assert _count(new.learner.opt_state) == 12


def test_non_finite_meta_gradient_is_skipped_and_counted():
  """Without Adam's ``eps_root`` a parameter whose gradient is exactly 0
  (weights of an input that is always 0) has ``∂√v/∂v = ∞`` at the first
  step: the meta-gradient is NaN, ``w`` stays and the skip is counted;
  the learner still takes its steps. ``eps_root = 1e-8`` keeps it
  finite."""
  agent, state, traj = _agent_and_traj(K=1, meta_learning_rate=0.1)
  traj = traj._replace(obs=traj.obs.at[..., 0].set(0.0))
  cfg = agent.config
  results = {}
  for eps_root in (0.0, meta_ppo.EPS_ROOT):
    update = meta_ppo.make_meta_ppo_update(
        cfg, agent.networks, meta_optimizer=agent.meta_optimizer,
        eps_root=eps_root)
    results[eps_root] = jax.jit(update)(state.learner, state.meta, traj,
                                        jax.random.key(1))
  learner, meta, metrics = results[0.0]
  assert not np.isfinite(float(metrics["meta_grad_norm"]))
  assert float(metrics["skipped_meta_updates"]) == 3.0  # Every window.
  assert int(meta.skipped) == 3
  for a, b in zip(jax.tree.leaves(meta.params),
                  jax.tree.leaves(state.meta.params), strict=True):
    np.testing.assert_array_equal(a, b)
  assert _count(learner.opt_state) == 4 and int(learner.skipped) == 0
  _, meta, metrics = results[meta_ppo.EPS_ROOT]
  assert np.isfinite(float(metrics["meta_grad_norm"]))
  assert int(meta.skipped) == 0
  assert float(meta.params["entropy_weight"]) != float(
      state.meta.params["entropy_weight"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="bmg", learned=("entropy_weight",)), "BMG through PPO"),
    (dict(method="mg", learned=("learning_rate",)),
     r"learns \('entropy_weight', 'lambda_'\) only"),
    (dict(method="mg", learned=("entropy_weight",), context=True),
     "no context"),
    (dict(method="mg", learned=("entropy_weight",), K=4), r"K <= .* = 3"),
    (dict(method="mg", learned=()), "needs learned"),
])
def test_config_refuses_what_meta_ppo_does_not_do(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ActorCriticConfig(loss="ppo", num_envs=4, ppo_epochs=2,
                      num_minibatches=2, **kwargs)


def test_config_accepts_mg_ppo():
  cfg = ActorCriticConfig(loss="ppo", method="mg", learned=_LEARNED, K=3,
                          num_envs=4, ppo_epochs=2, num_minibatches=2,
                          num_updates=10, unroll_length=8)
  assert cfg.rollouts_per_iteration == cfg.updates_per_iteration == 1
  assert cfg.env_steps == 10 * 8 * 4
