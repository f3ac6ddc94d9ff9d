"""Learning: Peng's Q(λ) inner step and the update-free (K = 0) BMG ε step.

**Inner step.** One Adam step on the Peng's Q(λ) loss of a rollout,
``½ mean_t (G_t^λ − q(s_t, a_t))²`` with
``G_t^λ = r_t + γ_t [(1 − λ) max_a q(s_{t+1}, a) + λ G_{t+1}^λ]`` and
``G_{T−1}^λ = r_T + γ max_a q(s_T, a)`` (:func:`rlax.q_lambda` with a
constant λ; its targets are stop-gradiented). There is no target network:
the bootstrap values are the current network's.

**Meta step (BMG, K = 0).** Over a block of ``L`` rollouts the learner takes
``L − 1`` ordinary updates (the target's bootstrapped steps, taken with
``sg(ε)``: ε only shapes the behaviour data); the final target step is one
more step of the inner optimiser on the last rollout
(:func:`bootstrap_meta.bootstrap_target` with no replayed steps), which is
also the learner's ``L``-th update. The meta-loss is
:func:`bootstrap_meta.epsilon_greedy_kl` between the greedy policy of the
target ``q_x̃`` and the ε-greedy policy of ``q_x`` at the block's start
(``x⁽⁰⁾``, ``K = 0``), on the last rollout's states, with the ε that acted
there. So every rollout trains the learner exactly once and no update is
computed twice; this equals :func:`bootstrap_meta.bmg_loss` with ``K = 0``
and the ``L − 1`` updates replayed (a test checks it).

References:
  Peng & Williams, `Incremental Multi-Step Q-Learning
  <https://doi.org/10.1007/BF00114731>`_, 1996.
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
import rlax

import bootstrap_meta as bm
from agents.q_lambda.acting import Trajectory
from agents.q_lambda.config import CONTEXT_STATS, QLambdaConfig

__all__ = ["LearnerState", "MetaState", "epsilon_fn", "init_meta_params",
           "inner_optimizer", "make_step_fn", "meta_loss", "meta_step",
           "q_lambda_loss"]

Array = jax.Array
META_ADAM_EPS = 1e-4  # Meta-Adam epsilon of the papers (Luketina, Tab. 3-4).


class LearnerState(NamedTuple):
  """The learner's carry.

  Attributes:
    params: Q-network parameters.
    opt_state: inner Adam state.
    updates: learner updates taken so far (int32 scalar).
  """

  params: Any
  opt_state: optax.OptState
  updates: Array


class MetaState(NamedTuple):
  """Meta-parameters of ε and the meta-optimiser state.

  Attributes:
    params: ``None`` (fixed ε), ``{"logit_epsilon": []}`` or
      ``{"mlp": [(w, b), ...]}`` (context).
    opt_state: meta-optimiser state.
  """

  params: Any
  opt_state: optax.OptState


def inner_optimizer(config: QLambdaConfig) -> bm.HyperOptimizer:
  """Adam with the paper's ε = 1e-4 and nothing learned."""
  return bm.hyper_optimizer(
      optax.adam, learned=(),
      fixed={"learning_rate": config.learning_rate, "eps": config.adam_eps})


def q_lambda_loss(params, batch: Trajectory, *, q_apply: Callable,
                  discount: float, lambda_: float) -> Array:
  """``½ mean (G^λ − q(s, a))²`` over a rollout ``[T, B]`` (Peng's Q(λ))."""
  q = q_apply(params, batch.obs)  # [T + 1, B, A]
  discounts = discount * (1.0 - batch.dones.astype(q.dtype))
  td = jax.vmap(rlax.q_lambda, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
      q[:-1], batch.actions, batch.rewards.astype(q.dtype), discounts, q[1:],
      jnp.asarray(lambda_, q.dtype))
  return 0.5 * jnp.mean(jnp.square(td))


def make_step_fn(config: QLambdaConfig, q_apply: Callable):
  """``(loss_fn, step_fn)``: the Q(λ) loss of a batch, and the learner update
  ``step_fn(learner, meta_params, batch) -> learner`` (ε does not enter)."""
  loss = functools.partial(q_lambda_loss, q_apply=q_apply,
                           discount=config.discount, lambda_=config.lambda_)
  optimizer = inner_optimizer(config)

  def step_fn(learner: LearnerState, meta_params, batch) -> LearnerState:
    del meta_params
    state = bm.inner_step(bm.LearnerState(learner.params, learner.opt_state),
                          {}, batch, optimizer=optimizer,
                          loss_fn=lambda p, hp, b: loss(p, b))
    return LearnerState(state.params, state.opt_state, learner.updates + 1)

  return loss, step_fn


def init_meta_params(key: Array, config: QLambdaConfig):
  """ε's meta-parameters, starting exactly at ``config.epsilon``.

  The context MLP (2 × ``context_hidden``, ReLU) has a zero output layer with
  bias ``logit(ε₀)`` (:func:`bootstrap_meta.mlp_init`): it outputs ε₀ for
  every context, as the paper's pre-training to 0.5 aims to.
  """
  if config.method == "fixed":
    return None
  raw = jax.scipy.special.logit(jnp.asarray(config.epsilon, jnp.float32))
  if config.context == "none":
    return {"logit_epsilon": raw}
  dim = config.context_history * CONTEXT_STATS[config.context]
  hidden = (config.context_hidden,) * 2
  return {"mlp": bm.mlp_init(key, in_dim=dim, hidden=hidden,
                             init_output=raw)}


def epsilon_fn(config: QLambdaConfig) -> Callable:
  """``eps(meta_params, features [..., C] | None) -> ε [...]``.

  Fixed: the constant; no context: ``sigmoid(logit)`` broadcast to the
  features' or a single stream's shape; context: ``sigmoid(g_ω(sg(c)))``.
  """

  def eps(meta_params, features, shape=(config.num_envs,)):
    if config.method == "fixed":
      return jnp.full(shape, config.epsilon, jnp.float32)
    if config.context == "none":
      return jnp.broadcast_to(
          jax.nn.sigmoid(meta_params["logit_epsilon"]), shape)
    features = jax.lax.stop_gradient(features)
    flat = features.reshape(-1, features.shape[-1])
    # One context at a time: mlp_apply's bias add would promote ranks.
    raw = jax.vmap(bm.mlp_apply, in_axes=(None, 0))(meta_params["mlp"], flat)
    return jax.nn.sigmoid(raw[:, 0]).reshape(features.shape[:-1])

  return eps


def meta_loss(meta_params, target_params, anchor_params,
              batch: Trajectory, *, q_apply: Callable,
              eps: Callable) -> Array:
  """``KL(greedy(q_x̃) ‖ ε-greedy(q_{x⁽⁰⁾}))`` on the batch's states.

  Args:
    meta_params: ``w`` or ``ω`` (the argument to differentiate).
    target_params: ``x̃`` (stop-gradiented inside the matching).
    anchor_params: ``x⁽⁰⁾``, the parameters at the block's start.
    batch: the target rollout; its ``contexts`` give ε per state.
    q_apply: the Q-network.
    eps: from :func:`epsilon_fn`.
  """
  matching = bm.epsilon_greedy_kl(
      lambda p, b: q_apply(p, b.obs[:-1]),
      lambda w: eps(w, batch.contexts, batch.actions.shape))
  return matching(target_params, anchor_params, meta_params, batch)


def meta_step(meta: MetaState, learner: LearnerState, anchor_params,
              batch: Trajectory, *, config: QLambdaConfig, q_apply: Callable,
              meta_optimizer: optax.GradientTransformation):
  """The block's final target step (= learner update) and the ε meta-step.

  Args:
    meta: meta-parameters and meta-optimiser state.
    learner: the learner after the block's ``L − 1`` updates.
    anchor_params: the parameters at the block's start (``x⁽⁰⁾``).
    batch: the block's last rollout (the target batch).
    config: the agent config.
    q_apply: the Q-network.
    meta_optimizer: the meta-optimiser.

  Returns:
    ``(meta, learner, metrics)``: the learner after its ``L``-th update
    (the target ``x̃`` and its optimiser state).
  """
  loss_fn, step_fn = make_step_fn(config, q_apply)
  target = bm.bootstrap_target(
      learner, meta.params, None, batch, step_fn=step_fn, outer_fn=loss_fn,
      target_optimizer=inner_optimizer(config).make({}),
      target_opt_state=learner.opt_state, length=0)
  learner = LearnerState(target.params, target.target_opt_state,
                         learner.updates + 1)
  loss, grads = jax.value_and_grad(meta_loss)(
      meta.params, target.params, anchor_params, batch, q_apply=q_apply,
      eps=epsilon_fn(config))
  updates, opt_state = meta_optimizer.update(grads, meta.opt_state,
                                             meta.params)
  meta = MetaState(optax.apply_updates(meta.params, updates), opt_state)
  q_target = q_apply(target.params, batch.obs[:-1])
  q_anchor = q_apply(anchor_params, batch.obs[:-1])
  agree = jnp.argmax(q_target, -1) == jnp.argmax(q_anchor, -1)
  metrics = {"meta/loss": loss,
             "meta/agree": jnp.mean(agree.astype(jnp.float32)),
             "meta/grad_norm": optax.tree.norm(grads)}
  if config.context == "none":
    metrics["meta/grad"] = grads["logit_epsilon"]
  return meta, learner, metrics
