"""Differentiable inner updates and the K-step unroll.

The update rule is ``φ(x, s, w, batch) = (x + u, s')`` with
``(u, s') = tx(w).update(∇ℓ(x; w, batch), s, x)``, where ``tx(w)`` is any optax
transformation whose numeric hyperparameters may be meta-parameters (traced
arrays). The optax chain is rebuilt inside the traced function at every step
from the current hyperparameter values, so nothing is closed over as a Python
float and nothing recompiles when a value changes.

References:
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import optax

from bootstrap_meta._types import Array, Batch, MetaParams, Params

__all__ = [
    "HyperOptimizer",
    "LearnerState",
    "hyper_optimizer",
    "inner_step",
    "optimizer_hyperparam_names",
    "unroll",
]

# Default eps_root for optimisers with a square root (Adam & co.): the second
# derivative of sqrt(v + eps_root) stays finite when a gradient is exactly 0.
SAFE_EPS_ROOT = 1e-8


class LearnerState(NamedTuple):
  """The learner's carry through an unroll.

  Attributes:
    params: learner parameters ``x`` (a pytree).
    opt_state: the inner optimiser state ``s``.
  """

  params: Params
  opt_state: optax.OptState


def optimizer_hyperparam_names(factory: Callable[..., Any]) -> tuple[str, ...]:
  """The keyword hyperparameters an optax factory accepts."""
  params = inspect.signature(factory).parameters.values()
  return tuple(
      p.name for p in params
      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
  )


def _accepts_any_keyword(factory: Callable[..., Any]) -> bool:
  params = inspect.signature(factory).parameters.values()
  return any(p.kind == p.VAR_KEYWORD for p in params)


class HyperOptimizer(NamedTuple):
  """An optax factory whose learned hyperparameters are passed at each step.

  Attributes:
    factory: the optax factory, e.g. ``optax.adam``.
    fixed: hyperparameters held fixed (Python values or arrays).
    names: names of the hyperparameters that are meta-learned.
  """

  factory: Callable[..., optax.GradientTransformation]
  fixed: Mapping[str, Any]
  names: tuple[str, ...]

  def make(
      self, hyperparams: Mapping[str, Array]
  ) -> optax.GradientTransformation:
    """Builds the transformation from the current learned values."""
    learned = {name: hyperparams[name] for name in self.names}
    return self.factory(**self.fixed, **learned)


def _check_names(factory, names: Iterable[str], what: str) -> None:
  if _accepts_any_keyword(factory):
    return
  valid = optimizer_hyperparam_names(factory)
  unknown = [n for n in names if n not in valid]
  if unknown:
    fname = getattr(factory, "__name__", repr(factory))
    raise ValueError(
        f"{what} {unknown} not accepted by {fname}; it takes: "
        f"{', '.join(valid)}."
    )


def _check_required(factory, given: set[str]) -> None:
  """Every hyperparameter without a default must be learned or fixed."""
  params = inspect.signature(factory).parameters.values()
  required = [p.name for p in params if p.default is p.empty
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  missing = [n for n in required if n not in given]
  if missing:
    fname = getattr(factory, "__name__", repr(factory))
    raise ValueError(f"{fname} needs {missing}: learn them or pass them as "
                     "fixed hyperparameters.")


def hyper_optimizer(
    factory: Callable[..., optax.GradientTransformation],
    *,
    learned: Iterable[str],
    fixed: Mapping[str, Any] | None = None,
    eps_root: float | None = SAFE_EPS_ROOT,
) -> HyperOptimizer:
  """Wraps an optax factory so that some hyperparameters are meta-learned.

  Args:
    factory: an optax factory (``optax.sgd``, ``optax.adam``,
      ``optax.rmsprop``, or any callable returning a transformation, e.g. a
      function building an ``optax.chain``).
    learned: names of the factory's hyperparameters that are meta-learned.
    fixed: other hyperparameters, held fixed.
    eps_root: if the factory takes ``eps_root`` (Adam, AdamW, …) and ``fixed``
      does not set it, this value is used, so that second derivatives through
      the optimiser stay finite when a gradient is exactly zero (optax's
      default of 0 gives NaN meta-gradients there). ``None`` keeps optax's
      default. RMSProp is safe by default (``eps_in_sqrt=True``).

  Returns:
    A :class:`HyperOptimizer`.

  Raises:
    ValueError: if ``factory`` is not callable, a learned or fixed name is
      not a hyperparameter of the factory, a name is both learned and fixed,
      a hyperparameter without a default is neither, or ``eps_root < 0``.
  """
  if not callable(factory):
    raise ValueError("factory must be an optax factory such as optax.adam "
                     f"(not a transformation), got {factory!r}.")
  if isinstance(learned, str):
    raise ValueError(f"learned must be a sequence of names, got the string "
                     f"{learned!r}; write ({learned!r},).")
  if eps_root is not None and not eps_root >= 0:
    raise ValueError(f"eps_root must be >= 0 or None, got {eps_root}.")
  learned = tuple(learned)
  fixed = dict(fixed or {})
  _check_names(factory, learned, "Learned hyperparameter(s)")
  _check_required(factory, {*learned, *fixed})
  _check_names(factory, fixed, "Fixed hyperparameter(s)")
  both = sorted(set(learned) & set(fixed))
  if both:
    raise ValueError(f"Hyperparameter(s) {both} are both learned and fixed.")
  takes_eps_root = "eps_root" in optimizer_hyperparam_names(factory)
  if eps_root is not None and takes_eps_root and "eps_root" not in learned:
    fixed.setdefault("eps_root", eps_root)
  return HyperOptimizer(factory, fixed, learned)


def inner_step(
    state: LearnerState,
    hyperparams: Mapping[str, Array],
    batch: Batch,
    *,
    optimizer: HyperOptimizer,
    loss_fn: Callable[[Params, Mapping[str, Array], Batch], Array],
) -> LearnerState:
  """One differentiable step ``φ``: gradient of the inner loss, then ``tx(w)``.

  Args:
    state: the learner's parameters and optimiser state.
    hyperparams: constrained hyperparameter values (traced), both the
      optimiser's and the loss's.
    batch: the data for this step (a constant w.r.t. the meta-parameters).
    optimizer: the :class:`HyperOptimizer` defining ``tx(w)``.
    loss_fn: the inner loss ``ℓ(x; w, batch)``.

  Returns:
    The next :class:`LearnerState`, differentiable w.r.t. ``hyperparams``.
  """
  grads = jax.grad(loss_fn)(state.params, hyperparams, batch)
  tx = optimizer.make(hyperparams)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  return LearnerState(optax.apply_updates(state.params, updates), opt_state)


StepFn = Callable[[Any, MetaParams, Batch], Any]


def unroll(
    step_fn: StepFn,
    carry: Any,
    meta_params: MetaParams,
    batches: Batch,
    *,
    remat: bool = False,
    length: int | None = None,
) -> Any:
  """Applies ``step_fn`` once per leading slice of ``batches`` (``lax.scan``).

  Args:
    step_fn: ``step_fn(carry, meta_params, batch) -> carry``; e.g.
      ``functools.partial(inner_step, optimizer=..., loss_fn=...)`` composed
      with a map from meta-parameters to hyperparameters.
    carry: the starting carry (e.g. a :class:`LearnerState`). It is a
      constant: the meta-gradient is truncated at the start of the unroll.
    meta_params: passed to every step unchanged.
    batches: a pytree whose leaves have a leading axis ``K`` (steps); ``None``
      or ``K = 0`` returns ``carry`` unchanged.
    remat: rematerialise in the backward pass (``jax.checkpoint``): steps
      are grouped in segments of about ``sqrt(K)`` and only segment
      boundaries are stored, so memory grows like ``sqrt(K)`` instead of
      ``K``, for about one extra forward pass of compute.
    length: the number of steps when ``batches`` is ``None`` (every step then
      receives ``None`` as its batch, e.g. when the loss closes over its data).

  Returns:
    The carry after ``K`` steps.
  """
  leaves = jax.tree_util.tree_leaves(batches)
  steps = leaves[0].shape[0] if leaves else (length or 0)
  if steps == 0:
    return carry

  def body(c, batch):
    return step_fn(c, meta_params, batch), None

  if not remat:
    return jax.lax.scan(body, carry, batches, length=steps)[0]
  return _sqrt_remat_scan(jax.checkpoint(body), carry, batches, steps)


def _segment_size(steps: int) -> int:
  """The largest divisor of ``steps`` not above ``ceil(sqrt(steps))``."""
  root = math.isqrt(steps - 1) + 1 if steps > 1 else 1
  return max(d for d in range(1, root + 1) if steps % d == 0)


def _sqrt_remat_scan(body, carry, batches, steps: int):
  """Two-level checkpointed scan: about ``2 sqrt(K)`` carries are stored.

  The ``K`` steps are split into segments; the backward pass stores only the
  carries at segment boundaries and recomputes one segment at a time.
  """
  seg = _segment_size(steps)
  num_seg = steps // seg
  if seg == 1 or num_seg == 1:
    return jax.lax.scan(body, carry, batches, length=steps)[0]
  split = jax.tree.map(
      lambda b: b.reshape((num_seg, seg) + b.shape[1:]), batches)

  @jax.checkpoint
  def segment(c, seg_batches):
    return jax.lax.scan(body, c, seg_batches, length=seg)[0], None

  return jax.lax.scan(segment, carry, split, length=num_seg)[0]
