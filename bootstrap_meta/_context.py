"""Context-conditioned meta-parameters ``w = g_ω(sg(c))``.

A :class:`ContextState` tracks a rolling history of ``H`` per-update
statistics (reward mean, value std, TD error, …), each normalised with
running lifetime statistics and squashed by ``tanh`` into ``[-1, 1]``. The
features carry no gradient. A meta-parameter function maps them to raw
meta-parameters; by default a small MLP in plain JAX per hyperparameter,
initialised so that it starts exactly at a chosen raw value.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bootstrap_meta._types import Array

__all__ = [
    "ContextState",
    "context_features",
    "context_init",
    "context_update",
    "mlp_apply",
    "mlp_init",
]


class ContextState(NamedTuple):
  """Rolling, normalised history of per-update statistics.

  Attributes:
    history: ``[H, S]`` squashed statistics, newest first.
    count: number of updates seen (int32 scalar).
    mean: ``[S]`` running mean of the raw statistics.
    m2: ``[S]`` running sum of squared deviations (Welford).
  """

  history: Array
  count: Array
  mean: Array
  m2: Array


def context_init(*, history: int, num_stats: int, dtype=None) -> ContextState:
  """An empty tracker of ``num_stats`` statistics over ``history`` updates.

  Raises:
    ValueError: if ``history`` or ``num_stats`` is not positive.
  """
  if history < 1 or num_stats < 1:
    raise ValueError(
        f"history and num_stats must be >= 1, got {history}, {num_stats}.")
  dtype = dtype or jnp.result_type(float)
  return ContextState(
      history=jnp.zeros((history, num_stats), dtype),
      count=jnp.zeros([], jnp.int32),
      mean=jnp.zeros((num_stats,), dtype),
      m2=jnp.zeros((num_stats,), dtype),
  )


def context_update(
    state: ContextState, stats: Array, *, eps: float = 1e-8
) -> ContextState:
  """Adds one update's statistics ``[S]`` (stop-gradiented) to the history.

  The statistics are normalised with the running mean and standard deviation
  (including this update) and squashed with ``tanh``.
  """
  stats = jax.lax.stop_gradient(jnp.asarray(stats, state.mean.dtype))
  count = state.count + 1
  delta = stats - state.mean
  mean = state.mean + delta / count
  m2 = state.m2 + delta * (stats - mean)
  std = jnp.sqrt(m2 / count + eps)
  squashed = jnp.tanh((stats - mean) / std)
  history = jnp.concatenate([squashed[None], state.history[:-1]], axis=0)
  return ContextState(history, count, mean, m2)


def context_features(state: ContextState) -> Array:
  """The flat context vector ``[H * S]``, with no gradient."""
  return jax.lax.stop_gradient(state.history.reshape(-1))


MLPParams = list  # [(w [in, out], b [out]), …]


def mlp_init(
    key: Array,
    *,
    in_dim: int,
    hidden: Sequence[int] = (64, 64),
    out_dim: int = 1,
    init_output: float | Array = 0.0,
    dtype=None,
) -> MLPParams:
  """Parameters of a ReLU MLP that starts exactly at ``init_output``.

  Hidden layers use LeCun-normal weights; the output layer has zero weights
  and bias ``init_output``, so ``g_ω(c) = init_output`` for every context at
  the start (the paper instead pre-trains the network to output mid-range on
  uniform contexts; an exact start needs no pre-training and keeps the
  gradient to the output layer nonzero).

  Args:
    key: a PRNG key.
    in_dim: context dimension.
    hidden: hidden widths (the paper: two layers of 64).
    out_dim: output dimension.
    init_output: the starting raw output (e.g. the bijection's inverse of
      the starting hyperparameter value).
    dtype: floating dtype of the parameters (default float32, or float64
      under x64).

  Returns:
    A list of ``(w, b)`` pairs.
  """
  for name, value in (("in_dim", in_dim), ("out_dim", out_dim),
                      *(("hidden", h) for h in hidden)):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
      raise ValueError(f"mlp_init: {name} must be an integer >= 1, got "
                       f"{value!r}.")
  dims = [in_dim, *hidden]
  dtype = dtype or jnp.result_type(float)
  params = []
  keys = jax.random.split(key, len(hidden))
  for i, k in enumerate(keys):
    d_in, d_out = dims[i], dims[i + 1]
    w = jax.random.normal(k, (d_in, d_out), dtype) / jnp.sqrt(d_in)
    params.append((w, jnp.zeros((d_out,), dtype)))
  bias = jnp.broadcast_to(jnp.asarray(init_output, dtype), (out_dim,))
  params.append((jnp.zeros((dims[-1], out_dim), dtype), bias))
  return params


def mlp_apply(params: MLPParams, context: Array) -> Array:
  """Applies the MLP to a context ``[C]`` (or ``[..., C]``): raw ``[out]``."""
  h = jax.lax.stop_gradient(context)
  for w, b in params[:-1]:
    h = jax.nn.relu(h @ w + b)
  w, b = params[-1]
  return h @ w + b
