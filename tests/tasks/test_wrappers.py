"""Semantics of the AutoReset and PrevActionObs wrappers."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks.two_colors import TwoColors
from tasks.wrappers import AutoReset, PrevActionObs


@pytree_dataclass
class CountParams:
  """Episode length of :class:`Countdown`."""

  length: jax.Array


@pytree_dataclass
class CountState:
  """Steps taken in the episode and the reset draw."""

  t: jax.Array
  start: jax.Array


class Countdown(Environment):
  """Obs ``[start, t]``; reward = action; ends after ``length`` steps.

  ``start`` is drawn uniformly from ``{0..9}`` at reset, so a reset is
  visible in the observation.
  """

  def __init__(self, box_actions=False):
    self.box_actions = box_actions

  @property
  def default_params(self):
    return CountParams(length=jnp.asarray(3, jnp.int32))

  def reset(self, key, params):
    start = jax.random.randint(key, (), 0, 10).astype(jnp.float32)
    state = CountState(t=jnp.zeros((), jnp.int32), start=start)
    return self._obs(state), state

  def step(self, key, state, action, params):
    state = CountState(t=state.t + 1, start=state.start)
    reward = jnp.sum(jnp.asarray(action, jnp.float32))
    terminated = state.t >= params.length
    return (self._obs(state), state, reward, terminated,
            jnp.zeros((), jnp.bool_), {"t": state.t})

  def _obs(self, state):
    return jnp.stack([state.start, state.t.astype(jnp.float32)])

  def observation_space(self, params):
    return Box(0.0, 100.0, (2,), jnp.float32)

  def action_space(self, params):
    if self.box_actions:
      return Box(-2.0, 2.0, (1,), jnp.float32)
    return Discrete(3)


def _run(env, params, actions):
  key = jax.random.key(0)
  obs, state = env.reset(key, params)
  out = [obs]
  infos, flags = [], []
  step = jax.jit(env.step)
  for i, a in enumerate(actions):
    obs, state, r, term, trunc, info = step(
        jax.random.fold_in(key, i), state, a, params)
    out.append(obs)
    infos.append(info)
    flags.append(bool(term | trunc))
  return out, infos, flags


def test_autoreset_resets_and_keeps_final_observation():
  env = AutoReset(Countdown())
  params = env.default_params
  obs, infos, dones = _run(env, params, [1, 1, 1, 1, 1, 1, 1])
  assert dones == [False, False, True, False, False, True, False]
  t = [float(o[1]) for o in obs]
  assert t == [0, 1, 2, 0, 1, 2, 0, 1]  # reset after steps 3 and 6
  # final_observation is the reached obs: t = 3 at the ends, else == obs.
  assert float(infos[2]["final_observation"][1]) == 3.0
  assert float(infos[5]["final_observation"][1]) == 3.0
  np.testing.assert_array_equal(infos[0]["final_observation"], obs[1])
  assert set(infos[0]) == {"t", "final_observation"}


def test_autoreset_matches_manual_reset_with_split_key():
  inner = Countdown()
  env = AutoReset(inner)
  params = dataclasses.replace(inner.default_params,
                               length=jnp.asarray(1, jnp.int32))
  _, state = env.reset(jax.random.key(0), params)
  key = jax.random.key(7)
  obs, *_ = env.step(key, state, 0, params)
  _, key_reset = jax.random.split(key)
  expected, _ = inner.reset(key_reset, params)
  np.testing.assert_array_equal(obs, expected)


def test_autoreset_batched_equals_unbatched():
  """The lazy vmap rule (no / partial / full resets) is exact."""
  env = AutoReset(Countdown(), partial_reset_fraction=0.125)
  lengths = jnp.array([2, 2, 2, 3, 3, 4, 4, 11], jnp.int32)
  params = CountParams(length=lengths)

  def rollout(key, p):
    obs, state = env.reset(key, p)

    def body(state, k):
      obs, state, r, term, trunc, info = env.step(k, state, 1, p)
      return state, (obs, info["final_observation"], term)

    return jax.lax.scan(body, state, jax.random.split(key, 12))[1]

  keys = jax.random.split(jax.random.key(3), 8)
  batched = jax.jit(jax.vmap(rollout))(keys, params)
  single = jax.jit(rollout)
  for i in range(8):
    one = single(keys[i], CountParams(length=lengths[i]))
    jax.tree.map(lambda b, s, i=i: np.testing.assert_array_equal(b[i], s),
                 batched, one)
  # Nested vmap (two parameter copies x seeds) gives the same numbers.
  nested = jax.jit(jax.vmap(jax.vmap(rollout), in_axes=(None, 0)))(
      keys, jax.tree.map(lambda x: jnp.stack([x, x]), params))
  jax.tree.map(lambda n, b: np.testing.assert_array_equal(n[1], b),
               nested, batched)
  dones_per_step = np.asarray(batched[2]).sum(0)
  # Every branch: no reset (0), partial resets of 1, 2 and 4 environments
  # (counts 1, 2, 3) and the full batch (counts 5 and 7 > 4).
  np.testing.assert_array_equal(
      dones_per_step, [0, 3, 2, 5, 0, 5, 0, 5, 2, 3, 1, 7])


def test_autoreset_skips_non_episodic_and_validates():
  env = AutoReset(TwoColors())
  assert not env.episodic
  params = env.default_params
  obs, state = env.reset(jax.random.key(0), params)
  o, s, r, *_, info = env.step(jax.random.key(1), state, 0, params)
  o2, s2, r2, *_ = TwoColors().step(
      jax.random.split(jax.random.key(1))[0], state, 0, params)
  np.testing.assert_array_equal(o, o2)
  np.testing.assert_array_equal(info["final_observation"], o)
  with pytest.raises(ValueError, match="partial_reset_fraction"):
    AutoReset(TwoColors(), partial_reset_fraction=0.0)
  with pytest.raises(ValueError, match="Environment"):
    AutoReset("CartPole")


def test_prev_action_obs_discrete():
  env = PrevActionObs(Countdown())
  params = env.default_params
  obs, _, _ = _run(env, params, [2, 0])
  np.testing.assert_array_equal(obs[0][2:], [0, 0, 0, 1])
  np.testing.assert_array_equal(obs[1][2:], [0, 0, 1, 0])
  np.testing.assert_array_equal(obs[2][2:], [1, 0, 0, 0])
  space = env.observation_space(params)
  assert space.shape == (6,)
  np.testing.assert_array_equal(space.low, [0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(space.high, [100, 100, 1, 1, 1, 1])


def test_prev_action_obs_box_actions():
  env = PrevActionObs(Countdown(box_actions=True))
  params = env.default_params
  obs, _, _ = _run(env, params, [jnp.array([1.5])])
  np.testing.assert_array_equal(obs[0][2:], [0.0, 1.0])
  np.testing.assert_array_equal(obs[1][2:], [1.5, 0.0])
  space = env.observation_space(params)
  np.testing.assert_array_equal(space.low[2:], [-2.0, 0.0])


@pytest.mark.parametrize("order", ["prev_of_auto", "auto_of_prev"])
def test_composition_marks_episode_starts(order):
  inner = Countdown()
  if order == "prev_of_auto":
    env = PrevActionObs(AutoReset(inner))
  else:
    env = AutoReset(PrevActionObs(inner))
  params = env.default_params
  obs, infos, dones = _run(env, params, [1, 2, 1, 2])
  flags = [float(o[-1]) for o in obs]
  assert flags == [1, 0, 0, 1, 0]  # the obs after the 3rd step starts anew
  np.testing.assert_array_equal(obs[3][2:5], [0, 0, 0])  # no prev action
  np.testing.assert_array_equal(obs[2][2:5], [0, 0, 1])
  final = infos[2]["final_observation"]
  np.testing.assert_array_equal(final[1:], [3, 0, 1, 0, 0])


def test_prev_action_obs_rejects_non_flat_obs():

  class Grid(Countdown):
    def observation_space(self, params):
      return Box(0.0, 1.0, (2, 2), jnp.float32)

  with pytest.raises(ValueError, match="1-D Box"):
    PrevActionObs(Grid())
