"""POPGym MultiarmedBandit (episodic), in JAX with the original semantics.

Each episode draws the payout probabilities of ``num_bandits`` arms from
``U(0, 1)``. Pulling arm ``a`` (``Discrete(num_bandits)``) succeeds with
probability ``payouts[a]`` and gives ``+1/L``, otherwise ``-1/L``, where ``L``
is the episode length. The observation is POPGym's ``Discrete(2)`` success
bit of the last pull, one-hot (``Box(0, 1, (2,))``); the reset shows 0. The
episode never terminates; it is *truncated* after ``L`` steps.

Difficulties (POPGym's): (arms, L) = (10, 200) / (20, 400) / (30, 600).
``L`` is the task leaf ``EnvParams.max_steps`` (it fixes no shape).

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
  "MultiarmedBandit",
  "MultiarmedBanditParams",
  "MultiarmedBanditState",
]


@pytree_dataclass
class MultiarmedBanditState:
  """State of MultiarmedBandit.

  Attributes:
    payouts: float32 ``(num_bandits,)`` success probability of each arm.
    time: int32 scalar, steps taken in this episode.
  """

  payouts: jax.Array
  time: jax.Array


@pytree_dataclass
class MultiarmedBanditParams:
  """Task parameters of MultiarmedBandit.

  Attributes:
    max_steps: int32 scalar, the episode length ``L`` (truncation and reward
      scale ``1/L``).
  """

  max_steps: jax.Array


@dataclasses.dataclass(frozen=True, kw_only=True)
class MultiarmedBandit(Environment):
  """Episodic Bernoulli bandit with payouts drawn afresh each episode.

  Args:
    num_bandits: number of arms (static; fixes the action space).
    episode_length: default ``L``, stored as the params leaf ``max_steps``.

  References:
    Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  num_bandits: int = 10
  episode_length: int = 200

  def __post_init__(self):
    for name in ("num_bandits", "episode_length"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")

  @property
  def default_params(self) -> MultiarmedBanditParams:
    """``max_steps`` from the constructor's ``episode_length``."""
    return MultiarmedBanditParams(max_steps=jnp.int32(self.episode_length))

  def reset_with_payouts(
    self, payouts: jax.Array, params
  ) -> tuple[jax.Array, MultiarmedBanditState]:
    """Starts an episode with given arm probabilities (replays and tests).

    Args:
      payouts: float ``(num_bandits,)`` success probabilities.
      params: the task parameters (unused).

    Returns:
      ``(obs, state)``; the observation is the one-hot of 0.
    """
    del params
    state = MultiarmedBanditState(
      payouts=jnp.asarray(payouts, jnp.float32), time=jnp.int32(0)
    )
    return _cards.one_hot(jnp.int32(0), 2), state

  def reset(
    self, key: jax.Array, params
  ) -> tuple[jax.Array, MultiarmedBanditState]:
    """Draws payouts ``U(0, 1)``: returns ``(obs, state)``."""
    payouts = jax.random.uniform(key, (self.num_bandits,), jnp.float32)
    return self.reset_with_payouts(payouts, params)

  def step(self, key, state: MultiarmedBanditState, action, params):
    """Pulls arm ``action``: ``±1/L`` and the success bit as observation.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)``; ``terminated``
      is always false, ``truncated`` true after ``max_steps`` steps.
    """
    success = jax.random.uniform(key) < state.payouts[action]
    scale = 1.0 / params.max_steps.astype(jnp.float32)
    reward = _cards.pm_reward(success, scale)
    state = MultiarmedBanditState(payouts=state.payouts, time=state.time + 1)
    truncated = state.time >= params.max_steps
    obs = _cards.one_hot(success.astype(jnp.int32), 2)
    return obs, state, reward, jnp.bool_(False), truncated, {}

  def observation_space(self, params) -> Box:
    """One-hot success bit of the last pull: ``Box(0, 1, (2,))``."""
    del params
    return Box(0.0, 1.0, (2,), jnp.float32)

  def action_space(self, params) -> Discrete:
    """An arm, ``Discrete(num_bandits)``."""
    del params
    return Discrete(self.num_bandits)


for _level, _arms, _length in (
  ("Easy", 10, 200),
  ("Medium", 20, 400),
  ("Hard", 30, 600),
):
  register(
    f"MultiarmedBandit{_level}",
    functools.partial(
      MultiarmedBandit, num_bandits=_arms, episode_length=_length
    ),
  )
