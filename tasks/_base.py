"""Shared environment API for `tasks`: spaces, base class, pytree dataclasses.

Environments follow gymnax's functional API (pure functions of explicit state
and parameters), with gymnax 1.0's split of episode ends into `terminated` and
`truncated`:

* ``reset(key, params) -> (obs, state)``
* ``step(key, state, action, params)
  -> (obs, state, reward, terminated, truncated, info)``

Anything that fixes a shape (number of arms, grid size, memory length) is a
constructor argument of the environment; anything that defines the task (arm
means, switch period, goal) is a leaf of its ``EnvParams``, so ``jax.vmap``
sweeps tasks as well as seeds. ``step`` does not reset by itself: wrap the
environment in :class:`tasks.AutoReset` for that.

References:
  Lange, `gymnax: A JAX-based Reinforcement Learning Environment Library
  <https://github.com/RobertTLange/gymnax>`_, 2022.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

import jax
import jax.numpy as jnp

__all__ = [
    "Box",
    "Discrete",
    "Environment",
    "StepResult",
    "pytree_dataclass",
    "static_field",
]

T = TypeVar("T")
EnvState = TypeVar("EnvState")
EnvParams = TypeVar("EnvParams")


def static_field(**kwargs: Any) -> Any:
  """A dataclass field that is static (part of the treedef, not a leaf)."""
  return dataclasses.field(metadata={"static": True}, **kwargs)


def pytree_dataclass(cls: type[T]) -> type[T]:
  """Makes ``cls`` a frozen dataclass registered as a JAX pytree.

  Fields declared with :func:`static_field` are static metadata; every other
  field is a leaf, so ``jax.vmap`` can map over it.
  """
  cls = dataclasses.dataclass(frozen=True)(cls)
  return jax.tree_util.register_dataclass(cls)


@dataclasses.dataclass(frozen=True)
class Discrete:
  """A discrete space of ``n`` actions or observations ``{0, …, n-1}``."""

  n: int
  dtype: Any = jnp.int32

  @property
  def shape(self) -> tuple[int, ...]:
    """The shape of one element (a scalar)."""
    return ()

  def sample(self, key: jax.Array) -> jax.Array:
    """Draws one element uniformly at random."""
    return jax.random.randint(key, (), 0, self.n, dtype=self.dtype)

  def contains(self, x: jax.Array) -> jax.Array:
    """Whether ``x`` is an element of the space (a boolean array)."""
    return jnp.logical_and(x >= 0, x < self.n)


@dataclasses.dataclass(frozen=True)
class Box:
  """A box ``[low, high]`` of the given shape (bounds may be infinite)."""

  low: Any
  high: Any
  shape: tuple[int, ...]
  dtype: Any = jnp.float32

  def sample(self, key: jax.Array) -> jax.Array:
    """Draws one element uniformly (bounds clipped to ±1e6)."""
    low = jnp.clip(jnp.asarray(self.low, jnp.float32), -1e6, 1e6)
    high = jnp.clip(jnp.asarray(self.high, jnp.float32), -1e6, 1e6)
    x = jax.random.uniform(key, self.shape, jnp.float32, low, high)
    return x.astype(self.dtype)

  def contains(self, x: jax.Array) -> jax.Array:
    """Whether every entry of ``x`` lies inside the bounds."""
    return jnp.logical_and(jnp.all(x >= self.low), jnp.all(x <= self.high))


class StepResult(tuple):
  """The step output ``(obs, state, reward, terminated, truncated, info)``."""


class Environment(Generic[EnvState, EnvParams]):
  """Base class of every environment in :mod:`tasks`.

  Subclasses implement :meth:`default_params`, :meth:`reset`, :meth:`step`,
  :meth:`observation_space` and :meth:`action_space`. All methods are pure:
  they read configuration from ``self`` (static) and ``params`` (leaves) only.
  """

  @property
  def name(self) -> str:
    """The environment's registered name."""
    return type(self).__name__

  @property
  def default_params(self) -> EnvParams:
    """The task parameters used when none are given."""
    raise NotImplementedError

  def reset(self, key: jax.Array, params: EnvParams) -> tuple[Any, EnvState]:
    """Starts an episode: returns ``(obs, state)``."""
    raise NotImplementedError

  def step(
      self, key: jax.Array, state: EnvState, action: Any, params: EnvParams
  ) -> tuple[Any, EnvState, jax.Array, jax.Array, jax.Array, dict]:
    """Advances one step (no automatic reset).

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``reward`` is a
      float32 scalar, ``terminated`` and ``truncated`` boolean scalars.
    """
    raise NotImplementedError

  def observation_space(self, params: EnvParams) -> Discrete | Box:
    """The space of observations."""
    raise NotImplementedError

  def action_space(self, params: EnvParams) -> Discrete | Box:
    """The space of actions."""
    raise NotImplementedError
