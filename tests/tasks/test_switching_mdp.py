"""Hand-checked cases for the switching grid-world MDPs."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.switching_mdp import SwitchingMDP, SwitchingMDPState

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3


@pytest.fixture(scope="module")
def small():
  """A 3x3, two-MDP instance with a short period and a fixed reset."""
  env = SwitchingMDP(num_mdps=2, size=3, max_walls=3, switch_period=5)
  params = env.default_params
  _, state = jax.jit(env.reset)(jax.random.key(0), params)
  return env, params, state


def _hand_state(state, walls, rewards, start, agent, time):
  return SwitchingMDPState(
      walls=jnp.asarray(walls, jnp.bool_),
      rewards=jnp.asarray(rewards, jnp.float32),
      start=jnp.asarray(start, jnp.int32), order_key=state.order_key,
      agent=jnp.asarray(agent, jnp.int32), time=jnp.asarray(time, jnp.int32))


def test_schedule_is_pure_function_of_time(small):
  env, params, state = small
  idx = jax.jit(env.mdp_index)
  period = params.switch_period
  for t in range(40):
    k = t // 5
    expected = jax.random.bits(
        jax.random.fold_in(state.order_key, k), (), jnp.uint32) % 2
    assert int(idx(state.order_key, t, period)) == int(expected)
  # Constant within a period; both MDPs occur; repeats allowed (with
  # replacement) over 40 periods.
  seq = [int(idx(state.order_key, 5 * k, period)) for k in range(40)]
  assert set(seq) == {0, 1}
  assert any(a == b for a, b in zip(seq, seq[1:], strict=False))
  assert all(int(idx(state.order_key, 5 * k + j, period)) == seq[k]
             for k in range(8) for j in range(5))


def test_reward_table_and_walls_by_hand(small):
  env, params, state = small
  # Both MDPs identical: wall at cell 1 (0, 1); r(s, a) = 10 * s + a.
  walls = np.zeros((2, 9), bool)
  walls[:, 1] = True
  rewards = np.tile((10 * np.arange(9)[:, None] + np.arange(4))[None],
                    (2, 1, 1))
  s = _hand_state(state, walls, rewards, [4, 4], agent=0, time=0)
  step = jax.jit(env.step)
  obs, s2, r, term, trunc, _ = step(jax.random.key(0), s, RIGHT, params)
  assert int(s2.agent) == 0  # blocked by the wall
  assert float(r) == 3.0  # r(0, RIGHT)
  np.testing.assert_array_equal(obs, np.eye(9)[0])
  assert not bool(term) and not bool(trunc)
  _, s3, r, *_ = step(jax.random.key(0), s2, DOWN, params)
  assert int(s3.agent) == 3 and float(r) == 1.0
  _, s4, r, *_ = step(jax.random.key(0), s3, LEFT, params)
  assert int(s4.agent) == 3 and float(r) == 32.0  # border


def test_switch_relocates_agent_off_new_walls(small):
  env, params, state = small
  order = [int(env.mdp_index(state.order_key, t, params.switch_period))
           for t in (4, 5)]
  walls = np.zeros((2, 9), bool)
  walls[order[1], 2] = True  # cell 2 is a wall only in the next MDP
  if order[0] == order[1]:
    pytest.skip("seed gives the same MDP in periods 0 and 1")
  rewards = np.zeros((2, 9, 4))
  s = _hand_state(state, walls, rewards, [8, 8], agent=1, time=4)
  _, s2, *_ = env.step(jax.random.key(0), s, RIGHT, params)
  assert int(s2.agent) == 8  # moved to 2, a wall after the switch -> start


def test_generated_mdps_follow_the_rules():
  env = SwitchingMDP(num_mdps=64, size=5, max_walls=15)
  params = env.default_params
  _, state = jax.jit(env.reset)(jax.random.key(1), params)
  walls, rewards, start = map(np.asarray, (state.walls, state.rewards,
                                          state.start))
  assert walls.shape == (64, 25) and rewards.shape == (64, 25, 4)
  assert not walls[np.arange(64), start].any()
  assert (walls.sum(1) <= 15).all() and walls.sum(1).mean() > 8
  for w, s0 in zip(walls, start, strict=True):  # free cells connected
    free = ~w.reshape(5, 5)
    seen, todo = {int(s0)}, [int(s0)]
    while todo:
      c = todo.pop()
      r, k = divmod(c, 5)
      for rr, kk in ((r - 1, k), (r + 1, k), (r, k - 1), (r, k + 1)):
        if 0 <= rr < 5 and 0 <= kk < 5 and free[rr, kk]:
          if rr * 5 + kk not in seen:
            seen.add(rr * 5 + kk)
            todo.append(rr * 5 + kk)
    assert len(seen) == free.sum()
  # Reward mixture: 0 / +1 / -1 / U[-1, 1] with probabilities .5/.2/.2/.1.
  flat = rewards.reshape(-1)
  np.testing.assert_allclose(np.mean(flat == 0), 0.5, atol=0.03)
  np.testing.assert_allclose(np.mean(flat == 1), 0.2, atol=0.03)
  np.testing.assert_allclose(np.mean(flat == -1), 0.2, atol=0.03)
  other = flat[(flat != 0) & (np.abs(flat) != 1)]
  np.testing.assert_allclose(other.size / flat.size, 0.1, atol=0.02)
  assert np.all(np.abs(other) < 1)


def test_reset_is_seeded_and_reward_probs_are_params():
  env = SwitchingMDP(num_mdps=3, size=4, max_walls=4)
  params = env.default_params
  reset = jax.jit(env.reset)
  _, a = reset(jax.random.key(5), params)
  _, b = reset(jax.random.key(5), params)
  _, c = reset(jax.random.key(6), params)
  np.testing.assert_array_equal(a.rewards, b.rewards)
  assert not np.array_equal(a.rewards, c.rewards)
  only_plus = dataclasses.replace(
      params, reward_probs=jnp.array([0.0, 1.0, 0.0, 0.0]))
  _, d = reset(jax.random.key(5), only_plus)
  np.testing.assert_array_equal(d.rewards, 1.0)


@pytest.mark.parametrize("kwargs", [
    {"num_mdps": 0}, {"size": 1}, {"max_walls": 24, "size": 5},
    {"switch_period": 0},
])
def test_invalid_arguments_raise(kwargs):
  with pytest.raises(ValueError):
    SwitchingMDP(**kwargs)
