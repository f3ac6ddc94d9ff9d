"""Fault injection for the agent tests: a faulty environment and hooks.

:class:`FaultyEnv` wraps an environment and, at chosen global step numbers
of each copy, replaces the observation or the reward by NaN, +Inf or a
finite sentinel (which a test's hook turns into a non-finite gradient or
meta-gradient, see :func:`poison` and :func:`marked`). The step counter
lives in the wrapper's state, outside any auto-reset, so step ``t`` of a
run is rollout ``t // T``, position ``t % T``, counting every rollout the
agent collects: with MG or BMG, ``training.init_state`` collects rollout 0
(steps ``0 .. T - 1``, before :func:`schedule` can set faults) as the
first pending rollout. The observation of step ``t`` is the input of
position ``t % T + 1`` of that rollout.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import tasks
from agents.actor_critic import acting, online, training

#: Rewards no registered test task can give; they mark a rollout for the
#: gradient hook (``grad_sentinel``) or the meta-gradient hook
#: (``meta_sentinel``) of a test.
SENTINEL = 7.0
META_SENTINEL = 9.0
KINDS = ("obs_nan", "obs_inf", "reward_nan", "reward_inf", "grad_sentinel",
         "meta_sentinel")


class FaultyState(NamedTuple):
  """The wrapped state and the fault schedule of one environment copy.

  Attributes:
    inner: the wrapped environment's state.
    t: steps taken so far (int32 scalar).
    at: step numbers whose output is corrupted (int32 ``[n]``; -1: none).
    kind: index into :data:`KINDS` (int32 scalar).
  """

  inner: Any
  t: jax.Array
  at: jax.Array
  kind: jax.Array


class FaultyEnv(tasks.Environment):
  """Corrupts the output of chosen steps of an environment.

  The schedule is data in the state (see :func:`schedule`), so one compiled
  agent serves every fault case.

  Args:
    env: the environment (already auto-resetting, if the agent needs it).
    max_faults: length of the schedule.
  """

  def __init__(self, env, *, max_faults: int = 2):
    self.env, self.max_faults = env, max_faults

  @property
  def default_params(self):
    """The wrapped environment's parameters."""
    return self.env.default_params

  def reset(self, key, params):
    """Resets the wrapped environment; no faults scheduled."""
    obs, state = self.env.reset(key, params)
    return obs, FaultyState(state, jnp.zeros([], jnp.int32),
                            jnp.full((self.max_faults,), -1, jnp.int32),
                            jnp.zeros([], jnp.int32))

  def step(self, key, state, action, params):
    """Steps, then corrupts the output if the counter is scheduled."""
    obs, inner, reward, term, trunc, info = self.env.step(
        key, state.inner, action, params)
    hit = jnp.any(state.at == state.t)
    k = state.kind
    obs_value = jnp.where(k == 1, jnp.inf, jnp.nan).astype(obs.dtype)
    obs = jnp.where(hit & (k <= 1), obs_value, obs)
    reward_value = jnp.select([k == 2, k == 3, k == 4],
                              [jnp.nan, jnp.inf, SENTINEL],
                              META_SENTINEL).astype(reward.dtype)
    reward = jnp.where(hit & (k >= 2), reward_value, reward)
    return (obs, state._replace(inner=inner, t=state.t + 1), reward, term,
            trunc, info)

  def observation_space(self, params):
    """The wrapped environment's observation space."""
    return self.env.observation_space(params)

  def action_space(self, params):
    """The wrapped environment's action space."""
    return self.env.action_space(params)


def schedule(train_state, *, at, kind: str):
  """``train_state`` with faults of ``kind`` at env steps ``at`` (every
  environment copy)."""
  env_state = train_state.actor.env_state
  b, n = env_state.at.shape
  if len(at) > n:
    raise ValueError(f"At most {n} faults, got {len(at)}.")
  padded = jnp.asarray(list(at) + [-1] * (n - len(at)), jnp.int32)
  env_state = env_state._replace(
      at=jnp.broadcast_to(padded, (b, n)),
      kind=jnp.full((b,), KINDS.index(kind), jnp.int32))
  return train_state._replace(
      actor=train_state.actor._replace(env_state=env_state))


def with_env(agent, env, *, loss_fn=None):
  """``agent`` (a ``training.Agent``) acting in ``env`` instead.

  With a meta-gradient method the online meta-loss collects its own
  rollouts, so it is rebuilt on the new environment (with ``loss_fn`` as
  its inner loss, if given; see ``learning.make_step_fn``).
  """
  rollout = functools.partial(
      acting.rollout, env=env, env_params=agent.env_params,
      step_fn=agent.networks.step, length=agent.config.unroll_length)
  agent = agent._replace(env=env, rollout=rollout)
  if agent.meta_loss is not None:
    collect = training.make_collect_fn(rollout, agent.networks,
                                       agent.config.num_envs)
    agent = agent._replace(meta_loss=online.make_online_meta_loss(
        agent.config, agent.networks, collect_fn=collect, loss_fn=loss_fn))
  return agent


@jax.custom_vjp
def poison(tree, flag):
  """Identity on ``tree``; its cotangent becomes NaN where ``flag`` > 0."""
  del flag
  return tree


def _poison_fwd(tree, flag):
  return tree, flag


def _poison_bwd(flag, cotangent):
  bad = jax.tree.map(lambda g: jnp.where(flag > 0, jnp.nan, g), cotangent)
  return bad, jnp.zeros_like(flag)


poison.defvjp(_poison_fwd, _poison_bwd)


def marked(traj, sentinel: float = SENTINEL) -> jax.Array:
  """1.0 if a reward of ``traj`` is ``sentinel``, else 0.0."""
  return jnp.any(traj.rewards == sentinel).astype(jnp.float32)
