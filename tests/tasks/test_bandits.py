"""Hand-checked cases for the switching and drifting Bernoulli bandits."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks.bandits import (
    DriftingBandit,
    SwitchingBandit,
    SwitchingBanditState,
    reflect_unit,
)


def test_switching_schedule_by_hand():
  env = SwitchingBandit(n_arms=3, means=(0.9, 0.5, 0.1), switch_period=4)
  params = env.default_params
  expected = {  # time -> means of arms 0, 1, 2
      0: [0.9, 0.5, 0.1], 3: [0.9, 0.5, 0.1], 4: [0.1, 0.9, 0.5],
      8: [0.5, 0.1, 0.9], 11: [0.5, 0.1, 0.9], 12: [0.9, 0.5, 0.1],
  }
  for time, means in expected.items():
    np.testing.assert_allclose(
        env.current_means(jnp.asarray(time), params), means, rtol=1e-6)


def test_switching_rewards_info_and_frequencies():
  env = SwitchingBandit(n_arms=2, means=(1.0, 0.0), switch_period=3)
  params = env.default_params
  step = jax.jit(env.step)
  for time, best in [(0, 0), (2, 0), (3, 1), (5, 1), (6, 0)]:
    state = SwitchingBanditState(time=jnp.asarray(time, jnp.int32))
    for arm in (0, 1):
      obs, s, r, term, trunc, info = step(jax.random.key(time), state, arm,
                                          params)
      assert float(r) == float(arm == best) and r.dtype == jnp.float32
      assert int(info["best_arm"]) == best
      assert float(info["expected_regret"]) == float(arm != best)
      assert int(s.time) == time + 1
      assert not bool(term) and not bool(trunc)
      np.testing.assert_array_equal(obs, [1.0])
  # Bernoulli frequency of a 0.3 arm over many keys.
  env = SwitchingBandit(n_arms=2, means=(0.3, 0.6))
  state = SwitchingBanditState(time=jnp.zeros((), jnp.int32))
  keys = jax.random.split(jax.random.key(0), 4000)
  rewards = jax.vmap(env.step, in_axes=(0, None, None, None))(
      keys, state, 0, env.default_params)[2]
  np.testing.assert_allclose(rewards.mean(), 0.3, atol=0.03)


def test_default_means_and_registry():
  env, params = tasks.make("SwitchingBandit")
  np.testing.assert_allclose(params.means, [0.9, 0.1])
  assert int(params.switch_period) == 2000
  env, params = tasks.make("DriftingBandit", n_arms=5)
  np.testing.assert_allclose(params.initial_means, [0.1, 0.3, 0.5, 0.7, 0.9],
                             rtol=1e-6)


def test_reflect_unit_by_hand():
  x = jnp.array([-0.1, 0.0, 0.4, 1.0, 1.2, 2.3, -1.5])
  np.testing.assert_allclose(reflect_unit(x), [0.1, 0.0, 0.4, 1.0, 0.8, 0.3,
                                               0.5], atol=1e-6)


def test_drift_path_depends_on_seed_and_time_only():
  env = DriftingBandit(n_arms=4, drift_rate=0.05)
  params = env.default_params
  step = jax.jit(env.step)

  def means_path(actions, key_offset):
    _, state = env.reset(jax.random.key(3), params)
    path = []
    for t, a in enumerate(actions):
      _, state, *_ = step(jax.random.key(key_offset + t), state, a, params)
      path.append(state.means)
    return np.stack(path)

  a = means_path([0, 1, 2, 3, 0, 1], 0)
  b = means_path([3, 3, 3, 3, 3, 3], 100)  # other actions and step keys
  np.testing.assert_array_equal(a, b)
  assert np.all((a >= 0) & (a <= 1))
  # First increment by hand: reflect(m0 + rate * N(fold_in(key, 0))).
  noise = jax.random.normal(jax.random.fold_in(jax.random.key(3), 0), (4,))
  np.testing.assert_allclose(
      a[0], reflect_unit(params.initial_means + 0.05 * noise), rtol=1e-6)


def test_zero_drift_keeps_means_and_drift_rate_is_vmappable():
  env = DriftingBandit(n_arms=3)
  params = jax.vmap(lambda r: dataclasses.replace(
      env.default_params, drift_rate=r))(jnp.array([0.0, 0.1]))
  _, state = env.reset(jax.random.key(0), env.default_params)
  step = jax.vmap(env.step, in_axes=(None, None, None, 0))
  _, states, _, _, _, info = step(jax.random.key(1), state, 2, params)
  np.testing.assert_array_equal(states.means[0], state.means)
  assert not np.array_equal(states.means[1], state.means)
  # Reward and info use the means before the drift: [0.1, 0.5, 0.9].
  np.testing.assert_array_equal(info["best_arm"], [2, 2])
  np.testing.assert_allclose(info["expected_regret"], [0.0, 0.0], atol=1e-7)


@pytest.mark.parametrize("cls, kwargs", [
    (SwitchingBandit, {"n_arms": 1}),
    (SwitchingBandit, {"n_arms": 2, "means": (0.5,)}),
    (SwitchingBandit, {"means": (0.5, 1.5)}),
    (SwitchingBandit, {"switch_period": 0}),
    (DriftingBandit, {"drift_rate": -0.1}),
    (DriftingBandit, {"n_arms": 2, "initial_means": (0.1, 0.2, 0.3)}),
])
def test_invalid_arguments_raise(cls, kwargs):
  with pytest.raises(ValueError):
    cls(**kwargs)
