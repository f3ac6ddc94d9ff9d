"""Acting: a ``lax.scan`` rollout of T steps over B auto-resetting envs.

The rollout stores what the learner needs to replay the recurrent policy:
the core state before the first observation, the T + 1 observations (the
last one only bootstraps) and their reset flags, with ``resets[t] = 1`` when
``obs[t]`` starts an episode (the core is wiped before absorbing it).

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from agents.actor_critic.types import Array, CoreState, Params, PRNGKey

__all__ = ["ActorState", "Trajectory", "init_actor", "rollout", "sample"]


class Trajectory(NamedTuple):
  """One rollout, time-major.

  Attributes:
    initial_state: core state before ``obs[0]`` (leaves ``[B, ...]``).
    obs: ``[T + 1, B, D]``; ``obs[T]`` is the bootstrap observation.
    resets: ``[T + 1, B]`` bool, ``obs[t]`` starts an episode.
    actions: ``[T, B]`` (or ``[T, B, A]`` continuous).
    rewards: ``[T, B]``.
    dones: ``[T, B]`` bool, step t ended the episode (terminated or
      truncated; truncation is treated as termination).
    logits: ``[T, B, ·]`` behaviour policy outputs.
    values: ``[T + 1, B]`` behaviour values (the last one bootstraps).
    episode_returns: ``[T, B]`` return of the episode ending at step t, or 0.
  """

  initial_state: CoreState
  obs: Array
  resets: Array
  actions: Array
  rewards: Array
  dones: Array
  logits: Array
  values: Array
  episode_returns: Array


class ActorState(NamedTuple):
  """The acting loop's carry between rollouts.

  Attributes:
    env_state: batched environment state.
    obs: ``[B, D]`` the next observation to act on.
    reset: ``[B]`` bool, ``obs`` starts an episode.
    core_state: core state before ``obs``.
    running_return: ``[B]`` return of the current episodes so far.
    key: PRNG key.
  """

  env_state: Any
  obs: Array
  reset: Array
  core_state: CoreState
  running_return: Array
  key: PRNGKey


def sample(key: PRNGKey, policy_out: Array, *,
           continuous: bool = False) -> Array:
  """Samples actions from logits ``[B, A]`` or Gaussian outputs ``[B, 2A]``."""
  if not continuous:
    return jax.random.categorical(key, policy_out)
  mean, log_std = jnp.split(policy_out, 2, axis=-1)
  return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def init_actor(key: PRNGKey, *, env, env_params, num_envs: int,
               initial_state: CoreState) -> ActorState:
  """Resets ``num_envs`` environments (``env`` must auto-reset)."""
  key, reset_key = jax.random.split(key)
  keys = jax.random.split(reset_key, num_envs)
  obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
  return ActorState(env_state, obs, jnp.ones((num_envs,), bool),
                    initial_state, jnp.zeros((num_envs,), jnp.float32), key)


def _env_step(env, env_params, key, env_state, actions):
  keys = jax.random.split(key, actions.shape[0])
  step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
  return step(keys, env_state, actions, env_params)


def rollout(params: Params, actor: ActorState, *, env, env_params,
            step_fn: Callable, length: int,
            continuous: bool = False) -> tuple[ActorState, Trajectory]:
  """Acts for ``length`` steps with ``step_fn`` (no gradient to ``params``).

  Args:
    params: network parameters (stop-gradiented).
    actor: the carry from the previous rollout.
    env: an auto-resetting environment (e.g. :class:`tasks.wrappers.AutoReset`).
    env_params: its parameters.
    step_fn: ``step(params, obs [B, D], reset [B], state)
      -> (policy_out, value, state)``.
    length: T.
    continuous: Gaussian policy outputs.

  Returns:
    ``(actor, trajectory)``.
  """
  params = jax.lax.stop_gradient(params)

  def body(carry: ActorState, _):
    out, value, core_state = step_fn(params, carry.obs, carry.reset,
                                     carry.core_state)
    key, act_key, env_key = jax.random.split(carry.key, 3)
    action = sample(act_key, out, continuous=continuous)
    obs, env_state, reward, term, trunc, _ = _env_step(
        env, env_params, env_key, carry.env_state, action)
    done = jnp.logical_or(term, trunc)
    ret = carry.running_return + reward
    record = (carry.obs, carry.reset, action, reward, done, out, value,
              jnp.where(done, ret, 0.0))
    new = ActorState(env_state, obs, done, core_state,
                     jnp.where(done, 0.0, ret), key)
    return new, record

  final, rec = jax.lax.scan(body, actor, None, length=length)
  _, last_value, _ = step_fn(params, final.obs, final.reset, final.core_state)
  traj = Trajectory(
      initial_state=actor.core_state,
      obs=jnp.concatenate([rec[0], final.obs[None]]),
      resets=jnp.concatenate([rec[1], final.reset[None]]),
      actions=rec[2], rewards=rec[3], dones=rec[4], logits=rec[5],
      values=jnp.concatenate([rec[6], last_value[None]]),
      episode_returns=rec[7])
  return final, jax.lax.stop_gradient(traj)
