"""Non-stationary Bernoulli bandits: switching and drifting arm means.

Two single-stream bandits (no episodes; ``terminated``/``truncated`` always
False) used as a fast stand-in for the switching-MDP experiments of Luketina
et al. (validation case V5 of our reference notes):

* :class:`SwitchingBandit`: during period ``k = time // switch_period`` arm
  ``i`` pays 1 with probability ``means[(i - k) mod n_arms]``, i.e. the table
  of means rotates by one arm every ``switch_period`` steps, so the best arm
  changes at every switch (for two arms the means swap).
* :class:`DriftingBandit`: the means follow a bounded Gaussian random walk,
  ``m <- reflect(m + drift_rate * z)`` with ``z ~ N(0, I)``, reflected into
  ``[0, 1]``. The increment of step ``t`` is drawn from
  ``fold_in(walk_key, t)`` with ``walk_key`` fixed at reset, so the path of the
  means depends only on the seed and ``state.time``, never on the actions.

The observation is a constant ``[1.0]`` (the learner sees rewards only; wrap
in :class:`tasks.wrappers.PrevActionObs` for the previous action). ``info``
has ``best_arm`` and ``expected_regret`` (best mean minus chosen mean).

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://arxiv.org/abs/2209.06159>`_, 2022.
  Besbes, Gur and Zeevi, `Stochastic Multi-Armed-Bandit Problem with
  Non-stationary Rewards <https://papers.nips.cc/paper/5378>`_, 2014.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register

__all__ = [
    "DriftingBandit",
    "DriftingBanditParams",
    "DriftingBanditState",
    "SwitchingBandit",
    "SwitchingBanditParams",
    "SwitchingBanditState",
    "reflect_unit",
]


def _check_means(means: Sequence[float] | None, n_arms: int,
                 default: jax.Array) -> jax.Array:
  if n_arms < 2:
    raise ValueError(f"n_arms must be >= 2, got {n_arms}.")
  if means is None:
    return default
  means = jnp.asarray(means, jnp.float32)
  if means.shape != (n_arms,):
    raise ValueError(
        f"means must have shape ({n_arms},) (one per arm), got {means.shape}.")
  if not bool(jnp.all((means >= 0.0) & (means <= 1.0))):
    raise ValueError("means must lie in [0, 1] (Bernoulli probabilities).")
  return means


def _pull(key, means, action):
  """Bernoulli reward of ``action`` and the bandit's ``info``."""
  chosen = means[action]
  reward = jax.random.bernoulli(key, chosen).astype(jnp.float32)
  info = {
      "best_arm": jnp.argmax(means).astype(jnp.int32),
      "expected_regret": (jnp.max(means) - chosen).astype(jnp.float32),
  }
  return reward, info


class _Bandit(Environment):
  """Shared spaces and observation of the bandits."""

  episodic = False
  n_arms: int

  def observation_space(self, params: Any) -> Box:
    """A constant one-dimensional observation ``[1.0]``."""
    del params
    return Box(0.0, 1.0, (1,), jnp.float32)

  def action_space(self, params: Any) -> Discrete:
    """One action per arm."""
    del params
    return Discrete(self.n_arms)

  @staticmethod
  def _obs() -> jax.Array:
    return jnp.ones((1,), jnp.float32)


@pytree_dataclass
class SwitchingBanditParams:
  """Task parameters of :class:`SwitchingBandit`.

  Attributes:
    means: arm means of period 0 (float32, ``(n_arms,)``, in ``[0, 1]``).
    switch_period: steps between rotations of the means (int32, > 0).
  """

  means: jax.Array
  switch_period: jax.Array


@pytree_dataclass
class SwitchingBanditState:
  """State of :class:`SwitchingBandit`.

  Attributes:
    time: steps taken since reset (int32 scalar).
  """

  time: jax.Array


class SwitchingBandit(_Bandit):
  """Bernoulli bandit whose means rotate by one arm every ``switch_period``.

  Args:
    n_arms: number of arms (static).
    means: default ``params.means``; by default arm 0 pays 0.9 and the others
      0.1.
    switch_period: default ``params.switch_period`` (2,000, as in V5).

  Raises:
    ValueError: for ``n_arms < 2``, means of the wrong shape or outside
      ``[0, 1]``, or ``switch_period < 1``.

  References:
    Luketina et al, `Meta-Gradients in Non-Stationary Environments
    <https://arxiv.org/abs/2209.06159>`_, 2022.
  """

  def __init__(self, *, n_arms: int = 2,
               means: Sequence[float] | None = None,
               switch_period: int = 2_000):
    default = jnp.full((max(n_arms, 1),), 0.1, jnp.float32).at[0].set(0.9)
    self._means = _check_means(means, n_arms, default)
    if switch_period < 1:
      raise ValueError(f"switch_period must be >= 1, got {switch_period}.")
    self.n_arms = n_arms
    self._switch_period = switch_period

  @property
  def default_params(self) -> SwitchingBanditParams:
    """Means and switch period from the constructor."""
    return SwitchingBanditParams(
        means=self._means,
        switch_period=jnp.asarray(self._switch_period, jnp.int32))

  def current_means(self, time: jax.Array,
                    params: SwitchingBanditParams) -> jax.Array:
    """Arm means at step ``time``: ``means[(i - time // P) mod n_arms]``."""
    shift = (time // params.switch_period) % self.n_arms
    return jnp.roll(params.means, shift)

  def reset(self, key, params):
    """Starts at ``time = 0``."""
    del key, params
    return self._obs(), SwitchingBanditState(time=jnp.zeros((), jnp.int32))

  def step(self, key, state, action, params):
    """Pulls ``action``: reward 1 w.p. its current mean, else 0."""
    reward, info = _pull(key, self.current_means(state.time, params), action)
    false = jnp.zeros((), jnp.bool_)
    new_state = SwitchingBanditState(time=state.time + 1)
    return self._obs(), new_state, reward, false, false, info


@pytree_dataclass
class DriftingBanditParams:
  """Task parameters of :class:`DriftingBandit`.

  Attributes:
    initial_means: arm means at reset (float32, ``(n_arms,)``, in ``[0, 1]``).
    drift_rate: standard deviation of each step's increment (float32, >= 0).
  """

  initial_means: jax.Array
  drift_rate: jax.Array


@pytree_dataclass
class DriftingBanditState:
  """State of :class:`DriftingBandit`.

  Attributes:
    means: current arm means (float32, ``(n_arms,)``).
    walk_key: key of the random walk, fixed at reset (typed key scalar).
    time: steps taken since reset (int32 scalar).
  """

  means: jax.Array
  walk_key: jax.Array
  time: jax.Array


def reflect_unit(x: jax.Array) -> jax.Array:
  """Reflects ``x`` into ``[0, 1]`` (``-0.1 -> 0.1``, ``1.2 -> 0.8``)."""
  y = jnp.mod(x, 2.0)
  return jnp.where(y > 1.0, 2.0 - y, y)


class DriftingBandit(_Bandit):
  """Bernoulli bandit whose means follow a reflected Gaussian random walk.

  Args:
    n_arms: number of arms (static).
    initial_means: default ``params.initial_means``; by default evenly spaced
      in ``[0.1, 0.9]``.
    drift_rate: default ``params.drift_rate`` (0.01 per step).

  Raises:
    ValueError: for ``n_arms < 2``, bad means or ``drift_rate < 0``.

  References:
    Besbes, Gur and Zeevi, `Stochastic Multi-Armed-Bandit Problem with
    Non-stationary Rewards <https://papers.nips.cc/paper/5378>`_, 2014.
  """

  def __init__(self, *, n_arms: int = 10,
               initial_means: Sequence[float] | None = None,
               drift_rate: float = 0.01):
    default = jnp.linspace(0.1, 0.9, max(n_arms, 1), dtype=jnp.float32)
    self._means = _check_means(initial_means, n_arms, default)
    if drift_rate < 0:
      raise ValueError(f"drift_rate must be >= 0, got {drift_rate}.")
    self.n_arms = n_arms
    self._drift_rate = drift_rate

  @property
  def default_params(self) -> DriftingBanditParams:
    """Initial means and drift rate from the constructor."""
    return DriftingBanditParams(
        initial_means=self._means,
        drift_rate=jnp.asarray(self._drift_rate, jnp.float32))

  def reset(self, key, params):
    """Sets the means to ``initial_means`` and fixes the walk's key."""
    state = DriftingBanditState(
        means=jnp.asarray(params.initial_means, jnp.float32),
        walk_key=key, time=jnp.zeros((), jnp.int32))
    return self._obs(), state

  def step(self, key, state, action, params):
    """Pulls ``action`` with the current means, then drifts the means."""
    reward, info = _pull(key, state.means, action)
    noise = jax.random.normal(
        jax.random.fold_in(state.walk_key, state.time), (self.n_arms,))
    means = reflect_unit(state.means + params.drift_rate * noise)
    new_state = DriftingBanditState(means, state.walk_key, state.time + 1)
    false = jnp.zeros((), jnp.bool_)
    return self._obs(), new_state, reward, false, false, info


register("SwitchingBandit", lambda **kw: SwitchingBandit(**kw))
register("DriftingBandit", lambda **kw: DriftingBandit(**kw))
