"""POPGym CountRecall, in JAX with the original semantics.

Two independently shuffled decks of ``N = 52 * num_decks`` cards are dealt
together, one card of each per step: a *value* card and a *query* card, both
reduced to a card attribute with ``d`` values (``deck_type``: colours d=2,
suits d=4 or ranks d=13). POPGym's ``MultiDiscrete([d, d])`` observation is
flattened into a float32 vector of length ``2d``:

* ``obs[0:d]``: one-hot attribute of the value card just dealt;
* ``obs[d:2d]``: one-hot attribute of the query card just dealt.

The action is the count, ``Discrete(N/d + 1)`` (POPGym's ``max_card_count +
1`` answers, not two). Step ``t`` (1-based) rewards ``±1/(N-1)`` for naming
how many value cards dealt so far (cards ``0 … t-1``, including the one shown
with the query) carry the queried attribute of query card ``t-1``. The episode
terminates after ``N - 1`` steps.

Difficulties (POPGym's): (decks, deck_type) = (1, colors) / (2, suits) /
(4, ranks).

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

__all__ = ["CountRecall", "CountRecallParams", "CountRecallState"]


@pytree_dataclass
class CountRecallState:
  """State of CountRecall.

  Attributes:
    values: int32 ``(N,)`` attribute of each value card, in dealing order.
    queries: int32 ``(N,)`` attribute of each query card, in dealing order.
    counts: int32 ``(d,)`` how many dealt value cards carry each attribute.
    time: int32 scalar, steps taken; ``queries[time]`` is the open query.
  """

  values: jax.Array
  queries: jax.Array
  counts: jax.Array
  time: jax.Array


@pytree_dataclass
class CountRecallParams:
  """CountRecall has no task leaves (deck size and type are static)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CountRecall(Environment):
  """Say how often the queried card attribute has been dealt so far.

  Args:
    num_decks: number of 52-card decks in each of the two decks (static).
    deck_type: the counted attribute, ``"colors"``, ``"suits"`` or
      ``"ranks"`` (static; fixes the observation and action sizes).

  References:
    Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  num_decks: int = 1
  deck_type: str = "colors"

  def __post_init__(self):
    _cards.check_num_decks(self.num_decks)
    _cards.check_attribute(self.deck_type)

  @property
  def num_cards(self) -> int:
    """``N = 52 * num_decks``."""
    return _cards.DECK_SIZE * self.num_decks

  @property
  def num_values(self) -> int:
    """``d``, the number of distinct attribute values."""
    return _cards.ATTRIBUTES[self.deck_type]

  @property
  def max_count(self) -> int:
    """``N / d``, the largest possible count (POPGym's max_card_count)."""
    return self.num_cards // self.num_values

  @property
  def max_steps(self) -> int:
    """Episode length ``N - 1``."""
    return self.num_cards - 1

  @property
  def default_params(self) -> CountRecallParams:
    """No task leaves."""
    return CountRecallParams()

  def _obs(self, state: CountRecallState) -> jax.Array:
    d = self.num_values
    i = jnp.minimum(state.time, self.num_cards - 1)
    return jnp.concatenate(
      [
        _cards.one_hot(state.values[i], d),
        _cards.one_hot(state.queries[i], d),
      ]
    )

  def reset_with_decks(
    self, value_deck: jax.Array, query_deck: jax.Array, params
  ) -> tuple[jax.Array, CountRecallState]:
    """Starts an episode from given dealing orders (replays and tests).

    Args:
      value_deck: int ``(N,)`` card ids of the value deck.
      query_deck: int ``(N,)`` card ids of the query deck.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``.
    """
    del params
    values = _cards.attribute(
      jnp.asarray(value_deck, jnp.int32), self.deck_type
    )
    queries = _cards.attribute(
      jnp.asarray(query_deck, jnp.int32), self.deck_type
    )
    counts = jnp.zeros((self.num_values,), jnp.int32).at[values[0]].add(1)
    state = CountRecallState(
      values=values, queries=queries, counts=counts, time=jnp.int32(0)
    )
    return self._obs(state), state

  def reset(self, key: jax.Array, params) -> tuple[jax.Array, CountRecallState]:
    """Shuffles both decks and deals one card of each: ``(obs, state)``."""
    key_values, key_queries = jax.random.split(key)
    return self.reset_with_decks(
      _cards.shuffle(key_values, self.num_cards),
      _cards.shuffle(key_queries, self.num_cards),
      params,
    )

  def step(self, key, state: CountRecallState, action, params):
    """Scores the answered count, then deals the next pair of cards.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    del key, params
    answer = state.counts[state.queries[state.time]]
    reward = _cards.pm_reward(action == answer, 1.0 / self.max_steps)
    t = state.time + 1
    dealt = state.values[jnp.minimum(t, self.num_cards - 1)]
    state = CountRecallState(
      values=state.values,
      queries=state.queries,
      counts=state.counts.at[dealt].add(1),
      time=t,
    )
    terminated = t >= self.max_steps
    return self._obs(state), state, reward, terminated, jnp.bool_(False), {}

  def observation_space(self, params) -> Box:
    """One-hot (value ‖ query): ``Box(0, 1, (2d,))``."""
    del params
    return Box(0.0, 1.0, (2 * self.num_values,), jnp.float32)

  def action_space(self, params) -> Discrete:
    """A count, ``Discrete(N/d + 1)``."""
    del params
    return Discrete(self.max_count + 1)


for _level, _decks, _kind in (
  ("Easy", 1, "colors"),
  ("Medium", 2, "suits"),
  ("Hard", 4, "ranks"),
):
  register(
    f"CountRecall{_level}",
    functools.partial(CountRecall, num_decks=_decks, deck_type=_kind),
  )
