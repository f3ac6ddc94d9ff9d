"""Evaluation of a trained agent on a meta-RL task: return by trial index.

In the randomly projected control tasks of Lu et al. (2023)
(:class:`tasks.control.RandomProjectionMeta`) one episode is a sequence of
trials of the same projected task. An agent that adapts in context scores
more in later trials than in the first. :func:`returns_by_trial` rolls out
the trained policy (sampling its actions, as in training) for whole
episodes, with any number of trials (e.g. twice the training number, to see
whether the improvement continues past the training horizon), and sums the
rewards of each trial.

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

import tasks
from agents.actor_critic import acting
from agents.actor_critic.training import Agent
from agents.actor_critic.types import Array, Params, PRNGKey
from tasks.control import RandomProjectionMeta
from tasks.wrappers import PrevActionObs

__all__ = ["TrialReturns", "returns_by_trial", "step_episodes"]


class TrialReturns(NamedTuple):
  """Per-trial returns of evaluation episodes.

  Attributes:
    returns: ``[E, num_trials]`` summed reward of each trial of each episode
      (0 for trials not reached within ``max_steps``).
    lengths: ``[E]`` steps each episode lasted (``max_steps`` if unfinished).
    completed: ``[E]`` bool, the episode ended within ``max_steps``.
  """

  returns: Array
  lengths: Array
  completed: Array


def _meta_env(agent: Agent) -> RandomProjectionMeta:
  env = agent.env.unwrapped
  if not isinstance(env, RandomProjectionMeta):
    raise ValueError(
        f"returns_by_trial needs a meta task (RandomProjectionMeta), got "
        f"{type(env).__name__} for task {agent.config.task!r}; valid: "
        "MetaCartPole, MetaStatelessCartPole, MetaNoisyStatelessCartPole, "
        "MetaPendulum, ...")
  return env


def _trial_limit(params) -> int:
  """The inner task's ``max_steps_in_episode`` (searched in nested params)."""
  if hasattr(params, "max_steps_in_episode"):
    return int(params.max_steps_in_episode)
  if dataclasses.is_dataclass(params):
    for field in dataclasses.fields(params):
      limit = _trial_limit(getattr(params, field.name))
      if limit:
        return limit
  return 0


def step_episodes(env, env_params, state, action: Array, key: PRNGKey,
                  alive: Array, num_trials: int):
  """One step of E meta-episodes, each reward credited to its own trial.

  Args:
    env: the meta task, wrapped as in training (``PrevActionObs``).
    env_params: its parameters (shared by the E episodes).
    state: the E environment states.
    action: ``[E]`` actions.
    key: PRNG key, split over the E episodes.
    alive: ``[E]`` episodes not yet finished (a finished one earns 0).
    num_trials: n, the trials per episode.

  Returns:
    ``(obs, state, gain, alive, trial)``: the next observations and
    states, ``gain [E, n]`` (the step's reward in the column of the trial
    it belongs to, the one the step ended if it ended one), ``alive`` after
    the step and ``trial [E]``, the trial each episode is in now.
  """
  obs, state, reward, term, trunc, info = jax.vmap(
      env.step, in_axes=(0, 0, 0, None))(
          jax.random.split(key, alive.shape[0]), state, action, env_params)
  trial = info["trial"] - info["trial_done"].astype(jnp.int32)
  gain = jax.nn.one_hot(trial, num_trials) * (reward * alive)[:, None]
  alive = jnp.logical_and(alive, ~jnp.logical_or(term, trunc))
  return obs, state, gain, alive, info["trial"]


def returns_by_trial(agent: Agent, params: Params, key: PRNGKey, *,
                     num_episodes: int, num_trials: int | None = None,
                     max_steps: int | None = None) -> TrialReturns:
  """Rolls out whole meta-episodes and sums the reward of every trial.

  The observation is the training one (``PrevActionObs``); the core starts
  from its initial state with the reset flag up, as at the start of an
  episode in training. Jit-compatible (``num_*`` and ``max_steps`` static).

  Args:
    agent: from :func:`agents.actor_critic.training.make_agent` on a meta
      task.
    params: trained network parameters.
    key: PRNG key (environments and action sampling).
    num_episodes: E, episodes evaluated in parallel.
    num_trials: trials per episode (default: the task's).
    max_steps: step cap (default: ``num_trials`` × the inner task's time
      limit, which every episode reaches at the latest; required if the
      inner task has no ``max_steps_in_episode``).

  Returns:
    A :class:`TrialReturns`.

  Raises:
    ValueError: the task is not a meta task, or bad sizes.
  """
  meta = _meta_env(agent)
  env, env_params = PrevActionObs(meta), agent.env_params
  n = int(num_trials or env_params.num_trials)
  if n < 1 or num_episodes < 1:
    raise ValueError(f"num_trials and num_episodes must be >= 1, got {n} "
                     f"and {num_episodes}.")
  env_params = dataclasses.replace(env_params, num_trials=n, min_trials=0)
  if max_steps is None:
    max_steps = n * _trial_limit(env_params.inner)
  if max_steps < 1:
    raise ValueError("max_steps must be >= 1 (the inner task has no "
                     f"max_steps_in_episode), got {max_steps}.")
  continuous = isinstance(env.action_space(env_params), tasks.Box)
  reset_key, key = jax.random.split(key)
  obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(reset_key, num_episodes), env_params)
  e = num_episodes
  carry = (jnp.int32(0), obs, jnp.ones((e,), bool),
           agent.networks.initial_state(e), env_state, jnp.ones((e,), bool),
           jnp.zeros((e,), jnp.int32), jnp.zeros((e, n), jnp.float32), key)

  def cond(c):
    return jnp.logical_and(c[0] < max_steps, jnp.any(c[5]))

  def body(c):
    t, obs, reset, core, state, alive, length, totals, key = c
    out, _, core = agent.networks.step(params, obs, reset, core)
    key, act_key, env_key = jax.random.split(key, 3)
    action = acting.sample(act_key, out, continuous=continuous)
    obs, state, gain, still, _ = step_episodes(
        env, env_params, state, action, env_key, alive, n)
    length = length + alive.astype(jnp.int32)
    return (t + 1, obs, jnp.zeros_like(reset), core, state, still, length,
            totals + gain, key)

  c = jax.lax.while_loop(cond, body, carry)
  return TrialReturns(returns=c[7], lengths=c[6], completed=~c[5])
