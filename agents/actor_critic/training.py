"""The whole training run as one jittable function of a key.

``make_train(config)`` returns ``train(key) -> (final_state, metrics)``, so
``jax.vmap(train)`` runs seeds in parallel. One iteration first *collects*:
it rolls out and applies the learner's update with ``sg(w)`` once per inner
(and BMG target) step, each on a fresh rollout, plus one outer / final target
rollout. It then computes the meta-gradient on those fixed rollouts (the
differentiable steps are recomputed; environment data is a constant w.r.t.
``w``) and continues from the point the method prescribes.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import bootstrap_meta as bm
import tasks
from agents.actor_critic import acting, hyperparams, learning
from agents.actor_critic.acting import ActorState, Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.learning import LearnerState, MetaState
from agents.actor_critic.networks import Networks, make_networks
from agents.actor_critic.types import Metrics, PRNGKey
from tasks.wrappers import AutoReset, PrevActionObs

__all__ = ["Agent", "TrainState", "collect", "heal_rollout", "init_state",
           "iteration", "make_agent", "make_train", "trajectory_metrics"]

_META_ADAM_EPS = 1e-4  # Meta-Adam epsilon of the papers (Luketina, Tab. 3-4).


class Agent(NamedTuple):
  """The static pieces of a run: config, networks, env and pure functions."""

  config: ActorCriticConfig
  networks: Networks
  env: Any
  env_params: Any
  rollout: Callable  # (params, actor) -> (actor, Trajectory)
  step: Callable  # (LearnerState, meta_params, Trajectory) -> LearnerState
  meta_loss: Callable | None
  meta_optimizer: optax.GradientTransformation
  inner_init: Callable  # params -> inner optimiser state


class TrainState(NamedTuple):
  """Carry of the training loop.

  Attributes:
    learner: network parameters, optimiser state, context.
    meta: meta-parameters and meta-optimiser state.
    actor: environments, core state and key of acting.
  """

  learner: LearnerState
  meta: MetaState
  actor: ActorState


def make_agent(config: ActorCriticConfig) -> Agent:
  """Builds the environment, networks and the learner/meta functions."""
  env, env_params = tasks.make(config.task)
  env = PrevActionObs(AutoReset(env))
  space = env.action_space(env_params)
  continuous = isinstance(space, tasks.Box)
  if continuous and config.method == "bmg":
    raise ValueError("BMG's KL matching supports Discrete actions only; "
                     "valid methods for continuous actions: ('none', 'mg').")
  num_actions = math.prod(space.shape) if continuous else space.n
  core_kwargs = {}
  if config.core == "s5":
    core_kwargs = {"num_layers": config.num_layers, "dt_min": config.dt_min,
                   "dt_max": config.dt_max}
  networks = make_networks(core=config.core, width=config.width,
                           num_actions=num_actions, continuous=continuous,
                           core_kwargs=core_kwargs)
  rollout = functools.partial(
      acting.rollout, env=env, env_params=env_params, step_fn=networks.step,
      length=config.unroll_length, continuous=continuous)
  meta_loss = None
  if config.method != "none":
    meta_loss = learning.make_meta_loss(config, networks,
                                        continuous=continuous)
  step = learning.make_step_fn(config, networks, continuous=continuous)
  inner = learning.clipped_adam(config.learning_rate,
                                max_norm=config.max_grad_norm)
  meta_opt = optax.adam(config.meta_learning_rate, eps=_META_ADAM_EPS)
  return Agent(config, networks, env, env_params, rollout, step, meta_loss,
               meta_opt, inner.init)


def init_state(key: PRNGKey, agent: Agent) -> TrainState:
  """Initial network, optimiser, context, meta and actor states."""
  config = agent.config
  net_key, meta_key, actor_key = jax.random.split(key, 3)
  b = config.num_envs
  actor = acting.init_actor(
      actor_key, env=agent.env, env_params=agent.env_params, num_envs=b,
      initial_state=agent.networks.initial_state(b))
  params = agent.networks.init(net_key, actor.obs[None],
                               jnp.ones((1, b), bool))
  context = None
  if config.context:
    context = bm.context_init(history=config.context_history,
                              num_stats=hyperparams.NUM_STATS)
  meta_params = hyperparams.init_meta_params(meta_key, config)
  zero = jnp.zeros([], jnp.int32)
  return TrainState(
      LearnerState(params, agent.inner_init(params), context, zero),
      MetaState(meta_params, agent.meta_optimizer.init(meta_params), zero),
      actor)


def collect(agent: Agent, learner: LearnerState, actor: ActorState,
            meta_params, num_steps: int):
  """``num_steps`` × (rollout, learner update with ``sg(w)``), then one more
  rollout.

  Returns:
    ``(learner, actor, trajs [num_steps, ...], last)``.
  """
  frozen = jax.lax.stop_gradient(meta_params)

  def body(carry, _):
    learner, actor = carry
    actor, traj = heal_rollout(agent, learner.params, actor)
    return (agent.step(learner, frozen, traj), actor), traj

  (learner, actor), trajs = jax.lax.scan(body, (learner, actor), None,
                                         length=num_steps)
  actor, last = heal_rollout(agent, learner.params, actor)
  return learner, actor, trajs, last


def heal_rollout(agent: Agent, params, actor: ActorState):
  """``agent.rollout``, then a non-finite core state (e.g. from a NaN
  observation) of any environment is reset to the initial state.

  A recurrent core would otherwise carry the NaN until the episode ends
  (or forever, for a multiplicative reset), and every later rollout of that
  environment would be skipped by the learner. A no-op when finite.

  Args:
    agent: the agent.
    params: network parameters to act with.
    actor: the acting carry.

  Returns:
    ``(actor, trajectory)`` as ``agent.rollout``.
  """
  actor, traj = agent.rollout(params, actor)
  leaves = jax.tree.leaves(actor.core_state)
  if not leaves:
    return actor, traj
  b = agent.config.num_envs
  finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x.reshape(b, -1)), axis=1)
                              for x in leaves]), axis=0)  # [B]
  initial = agent.networks.initial_state(b)
  core = jax.tree.map(
      lambda s, i: jnp.where(finite.reshape((b,) + (1,) * (s.ndim - 1)), s,
                             i.astype(s.dtype)), actor.core_state, initial)
  return actor._replace(core_state=core), traj


def trajectory_metrics(trajs: Trajectory) -> Metrics:
  """Episode return mean (over episodes ending in ``trajs``) and counts."""
  episodes = jnp.sum(trajs.dones)
  total = jnp.sum(trajs.episode_returns)
  return {"episode_return": total / jnp.maximum(episodes, 1),
          "episodes": episodes.astype(jnp.float32),
          "reward_mean": jnp.mean(trajs.rewards)}


def iteration(agent: Agent, state: TrainState) -> tuple[TrainState, Metrics]:
  """One (meta-)iteration of training.

  Besides the returns, the metrics count faults: ``skipped_updates``, the
  learner steps of this iteration skipped as not finite, and (with a
  meta-gradient method) ``skipped_meta_updates``, 1.0 if this iteration's
  meta-step was skipped. Cumulative counts are ``state.learner.skipped``
  and ``state.meta.skipped``.
  """
  config = agent.config
  if config.method == "none":
    actor, traj = heal_rollout(agent, state.learner.params, state.actor)
    learner = agent.step(state.learner, state.meta.params, traj)
    metrics = {**trajectory_metrics(traj),
               **_skip_metrics(state.learner, learner)}
    return TrainState(learner, state.meta, actor), metrics
  n = config.K if config.method == "mg" else config.K + config.L - 1
  _, actor, trajs, last = collect(agent, state.learner, state.actor,
                                  state.meta.params, n)
  meta, learner, metrics = learning.meta_update(
      state.meta, state.learner, trajs, last, meta_loss=agent.meta_loss,
      meta_optimizer=agent.meta_optimizer)
  everything = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]),
                            trajs, last)
  metrics = {**metrics, **trajectory_metrics(everything),
             **_skip_metrics(state.learner, learner),
             **_hyperparam_metrics(agent, meta, learner)}
  return TrainState(learner, meta, actor), metrics


def _skip_metrics(before: LearnerState, after: LearnerState) -> Metrics:
  """``skipped_updates``: learner steps skipped between two carries."""
  if before.skipped is None or after.skipped is None:
    return {}
  return {"skipped_updates": (after.skipped - before.skipped).astype(
      jnp.float32)}


def _hyperparam_metrics(agent: Agent, meta: MetaState,
                        learner: LearnerState) -> Metrics:
  """Current values of the learned hyperparameters, ``hp/<name>``."""
  features = None
  if agent.config.context:
    features = bm.context_features(learner.context)
  hp = hyperparams.make_hyperparams_fn(agent.config)(meta.params, features)
  return {f"hp/{n}": jnp.asarray(hp[n]) for n in agent.config.learned}


def make_train(config: ActorCriticConfig) -> Callable:
  """``train(key) -> (final_state, metrics)``; metrics are ``[num_updates]``.

  Args:
    config: the run's configuration.

  Returns:
    A pure function of a key; jit it, or vmap it over keys for seeds.
  """
  agent = make_agent(config)

  def train(key: PRNGKey):
    state = init_state(key, agent)
    body = lambda s, _: iteration(agent, s)  # noqa: E731
    return jax.lax.scan(body, state, None, length=config.num_updates)

  return train
