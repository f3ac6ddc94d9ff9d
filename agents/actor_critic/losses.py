"""Actor-critic losses: λ-return critic, policy gradient (A2C or PPO-clip).

For a trajectory replayed by the learner's own parameters from its stored
initial core state, with ``v`` the values on ``obs[0..T]`` and
``γ_t = γ (1 − done_t)``,

.. math::

  G^λ_t = r_t + γ_t [(1 − λ) v_{t+1} + λ G^λ_{t+1}],\\qquad
  A_t = G^λ_t − v_t,

  ℓ = −\\overline{\\log π(a_t|s_t) A_t}
      + c_v\\,\\overline{½ (G^λ_t − v_t)^2}
      − c_e\\,\\overline{H[π(·|s_t)]}.

The targets use stop-gradiented values but keep their dependence on γ and λ,
so meta-gradients reach both (Xu et al., 2018). PPO replaces the first term
by ``−min(ρA, clip(ρ, 1 ± ε)A)`` with ``ρ`` the ratio to the behaviour policy.

References:
  Mnih et al, `Asynchronous Methods for Deep Reinforcement Learning
  <https://arxiv.org/abs/1602.01783>`_, 2016.
  Schulman et al, `Proximal Policy Optimization Algorithms
  <https://arxiv.org/abs/1707.06347>`_, 2017.
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import rlax

from agents.actor_critic.acting import Trajectory
from agents.actor_critic.types import Array, Metrics, Params

__all__ = [
    "entropy",
    "lambda_returns",
    "log_prob",
    "make_a2c_loss",
    "make_outer_loss",
    "replay",
]

LossFn = Callable[[Params, Mapping[str, Array], Trajectory],
                  tuple[Array, Metrics]]


def log_prob(policy_out: Array, actions: Array, *,
             continuous: bool = False) -> Array:
  """``log π(a|s)``: categorical logits ``[..., A]`` or Gaussian ``[..., 2A]``.

  Returns:
    ``[...]``.
  """
  if not continuous:
    logp = jax.nn.log_softmax(policy_out)
    return jnp.take_along_axis(logp, actions[..., None], -1)[..., 0]
  mean, log_std = jnp.split(policy_out, 2, axis=-1)
  z = (actions - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)


def entropy(policy_out: Array, *, continuous: bool = False) -> Array:
  """Entropy of the policy, ``[...]``."""
  if not continuous:
    logp = jax.nn.log_softmax(policy_out)
    return -jnp.sum(jnp.exp(logp) * logp, -1)
  _, log_std = jnp.split(policy_out, 2, axis=-1)
  return jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e), -1)


def lambda_returns(rewards: Array, discounts: Array, values: Array,
                   lambda_: Array) -> Array:
  """``G^λ`` ``[T, B]`` from ``rewards, discounts [T, B]``, ``values [T+1, B]``.

  ``values`` are stop-gradiented; γ (inside ``discounts``) and λ keep their
  gradient. Uses :func:`rlax.lambda_returns` per batch column.
  """
  fn = jax.vmap(
      lambda r, d, v: rlax.lambda_returns(
          r, d, v, lambda_, stop_target_gradients=False),
      in_axes=1, out_axes=1)
  return fn(rewards, discounts, jax.lax.stop_gradient(values[1:]))


def replay(unroll_fn: Callable, params: Params,
           traj: Trajectory) -> tuple[Array, Array]:
  """Replays ``traj.obs [T+1, B]`` from ``traj.initial_state``.

  Returns:
    ``(policy_out [T+1, B, ·], values [T+1, B])``.
  """
  out, values, _ = unroll_fn(params, traj.obs, traj.resets, traj.initial_state)
  return out, values


def _terms(policy_out, values, traj, *, discount, lambda_, continuous):
  """Log-probs, advantages, critic loss and entropy on the T acting steps."""
  discounts = discount * (1.0 - traj.dones.astype(values.dtype))
  returns = lambda_returns(traj.rewards.astype(values.dtype), discounts,
                           values, lambda_)
  advantages = returns - jax.lax.stop_gradient(values[:-1])
  logp = log_prob(policy_out[:-1], traj.actions, continuous=continuous)
  critic = 0.5 * jnp.mean((returns - values[:-1]) ** 2)
  ent = jnp.mean(entropy(policy_out[:-1], continuous=continuous))
  return logp, advantages, critic, ent


def make_a2c_loss(unroll_fn: Callable, *,
                  continuous: bool = False) -> LossFn:
  """The A2C loss ``ℓ(x; w, traj)``, reading γ, λ and the weights from ``w``.

  Args:
    unroll_fn: ``unroll(params, obs, resets, state) -> (out, values, state)``.
    continuous: Gaussian policy outputs instead of logits.

  Returns:
    ``loss_fn(params, hyperparams, traj) -> (loss, metrics)`` where
    ``hyperparams`` has ``discount``, ``lambda_``, ``entropy_weight`` and
    ``value_weight``.
  """

  def loss_fn(params, hyperparams, traj):
    policy_out, values = replay(unroll_fn, params, traj)
    logp, adv, critic, ent = _terms(
        policy_out, values, traj, discount=hyperparams["discount"],
        lambda_=hyperparams["lambda_"], continuous=continuous)
    pg = -jnp.mean(logp * adv)
    loss = (pg + hyperparams["value_weight"] * critic
            - hyperparams["entropy_weight"] * ent)
    metrics = {"loss": loss, "pg_loss": pg, "critic_loss": critic,
               "entropy": ent}
    return loss, metrics

  return loss_fn


def make_outer_loss(unroll_fn: Callable, *, discount: float, lambda_: float,
                    entropy_weight: float = 0.0,
                    continuous: bool = False) -> Callable:
  """The outer objective ``f(x; traj)``: policy gradient (+ entropy).

  It has no meta-parameters: γ, λ and the entropy weight are fixed
  (Luketina et al. 2022, eq. 3).

  Returns:
    ``outer_fn(params, traj) -> loss``.
  """

  def outer_fn(params, traj):
    policy_out, values = replay(unroll_fn, params, traj)
    logp, adv, _, ent = _terms(policy_out, values, traj, discount=discount,
                               lambda_=lambda_, continuous=continuous)
    return -jnp.mean(logp * jax.lax.stop_gradient(adv)) - entropy_weight * ent

  return outer_fn
