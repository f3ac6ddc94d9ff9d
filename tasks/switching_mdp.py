"""Switching MDPs: a single stream that jumps between random grid worlds.

At reset, ``num_mdps`` random grid-world MDPs are drawn from the reset key
(the set is fixed by the seed). Every ``switch_period`` steps the active MDP
is replaced by one drawn uniformly *with replacement* from the set; the MDP of
period ``k = time // switch_period`` is
``bits(fold_in(order_key, k)) % num_mdps`` (32 random bits; the modulo bias
is below ``num_mdps / 2**32``), so the order is fixed by the
seed too and is a pure function of ``state.time`` (period 0 is drawn the same
way). There are no episodes: ``terminated``/``truncated`` are always False.

Each MDP (Luketina et al., §5 and A.2):

* Grid: ``size x size`` cells (default 7x7; the grid size is not given in the
  extracted text of the paper, so 7x7 is our choice), four moves (0 up,
  1 down, 2 left, 3 right). Moving into a wall or the border leaves the agent
  in place.
* Walls: ``max_walls`` (default 15) placements, made one after another; each
  picks a uniformly random unoccupied cell (not a wall, not the MDP's start
  cell) and is kept only if every free cell stays reachable from every other.
  So an MDP has *up to* ``max_walls`` walls and never strands the agent.
  (The connectivity rule is our reading of "up to 15 walls".)
* Rewards: a fixed table ``r(s, a)`` drawn once per MDP: 0 w.p. 0.5, +1
  w.p. 0.2, -1 w.p. 0.2, and ``U[-1, 1]`` w.p. 0.1 (``params.reward_probs``).
  The reward of a step is ``r(s, a)`` of the state it starts in.
* Start cell: uniformly random. At a switch the agent keeps its cell if that
  cell is free in the new MDP, otherwise it moves to the new MDP's start cell.

Observation: the one-hot of the agent's cell (``size * size`` floats); the
agent is not told which MDP is active.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://arxiv.org/abs/2209.06159>`_, 2022.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register

__all__ = ["SwitchingMDP", "SwitchingMDPParams", "SwitchingMDPState"]

_D_ROW = (-1, 1, 0, 0)
_D_COL = (0, 0, -1, 1)
# P(r = 0), P(r = +1), P(r = -1), P(r ~ U[-1, 1]) (Luketina et al.).
_REWARD_PROBS = (0.5, 0.2, 0.2, 0.1)


@pytree_dataclass
class SwitchingMDPParams:
  """Task parameters of :class:`SwitchingMDP` (all leaves).

  Attributes:
    switch_period: steps between MDP switches (int32, > 0).
    reward_probs: probabilities of a reward-table entry being 0, +1, -1 or
      ``U[-1, 1]`` (float32, shape ``(4,)``; used at reset).
  """

  switch_period: jax.Array
  reward_probs: jax.Array


@pytree_dataclass
class SwitchingMDPState:
  """State of :class:`SwitchingMDP` (``N = num_mdps``, ``C = size**2``).

  Attributes:
    walls: wall masks of the N MDPs (bool, ``(N, C)``).
    rewards: reward tables of the N MDPs (float32, ``(N, C, 4)``).
    start: start cells of the N MDPs (int32, ``(N,)``).
    order_key: key that fixes the order of MDPs (typed key scalar).
    agent: the agent's cell ``row * size + col`` (int32 scalar).
    time: steps taken since reset (int32 scalar).
  """

  walls: jax.Array
  rewards: jax.Array
  start: jax.Array
  order_key: jax.Array
  agent: jax.Array
  time: jax.Array


class SwitchingMDP(Environment[SwitchingMDPState, SwitchingMDPParams]):
  """A stream of random grid-world MDPs switched every ``switch_period`` steps.

  Args:
    num_mdps: size N of the MDP set (static; 4 or 1000 in the paper).
    size: side of the square grid (static).
    max_walls: number of wall placements per MDP (static).
    switch_period: default of ``params.switch_period`` (100,000 in the paper).

  Raises:
    ValueError: for ``num_mdps < 1``, ``size < 2``, ``max_walls`` outside
      ``[0, size**2 - 2]`` or ``switch_period < 1``.

  References:
    Luketina et al, `Meta-Gradients in Non-Stationary Environments
    <https://arxiv.org/abs/2209.06159>`_, 2022.
  """

  episodic = False

  def __init__(
      self,
      *,
      num_mdps: int = 4,
      size: int = 7,
      max_walls: int = 15,
      switch_period: int = 100_000,
  ):
    if num_mdps < 1:
      raise ValueError(f"num_mdps must be >= 1, got {num_mdps}.")
    if size < 2:
      raise ValueError(f"size must be >= 2, got {size}.")
    if not 0 <= max_walls <= size * size - 2:
      raise ValueError(
          f"max_walls must be in [0, {size * size - 2}], got {max_walls}.")
    if switch_period < 1:
      raise ValueError(f"switch_period must be >= 1, got {switch_period}.")
    self.num_mdps = num_mdps
    self.size = size
    self.max_walls = max_walls
    self._switch_period = switch_period

  @property
  def default_params(self) -> SwitchingMDPParams:
    """Switch period from the constructor, the paper's reward mixture."""
    return SwitchingMDPParams(
        switch_period=jnp.asarray(self._switch_period, jnp.int32),
        reward_probs=jnp.asarray(_REWARD_PROBS, jnp.float32),
    )

  def reset(
      self, key: jax.Array, params: SwitchingMDPParams
  ) -> tuple[jax.Array, SwitchingMDPState]:
    """Draws the MDP set and the order key; starts in the first MDP."""
    key_mdps, key_order = jax.random.split(key)
    keys = jax.random.split(key_mdps, self.num_mdps)
    walls, rewards, start = jax.vmap(
        self.generate_mdp, in_axes=(0, None))(keys, params.reward_probs)
    time = jnp.zeros((), jnp.int32)
    first = self.mdp_index(key_order, time, params.switch_period)
    state = SwitchingMDPState(
        walls, rewards, start, key_order, start[first], time)
    return self._obs(state.agent), state

  def step(
      self,
      key: jax.Array,
      state: SwitchingMDPState,
      action: jax.Array,
      params: SwitchingMDPParams,
  ) -> tuple[jax.Array, SwitchingMDPState, jax.Array, jax.Array, jax.Array,
             dict]:
    """Pays ``r(s, a)`` of the active MDP, moves, switches MDP on schedule."""
    del key
    period = params.switch_period
    now = self.mdp_index(state.order_key, state.time, period)
    reward = state.rewards[now, state.agent, action].astype(jnp.float32)
    agent = self._move(state.agent, action)
    agent = jnp.where(state.walls[now, agent], state.agent, agent)
    time = state.time + 1
    nxt = self.mdp_index(state.order_key, time, period)
    agent = jnp.where(state.walls[nxt, agent], state.start[nxt], agent)
    new_state = SwitchingMDPState(
        state.walls, state.rewards, state.start, state.order_key, agent, time)
    false = jnp.zeros((), jnp.bool_)
    info = {"mdp_index": now}
    return self._obs(agent), new_state, reward, false, false, info

  def mdp_index(
      self, order_key: jax.Array, time: jax.Array, switch_period: jax.Array
  ) -> jax.Array:
    """Index of the MDP active at step ``time`` (a pure function of time).

    Returns:
      ``bits(fold_in(order_key, time // switch_period)) % num_mdps`` (int32;
      one hash instead of ``randint``'s two, as this runs twice per step).
    """
    period_key = jax.random.fold_in(order_key, time // switch_period)
    bits = jax.random.bits(period_key, (), jnp.uint32)
    return (bits % jnp.uint32(self.num_mdps)).astype(jnp.int32)

  def generate_mdp(
      self, key: jax.Array, reward_probs: jax.Array
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draws one MDP.

    Args:
      key: PRNG key.
      reward_probs: probabilities of 0, +1, -1, ``U[-1, 1]`` (shape ``(4,)``).

    Returns:
      ``(walls, rewards, start)``: bool ``(C,)``, float32 ``(C, 4)`` and an
      int32 cell, with ``C = size**2``.
    """
    key_start, key_walls, key_kind, key_unif = jax.random.split(key, 4)
    n = self.size * self.size
    start = jax.random.randint(key_start, (), 0, n)
    walls = self._place_walls(key_walls, start)
    kind = jax.random.categorical(key_kind, jnp.log(reward_probs), shape=(n, 4))
    uniform = jax.random.uniform(key_unif, (n, 4), jnp.float32, -1.0, 1.0)
    values = jnp.stack([jnp.zeros_like(uniform), jnp.ones_like(uniform),
                        -jnp.ones_like(uniform), uniform], axis=-1)
    rewards = jnp.take_along_axis(values, kind[..., None], axis=-1)[..., 0]
    return walls, rewards, start.astype(jnp.int32)

  def _place_walls(self, key: jax.Array, start: jax.Array) -> jax.Array:
    n = self.size * self.size
    cells = jnp.arange(n)

    def place(walls, key):
      occupied = walls | (cells == start)
      cell = jax.random.categorical(key, jnp.where(occupied, -jnp.inf, 0.0))
      trial = walls | (cells == cell)
      keep = self._connected(trial, start)
      return jnp.where(keep, trial, walls), None

    keys = jax.random.split(key, self.max_walls)
    walls, _ = jax.lax.scan(place, jnp.zeros(n, jnp.bool_), keys)
    return walls

  def _connected(self, walls: jax.Array, start: jax.Array) -> jax.Array:
    """Whether every free cell is reachable from ``start`` (flood fill)."""
    free = ~walls.reshape(self.size, self.size)
    reach = (jnp.arange(self.size * self.size) == start).reshape(free.shape)

    def grow(_, reach):
      pad = jnp.pad(reach, 1)
      nbr = (pad[:-2, 1:-1] | pad[2:, 1:-1] | pad[1:-1, :-2] | pad[1:-1, 2:])
      return reach | (nbr & free)

    reach = jax.lax.fori_loop(0, self.size * self.size - 1, grow, reach)
    return jnp.all(reach == free)

  def observation_space(self, params: SwitchingMDPParams) -> Box:
    """One-hot of the agent's cell."""
    del params
    return Box(0.0, 1.0, (self.size * self.size,), jnp.float32)

  def action_space(self, params: SwitchingMDPParams) -> Discrete:
    """Four moves: up, down, left, right."""
    del params
    return Discrete(4)

  def _move(self, cell: jax.Array, action: jax.Array) -> jax.Array:
    row, col = cell // self.size, cell % self.size
    row = jnp.clip(row + jnp.asarray(_D_ROW)[action], 0, self.size - 1)
    col = jnp.clip(col + jnp.asarray(_D_COL)[action], 0, self.size - 1)
    return (row * self.size + col).astype(jnp.int32)

  def _obs(self, agent: jax.Array) -> jax.Array:
    return jax.nn.one_hot(agent, self.size * self.size, dtype=jnp.float32)


def _make(**kwargs: Any) -> SwitchingMDP:
  return SwitchingMDP(**kwargs)


register("SwitchingMDP", _make)
