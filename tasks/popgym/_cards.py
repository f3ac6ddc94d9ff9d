"""Card-deck helpers shared by the POPGym card tasks.

A deck of ``num_decks`` standard decks holds ``N = 52 * num_decks`` cards with
integer ids ``0 … N-1``. As in POPGym's ``popgym.core.deck.Deck``, card ``c``
has suit ``c % 4``, rank ``(c // 4) % 13`` and colour ``c % 2``. A shuffled
deck is a permutation of the ids, dealt from index 0 upwards.

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

DECK_SIZE = 52
NUM_SUITS = 4
NUM_RANKS = 13
NUM_COLORS = 2

# Card attributes a task may count or match on, with their number of values.
ATTRIBUTES = {"colors": NUM_COLORS, "suits": NUM_SUITS, "ranks": NUM_RANKS}


def check_num_decks(num_decks: int) -> int:
  """Validates a number of decks and returns the number of cards.

  Args:
    num_decks: how many 52-card decks are combined (a positive int).

  Returns:
    ``52 * num_decks``.

  Raises:
    ValueError: if ``num_decks`` is not a positive integer.
  """
  if isinstance(num_decks, bool) or not isinstance(num_decks, int):
    raise ValueError(f"num_decks must be a positive int, got {num_decks!r}.")
  if num_decks < 1:
    raise ValueError(f"num_decks must be >= 1, got {num_decks}.")
  return DECK_SIZE * num_decks


def check_attribute(kind: str) -> int:
  """Validates a card attribute name and returns its number of values.

  Args:
    kind: one of ``"colors"``, ``"suits"``, ``"ranks"``.

  Returns:
    2, 4 or 13.

  Raises:
    ValueError: for any other name (the message lists the valid ones).
  """
  if kind not in ATTRIBUTES:
    raise ValueError(
      f"Unknown deck_type {kind!r}; valid choices: {', '.join(ATTRIBUTES)}."
    )
  return ATTRIBUTES[kind]


def shuffle(key: jax.Array, num_cards: int) -> jax.Array:
  """A uniformly random dealing order: an int32 permutation, shape ``(N,)``."""
  return jax.random.permutation(key, num_cards).astype(jnp.int32)


def suit(cards: jax.Array) -> jax.Array:
  """The suit index (0…3) of each card id."""
  return cards % NUM_SUITS


def rank(cards: jax.Array) -> jax.Array:
  """The rank index (0 = ace … 12 = king) of each card id."""
  return (cards // NUM_SUITS) % NUM_RANKS


def color(cards: jax.Array) -> jax.Array:
  """The colour index (0 = black, 1 = red) of each card id."""
  return cards % NUM_COLORS


def attribute(cards: jax.Array, kind: str) -> jax.Array:
  """The ``kind`` attribute (see :data:`ATTRIBUTES`) of each card id."""
  check_attribute(kind)
  return {"colors": color, "suits": suit, "ranks": rank}[kind](cards)


def one_hot(x: jax.Array, n: int) -> jax.Array:
  """A float32 one-hot encoding of ``x`` over ``n`` classes (last axis)."""
  return jax.nn.one_hot(x, n, dtype=jnp.float32)


def pm_reward(correct: jax.Array, scale: jax.Array | float) -> jax.Array:
  """``+scale`` where ``correct`` else ``-scale``, as a float32 array."""
  scale = jnp.asarray(scale, jnp.float32)
  return jnp.where(correct, scale, -scale).astype(jnp.float32)
