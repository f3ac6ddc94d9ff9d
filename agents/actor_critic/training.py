"""The whole training run as one jittable function of a key.

``make_train(config)`` returns ``train(key) -> (final_state, metrics)``, so
``jax.vmap(train)`` runs seeds in parallel. Without meta-learning an
iteration is one rollout and one learner update (``loss="a2c"``), or one
rollout and PPO's ``ppo_epochs × num_minibatches`` steps on it
(``loss="ppo"``, :mod:`agents.actor_critic.ppo`). With MG or BMG it is one
call of the online meta-loss (:mod:`agents.actor_critic.online`): a scan
that steps the learner on the pending rollout and collects the next one
with ``sg(x)``, differentiated w.r.t. ``w`` once; environment data is a
constant w.r.t. ``w``. Every rollout trains the learner exactly once (the
outer / final target rollout is kept in :attr:`TrainState.pending` as the
next iteration's first inner rollout), so meta-learning agents take as
many learner updates per environment step as fixed ones.

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
from agents.actor_critic import (
  acting,
  hyperparams,
  learning,
  meta_ppo,
  online,
  ppo,
)
from agents.actor_critic.acting import ActorState, Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.learning import LearnerState, MetaState
from agents.actor_critic.networks import Networks, make_networks
from agents.actor_critic.types import Metrics, PRNGKey
from tasks.wrappers import AutoReset, PrevActionObs

__all__ = ["Agent", "TrainState", "heal_rollout", "init_state", "iteration",
           "make_agent", "make_collect_fn", "make_train",
           "trajectory_metrics"]


class Agent(NamedTuple):
  """The static pieces of a run: config, networks, env and pure functions."""

  config: ActorCriticConfig
  networks: Networks
  env: Any
  env_params: Any
  rollout: Callable  # (params, actor) -> (actor, Trajectory)
  # (LearnerState, meta_params, Trajectory) -> LearnerState; None for PPO.
  step: Callable | None
  meta_loss: Callable | None  # online: (w, OnlineCarry, target_state)
  meta_optimizer: optax.GradientTransformation
  inner_init: Callable  # params -> inner optimiser state
  # loss="ppo": (LearnerState, Trajectory, key) -> (LearnerState, Metrics).
  ppo_update: Callable | None = None
  # loss="ppo", method="mg": (LearnerState, MetaState, Trajectory, key) ->
  # (LearnerState, MetaState, Metrics).
  meta_ppo_update: Callable | None = None


class TrainState(NamedTuple):
  """Carry of the training loop.

  Attributes:
    learner: network parameters, optimiser state, context.
    meta: meta-parameters and meta-optimiser state.
    actor: environments, core state and key of acting.
    pending: with a meta-gradient method, the rollout collected with
      ``learner.params`` that has not trained the learner yet (``None``
      without meta-learning).
  """

  learner: LearnerState
  meta: MetaState
  actor: ActorState
  pending: Trajectory | None = None


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
  networks = make_networks(core=config.core, width=config.width,
                           num_actions=num_actions, continuous=continuous,
                           core_kwargs=_core_kwargs(config),
                           separate=config.separate_networks,
                           net_kwargs=_net_kwargs(config))
  rollout = functools.partial(
      acting.rollout, env=env, env_params=env_params, step_fn=networks.step,
      length=config.unroll_length, continuous=continuous)
  if config.loss == "ppo":
    return _ppo_agent(config, networks, env, env_params, rollout,
                      continuous=continuous)
  meta_loss = None
  if config.method != "none":
    meta_loss = online.make_online_meta_loss(
        config, networks, continuous=continuous,
        collect_fn=make_collect_fn(rollout, networks, config.num_envs))
  step = learning.make_step_fn(config, networks, continuous=continuous)
  inner = learning.inner_optimizer(config.learning_rate,
                                   kind=config.optimizer,
                                   max_norm=config.max_grad_norm,
                                   eps=config.adam_eps)
  return Agent(config, networks, env, env_params, rollout, step, meta_loss,
               learning.make_meta_optimizer(config), inner.init)


def _ppo_agent(config: ActorCriticConfig, networks: Networks, env,
               env_params, rollout: Callable, *, continuous: bool) -> Agent:
  """The PPO agent: :func:`agents.actor_critic.ppo.make_ppo_update`, or
  with ``method="mg"``
  :func:`agents.actor_critic.meta_ppo.make_meta_ppo_update`."""
  meta_optimizer = learning.make_meta_optimizer(config)
  inner = ppo.ppo_optimizer(config)
  ppo_update = meta_ppo_update = None
  if config.method == "none":
    ppo_update = ppo.make_ppo_update(config, networks, continuous=continuous)
  else:
    meta_ppo_update = meta_ppo.make_meta_ppo_update(
        config, networks, continuous=continuous,
        meta_optimizer=meta_optimizer)
  return Agent(config, networks, env, env_params, rollout, None, None,
               meta_optimizer, inner.init, ppo_update, meta_ppo_update)


def _core_kwargs(config: ActorCriticConfig) -> dict[str, Any]:
  """The S5 core's options of the config (none for other cores)."""
  if config.core != "s5":
    return {}
  kwargs = {"num_layers": config.num_layers, "dt_min": config.dt_min,
            "dt_max": config.dt_max}
  if config.ssm_size:
    kwargs["state_size"] = config.ssm_size
  if not config.core_input_projection:
    kwargs["input_projection"] = False
  if config.clip_eigs:
    kwargs["clip_eigs"] = True
  if config.max_timescale:
    kwargs["max_timescale"] = config.max_timescale
  return kwargs


def _net_kwargs(config: ActorCriticConfig) -> dict[str, Any]:
  """The shared network's options that differ from its defaults."""
  kwargs = {}
  if config.encoder_sizes:
    kwargs["encoder_sizes"] = config.encoder_sizes
  if config.head_sizes:
    kwargs["head_sizes"] = config.head_sizes
  if config.activation != "leaky_relu":
    kwargs["activation"] = config.activation
  if config.hidden_gain != 2.0 ** 0.5:
    kwargs["hidden_gain"] = config.hidden_gain
  if config.head_gain:
    kwargs["head_gain"] = config.head_gain
  if config.no_reset:
    kwargs["reset"] = False
  return kwargs


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
  target_opt = learning.make_target_optimizer(config)
  target_state = None
  if config.method == "bmg" and config.target_step == "rmsprop":
    target_state = target_opt.init(params)
  pending = None
  if config.method != "none" and config.loss != "ppo":
    actor, pending = heal_rollout(agent, params, actor)
  return TrainState(
      LearnerState(params, agent.inner_init(params), context, zero),
      MetaState(meta_params, agent.meta_optimizer.init(meta_params), zero,
                target_state),
      actor, pending)


def make_collect_fn(rollout: Callable, networks: Networks,
                    num_envs: int) -> Callable:
  """``collect(params, actor) -> (actor, traj)``: one rollout, then a
  non-finite core state (e.g. from a NaN observation) of any environment
  is reset to the initial state.

  A recurrent core would otherwise carry the NaN until the episode ends
  (or forever, for a multiplicative reset), and every later rollout of that
  environment would be skipped by the learner. A no-op when finite.
  """

  def collect(params, actor: ActorState):
    actor, traj = rollout(params, actor)
    leaves = jax.tree.leaves(actor.core_state)
    if not leaves:
      return actor, traj
    b = num_envs
    finite = jnp.all(jnp.stack([
        jnp.all(jnp.isfinite(x.reshape(b, -1)), axis=1) for x in leaves]),
                     axis=0)  # [B]
    initial = networks.initial_state(b)
    core = jax.tree.map(
        lambda s, i: jnp.where(finite.reshape((b,) + (1,) * (s.ndim - 1)),
                               s, i.astype(s.dtype)),
        actor.core_state, initial)
    return actor._replace(core_state=core), traj

  return collect


def heal_rollout(agent: Agent, params, actor: ActorState):
  """``agent.rollout`` with non-finite core states reset (see
  :func:`make_collect_fn`).

  Args:
    agent: the agent.
    params: network parameters to act with.
    actor: the acting carry.

  Returns:
    ``(actor, trajectory)`` as ``agent.rollout``.
  """
  collect = make_collect_fn(agent.rollout, agent.networks,
                            agent.config.num_envs)
  return collect(params, actor)


def trajectory_metrics(trajs: Trajectory) -> Metrics:
  """Episode return mean (over episodes ending in ``trajs``) and counts;
  the same numbers as a meta-learning iteration's
  :func:`agents.actor_critic.online.carry_metrics`."""
  return online.carry_metrics(online.totals(trajs))


def iteration(agent: Agent, state: TrainState) -> tuple[TrainState, Metrics]:
  """One (meta-)iteration of training.

  Besides the returns, the metrics count faults: ``skipped_updates``, the
  learner steps of this iteration skipped as not finite, and (with a
  meta-gradient method) ``skipped_meta_updates``, 1.0 if this iteration's
  meta-step was skipped. Cumulative counts are ``state.learner.skipped``
  and ``state.meta.skipped``.
  """
  config = agent.config
  if config.loss == "ppo":
    return _ppo_iteration(agent, state)
  if config.method == "none":
    actor, traj = heal_rollout(agent, state.learner.params, state.actor)
    learner = agent.step(state.learner, state.meta.params, traj)
    metrics = {**trajectory_metrics(traj),
               **_skip_metrics(state.learner, learner)}
    return TrainState(learner, state.meta, actor), metrics
  carry = online.OnlineCarry(state.learner, state.actor, state.pending,
                             jnp.zeros([4], jnp.float32))
  meta, nxt, _, metrics = online.online_meta_update(
      state.meta, carry, meta_loss=agent.meta_loss,
      meta_optimizer=agent.meta_optimizer)
  metrics = {**metrics, **online.carry_metrics(nxt.totals),
             **_skip_metrics(state.learner, nxt.learner),
             **_hyperparam_metrics(agent, meta, nxt.learner)}
  return TrainState(nxt.learner, meta, nxt.actor, nxt.traj), metrics


def _ppo_iteration(agent: Agent,
                   state: TrainState) -> tuple[TrainState, Metrics]:
  """One rollout and PPO's epochs × minibatches on it (``ppo/*`` metrics),
  with MG's meta-steps between them if ``method="mg"`` (``hp/*``, meta
  metrics); the environments' shuffling key is split off the actor's key."""
  actor, traj = heal_rollout(agent, state.learner.params, state.actor)
  key, ppo_key = jax.random.split(actor.key)
  meta = state.meta
  if agent.meta_ppo_update is None:
    learner, ppo_metrics = agent.ppo_update(state.learner, traj, ppo_key)
  else:
    learner, meta, ppo_metrics = agent.meta_ppo_update(
        state.learner, meta, traj, ppo_key)
    ppo_metrics.update(_hyperparam_metrics(agent, meta, learner))
  metrics = {**trajectory_metrics(traj), **ppo_metrics,
             **_skip_metrics(state.learner, learner)}
  return TrainState(learner, meta, actor._replace(key=key)), metrics


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
