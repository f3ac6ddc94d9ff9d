"""POPGym Autoencode, in JAX with the original semantics.

A shuffled deck of ``N = 52 * num_decks`` cards is dealt face up, one card per
step (the *watch* phase); the agent must then recite the suits in reverse
order (the *play* phase). POPGym's observation ``Tuple(Discrete(2),
Discrete(4))`` = (mode, suit) is flattened into a float32 vector of length 6:

* ``obs[0:2]``: one-hot mode, index 0 = PLAY, 1 = WATCH (POPGym's enum);
* ``obs[2:6]``: one-hot suit of the card on show.

The reset shows card 0 in WATCH mode; watch step ``t = 1 … N-1`` shows card
``t``, in WATCH mode except the last one (``t = N-1``), which already carries
the PLAY flag. Watch steps ignore the action and give 0 reward. Play step
``N + j`` (``j = 0 … N-1``) asks for the suit of card ``N-1-j`` and gives
``±1/N``; as in POPGym, play-phase observations are (PLAY, suit 0). The
episode terminates after ``2N - 1`` steps. Actions are ``Discrete(4)``.

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

__all__ = ["Autoencode", "AutoencodeParams", "AutoencodeState"]

PLAY, WATCH = 0, 1


@pytree_dataclass
class AutoencodeState:
  """State of Autoencode.

  Attributes:
    deck: int32 ``(N,)`` card ids in dealing order.
    time: int32 scalar, steps taken in this episode (``< N-1``: watching).
  """

  deck: jax.Array
  time: jax.Array


@pytree_dataclass
class AutoencodeParams:
  """Autoencode has no task leaves (the deck size is static)."""


def _encode(mode: jax.Array, suit: jax.Array) -> jax.Array:
  return jnp.concatenate(
    [_cards.one_hot(mode, 2), _cards.one_hot(suit, _cards.NUM_SUITS)]
  )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Autoencode(Environment):
  """Watch a dealt deck, then recite its suits in reverse order.

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
    """Episode length ``2N - 1`` (POPGym's ``max_episode_length``)."""
    return 2 * self.num_cards - 1

  @property
  def default_params(self) -> AutoencodeParams:
    """No task leaves."""
    return AutoencodeParams()

  def reset_with_deck(
    self, deck: jax.Array, params
  ) -> tuple[jax.Array, AutoencodeState]:
    """Starts an episode from a given dealing order (replays and tests).

    Args:
      deck: int ``(N,)`` card ids; ``deck[0]`` is shown at reset.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``.
    """
    del params
    deck = jnp.asarray(deck, jnp.int32)
    state = AutoencodeState(deck=deck, time=jnp.int32(0))
    return _encode(jnp.int32(WATCH), _cards.suit(deck[0])), state

  def reset(self, key: jax.Array, params) -> tuple[jax.Array, AutoencodeState]:
    """Shuffles the deck and shows card 0: returns ``(obs, state)``."""
    return self.reset_with_deck(_cards.shuffle(key, self.num_cards), params)

  def step(self, key, state: AutoencodeState, action, params):
    """Deals the next card (watch) or scores a recited suit (play).

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is true after ``2N - 1`` steps.
    """
    del key, params
    n = self.num_cards
    t = state.time + 1
    watching = t <= n - 1
    # Play step t asks for card 2N - 1 - t (the last dealt card first).
    target = state.deck[jnp.clip(2 * n - 1 - t, 0, n - 1)]
    reward = _cards.pm_reward(action == _cards.suit(target), 1.0 / n)
    reward = jnp.where(watching, jnp.float32(0.0), reward)
    mode = jnp.where(t < n - 1, WATCH, PLAY)
    suit = jnp.where(
      watching, _cards.suit(state.deck[jnp.minimum(t, n - 1)]), 0
    )
    obs = _encode(mode, suit)
    state = AutoencodeState(deck=state.deck, time=t)
    return obs, state, reward, t >= self.max_steps, jnp.bool_(False), {}

  def observation_space(self, params) -> Box:
    """One-hot (mode ‖ suit): ``Box(0, 1, (6,))``."""
    del params
    return Box(0.0, 1.0, (2 + _cards.NUM_SUITS,), jnp.float32)

  def action_space(self, params) -> Discrete:
    """A suit, ``Discrete(4)``."""
    del params
    return Discrete(_cards.NUM_SUITS)


for _level, _decks in (("Easy", 1), ("Medium", 2), ("Hard", 3)):
  register(
    f"Autoencode{_level}", functools.partial(Autoencode, num_decks=_decks)
  )
