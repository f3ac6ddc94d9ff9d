"""The whole training run as one jittable function of a key.

``make_train(config)`` returns ``train(key) -> (final_state, metrics)``, so
``jax.vmap(train)`` runs seeds in parallel. An iteration with a fixed ε is
one rollout and one learner update; with BMG it is a block of ``L``
rollouts: ``L − 1`` rollouts each followed by a learner update, then the
last rollout, whose update is the BMG target's final step, and the ε
meta-step (:func:`agents.q_lambda.learning.meta_step`). Both agents take one
learner update per ``T × B`` environment steps.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import bootstrap_meta as bm
import tasks
from agents.q_lambda import acting, learning
from agents.q_lambda.acting import ActorState, Trajectory
from agents.q_lambda.config import CONTEXT_STATS, QLambdaConfig
from agents.q_lambda.learning import LearnerState, MetaState
from agents.q_lambda.networks import QNetwork, make_q_network
from tasks.wrappers import AutoReset

__all__ = ["Agent", "TrainState", "init_state", "iteration", "make_agent",
           "make_train"]

Metrics = dict[str, jax.Array]


class Agent(NamedTuple):
  """The static pieces of a run: config, network, env and pure functions."""

  config: QLambdaConfig
  network: QNetwork
  env: Any
  env_params: Any
  rollout: Callable  # (params, meta_params, actor) -> (actor, Trajectory)
  step: Callable  # (LearnerState, meta_params, Trajectory) -> LearnerState
  inner_init: Callable  # params -> inner optimiser state
  meta_optimizer: optax.GradientTransformation


class TrainState(NamedTuple):
  """Carry of the training loop: learner, meta-parameters, actor."""

  learner: LearnerState
  meta: MetaState
  actor: ActorState


def make_agent(config: QLambdaConfig) -> Agent:
  """Builds the environment, Q-network and the learner/meta functions.

  Raises:
    ValueError: if the task's actions are not discrete.
  """
  env, env_params = tasks.make(config.task)
  env = AutoReset(env)
  space = env.action_space(env_params)
  if not isinstance(space, tasks.Discrete):
    raise ValueError(f"Q(λ) needs discrete actions; {config.task} has "
                     f"{type(space).__name__}.")
  network = make_q_network(num_actions=space.n, width=config.width,
                           num_layers=config.num_layers)
  rollout = functools.partial(
      acting.rollout, env=env, env_params=env_params, q_apply=network.apply,
      epsilon_fn=learning.epsilon_fn(config), context_kind=config.context,
      discount=config.discount, length=config.unroll_length)
  _, step = learning.make_step_fn(config, network.apply)
  inner = learning.inner_optimizer(config).make({})
  meta_opt = optax.adam(config.meta_learning_rate, eps=learning.META_ADAM_EPS)
  if config.meta_grad_clip > 0:
    meta_opt = optax.chain(optax.clip_by_global_norm(config.meta_grad_clip),
                           meta_opt)
  return Agent(config, network, env, env_params, rollout, step, inner.init,
               meta_opt)


def init_state(key: jax.Array, agent: Agent) -> TrainState:
  """Initial network, optimiser, meta and actor states."""
  config = agent.config
  net_key, meta_key, actor_key = jax.random.split(key, 3)
  context = None
  if config.context != "none":
    context = bm.context_init(history=config.context_history,
                              num_stats=CONTEXT_STATS[config.context])
  actor = acting.init_actor(actor_key, env=agent.env,
                            env_params=agent.env_params,
                            num_envs=config.num_envs, context=context)
  params = agent.network.init(net_key, actor.obs)
  meta_params = learning.init_meta_params(meta_key, config)
  meta_state = agent.meta_optimizer.init(meta_params)
  learner = LearnerState(params, agent.inner_init(params),
                         jnp.zeros([], jnp.int32))
  return TrainState(learner, MetaState(meta_params, meta_state), actor)


def _act_and_learn(agent: Agent, meta_params, learner: LearnerState,
                   actor: ActorState):
  actor, traj = agent.rollout(learner.params, meta_params, actor)
  return agent.step(learner, meta_params, traj), actor, traj


def _traj_metrics(trajs: Trajectory, learner_before: LearnerState,
                  learner: LearnerState) -> Metrics:
  return {"reward_mean": jnp.mean(trajs.rewards),
          "hp/epsilon": jnp.mean(trajs.epsilons),
          "learner_updates": (learner.updates
                              - learner_before.updates).astype(jnp.float32)}


def iteration(agent: Agent, state: TrainState) -> tuple[TrainState, Metrics]:
  """One iteration: a rollout and an update (fixed ε) or a BMG block."""
  config = agent.config
  meta_params = state.meta.params
  if config.method == "fixed":
    learner, actor, traj = _act_and_learn(agent, meta_params, state.learner,
                                          state.actor)
    return (TrainState(learner, state.meta, actor),
            _traj_metrics(traj, state.learner, learner))

  def body(carry, _):
    learner, actor, traj = _act_and_learn(agent, meta_params, *carry)
    return (learner, actor), traj

  (learner, actor), trajs = jax.lax.scan(
      body, (state.learner, state.actor), None, length=config.L - 1)
  actor, last = agent.rollout(learner.params, meta_params, actor)
  meta, learner, metrics = learning.meta_step(
      state.meta, learner, state.learner.params, last, config=config,
      q_apply=agent.network.apply, meta_optimizer=agent.meta_optimizer)
  everything = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]),
                            trajs, last)
  metrics = {**metrics, **_traj_metrics(everything, state.learner, learner)}
  return TrainState(learner, meta, actor), metrics


def make_train(config: QLambdaConfig) -> Callable:
  """``train(key) -> (final_state, metrics)``; metrics are ``[num_updates]``.

  Args:
    config: the run's configuration.

  Returns:
    A pure function of a key; jit it, or vmap it over keys for seeds.
  """
  agent = make_agent(config)

  def train(key: jax.Array):
    state = init_state(key, agent)
    body = lambda s, _: iteration(agent, s)  # noqa: E731
    return jax.lax.scan(body, state, None, length=config.num_updates)

  return train
