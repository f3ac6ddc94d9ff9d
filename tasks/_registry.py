"""Name → environment registry: ``tasks.make`` and ``tasks.registered``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tasks._base import Environment

__all__ = ["make", "register", "registered"]

_REGISTRY: dict[str, Callable[..., Environment]] = {}


def register(name: str, factory: Callable[..., Environment]) -> None:
  """Registers ``factory`` (called with keyword overrides) under ``name``.

  Raises:
    ValueError: if ``name`` is already registered.
  """
  if name in _REGISTRY:
    raise ValueError(f"Environment {name!r} is already registered.")
  _REGISTRY[name] = factory


def registered() -> tuple[str, ...]:
  """The sorted names of all registered environments."""
  return tuple(sorted(_REGISTRY))


def make(name: str, **kwargs: Any) -> tuple[Environment, Any]:
  """Builds a registered environment and its default parameters.

  Args:
    name: a name from :func:`registered`.
    **kwargs: constructor overrides passed to the environment's factory.

  Returns:
    ``(env, env.default_params)``.

  Raises:
    ValueError: for an unknown name (the message lists the valid names).
  """
  if name not in _REGISTRY:
    raise ValueError(
        f"Unknown environment {name!r}. Registered environments: "
        f"{', '.join(registered())}."
    )
  env = _REGISTRY[name](**kwargs)
  return env, env.default_params
