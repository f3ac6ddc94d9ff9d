"""POPGym's MineSweeper: minesweeper on a hidden board.

Mines are hidden under a grid of tiles. Each step the agent clicks a tile and
observes only the number of mines in that tile's 3×3 neighbourhood (the tile
itself included, as in POPGym); the board is never shown, so the agent must
remember what it has clicked. Semantics follow POPGym 1.0.7:

* Easy/Medium/Hard: 4×4 board with 2 mines, 6×6 with 6, 8×8 with 10.
* Action: the tile, flattened row-major, ``Discrete(rows·cols)`` (POPGym's
  ``MultiDiscrete([rows, cols])``; tile ``(i, j)`` is action ``i·cols + j``).
* Observation: one-hot of the neighbour count over
  ``min(num_mines + 1, 10)`` values, which covers every count that can occur
  (0 … min(num_mines, 9)); the reset observation is the one-hot of 0.
* Reward: ``+1/(cells - mines)`` for a new safe tile; ``-0.5 - 1/(cells -
  mines)`` for a mine (terminates); ``-0.5/(cells - mines - 2)`` for a tile
  already clicked. Clicking every safe tile wins (terminates) with return 1.
* Truncated after ``cells - mines`` steps unless terminated.

Registered as ``Minesweeper{Easy,Medium,Hard}`` and POPGym's
``MineSweeper{Easy,Medium,Hard}``.

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register
from tasks.popgym import _sampling

__all__ = ["Minesweeper", "MinesweeperParams", "MinesweeperState"]

_LEVELS = {"Easy": (4, 4, 2), "Medium": (6, 6, 6), "Hard": (8, 8, 10)}


@pytree_dataclass
class MinesweeperParams:
  """Reward scales (defaults: POPGym's, derived from the board)."""

  success_reward: Any  # per new safe tile
  mine_reward: Any  # for clicking a mine
  repeat_reward: Any  # for clicking an already viewed tile


@pytree_dataclass
class MinesweeperState:
  """The hidden board, the viewed tiles and the time step."""

  mines: jax.Array  # [rows * cols] bool
  viewed: jax.Array  # [rows * cols] bool
  neighbours: jax.Array  # [rows * cols] int32, mines in the 3×3 block
  time: jax.Array  # () int32


def neighbour_counts(mines: jax.Array) -> jax.Array:
  """Mines in each tile's 3×3 neighbourhood, the tile included.

  Args:
    mines: ``[rows, cols]`` boolean board.

  Returns:
    ``[rows, cols]`` int32 counts (tiles outside the board count as empty).
  """
  padded = jnp.pad(mines.astype(jnp.int32), 1)
  rows, cols = mines.shape
  return sum(
      padded[1 + di : 1 + di + rows, 1 + dj : 1 + dj + cols]
      for di in (-1, 0, 1)
      for dj in (-1, 0, 1)
  )


class Minesweeper(Environment[MinesweeperState, MinesweeperParams]):
  """Hidden-board minesweeper (POPGym MineSweeper).

  Args:
    rows: board height.
    cols: board width.
    num_mines: number of mines, ``1 ≤ num_mines ≤ rows·cols - 3``.

  References:
    Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
    Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  def __init__(self, *, rows: int = 4, cols: int = 4, num_mines: int = 2):
    if int(rows) < 1 or int(cols) < 1:
      raise ValueError(f"rows and cols must be positive, got {rows}, {cols}.")
    if not 1 <= int(num_mines) <= rows * cols - 3:
      raise ValueError(
          f"num_mines must lie in [1, rows*cols - 3 = {rows * cols - 3}], "
          f"got {num_mines}."
      )
    self.rows, self.cols, self.num_mines = int(rows), int(cols), int(num_mines)
    self.num_cells = self.rows * self.cols
    self.max_steps_in_episode = self.num_cells - self.num_mines
    self.num_obs = min(self.num_mines + 1, 10)

  @property
  def default_params(self) -> MinesweeperParams:
    """POPGym's reward scales for this board."""
    n = self.max_steps_in_episode
    return MinesweeperParams(
        success_reward=1.0 / n,
        mine_reward=-0.5 - 1.0 / n,
        repeat_reward=-0.5 / (n - 2),
    )

  def reset(self, key, params):
    """Places ``num_mines`` mines uniformly without replacement.

    Uses Floyd's algorithm (:func:`tasks.popgym._sampling.random_subset`):
    every set of ``num_mines`` tiles is equally likely, as with POPGym's
    ``choice(replace=False)``, without the sort behind JAX's ``choice``.
    """
    del params
    mines = _sampling.random_subset(key, self.num_cells, self.num_mines)
    grid = mines.reshape(self.rows, self.cols)
    state = MinesweeperState(
        mines=mines,
        viewed=jnp.zeros((self.num_cells,), bool),
        neighbours=neighbour_counts(grid).reshape(-1),
        time=jnp.int32(0),
    )
    return self._one_hot(jnp.int32(0)), state

  def _one_hot(self, count) -> jax.Array:
    return jax.nn.one_hot(count, self.num_obs, dtype=jnp.float32)

  def step(self, key, state, action, params):
    """Clicks tile ``action``; observes its neighbour count."""
    del key
    is_mine = state.mines[action]
    seen = state.viewed[action]
    reward = jnp.where(
        is_mine,
        params.mine_reward,
        jnp.where(seen, params.repeat_reward, params.success_reward),
    )
    viewed = state.viewed.at[action].set(state.viewed[action] | ~is_mine)
    new = MinesweeperState(
        state.mines, viewed, state.neighbours, state.time + 1
    )
    won = jnp.all(viewed | state.mines)
    terminated = is_mine | won
    truncated = (new.time == self.max_steps_in_episode) & ~terminated
    obs = self._one_hot(state.neighbours[action])
    return obs, new, reward.astype(jnp.float32), terminated, truncated, {}

  def observation_space(self, params):
    """One-hot neighbour count, ``Box(0, 1, (min(num_mines + 1, 10),))``."""
    del params
    return Box(0.0, 1.0, (self.num_obs,), jnp.float32)

  def action_space(self, params):
    """``Discrete(rows·cols)``: the clicked tile, row-major."""
    del params
    return Discrete(self.num_cells)


def _make(rows, cols, num_mines, **kw):
  return Minesweeper(**{"rows": rows, "cols": cols, "num_mines": num_mines,
                        **kw})


for _level, _board in _LEVELS.items():
  _factory = functools.partial(_make, *_board)
  register("Minesweeper" + _level, _factory)
  register("MineSweeper" + _level, _factory)
