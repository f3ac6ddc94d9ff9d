"""Sort-free sampling without replacement for the POPGym tasks.

``jax.random.permutation`` and ``jax.random.choice(replace=False)`` sort, and
on the CPU a batched sort of a 208- or 832-card deck costs far more than a
whole episode of steps. The tasks therefore sample without replacement by
exact sequential constructions that need no sort:

* :func:`draw_category`: the next card of a shuffled deck, reduced to one
  attribute, drawn from the counts of the cards still in the deck (a card is
  uniform among the remaining ones, so its attribute ``c`` has probability
  ``remaining[c] / sum(remaining)``: the law of a shuffled deck, dealt lazily
  one card per step).
* :func:`random_subset`: a uniformly random ``m``-subset of ``n`` cells by
  Floyd's algorithm (``m`` draws, no sort).

Both consume 32-bit random words and turn them into bounded integers with
:func:`uniform_below` (``floor(bits * bound / 2**32)``, exact in 32-bit
arithmetic). Its bias is at most ``bound / 2**32`` per outcome (below ``2e-7``
for a deck of 832 cards), far below anything a test or an agent can see.

References:
  Bentley and Floyd, `Programming Pearls: A Sample of Brilliance
  <https://doi.org/10.1145/30401.315746>`_, CACM 1987 (Floyd's algorithm).
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Largest bound :func:`uniform_below` accepts (products must fit 32 bits).
MAX_BOUND = 2**16 - 1


def check_deck_size(num_cards: int) -> int:
  """Validates a lazily dealt deck's size and returns it.

  Args:
    num_cards: number of cards (``52 * num_decks``).

  Returns:
    ``num_cards``.

  Raises:
    ValueError: if it exceeds :data:`MAX_BOUND` (1260 decks).
  """
  if num_cards > MAX_BOUND:
    raise ValueError(
      f"A lazily dealt deck holds at most {MAX_BOUND} cards "
      f"({MAX_BOUND // 52} decks), got {num_cards}."
    )
  return num_cards


def uniform_below(bits: jax.Array, bound: jax.Array | int) -> jax.Array:
  """Maps uniform 32-bit words to integers in ``[0, bound)``.

  Computes ``floor(bits * bound / 2**32)`` exactly with 16-bit halves, so no
  64-bit type is needed. Each value in ``[0, bound)`` has probability
  ``1/bound`` up to a relative error of ``bound / 2**32``.

  Args:
    bits: uint32 array of uniform random words.
    bound: positive int (or int array broadcasting with ``bits``), at most
      :data:`MAX_BOUND`.

  Returns:
    int32 array of the broadcast shape, with values in ``[0, bound)``.
  """
  bound = jnp.asarray(bound).astype(jnp.uint32)
  bits = jnp.asarray(bits, jnp.uint32)
  high, low = bits >> 16, bits & 0xFFFF
  return ((high * bound + ((low * bound) >> 16)) >> 16).astype(jnp.int32)


def draw_category(remaining: jax.Array, bits: jax.Array) -> jax.Array:
  """Index of the next card's attribute, dealt from the remaining cards.

  Card ``u = uniform_below(bits, sum(remaining))`` of the remaining cards,
  sorted by attribute, is dealt; its attribute is the first ``c`` with
  ``cumsum(remaining)[c] > u``. So ``c`` has probability
  ``remaining[c] / sum(remaining)``.

  Args:
    remaining: int32 ``(d,)`` counts of the cards left, per attribute value
      (positive sum, at most :data:`MAX_BOUND`).
    bits: uint32 scalar random word.

  Returns:
    int32 scalar in ``[0, d)`` with ``remaining[c] > 0``.
  """
  u = uniform_below(bits, jnp.sum(remaining))
  # An unrolled running sum: d is small (2 to 13), and XLA's CPU cumsum is a
  # quadratic reduce-window that costs more than the rest of a step.
  category, cumulative = jnp.int32(0), jnp.int32(0)
  for c in range(remaining.shape[0] - 1):
    cumulative = cumulative + remaining[c]
    category = category + (cumulative <= u).astype(jnp.int32)
  return category


def random_subset(key: jax.Array, n: int, m: int) -> jax.Array:
  """A uniformly random ``m``-subset of ``range(n)`` as a boolean mask.

  Floyd's algorithm: for ``j = n - m, ..., n - 1`` draw ``t`` uniform in
  ``[0, j]`` and add ``t``, or ``j`` if ``t`` is already taken. Every
  ``m``-subset has probability ``1 / C(n, m)``. ``m`` is static and the
  loop unrolled; the set is a bitmask of ``ceil(n / 32)`` uint32 words, so a
  draw costs a few word operations (no sort, no ``(n,)``-wide work).

  Args:
    key: PRNG key.
    n: number of items (static, ``1 <= n <= MAX_BOUND``).
    m: subset size (static, ``0 <= m <= n``).

  Returns:
    bool ``(n,)`` mask with exactly ``m`` entries set.

  Raises:
    ValueError: if ``n`` or ``m`` is out of range.

  References:
    Bentley and Floyd, `Programming Pearls: A Sample of Brilliance
    <https://doi.org/10.1145/30401.315746>`_, CACM 1987.
  """
  if not 1 <= n <= MAX_BOUND or not 0 <= m <= n:
    raise ValueError(
      f"random_subset needs 1 <= n <= {MAX_BOUND} and 0 <= m <= n, got "
      f"n={n}, m={m}."
    )
  bits = jax.random.bits(key, (max(m, 1),), jnp.uint32)
  words = [jnp.uint32(0)] * (-(-n // 32))
  for i, j in enumerate(range(n - m, n)):
    t = uniform_below(bits[i], j + 1)
    taken = _test_bit(words, t)
    words = _set_bit(words, jnp.where(taken, j, t))
  cells = jnp.arange(n, dtype=jnp.uint32)
  stacked = jnp.stack(words)[cells >> 5]
  return ((stacked >> (cells & 31)) & 1).astype(jnp.bool_)


def _test_bit(words: list[jax.Array], t: jax.Array) -> jax.Array:
  """Whether bit ``t`` of the bitmask ``words`` (uint32 scalars) is set."""
  t = t.astype(jnp.uint32)
  word = words[0]
  for w in range(1, len(words)):
    word = jnp.where((t >> 5) == w, words[w], word)
  return ((word >> (t & 31)) & 1) == 1


def _set_bit(words: list[jax.Array], t: jax.Array) -> list[jax.Array]:
  """The bitmask ``words`` with bit ``t`` set."""
  t = t.astype(jnp.uint32)
  bit = jnp.uint32(1) << (t & 31)
  return [
    word | jnp.where((t >> 5) == w, bit, jnp.uint32(0))
    for w, word in enumerate(words)
  ]
