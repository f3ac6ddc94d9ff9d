"""POPGym RepeatFirst and RepeatPrevious, in JAX with the original semantics.

Both deal a shuffled deck of ``N = 52 * num_decks`` cards one card per step
and show the suit of the newest card as a one-hot vector (``Box(0, 1, (4,))``,
POPGym's ``Discrete(4)``). Actions are ``Discrete(4)`` suits. An episode lasts
``N - 1`` steps (the reset shows card 0, step ``t`` shows card ``t``).

* **RepeatFirst**: every step, name the suit of card 0 (shown at reset):
  reward ``±1 / (N - 1)``.
* **RepeatPrevious** (``k``): step ``t`` (1-based) asks for the suit of card
  ``t - k``: the card of observation ``o[t-k]``, exactly ``k`` observations
  before the observation ``o[t]`` that step ``t`` returns (``o[0]`` comes from
  the reset). With ``k = 1`` the answer is the card on show when acting.
  Steps ``t < k`` give 0, the others ``±1 / (N - k)``, so an exact memory
  earns 1 per episode.

Difficulties (POPGym's): RepeatFirst 1 / 8 / 16 decks; RepeatPrevious
(decks, k) = (1, 4) / (2, 32) / (3, 64).

RepeatFirst only ever needs the suit of card 0 and of the newest card, so it
deals lazily: its state keeps the number of cards of each suit still in the
deck, and each step draws the next suit from those counts with the step key
(:func:`tasks.popgym._sampling.draw_category`). That is exactly the law of
the suits of a shuffled deck, without shuffling (and sorting) ``N`` cards at
every reset. RepeatPrevious keeps the whole shuffled deck in its state.

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
from tasks.popgym import _cards, _sampling

__all__ = [
  "RepeatFirst",
  "RepeatFirstParams",
  "RepeatFirstState",
  "RepeatPrevious",
  "RepeatPreviousParams",
  "RepeatState",
]


@pytree_dataclass
class RepeatState:
  """State of RepeatPrevious (the whole shuffled deck).

  Attributes:
    deck: int32 ``(N,)`` card ids in dealing order; ``deck[time]`` is shown.
    time: int32 scalar, steps taken in this episode.
  """

  deck: jax.Array
  time: jax.Array


@pytree_dataclass
class RepeatFirstState:
  """State of RepeatFirst (the deck is dealt lazily).

  Attributes:
    first: int32 scalar, suit of card 0 (the answer at every step).
    suit: int32 scalar, suit of the newest card, on show.
    remaining: int32 ``(4,)`` cards of each suit still in the deck.
    time: int32 scalar, steps taken in this episode.
  """

  first: jax.Array
  suit: jax.Array
  remaining: jax.Array
  time: jax.Array


@pytree_dataclass
class RepeatFirstParams:
  """RepeatFirst has no task leaves (the deck size is static)."""


@pytree_dataclass
class RepeatPreviousParams:
  """Task parameters of RepeatPrevious.

  Attributes:
    k: int32 scalar, how many steps back the queried card lies
      (``1 <= k < N``; checked when built by the environment constructor).
  """

  k: jax.Array


def _one_hot_int(suit: jax.Array) -> jax.Array:
  return (jnp.arange(_cards.NUM_SUITS) == suit).astype(jnp.int32)


class _RepeatSpaces(Environment):
  """Deck size, episode length and spaces of the two repeat tasks."""

  num_decks: int

  @property
  def num_cards(self) -> int:
    """``N = 52 * num_decks``."""
    return _cards.DECK_SIZE * self.num_decks

  @property
  def max_steps(self) -> int:
    """Episode length, ``N - 1`` as in POPGym."""
    return self.num_cards - 1

  def observation_space(self, params) -> Box:
    """One-hot suit of the newest card: ``Box(0, 1, (4,))``."""
    del params
    return Box(0.0, 1.0, (_cards.NUM_SUITS,), jnp.float32)

  def action_space(self, params) -> Discrete:
    """A suit, ``Discrete(4)``."""
    del params
    return Discrete(_cards.NUM_SUITS)


class _RepeatBase(_RepeatSpaces):
  """Deal / observe logic of a repeat task that keeps its whole deck."""

  def _obs(self, state: RepeatState) -> jax.Array:
    return _cards.one_hot(_cards.suit(state.deck[state.time]), _cards.NUM_SUITS)

  def reset_with_deck(
    self, deck: jax.Array, params
  ) -> tuple[jax.Array, RepeatState]:
    """Starts an episode from a given dealing order (replays and tests).

    Args:
      deck: int ``(N,)`` card ids; ``deck[0]`` is shown at reset.
      params: the task parameters (unused here).

    Returns:
      ``(obs, state)``.
    """
    del params
    state = RepeatState(deck=jnp.asarray(deck, jnp.int32), time=jnp.int32(0))
    return self._obs(state), state

  def reset(self, key: jax.Array, params) -> tuple[jax.Array, RepeatState]:
    """Shuffles the deck and shows card 0: returns ``(obs, state)``."""
    return self.reset_with_deck(_cards.shuffle(key, self.num_cards), params)

  def _advance(self, state: RepeatState, reward: jax.Array):
    state = RepeatState(deck=state.deck, time=state.time + 1)
    terminated = state.time >= self.max_steps
    return self._obs(state), state, reward, terminated, jnp.bool_(False), {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RepeatFirst(_RepeatSpaces):
  """Name the suit of the first card dealt, at every step.

  The deck is dealt lazily (see the module docstring): ``reset`` draws card
  0's suit from the full deck, each ``step`` draws the next card's suit from
  the cards left, using its ``key``. :meth:`reset_with_suit` and
  :meth:`step_with_suit` deal a given suit instead (replays and tests).

  Args:
    num_decks: number of 52-card decks (static; fixes the episode length).

  References:
    Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  num_decks: int = 1

  def __post_init__(self):
    _sampling.check_deck_size(_cards.check_num_decks(self.num_decks))

  @property
  def default_params(self) -> RepeatFirstParams:
    """No task leaves."""
    return RepeatFirstParams()

  def _full(self) -> jax.Array:
    per_suit = self.num_cards // _cards.NUM_SUITS
    return jnp.full((_cards.NUM_SUITS,), per_suit, jnp.int32)

  def _draw(self, key: jax.Array, remaining: jax.Array) -> jax.Array:
    bits = jax.random.bits(key, (), jnp.uint32)
    return _sampling.draw_category(remaining, bits)

  def reset_with_suit(
    self, suit: jax.Array, params
  ) -> tuple[jax.Array, RepeatFirstState]:
    """Starts an episode whose card 0 has suit ``suit``.

    Args:
      suit: int scalar in ``[0, 4)``.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``: the one-hot suit and the state with that card dealt.
    """
    del params
    suit = jnp.asarray(suit, jnp.int32)
    state = RepeatFirstState(
      first=suit,
      suit=suit,
      remaining=self._full() - _one_hot_int(suit),
      time=jnp.int32(0),
    )
    return _cards.one_hot(suit, _cards.NUM_SUITS), state

  def reset(self, key: jax.Array, params) -> tuple[jax.Array, RepeatFirstState]:
    """Deals card 0 from a full deck: returns ``(obs, state)``."""
    return self.reset_with_suit(self._draw(key, self._full()), params)

  def step_with_suit(self, state: RepeatFirstState, action, params, suit):
    """Rewards ``±1/(N-1)`` for naming card 0's suit, then deals ``suit``.

    Args:
      state: the current state.
      action: int scalar, the named suit.
      params: the task parameters (unused).
      suit: int scalar, suit of the card dealt by this step (must be one
        still in the deck for a consistent episode).

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    del params
    correct = action == state.first
    reward = _cards.pm_reward(correct, 1.0 / (self.num_cards - 1))
    dealt = _cards.one_hot(suit, _cards.NUM_SUITS)
    state = RepeatFirstState(
      first=state.first,
      suit=jnp.asarray(suit, jnp.int32),
      remaining=state.remaining - _one_hot_int(suit),
      time=state.time + 1,
    )
    terminated = state.time >= self.max_steps
    return dealt, state, reward, terminated, jnp.bool_(False), {}

  def step(self, key, state: RepeatFirstState, action, params):
    """Rewards ``±1/(N-1)`` for naming card 0's suit, then deals a card.

    The dealt card is uniform among the cards left in the deck (drawn with
    ``key``). After the last card the observation is all zeros.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    suit = self._draw(key, state.remaining)
    return self.step_with_suit(state, action, params, suit)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RepeatPrevious(_RepeatBase):
  """Name the suit of the card dealt ``k`` steps back.

  Args:
    num_decks: number of 52-card decks (static; fixes the episode length).
    k: default lag, stored as the params leaf ``k`` (``1 <= k < N``).

  References:
    Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  num_decks: int = 1
  k: int = 4

  def __post_init__(self):
    n = _cards.check_num_decks(self.num_decks)
    if isinstance(self.k, bool) or not isinstance(self.k, int):
      raise ValueError(f"k must be an int, got {self.k!r}.")
    if not 1 <= self.k < n:
      raise ValueError(
        f"k must satisfy 1 <= k < {n} (= 52 * num_decks), got {self.k}."
      )

  @property
  def default_params(self) -> RepeatPreviousParams:
    """``k`` from the constructor."""
    return RepeatPreviousParams(k=jnp.int32(self.k))

  def step(self, key, state: RepeatState, action, params: RepeatPreviousParams):
    """Step ``t``: ``±1/(N-k)`` for the suit of card ``t-k`` (0 if ``t<k``).

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    del key
    t = state.time + 1
    target = state.deck[jnp.maximum(t - params.k, 0)]
    scale = 1.0 / (self.num_cards - params.k).astype(jnp.float32)
    reward = _cards.pm_reward(action == _cards.suit(target), scale)
    reward = jnp.where(t >= params.k, reward, jnp.float32(0.0))
    return self._advance(state, reward)


for _level, _decks in (("Easy", 1), ("Medium", 8), ("Hard", 16)):
  register(
    f"RepeatFirst{_level}", functools.partial(RepeatFirst, num_decks=_decks)
  )
for _level, _decks, _k in (("Easy", 1, 4), ("Medium", 2, 32), ("Hard", 3, 64)):
  register(
    f"RepeatPrevious{_level}",
    functools.partial(RepeatPrevious, num_decks=_decks, k=_k),
  )
