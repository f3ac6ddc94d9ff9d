"""POPGym HigherLower, in JAX with the original semantics.

A shuffled deck of ``N = 52 * num_decks`` cards is dealt one card per step;
the observation is the one-hot rank of the newest card (``Box(0, 1, (13,))``,
POPGym's ``Discrete(13)``, rank 0 = ace … 12 = king). The action guesses
whether the next card ranks higher (0) or lower (1) than the one on show
(``Discrete(2)``). A correct guess gives ``+1/N``, a wrong one ``-1/N``, equal
ranks give 0. The episode terminates after ``N - 1`` steps. Counting the cards
already seen improves the odds.

Difficulties (POPGym's): 1 / 2 / 3 decks.

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register
from tasks.popgym import _cards

__all__ = [
  "HIGHER",
  "LOWER",
  "HigherLower",
  "HigherLowerParams",
  "HigherLowerState",
]

HIGHER, LOWER = 0, 1


@pytree_dataclass
class HigherLowerState:
  """State of HigherLower.

  Attributes:
    deck: int32 ``(N,)`` card ids in dealing order; ``deck[time]`` is shown.
    time: int32 scalar, steps taken in this episode.
  """

  deck: jax.Array
  time: jax.Array


@pytree_dataclass
class HigherLowerParams:
  """HigherLower has no task leaves (the deck size is static)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HigherLower(Environment):
  """Guess whether the next card ranks higher or lower than the current one.

  Args:
    num_decks: number of 52-card decks (static; fixes the episode length).

  References:
    Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  num_decks: int = 1

  def __post_init__(self):
    _cards.check_num_decks(self.num_decks)

  @property
  def num_cards(self) -> int:
    """``N = 52 * num_decks``."""
    return _cards.DECK_SIZE * self.num_decks

  @property
  def max_steps(self) -> int:
    """Episode length ``N - 1``."""
    return self.num_cards - 1

  @property
  def default_params(self) -> HigherLowerParams:
    """No task leaves."""
    return HigherLowerParams()

  def _obs(self, state: HigherLowerState) -> jax.Array:
    card = state.deck[jnp.minimum(state.time, self.num_cards - 1)]
    return _cards.one_hot(_cards.rank(card), _cards.NUM_RANKS)

  def reset_with_deck(
    self, deck: jax.Array, params
  ) -> tuple[jax.Array, HigherLowerState]:
    """Starts an episode from a given dealing order (replays and tests).

    Args:
      deck: int ``(N,)`` card ids; ``deck[0]`` is shown at reset.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``.
    """
    del params
    state = HigherLowerState(
      deck=jnp.asarray(deck, jnp.int32), time=jnp.int32(0)
    )
    return self._obs(state), state

  def reset(self, key: jax.Array, params) -> tuple[jax.Array, HigherLowerState]:
    """Shuffles the deck and shows card 0: returns ``(obs, state)``."""
    return self.reset_with_deck(_cards.shuffle(key, self.num_cards), params)

  def step(self, key, state: HigherLowerState, action, params):
    """Deals the next card and scores the guess (0 on equal ranks).

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    del key, params
    last = self.num_cards - 1
    current = _cards.rank(state.deck[jnp.minimum(state.time, last)])
    upcoming = _cards.rank(state.deck[jnp.minimum(state.time + 1, last)])
    correct = (upcoming > current) == (action == HIGHER)
    reward = _cards.pm_reward(correct, 1.0 / self.num_cards)
    reward = jnp.where(upcoming == current, jnp.float32(0.0), reward)
    state = HigherLowerState(deck=state.deck, time=state.time + 1)
    terminated = state.time >= self.max_steps
    return self._obs(state), state, reward, terminated, jnp.bool_(False), {}

  def observation_space(self, params) -> Box:
    """One-hot rank of the newest card: ``Box(0, 1, (13,))``."""
    del params
    return Box(0.0, 1.0, (_cards.NUM_RANKS,), jnp.float32)

  def action_space(self, params) -> Discrete:
    """``Discrete(2)``: 0 = higher, 1 = lower."""
    del params
    return Discrete(2)


for _level, _decks in (("Easy", 1), ("Medium", 2), ("Hard", 3)):
  register(
    f"HigherLower{_level}", functools.partial(HigherLower, num_decks=_decks)
  )
