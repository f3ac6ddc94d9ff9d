"""Hand-checked cases for the Two-Colors grid world."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks.two_colors import TwoColors, TwoColorsState

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


def _state(agent, items, time=0):
  return TwoColorsState(
      agent=jnp.asarray(agent, jnp.int32),
      items=jnp.asarray(items, jnp.int32),
      time=jnp.asarray(time, jnp.int32))


@pytest.fixture(scope="module")
def env_and_step():
  env = TwoColors()
  return env, jax.jit(env.step)


def test_observation_encoding_by_hand():
  env = TwoColors()
  # agent (1, 2) = cell 7, colour 0 at (0, 4) = 4, colour 1 at (4, 0) = 20.
  obs = env._obs(_state(7, [4, 20]))
  expected = np.zeros(30, np.float32)
  for block, index in enumerate([1, 2, 0, 4, 4, 0]):
    expected[5 * block + index] = 1.0
  np.testing.assert_array_equal(obs, expected)
  assert obs.dtype == jnp.float32
  assert env.observation_space(env.default_params).shape == (30,)


def test_reset_places_three_distinct_cells():
  env, params = tasks.make("TwoColors")
  for seed in range(20):
    obs, state = env.reset(jax.random.key(seed), params)
    cells = {int(state.agent), *map(int, state.items)}
    assert len(cells) == 3 and all(0 <= c < 25 for c in cells)
    assert float(obs.sum()) == 6.0


def test_moves_and_borders(env_and_step):
  env, step = env_and_step
  params = env.default_params
  # Agent at (2, 2) = 12; items far away at 0 and 24.
  expected = {UP: 7, DOWN: 17, LEFT: 11, RIGHT: 13}
  for action, cell in expected.items():
    _, s, r, *_ = step(jax.random.key(0), _state(12, [0, 24]), action, params)
    assert int(s.agent) == cell
    np.testing.assert_allclose(r, -0.04, rtol=1e-6)
  # Corner (0, 4) = 4: up and right stay put.
  for action in (UP, RIGHT):
    _, s, *_ = step(jax.random.key(0), _state(4, [0, 24]), action, params)
    assert int(s.agent) == 4


def test_reward_signs_and_swap_timing(env_and_step):
  env, step = env_and_step
  params = dataclasses.replace(
      env.default_params, swap_period=jnp.asarray(10, jnp.int32))
  # Agent at 12 steps right onto 13.
  cases = [  # (time, cell of colour 0, cell of colour 1, expected reward)
      (0, 13, 0, 1.0), (9, 13, 0, 1.0), (10, 13, 0, -1.0), (19, 13, 0, -1.0),
      (20, 13, 0, 1.0), (0, 0, 13, -1.0), (10, 0, 13, 1.0),
  ]
  for time, c0, c1, expected in cases:
    _, s, r, term, trunc, info = step(
        jax.random.key(time), _state(12, [c0, c1], time), RIGHT, params)
    assert float(r) == expected, (time, c0, c1)
    assert r.dtype == jnp.float32
    assert not bool(term) and not bool(trunc)
    assert int(s.time) == time + 1
    assert int(info["positive_colour"]) == (time // 10) % 2


def test_item_respawn_rule(env_and_step):
  env, step = env_and_step
  params = env.default_params  # respawn="item"
  seen = set()
  for seed in range(60):
    _, s, r, *_ = step(jax.random.key(seed), _state(12, [13, 5]), RIGHT,
                       params)
    assert float(r) == 1.0
    assert int(s.agent) == 13 and int(s.items[1]) == 5
    new = int(s.items[0])
    assert new not in (13, 5)
    seen.add(new)
  # Uniform over the 23 other cells: 60 draws hit many of them.
  assert len(seen) > 15


def test_all_respawn_rule(env_and_step):
  env, step = env_and_step
  params = TwoColors(respawn="all").default_params
  moved = 0
  for seed in range(30):
    _, s, r, *_ = step(jax.random.key(seed), _state(12, [13, 5]), RIGHT,
                       params)
    assert float(r) == 1.0
    cells = [int(s.agent), *map(int, s.items)]
    assert len(set(cells)) == 3
    moved += int(s.agent) != 13
  assert moved > 20  # the agent re-spawns too (stays w.p. 1/25 per draw)
  # Without a pick-up nothing re-spawns.
  _, s, r, *_ = step(jax.random.key(0), _state(12, [0, 5]), RIGHT, params)
  assert int(s.agent) == 13 and list(map(int, s.items)) == [0, 5]
  np.testing.assert_allclose(r, -0.04, rtol=1e-6)


def test_step_cost_is_a_param(env_and_step):
  env, step = env_and_step
  params = dataclasses.replace(
      env.default_params, step_cost=jnp.asarray(-0.5, jnp.float32))
  _, _, r, *_ = step(jax.random.key(0), _state(12, [0, 24]), UP, params)
  assert float(r) == -0.5


def test_vmap_over_swap_period():
  env = TwoColors()
  params = jax.vmap(
      lambda p: dataclasses.replace(env.default_params, swap_period=p))(
          jnp.array([5, 50], jnp.int32))
  state = _state(12, [13, 0], 7)
  step = jax.vmap(env.step, in_axes=(None, None, None, 0))
  _, _, r, *_ = step(jax.random.key(0), state, RIGHT, params)
  np.testing.assert_array_equal(r, [-1.0, 1.0])


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 1}, "size"), ({"swap_period": 0}, "swap_period"),
    ({"respawn": "agent"}, "valid choices"),
])
def test_invalid_arguments_raise(kwargs, match):
  with pytest.raises(ValueError, match=match):
    TwoColors(**kwargs)
