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

Only card attributes are ever observed or counted, so both decks are dealt
lazily: the state keeps how many cards of each attribute value are left in
each deck, and each step draws the next pair from those counts with the step
key (:func:`tasks.popgym._sampling.draw_category`), which is exactly the law
of a shuffled deck, with no shuffle (sort) of ``N`` cards at reset.

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

__all__ = ["CountRecall", "CountRecallParams", "CountRecallState"]


@pytree_dataclass
class CountRecallState:
  """State of CountRecall (both decks dealt lazily).

  Attributes:
    value: int32 scalar, attribute of the value card just dealt.
    query: int32 scalar, attribute of the query card just dealt (the open
      query).
    values_left: int32 ``(d,)`` value cards left, per attribute value; the
      count of dealt value cards is ``N/d - values_left``.
    queries_left: int32 ``(d,)`` query cards left, per attribute value.
    time: int32 scalar, steps taken.
  """

  value: jax.Array
  query: jax.Array
  values_left: jax.Array
  queries_left: jax.Array
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
    _sampling.check_deck_size(_cards.check_num_decks(self.num_decks))
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

  def _obs(self, value: jax.Array, query: jax.Array) -> jax.Array:
    d = self.num_values
    return jnp.concatenate([_cards.one_hot(value, d), _cards.one_hot(query, d)])

  def _one_hot_int(self, x: jax.Array) -> jax.Array:
    return (jnp.arange(self.num_values) == x).astype(jnp.int32)

  def _draw(self, key, values_left, queries_left):
    bits = jax.random.bits(key, (2,), jnp.uint32)
    return (
      _sampling.draw_category(values_left, bits[0]),
      _sampling.draw_category(queries_left, bits[1]),
    )

  def reset_with_cards(
    self, value: jax.Array, query: jax.Array, params
  ) -> tuple[jax.Array, CountRecallState]:
    """Starts an episode whose first value / query cards are given.

    Args:
      value: int scalar, attribute (``0 … d-1``) of value card 0.
      query: int scalar, attribute of query card 0.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``.
    """
    del params
    value = jnp.asarray(value, jnp.int32)
    query = jnp.asarray(query, jnp.int32)
    full = jnp.full((self.num_values,), self.max_count, jnp.int32)
    state = CountRecallState(
      value=value,
      query=query,
      values_left=full - self._one_hot_int(value),
      queries_left=full - self._one_hot_int(query),
      time=jnp.int32(0),
    )
    return self._obs(value, query), state

  def reset(self, key: jax.Array, params) -> tuple[jax.Array, CountRecallState]:
    """Deals one card of each full deck: ``(obs, state)``."""
    full = jnp.full((self.num_values,), self.max_count, jnp.int32)
    return self.reset_with_cards(*self._draw(key, full, full), params)

  def answer(self, state: CountRecallState) -> jax.Array:
    """The correct count: dealt value cards with the open query's attribute."""
    return self.max_count - state.values_left[state.query]

  def step_with_cards(self, state: CountRecallState, action, params, value,
                      query):
    """Scores the answered count, then deals the given pair of cards.

    Args:
      state: the current state.
      action: int scalar, the answered count.
      params: the task parameters (unused).
      value: int scalar, attribute of the value card dealt by this step.
      query: int scalar, attribute of the query card dealt by this step.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    del params
    correct = action == self.answer(state)
    reward = _cards.pm_reward(correct, 1.0 / self.max_steps)
    state = CountRecallState(
      value=jnp.asarray(value, jnp.int32),
      query=jnp.asarray(query, jnp.int32),
      values_left=state.values_left - self._one_hot_int(value),
      queries_left=state.queries_left - self._one_hot_int(query),
      time=state.time + 1,
    )
    terminated = state.time >= self.max_steps
    obs = self._obs(state.value, state.query)
    return obs, state, reward, terminated, jnp.bool_(False), {}

  def step(self, key, state: CountRecallState, action, params):
    """Scores the answered count, then deals the next pair of cards.

    Each new card is uniform among the cards left in its deck (drawn with
    ``key``). After the last cards the observation is all zeros.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``N - 1`` steps.
    """
    value, query = self._draw(key, state.values_left, state.queries_left)
    return self.step_with_cards(state, action, params, value, query)

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
