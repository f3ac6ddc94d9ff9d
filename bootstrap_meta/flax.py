"""Flax helpers: pass ``value_fn`` to :func:`bootstrap_meta.meta_learned`.

:func:`bootstrap_meta.meta_learned` takes the outer objective as an extra
argument of ``update`` (``tx.update(grads, state, params, value_fn=...)``).
A Flax linen ``flax.training.train_state.TrainState`` cannot forward it:
its ``apply_gradients(grads=..., **kwargs)`` calls ``tx.update(grads,
opt_state, params)`` and uses ``kwargs`` to replace fields. This module
gives the same step with the extra arguments forwarded, as a function
(:func:`apply_gradients`, for any ``TrainState`` or subclass) or as a
``TrainState`` subclass (:class:`TrainState`). Both compute exactly
``tx.update(grads, opt_state, params, value_fn=...)`` followed by
``optax.apply_updates``.

Flax NNX needs no helper: ``nnx.Optimizer.update(model, grads, **kwargs)``
forwards keyword arguments to ``tx.update``. There ``value_fn`` receives
the parameters as an ``nnx.State`` (the optimiser's ``wrt`` filter), so
merge them back into a model to evaluate it::

  graphdef, _, rest = nnx.split(model, nnx.Param, ...)
  value_fn = lambda p: loss(nnx.merge(graphdef, p, rest), next_batch)
  optimizer.update(model, grads, value_fn=value_fn)

This is the package's only module that imports Flax; ``import
bootstrap_meta`` does not import it, and the core depends on jax and optax
only. Install Flax yourself (``pip install flax``).

Examples:
  A linen MLP whose SGD learning rate is meta-learned by MG; the outer
  objective is the loss on the next batch:

  >>> import jax, jax.numpy as jnp, optax
  >>> import flax.linen as nn
  >>> import bootstrap_meta as bm
  >>> from bootstrap_meta import flax as bm_flax
  >>> model = nn.Dense(1)
  >>> x = jnp.ones((8, 3)); y = jnp.zeros((8, 1))
  >>> loss = lambda p, x, y: jnp.mean((model.apply(p, x) - y) ** 2)
  >>> tx = bm.meta_learned(
  ...     optax.sgd, learned={"learning_rate": bm.positive(0.1)},
  ...     method=bm.MG(K=1), meta_optimizer=optax.adam(1e-2))
  >>> state = bm_flax.TrainState.create(
  ...     apply_fn=model.apply, params=model.init(jax.random.key(0), x),
  ...     tx=tx)
  >>> grads = jax.grad(loss)(state.params, x, y)
  >>> state = state.apply_gradients(
  ...     grads=grads, value_fn=lambda p: loss(p, x, y))
  >>> int(state.step), state.opt_state.hyperparams["learning_rate"] > 0
  (1, Array(True, dtype=bool))

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Xu et al, `Meta-Gradient Reinforcement Learning
  <https://arxiv.org/abs/1805.09801>`_, 2018.
  `Flax TrainState
  <https://flax.readthedocs.io/en/latest/api_reference/flax.training.html>`_.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optax

try:
  from flax.training import train_state as _train_state
except ImportError as e:  # pragma: no cover - depends on the environment.
  raise ImportError(
      "bootstrap_meta.flax needs Flax, which the core package does not "
      "install: pip install flax") from e

__all__ = ["TrainState", "apply_gradients"]

# Flax's fp8 collection whose "gradients" replace the parameters (see
# flax.training.train_state.TrainState.apply_gradients).
_OVERWRITE_WITH_GRADIENT = "_overwrite_with_gradient"


def apply_gradients(state: Any, *, grads: Any, **extra_args: Any) -> Any:
  """``state.apply_gradients(grads=grads)``, forwarding ``extra_args``.

  The step of a linen ``TrainState`` (or any subclass, e.g. one with
  ``batch_stats``), with keyword arguments passed on to ``state.tx.update``
  (``value_fn``, ``loss_fn``, ... of :func:`bootstrap_meta.meta_learned`):

  .. code-block:: python

    updates, opt_state = state.tx.update(grads, state.opt_state,
                                         state.params, **extra_args)
    params = optax.apply_updates(state.params, updates)
    state = state.replace(step=state.step + 1, params=params,
                          opt_state=opt_state)

  As in Flax, if ``grads`` has an ``"_overwrite_with_gradient"`` collection
  (fp8 training), ``tx`` sees ``grads["params"]`` and ``params["params"]``
  only (and so does ``value_fn``) and that collection is replaced by its
  gradients.

  Args:
    state: a ``flax.training.train_state.TrainState`` (or subclass).
    grads: gradients with the structure of ``state.params``.
    **extra_args: keyword arguments of ``state.tx.update``.

  Returns:
    The state with ``step`` incremented and ``params`` and ``opt_state``
    updated.
  """
  overwrite = _OVERWRITE_WITH_GRADIENT in grads
  if overwrite:
    tx_grads, tx_params = grads["params"], state.params["params"]
  else:
    tx_grads, tx_params = grads, state.params
  updates, opt_state = state.tx.update(tx_grads, state.opt_state, tx_params,
                                       **extra_args)
  params = optax.apply_updates(tx_params, updates)
  if overwrite:
    params = {"params": params,
              _OVERWRITE_WITH_GRADIENT: grads[_OVERWRITE_WITH_GRADIENT]}
  return state.replace(step=state.step + 1, params=params,
                       opt_state=opt_state)


class TrainState(_train_state.TrainState):
  """A linen ``TrainState`` whose ``apply_gradients`` forwards extra args.

  ``state.apply_gradients(grads=g, value_fn=f)`` is :func:`apply_gradients`:
  keyword arguments that name a field of the state (``batch_stats`` of a
  subclass, ...) replace it, as in Flax; the others go to ``tx.update``.
  Create it with ``TrainState.create(apply_fn=..., params=..., tx=...)``.
  """

  def apply_gradients(self, *, grads: Any, **kwargs: Any) -> TrainState:
    """One step; ``kwargs`` are new field values or ``tx.update`` extra
    arguments (``value_fn``, ``loss_fn``, ...).

    Args:
      grads: gradients with the structure of ``self.params``.
      **kwargs: fields to replace (by name) and extra arguments of
        ``self.tx.update`` (all other names).

    Returns:
      The updated state.
    """
    fields = {f.name for f in dataclasses.fields(self)}
    replace = {k: v for k, v in kwargs.items() if k in fields}
    extra = {k: v for k, v in kwargs.items() if k not in fields}
    return apply_gradients(self, grads=grads, **extra).replace(**replace)
