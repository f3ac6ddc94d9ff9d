"""Acting: an ε-greedy ``lax.scan`` rollout of T steps over B streams.

At every step the behaviour policy is ε-greedy in ``q_x(s, ·)``, with
``ε = ε(w, c)``: a constant, one meta-learned scalar, or ``g_ω(sg(c))`` of
the stream's context. The context (Luketina et al., Table 6) is a per-step
history of the reward, ``q(s_t, a_t)`` and the TD error
``r_t + γ max_a q(s_{t+1}, a) − q(s_t, a_t)``, tanh-normalised by
:func:`bootstrap_meta.context_update`. Step ``t``'s statistics need
``q(s_{t+1})``, so they enter the context at step ``t + 1``: the context
that picks ``a_t`` holds the statistics of steps ``t − H … t − 1``.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import bootstrap_meta as bm

__all__ = ["ActorState", "Trajectory", "epsilon_greedy", "init_actor",
           "rollout", "step_stats"]

Array = jax.Array


class Trajectory(NamedTuple):
  """One rollout, time-major.

  Attributes:
    obs: ``[T + 1, B, D]``; ``obs[T]`` only bootstraps.
    actions: ``[T, B]`` int32.
    rewards: ``[T, B]``.
    dones: ``[T, B]`` bool, step t ended an episode (never, for the
      single-stream tasks).
    epsilons: ``[T, B]`` the ε that chose each action.
    contexts: ``[T, B, C]`` the context features that gave ε, or ``None``.
  """

  obs: Array
  actions: Array
  rewards: Array
  dones: Array
  epsilons: Array
  contexts: Array | None


class ActorState(NamedTuple):
  """The acting carry between rollouts.

  Attributes:
    env_state: batched environment state.
    obs: ``[B, D]`` the next observation.
    key: PRNG key.
    context: per-stream :class:`bootstrap_meta.ContextState` (leaves
      ``[B, ...]``), or ``None``.
    prev_reward: ``[B]`` reward of the previous step.
    prev_q: ``[B]`` ``q(s, a)`` of the previous step.
    has_prev: scalar bool, a previous step exists.
  """

  env_state: Any
  obs: Array
  key: Array
  context: bm.ContextState | None
  prev_reward: Array
  prev_q: Array
  has_prev: Array


def init_actor(key: Array, *, env, env_params, num_envs: int,
               context: bm.ContextState | None) -> ActorState:
  """Resets ``num_envs`` streams; ``context`` is one empty tracker (copied
  to every stream) or ``None``."""
  key, reset_key = jax.random.split(key)
  keys = jax.random.split(reset_key, num_envs)
  obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(keys, env_params)
  if context is not None:
    context = jax.tree.map(
        lambda x: jnp.broadcast_to(x, (num_envs,) + x.shape), context)
  zeros = jnp.zeros((num_envs,), jnp.float32)
  return ActorState(env_state, obs, key, context, zeros, zeros,
                    jnp.zeros([], bool))


def epsilon_greedy(key: Array, q: Array, epsilon: Array) -> Array:
  """Actions ``[B]``: uniform w.p. ``epsilon [B]``, else ``argmax q [B, A]``.

  A uniform draw may pick the greedy action too, so the greedy action has
  probability ``1 − ε + ε/A``.
  """
  explore_key, action_key = jax.random.split(key)
  explore = jax.random.uniform(explore_key, epsilon.shape) < epsilon
  random = jax.random.randint(action_key, epsilon.shape, 0, q.shape[-1])
  return jnp.where(explore, random, jnp.argmax(q, -1)).astype(jnp.int32)


def step_stats(kind: str, reward: Array, q_sa: Array, delta: Array) -> Array:
  """Per-step context statistics ``[B, S]`` of a context kind."""
  if kind == "reward":
    return reward[:, None]
  return jnp.stack([reward, q_sa, delta], axis=-1)


def rollout(params, meta_params, actor: ActorState, *, env, env_params,
            q_apply: Callable, epsilon_fn: Callable, context_kind: str,
            discount: float, length: int) -> tuple[ActorState, Trajectory]:
  """Acts ε-greedily for ``length`` steps (no gradient to anything).

  Args:
    params: Q-network parameters.
    meta_params: meta-parameters of ε.
    actor: the carry from the previous rollout.
    env: an auto-resetting environment.
    env_params: its parameters.
    q_apply: ``q_apply(params, obs [B, D]) -> [B, A]``.
    epsilon_fn: ``epsilon_fn(meta_params, features [B, C] | None) -> [B]``.
    context_kind: ``"none"``, ``"reward"`` or ``"rich"``.
    discount: γ of the TD-error statistic.
    length: T.

  Returns:
    ``(actor, trajectory)``.
  """
  params = jax.lax.stop_gradient(params)
  meta_params = jax.lax.stop_gradient(meta_params)
  step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

  def body(carry: ActorState, _):
    q = q_apply(params, carry.obs)
    context, features = carry.context, None
    if context is not None:
      delta = carry.prev_reward + discount * jnp.max(q, -1) - carry.prev_q
      stats = step_stats(context_kind, carry.prev_reward, carry.prev_q, delta)
      updated = jax.vmap(bm.context_update)(context, stats)
      context = jax.tree.map(lambda u, c: jnp.where(carry.has_prev, u, c),
                             updated, context)
      features = jax.vmap(bm.context_features)(context)
    eps = epsilon_fn(meta_params, features)
    key, act_key, env_key = jax.random.split(carry.key, 3)
    action = epsilon_greedy(act_key, q, eps)
    keys = jax.random.split(env_key, action.shape[0])
    obs, env_state, reward, term, trunc, _ = step(keys, carry.env_state,
                                                  action, env_params)
    q_sa = jnp.take_along_axis(q, action[:, None], -1)[:, 0]
    new = ActorState(env_state, obs, key, context,
                     reward.astype(jnp.float32), q_sa, jnp.ones([], bool))
    record = (carry.obs, action, reward, jnp.logical_or(term, trunc), eps,
              features)
    return new, record

  final, rec = jax.lax.scan(body, actor, None, length=length)
  traj = Trajectory(obs=jnp.concatenate([rec[0], final.obs[None]]),
                    actions=rec[1], rewards=rec[2], dones=rec[3],
                    epsilons=rec[4], contexts=rec[5])
  return final, jax.lax.stop_gradient(traj)
