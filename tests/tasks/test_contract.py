"""Contract tests run on every environment in ``tasks.registered()``.

For each registered name: reset/step under ``jit`` without retracing,
``vmap`` over seeds and over (stacked) parameters, determinism under a fixed
key, observations inside the declared space with the declared shape and
dtype, float32 scalar rewards, boolean scalar ``terminated``/``truncated``
and an ``info`` dict of fixed structure. (The wrappers have their own tests
in ``test_wrappers.py``.)
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from tasks._base import Box, Discrete

_N_STEPS = 3
_N_SEEDS = 2
# Compile-time dominates these tests; XLA's cheapest CPU pipeline halves it.
_FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}

NAMES = tasks.registered()


def _check_obs(obs, space):
  assert obs.shape == space.shape, (obs.shape, space.shape)
  assert obs.dtype == jnp.dtype(space.dtype), (obs.dtype, space.dtype)
  assert bool(jnp.all(space.contains(obs))), obs


def _all_in_space(batch, space):
  """Whether every element of a batch (leading axes) lies in ``space``."""
  if isinstance(space, Discrete):
    return bool(np.all((batch >= 0) & (batch < space.n)))
  return bool(np.all(batch >= np.asarray(space.low))
              and np.all(batch <= np.asarray(space.high)))


def _check_step_outputs(reward, terminated, truncated, info):
  assert reward.shape == () and reward.dtype == jnp.float32, reward
  assert terminated.shape == () and terminated.dtype == jnp.bool_
  assert truncated.shape == () and truncated.dtype == jnp.bool_
  assert isinstance(info, dict)


def _rollout(env, key, params):
  """reset + ``_N_STEPS`` random steps under ``lax.scan``."""
  key_reset, key_run = jax.random.split(key)
  obs, state = env.reset(key_reset, params)

  def body(state, key):
    key_act, key_step = jax.random.split(key)
    action = env.action_space(params).sample(key_act)
    obs, state, reward, term, trunc, _ = env.step(
        key_step, state, action, params)
    return state, (obs, reward, term, trunc)

  _, outs = jax.lax.scan(body, state, jax.random.split(key_run, _N_STEPS))
  return obs, outs


def _stack(tree, n):
  return jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * n), tree)


def _counting_jit(fn, counter, name):
  """``jax.jit(fn)`` that counts its traces in ``counter[name]``."""

  def traced(*args):
    counter[name] += 1
    return fn(*args)

  return _jit(traced)


def _jit(fn):
  """``jax.jit`` with cheap XLA optimisation: these graphs run a few steps."""
  return jax.jit(fn, compiler_options=_FAST_COMPILE)


@pytest.mark.parametrize("name", NAMES)
def test_jit_step_no_retrace_and_spaces(name):
  env, params = tasks.make(name)
  traces = {"reset": 0, "step": 0}
  reset = _counting_jit(env.reset, traces, "reset")
  step = _counting_jit(env.step, traces, "step")
  obs_space = env.observation_space(params)
  act_space = env.action_space(params)
  assert isinstance(obs_space, Box | Discrete)
  assert isinstance(act_space, Box | Discrete)
  key = jax.random.key(0)
  obs, state = reset(key, params)
  _check_obs(obs, obs_space)
  info_structure = None
  for _ in range(_N_STEPS):
    key, key_act, key_step = jax.random.split(key, 3)
    action = act_space.sample(key_act)
    assert bool(jnp.all(act_space.contains(action)))
    obs, state, reward, term, trunc, info = step(
        key_step, state, action, params)
    _check_obs(obs, obs_space)
    _check_step_outputs(reward, term, trunc, info)
    structure = jax.tree.structure(info)
    assert info_structure is None or info_structure == structure
    info_structure = structure
  assert traces == {"reset": 1, "step": 1}, traces


def _batched_rollouts(env, keys, stacked_params):
  """Rollouts vmapped over two parameter copies and over seeds."""
  over_seeds = jax.vmap(functools.partial(_rollout, env), in_axes=(0, None))
  return jax.vmap(over_seeds, in_axes=(None, 0), axis_size=2)(
      keys, stacked_params)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_seeds_and_params_deterministic(name):
  env, params = tasks.make(name)
  obs_space = env.observation_space(params)
  run = _jit(functools.partial(_batched_rollouts, env))
  keys = jax.random.split(jax.random.key(1), _N_SEEDS)
  stacked = _stack(params, 2)
  first = run(keys, stacked)
  jax.tree.map(np.testing.assert_array_equal, first, run(keys, stacked))
  obs0, (obs, reward, term, trunc) = first
  assert obs0.shape == (2, _N_SEEDS) + obs_space.shape
  assert obs.shape == (2, _N_SEEDS, _N_STEPS) + obs_space.shape
  assert reward.shape == (2, _N_SEEDS, _N_STEPS)
  assert reward.dtype == jnp.float32
  assert term.dtype == jnp.bool_ and trunc.dtype == jnp.bool_
  assert _all_in_space(np.asarray(obs), obs_space)
  # Identical parameter copies give identical rollouts for the same seed.
  jax.tree.map(lambda x: np.testing.assert_array_equal(x[0], x[1]), first)


def test_registry_is_not_empty_and_unknown_name_raises():
  assert len(NAMES) > 0
  with pytest.raises(ValueError, match="Registered environments"):
    tasks.make("NoSuchEnvironment")
