"""Two-Colors: a non-stationary, single-stream 5x5 grid world.

The agent moves on a ``size x size`` grid (default 5x5) holding two coloured
items. Walking onto an item collects it: one colour gives +1, the other -1,
and which colour is the +1 one swaps every ``swap_period`` steps (default
100,000). Every step without a pick-up costs ``step_cost`` (default -0.04).
There are no episodes: ``terminated`` and ``truncated`` are always False.

Observation (``6 * size`` floats, 30 for 5x5): for the agent, then colour 0,
then colour 1, the one-hot of the row followed by the one-hot of the column,

  ``[row(agent), col(agent), row(c0), col(c0), row(c1), col(c1)]``,

each block of length ``size`` (Luketina et al., A.2: "concatenated one-hots of
the x and y coordinates of the agent and both items", 3 x 2 x 5 = 30). The
observation does not reveal which colour is currently rewarding. Cells are
numbered ``row * size + col``.

Actions: 0 up (row - 1), 1 down (row + 1), 2 left (col - 1), 3 right
(col + 1); a move into the border leaves the agent in place.

Swap timing: at ``state.time = t`` steps taken so far, colour 0 is the +1
colour iff ``(t // swap_period)`` is even. So with ``swap_period = P`` steps
``0 … P-1`` use the initial assignment and step ``P`` is the first swapped one
(as in both public replications, which swap after the reward of the P-th step).

Respawn after a pick-up (``respawn``, a params leaf ``respawn_all``):

* ``"item"`` (default): only the collected item moves, to a cell chosen
  uniformly among the cells holding neither the agent nor the other item. This
  is what both public replications do (MagiFeeney/Bootstrapped-Meta-Learning
  ``common/env.py``; a second public gym port behaves the same).
* ``"all"``: both items and the agent re-spawn at three distinct uniformly
  random cells, as Luketina et al. (A.2) describe it.

The -0.04 step cost is in both replications; whether the papers use it is not
verified. It is paid only on steps without a pick-up (as in the replications).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://arxiv.org/abs/2209.06159>`_, 2022.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register

__all__ = ["TwoColors", "TwoColorsParams", "TwoColorsState"]

_RESPAWN_MODES = ("item", "all")
# Row and column offsets of the four moves: up, down, left, right.
_D_ROW = (-1, 1, 0, 0)
_D_COL = (0, 0, -1, 1)


@pytree_dataclass
class TwoColorsParams:
  """Task parameters of :class:`TwoColors` (all leaves, so vmappable).

  Attributes:
    swap_period: steps between swaps of the rewarding colour (int32, > 0).
    step_cost: reward of a step without a pick-up (float32, e.g. -0.04).
    respawn_all: if True, items and agent all re-spawn after a pick-up
      (Luketina et al.); if False only the collected item does (bool).
  """

  swap_period: jax.Array
  step_cost: jax.Array
  respawn_all: jax.Array


@pytree_dataclass
class TwoColorsState:
  """State of :class:`TwoColors`.

  Attributes:
    agent: the agent's cell ``row * size + col`` (int32 scalar).
    items: the cells of colour 0 and colour 1 (int32, shape ``(2,)``).
    time: steps taken since reset (int32 scalar).
  """

  agent: jax.Array
  items: jax.Array
  time: jax.Array


class TwoColors(Environment[TwoColorsState, TwoColorsParams]):
  """The Two-Colors non-stationary grid world (single stream, no episodes).

  Args:
    size: side of the square grid (static; the observation has ``6 * size``
      entries).
    swap_period: default of ``params.swap_period``.
    step_cost: default of ``params.step_cost``.
    respawn: default respawn rule, ``"item"`` or ``"all"`` (sets
      ``params.respawn_all``).

  Raises:
    ValueError: for ``size < 2``, ``swap_period < 1`` or an unknown respawn.

  References:
    Flennerhag et al, `Bootstrapped Meta-Learning
    <https://arxiv.org/abs/2109.04504>`_, 2022.
  """

  episodic = False

  def __init__(
      self,
      *,
      size: int = 5,
      swap_period: int = 100_000,
      step_cost: float = -0.04,
      respawn: str = "item",
  ):
    if size < 2:
      raise ValueError(f"size must be >= 2 (three distinct cells), got {size}.")
    if swap_period < 1:
      raise ValueError(f"swap_period must be >= 1, got {swap_period}.")
    if respawn not in _RESPAWN_MODES:
      raise ValueError(
          f"Unknown respawn {respawn!r}; valid choices: {_RESPAWN_MODES}."
      )
    self.size = size
    self._swap_period = swap_period
    self._step_cost = step_cost
    self._respawn = respawn

  @property
  def default_params(self) -> TwoColorsParams:
    """Parameters from the constructor's defaults."""
    return TwoColorsParams(
        swap_period=jnp.asarray(self._swap_period, jnp.int32),
        step_cost=jnp.asarray(self._step_cost, jnp.float32),
        respawn_all=jnp.asarray(self._respawn == "all"),
    )

  def reset(
      self, key: jax.Array, params: TwoColorsParams
  ) -> tuple[jax.Array, TwoColorsState]:
    """Places the agent and the two items on three distinct random cells."""
    del params
    cells = self._three_distinct_cells(key)
    state = TwoColorsState(
        agent=cells[0], items=cells[1:], time=jnp.zeros((), jnp.int32)
    )
    return self._obs(state), state

  def step(
      self,
      key: jax.Array,
      state: TwoColorsState,
      action: jax.Array,
      params: TwoColorsParams,
  ) -> tuple[jax.Array, TwoColorsState, jax.Array, jax.Array, jax.Array, dict]:
    """Moves the agent, pays for a pick-up or the step cost, re-spawns."""
    agent = self._move(state.agent, action)
    hit = state.items == agent  # (2,) bool, at most one True
    sign = self.colour_signs(state.time, params.swap_period)
    picked = jnp.any(hit)
    reward = jnp.where(picked, jnp.sum(jnp.where(hit, sign, 0.0)),
                       params.step_cost).astype(jnp.float32)
    key_item, key_all = jax.random.split(key)
    free_cell = self._free_cell(key_item, state.items)
    items_one = jnp.where(hit, free_cell, state.items)
    cells = self._three_distinct_cells(key_all)
    respawn_all = jnp.logical_and(picked, params.respawn_all)
    new_state = TwoColorsState(
        agent=jnp.where(respawn_all, cells[0], agent),
        items=jnp.where(respawn_all, cells[1:], items_one),
        time=state.time + 1,
    )
    false = jnp.zeros((), jnp.bool_)
    info = {"positive_colour": jnp.argmax(sign).astype(jnp.int32)}
    return self._obs(new_state), new_state, reward, false, false, info

  def colour_signs(self, time: jax.Array, swap_period: jax.Array) -> jax.Array:
    """Rewards of collecting colour 0 and colour 1 at step ``time``.

    Args:
      time: steps taken so far (int32 scalar).
      swap_period: ``params.swap_period``.

    Returns:
      ``[+1, -1]`` if ``time // swap_period`` is even, else ``[-1, +1]``
      (float32, shape ``(2,)``).
    """
    swapped = (time // swap_period) % 2 == 1
    base = jnp.array([1.0, -1.0], jnp.float32)
    return jnp.where(swapped, -base, base)

  def observation_space(self, params: TwoColorsParams) -> Box:
    """Six concatenated one-hots of length ``size``."""
    del params
    return Box(0.0, 1.0, (6 * self.size,), jnp.float32)

  def action_space(self, params: TwoColorsParams) -> Discrete:
    """Four moves: up, down, left, right."""
    del params
    return Discrete(4)

  def _move(self, cell: jax.Array, action: jax.Array) -> jax.Array:
    row, col = cell // self.size, cell % self.size
    row = jnp.clip(row + jnp.asarray(_D_ROW)[action], 0, self.size - 1)
    col = jnp.clip(col + jnp.asarray(_D_COL)[action], 0, self.size - 1)
    return (row * self.size + col).astype(jnp.int32)

  def _free_cell(self, key: jax.Array, items: jax.Array) -> jax.Array:
    """A uniform cell other than the two (distinct) item cells."""
    u = jax.random.randint(key, (), 0, self.size * self.size - 2)
    return _skip(u, jnp.min(items), jnp.max(items))

  def _three_distinct_cells(self, key: jax.Array) -> jax.Array:
    """A uniformly random ordered triple of distinct cells."""
    n = self.size * self.size
    u = jax.random.randint(key, (3,), 0, jnp.array([n, n - 1, n - 2]))
    second = u[1] + (u[1] >= u[0])
    lo, hi = jnp.minimum(u[0], second), jnp.maximum(u[0], second)
    return jnp.stack([u[0], second, _skip(u[2], lo, hi)]).astype(jnp.int32)

  def _obs(self, state: TwoColorsState) -> jax.Array:
    cells = jnp.concatenate([state.agent[None], state.items])  # (3,)
    coords = jnp.stack([cells // self.size, cells % self.size], axis=1)
    return jax.nn.one_hot(coords.reshape(-1), self.size).reshape(-1)


def _skip(u: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
  """The ``u``-th cell, counting from 0, of all cells except ``lo < hi``."""
  v = u + (u >= lo)
  return (v + (v >= hi)).astype(jnp.int32)


def _make(**kwargs: Any) -> TwoColors:
  return TwoColors(**kwargs)


register("TwoColors", _make)
