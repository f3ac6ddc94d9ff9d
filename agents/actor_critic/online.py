"""Meta-steps that act while they learn: every rollout trains the learner once.

On-policy acting makes rollout ``k + 1`` depend on the parameters after
update ``k``, so acting and learning interleave. The meta-loss here is one
``lax.scan`` that, at each step, takes the learner's (differentiable) update
on the pending rollout and then collects the next rollout with
``sg(x)``; the acting branch carries no gradient, so the meta-gradient's
backward pass skips it. Nothing is computed twice:

* MG: ``K`` steps ``x⁽ᵏ⁺¹⁾ = φ(x⁽ᵏ⁾, w, τₖ)``; ``τₖ₊₁`` is collected with
  ``x⁽ᵏ⁺¹⁾``. The meta-loss is ``f(x⁽ᴷ⁾; τ_K)``, and ``τ_K`` (collected
  with ``x⁽ᴷ⁾``) is the next iteration's first inner rollout.
* BMG: the ``K`` steps as above, then ``L − 1`` steps with ``sg(w)`` from
  ``sg(x⁽ᴷ⁾)`` (these rollouts and updates are the learner's own when it
  continues from ``x⁽ᴷ⁺ᴸ⁻¹⁾``), and the final outer step on
  ``τ_{K+L−1}``, which is also the matching's states and the next
  iteration's first inner rollout.

So a meta-learning agent takes as many learner updates per environment
step as a fixed one (``continue_from="K+L-1"``). On the rollouts it
collects, the meta-loss and its gradient equal
:func:`agents.actor_critic.learning.make_meta_loss` (tested).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from agents.actor_critic import learning
from agents.actor_critic.acting import ActorState, Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.learning import LearnerState, MetaState
from agents.actor_critic.networks import Networks

__all__ = ["OnlineAux", "OnlineCarry", "carry_metrics",
           "make_online_meta_loss", "make_online_step", "online_meta_update",
           "totals"]

CollectFn = Callable[[Any, ActorState], tuple[ActorState, Trajectory]]


class OnlineCarry(NamedTuple):
  """The learner, the actor and the rollout that has not trained yet.

  Attributes:
    learner: parameters, optimiser state, context, skip count.
    actor: environments, core state and key of acting.
    traj: the pending rollout, collected with ``learner.params``.
    totals: ``[4]`` running sums over the rollouts collected in this
      iteration: reward, reward count, episode returns, episodes.
  """

  learner: LearnerState
  actor: ActorState
  traj: Trajectory
  totals: jax.Array

  @property
  def params(self):
    """The learner's parameters ``x`` (for ``bootstrap_meta``)."""
    return self.learner.params

  @property
  def opt_state(self):
    """The learner's optimiser state ``s``."""
    return self.learner.opt_state


class OnlineAux(NamedTuple):
  """What an online meta-loss returns besides the loss.

  Attributes:
    carry_k: the carry after the ``K`` differentiable steps (sg).
    next: where the agent continues (sg).
    target_opt_state: BMG's new RMSProp target state (else ``None``).
    trajs: the rollouts this iteration trained on, stacked (sg).
  """

  carry_k: OnlineCarry
  next: OnlineCarry
  target_opt_state: Any
  trajs: Trajectory


def totals(traj: Trajectory) -> jax.Array:
  """``[4]``: reward sum, reward count, episode-return sum, episodes."""
  return jnp.stack([jnp.sum(traj.rewards), jnp.asarray(traj.rewards.size,
                                                         jnp.float32),
                    jnp.sum(traj.episode_returns), jnp.sum(traj.dones)]
                   ).astype(jnp.float32)


def make_online_step(step_fn: Callable, collect_fn: CollectFn) -> Callable:
  """``online_step(carry, w, _) -> carry``: the learner's step on the
  pending rollout, then the next rollout collected with ``sg(x)``."""

  def online_step(carry: OnlineCarry, meta_params, batch):
    del batch
    learner = step_fn(carry.learner, meta_params, carry.traj)
    actor, traj = collect_fn(jax.lax.stop_gradient(learner.params),
                             carry.actor)
    traj = jax.lax.stop_gradient(traj)
    return OnlineCarry(learner, actor, traj, carry.totals + totals(traj))

  return online_step


def _scan_steps(online_step, carry, meta_params, length, reference=None):
  """``length`` online steps: ``(carry, trajs, total)``.

  ``trajs`` stacks the rollouts trained on. If ``reference`` is given,
  ``total`` sums ``reference(learner, traj)`` at every point passed (the
  outer rule's steps, BMG ``target_mode="outer"``); otherwise it is None.
  One step is called directly: in a scan of length one, differentiation
  would give the starting carry (a constant) zero tangents to carry
  through the step.
  """
  def body(c, _):
    d = None if reference is None else reference(c.learner, c.traj)
    return online_step(c, meta_params, None), (c.traj, d)

  if length == 1:
    carry, (traj, total) = body(carry, None)
    return carry, jax.tree.map(lambda x: x[None], traj), total
  carry, (trajs, ds) = jax.lax.scan(body, carry, None, length=length)
  total = None if ds is None else jax.tree.map(lambda d: d.sum(0), ds)
  return carry, trajs, total


def make_online_meta_loss(config: ActorCriticConfig, networks: Networks, *,
                          collect_fn: CollectFn, continuous: bool = False,
                          loss_fn: Callable | None = None) -> Callable:
  """``meta_loss(w, carry, target_opt_state) -> (loss, OnlineAux)``.

  Args:
    config: the agent's configuration (method ``"mg"`` or ``"bmg"``).
    networks: its networks.
    collect_fn: ``collect(params, actor) -> (actor, traj)``, one rollout.
    continuous: Gaussian policy.
    loss_fn: overrides the inner loss (see
      :func:`agents.actor_critic.learning.make_step_fn`).

  Returns:
    The meta-loss, for ``jax.value_and_grad(..., has_aux=True)``.
  """
  step_fn = learning.make_step_fn(config, networks, continuous=continuous,
                                  loss_fn=loss_fn)
  online_step = make_online_step(step_fn, collect_fn)
  outer_fn = learning.make_outer_fn(config, networks, continuous=continuous)
  matching = learning.make_matching_fn(config, networks)
  sg = jax.lax.stop_gradient

  def mg(w, carry, target_opt_state=None):
    carry_k, trajs, _ = _scan_steps(online_step, carry, w, config.K)
    loss = outer_fn(carry_k.params, carry_k.traj)
    carry_k = sg(carry_k)
    return loss, OnlineAux(carry_k, carry_k, target_opt_state, trajs)

  reference = (learning.make_reference_fn(
      config, networks, continuous=continuous, loss_fn=loss_fn)
               if config.target_mode == "outer" else None)

  def bmg(w, carry, target_opt_state=None):
    carry_k, inner, _ = _scan_steps(online_step, carry, w, config.K)
    carry_t, rest, total = _scan_steps(online_step, sg(carry_k), sg(w),
                                       config.L - 1, reference)
    target = learning.bmg_target(config, carry_t, w, carry_t.traj,
                                 outer_fn=outer_fn,
                                 target_opt_state=target_opt_state,
                                 start=carry.params)
    if total is not None:
      target = learning.outer_rule_target(
          target, carry_k.params, carry_t.params, total)
    loss = matching(target.params, carry_k.params, w, carry_t.traj)
    carry_k = sg(carry_k)
    if config.continue_from == "K+L-1":
      after, trajs = target.carry, jax.tree.map(
          lambda a, b: jnp.concatenate([a, b]), inner, rest)
    else:  # The target's rollouts are extra data; τ_K trains next.
      after = carry_k._replace(actor=target.carry.actor,
                               totals=target.carry.totals)
      trajs = inner
    return loss, OnlineAux(carry_k, after, target.target_opt_state, trajs)

  return mg if config.method == "mg" else bmg


def online_meta_update(meta: MetaState, carry: OnlineCarry, *,
                       meta_loss: Callable,
                       meta_optimizer: optax.GradientTransformation):
  """One iteration of a meta-learning agent: act, learn, meta-learn.

  The meta-step is skipped (and counted) if it is not finite; the learner
  continues to ``aux.next`` either way (its own non-finite steps were
  skipped by the step function).

  Returns:
    ``(meta_state, carry_next, aux, metrics)``; ``carry_next.totals`` is
    reset to zero.
  """
  carry = carry._replace(totals=jnp.zeros_like(carry.totals))
  grad_fn = jax.value_and_grad(meta_loss, has_aux=True)
  (loss, aux), grads = grad_fn(meta.params, carry, meta.target_opt_state)
  meta, metrics = learning.apply_meta_gradient(
      meta, loss, grads, aux.target_opt_state,
      meta_optimizer=meta_optimizer)
  return meta, aux.next, aux, metrics


def carry_metrics(totals: jax.Array) -> dict[str, jax.Array]:
  """``reward_mean``, ``episode_return`` and ``episodes`` from the totals."""
  reward, count, returns, episodes = totals
  return {"episode_return": returns / jnp.maximum(episodes, 1.0),
          "episodes": episodes, "reward_mean": reward / jnp.maximum(count, 1.0)}

