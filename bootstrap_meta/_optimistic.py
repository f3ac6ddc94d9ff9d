"""The optimistic meta-update: a hint of the next meta-gradient.

Optimistic online learning adds a prediction (hint) ``m_{t+1}`` of the next
gradient: ``u_t = g_t + β (m_{t+1} − m_t)``, followed by any optax optimiser.
With the default hint ``m_{t+1} = g_t`` this is
``u_t = (1 + β) g_t − β g_{t−1}``. Meta-learning the update vector itself
(``φ(x, w) = w``) with a decaying meta-SGD and hint weight ``β = μ`` gives
exactly Nesterov's accelerated gradient, where the plain meta-update gives
heavy-ball momentum.

This is **not** optax's ``optimistic_gradient_descent``: that is the
optimistic gradient descent-ascent (OGDA) method for min-max games applied
to the learner; this transformation acts on meta-gradients and takes any
hint. (With the default hint the arithmetic of one step coincides with
``optax.scale_by_optimistic_gradient(alpha=1, beta=β)``.)

References:
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
  Rakhlin and Sridharan, `Online Learning with Predictable Sequences
  <https://arxiv.org/abs/1208.3728>`_, 2013.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from bootstrap_meta._types import Array

__all__ = ["OptimisticState", "optimistic_meta_update"]

HintFn = Callable[[optax.Updates, "OptimisticState"], optax.Updates]


class OptimisticState(NamedTuple):
  """State of :func:`optimistic_meta_update`.

  Attributes:
    prev_hint: the hint ``m_t`` given at the previous step.
    count: number of updates so far (int32 scalar).
  """

  prev_hint: optax.Updates
  count: Array


def optimistic_meta_update(
    *, hint_weight: float = 1.0, hint_fn: HintFn | None = None
) -> optax.GradientTransformationExtraArgs:
  """Adds an optimistic correction ``β (m_{t+1} − m_t)`` to meta-gradients.

  Chain it before a meta-optimiser, e.g.
  ``optax.chain(optimistic_meta_update(hint_weight=0.9), optax.adam(1e-3))``.

  Args:
    hint_weight: β, the weight of the hint difference (``β = μ`` with a
      meta-SGD of decay μ reproduces Nesterov's method).
    hint_fn: ``hint_fn(grads, state) -> hint``; default: the current
      meta-gradient (predict that the next one is like this one). A hint can
      also be passed per call as the extra argument ``hint=``, which takes
      precedence (e.g. a bootstrapped meta-gradient).

  Returns:
    An ``optax.GradientTransformationExtraArgs``. At the first step the
    previous hint is taken equal to the current one, so the first update is
    the plain meta-gradient.

  Raises:
    ValueError: if ``hint_weight`` is negative.

  References:
    Flennerhag et al, `Optimistic Meta-Gradients
    <https://arxiv.org/abs/2301.03236>`_, 2023.
  """
  if isinstance(hint_weight, int | float) and not hint_weight >= 0:
    raise ValueError(f"hint_weight must be >= 0, got {hint_weight}.")

  def init_fn(params: Any) -> OptimisticState:
    return OptimisticState(jax.tree.map(jnp.zeros_like, params),
                           jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None, *, hint=None, **extra_args):
    del params, extra_args
    if hint is None:
      hint = updates if hint_fn is None else hint_fn(updates, state)
    first = state.count == 0
    prev = jax.tree.map(lambda h, p: jnp.where(first, h, p), hint,
                        state.prev_hint)
    new = jax.tree.map(lambda g, h, p: g + hint_weight * (h - p), updates,
                       hint, prev)
    return new, OptimisticState(hint, state.count + 1)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
