"""Numbers for the actor-critic agent: config checks, losses by hand, reset
alignment of acting and learning, and a jitted, vmapped tiny run.

References:
  Mnih et al, `Asynchronous Methods for Deep Reinforcement Learning
  <https://arxiv.org/abs/1602.01783>`_, 2016.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.actor_critic import acting, losses, training
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig

_T, _B, _A = 3, 2, 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(core="transformer"), "core"),
    (dict(method="maml"), "method"),
    (dict(loss="vtrace"), "loss"),
    (dict(method="mg", learned=("momentum",)), "learned hyperparameter"),
    (dict(method="mg"), "needs learned"),
    (dict(learned=("discount",)), "learns nothing"),
    (dict(continue_from="L"), "continue_from"),
    (dict(K=0), "K must be"),
    (dict(method="mg", learned=("discount",), discount=0.5), "0.9, 1"),
])
def test_config_rejects_bad_input(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ActorCriticConfig(**kwargs)


def test_config_budget():
  cfg = ActorCriticConfig(method="bmg", learned=("discount",), K=2, L=3,
                          num_envs=4, unroll_length=8, num_updates=10)
  # Every rollout trains the learner once: 4 new rollouts, 4 updates.
  assert cfg.rollouts_per_iteration == 4
  assert cfg.updates_per_iteration == 4
  assert cfg.env_steps == 10 * 4 * 8 * 4
  mg = ActorCriticConfig(method="mg", learned=("discount",), K=3)
  assert mg.rollouts_per_iteration == mg.updates_per_iteration == 3


def _tiny_traj(seed=0):
  rng = np.random.default_rng(seed)
  dones = np.zeros((_T, _B), bool)
  dones[1, 0] = True
  return Trajectory(
      initial_state=(), obs=np.zeros((_T + 1, _B, 1), np.float32),
      resets=np.zeros((_T + 1, _B), bool),
      actions=rng.integers(0, _A, (_T, _B)).astype(np.int32),
      rewards=rng.normal(size=(_T, _B)).astype(np.float32), dones=dones,
      logits=rng.normal(size=(_T, _B, _A)).astype(np.float32),
      values=np.zeros((_T + 1, _B), np.float32),
      episode_returns=np.zeros((_T, _B), np.float32))


def _fake_unroll(params, obs, resets, state):
  del obs, resets
  return params["logits"], params["values"], state


def _hand_terms(params, traj, gamma, lam):
  logits = np.asarray(params["logits"], np.float64)
  v = np.asarray(params["values"], np.float64)
  disc = gamma * (1.0 - traj.dones)
  g = np.zeros((_T, _B))
  nxt = v[_T]
  for t in reversed(range(_T)):
    g[t] = traj.rewards[t] + disc[t] * ((1 - lam) * v[t + 1] + lam * nxt)
    nxt = g[t]
  logp_all = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  logp = np.take_along_axis(logp_all[:_T], traj.actions[..., None], -1)[..., 0]
  ent = -(np.exp(logp_all[:_T]) * logp_all[:_T]).sum(-1).mean()
  adv = g - v[:_T]
  critic = 0.5 * np.mean(adv**2)
  return logp, adv, critic, ent


def _params(seed=1):
  rng = np.random.default_rng(seed)
  return {"logits": jnp.asarray(rng.normal(size=(_T + 1, _B, _A)), jnp.float32),
          "values": jnp.asarray(rng.normal(size=(_T + 1, _B)), jnp.float32)}


def test_a2c_loss_matches_hand_computation():
  traj, params = _tiny_traj(), _params()
  hp = {"discount": 0.9, "lambda_": 0.7, "entropy_weight": 0.05,
        "value_weight": 0.5}
  loss, metrics = jax.jit(losses.make_a2c_loss(_fake_unroll))(
      params, hp, traj)
  logp, adv, critic, ent = _hand_terms(params, traj, 0.9, 0.7)
  pg = -np.mean(logp * adv)
  np.testing.assert_allclose(metrics["pg_loss"], pg, rtol=1e-5)
  np.testing.assert_allclose(metrics["critic_loss"], critic, rtol=1e-5)
  np.testing.assert_allclose(metrics["entropy"], ent, rtol=1e-5)
  np.testing.assert_allclose(loss, pg + 0.5 * critic - 0.05 * ent, rtol=1e-5)


def test_outer_loss_and_discount_gradient():
  """The outer loss is plain PG; the inner loss's γ-gradient is not cut."""
  traj, params = _tiny_traj(), _params()
  outer = losses.make_outer_loss(_fake_unroll, discount=0.9, lambda_=0.7,
                                 entropy_weight=0.1)
  logp, adv, _, ent = _hand_terms(params, traj, 0.9, 0.7)
  np.testing.assert_allclose(outer(params, traj),
                             -np.mean(logp * adv) - 0.1 * ent, rtol=1e-5)
  a2c = losses.make_a2c_loss(_fake_unroll)
  hp = lambda g: {"discount": g, "lambda_": 0.7,  # noqa: E731
                  "entropy_weight": 0.0, "value_weight": 0.5}
  grad = jax.grad(lambda g: a2c(params, hp(g), traj)[0])(0.9)
  eps = 1e-2
  fd = (a2c(params, hp(0.9 + eps), traj)[0]
        - a2c(params, hp(0.9 - eps), traj)[0]) / (2 * eps)
  np.testing.assert_allclose(grad, fd, rtol=1e-2)
  assert abs(grad) > 1e-3


@pytest.mark.parametrize("core", ["s5", "gru"])
def test_acting_equals_learning_unroll_across_episode_boundary(core):
  """Replaying the stored trajectory gives the acting outputs exactly."""
  cfg = ActorCriticConfig(core=core, width=8, num_layers=1, num_envs=2,
                          unroll_length=60)
  agent = training.make_agent(cfg)
  state = training.init_state(jax.random.key(0), agent)
  _, traj = jax.jit(agent.rollout)(state.learner.params, state.actor)
  assert traj.dones.any() and traj.resets[1:].any()  # crosses a boundary
  np.testing.assert_array_equal(traj.resets[1:], traj.dones)
  out, values = jax.jit(losses.replay, static_argnums=0)(
      agent.networks.unroll, state.learner.params, traj)
  np.testing.assert_allclose(out[:-1], traj.logits, atol=2e-5)
  np.testing.assert_allclose(values, traj.values, atol=2e-5)


def test_rollout_episode_returns():
  cfg = ActorCriticConfig(core="mlp", width=8, num_envs=3, unroll_length=55)
  agent = training.make_agent(cfg)
  state = training.init_state(jax.random.key(1), agent)
  _, traj = jax.jit(agent.rollout)(state.learner.params, state.actor)
  t_end = np.argmax(np.asarray(traj.dones[:, 0]))
  np.testing.assert_allclose(traj.episode_returns[t_end, 0],
                             np.sum(traj.rewards[: t_end + 1, 0]), rtol=1e-5)
  assert float(jnp.sum(traj.episode_returns * ~traj.dones)) == 0.0


def test_gaussian_log_prob_and_entropy():
  mean, log_std = np.array([0.5, -1.0]), np.array([0.1, -0.3])
  out = jnp.asarray(np.concatenate([mean, log_std]), jnp.float32)
  a = np.array([0.2, 0.4])
  std = np.exp(log_std)
  logp = np.sum(-0.5 * ((a - mean) / std) ** 2
                - np.log(std * np.sqrt(2 * np.pi)))
  ent = np.sum(0.5 * np.log(2 * np.pi * np.e * std**2))
  np.testing.assert_allclose(
      losses.log_prob(out, jnp.asarray(a, jnp.float32), continuous=True),
      logp, rtol=1e-5)
  np.testing.assert_allclose(losses.entropy(out, continuous=True), ent,
                             rtol=1e-5)


def test_sample_gaussian_moments():
  out = jnp.asarray([[1.0, -2.0, np.log(0.5), 0.0]])
  keys = jax.random.split(jax.random.key(0), 4000)
  x = jax.vmap(lambda k: acting.sample(k, out, continuous=True))(keys)
  np.testing.assert_allclose(x.mean((0, 1)), [1.0, -2.0], atol=0.05)
  np.testing.assert_allclose(x.std((0, 1)), [0.5, 1.0], atol=0.05)


def test_train_jits_and_vmaps_over_seeds():
  cfg = ActorCriticConfig(core="gru", width=8, num_envs=2, unroll_length=4,
                          num_updates=2, method="bmg", K=1, L=2,
                          learned=("learning_rate", "discount"),
                          context=True, context_history=2, context_hidden=4)
  train = jax.jit(jax.vmap(training.make_train(cfg)))
  state, metrics = train(jax.random.split(jax.random.key(0), 2))
  assert metrics["hp/discount"].shape == (2, 2)
  assert metrics["episodes"].shape == (2, 2)
  for value in metrics.values():
    assert np.all(np.isfinite(value))
  # Different seeds give different rollouts.
  assert not np.allclose(metrics["reward_mean"][0], metrics["reward_mean"][1])
  # The meta-parameters moved (the learning rate's meta-gradient is the
  # largest from the first update; loss weights barely move under a fresh
  # Adam whose eps 1e-4 exceeds the meta-gradient).
  assert np.all(np.abs(metrics["hp/learning_rate"] - 1e-3) > 1e-9)
