"""Meta-objectives: unrolled (MG) and bootstrapped (BMG) meta-losses.

* **MG**: the outer objective after ``K`` differentiable steps,
  ``f(x⁽ᴷ⁾(w))``.
* **BMG**: a target ``x̃`` bootstrapped from ``sg(x⁽ᴷ⁾)`` by ``L − 1`` more
  steps of the meta-learned rule with ``sg(w)`` and one step on the outer
  objective (plain gradient step of size α, or a step of a separate,
  possibly preconditioning, target optimiser), then the matching loss
  ``μ(sg(x̃), x⁽ᴷ⁾(w))``.

Every ``stop_gradient`` of the bootstrap lives in :func:`bootstrap_target`:
nothing computed inside the target carries gradient to ``w``.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from bootstrap_meta._inner import StepFn, unroll
from bootstrap_meta._types import Array, Batch, MetaParams, Params

__all__ = [
    "BootstrapTarget",
    "BMGAux",
    "MatchingFn",
    "average_velocity",
    "OuterFn",
    "bmg_loss",
    "bootstrap_target",
    "mg_loss",
]

OuterFn = Callable[[Params, Batch], Array]
MatchingFn = Callable[[Params, Params, MetaParams, Batch], Array]


def mg_loss(
    meta_params: MetaParams,
    carry: Any,
    batches: Batch,
    outer_batch: Batch,
    *,
    step_fn: StepFn,
    outer_fn: OuterFn,
    remat: bool = False,
    length: int | None = None,
) -> tuple[Array, Any]:
  """The MG meta-loss ``f(x⁽ᴷ⁾(w); outer_batch)``.

  Args:
    meta_params: ``w`` (or ``ω``), the argument to differentiate.
    carry: the learner's carry at the start (a constant; it must have a
      ``params`` attribute, e.g. :class:`~bootstrap_meta.LearnerState`).
    batches: the ``K`` inner batches, stacked on a leading axis.
    outer_batch: the data for the outer objective.
    step_fn: ``step_fn(carry, meta_params, batch) -> carry``.
    outer_fn: ``f(params, batch)``, with no meta-parameters.
    remat: rematerialise each inner step (see :func:`unroll`).
    length: number of steps when ``batches`` is ``None``.

  Returns:
    ``(loss, carry_K)``, for ``jax.value_and_grad(..., has_aux=True)``.

  References:
    Xu et al, `Meta-Gradient Reinforcement Learning
    <https://arxiv.org/abs/1805.09801>`_, 2018.
  """
  carry_k = unroll(step_fn, carry, meta_params, batches, remat=remat,
                   length=length)
  return outer_fn(carry_k.params, outer_batch), carry_k


class BootstrapTarget(NamedTuple):
  """The bootstrapped target and what the learner may continue from.

  Attributes:
    params: the target ``x̃`` (stop-gradiented).
    carry: the learner's carry after ``K + L − 1`` steps (stop-gradiented).
    target_opt_state: the target optimiser's new state (or the one given).
  """

  params: Params
  carry: Any
  target_opt_state: optax.OptState


def bootstrap_target(
    carry_k: Any,
    meta_params: MetaParams,
    batches: Batch,
    target_batch: Batch,
    *,
    step_fn: StepFn,
    outer_fn: OuterFn,
    step_size: float | Array = 1.0,
    target_optimizer: optax.GradientTransformation | None = None,
    target_opt_state: optax.OptState = None,
    length: int | None = None,
    velocity_origin: Params | None = None,
    velocity_steps: int = 1,
) -> BootstrapTarget:
  """Builds the BMG target ``x̃`` with no gradient to ``w``.

  Runs ``L − 1`` steps of the meta-learned rule from ``sg(x⁽ᴷ⁾)`` with
  ``sg(w)``, then one step on the outer objective:
  ``x̃ = x − α ∇f(x)`` when ``target_optimizer`` is ``None``, else
  ``x̃ = x + u`` with ``u`` from ``target_optimizer`` (e.g. RMSProp with its
  own state: a curvature-corrected target).

  With ``velocity_origin`` (the parameters ``x⁽⁰⁾`` before the
  ``k = velocity_steps`` differentiable steps), the target is instead the
  *average-velocity* target ``x⁽⁰⁾ + k (x̃ − x⁽⁰⁾) / (k + L − 1)``: the point
  ``k`` steps along the target trajectory's mean step. Matching it does not
  reward a larger step by construction (the endpoint target's self-referential
  term ``−η Σᵢ gᵢᵀg₀`` becomes ``(1/L) Σᵢ (uᵢ − u₀)ᵀ ∂u₀/∂w``, zero on a
  straight path; see ``docs/ratchet.md``). With ``L = 1`` it equals ``x̃``.

  Args:
    carry_k: the carry after the ``K`` differentiable steps.
    meta_params: ``w``; used only under ``stop_gradient``.
    batches: the ``L − 1`` batches of the meta-learned steps (leading axis).
    target_batch: the data of the final outer step.
    step_fn: the meta-learned update, as in :func:`unroll`.
    outer_fn: ``f(params, batch)``.
    step_size: α of the plain gradient target step.
    target_optimizer: optional transformation for the final step.
    target_opt_state: its state.
    length: number of meta-learned steps when ``batches`` is ``None``.
    velocity_origin: ``x⁽⁰⁾`` for the average-velocity target; ``None``
      (default) keeps the endpoint target ``x̃``.
    velocity_steps: ``k``, the differentiable steps from ``x⁽⁰⁾`` to
      ``x⁽ᴷ⁾`` (``K`` of BMG).

  Returns:
    A :class:`BootstrapTarget`; every field is stop-gradiented.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022.
  """
  carry = jax.lax.stop_gradient(carry_k)
  frozen = jax.lax.stop_gradient(meta_params)
  carry = unroll(step_fn, carry, frozen, batches, length=length)
  params = carry.params
  grads = jax.grad(outer_fn)(params, target_batch)
  if target_optimizer is None:
    target = jax.tree.map(lambda p, g: p - step_size * g, params, grads)
  else:
    updates, target_opt_state = target_optimizer.update(
        grads, target_opt_state, params)
    target = optax.apply_updates(params, updates)
  if velocity_origin is not None:
    target = average_velocity(velocity_origin, target, num_steps=_steps(
        batches, length) + velocity_steps, velocity_steps=velocity_steps)
  return jax.lax.stop_gradient(
      BootstrapTarget(target, carry, target_opt_state))


def _steps(batches: Batch, length: int | None) -> int:
  leaves = jax.tree_util.tree_leaves(batches)
  return leaves[0].shape[0] if leaves else (length or 0)


def average_velocity(
    origin: Params, end: Params, *, num_steps: int, velocity_steps: int
) -> Params:
  """``origin + velocity_steps (end − origin) / num_steps``.

  The point ``velocity_steps`` mean steps along the path from ``origin`` to
  ``end`` taken in ``num_steps`` steps (the average-velocity BMG target).

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022.
  """
  if num_steps < 1 or not 0 <= velocity_steps <= num_steps:
    raise ValueError(f"need 1 <= num_steps and 0 <= velocity_steps <= "
                     f"num_steps, got {num_steps}, {velocity_steps}.")
  frac = velocity_steps / num_steps
  return jax.tree.map(lambda o, e: o + frac * (e - o), origin, end)


class BMGAux(NamedTuple):
  """Auxiliary outputs of :func:`bmg_loss`.

  Attributes:
    carry_k: the learner's carry after ``K`` steps (differentiable values).
    target: the :class:`BootstrapTarget`.
  """

  carry_k: Any
  target: BootstrapTarget


def bmg_loss(
    meta_params: MetaParams,
    carry: Any,
    batches: Batch,
    target_batches: Batch,
    target_batch: Batch,
    *,
    step_fn: StepFn,
    outer_fn: OuterFn,
    matching_fn: MatchingFn,
    step_size: float | Array = 1.0,
    target_optimizer: optax.GradientTransformation | None = None,
    target_opt_state: optax.OptState = None,
    remat: bool = False,
    length: int | None = None,
    target_length: int | None = None,
    average_velocity_target: bool = False,
) -> tuple[Array, BMGAux]:
  """The BMG meta-loss ``μ(sg(x̃), x⁽ᴷ⁾(w))``.

  ``K`` is the leading size of ``batches`` (``K = 0`` is allowed: then the
  matching must depend on ``w`` directly, e.g. ε-greedy), ``L − 1`` that of
  ``target_batches``.

  Args:
    meta_params: ``w`` (or ``ω``), the argument to differentiate.
    carry: the learner's carry at the start (a constant).
    batches: the ``K`` inner batches.
    target_batches: the ``L − 1`` batches of the target's meta-learned steps.
    target_batch: the data of the final outer step; also passed to
      ``matching_fn`` (e.g. the states on which policies are compared).
    step_fn: ``step_fn(carry, meta_params, batch) -> carry``.
    outer_fn: ``f(params, batch)``.
    matching_fn: ``μ(target_params, params, meta_params, batch)``; see
      :func:`~bootstrap_meta.squared_euclidean` and friends.
    step_size: α of the plain target step.
    target_optimizer: optional transformation for the final target step.
    target_opt_state: its state.
    remat: rematerialise each of the ``K`` steps.
    length: ``K`` when ``batches`` is ``None``.
    target_length: ``L − 1`` when ``target_batches`` is ``None``.
    average_velocity_target: match the average-velocity target
      ``x⁽⁰⁾ + K (x̃ − x⁽⁰⁾) / (K + L − 1)`` instead of ``x̃`` (see
      :func:`bootstrap_target`; no effect when ``L = 1``; needs ``K >= 1``).
      Default ``False``: the paper's endpoint target.

  Returns:
    ``(loss, BMGAux)``.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022.
  """
  carry_k = unroll(step_fn, carry, meta_params, batches, remat=remat,
                   length=length)
  k = _steps(batches, length)
  if average_velocity_target and k < 1:
    raise ValueError("average_velocity_target needs K >= 1 inner steps.")
  target = bootstrap_target(
      carry_k, meta_params, target_batches, target_batch, step_fn=step_fn,
      outer_fn=outer_fn, step_size=step_size,
      target_optimizer=target_optimizer, target_opt_state=target_opt_state,
      length=target_length,
      velocity_origin=carry.params if average_velocity_target else None,
      velocity_steps=k)
  loss = matching_fn(target.params, carry_k.params, meta_params, target_batch)
  return loss, BMGAux(carry_k, target)
