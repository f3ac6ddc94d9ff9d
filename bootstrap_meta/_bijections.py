"""Bijections between unconstrained meta-parameters and hyperparameter values.

Meta-parameters are stored unconstrained (``log_lr``, ``logit_entropy``) and
mapped to their constrained value by a named bijection; they are initialised
by the bijection's inverse of a user's value.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bootstrap_meta._types import Array

__all__ = [
    "Bijection",
    "MetaParam",
    "constrain",
    "exp_bijection",
    "identity_bijection",
    "init_meta_params",
    "interval",
    "interval_bijection",
    "positive",
    "sigmoid_bijection",
    "softplus_bijection",
    "unconstrained",
    "unit_interval",
]


class Bijection(NamedTuple):
  """A named pair ``forward: raw -> value`` and ``inverse: value -> raw``.

  Attributes:
    forward: maps an unconstrained array to the constrained domain.
    inverse: the inverse map, used to initialise from a user's value.
    name: a short name, used in the raw leaf's name (``log``, ``logit``, …).
    low: lower bound of the constrained domain (``-inf`` if none).
    high: upper bound of the constrained domain (``inf`` if none).
  """

  forward: Callable[[Array], Array]
  inverse: Callable[[Array], Array]
  name: str
  low: float = -np.inf
  high: float = np.inf


def exp_bijection() -> Bijection:
  """Positive values through ``exp``: the raw leaf is ``log(value)``."""
  return Bijection(jnp.exp, jnp.log, "log", 0.0, np.inf)


def _softplus_inverse(y: Array) -> Array:
  # log(expm1(y)) computed stably for large y: y + log(1 - exp(-y)).
  return y + jnp.log(-jnp.expm1(-y))


def softplus_bijection() -> Bijection:
  """Positive values through ``softplus`` (gentler than ``exp``)."""
  return Bijection(jax.nn.softplus, _softplus_inverse, "softplus_inv", 0.0,
                   np.inf)


def sigmoid_bijection() -> Bijection:
  """Values in ``(0, 1)`` through ``sigmoid``: the raw leaf is a logit."""
  return Bijection(jax.nn.sigmoid, jax.scipy.special.logit, "logit", 0.0, 1.0)


def interval_bijection(*, low: float, high: float) -> Bijection:
  """Values in ``(low, high)`` through an affine sigmoid.

  Args:
    low: lower bound (exclusive).
    high: upper bound (exclusive), ``high > low``.

  Returns:
    The bijection ``raw -> low + (high - low) * sigmoid(raw)``.

  Raises:
    ValueError: if ``high <= low`` or a bound is not finite.
  """
  if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
    raise ValueError(f"interval needs finite low < high, got [{low}, {high}].")
  scale = high - low

  def forward(raw: Array) -> Array:
    return low + scale * jax.nn.sigmoid(raw)

  def inverse(value: Array) -> Array:
    return jax.scipy.special.logit((value - low) / scale)

  return Bijection(forward, inverse, "logit", float(low), float(high))


def identity_bijection() -> Bijection:
  """No constraint: the raw leaf is the value itself."""
  return Bijection(lambda x: x, lambda x: x, "raw")


class MetaParam(NamedTuple):
  """Specification of one learned hyperparameter.

  Attributes:
    init: the initial constrained value (scalar or array).
    bijection: the map between the raw leaf and the value.
  """

  init: np.ndarray
  bijection: Bijection


def _spec(value, bijection: Bijection, what: str) -> MetaParam:
  arr = np.asarray(value, dtype=np.float64)
  if not np.all(np.isfinite(arr)):
    raise ValueError(f"{what}: initial value must be finite, got {value!r}.")
  if np.any(arr <= bijection.low) or np.any(arr >= bijection.high):
    raise ValueError(
        f"{what}: initial value {value!r} must lie strictly inside "
        f"({bijection.low}, {bijection.high})."
    )
  return MetaParam(arr, bijection)


def positive(value, *, parameterization: str = "log") -> MetaParam:
  """A learned positive hyperparameter (a learning rate, a weight).

  Args:
    value: the initial value, ``> 0`` (a scalar or an array of such).
    parameterization: ``"log"`` (raw = log value) or ``"softplus"``.

  Returns:
    A :class:`MetaParam`.

  Raises:
    ValueError: for a non-positive value or an unknown parameterization.
  """
  choices = {"log": exp_bijection, "softplus": softplus_bijection}
  if parameterization not in choices:
    raise ValueError(
        f"Unknown parameterization {parameterization!r}; valid: "
        f"{sorted(choices)}."
    )
  return _spec(value, choices[parameterization](), "positive")


def unit_interval(value) -> MetaParam:
  """A learned hyperparameter in ``(0, 1)`` (an entropy weight, ε, β₁)."""
  return _spec(value, sigmoid_bijection(), "unit_interval")


def interval(value, *, low: float, high: float) -> MetaParam:
  """A learned hyperparameter in ``(low, high)``, e.g. γ ∈ (0.9, 1)."""
  return _spec(value, interval_bijection(low=low, high=high), "interval")


def unconstrained(value) -> MetaParam:
  """A learned hyperparameter with no constraint (e.g. an update vector)."""
  return _spec(value, identity_bijection(), "unconstrained")


def init_meta_params(
    specs: Mapping[str, MetaParam], *, dtype=None
) -> dict[str, Array]:
  """The raw (unconstrained) meta-parameters: ``inverse(init)`` per name.

  Args:
    specs: name → :class:`MetaParam`.
    dtype: floating dtype of the raw values; default float32, or float64
      under x64.
  """
  dtype = dtype or jnp.result_type(float)
  return {
      name: spec.bijection.inverse(jnp.asarray(spec.init, dtype=dtype))
      for name, spec in specs.items()
  }


def constrain(
    raw: Mapping[str, Array], specs: Mapping[str, MetaParam]
) -> dict[str, Array]:
  """Maps raw meta-parameters to hyperparameter values, name by name.

  Raises:
    ValueError: if ``raw`` lacks a name of ``specs``.
  """
  missing = sorted(set(specs) - set(raw))
  if missing:
    raise ValueError(f"constrain: no raw value for {missing}; got "
                     f"{sorted(raw)}.")
  return {name: specs[name].bijection.forward(raw[name]) for name in specs}
