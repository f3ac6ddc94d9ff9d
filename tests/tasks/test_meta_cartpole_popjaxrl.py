"""popjaxrl's meta-CartPole (``MetaStatelessCartPolePopjaxrl``) by hand.

Pins the observation layout and size, the orthogonal projection (fixed in a
meta-episode, resampled across), the absence of an action permutation and of
the reward in the observation, the restart of every trial from one start
state, and the trial counting, on cases worked out by hand: one Euler step
from chosen states, and 5-step trials that no policy can end early. The
noisy variants' noise is recovered through the projection and compared
with POPGym's clipped Gaussian.

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks.control import CartPoleState, ObservationProjectionMeta, Pendulum
from tasks.popgym.stateless_control import StatelessCartPole
from tasks.wrappers import PrevActionObs

_NAME = "MetaStatelessCartPolePopjaxrl"
# The projection used in the hand cases: M [x, θ] = [x, θ, x + θ, 0].
_M = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])


def _state_at(env, params, inner):
  """A reset state with the hand projection and ``inner`` as the state."""
  _, state = env.reset(jax.random.key(0), params)
  return dataclasses.replace(state, inner=inner, obs_projection=_M)


def test_registered_sizes_and_defaults():
  env, params = tasks.make(_NAME)
  assert isinstance(env, ObservationProjectionMeta)
  assert env.observation_space(params).shape == (7,)  # 4 + 3, popjaxrl's
  # The agent's view adds a one-hot action and a first-step flag: 10.
  assert PrevActionObs(env).observation_space(params).shape == (10,)
  assert env.action_space(params).n == 2
  assert int(params.num_trials) == 16
  assert int(params.inner.control.max_steps_in_episode) == 200
  assert float(params.inner.noise_sigma) == 0.0


def test_step_observation_by_hand_without_reward_or_permutation():
  env, params = tasks.make(_NAME)
  # x = 0.1, ẋ = 0.5, θ = 0, θ̇ = 1: one Euler step (τ = 0.02) gives
  # x = 0.1 + 0.02·0.5 = 0.11, θ = 0.02 whatever the push.
  inner = CartPoleState(*map(jnp.float32, (0.1, 0.5, 0.0, 1.0)),
                        jnp.int32(3))
  obs, new, reward, term, trunc, info = jax.jit(env.step)(
      jax.random.key(1), _state_at(env, params, inner), 1, params)
  np.testing.assert_allclose(
      obs, [0.11, 0.02, 0.13, 0.0, 1.0, 0.0, 0.0], atol=1e-6)
  assert float(reward) == pytest.approx(1 / 200)
  assert not bool(term) and not bool(trunc) and int(info["trial"]) == 0
  assert int(new.time) == 1 and int(new.inner.time) == 4


def test_reset_observation_is_projection_then_0_0_1():
  env, params = tasks.make(_NAME)
  obs, state = jax.jit(env.reset)(jax.random.key(2), params)
  inner = state.inner
  np.testing.assert_allclose(
      obs[:4], state.obs_projection @ jnp.stack([inner.x, inner.theta]),
      atol=1e-7)
  np.testing.assert_array_equal(obs[4:], [0.0, 0.0, 1.0])


@functools.cache
def _resets(num):
  env, params = tasks.make(_NAME)
  keys = jax.random.split(jax.random.key(3), num)
  return jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)[1]


def test_projection_is_orthogonal_gain_sqrt2_and_resampled():
  states = _resets(64)
  m = np.asarray(states.obs_projection)  # [64, 4, 2]
  gram = np.einsum("bij,bik->bjk", m, m)
  np.testing.assert_allclose(gram, np.broadcast_to(2 * np.eye(2), gram.shape),
                             atol=1e-5)
  assert len({p.tobytes() for p in m}) == 64  # a new one every meta-episode
  # A start state per meta-episode too (x ~ U[-0.05, 0.05]).
  assert len(set(np.asarray(states.inner.x).tolist())) == 64


def test_no_action_permutation():
  # From rest, pushing right gives ẋ = 0.02 · ẍ with ẍ = 9.7561 (gym's
  # formulas: temp = 10/1.1, θ̈ = -temp / (0.5 (4/3 - 0.1/1.1)) = -14.634,
  # ẍ = temp + 0.05 · 14.634 / 1.1): ẋ = +0.19512 in every meta-episode.
  env, params = tasks.make(_NAME)
  states = _resets(64)
  np.testing.assert_array_equal(states.action_projection,
                                np.tile([0, 1], (64, 1)))
  rest = CartPoleState(*([jnp.zeros(64)] * 4), jnp.zeros(64, jnp.int32))
  states = dataclasses.replace(states, inner=rest)

  def push(state, action):
    return env.step(jax.random.key(4), state, action, params)[1].inner.x_dot

  step = jax.jit(jax.vmap(push, in_axes=(0, None)))
  np.testing.assert_allclose(step(states, 1), 0.19512, atol=1e-5)
  np.testing.assert_allclose(step(states, 0), -0.19512, atol=1e-5)


def _short_env():
  """3 trials of exactly 5 steps: from |θ|, |θ̇| <= 0.05 the pole cannot
  pass 12° in 5 steps of 0.02 s, nor the cart 2.4 m."""
  env = ObservationProjectionMeta(
      StatelessCartPole(max_steps_in_episode=5), num_trials=3)
  return env, env.default_params


@functools.cache
def _random_actions(env, params, seed, steps):
  """``steps`` uniform random actions from a reset, under ``jax.jit``.

  The reset uses key ``seed`` and the steps keys split from ``seed + 1``,
  so the same ``seed`` gives two tasks the same actions.

  Returns:
    ``(obs0, state0, (action, obs, new_state, reward, terminated,
    truncated, info))``, the last stacked over steps.
  """
  def body(state, key):
    k_act, k_step = jax.random.split(key)
    action = jax.random.bernoulli(k_act).astype(jnp.int32)
    obs, new, reward, term, trunc, info = env.step(k_step, state, action,
                                                   params)
    return new, (action, obs, new, reward, term, trunc, info)

  @jax.jit
  def run():
    obs0, state0 = env.reset(jax.random.key(seed), params)
    keys = jax.random.split(jax.random.key(seed + 1), steps)
    return obs0, state0, jax.lax.scan(body, state0, keys)[1]

  return run()


def _short_rollout():
  return _random_actions(*_short_env(), 5, 16)


def test_trial_counting_and_termination_after_num_trials():
  _, _, (_, _, new, reward, term, trunc, info) = _short_rollout()
  steps = np.arange(1, 17)
  np.testing.assert_array_equal(info["trial_done"], steps % 5 == 0)
  np.testing.assert_array_equal(info["trial"], steps // 5)
  np.testing.assert_array_equal(new.trial, steps // 5)
  np.testing.assert_array_equal(term, steps >= 15)  # after the 3rd trial
  assert not bool(trunc.any())
  np.testing.assert_allclose(reward, 1 / 5, atol=0)  # 1/L every step


def test_every_trial_restarts_from_the_same_start_state():
  obs0, state0, (action, obs, new, *_) = _short_rollout()
  restart = np.array([5, 10, 15]) - 1  # the steps that end a trial
  for field in ("x", "x_dot", "theta", "theta_dot"):
    got = np.asarray(getattr(new.inner, field))[restart]
    np.testing.assert_array_equal(got, getattr(state0.inner, field))
  np.testing.assert_array_equal(np.asarray(new.inner.time)[restart], 0)
  # The restart observation: the first one's projection, a_{t-1}, done=1.
  np.testing.assert_allclose(obs[restart, :4],
                             np.tile(obs0[:4], (3, 1)), atol=0)
  np.testing.assert_array_equal(obs[restart, 5], 1.0)
  np.testing.assert_array_equal(obs[:, 4], action)
  np.testing.assert_array_equal(obs[:, 6], 0.0)
  # Between restarts the state moves on (x changes at every step).
  assert np.all(np.diff(np.asarray(new.inner.x)[:4]) != 0)


def test_projection_fixed_within_the_meta_episode():
  _, state0, (_, obs, new, *_) = _short_rollout()
  np.testing.assert_array_equal(
      new.obs_projection,
      np.broadcast_to(state0.obs_projection, new.obs_projection.shape))
  positions = jnp.stack([new.inner.x, new.inner.theta], axis=1)
  np.testing.assert_allclose(obs[:, :4], positions @ state0.obs_projection.T,
                             atol=1e-7)


def test_invalid_arguments_raise():
  with pytest.raises(ValueError, match="Discrete"):
    ObservationProjectionMeta(Pendulum())
  with pytest.raises(ValueError, match="gain"):
    ObservationProjectionMeta(StatelessCartPole(), gain=0.0)
  with pytest.raises(ValueError, match="num_trials"):
    tasks.make(_NAME, num_trials=0)


def test_no_trial_flag_variant_only_zeroes_the_trial_done_entry():
  env, params = tasks.make(_NAME + "NoTrialFlag")
  ref, _ = tasks.make(_NAME)
  assert env.trial_done_flag is False and ref.trial_done_flag is True

  _, _, (_, obs, _, reward, term, _, info) = _random_actions(env, params, 7,
                                                             400)
  _, _, (_, obs_ref, _, reward_ref, term_ref, _, info_ref) = _random_actions(
      ref, params, 7, 400)
  done, done_ref = info["trial_done"], info_ref["trial_done"]
  assert int(done_ref.sum()) >= 3  # random actions end several trials
  np.testing.assert_array_equal(obs_ref[:, 5], done_ref)
  np.testing.assert_array_equal(obs[:, 5], 0.0)
  keep = np.array([0, 1, 2, 3, 4, 6])
  np.testing.assert_array_equal(obs[:, keep], obs_ref[:, keep])
  np.testing.assert_array_equal(reward, reward_ref)
  np.testing.assert_array_equal(term, term_ref)
  np.testing.assert_array_equal(done, done_ref)


def test_random_trials_variant_draws_8_to_16_trials_per_episode():
  env, params = tasks.make(_NAME + "RandomTrials")
  assert (params.num_trials, params.min_trials) == (16, 8)
  _, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
      jax.random.split(jax.random.key(9), 900), params)
  counts = np.bincount(np.asarray(states.num_trials), minlength=17)
  assert counts[:8].sum() == 0 and counts[8:].min() > 60  # ~100 each
  # The episode terminates after its own number of trials.
  short = ObservationProjectionMeta(
      StatelessCartPole(max_steps_in_episode=2), num_trials=4, min_trials=2)
  p = short.default_params

  def ends(key):
    _, s = short.reset(key, p)

    def body(s, k):
      _, s, _, term, _, _ = short.step(k, s, 0, p)
      return s, term
    return s.num_trials, jax.lax.scan(body, s, jax.random.split(key, 8))[1]

  n, term = jax.jit(jax.vmap(ends))(jax.random.split(jax.random.key(3), 64))
  first = np.argmax(np.asarray(term), axis=1) + 1  # steps to termination
  np.testing.assert_array_equal(first, 2 * np.asarray(n))
  assert set(np.asarray(n).tolist()) == {2, 3, 4}
  # Fixed counts (min_trials = 0) are unchanged: the task's own is 16.
  fixed_env, fixed_params = tasks.make(_NAME)
  _, fixed = fixed_env.reset(jax.random.key(9), fixed_params)
  assert int(fixed.num_trials) == 16
  with pytest.raises(ValueError, match="min_trials"):
    ObservationProjectionMeta(StatelessCartPole(), num_trials=4, min_trials=5)


def test_32_trials_variant_runs_the_16_trial_task_twice_as_long():
  env, params = tasks.make(_NAME + "32Trials")
  ref, ref_params = tasks.make(_NAME)
  assert (params.num_trials, ref_params.num_trials) == (32, 16)

  _, _, (_, obs, _, reward, term, _, info) = _random_actions(env, params, 5,
                                                             1500)
  _, _, (_, obs_ref, _, reward_ref, term_ref, _, info_ref) = _random_actions(
      ref, ref_params, 5, 1500)
  trial, trial_ref = info["trial"], info_ref["trial"]
  end_ref = int(np.argmax(term_ref)) + 1  # steps of the 16-trial episode
  end = int(np.argmax(term)) + 1  # first termination of the 32-trial one
  assert int(trial_ref[end_ref - 1]) == 16 and int(trial[end - 1]) == 32
  # At the 16-trial episode's end the 32-trial one has counted 16 trials
  # too and goes on.
  assert int(trial[end_ref - 1]) == 16 and end > end_ref
  # Same key, same actions: identical up to the 16-trial episode's end.
  np.testing.assert_array_equal(obs[:end_ref - 1], obs_ref[:end_ref - 1])
  np.testing.assert_array_equal(reward[:end_ref], reward_ref[:end_ref])


@pytest.mark.parametrize("name, sigma", [
    (_NAME, 0.0),
    ("MetaNoisyStatelessCartPolePopjaxrlEasy", 0.1),
    ("MetaNoisyStatelessCartPolePopjaxrlMedium", 0.2),
    ("MetaNoisyStatelessCartPolePopjaxrlHard", 0.3)])
def test_noisy_variants_add_gaussian_noise_to_x_theta_before_projecting(
    name, sigma):
  env, params = tasks.make(name)
  assert float(params.inner.noise_sigma) == sigma
  obs, states = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
      jax.random.split(jax.random.key(4), 4000), params)
  true = jnp.stack([states.inner.x, states.inner.theta], axis=-1)
  m = states.obs_projection  # [n, 4, 2], Mᵀ M = 2 I
  # ε = Mᵀ (M (o + ε) - M o) / 2, one pair per reset.
  eps = jnp.einsum("nij,ni->nj", m,
                   obs[:, :4] - jnp.einsum("nij,nj->ni", m, true)) / 2.0
  eps = np.asarray(eps)
  if sigma == 0.0:
    np.testing.assert_allclose(eps, 0.0, atol=1e-6)
    return
  # POPGym clips the noisy observation to its space (θ at ±24°, which
  # binds at σ 0.3): the expected spread is that of clipped noise, here
  # simulated with 50 fresh draws per reset.
  high = np.asarray(env.inner.observation_space(params.inner).high)
  rep = np.tile(np.asarray(true), (50, 1))
  noise = sigma * np.random.default_rng(0).standard_normal(rep.shape)
  clipped = np.clip(rep + noise, -high, high) - rep
  # 4000 draws per coordinate: a sample std's relative sd is ~1.1%, so 3%
  # is ~2.7 sd; noise added after the projection instead would give
  # 0.71 σ here.
  np.testing.assert_allclose(eps.std(axis=0), clipped.std(axis=0), rtol=0.03)
  assert np.all(np.abs(eps.mean(axis=0)) < 4 * sigma / np.sqrt(4000))
  # The two coordinates' noise is independent.
  assert abs(np.corrcoef(eps.T)[0, 1]) < 0.06
