"""Learner and meta-learner steps of the actor-critic agent.

The learner's update is :func:`bootstrap_meta.inner_step` on the A2C (or
PPO) loss with the inner rule (Adam or SGD, optionally clipped) built by
:func:`bootstrap_meta.hyper_optimizer`,
its hyperparameters read from the meta-parameters (or from ``g_ω(sg(c))``
of a context of per-update statistics, Luketina et al. 2022, Table 5). The
meta-step is :func:`bootstrap_meta.mg_loss` (outer policy-gradient loss after
K steps) or :func:`bootstrap_meta.bmg_loss` (KL (+ value) matching to a
target bootstrapped by ``L - 1`` meta-learned steps and one outer step). The
recurrent policies are compared by replaying each trajectory's observations
from its stored initial core state with both parameter sets.

Faults: a learner step whose rollout, hyperparameters or result is not
finite (a NaN/Inf observation, reward, loss or gradient) is skipped — the
carry (parameters, optimiser state, context) is kept and the skip counted —
and a meta-step whose meta-loss, meta-gradient or result is not finite is
skipped and counted the same way. The skips select with ``jnp.where`` on a
finiteness flag that carries no gradient, and a non-finite rollout is
replaced by zeros *before* the step (the double-``where`` pattern), so the
meta-gradient through a skipped step is that of the identity.

References:
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import bootstrap_meta as bm
from agents.actor_critic import losses
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.hyperparams import (
  make_hyperparams_fn,
  trajectory_stats,
)
from agents.actor_critic.networks import Networks
from agents.actor_critic.types import MetaParams, Params

__all__ = [
    "LearnerState", "MetaState", "all_finite", "apply_meta_gradient",
    "bmg_target", "inner_optimizer", "make_meta_loss",
    "make_matching_fn", "make_meta_optimizer", "make_outer_fn",
    "make_reference_fn", "make_step_fn", "make_target_optimizer",
    "meta_update", "outer_rule_target",
]

class LearnerState(NamedTuple):
  """The learner's carry through inner steps.

  Attributes:
    params: network parameters ``x``.
    opt_state: inner optimiser state ``s``.
    context: the context tracker (a ``bootstrap_meta.ContextState``), or
      ``None`` without context.
    skipped: learner steps skipped so far because they were not finite
      (int32 scalar, cumulative), or ``None``: not counted.
  """

  params: Params
  opt_state: optax.OptState
  context: Any
  skipped: Any = None


class MetaState(NamedTuple):
  """Meta-parameters (raw ``w`` or context MLPs ``ω``) and their optimiser.

  Attributes:
    params: raw ``w``, or the context MLPs ``ω``.
    opt_state: the meta-optimiser's state.
    skipped: meta-steps skipped so far because they were not finite (int32
      scalar, cumulative), or ``None``: not counted.
    target_opt_state: the state of BMG's RMSProp target step (``None`` for
      other target steps).
  """

  params: MetaParams
  opt_state: optax.OptState
  skipped: Any = None
  target_opt_state: Any = None


def all_finite(tree) -> jax.Array:
  """Whether every inexact leaf of ``tree`` is finite (a bool scalar, no
  gradient); integer, boolean and key leaves are ignored."""
  leaves = [x for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
  if not leaves:
    return jnp.array(True)
  ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
  return jax.lax.stop_gradient(ok)


def _select(pred, new, old):
  """Leaf-wise ``where(pred, new, old)`` (``None`` leaves stay ``None``)."""
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _count(counter, skipped):
  """Adds a skip to a counter (``None``: not counted)."""
  if counter is None:
    return None
  return counter + skipped.astype(counter.dtype)


def inner_optimizer(learning_rate, *, kind: str = "adam",
                    max_norm: float = 0.0, eps_root: float = 0.0,
                    eps: float = 1e-8) -> optax.GradientTransformation:
  """The inner update rule: optional global-norm clipping, then Adam or SGD.

  Args:
    learning_rate: step size (a float, a traced scalar or an optax
      schedule of the step count).
    kind: ``"adam"`` or ``"sgd"`` (Luketina et al., Table 3: SGD 0.1).
    max_norm: clipping threshold; ``0`` for none.
    eps_root: Adam's ``eps_root`` (finite second derivatives at zero).
    eps: Adam's ``eps`` (optax's default 1e-8; popjaxrl's PPO 1e-5).

  Returns:
    An optax transformation (always a two-element chain, so that its state
    has one structure whatever ``max_norm`` is).
  """
  clip = (optax.clip_by_global_norm(max_norm) if max_norm > 0
          else optax.identity())
  if kind == "adam":
    return optax.chain(clip, optax.adam(learning_rate, eps=eps,
                                        eps_root=eps_root))
  if kind == "sgd":
    return optax.chain(clip, optax.sgd(learning_rate))
  raise ValueError(f"Unknown inner optimizer {kind!r}; valid: adam, sgd.")


def make_meta_optimizer(config: ActorCriticConfig
                        ) -> optax.GradientTransformation:
  """Adam (``eps = config.meta_eps``) on the meta-parameters, after global
  norm clipping of the meta-gradient when ``config.meta_grad_clip > 0``."""
  adam = optax.adam(config.meta_learning_rate, eps=config.meta_eps)
  if config.meta_grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(config.meta_grad_clip), adam)
  return adam


def make_target_optimizer(config: ActorCriticConfig
                          ) -> optax.GradientTransformation | None:
  """The optimiser of BMG's final target step (``None``: a plain step).

  ``"inner"``: the inner rule at the configured learning rate, applied with
  the learner's own optimiser state; ``"rmsprop"``: RMSProp of step
  ``target_step_size`` with a state of its own (kept in :class:`MetaState`).
  """
  if config.target_step == "inner":
    return inner_optimizer(config.learning_rate, kind=config.optimizer,
                           max_norm=config.max_grad_norm,
                           eps=config.adam_eps)
  if config.target_step == "rmsprop":
    return optax.rmsprop(config.target_step_size)
  return None


def _inner_loss_fn(config: ActorCriticConfig, networks: Networks,
                   continuous: bool):
  if config.loss == "ppo":  # No single-step loss: epochs of minibatches.
    raise ValueError("loss='ppo' trains with agents.actor_critic.ppo."
                     "make_ppo_update; it has no one-step inner loss.")
  loss = losses.make_a2c_loss(networks.unroll, continuous=continuous)
  return lambda params, hp, traj: loss(params, hp, traj)[0]


def make_step_fn(config: ActorCriticConfig, networks: Networks, *,
                 continuous: bool = False,
                 loss_fn: Callable | None = None) -> Callable:
  """The learner update ``step(carry, meta_params, traj) -> carry``.

  With a context, the rollout's statistics enter the tracker first
  (stop-gradiented), so ``w_i = g_ω(sg(c_i))`` can change between steps.
  A step whose rollout, hyperparameters, new parameters, optimiser state
  or context is not finite returns ``carry`` unchanged, with
  ``carry.skipped`` (if counted) increased by one.

  Args:
    config: the agent's configuration.
    networks: its networks.
    continuous: Gaussian (not categorical) policy.
    loss_fn: the inner loss ``loss(params, hyperparams, traj) -> scalar``;
      default the config's A2C or PPO loss.
  """
  hyperparams_fn = make_hyperparams_fn(config)
  fixed = {"max_norm": config.max_grad_norm, "kind": config.optimizer,
           "eps": config.adam_eps}
  learned_lr = "learning_rate" in config.learned
  if not learned_lr:
    fixed["learning_rate"] = config.learning_rate
  optimizer = bm.hyper_optimizer(
      inner_optimizer, learned=("learning_rate",) if learned_lr else (),
      fixed=fixed)
  if loss_fn is None:
    loss_fn = _inner_loss_fn(config, networks, continuous)

  def step(carry: LearnerState, meta_params, traj: Trajectory):
    # Episode returns feed the metrics only: a NaN there is not a fault.
    finite_traj = all_finite(traj._replace(episode_returns=None))
    # Double where: a non-finite rollout is zeroed before the step, so that
    # the skipped step's backward pass stays finite too.
    traj = _select(finite_traj, traj, jax.tree.map(jnp.zeros_like, traj))
    context, features = carry.context, None
    if config.context:
      context = bm.context_update(
          context, trajectory_stats(traj, discount=config.outer_discount))
      features = bm.context_features(context)
    hp = hyperparams_fn(meta_params, features)
    new = bm.inner_step(bm.LearnerState(carry.params, carry.opt_state), hp,
                        traj, optimizer=optimizer, loss_fn=loss_fn)
    ok = jnp.logical_and(finite_traj, all_finite((new, context, hp)))
    kept = (carry.params, carry.opt_state, carry.context)
    params, opt_state, context = _select(
        ok, (new.params, new.opt_state, context), kept)
    return LearnerState(params, opt_state, context,
                        _count(carry.skipped, jnp.logical_not(ok)))

  return step


def make_reference_fn(config: ActorCriticConfig, networks: Networks, *,
                      continuous: bool = False,
                      loss_fn: Callable | None = None) -> Callable:
  """BMG ``target_mode="outer"``: ``displacement(learner, traj) -> Δx``,
  the step that the outer objective's hyperparameters (entropy weight,
  γ and λ of the outer objective; the others as configured) would take
  from ``learner`` on ``traj``, with the learner's optimiser state. No
  meta-parameter enters it.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022 (any update may build the
    target; this one does not move with ``w``).
  """
  reference = dataclasses.replace(
      config, method="none", learned=(), context=False,
      entropy_weight=config.outer_entropy_weight,
      discount=config.outer_discount, lambda_=config.outer_lambda)
  step = make_step_fn(reference, networks, continuous=continuous,
                      loss_fn=loss_fn)

  def displacement(learner: LearnerState, traj: Trajectory):
    new = step(learner, {}, traj)
    return jax.tree.map(jnp.subtract, new.params, learner.params)

  return displacement


def outer_rule_target(target, carry_k_params, carry_t_params, displacement):
  """``target_mode="outer"``: ``x⁽ᴷ⁾ + Σ Δx_ref + (x̃ − x⁽ᴷ⁺ᴸ⁻¹⁾)`` (all
  stop-gradiented); ``target`` is the :func:`bmg_target` from
  ``x⁽ᴷ⁺ᴸ⁻¹⁾``, ``displacement`` the summed reference steps."""
  sg = jax.lax.stop_gradient
  params = jax.tree.map(lambda xk, d, xt, tt: sg(xk + d + (tt - xt)),
                        carry_k_params, displacement, carry_t_params,
                        target.params)
  return target._replace(params=params)


def _split(trajs: Trajectory, k: int) -> tuple[Trajectory, Trajectory]:
  head = jax.tree.map(lambda x: x[:k], trajs)
  return head, jax.tree.map(lambda x: x[k:], trajs)


def make_outer_fn(config: ActorCriticConfig, networks: Networks, *,
                  continuous: bool = False) -> Callable:
  """The outer objective ``f(x; traj)`` of the config (no meta-parameters)."""
  return losses.make_outer_loss(
      networks.unroll, discount=config.outer_discount,
      lambda_=config.outer_lambda,
      entropy_weight=config.outer_entropy_weight, continuous=continuous)


def make_matching_fn(config: ActorCriticConfig,
                     networks: Networks) -> Callable:
  """BMG's ``μ(x̃, x, w, traj)``: policy KL (+ value) on the ``T`` acting
  states of ``traj``, averaged, or summed over time (``kl_reduction``)."""

  def replay(params, traj):
    out, values = losses.replay(networks.unroll, params, traj)
    return out[:-1], values[:-1]

  matching = bm.policy_kl_plus_value(replay,
                                     value_weight=config.kl_value_weight)
  if config.kl_reduction == "mean":
    return matching

  def summed(target, params, meta_params, traj):
    steps = traj.rewards.shape[0]
    return steps * matching(target, params, meta_params, traj)

  return summed


def bmg_target(config: ActorCriticConfig, carry, meta_params, traj, *,
               outer_fn: Callable, target_opt_state=None, start=None):
  """The final outer step of BMG's target from ``carry`` (after ``K + L −
  1`` steps) on ``traj``; see :func:`make_target_optimizer`.

  With ``config.target_mode == "average"``, the returned ``params`` are
  ``x⁽⁰⁾ + K (x̃ − x⁽⁰⁾) / (K + L − 1)`` with ``x⁽⁰⁾ = start`` (the
  parameters at the start of the meta-iteration, required then): matched
  against ``x⁽ᴷ⁾``, the displacement is the mean of the target's later
  steps minus the mean of the first ``K``, plus the outer step ÷ (K + L −
  1), so a meta-parameter is not rewarded for the bootstrapped steps
  continuing in its own direction (the "ratchet", Flennerhag et al.'s
  target with ``L − 1`` steps of the same rule; see RESULTS.md).

  Returns:
    A :class:`bootstrap_meta.BootstrapTarget` (all stop-gradiented); its
    ``target_opt_state`` is the RMSProp state to keep (``None`` otherwise).
  """
  optimizer = make_target_optimizer(config)
  state = target_opt_state
  if config.target_step == "inner":
    state = carry.opt_state
  target = bm.bootstrap_target(
      carry, meta_params, None, traj, step_fn=None, outer_fn=outer_fn,
      step_size=config.target_step_size, target_optimizer=optimizer,
      target_opt_state=state, length=0)
  if config.target_step != "rmsprop":
    target = target._replace(target_opt_state=None)
  if config.target_mode == "average":
    target = target._replace(params=bm.average_velocity(
        jax.lax.stop_gradient(start), target.params,
        num_steps=config.K + config.L - 1, velocity_steps=config.K))
  return target


def make_meta_loss(config: ActorCriticConfig, networks: Networks, *,
                   continuous: bool = False,
                   loss_fn: Callable | None = None) -> Callable:
  """``meta_loss(w, carry, trajs, last, target_opt_state=None) -> (loss,
  (carry_K, carry_next))`` on rollouts collected beforehand.

  ``trajs`` stacks the ``K`` (MG) or ``K + L - 1`` (BMG) rollouts of the
  inner and target steps; ``last`` is the outer (MG) or final target (BMG)
  rollout. ``carry_next`` is where the learner continues: ``x⁽ᴷ⁾`` for MG,
  ``x⁽ᴷ⁺ᴸ⁻¹⁾`` or ``x⁽ᴷ⁾`` for BMG per ``config.continue_from``.
  ``loss_fn`` overrides the inner loss as in :func:`make_step_fn`. The
  agent itself uses :func:`agents.actor_critic.online.make_online_meta_loss`,
  which collects these rollouts while it steps and equals this function on
  them (tested).
  """
  step_fn = make_step_fn(config, networks, continuous=continuous,
                         loss_fn=loss_fn)
  outer_fn = make_outer_fn(config, networks, continuous=continuous)

  def mg(w, carry, trajs, last, target_opt_state=None):
    del target_opt_state
    loss, carry_k = bm.mg_loss(w, carry, trajs, last, step_fn=step_fn,
                               outer_fn=outer_fn)
    carry_k = jax.lax.stop_gradient(carry_k)
    return loss, (carry_k, carry_k)

  matching = make_matching_fn(config, networks)

  reference = (make_reference_fn(config, networks, continuous=continuous,
                                 loss_fn=loss_fn)
               if config.target_mode == "outer" else None)

  def bootstrap(carry_k, w, rest):
    """``x⁽ᴷ⁺ᴸ⁻¹⁾`` and the summed reference steps along the way."""
    if reference is None:
      return bm.unroll(step_fn, carry_k, w, rest), None

    def body(c, traj):
      return step_fn(c, w, traj), reference(c, traj)
    carry_t, ds = jax.lax.scan(body, carry_k, rest)
    return carry_t, jax.tree.map(lambda d: d.sum(0), ds)

  def bmg(w, carry, trajs, last, target_opt_state=None):
    inner, rest = _split(trajs, config.K)
    carry_k = bm.unroll(step_fn, carry, w, inner)
    carry_t, total = bootstrap(jax.lax.stop_gradient(carry_k),
                               jax.lax.stop_gradient(w), rest)
    target = bmg_target(config, carry_t, w, last, outer_fn=outer_fn,
                        target_opt_state=target_opt_state,
                        start=carry.params)
    if total is not None:
      target = outer_rule_target(target, carry_k.params, carry_t.params,
                                 total)
    loss = matching(target.params, carry_k.params, w, last)
    carry_k = jax.lax.stop_gradient(carry_k)
    after = target.carry if config.continue_from == "K+L-1" else carry_k
    return loss, (carry_k, after)

  return mg if config.method == "mg" else bmg


def apply_meta_gradient(meta: MetaState, loss, grads, target_opt_state, *,
                        meta_optimizer: optax.GradientTransformation):
  """The meta-optimiser's step, skipped (and counted) if not finite.

  Returns:
    ``(meta_state, metrics)`` with ``meta_loss``, ``meta_grad_norm`` and
    ``skipped_meta_updates`` (1.0 if skipped).
  """
  updates, opt_state = meta_optimizer.update(grads, meta.opt_state,
                                             meta.params)
  params = optax.apply_updates(meta.params, updates)
  ok = all_finite((loss, grads, params, opt_state, target_opt_state))
  params, opt_state, target_opt_state = _select(
      ok, (params, opt_state, target_opt_state),
      (meta.params, meta.opt_state, meta.target_opt_state))
  skipped = jnp.logical_not(ok)
  metrics = {"meta_loss": loss, "meta_grad_norm": optax.tree.norm(grads),
             "skipped_meta_updates": skipped.astype(jnp.float32)}
  return MetaState(params, opt_state, _count(meta.skipped, skipped),
                   target_opt_state), metrics


def meta_update(meta: MetaState, carry: LearnerState, trajs: Trajectory,
                last: Trajectory, *, meta_loss: Callable,
                meta_optimizer: optax.GradientTransformation):
  """One meta-step on collected rollouts: gradient of ``meta_loss`` (from
  :func:`make_meta_loss`) then the meta-optimiser.

  If the meta-loss, the meta-gradient or the new meta-parameters or
  meta-optimiser state are not finite, the meta-step is skipped (``meta``
  is kept) and ``meta.skipped`` (if counted) increases by one; the learner
  still continues to ``carry_next`` (its own non-finite steps were skipped
  by the step function).

  Returns:
    ``(meta_state, carry_next, metrics)``; ``metrics["skipped_meta_updates"]``
    is 1.0 if this meta-step was skipped, else 0.0.
  """
  grad_fn = jax.value_and_grad(meta_loss, has_aux=True)
  (loss, (_, after)), grads = grad_fn(meta.params, carry, trajs, last,
                                      meta.target_opt_state)
  meta, metrics = apply_meta_gradient(meta, loss, grads,
                                      meta.target_opt_state,
                                      meta_optimizer=meta_optimizer)
  return meta, after, metrics
