"""The drop-in transform: an optax optimiser whose hyperparameters learn online.

:func:`meta_learned` returns an ``optax.GradientTransformationExtraArgs``. At
each ``update`` it (1) takes the learner's step with the current
hyperparameters and (2) takes one meta-step on them, by MG, BMG, optimistic
or contextual meta-gradients. What the meta-step needs comes as keyword extra
arguments, the way optax's line searches take ``value_fn``.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from bootstrap_meta import _checks, _context
from bootstrap_meta._bijections import MetaParam, constrain, init_meta_params
from bootstrap_meta._inner import (
    HyperOptimizer,
    LearnerState,
    hyper_optimizer,
    inner_step,
    unroll,
)
from bootstrap_meta._matching import squared_euclidean
from bootstrap_meta._methods import BMG, MG, Contextual, Optimistic
from bootstrap_meta._objectives import bootstrap_target
from bootstrap_meta._optimistic import optimistic_meta_update
from bootstrap_meta._types import Array

__all__ = ["MetaLearnedState", "find_meta_state", "meta_learned"]


class MetaLearnedState(NamedTuple):
  """State of :func:`meta_learned`.

  Attributes:
    count: number of updates (int32 scalar).
    meta_params: raw meta-parameters ``w`` (dict by name), or ``ω`` (dict of
      MLP parameters by name) when contextual.
    meta_opt_state: the meta-optimiser's state.
    inner_opt_state: the learner's optimiser state.
    hyperparams: constrained hyperparameter values used by the last learner
      step (for logging).
    meta_loss: the last meta-loss (scalar).
    num_skipped: meta-steps skipped because the meta-gradient or meta-loss
      was not finite (int32 scalar).
    num_bad_updates: learner steps replaced by zeros because the learner's
      update was not finite, e.g. from a NaN gradient (int32 scalar).
    target_opt_state: state of BMG's target optimiser (``None`` if unused).
    context: the :class:`~bootstrap_meta.ContextState` (``None`` if unused).
    meta_grad_norm: global norm of the last meta-gradient (scalar).
    num_zero_meta_grads: per meta-parameter name, meta-steps whose
      meta-gradient for that name was exactly zero (int32 scalars): a
      hyperparameter that never moves, e.g. Lion's ``b1`` behind ``sign``,
      shows here.

  Meta-parameters, their optimiser state, ``hyperparams``, ``meta_loss`` and
  ``meta_grad_norm`` are at least float32 whatever the learner's dtype (a
  meta-step of 1e-2 on a log-learning-rate of −6.9 is below bfloat16's
  spacing); the learner's step uses the values cast to its own dtype.
  """

  count: Array
  meta_params: Any
  meta_opt_state: optax.OptState
  inner_opt_state: optax.OptState
  hyperparams: dict[str, Array]
  meta_loss: Array
  num_skipped: Array
  num_bad_updates: Array
  target_opt_state: Any
  context: Any
  meta_grad_norm: Array
  num_zero_meta_grads: dict[str, Array]


class _Setup(NamedTuple):
  """Everything static that `meta_learned` resolves once."""

  optimizer: HyperOptimizer
  specs: dict[str, MetaParam]
  base: MG | BMG
  meta_optimizer: optax.GradientTransformation
  context: Contextual | None
  loss_side: tuple[str, ...]
  target_optimizer: optax.GradientTransformation | None


def _hyperparams(setup: _Setup, meta_params, features) -> dict[str, Array]:
  """Maps ``w`` (or ``ω`` and the context) to constrained values."""
  if setup.context is None:
    raw = meta_params
  else:
    raw = {name: _context.mlp_apply(omega, features)[0]
           for name, omega in meta_params.items()}
  return constrain(raw, setup.specs)


def _float_dtype(params) -> Any:
  """The dtype of the first floating leaf of ``params`` (else the default)."""
  for leaf in jax.tree_util.tree_leaves(params):
    if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating):
      return jnp.asarray(leaf).dtype
  return jnp.result_type(float)


def _meta_dtype(params) -> Any:
  """At least float32 (float64 learners keep float64 meta-parameters)."""
  return jnp.promote_types(jnp.float32, _float_dtype(params))


def _cast(tree, dtype):
  return jax.tree.map(lambda v: jnp.asarray(v).astype(dtype), tree)


def _init_meta_params(setup: _Setup, dtype) -> Any:
  raw = init_meta_params(setup.specs, dtype=dtype)
  if setup.context is None:
    return raw
  ctx = setup.context
  if ctx.initial_weights is not None:
    return _context_weights(ctx, raw, dtype)
  keys = jax.random.split(jax.random.key(ctx.seed), len(raw))
  return {
      name: _context.mlp_init(key, in_dim=ctx.history * ctx.num_stats,
                              hidden=tuple(ctx.hidden), init_output=value,
                              dtype=dtype)
      for key, (name, value) in zip(keys, sorted(raw.items()), strict=True)
  }


def _context_weights(ctx: Contextual, raw, dtype) -> Any:
  """``Contextual.initial_weights``, checked against the default MLP."""
  weights = dict(ctx.initial_weights)
  if sorted(weights) != sorted(raw):
    raise ValueError(f"Contextual.initial_weights must have the names "
                     f"{sorted(raw)}, got {sorted(weights)}.")
  for name, omega in weights.items():
    ref = _context.mlp_init(jax.random.key(0), in_dim=ctx.history
                            * ctx.num_stats, hidden=tuple(ctx.hidden))
    _checks.check_like(f"Contextual.initial_weights[{name!r}]", omega, ref,
                       "the default MLP's parameters")
  return _cast(weights, dtype)


def _meta_loss(meta_params, features, params, grads, state, value_fn, loss_fn,
               setup: _Setup):
  """The meta-loss of one update and, as aux, the learner's step."""
  hp_meta = _hyperparams(setup, meta_params, features)
  hp = _cast(hp_meta, _float_dtype(params))  # The learner's dtype.

  def inner_loss(p, h, batch):
    del batch
    return value_fn(p) if loss_fn is None else loss_fn(p, h)

  if setup.loss_side:  # Loss-side meta-parameters: recompute the gradient.
    grads = jax.grad(inner_loss)(params, hp, None)
  tx = setup.optimizer.make(hp)
  u, opt_state = tx.update(grads, state.inner_opt_state, params)
  carry = LearnerState(optax.apply_updates(params, u), opt_state)

  def step_fn(c, mp, batch):
    h = _cast(_hyperparams(setup, mp, features), _float_dtype(params))
    return inner_step(c, h, batch, optimizer=setup.optimizer,
                      loss_fn=inner_loss)

  base = setup.base
  if isinstance(base, BMG) and base.K == 0:
    carry = LearnerState(params, state.inner_opt_state)
  carry = unroll(step_fn, carry, meta_params, None, remat=base.remat,
                 length=max(base.K - 1, 0))
  target_state = state.target_opt_state
  if isinstance(base, MG):
    loss = value_fn(carry.params)
  else:
    target = bootstrap_target(
        carry, meta_params, None, None, step_fn=step_fn,
        outer_fn=lambda p, b: value_fn(p), step_size=base.step_size,
        target_optimizer=setup.target_optimizer,
        target_opt_state=target_state, length=base.L - 1,
        velocity_origin=params if base.average_velocity and base.K else None,
        velocity_steps=base.K)
    target_state = target.target_opt_state
    matching = base.matching or squared_euclidean()
    loss = matching(target.params, carry.params, hp, None)
  return loss, (u, opt_state, hp_meta, target_state)


def _all_finite(tree) -> Array:
  leaves = jax.tree_util.tree_leaves(tree)
  if not leaves:  # e.g. optax.EmptyState
    return jnp.array(True)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _all_zero(tree) -> Array:
  return jnp.all(jnp.stack([jnp.all(x == 0)
                            for x in jax.tree_util.tree_leaves(tree)]))


def _select(pred: Array, new, old):
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def _update(updates, state: MetaLearnedState, params, value_fn, loss_fn,
            context_stats, setup: _Setup):
  """One learner step plus one meta-step (see :func:`meta_learned`)."""
  ctx_state, features = state.context, None
  if setup.context is not None:
    stats = (jnp.reshape(value_fn(params), (1,)) if context_stats is None
             else jnp.reshape(context_stats, (setup.context.num_stats,)))
    ctx_state = _context.context_update(state.context, stats)
    features = _context.context_features(ctx_state)
  (loss, aux), meta_grads = jax.value_and_grad(_meta_loss, has_aux=True)(
      state.meta_params, features, params, updates, state, value_fn, loss_fn,
      setup)
  u, inner_opt_state, hp, target_state = aux
  zero = {name: _all_zero(g) for name, g in meta_grads.items()}
  meta_updates, meta_opt_state = setup.meta_optimizer.update(
      meta_grads, state.meta_opt_state, state.meta_params)
  finite = jnp.logical_and(_all_finite(meta_grads), jnp.isfinite(loss))
  meta_params = _select(finite,
                        optax.apply_updates(state.meta_params, meta_updates),
                        state.meta_params)
  meta_opt_state = _select(finite, meta_opt_state, state.meta_opt_state)
  good = jnp.logical_and(_all_finite(u), _all_finite(inner_opt_state))
  u = _select(good, u, jax.tree.map(jnp.zeros_like, u))
  inner_opt_state = _select(good, inner_opt_state, state.inner_opt_state)
  new_state = MetaLearnedState(
      count=state.count + 1, meta_params=meta_params,
      meta_opt_state=meta_opt_state, inner_opt_state=inner_opt_state,
      hyperparams=hp, meta_loss=jnp.asarray(loss, state.meta_loss.dtype),
      num_skipped=state.num_skipped + (~finite).astype(jnp.int32),
      num_bad_updates=state.num_bad_updates + (~good).astype(jnp.int32),
      target_opt_state=target_state, context=ctx_state,
      meta_grad_norm=optax.tree.norm(meta_grads).astype(
          state.meta_grad_norm.dtype),
      num_zero_meta_grads={
          name: count + zero[name].astype(jnp.int32)
          for name, count in state.num_zero_meta_grads.items()})
  return u, new_state


def _prepend(preprocess, factory):
  """``factory`` with ``preprocess`` chained in front of it."""
  def chained(**hyperparams):
    return optax.chain(preprocess, factory(**hyperparams))
  return chained


def _make_setup(optimizer, learned, hyperparams, learned_loss, method,
                meta_optimizer, context, eps_root, preprocess) -> _Setup:
  """Resolves the static configuration of :func:`meta_learned` once."""
  opt = hyper_optimizer(optimizer, learned=learned, fixed=hyperparams,
                        eps_root=eps_root)
  _checks.check_traceable(opt, learned)
  base = method.base if isinstance(method, Optimistic) else method
  if isinstance(method, Optimistic):
    meta_optimizer = optax.chain(
        optimistic_meta_update(hint_weight=method.hint_weight,
                               hint_fn=method.hint_fn), meta_optimizer)
  target = getattr(base, "target_optimizer", None)
  if preprocess is not None:
    opt = opt._replace(factory=_prepend(preprocess, opt.factory))
    if isinstance(base, BMG):
      target = optax.chain(preprocess, target or optax.sgd(base.step_size))
  return _Setup(opt, {**learned, **learned_loss}, base, meta_optimizer,
                context, tuple(sorted(learned_loss)), target)


def _init(setup: _Setup, params) -> MetaLearnedState:
  """``init`` of :func:`meta_learned`."""
  dtype = _meta_dtype(params)
  meta_params = _init_meta_params(setup, dtype)
  values = constrain(init_meta_params(setup.specs, dtype=dtype), setup.specs)
  target, ctx = setup.target_optimizer, setup.context
  return MetaLearnedState(
      count=jnp.zeros([], jnp.int32), meta_params=meta_params,
      meta_opt_state=setup.meta_optimizer.init(meta_params),
      inner_opt_state=setup.optimizer.make(
          _cast(values, _float_dtype(params))).init(params),
      hyperparams=values, meta_loss=jnp.zeros([], dtype),
      num_skipped=jnp.zeros([], jnp.int32),
      num_bad_updates=jnp.zeros([], jnp.int32),
      target_opt_state=None if target is None else target.init(params),
      context=None if ctx is None else _context.context_init(
          history=ctx.history, num_stats=ctx.num_stats, dtype=dtype),
      meta_grad_norm=jnp.zeros([], dtype),
      num_zero_meta_grads={name: jnp.zeros([], jnp.int32)
                           for name in meta_params})


def meta_learned(
    optimizer: Callable[..., optax.GradientTransformation],
    *,
    learned: Mapping[str, MetaParam] | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    learned_loss: Mapping[str, MetaParam] | None = None,
    method: MG | BMG | Optimistic | None = None,
    meta_optimizer: optax.GradientTransformation,
    context: Contextual | None = None,
    eps_root: float | None = 1e-8,
    preprocess: optax.GradientTransformation | None = None,
) -> optax.GradientTransformationExtraArgs:
  """An optax optimiser whose hyperparameters are meta-learned online.

  Swap ``optax.adam(1e-3)`` for::

    tx = bootstrap_meta.meta_learned(
        optax.adam, learned={"learning_rate": bootstrap_meta.positive(1e-3)},
        method=bootstrap_meta.BMG(K=1, L=2),
        meta_optimizer=optax.adam(1e-2))
    state = tx.init(params)
    updates, state = tx.update(grads, state, params, value_fn=loss_of_params)

  Each ``update(grads, state, params, *, value_fn, loss_fn=None,
  context_stats=None)``:

  1. maps the meta-parameters to hyperparameter values ``h``;
  2. takes the learner's step ``u = tx(h).update(grads, s, x)`` (returned);
  3. continues ``K − 1`` more differentiable look-ahead steps from
     ``x + u`` on the inner loss (``loss_fn(params, h)``, default
     ``value_fn``), and forms the meta-loss: ``value_fn(x⁽ᴷ⁾)`` for MG, or
     the matching loss to a bootstrapped target (``L − 1`` steps with
     ``sg(h)`` then a step on ``value_fn``) for BMG;
  4. updates the meta-parameters with ``meta_optimizer``, unless the
     meta-gradient or meta-loss is not finite: then the meta-step is skipped
     and counted in ``state.num_skipped`` (the learner's step stands). A
     learner step that is itself not finite (e.g. from a NaN gradient) is
     replaced by zeros, the optimiser state kept, and counted in
     ``state.num_bad_updates``.

  The meta-gradient is truncated: ``x`` and ``s`` at the call are constants.
  ``value_fn(params) -> scalar`` is the outer objective (e.g. the loss on the
  current or a held-out batch); it must not depend on the meta-parameters.
  ``grads`` are used for the first step as given unless loss-side
  meta-parameters are learned, in which case the first gradient is
  recomputed from ``loss_fn``. A transformation chained *before* this one
  (``optax.chain(clip, meta_learned(...))``) reaches only the learner's
  step: the look-ahead and target steps differentiate ``value_fn`` and see
  raw gradients. Pass it as ``preprocess`` instead: then the learner's step,
  the look-ahead steps and the target's steps (including its final outer
  step) all apply it (its state, if any, is carried in the learner's and the
  target optimiser's states).

  The factory is called with traced hyperparameter values, so it must not
  branch on them in Python (``ValueError`` at the call if it does, e.g.
  ``optax.warmup_cosine_decay_schedule`` tests ``peak_value == 0.0``; learn
  a multiplier of a fixed schedule instead). ``optax.inject_hyperparams(f)``
  is learned through as ``f`` (the wrapper would read its values from its
  own state and never see the learned ones).

  Args:
    optimizer: an optax factory, e.g. ``optax.adam`` (or any callable
      returning a transformation).
    learned: its hyperparameters to meta-learn, name → :class:`MetaParam`
      (e.g. ``{"learning_rate": positive(1e-3), "b1": unit_interval(0.9)}``).
    hyperparams: its other hyperparameters, held fixed.
    learned_loss: meta-parameters of the inner loss, passed to ``loss_fn``
      (which then becomes a required extra argument).
    method: ``MG(K)``, ``BMG(K, L, …)`` or ``Optimistic(base, hint_weight)``;
      default ``MG(K=1)``.
    meta_optimizer: the optax optimiser of the meta-parameters (the papers
      use Adam with ``eps=1e-4``).
    context: :class:`Contextual` for ``w = g_ω(c)``; ``None`` for plain
      meta-parameters.
    eps_root: ``eps_root`` given to optimisers that take one and do not set
      it (second derivatives of ``sqrt`` at zero; ``None``: optax's default).
    preprocess: a transformation applied to every gradient before the
      optimiser, in the learner's, look-ahead and target steps alike (e.g.
      ``optax.clip_by_global_norm(1.0)``); ``None``: none.

  Returns:
    An ``optax.GradientTransformationExtraArgs`` with
    :class:`MetaLearnedState`; ``state.hyperparams`` holds the current values.

  Raises:
    ValueError: for invalid static arguments (an unknown hyperparameter name,
      a name the factory does not take, a bad method), at call time.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022.
  """
  learned, learned_loss = dict(learned or {}), dict(learned_loss or {})
  method = MG() if method is None else method
  _checks.validate_static(optimizer, learned, learned_loss, method,
                          meta_optimizer, context, eps_root, preprocess)
  setup = _make_setup(_checks.unwrap_injected(optimizer), learned,
                      hyperparams, learned_loss, method, meta_optimizer,
                      context, eps_root, preprocess)
  init_fn = functools.partial(_init, setup)

  def update_fn(updates, state, params=None, *, value_fn=None, loss_fn=None,
                context_stats=None, **extra_args):
    del extra_args
    if params is None:
      raise ValueError("meta_learned.update needs `params`.")
    if value_fn is None:
      raise ValueError("meta_learned.update needs the extra argument "
                       "`value_fn` (params -> outer loss).")
    if setup.loss_side and loss_fn is None:
      raise ValueError(f"Loss-side meta-parameters {list(setup.loss_side)} "
                       "need the extra argument `loss_fn(params, hparams)`.")
    _checks.check_update_args(updates, state, params, value_fn, loss_fn,
                              context_stats, init_fn, setup.context,
                              MetaLearnedState)
    return _update(updates, state, params, value_fn, loss_fn, context_stats,
                   setup)

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def find_meta_state(state: Any) -> MetaLearnedState:
  """Finds the :class:`MetaLearnedState` inside a (possibly chained) state.

  Raises:
    ValueError: if there is none.
  """
  found = [s for s in jax.tree_util.tree_leaves(
      state, is_leaf=lambda s: isinstance(s, MetaLearnedState))
           if isinstance(s, MetaLearnedState)]
  if not found:
    raise ValueError("No MetaLearnedState in this optimiser state.")
  return found[0]


