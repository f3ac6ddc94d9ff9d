"""Recurrent PPO: several clipped passes over each rollout, per environment.

One iteration acts for ``T`` steps in ``B`` environments, then

1. computes generalised advantages once, from the *behaviour* values (the
   critic's outputs at acting time), with ``γ_t = γ (1 − done_t)``:

   .. math::

     δ_t = r_t + γ_t v_{t+1} − v_t,\\qquad
     Â_t = δ_t + γ_t λ Â_{t+1},\\qquad G_t = Â_t + v_t;

2. runs ``ppo_epochs`` passes; each pass shuffles the environments and
   splits them into ``num_minibatches`` disjoint groups. A minibatch keeps
   whole ``T``-step sequences and the core state stored at the start of the
   rollout, so the recurrent policy is replayed from there (the same stale
   start state in every epoch), and takes one gradient step on

   .. math::

     ℓ = −\\overline{\\min(ρ_t Â_t,\\ \\mathrm{clip}(ρ_t, 1 ± ε) Â_t)}
         + c_v\\,\\overline{½ \\max\\big((v_t − G_t)^2,
           (v^b_t + \\mathrm{clip}(v_t − v^b_t, ±ε) − G_t)^2\\big)}
         − c_e\\,\\overline{H[π(·|s_t)]},

   where ``ρ_t = π(a_t|s_t) / π_b(a_t|s_t)`` is the ratio to the behaviour
   policy, ``v^b`` the behaviour value and ``Â`` optionally standardised
   per minibatch (the value clip is optional too).

With one epoch and one minibatch the ratio is 1 at the only step, and the
gradient is the one-step (A2C-style) gradient on the same advantages.

The losses are pure functions of ``(params, hyperparams, batch)``, as the
agent's other inner losses, so that meta-gradients flow through them:
:mod:`agents.actor_critic.meta_ppo` differentiates through ``K`` minibatch
steps (``method="mg"``).

References:
  Schulman et al, `Proximal Policy Optimization Algorithms
  <https://arxiv.org/abs/1707.06347>`_, 2017.
  Schulman et al, `High-Dimensional Continuous Control Using Generalized
  Advantage Estimation <https://arxiv.org/abs/1506.02438>`_, 2016.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from agents.actor_critic import learning, losses
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.learning import LearnerState
from agents.actor_critic.networks import Networks
from agents.actor_critic.types import (
  Array,
  CoreState,
  Metrics,
  Params,
  PRNGKey,
)

__all__ = [
    "PPOBatch",
    "clipped_surrogate",
    "clipped_value_loss",
    "gae",
    "make_batch",
    "finite_rollout",
    "make_minibatch_loss",
    "make_minibatch_step",
    "make_ppo_update",
    "minibatch_order",
    "normalize",
    "ppo_optimizer",
    "select_envs",
]

#: Added to the standard deviation when advantages are standardised.
NORMALIZE_EPS = 1e-8


class PPOBatch(NamedTuple):
  """The rollout as PPO trains on it, environments on axis 1 (0 for the
  core state).

  Attributes:
    initial_state: core state before ``obs[0]`` (leaves ``[B, ...]``).
    obs: ``[T, B, D]`` acting observations (no bootstrap observation).
    resets: ``[T, B]`` bool, ``obs[t]`` starts an episode.
    actions: ``[T, B]`` (or ``[T, B, A]`` continuous).
    behaviour_log_probs: ``[T, B]`` ``log π_b(a_t|s_t)`` at acting time.
    behaviour_values: ``[T, B]`` ``v^b_t`` at acting time.
    advantages: ``[T, B]`` GAE ``Â_t`` from the behaviour values.
    targets: ``[T, B]`` value targets ``G_t = Â_t + v^b_t``.
  """

  initial_state: CoreState
  obs: Array
  resets: Array
  actions: Array
  behaviour_log_probs: Array
  behaviour_values: Array
  advantages: Array
  targets: Array


def gae(rewards: Array, discounts: Array, values: Array,
        lambda_: jax.typing.ArrayLike) -> Array:
  """Generalised advantages ``Â`` ``[T, B]``.

  Args:
    rewards: ``r_t`` ``[T, B]``.
    discounts: ``γ_t = γ (1 − done_t)`` ``[T, B]``.
    values: ``v_t`` for ``t`` in ``[0, T]``, ``[T + 1, B]`` (the last one
      bootstraps).
    lambda_: λ (scalar).

  Returns:
    ``Â_t = Σ_k (Π_{j<k} γ_{t+j} λ) δ_{t+k}`` per column, by
    :func:`rlax.truncated_generalized_advantage_estimation` (no
    stop-gradient inside: the caller passes behaviour values).

  References:
    Schulman et al, `High-Dimensional Continuous Control Using Generalized
    Advantage Estimation <https://arxiv.org/abs/1506.02438>`_, 2016.
  """
  fn = jax.vmap(
      lambda r, d, v: rlax.truncated_generalized_advantage_estimation(
          r, d, lambda_, v), in_axes=1, out_axes=1)
  return fn(rewards, discounts, values)


def normalize(advantages: Array, *, eps: float = NORMALIZE_EPS) -> Array:
  """``(Â − mean Â) / (std Â + eps)`` over all elements.

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017 (the baselines code).
  """
  return (advantages - advantages.mean()) / (advantages.std() + eps)


def clipped_surrogate(log_probs: Array, behaviour_log_probs: Array,
                      advantages: Array, *,
                      clip: jax.typing.ArrayLike,
                      stop_target_gradients: bool = True
                      ) -> tuple[Array, Metrics]:
  """PPO's clipped policy loss ``−mean min(ρÂ, clip(ρ, 1 ± ε)Â)``.

  Args:
    log_probs: ``log π(a_t|s_t)`` of the parameters being trained.
    behaviour_log_probs: ``log π_b(a_t|s_t)`` at acting time (no gradient).
    advantages: ``Â_t`` (no gradient), same shape.
    clip: ε.
    stop_target_gradients: stop-gradient ``advantages``; ``False`` lets a
      meta-gradient reach λ and γ through them (they must then not depend
      on ``log_probs``' parameters, as :func:`make_batch`'s do not).

  Returns:
    ``(loss, metrics)``: ``clip_fraction``, the fraction of steps whose
    ratio lies outside ``[1 − ε, 1 + ε]``, and ``approx_kl``, the mean of
    ``(ρ − 1) − log ρ`` (an estimate of ``KL(π_b ‖ π)``).

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017, eq. 7.
  """
  behaviour_log_probs = jax.lax.stop_gradient(behaviour_log_probs)
  if stop_target_gradients:
    advantages = jax.lax.stop_gradient(advantages)
  log_ratio = log_probs - behaviour_log_probs
  ratio = jnp.exp(log_ratio)
  clipped = jnp.clip(ratio, 1.0 - clip, 1.0 + clip)
  loss = -jnp.mean(jnp.minimum(ratio * advantages, clipped * advantages))
  outside = jnp.abs(ratio - 1.0) > clip
  metrics = {"clip_fraction": jnp.mean(outside.astype(jnp.float32)),
             "approx_kl": jnp.mean((ratio - 1.0) - log_ratio)}
  return loss, jax.lax.stop_gradient(metrics)


def clipped_value_loss(values: Array, behaviour_values: Array,
                       targets: Array, *,
                       clip: jax.typing.ArrayLike | None,
                       stop_target_gradients: bool = True) -> Array:
  """``mean ½ max((v − G)², (v^b + clip(v − v^b, ±ε) − G)²)``.

  Args:
    values: ``v_t`` of the parameters being trained.
    behaviour_values: ``v^b_t`` at acting time (no gradient).
    targets: ``G_t`` (no gradient).
    clip: ε; ``None`` for the plain ``mean ½ (v − G)²``.
    stop_target_gradients: stop-gradient ``targets`` (see
      :func:`clipped_surrogate`).

  Returns:
    The scalar loss.

  References:
    Andrychowicz et al, `What Matters In On-Policy Reinforcement Learning?
    <https://arxiv.org/abs/2006.05990>`_, 2020 (value clipping, §3.2).
  """
  if stop_target_gradients:
    targets = jax.lax.stop_gradient(targets)
  loss = (values - targets) ** 2
  if clip is not None:
    behaviour_values = jax.lax.stop_gradient(behaviour_values)
    clipped = behaviour_values + jnp.clip(values - behaviour_values, -clip,
                                          clip)
    loss = jnp.maximum(loss, (clipped - targets) ** 2)
  return 0.5 * jnp.mean(loss)


def make_batch(traj: Trajectory, hyperparams: Mapping[str, Array], *,
               continuous: bool = False) -> PPOBatch:
  """The rollout with GAE from its behaviour values (computed once).

  Args:
    traj: a rollout of :func:`agents.actor_critic.acting.rollout`.
    hyperparams: reads ``discount`` and ``lambda_``.
    continuous: Gaussian policy outputs.

  Returns:
    A :class:`PPOBatch` (advantages and targets stop-gradiented w.r.t. the
    values, but not w.r.t. γ and λ).

  References:
    Schulman et al, `High-Dimensional Continuous Control Using Generalized
    Advantage Estimation <https://arxiv.org/abs/1506.02438>`_, 2016.
  """
  values = jax.lax.stop_gradient(traj.values)
  discounts = hyperparams["discount"] * (
      1.0 - traj.dones.astype(values.dtype))
  advantages = gae(traj.rewards.astype(values.dtype), discounts, values,
                   hyperparams["lambda_"])
  behaviour_log_probs = losses.log_prob(traj.logits, traj.actions,
                                        continuous=continuous)
  return PPOBatch(
      initial_state=traj.initial_state, obs=traj.obs[:-1],
      resets=traj.resets[:-1], actions=traj.actions,
      behaviour_log_probs=jax.lax.stop_gradient(behaviour_log_probs),
      behaviour_values=values[:-1], advantages=advantages,
      targets=advantages + values[:-1])


def select_envs(batch: PPOBatch, index: Array) -> PPOBatch:
  """The environments ``index`` ``[b]`` of ``batch``: whole sequences and
  their stored initial core states.

  References:
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
  """
  take = lambda axis: lambda x: jnp.take(x, index, axis=axis)  # noqa: E731
  state = jax.tree.map(take(0), batch.initial_state)
  rest = jax.tree.map(take(1), batch._replace(initial_state=None))
  return rest._replace(initial_state=state)


def make_minibatch_loss(unroll_fn: Callable, *, clip: float,
                        clip_value: bool = True,
                        normalize_advantages: bool = True,
                        continuous: bool = False,
                        stop_target_gradients: bool = True) -> Callable:
  """PPO's loss on one minibatch, replayed from its stored core state.

  Args:
    unroll_fn: ``unroll(params, obs, resets, state) -> (out, values,
      state)`` (:attr:`agents.actor_critic.networks.Networks.unroll`).
    clip: ε of the ratio clip and (with ``clip_value``) of the value clip.
    clip_value: clip the value prediction (:func:`clipped_value_loss`).
    normalize_advantages: standardise ``Â`` over the minibatch.
    continuous: Gaussian policy outputs.
    stop_target_gradients: stop-gradient the batch's advantages and value
      targets (``False``: a meta-gradient reaches the λ and γ they were
      computed with; the parameters' gradient is the same, since they are
      functions of behaviour values only).

  Returns:
    ``loss_fn(params, hyperparams, batch) -> (loss, metrics)``; reads
    ``entropy_weight`` and ``value_weight`` from ``hyperparams``; metrics
    ``loss``, ``pg_loss``, ``value_loss``, ``entropy``, ``clip_fraction``
    and ``approx_kl``.

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
  """
  if not clip > 0:
    raise ValueError(f"clip must be > 0, got {clip}.")

  def loss_fn(params: Params, hyperparams: Mapping[str, Array],
              batch: PPOBatch) -> tuple[Array, Metrics]:
    out, values, _ = unroll_fn(params, batch.obs, batch.resets,
                               batch.initial_state)
    log_probs = losses.log_prob(out, batch.actions, continuous=continuous)
    advantages = batch.advantages
    if normalize_advantages:
      advantages = normalize(advantages)
    pg, metrics = clipped_surrogate(
        log_probs, batch.behaviour_log_probs, advantages, clip=clip,
        stop_target_gradients=stop_target_gradients)
    value = clipped_value_loss(
        values, batch.behaviour_values, batch.targets,
        clip=clip if clip_value else None,
        stop_target_gradients=stop_target_gradients)
    ent = jnp.mean(losses.entropy(out, continuous=continuous))
    loss = (pg + hyperparams["value_weight"] * value
            - hyperparams["entropy_weight"] * ent)
    return loss, {"loss": loss, "pg_loss": pg, "value_loss": value,
                  "entropy": ent, **metrics}

  return loss_fn


def ppo_optimizer(config: ActorCriticConfig, *,
                  eps_root: float = 0.0) -> optax.GradientTransformation:
  """The inner rule of PPO: clipping, then Adam (``eps = adam_eps``) or SGD.

  With ``anneal_lr`` the step size is ``lr · (1 − i / num_updates)`` in
  iteration ``i`` (all ``ppo_epochs × num_minibatches`` steps of an
  iteration share it), as popjaxrl's linear schedule. Without it, the state
  has the structure of :func:`agents.actor_critic.learning.inner_optimizer`.
  ``eps_root`` is Adam's (a meta-gradient through Adam needs it > 0 where a
  gradient entry is exactly zero; plain PPO: 0).

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
  """
  steps = config.ppo_epochs * config.num_minibatches

  def annealed(count):
    done = (count // steps).astype(jnp.float32)
    return config.learning_rate * (1.0 - done / config.num_updates)

  return learning.inner_optimizer(
      annealed if config.anneal_lr else config.learning_rate,
      kind=config.optimizer, max_norm=config.max_grad_norm,
      eps=config.adam_eps, eps_root=eps_root)


def _select(pred, new, old):
  """Leaf-wise ``where(pred, new, old)``."""
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _mean_metrics(metrics: Metrics) -> Metrics:
  """``ppo/<name>``: means over the epochs' minibatches, and the clip
  fraction of the last epoch."""
  out = {f"ppo/{k}": jnp.mean(v) for k, v in metrics.items()}
  out["ppo/clip_fraction_last_epoch"] = jnp.mean(metrics["clip_fraction"][-1])
  return out


def minibatch_order(key: PRNGKey, *, num_envs: int, num_minibatches: int,
                    epochs: int) -> Array:
  """The environments of every minibatch step of one update, in order.

  Args:
    key: split into one key per epoch; each epoch is a permutation of the
      environments cut into ``num_minibatches`` equal groups.
    num_envs: B.
    num_minibatches: M (divides B).
    epochs: E.

  Returns:
    ``[E × M, B / M]`` int indices: row ``e M + j`` is epoch ``e``'s
    ``j``-th minibatch.

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
  """
  keys = jax.random.split(key, epochs)
  order = jax.vmap(lambda k: jax.random.permutation(k, num_envs))(keys)
  return order.reshape(epochs * num_minibatches, num_envs // num_minibatches)


def make_minibatch_step(config: ActorCriticConfig, networks: Networks, *,
                        optimizer: optax.GradientTransformation,
                        continuous: bool = False,
                        stop_target_gradients: bool = True) -> Callable:
  """One PPO minibatch step with the hyperparameters as an argument.

  Args:
    config: reads the loss settings (``ppo_clip``, ``clip_value``,
      ``normalize_advantages``).
    networks: the agent's networks.
    optimizer: the inner rule (:func:`ppo_optimizer`).
    continuous: Gaussian policy.
    stop_target_gradients: see :func:`make_minibatch_loss`.

  Returns:
    ``step(carry, hyperparams, batch, finite) -> (carry, metrics)``: the
    gradient of :func:`make_minibatch_loss` on ``batch`` (one minibatch),
    then ``optimizer``. A step whose gradient, parameters or optimiser
    state is not finite, or with ``finite`` false (a non-finite rollout),
    keeps the carry and adds one to ``carry.skipped`` (if counted). It is
    differentiable w.r.t. ``hyperparams`` (the meta-gradient of
    :mod:`agents.actor_critic.meta_ppo`).

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
  """
  loss_fn = make_minibatch_loss(
      networks.unroll, clip=config.ppo_clip, clip_value=config.clip_value,
      normalize_advantages=config.normalize_advantages,
      continuous=continuous, stop_target_gradients=stop_target_gradients)
  grad_fn = jax.grad(loss_fn, has_aux=True)

  def step(carry: LearnerState, hyperparams: Mapping[str, Array],
           batch: PPOBatch, finite: Array) -> tuple[LearnerState, Metrics]:
    grads, metrics = grad_fn(carry.params, hyperparams, batch)
    updates, opt_state = optimizer.update(grads, carry.opt_state,
                                          carry.params)
    params = optax.apply_updates(carry.params, updates)
    ok = jnp.logical_and(finite,
                         learning.all_finite((grads, params, opt_state)))
    params, opt_state = _select(ok, (params, opt_state),
                                (carry.params, carry.opt_state))
    skipped = carry.skipped
    if skipped is not None:
      skipped = skipped + jnp.logical_not(ok).astype(skipped.dtype)
    metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
    return carry._replace(params=params, opt_state=opt_state,
                          skipped=skipped), metrics

  return step


def finite_rollout(traj: Trajectory) -> tuple[Trajectory, Array]:
  """``(traj, finite)``: a rollout with a non-finite entry (episode returns
  aside, which feed metrics only) is replaced by zeros (the double
  ``where``: its skipped steps stay finite in the backward pass too).

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
  """
  finite = learning.all_finite(traj._replace(episode_returns=None))
  return _select(finite, traj, jax.tree.map(jnp.zeros_like, traj)), finite


def make_ppo_update(config: ActorCriticConfig, networks: Networks, *,
                    continuous: bool = False,
                    eps_root: float = 0.0) -> Callable:
  """The learner's PPO update of one rollout.

  Non-finite steps are skipped as in
  :func:`agents.actor_critic.learning.make_step_fn`: a rollout with a
  non-finite entry is zeroed before use (:func:`finite_rollout`) and every
  minibatch step whose gradient, parameters or optimiser state is not
  finite keeps the carry; ``carry.skipped`` counts the skipped minibatch
  steps.

  Args:
    config: the agent (``loss="ppo"``, ``method="none"``).
    networks: its networks.
    continuous: Gaussian policy.
    eps_root: Adam's ``eps_root`` (:func:`ppo_optimizer`).

  Returns:
    ``update(carry, traj, key) -> (carry, metrics)`` where ``carry`` is a
    :class:`agents.actor_critic.learning.LearnerState` whose optimiser
    state comes from :func:`ppo_optimizer`, ``key`` shuffles the
    environments of each epoch (:func:`minibatch_order`), and ``metrics``
    holds ``ppo/*`` means over the ``ppo_epochs × num_minibatches`` steps.

  References:
    Schulman et al, `Proximal Policy Optimization Algorithms
    <https://arxiv.org/abs/1707.06347>`_, 2017.
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
  """
  step = make_minibatch_step(
      config, networks, optimizer=ppo_optimizer(config, eps_root=eps_root),
      continuous=continuous)
  hyperparams = {n: getattr(config, n) for n in (
      "discount", "lambda_", "entropy_weight", "value_weight")}
  e, m = config.ppo_epochs, config.num_minibatches

  def update(carry: LearnerState, traj: Trajectory,
             key: PRNGKey) -> tuple[LearnerState, Metrics]:
    traj, finite = finite_rollout(traj)
    batch = make_batch(traj, hyperparams, continuous=continuous)

    def body(c, index):
      return step(c, hyperparams, select_envs(batch, index), finite)

    order = minibatch_order(key, num_envs=config.num_envs,
                            num_minibatches=m, epochs=e)
    carry, metrics = jax.lax.scan(body, carry, order)
    metrics = jax.tree.map(lambda x: x.reshape(e, m), metrics)
    return carry, _mean_metrics(metrics)

  return update
