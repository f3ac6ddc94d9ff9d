"""Eager checks of the drop-in transform's static and traced arguments.

Every check raises a ``ValueError`` naming the argument and the cause, at
the factory call for static configuration and before any compute for the
arguments of ``update`` (shapes and dtypes only).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bootstrap_meta._bijections import MetaParam, constrain, init_meta_params
from bootstrap_meta._inner import HyperOptimizer
from bootstrap_meta._methods import BMG, MG, Contextual, Optimistic

__all__ = [
    "check_like",
    "check_traceable",
    "check_update_args",
    "unwrap_injected",
    "validate_static",
]


def unwrap_injected(optimizer: Any) -> Any:
  """The factory inside ``optax.inject_hyperparams(factory)``, else as given.

  ``inject_hyperparams`` stores hyperparameter values in its own state at
  ``init`` and reads them from there, so a meta-learned value passed to the
  wrapper would never reach the update. Unwrapping learns through the inner
  factory instead (same update rule).
  """
  code = getattr(optimizer, "__code__", None)
  qualname = getattr(code, "co_qualname", "")
  inner = getattr(optimizer, "__wrapped__", None)
  if qualname.startswith("inject_") and "hyperparams" in qualname:
    if inner is None or not callable(inner):
      raise ValueError("optax.inject_hyperparams factories read their "
                       "hyperparameters from their state and cannot be "
                       "meta-learned; pass the inner factory (e.g. "
                       "optax.adam) instead.")
    return inner
  return optimizer


def check_traceable(opt: HyperOptimizer, specs: dict[str, MetaParam]) -> None:
  """Builds ``opt`` once with traced hyperparameters, else a clear error.

  A factory that branches in Python on a hyperparameter's value cannot take
  a meta-learned (traced) value: e.g. ``optax.warmup_cosine_decay_schedule``
  tests ``peak_value == 0.0`` when it is built.
  """
  names = {n: specs[n] for n in opt.names if n in specs}
  values = constrain(init_meta_params(names), names)
  try:
    jax.make_jaxpr(lambda v: (opt.make(v), 0)[1])(values)
  except jax.errors.ConcretizationTypeError as err:
    raise ValueError(
        f"The optimizer factory cannot be built with traced values of "
        f"{sorted(names)}: its code converts a hyperparameter to a Python "
        f"bool or number ({type(err).__name__}), e.g. "
        "optax.warmup_cosine_decay_schedule checks `peak_value == 0.0`. "
        "Learn a multiplier of a fixed schedule instead, e.g. "
        "`lambda scale: optax.adam(lambda t: scale * schedule(t))` with "
        "`schedule = optax.warmup_cosine_decay_schedule(0.0, 1.0, 50, 600)`."
    ) from None


def validate_static(optimizer, learned, learned_loss, method, meta_optimizer,
                    context, eps_root, preprocess) -> None:
  """Checks :func:`~bootstrap_meta.meta_learned`'s static arguments."""
  if not callable(optimizer):
    raise ValueError(f"optimizer must be an optax factory, got {optimizer!r}.")
  if not learned and not learned_loss:
    raise ValueError("Nothing to learn: `learned` and `learned_loss` are "
                     "both empty.")
  for name, spec in {**learned, **learned_loss}.items():
    if not isinstance(spec, MetaParam):
      raise ValueError(
          f"{name!r}: expected a MetaParam (bootstrap_meta.positive, "
          f"unit_interval, interval, unconstrained), got {spec!r}.")
    if context is not None and np.ndim(spec.init) != 0:
      raise ValueError(f"{name!r}: contextual meta-parameters must be scalar.")
  both = sorted(set(learned) & set(learned_loss))
  if both:
    raise ValueError(f"{both} are in both `learned` and `learned_loss`.")
  if not isinstance(method, MG | BMG | Optimistic):
    raise ValueError(f"method must be MG, BMG or Optimistic, got {method!r}.")
  if not isinstance(meta_optimizer, optax.GradientTransformation):
    raise ValueError("meta_optimizer must be an optax GradientTransformation, "
                     f"got {meta_optimizer!r}.")
  if context is not None and not isinstance(context, Contextual):
    raise ValueError(f"context must be Contextual or None, got {context!r}.")
  if eps_root is not None and not eps_root >= 0:
    raise ValueError(f"eps_root must be >= 0 or None, got {eps_root}.")
  if preprocess is not None and not isinstance(
      preprocess, optax.GradientTransformation):
    raise ValueError("preprocess must be an optax GradientTransformation "
                     f"(e.g. optax.clip_by_global_norm(1.0)), got "
                     f"{preprocess!r}.")


def _path(path) -> str:
  return jax.tree_util.keystr(path) or "<root>"


def check_like(what: str, tree, ref, ref_name: str) -> None:
  """Same pytree structure and leaf shapes as ``ref``, else ValueError."""
  tree_def, ref_def = (jax.tree.structure(tree), jax.tree.structure(ref))
  if tree_def != ref_def:
    raise ValueError(f"{what} must have the structure of {ref_name}: got "
                     f"{tree_def}, expected {ref_def}.")
  pairs = zip(jax.tree_util.tree_flatten_with_path(tree)[0],
              jax.tree.leaves(ref), strict=True)
  for (path, leaf), ref_leaf in pairs:
    if np.shape(leaf) != np.shape(ref_leaf):
      raise ValueError(f"{what}{_path(path)} has shape {np.shape(leaf)}, "
                       f"{ref_name} has {np.shape(ref_leaf)}.")


def check_update_args(updates, state, params, value_fn, loss_fn,
                      context_stats, init_fn, context, state_type) -> None:
  """Static checks of ``update``'s arguments (shapes only, no compute)."""
  if not callable(value_fn):
    raise ValueError(f"value_fn must be callable, got {value_fn!r}.")
  if loss_fn is not None and not callable(loss_fn):
    raise ValueError(f"loss_fn must be callable, got {loss_fn!r}.")
  check_like("updates (the gradients)", updates, params, "params")
  for path, leaf in jax.tree_util.tree_flatten_with_path(updates)[0]:
    if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
      raise ValueError(f"updates{_path(path)} must be floating, got dtype "
                       f"{jnp.result_type(leaf)}.")
  if not isinstance(state, state_type):
    raise ValueError("state must be the MetaLearnedState returned by this "
                     f"transformation's init, got {type(state).__name__}.")
  check_like("state", state, jax.eval_shape(init_fn, params),
              "init(params)")
  out = jax.eval_shape(value_fn, params)
  if np.shape(out) != () or not jnp.issubdtype(out.dtype, jnp.floating):
    raise ValueError("value_fn(params) must return a scalar float loss, got "
                     f"shape {np.shape(out)} and dtype {out.dtype}.")
  ctx = context
  if ctx is not None and context_stats is not None and (
      np.size(context_stats) != ctx.num_stats):
    raise ValueError(f"context_stats must have Contextual.num_stats="
                     f"{ctx.num_stats} values, got shape "
                     f"{np.shape(context_stats)}.")


