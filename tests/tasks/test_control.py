"""CartPole, Pendulum and randomly projected meta-control against references.

Dynamics are compared with gymnax 1.0.1 (a test-only reference) by stepping
both from the same states with the same actions (obs, reward, terminated,
truncated to 1e-5). The meta-control tests check the projection bookkeeping
by hand: fixed within a meta-episode, resampled across meta-episodes, the
inner action equal to the projected agent action, and the appended previous
action, reward and trial-done flag.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control import cartpole as gx_cartpole
from gymnax.environments.classic_control import pendulum as gx_pendulum

import tasks
from tasks.control import (
    CartPole,
    MetaControlParams,
    Pendulum,
    RandomProjectionMeta,
)

_N_STATES = 512
_ATOL = 1e-5


_RNG = np.random.default_rng(0)  # test inputs drawn in numpy: no compiles


def _uniform(n, low, high):
  return jnp.asarray(_RNG.uniform(low, high, n), jnp.float32)


def _step_both(env, params, genv, gparams, state, gstate, action):
  """Our ``step`` and gymnax's ``step_env`` + ``is_truncated``, batched."""

  @jax.jit
  def run(state, gstate, action):
    key = jax.random.key(1)
    ours = jax.vmap(env.step, in_axes=(None, 0, 0, None))(
        key, state, action, params)
    g_obs, g_state, g_rew, g_term, _ = jax.vmap(
        genv.step_env, in_axes=(None, 0, 0, None))(
            key, gstate, action, gparams)
    g_trunc = jax.vmap(genv.is_truncated, in_axes=(0, None))(
        g_state, gparams)
    return ours, (g_obs, g_rew, g_term, g_trunc)

  (obs, _, reward, term, trunc, _), theirs = run(state, gstate, action)
  return (obs, reward, term, trunc), theirs


def test_cartpole_step_matches_gymnax():
  env, params = tasks.make("CartPole")
  genv = gx_cartpole.CartPole()
  x = _uniform(_N_STATES, -2.6, 2.6)  # some outside ±2.4: terminal states
  xd = _uniform(_N_STATES, -3.0, 3.0)
  th = _uniform(_N_STATES, -0.25, 0.25)  # some outside ±12°
  thd = _uniform(_N_STATES, -3.0, 3.0)
  t = jnp.asarray(_RNG.integers(0, 501, _N_STATES), jnp.int32)
  action = jnp.asarray(_RNG.integers(0, 2, _N_STATES), jnp.int32)
  ours, theirs = _step_both(
      env, params, genv, genv.default_params,
      tasks.control.CartPoleState(x, xd, th, thd, t),
      gx_cartpole.EnvState(x=x, x_dot=xd, theta=th, theta_dot=thd, time=t),
      action)
  (obs, reward, term, trunc), (g_obs, g_rew, g_term, g_trunc) = ours, theirs
  np.testing.assert_allclose(obs, g_obs, atol=_ATOL, rtol=0)
  np.testing.assert_allclose(reward, g_rew, atol=_ATOL, rtol=0)
  np.testing.assert_array_equal(term, g_term)
  np.testing.assert_array_equal(trunc, g_trunc)
  # The sample covers both rewards, both end flags and both actions.
  assert 0 < float(reward.mean()) < 1
  assert 0 < float(term.mean()) < 1 and bool(trunc.any())


def test_pendulum_step_matches_gymnax():
  env, params = tasks.make("Pendulum")
  genv = gx_pendulum.Pendulum()
  theta = _uniform(_N_STATES, -7.0, 7.0)
  theta_dot = _uniform(_N_STATES, -8.0, 8.0)
  torque = _uniform(_N_STATES, -3.0, 3.0)[:, None]  # some clipped
  time = jnp.asarray(_RNG.integers(0, 201, _N_STATES), jnp.int32)
  ours, theirs = _step_both(
      env, params, genv, genv.default_params,
      tasks.control.PendulumState(theta, theta_dot, time),
      gx_pendulum.EnvState(theta=theta, theta_dot=theta_dot,
                           last_u=jnp.zeros_like(theta), time=time),
      torque)
  (obs, reward, term, trunc), (g_obs, g_rew, g_term, g_trunc) = ours, theirs
  np.testing.assert_allclose(obs, g_obs, atol=_ATOL, rtol=0)
  np.testing.assert_allclose(reward, g_rew, atol=1e-4, rtol=1e-6)
  np.testing.assert_array_equal(term, g_term)
  np.testing.assert_array_equal(trunc, g_trunc)
  assert bool(trunc.any()) and not bool(trunc.all())


@pytest.mark.parametrize(
    "name, gx_env", [("CartPole", gx_cartpole.CartPole()),
                     ("Pendulum", gx_pendulum.Pendulum())])
def test_reset_and_trajectory_match_gymnax(name, gx_env):
  """Same key: same start state; then 150 steps of the same actions."""
  env, params = tasks.make(name)
  gparams = gx_env.default_params
  keys = jax.random.split(jax.random.key(4), 8)
  space = env.action_space(params)

  def body(carry, key):
    s, gs = carry
    a = jax.vmap(space.sample)(jax.random.split(key, 8))
    o, s, r, *_ = jax.vmap(env.step, in_axes=(None, 0, 0, None))(
        key, s, a, params)
    go, gs, gr, *_ = jax.vmap(gx_env.step_env, in_axes=(None, 0, 0, None))(
        key, gs, a, gparams)
    return (s, gs), (o, go, r, gr)

  @jax.jit
  def run(keys):
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    g_obs, g_state = jax.vmap(gx_env.reset_env, in_axes=(0, None))(
        keys, gparams)
    _, outs = jax.lax.scan(
        body, (state, g_state), jax.random.split(jax.random.key(5), 150))
    return obs, g_obs, outs

  obs, g_obs, (o, go, r, gr) = run(keys)
  np.testing.assert_allclose(obs, g_obs, atol=1e-6)
  np.testing.assert_allclose(o, go, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(r, gr, atol=1e-4, rtol=1e-4)


def test_invalid_constructor_arguments_raise():
  with pytest.raises(ValueError, match="max_steps_in_episode"):
    CartPole(max_steps_in_episode=0)
  with pytest.raises(ValueError, match="num_trials"):
    RandomProjectionMeta(Pendulum(), num_trials=0)
  with pytest.raises(ValueError, match="obs_dim"):
    tasks.make("MetaCartPole", obs_dim=0)


# ------------------------------------------------------------- meta-control


def _meta_rollout(env, params, key, num_steps, policy):
  """Steps from reset; returns per-step (obs, state, action, reward, ...)."""
  key_reset, key_run = jax.random.split(key)
  obs0, state0 = env.reset(key_reset, params)

  def body(state, key):
    k_act, k_step = jax.random.split(key)
    action = policy(k_act)
    obs, new, reward, term, trunc, info = env.step(
        k_step, state, action, params)
    return new, (state, action, obs, new, reward, term, trunc, info)

  _, outs = jax.lax.scan(body, state0, jax.random.split(key_run, num_steps))
  return obs0, state0, outs


# 3 trials of at most 12 steps; one compiled 40-step rollout for two tests.
_SHORT_META = RandomProjectionMeta(CartPole(max_steps_in_episode=12),
                                   num_trials=3)


@functools.cache
def _short_meta_run():
  env, params = _SHORT_META, _SHORT_META.default_params
  policy = env.action_space(params).sample
  return jax.jit(lambda k: _meta_rollout(env, params, k, 40, policy))


def test_meta_cartpole_projection_fixed_within_and_resampled_across():
  env, params = _SHORT_META, _SHORT_META.default_params
  obs0, state0, outs = _short_meta_run()(jax.random.key(6))
  _, _, _, new, *_ = outs
  # Fixed within the meta-episode (across all trials).
  np.testing.assert_array_equal(
      new.obs_projection, jnp.broadcast_to(state0.obs_projection,
                                           new.obs_projection.shape))
  np.testing.assert_array_equal(
      new.action_projection,
      jnp.broadcast_to(state0.action_projection,
                       new.action_projection.shape))
  assert int(new.trial[-1]) >= 2  # the rollout crossed trial boundaries
  # Resampled across meta-episodes: 64 resets give different projections.
  states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
      jax.random.split(jax.random.key(7), 64), params)[1]
  projs = np.asarray(states.obs_projection).reshape(64, -1)
  assert len({p.tobytes() for p in projs}) == 64
  # Entries ~ N(0, 1/4): the sample variance over 64·12·4 draws.
  np.testing.assert_allclose(projs.var(), 0.25, rtol=0.1)
  perms = np.asarray(states.action_projection)
  assert {tuple(p) for p in perms} == {(0, 1), (1, 0)}
  assert 0.3 < (perms[:, 0] == 1).mean() < 0.7


def test_meta_cartpole_observation_and_inner_action_bookkeeping():
  env, params = _SHORT_META, _SHORT_META.default_params
  inner = env.inner
  obs0, state0, outs = _short_meta_run()(jax.random.key(8))
  prev, action, obs, new, reward, term, trunc, info = outs
  m_o = state0.obs_projection
  # Reset: projected inner obs, then zeros for action (2), reward, done.
  np.testing.assert_allclose(obs0[:12], m_o @ inner.observe(state0.inner),
                             atol=1e-6)
  np.testing.assert_array_equal(obs0[12:], jnp.zeros(4))
  # Appended previous action (one-hot), reward and trial-done.
  np.testing.assert_array_equal(obs[:, 12:14], jax.nn.one_hot(action, 2))
  np.testing.assert_array_equal(obs[:, 14], reward)
  np.testing.assert_array_equal(obs[:, 15], info["trial_done"])
  # The inner task received the permuted action: redo each step by hand.
  inner_action = state0.action_projection[action]
  _, stepped, r_hand, t_hand, tr_hand, _ = jax.jit(jax.vmap(
      inner.step, in_axes=(None, 0, 0, None)))(
          jax.random.key(0), prev.inner, inner_action, params.inner)
  np.testing.assert_allclose(reward, r_hand, atol=0)
  np.testing.assert_array_equal(info["trial_done"], t_hand | tr_hand)
  done = info["trial_done"]
  assert int(done.sum()) == 3
  # Not done: inner state advanced; done: restarted at the initial state.
  expect_x = jnp.where(done, state0.inner.x, stepped.x)
  np.testing.assert_allclose(new.inner.x, expect_x, atol=1e-7, rtol=0)
  np.testing.assert_array_equal(new.inner.time, jnp.where(done, 0,
                                                          stepped.time))
  np.testing.assert_allclose(obs[:, :12], jax.vmap(
      lambda s: m_o @ inner.observe(s))(new.inner), atol=1e-6)
  # Meta-episode ends exactly when the third trial ends.
  first_end = int(jnp.argmax(term))
  assert bool(term[first_end]) and first_end == int(jnp.nonzero(done)[0][2])
  assert not bool(trunc.any())


def test_meta_pendulum_continuous_action_projection():
  env, params = tasks.make("MetaPendulum")
  assert env.action_space(params).shape == (2,)
  assert env.observation_space(params).shape == (12 + 2 + 2,)
  action = jnp.array([0.7, -0.4])

  @jax.jit
  def run(key):
    _, state = env.reset(key, params)
    obs, new, reward, *_ = env.step(jax.random.key(10), state, action, params)
    torque = jnp.clip(2.0 * (state.action_projection @ action), -2.0, 2.0)
    _, hand, r_hand, *_ = env.inner.step(
        jax.random.key(0), state.inner, torque, params.inner)
    return obs, new, reward, hand, r_hand, state.action_projection

  keys = jax.random.split(jax.random.key(9), 2000)
  obs, new, reward, hand, r_hand, mas = jax.vmap(run)(keys)
  np.testing.assert_allclose(new.inner.theta_dot, hand.theta_dot, atol=1e-6)
  np.testing.assert_allclose(reward, r_hand, atol=1e-6)
  np.testing.assert_allclose(obs[:, 12:14],
                             jnp.broadcast_to(action, (2000, 2)), atol=0)
  np.testing.assert_allclose(obs[:, 14], reward, atol=0)
  np.testing.assert_array_equal(obs[:, 15], 0.0)
  # The sample covers clipped and unclipped torques.
  clipped = np.mean(np.abs(2.0 * np.asarray(mas) @ np.asarray(action)) > 2)
  assert 0.01 < clipped < 0.5
  # M_a entries ~ N(0, 1/2), i.i.d. over 2000 meta-episodes.
  np.testing.assert_allclose(np.var(np.asarray(mas)), 0.5, rtol=0.1)


def test_meta_fresh_reset_per_trial_and_num_trials_vmap():
  env = RandomProjectionMeta(CartPole(max_steps_in_episode=5),
                             repeat_initial_state=False, num_trials=2)
  params = env.default_params
  policy = env.action_space(params).sample
  _, state0, outs = jax.jit(
      lambda k: _meta_rollout(env, params, k, 5, policy))(jax.random.key(12))
  new = outs[3]
  # The trial ends at step 5 (truncation) and restarts from a fresh state.
  assert bool(outs[7]["trial_done"][4]) and int(new.time[4]) == 5
  assert float(new.inner.x[4]) != float(state0.inner.x)
  assert int(new.inner.time[4]) == 0
  # num_trials is a params leaf: vmap over it.
  stacked = dataclasses.replace(params, num_trials=jnp.array([1, 2]))
  ends = jax.jit(jax.vmap(
      lambda p: _meta_rollout(env, p, jax.random.key(13), 12, policy)[2][5],
      in_axes=(MetaControlParams(inner=None, num_trials=0,
                                 min_trials=None),)))(stacked)
  first = np.argmax(np.asarray(ends), axis=1)
  np.testing.assert_array_equal(first, [4, 9])  # 5 steps per trial
