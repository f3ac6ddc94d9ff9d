"""The Q-network: a haiku ReLU MLP from observations to action values.

Luketina et al. (A.1) use two hidden layers of 256 for Q(λ); width and depth
are configurable. Transformed into pure functions with no state.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import haiku as hk
import jax

__all__ = ["QNetwork", "make_q_network"]


class QNetwork(NamedTuple):
  """Pure functions of the Q-network.

  Attributes:
    init: ``init(key, obs [..., D]) -> params``.
    apply: ``apply(params, obs [..., D]) -> q [..., A]``.
    num_actions: A.
  """

  init: Callable
  apply: Callable
  num_actions: int


def make_q_network(*, num_actions: int, width: int = 256,
                   num_layers: int = 2) -> QNetwork:
  """A ``num_layers`` × ``width`` ReLU MLP with ``num_actions`` outputs.

  Raises:
    ValueError: for a non-positive size.
  """
  for name, value in (("num_actions", num_actions), ("width", width),
                      ("num_layers", num_layers)):
    if value < 1:
      raise ValueError(f"{name} must be >= 1, got {value}.")

  def forward(obs: jax.Array) -> jax.Array:
    mlp = hk.nets.MLP([width] * num_layers + [num_actions],
                      activation=jax.nn.relu, name="q")
    return mlp(obs)

  net = hk.without_apply_rng(hk.transform(forward))
  return QNetwork(net.init, net.apply, num_actions)
