"""Matching functions ``μ(x̃, x)`` for bootstrapped meta-gradients.

Each factory returns ``μ(target_params, params, meta_params, batch) -> loss``.
The target comes first and is stop-gradiented again here, so a user who calls
a matching function outside :func:`~bootstrap_meta.bmg_loss` gets the same
gradients.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from bootstrap_meta._objectives import MatchingFn
from bootstrap_meta._types import Array, Batch, Params

__all__ = [
    "epsilon_greedy_kl",
    "policy_kl",
    "policy_kl_plus_value",
    "squared_euclidean",
]


def _check_same_shapes(target, params) -> None:
  """The target and the parameters must be alike, else ValueError."""
  if jax.tree.structure(target) != jax.tree.structure(params):
    raise ValueError("Matching: target and params differ in structure: "
                     f"{jax.tree.structure(target)} vs "
                     f"{jax.tree.structure(params)}.")
  for t, p in zip(jax.tree.leaves(target), jax.tree.leaves(params),
                  strict=True):
    if jnp.shape(t) != jnp.shape(p):
      raise ValueError(f"Matching: target leaf of shape {jnp.shape(t)} vs "
                       f"params leaf of shape {jnp.shape(p)}.")


def squared_euclidean() -> MatchingFn:
  """``μ(x̃, x) = ½‖x̃ − x‖²`` summed over all parameter leaves.

  With ``L = 1`` and a plain gradient target step of size α, BMG with this
  matching equals α times the MG meta-gradient.
  """

  def matching(target, params, meta_params, batch):
    del meta_params, batch
    _check_same_shapes(target, params)
    target = jax.lax.stop_gradient(target)
    sq = jax.tree.map(lambda t, p: jnp.sum((t - p) ** 2), target, params)
    return 0.5 * sum(jax.tree_util.tree_leaves(sq))

  return matching


def _kl_from_logits(target_logits: Array, logits: Array) -> Array:
  """Mean over leading axes of KL(softmax(target) ‖ softmax(logits))."""
  target_logp = jax.nn.log_softmax(jax.lax.stop_gradient(target_logits))
  logp = jax.nn.log_softmax(logits)
  kl = jnp.sum(jnp.exp(target_logp) * (target_logp - logp), axis=-1)
  return jnp.mean(kl)


def policy_kl(logits_fn: Callable[[Params, Batch], Array]) -> MatchingFn:
  """``μ = E_s KL(π_x̃(·|s) ‖ π_x(·|s))``, target first ("forward" KL).

  Args:
    logits_fn: ``logits_fn(params, batch) -> [..., A]`` action logits on the
      batch's states; for recurrent policies it replays the batch's
      observation sequence from its stored initial state, so that target and
      current parameters are compared on the same sequence.

  Returns:
    A matching function averaging the KL over all leading axes.
  """

  def matching(target, params, meta_params, batch):
    del meta_params
    return _kl_from_logits(logits_fn(target, batch), logits_fn(params, batch))

  return matching


def policy_kl_plus_value(
    apply_fn: Callable[[Params, Batch], tuple[Array, Array]],
    *,
    value_weight: float = 1.0,
) -> MatchingFn:
  """Policy KL plus ``value_weight · E_s (v_x̃(s) − v_x(s))²``.

  Args:
    apply_fn: ``apply_fn(params, batch) -> (logits [..., A], values [...])``.
    value_weight: weight of the value-matching term.

  Returns:
    A matching function.
  """

  def matching(target, params, meta_params, batch):
    del meta_params
    target_logits, target_values = apply_fn(target, batch)
    logits, values = apply_fn(params, batch)
    value_sq = jnp.mean((jax.lax.stop_gradient(target_values) - values) ** 2)
    return _kl_from_logits(target_logits, logits) + value_weight * value_sq

  return matching


def epsilon_greedy_kl(
    q_fn: Callable[[Params, Batch], Array],
    epsilon_fn: Callable[..., Array],
) -> MatchingFn:
  """``KL(greedy(q_x̃) ‖ ε-greedy(q_x))`` for update-free (``K = 0``) BMG.

  With a one-hot target at ``ã* = argmax q_x̃(s, ·)`` this is
  ``−log π_{x,ε}(ã*|s)``, where ``π_{x,ε}`` puts ``1 − ε + ε/|A|`` on
  ``argmax q_x`` and ``ε/|A|`` elsewhere. It depends on ε directly, so no
  update needs to be differentiated: the meta-gradient lowers ε where the
  target's and the current greedy actions agree and raises it where they
  disagree.

  Args:
    q_fn: ``q_fn(params, batch) -> [..., A]`` action values.
    epsilon_fn: ``epsilon_fn(meta_params) -> ε`` (scalar or ``[...]``).

  Returns:
    A matching function averaging over all leading axes.
  """

  def matching(target, params, meta_params, batch):
    q_target = jax.lax.stop_gradient(q_fn(target, batch))
    q = jax.lax.stop_gradient(q_fn(params, batch))
    num_actions = q.shape[-1]
    agree = jnp.argmax(q_target, -1) == jnp.argmax(q, -1)
    eps = epsilon_fn(meta_params)
    prob = jnp.where(agree, 1.0 - eps + eps / num_actions, eps / num_actions)
    return -jnp.mean(jnp.log(prob))

  return matching
