"""MemoryChain against gymnax 1.0.1's ``MemoryChain-bsuite`` (test-only).

Both are stepped from the same states with the same actions; obs, reward,
terminated and truncated must agree (1e-5). The episode structure (cue at
reset, query at step L, ±1 at step L + 1) is also checked by hand.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.bsuite import memory_chain as gx_memory_chain

import tasks
from tasks.memory_chain import MemoryChain, MemoryChainParams, MemoryChainState

_N = 512


@pytest.mark.parametrize("num_bits, memory_length", [(1, 5), (3, 12)])
def test_step_matches_gymnax(num_bits, memory_length):
  env = MemoryChain(num_bits=num_bits, memory_length=memory_length)
  params = env.default_params
  genv = gx_memory_chain.MemoryChain(num_bits=num_bits)
  gparams = genv.default_params.replace(memory_length=memory_length)
  rng = np.random.default_rng(0)  # inputs drawn in numpy: no compiles
  context = jnp.asarray(rng.integers(0, 2, (_N, num_bits)), jnp.int32)
  query = jnp.asarray(rng.integers(0, num_bits, _N), jnp.int32)
  time = jnp.asarray(rng.integers(0, memory_length + 1, _N), jnp.int32)
  action = jnp.asarray(rng.integers(0, 2, _N), jnp.int32)

  @jax.jit
  def run(context, query, time, action):
    key = jax.random.key(1)
    ours = jax.vmap(env.step, in_axes=(None, 0, 0, None))(
        key, MemoryChainState(context, query, time), action, params)
    gstate = gx_memory_chain.EnvState(
        context=context, query=query, total_perfect=jnp.zeros_like(time),
        total_regret=jnp.zeros(_N), time=time)
    g_obs, g_state, g_rew, g_term, _ = jax.vmap(
        genv.step_env, in_axes=(None, 0, 0, None))(
            key, gstate, action, gparams)
    g_trunc = jax.vmap(genv.is_truncated, in_axes=(0, None))(
        g_state, gparams)
    return ours, (g_obs, g_state, g_rew, g_term, g_trunc)

  ours, (g_obs, g_state, g_rew, g_term, g_trunc) = run(
      context, query, time, action)
  obs, new, reward, term, trunc, _ = ours
  np.testing.assert_allclose(obs, g_obs, atol=1e-5, rtol=0)
  np.testing.assert_allclose(reward, g_rew, atol=1e-5, rtol=0)
  np.testing.assert_array_equal(term, g_term)
  np.testing.assert_array_equal(trunc, g_trunc)
  np.testing.assert_array_equal(new.time, g_state.time)
  # The sample exercises rewards +1, -1 and 0 and the final step.
  assert {-1.0, 0.0, 1.0} == set(np.unique(np.asarray(reward)).tolist())
  assert bool(term.any())


def test_reset_matches_gymnax_for_the_same_key():
  env, params = tasks.make("MemoryChain", num_bits=4)
  genv = gx_memory_chain.MemoryChain(num_bits=4)
  keys = jax.random.split(jax.random.key(2), 64)
  obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
  g_obs, g_state = jax.jit(jax.vmap(genv.reset_env, in_axes=(0, None)))(
      keys, genv.default_params)
  np.testing.assert_allclose(obs, g_obs, atol=1e-6)
  np.testing.assert_array_equal(state.context, g_state.context)
  np.testing.assert_array_equal(state.query, g_state.query)


@pytest.mark.parametrize("memory_length", [1, 4, 30])
def test_episode_structure_by_hand(memory_length):
  """The cue is seen at t = 0, the query at step L, the answer is ±1."""
  env = MemoryChain(num_bits=2, memory_length=memory_length)
  params = env.default_params
  obs, state = jax.jit(env.reset)(jax.random.key(3), params)
  cue = np.asarray(obs[2:])
  np.testing.assert_array_equal(cue, 2 * np.asarray(state.context) - 1)
  step = jax.jit(env.step)
  key = jax.random.key(4)  # unused by MemoryChain.step
  rewards, dones = [], []
  for t in range(memory_length):
    obs, state, reward, term, _, _ = step(key, state, 0, params)
    rewards.append(float(reward))
    dones.append(bool(term))
    # Observation of step t+1 is computed at time t (bsuite's ordering).
    assert float(obs[0]) == pytest.approx(1 - t / memory_length)
    if t == memory_length - 1:
      assert float(obs[1]) == float(state.query)
  answer = int(state.context[state.query])
  _, _, right, term, _, _ = step(key, state, answer, params)
  _, _, wrong, _, _, _ = step(key, state, 1 - answer, params)
  assert rewards == [0.0] * memory_length and not any(dones)
  assert (float(right), float(wrong), bool(term)) == (1.0, -1.0, True)


def test_memory_length_is_a_params_leaf_vmap():
  env = MemoryChain()
  lengths = jnp.array([2, 5, 9])
  params = MemoryChainParams(memory_length=lengths,
                             max_steps_in_episode=jnp.full(3, 1000))

  def episode_length(p):
    _, state = env.reset(jax.random.key(0), p)

    def body(carry, _):
      state, done, n = carry
      _, state, _, term, _, _ = env.step(jax.random.key(0), state, 0, p)
      return (state, done | term, n + (~done).astype(jnp.int32)), None

    init = (state, jnp.array(False), jnp.int32(0))
    (_, _, n), _ = jax.lax.scan(body, init, None, length=12)
    return n

  np.testing.assert_array_equal(jax.jit(jax.vmap(episode_length))(params),
                                lengths + 1)


def test_invalid_arguments_raise():
  with pytest.raises(ValueError, match="num_bits"):
    MemoryChain(num_bits=0)
  with pytest.raises(ValueError, match="memory_length"):
    tasks.make("MemoryChain", memory_length=0)
