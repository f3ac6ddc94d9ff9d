"""Meta-gradients through PPO's minibatch steps (MG).

A PPO iteration acts once, computes GAE once from the behaviour values
(:func:`agents.actor_critic.ppo.make_batch`) and takes ``N = E × M``
minibatch steps (:func:`agents.actor_critic.ppo.minibatch_order`). With
``method="mg"`` that sequence is cut into windows of ``K`` steps. From the
carried learner ``x``, window ``c`` takes ``K`` differentiable steps (the
inner rule, Adam by default, differentiated through) on minibatches
``cK … cK + K − 1`` with the meta-learned hyperparameters ``η(w)``, and
scores the result with PPO's loss under the *outer* hyperparameters (no
meta-parameter) on the following minibatch:

.. math::

  J(w) = ℓ_{\\mathrm{PPO}}\\big(x^{(K)}(w);\\ η_{\\mathrm{outer}},
         \\mathcal{B}_{cK + K}\\big),\\qquad
  x^{(k+1)} = φ\\big(x^{(k)}, η(w), \\mathcal{B}_{cK + k}\\big).

The meta-optimiser steps ``w`` on ``∇_w J``, the learner continues from
``sg(x⁽ᴷ⁾)``, and the outer minibatch is the next window's first inner
one. The last ``N − K ⌊(N − 1) / K⌋`` minibatches, which have no following
minibatch in the rollout, are plain steps with the updated ``w``. So
every minibatch trains the learner exactly once (the step count of plain
PPO) and is the outer batch of at most one window.

Learnable: the entropy weight, and λ, which enters the inner minibatches'
advantages and value targets; they are recomputed from the behaviour
values with ``λ(w)`` in each window and are not stop-gradiented w.r.t.
``w`` (they do not depend on ``x``). The outer minibatches use GAE with
``outer_discount`` and ``outer_lambda`` and the outer entropy weight.

References:
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  Schulman et al, `Proximal Policy Optimization Algorithms
  <https://arxiv.org/abs/1707.06347>`_, 2017.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import bootstrap_meta as bm
from agents.actor_critic import learning, ppo
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.hyperparams import make_hyperparams_fn
from agents.actor_critic.learning import LearnerState, MetaState
from agents.actor_critic.networks import Networks
from agents.actor_critic.types import Array, MetaParams, Metrics, PRNGKey

__all__ = ["MinibatchCarry", "gae_learned", "make_meta_ppo_update",
           "make_window_loss", "meta_ppo_optimizer", "num_windows",
           "outer_hyperparams"]

#: Adam's ``eps_root`` inside the differentiated steps: finite second
#: derivatives where a gradient entry is exactly zero.
EPS_ROOT = 1e-8
#: The metrics of one PPO minibatch step (summed over steps).
_STEP_METRICS = ("loss", "pg_loss", "value_loss", "entropy",
                 "clip_fraction", "approx_kl", "grad_norm")


class MinibatchCarry(NamedTuple):
  """The learner through a window, with its minibatch metrics summed.

  Attributes:
    learner: parameters, optimiser state, context, skip count.
    metrics: sums of the steps' metrics (``loss``, ``pg_loss``,
      ``value_loss``, ``entropy``, ``clip_fraction``, ``approx_kl``,
      ``grad_norm``).
  """

  learner: LearnerState
  metrics: Metrics

  @property
  def params(self):
    """The learner's parameters ``x`` (for :func:`bootstrap_meta.mg_loss`)."""
    return self.learner.params


def _zero_metrics() -> Metrics:
  return {k: jnp.zeros([], jnp.float32) for k in _STEP_METRICS}


def _add(sums: Metrics, metrics: Metrics) -> Metrics:
  """``sums + metrics`` in the sums' dtype (float32 also under x64)."""
  return jax.tree.map(lambda s, m: s + m.astype(s.dtype), sums, metrics)


def _accumulating(step: Callable) -> Callable:
  """``step_fn(carry, (hp, batch, finite), index) -> carry`` for
  :func:`bootstrap_meta.unroll`: PPO's minibatch ``step`` on the
  environments ``index`` of ``batch``, its metrics added to the sums."""

  def step_fn(carry: MinibatchCarry, args, index: Array) -> MinibatchCarry:
    hp, batch, finite = args
    learner, metrics = step(carry.learner, hp,
                            ppo.select_envs(batch, index), finite)
    return MinibatchCarry(learner, _add(carry.metrics, metrics))

  return step_fn


def num_windows(config: ActorCriticConfig) -> int:
  """Meta-steps per rollout: ``⌊(E M − 1) / K⌋``."""
  return (config.ppo_epochs * config.num_minibatches - 1) // config.K


def outer_hyperparams(config: ActorCriticConfig) -> dict[str, float]:
  """The outer loss's hyperparameters: ``outer_discount``,
  ``outer_lambda``, ``outer_entropy_weight`` and the value weight."""
  return {"discount": config.outer_discount, "lambda_": config.outer_lambda,
          "entropy_weight": config.outer_entropy_weight,
          "value_weight": config.value_weight}


def meta_ppo_optimizer(config: ActorCriticConfig, *,
                       eps_root: float = EPS_ROOT
                       ) -> optax.GradientTransformation:
  """PPO's inner rule (:func:`agents.actor_critic.ppo.ppo_optimizer`)
  with Adam's ``eps_root`` for differentiation.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022 (meta-gradients through
    Adam).
  """
  return ppo.ppo_optimizer(config, eps_root=eps_root)


def make_window_loss(config: ActorCriticConfig, networks: Networks, *,
                     continuous: bool = False,
                     eps_root: float = EPS_ROOT) -> Callable:
  """MG's meta-loss of one window of ``K`` PPO minibatch steps.

  Args:
    config: the agent (``loss="ppo"``, ``method="mg"``).
    networks: its networks.
    continuous: Gaussian policy.
    eps_root: the inner Adam's (:func:`meta_ppo_optimizer`).

  Returns:
    ``window_loss(w, learner, traj, outer_batch, window, finite=True,
    batch=None) -> (loss, carry_k)``: ``window`` ``[K + 1, B / M]`` holds
    the environments of the ``K`` inner minibatches and of the outer one;
    ``outer_batch`` is ``make_batch(traj, outer_hyperparams(config))``;
    ``batch``, the inner minibatches' GAE batch when neither γ nor λ is
    learned (:func:`gae_learned`; computed from ``w`` when ``None``);
    ``carry_k`` a :class:`MinibatchCarry` after the ``K`` steps (not
    stop-gradiented). For ``jax.value_and_grad(..., has_aux=True)``.

  References:
    Xu et al, `Meta-Gradient Reinforcement Learning
    <https://arxiv.org/abs/1805.09801>`_, 2018.
  """
  step_fn = _accumulating(ppo.make_minibatch_step(
      config, networks, continuous=continuous, stop_target_gradients=False,
      optimizer=meta_ppo_optimizer(config, eps_root=eps_root)))
  outer_loss = ppo.make_minibatch_loss(
      networks.unroll, clip=config.ppo_clip, clip_value=config.clip_value,
      normalize_advantages=config.normalize_advantages,
      continuous=continuous)
  hyperparams_fn = make_hyperparams_fn(config)
  outer_hp = outer_hyperparams(config)

  def window_loss(w: MetaParams, learner: LearnerState, traj: Trajectory,
                  outer_batch: ppo.PPOBatch, window: Array, finite=True,
                  batch: ppo.PPOBatch | None = None):
    hp = hyperparams_fn(w)
    if batch is None:
      batch = ppo.make_batch(traj, hp, continuous=continuous)
    outer_fn = lambda params, index: outer_loss(  # noqa: E731
        params, outer_hp, ppo.select_envs(outer_batch, index))[0]
    return bm.mg_loss((hp, batch, jnp.asarray(finite)),
                      MinibatchCarry(learner, _zero_metrics()), window[:-1],
                      window[-1], step_fn=step_fn, outer_fn=outer_fn)

  return window_loss


def gae_learned(config: ActorCriticConfig) -> bool:
  """Whether the inner minibatches' GAE depends on ``w`` (γ or λ learned);
  if not, it is computed once per rollout."""
  return bool({"discount", "lambda_"} & set(config.learned))


def _plain_steps(step_fn: Callable, hyperparams_fn: Callable, w, learner,
                 traj: Trajectory, order: Array, finite, *, continuous,
                 batch: ppo.PPOBatch | None = None):
  """The steps after the last window, with ``sg(w)``: a
  :class:`MinibatchCarry`."""
  hp = hyperparams_fn(jax.lax.stop_gradient(w))
  if batch is None:
    batch = ppo.make_batch(traj, hp, continuous=continuous)
  carry = MinibatchCarry(learner, _zero_metrics())
  return bm.unroll(step_fn, carry, (hp, batch, finite), order)


def _window_metrics(stats: Metrics, steps: Metrics,
                    config: ActorCriticConfig) -> Metrics:
  """Per-rollout metrics: ``ppo/*`` means over all steps, meta-step means
  (``meta_loss``, ``meta_grad_norm``, ``meta_grad/<name>``) and the count
  of skipped meta-steps."""
  n = config.ppo_epochs * config.num_minibatches
  out = {f"ppo/{k}": v / n for k, v in steps.items()}
  out.update({k: jnp.mean(v) for k, v in stats.items()
              if k != "skipped_meta_updates"})
  out["skipped_meta_updates"] = jnp.sum(stats["skipped_meta_updates"])
  return out


def make_meta_ppo_update(config: ActorCriticConfig, networks: Networks, *,
                         meta_optimizer: optax.GradientTransformation,
                         continuous: bool = False,
                         eps_root: float = EPS_ROOT) -> Callable:
  """The learner's PPO update of one rollout, with MG on ``w`` per window.

  Args:
    config: the agent (``loss="ppo"``, ``method="mg"``).
    networks: its networks.
    meta_optimizer: steps ``w`` (the agent's:
      :func:`agents.actor_critic.learning.make_meta_optimizer`).
    continuous: Gaussian policy.
    eps_root: the inner Adam's (:func:`meta_ppo_optimizer`).

  Returns:
    ``update(learner, meta, traj, key) -> (learner, meta, metrics)``;
    ``key`` orders the minibatches as
    :func:`agents.actor_critic.ppo.make_ppo_update`'s. A non-finite
    meta-step is skipped and counted
    (:func:`agents.actor_critic.learning.apply_meta_gradient`); metrics:
    ``ppo/*`` means, ``meta_loss``, ``meta_grad_norm``,
    ``meta_grad/<name>`` (means over the windows, of the raw ``w``) and
    ``skipped_meta_updates`` (count in this rollout).

  References:
    Xu et al, `Meta-Gradient Reinforcement Learning
    <https://arxiv.org/abs/1805.09801>`_, 2018.
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
  """
  window_loss = make_window_loss(config, networks, continuous=continuous,
                                 eps_root=eps_root)
  grad_fn = jax.value_and_grad(window_loss, has_aux=True)
  tail_step = _accumulating(ppo.make_minibatch_step(
      config, networks, continuous=continuous,
      optimizer=meta_ppo_optimizer(config, eps_root=eps_root)))
  hyperparams_fn = make_hyperparams_fn(config)
  k, w_count = config.K, num_windows(config)

  def meta_step(carry, window, traj, outer_batch, finite, batch):
    learner, meta, sums = carry
    (loss, carry_k), grads = grad_fn(meta.params, learner, traj,
                                     outer_batch, window, finite, batch)
    meta, stats = learning.apply_meta_gradient(
        meta, loss, grads, None, meta_optimizer=meta_optimizer)
    stats.update({f"meta_grad/{n}": grads[n] for n in config.learned})
    carry_k = jax.lax.stop_gradient(carry_k)
    sums = _add(sums, carry_k.metrics)
    return (carry_k.learner, meta, sums), stats

  def update(learner: LearnerState, meta: MetaState, traj: Trajectory,
             key: PRNGKey) -> tuple[LearnerState, MetaState, Metrics]:
    traj, finite = ppo.finite_rollout(traj)
    outer_batch = ppo.make_batch(traj, outer_hyperparams(config),
                                 continuous=continuous)
    order = ppo.minibatch_order(key, num_envs=config.num_envs,
                                num_minibatches=config.num_minibatches,
                                epochs=config.ppo_epochs)
    windows = jnp.stack([order[i * k:(i + 1) * k + 1]
                         for i in range(w_count)])  # [W, K + 1, B / M]
    batch = None if gae_learned(config) else ppo.make_batch(
        traj, hyperparams_fn(jax.lax.stop_gradient(meta.params)),
        continuous=continuous)  # Once per rollout: γ, λ are constants.
    body = lambda c, win: meta_step(  # noqa: E731
        c, win, traj, outer_batch, finite, batch)
    (learner, meta, sums), stats = jax.lax.scan(
        body, (learner, meta, _zero_metrics()), windows)
    tail = _plain_steps(tail_step, hyperparams_fn, meta.params, learner,
                        traj, order[w_count * k:], finite,
                        continuous=continuous, batch=batch)
    sums = _add(sums, tail.metrics)
    return tail.learner, meta, _window_metrics(stats, sums, config)

  return update
