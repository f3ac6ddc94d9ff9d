"""Numbers for recurrent PPO: GAE and the clipped losses by hand, the first
step equals the one-step gradient, minibatch replay equals acting, the clip
binds in training, and PPO learns CartPole faster than the one-step learner.

References:
  Schulman et al, `Proximal Policy Optimization Algorithms
  <https://arxiv.org/abs/1707.06347>`_, 2017.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.actor_critic import learning, losses, ppo, training
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig

# --- Pure functions against hand values. ------------------------------------


def test_gae_matches_hand_values_across_an_episode_end():
  # One env, T = 3, the episode ends at t = 1 (no bootstrap across it).
  r = np.array([[1.0], [0.5], [-1.0]], np.float32)
  dones = np.array([[0.0], [1.0], [0.0]], np.float32)
  v = np.array([[0.2], [0.4], [0.3], [0.6]], np.float32)
  gamma, lam = 0.9, 0.8
  d = gamma * (1.0 - dones)
  # δ_t = r_t + γ_t v_{t+1} − v_t:
  delta2 = -1.0 + 0.9 * 0.6 - 0.3  # -0.76
  delta1 = 0.5 + 0.0 * 0.3 - 0.4  # 0.1
  delta0 = 1.0 + 0.9 * 0.4 - 0.2  # 1.16
  a2 = delta2
  a1 = delta1  # γ_1 = 0 cuts the sum.
  a0 = delta0 + 0.9 * 0.8 * a1  # 1.232
  got = jax.jit(ppo.gae)(r, d, v, lam)
  np.testing.assert_allclose(got[:, 0], [a0, a1, a2], rtol=1e-6)
  np.testing.assert_allclose(got[:, 0], [1.232, 0.1, -0.76], rtol=1e-6)


def test_gae_with_lambda_one_is_return_minus_value():
  rng = np.random.default_rng(0)
  r = rng.normal(size=(5, 2)).astype(np.float32)
  v = rng.normal(size=(6, 2)).astype(np.float32)
  d = np.full((5, 2), 0.99, np.float32)
  g = v[-1].astype(np.float64)
  expected = np.zeros((5, 2))
  for t in reversed(range(5)):
    g = r[t] + 0.99 * g
    expected[t] = g - v[t]
  np.testing.assert_allclose(ppo.gae(r, d, v, 1.0), expected, rtol=1e-5,
                             atol=1e-6)


def test_clipped_surrogate_hand_values_clip_binds_and_not():
  # ratios 1.5 (A > 0: clip binds, 1.2 A), 0.5 (A < 0: binds, 0.8 A),
  # 1.1 (inside: ρA), 0.5 (A > 0: min takes ρA, the clip does not bind).
  ratio = np.array([1.5, 0.5, 1.1, 0.5])
  adv = np.array([2.0, -1.0, 3.0, 1.0])
  beh = np.log(np.array([0.2, 0.4, 0.3, 0.5]))
  logp = jnp.asarray(beh + np.log(ratio), jnp.float32)
  beh = jnp.asarray(beh, jnp.float32)
  adv = jnp.asarray(adv, jnp.float32)
  loss, m = ppo.clipped_surrogate(logp, beh, adv, clip=0.2)
  terms = np.array([1.2 * 2.0, 0.8 * -1.0, 1.1 * 3.0, 0.5 * 1.0])
  np.testing.assert_allclose(loss, -terms.mean(), rtol=1e-6)
  # |ρ − 1| > ε for 1.5, 0.5, 0.5 (the last is "outside" but unclipped).
  np.testing.assert_allclose(m["clip_fraction"], 0.75)
  kl = np.mean((ratio - 1) - np.log(ratio))
  np.testing.assert_allclose(m["approx_kl"], kl, rtol=1e-5)
  # Where the clip binds the gradient is zero; elsewhere −ρA/4 per log-prob.
  grad = jax.grad(lambda lp: ppo.clipped_surrogate(lp, beh, adv,
                                                   clip=0.2)[0])(logp)
  np.testing.assert_allclose(grad, [0.0, 0.0, -1.1 * 3.0 / 4, -0.5 / 4],
                             rtol=1e-6)


def test_clipped_surrogate_without_binding_equals_ratio_objective():
  rng = np.random.default_rng(1)
  beh = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
  logp = beh + jnp.asarray(rng.uniform(-0.05, 0.05, (4, 3)), jnp.float32)
  adv = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
  loss, m = ppo.clipped_surrogate(logp, beh, adv, clip=0.2)
  np.testing.assert_allclose(loss, -jnp.mean(jnp.exp(logp - beh) * adv),
                             rtol=1e-6)
  assert float(m["clip_fraction"]) == 0.0


def test_clipped_value_loss_hand_values():
  v = jnp.array([1.0, 0.0, 0.5])
  vb = jnp.array([0.5, 0.5, 0.45])
  g = jnp.array([2.0, 0.6, 0.0])
  # Clipped predictions: 0.5 + 0.2 = 0.7, 0.5 − 0.2 = 0.3, 0.5 (inside).
  plain = np.array([1.0, 0.36, 0.25])
  clipped = np.array([1.69, 0.09, 0.25])
  np.testing.assert_allclose(
      ppo.clipped_value_loss(v, vb, g, clip=0.2),
      0.5 * np.maximum(plain, clipped).mean(), rtol=1e-6)
  np.testing.assert_allclose(ppo.clipped_value_loss(v, vb, g, clip=None),
                             0.5 * plain.mean(), rtol=1e-6)


def test_normalize():
  x = jnp.array([1.0, 2.0, 3.0, 6.0])
  y = ppo.normalize(x)
  np.testing.assert_allclose(y, (x - 3.0) / (np.std(x) + 1e-8), rtol=1e-6)


# --- Config checks. -----------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="ppo", method="bmg", learned=("entropy_weight",)),
     "BMG through PPO"),
    (dict(loss="ppo", num_envs=6, num_minibatches=4), "multiple of"),
    (dict(loss="ppo", ppo_epochs=0), "ppo_epochs must be"),
    (dict(loss="ppo", ppo_clip=0.0), "ppo_clip must be"),
    (dict(adam_eps=-1.0), "adam_eps must be"),
])
def test_config_rejects_bad_ppo_settings(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ActorCriticConfig(**kwargs)


def test_a2c_ignores_ppo_settings():
  # An A2C config does not validate the PPO-only sizes.
  ActorCriticConfig(loss="a2c", num_envs=6, num_minibatches=4)


# --- The agent's PPO update. ------------------------------------------------


def _agent_and_traj(core, *, num_envs=4, unroll_length=60, seed=0,
                    rollouts=2, **kwargs):
  """An agent and its second rollout (non-zero stored state, crossing
  episode boundaries on RepeatPreviousEasy's 52-step episodes)."""
  cfg = ActorCriticConfig(task="RepeatPreviousEasy", core=core, width=8,
                          num_layers=1, num_envs=num_envs,
                          unroll_length=unroll_length, loss="ppo",
                          **kwargs)
  agent = training.make_agent(cfg)
  state = training.init_state(jax.random.key(seed), agent)
  rollout = jax.jit(agent.rollout)
  actor = state.actor
  for _ in range(rollouts):
    actor, traj = rollout(state.learner.params, actor)
  return agent, state, traj


@pytest.mark.parametrize("core", ["s5", "gru", "lstm"])
def test_minibatch_replay_from_stored_state_equals_acting(core):
  agent, state, traj = _agent_and_traj(core)
  assert traj.dones.any()  # The rollout crosses an episode boundary ...
  assert any(float(jnp.abs(x).max()) > 0  # ... from a non-zero state.
             for x in jax.tree.leaves(traj.initial_state))
  hp = {"discount": 0.99, "lambda_": 0.95}
  batch = ppo.make_batch(traj, hp)
  index = jnp.array([3, 1])  # A shuffled minibatch of two environments.
  mb = ppo.select_envs(batch, index)

  @jax.jit
  def replay(params, mb):
    out, values, _ = agent.networks.unroll(params, mb.obs, mb.resets,
                                           mb.initial_state)
    return losses.log_prob(out, mb.actions), values

  logp, values = replay(state.learner.params, mb)
  # Acting runs the step mode, replay the sequence mode: the same maths in
  # a different float order, so equal to float32 rounding.
  np.testing.assert_allclose(logp, mb.behaviour_log_probs, atol=1e-5)
  np.testing.assert_allclose(values, mb.behaviour_values, atol=1e-5)
  np.testing.assert_array_equal(mb.behaviour_log_probs,
                                batch.behaviour_log_probs[:, index])
  np.testing.assert_allclose(np.exp(logp - mb.behaviour_log_probs), 1.0,
                             atol=3e-5)


def _slice_envs(traj: Trajectory, index) -> Trajectory:
  state = jax.tree.map(lambda x: x[index], traj.initial_state)
  rest = jax.tree.map(lambda x: x[:, index], traj._replace(
      initial_state=None))
  return rest._replace(initial_state=state)


@pytest.mark.parametrize("normalize_advantages", [False, True])
def test_first_minibatch_gradient_equals_one_step_gradient(
    normalize_advantages):
  """At the behaviour parameters (ρ = 1) PPO's first gradient is the A2C
  gradient on the same advantages (standardised if PPO's are)."""
  agent, state, traj = _agent_and_traj(
      "s5", normalize_advantages=normalize_advantages, num_minibatches=2)
  cfg = agent.config
  hp = {"discount": cfg.discount, "lambda_": cfg.lambda_,
        "entropy_weight": 0.03, "value_weight": 0.7}
  key = jax.random.key(7)
  # The update's first minibatch: the first row of epoch 0's permutation.
  epoch_key = jax.random.split(key, cfg.ppo_epochs)[0]
  index = jax.random.permutation(epoch_key, cfg.num_envs).reshape(2, -1)[0]
  loss_fn = ppo.make_minibatch_loss(
      agent.networks.unroll, clip=cfg.ppo_clip, clip_value=True,
      normalize_advantages=normalize_advantages)
  batch = ppo.select_envs(ppo.make_batch(traj, hp), index)
  params = state.learner.params
  g_ppo, _ = jax.jit(jax.grad(loss_fn, has_aux=True))(params, hp, batch)
  sub = _slice_envs(traj, index)
  if not normalize_advantages:
    # The agent's own one-step loss: λ-returns from replayed values.
    a2c = losses.make_a2c_loss(agent.networks.unroll)
    g_ref = jax.jit(jax.grad(lambda p: a2c(p, hp, sub)[0]))(params)
  else:
    def a2c_normalized(p):
      out, values, _ = agent.networks.unroll(p, batch.obs, batch.resets,
                                             batch.initial_state)
      adv = ppo.normalize(batch.advantages)
      pg = -jnp.mean(losses.log_prob(out, batch.actions) * adv)
      critic = 0.5 * jnp.mean((batch.targets - values) ** 2)
      ent = jnp.mean(losses.entropy(out))
      return pg + 0.7 * critic - 0.03 * ent
    g_ref = jax.jit(jax.grad(a2c_normalized))(params)
  flat_ppo = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g_ppo)])
  flat_ref = jnp.concatenate([x.ravel() for x in jax.tree.leaves(g_ref)])
  scale = float(jnp.abs(flat_ref).max())
  assert scale > 1e-3
  np.testing.assert_allclose(flat_ppo, flat_ref, atol=2e-4 * scale,
                             rtol=1e-3)


def test_one_epoch_one_minibatch_sgd_update_is_one_a2c_step():
  """The whole update with 1 epoch × 1 minibatch and SGD is one A2C step."""
  lr = 0.05
  agent, state, traj = _agent_and_traj(
      "gru", ppo_epochs=1, num_minibatches=1, optimizer="sgd",
      learning_rate=lr, max_grad_norm=0.0, normalize_advantages=False,
      entropy_weight=0.01, value_weight=0.5)
  cfg = agent.config
  carry, metrics = jax.jit(agent.ppo_update)(state.learner, traj,
                                             jax.random.key(3))
  hp = {"discount": cfg.discount, "lambda_": cfg.lambda_,
        "entropy_weight": 0.01, "value_weight": 0.5}
  a2c = losses.make_a2c_loss(agent.networks.unroll)
  g = jax.jit(jax.grad(lambda p: a2c(p, hp, traj)[0]))(state.learner.params)
  step = jax.tree.map(lambda new, old: (old - new) / lr, carry.params,
                      state.learner.params)
  for s, ref in zip(jax.tree.leaves(step), jax.tree.leaves(g), strict=True):
    np.testing.assert_allclose(s, ref, atol=1e-4, rtol=1e-3)
  assert float(metrics["ppo/clip_fraction"]) == 0.0
  assert int(carry.skipped) == 0


def test_clip_binds_during_training():
  """Several epochs move the policy: some ratios leave [1 − ε, 1 + ε]."""
  cfg = ActorCriticConfig(task="CartPole", core="mlp", width=32, num_envs=8,
                          unroll_length=64, num_updates=3, loss="ppo",
                          ppo_epochs=8, num_minibatches=4,
                          learning_rate=3e-3, ppo_clip=0.1)
  agent = training.make_agent(cfg)
  state = training.init_state(jax.random.key(0), agent)
  step = jax.jit(lambda s: training.iteration(agent, s))
  for _ in range(2):
    state, metrics = step(state)
  assert float(metrics["ppo/clip_fraction"]) > 0.0
  assert float(metrics["ppo/clip_fraction_last_epoch"]) > float(
      metrics["ppo/clip_fraction"])  # The later epochs are further off.
  assert float(metrics["ppo/approx_kl"]) > 0.0
  assert float(metrics["skipped_updates"]) == 0.0


def test_ppo_optimizer_anneals_per_iteration_and_keeps_state_structure():
  base = ActorCriticConfig(loss="ppo", optimizer="sgd", learning_rate=0.1,
                           ppo_epochs=2, num_minibatches=2, num_updates=4,
                           max_grad_norm=0.0, num_envs=4)
  params = {"w": jnp.zeros(())}
  plain = ppo.ppo_optimizer(base)
  inner = learning.inner_optimizer(0.1, kind="sgd")
  assert (jax.tree.structure(plain.init(params))
          == jax.tree.structure(inner.init(params)))
  tx = ppo.ppo_optimizer(dataclasses.replace(base, anneal_lr=True))
  opt_state = tx.init(params)
  steps = []
  for _ in range(8):  # Two iterations of 2 epochs × 2 minibatches.
    update, opt_state = tx.update({"w": jnp.ones(())}, opt_state)
    steps.append(-float(update["w"]))
  np.testing.assert_allclose(steps, [0.1] * 4 + [0.075] * 4, rtol=1e-6)


def test_non_finite_rollout_skips_every_minibatch_step():
  agent, state, traj = _agent_and_traj("mlp", rollouts=1, ppo_epochs=2,
                                       num_minibatches=2)
  bad = traj._replace(rewards=traj.rewards.at[0, 0].set(jnp.nan))
  carry, _ = jax.jit(agent.ppo_update)(state.learner, bad, jax.random.key(0))
  assert int(carry.skipped) == 4
  for new, old in zip(jax.tree.leaves(carry.params),
                      jax.tree.leaves(state.learner.params), strict=True):
    np.testing.assert_array_equal(new, old)


# --- Learning. ----------------------------------------------------------------


def _final_return(loss, *, num_updates, seeds, **kwargs):
  """Mean episode return over the last quarter of updates, per seed."""
  cfg = ActorCriticConfig(task="CartPole", core="mlp", width=32,
                          num_envs=8, unroll_length=64,
                          num_updates=num_updates, loss=loss,
                          discount=0.99, lambda_=0.95, entropy_weight=0.01,
                          learning_rate=1e-3, **kwargs)
  train = jax.jit(jax.vmap(training.make_train(cfg)))
  _, m = train(jax.random.split(jax.random.key(0), seeds))
  returns, episodes = np.asarray(m["episode_return"]), np.asarray(
      m["episodes"])
  tail = num_updates // 4
  r, e = returns[:, -tail:], episodes[:, -tail:]
  return (r * e).sum(1) / np.maximum(e.sum(1), 1)


def test_ppo_learns_cartpole_faster_than_one_step_learner():
  """At equal env steps (60 × 512 = 30,720), PPO's 4 × 2 clipped steps per
  rollout beat the one-step learner on the same rollouts."""
  kw = dict(num_updates=60, seeds=2)
  ppo_final = _final_return("ppo", ppo_epochs=4, num_minibatches=2, **kw)
  a2c_final = _final_return("a2c", **kw)
  assert np.all(ppo_final > 1.5 * a2c_final), (ppo_final, a2c_final)


@pytest.mark.slow
def test_ppo_learns_cartpole_faster_slow():
  """Three seeds, 150 × 512 = 76,800 env steps: PPO ≥ 2× the one-step
  learner's final return and above 100 steps per episode (measured: 291,
  331, 118)."""
  kw = dict(num_updates=150, seeds=3)
  ppo_final = _final_return("ppo", ppo_epochs=4, num_minibatches=2, **kw)
  a2c_final = _final_return("a2c", **kw)
  assert np.all(ppo_final > 2.0 * a2c_final), (ppo_final, a2c_final)
  assert np.all(ppo_final > 100.0), ppo_final
