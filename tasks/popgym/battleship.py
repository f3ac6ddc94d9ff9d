"""POPGym's Battleship: find the ships on a hidden board from hit/miss bits.

Ships of sizes ``(2, 3, 3, 4)`` are placed at random on a square board. Each
step the agent fires at a tile and observes only whether it hit a ship tile
not fired at before. Semantics follow POPGym 1.0.7:

* Easy/Medium/Hard: board 8×8 / 10×10 / 12×12.
* Action: the tile, flattened row-major, ``Discrete(board²)`` (POPGym's
  ``MultiDiscrete([board, board])``; tile ``(i, j)`` is action
  ``i·board + j``).
* Observation: one-hot of the hit bit, ``Box(0, 1, (2,))``; reset shows a
  miss (0).
* Reward: ``+1/H`` for a hit, ``-1/(board² - H)`` otherwise (a repeated shot
  is a miss), with ``H = 12`` ship tiles; so sinking every ship with no miss
  returns 1 and firing at every tile once returns 0.
* Terminates when all ``H`` ship tiles are hit; truncated after ``board²``
  steps.

Ship placement: POPGym draws a start tile, an axis and a direction and rejects
placements that leave the board or overlap earlier ships; every valid
placement (a segment) is then equally likely. We sample that same
distribution without rejection, uniformly among the valid segments.

Registered as ``Battleship{Easy,Medium,Hard}``.

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

__all__ = [
    "Battleship",
    "BattleshipParams",
    "BattleshipState",
    "place_ship",
]

_SHIPS = (2, 3, 3, 4)
_LEVELS = {"Easy": 8, "Medium": 10, "Hard": 12}


@pytree_dataclass
class BattleshipParams:
  """Reward for a hit and for a miss (defaults: POPGym's)."""

  hit_reward: Any
  miss_reward: Any


@pytree_dataclass
class BattleshipState:
  """The hidden board, the tiles fired at, hits so far and time."""

  board: jax.Array  # [board, board] bool, ship tiles
  guesses: jax.Array  # [board, board] bool, tiles fired at
  hits: jax.Array  # () int32
  time: jax.Array  # () int32


def place_ship(
    key: jax.Array, board: jax.Array, size: jax.Array, *, max_size: int
) -> jax.Array:
  """Adds one ship of ``size`` tiles, uniformly among the valid segments.

  Args:
    key: random key.
    board: ``[n, n]`` boolean board of the ships placed so far.
    size: the ship's length (may be traced), ``1 ≤ size ≤ max_size``.
    max_size: a static upper bound on ``size``.

  Returns:
    The ``[n, n]`` board with the new ship.
  """
  n = board.shape[0]
  pad = ((0, max_size - 1), (0, max_size - 1))
  occ = jnp.pad(board.astype(jnp.int32), pad, constant_values=1)
  # Off-board tiles count as occupied. Segment from (i, j) down or right:
  down = sum((k < size) * occ[k : k + n, :n] for k in range(max_size))
  right = sum((k < size) * occ[:n, k : k + n] for k in range(max_size))
  free = jnp.stack([down == 0, (right == 0) & (size > 1)])  # [2, n, n]
  # A 1-tile ship has one placement per tile, hence (size > 1) above.
  counts = jnp.cumsum(free.reshape(-1))
  pick = jax.random.randint(key, (), 0, counts[-1])
  flat = jnp.argmax(counts > pick)  # the pick-th valid placement
  axis, i, j = flat // (n * n), (flat // n) % n, flat % n
  offsets = jnp.arange(max_size)
  rows = jnp.where(axis == 0, i + offsets, i)
  cols = jnp.where(axis == 0, j, j + offsets)
  return board.at[rows, cols].max(offsets < size, mode="drop")


class Battleship(Environment[BattleshipState, BattleshipParams]):
  """Hidden-board Battleship (POPGym Battleship).

  Args:
    board_size: the board's side length.
    ship_sizes: lengths of the ships (static).

  References:
    Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
    Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  def __init__(self, *, board_size: int = 10, ship_sizes=_SHIPS):
    ship_sizes = tuple(int(s) for s in ship_sizes)
    if not ship_sizes or min(ship_sizes) < 1:
      raise ValueError(f"ship_sizes must be positive, got {ship_sizes}.")
    if int(board_size) < max(ship_sizes) or sum(ship_sizes) > (
        board_size**2 // 2
    ):
      raise ValueError(
          f"board_size {board_size} is too small for ships {ship_sizes}."
      )
    self.board_size = int(board_size)
    self.ship_sizes = ship_sizes
    self.needed_hits = sum(ship_sizes)
    self.max_steps_in_episode = self.board_size**2

  @property
  def default_params(self) -> BattleshipParams:
    """POPGym's rewards: ``1/H`` per hit, ``-1/(board² - H)`` per miss."""
    misses = self.max_steps_in_episode - self.needed_hits
    return BattleshipParams(1.0 / self.needed_hits, -1.0 / misses)

  def reset(self, key, params):
    """Places the ships one by one; returns ``(obs, state)``."""
    del params
    n = self.board_size
    place = functools.partial(place_ship, max_size=max(self.ship_sizes))
    board, _ = jax.lax.scan(
        lambda b, ks: (place(ks[0], b, ks[1]), None),
        jnp.zeros((n, n), bool),
        (jax.random.split(key, len(self.ship_sizes)),
         jnp.array(self.ship_sizes)),
    )
    state = BattleshipState(
        board=board,
        guesses=jnp.zeros((n, n), bool),
        hits=jnp.int32(0),
        time=jnp.int32(0),
    )
    return self._one_hot(False), state

  def _one_hot(self, hit) -> jax.Array:
    return jax.nn.one_hot(jnp.asarray(hit, jnp.int32), 2, dtype=jnp.float32)

  def step(self, key, state, action, params):
    """Fires at tile ``action``; observes whether it was a new hit."""
    del key
    i, j = action // self.board_size, action % self.board_size
    hit = state.board[i, j] & ~state.guesses[i, j]
    new = BattleshipState(
        board=state.board,
        guesses=state.guesses.at[i, j].set(True),
        hits=state.hits + hit.astype(jnp.int32),
        time=state.time + 1,
    )
    reward = jnp.where(hit, params.hit_reward, params.miss_reward)
    terminated = new.hits == self.needed_hits
    truncated = new.time >= self.max_steps_in_episode
    obs = self._one_hot(hit)
    return obs, new, reward.astype(jnp.float32), terminated, truncated, {}

  def observation_space(self, params):
    """One-hot hit bit, ``Box(0, 1, (2,))``."""
    del params
    return Box(0.0, 1.0, (2,), jnp.float32)

  def action_space(self, params):
    """``Discrete(board²)``: the tile fired at, row-major."""
    del params
    return Discrete(self.max_steps_in_episode)


def _make(board_size, **kw):
  return Battleship(**{"board_size": board_size, **kw})


for _level, _size in _LEVELS.items():
  register("Battleship" + _level, functools.partial(_make, _size))
