"""POPGym Concentration (the memory card game), in JAX with the original
semantics.

``N = 52 * num_decks`` cards lie face down at positions ``0 … N-1``; cards
match when their ``deck_type`` attribute (colours, d=2, or ranks, d=13) is
equal. Each step flips one position (``Discrete(N)``); every second fresh flip
closes a turn. POPGym's ``MultiDiscrete([d+1] * N)`` observation (value ``d``
= face down) is flattened into a float32 vector of length ``N * (d+1)``,
position-major: ``obs[p*(d+1) + v] = 1`` when position ``p`` shows ``v``.
The observation after a step shows the matched cards plus the cards in play,
including a just-flipped mismatched pair (which turns face down afterwards).

Rewards (``L = ceil(2N - N/(2N-1))`` is the episode length):

* flipping an already matched card: ``-1/L`` per card in play (1 or 2), and
  the turn ends;
* second flip of a turn that matches the first (another position):
  ``+1/(N/2)``; the pair stays face up; terminated when all are matched;
* second flip that does not match (or repeats the first position): ``-2/L``;
* first flip of a turn: 0.

The episode is truncated after ``L`` steps (104 / 208 / 104).

Difficulties (POPGym's): (decks, deck_type) = (1, colors) / (2, colors) /
(1, ranks).

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register
from tasks.popgym import _cards

__all__ = ["Concentration", "ConcentrationParams", "ConcentrationState"]

_DECK_TYPES = ("colors", "ranks")  # suits have an odd count (13) per value


@pytree_dataclass
class ConcentrationState:
  """State of Concentration.

  Attributes:
    values: int32 ``(N,)`` attribute of the card at each position.
    face_up: bool ``(N,)`` positions already matched.
    first: int32 scalar, position flipped first in the open turn, -1 if none.
    time: int32 scalar, steps taken in this episode.
  """

  values: jax.Array
  face_up: jax.Array
  first: jax.Array
  time: jax.Array


@pytree_dataclass
class ConcentrationParams:
  """Concentration has no task leaves (deck size and type are static)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Concentration(Environment):
  """Flip face-down cards two at a time and remember them to find pairs.

  Args:
    num_decks: number of 52-card decks laid out (static).
    deck_type: what makes a pair, ``"colors"`` or ``"ranks"`` (static).

  References:
    Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  num_decks: int = 1
  deck_type: str = "ranks"

  def __post_init__(self):
    _cards.check_num_decks(self.num_decks)
    if self.deck_type not in _DECK_TYPES:
      raise ValueError(
        f"Unknown deck_type {self.deck_type!r}; valid "
        f"choices: {', '.join(_DECK_TYPES)}."
      )

  @property
  def num_cards(self) -> int:
    """``N = 52 * num_decks``."""
    return _cards.DECK_SIZE * self.num_decks

  @property
  def num_values(self) -> int:
    """``d``, the number of distinct card values (face down is ``d``)."""
    return _cards.ATTRIBUTES[self.deck_type]

  @property
  def max_steps(self) -> int:
    """``L = ceil(2N - N/(2N-1))``, POPGym's episode length."""
    n = self.num_cards
    return math.ceil(2 * n - n / (2 * n - 1))

  @property
  def default_params(self) -> ConcentrationParams:
    """No task leaves."""
    return ConcentrationParams()

  def _obs(self, values: jax.Array, shown: jax.Array) -> jax.Array:
    visible = jnp.where(shown, values, self.num_values)
    return _cards.one_hot(visible, self.num_values + 1).reshape(-1)

  def reset_with_deck(
    self, deck: jax.Array, params
  ) -> tuple[jax.Array, ConcentrationState]:
    """Starts an episode from a given layout (replays and tests).

    Args:
      deck: int ``(N,)`` card id at each position.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``; every card is face down.
    """
    del params
    values = _cards.attribute(jnp.asarray(deck, jnp.int32), self.deck_type)
    face_up = jnp.zeros((self.num_cards,), jnp.bool_)
    state = ConcentrationState(
      values=values, face_up=face_up, first=jnp.int32(-1), time=jnp.int32(0)
    )
    return self._obs(values, face_up), state

  def reset(
    self, key: jax.Array, params
  ) -> tuple[jax.Array, ConcentrationState]:
    """Shuffles the layout, all cards face down: ``(obs, state)``."""
    return self.reset_with_deck(_cards.shuffle(key, self.num_cards), params)

  def step(self, key, state: ConcentrationState, action, params):
    """Flips the card at position ``action`` and scores the turn.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``.
    """
    del key, params
    n, fail = self.num_cards, -1.0 / self.max_steps
    open_turn = state.first >= 0
    first = jnp.where(open_turn, state.first, action)
    in_play = jnp.logical_or(
      jnp.arange(n) == action,
      jnp.logical_and(open_turn, jnp.arange(n) == first),
    )
    obs = self._obs(state.values, jnp.logical_or(state.face_up, in_play))
    already_up = state.face_up[action]
    match = (state.values[first] == state.values[action]) & (first != action)
    reward = jnp.where(match, 1.0 / (n // 2), 2 * fail)
    reward = jnp.where(open_turn, reward, 0.0)
    reward = jnp.where(already_up, fail * (1 + open_turn), reward)
    scored = open_turn & ~already_up & match
    face_up = jnp.where(scored, state.face_up | in_play, state.face_up)
    keep_first = ~open_turn & ~already_up
    state = ConcentrationState(
      values=state.values,
      face_up=face_up,
      first=jnp.where(keep_first, action, -1).astype(jnp.int32),
      time=state.time + 1,
    )
    terminated = scored & jnp.all(face_up)
    truncated = state.time >= self.max_steps
    return obs, state, reward.astype(jnp.float32), terminated, truncated, {}

  def observation_space(self, params) -> Box:
    """Position-major one-hot card values: ``Box(0, 1, (N * (d+1),))``."""
    del params
    return Box(0.0, 1.0, (self.num_cards * (self.num_values + 1),), jnp.float32)

  def action_space(self, params) -> Discrete:
    """A position to flip, ``Discrete(N)``."""
    del params
    return Discrete(self.num_cards)


for _level, _decks, _kind in (
  ("Easy", 1, "colors"),
  ("Medium", 2, "colors"),
  ("Hard", 1, "ranks"),
):
  register(
    f"Concentration{_level}",
    functools.partial(Concentration, num_decks=_decks, deck_type=_kind),
  )
