"""POPGym's position-only (stateless) CartPole and Pendulum, noisy or not.

The velocities are removed from the observation, so the task needs memory.
Semantics follow POPGym 1.0.7 (``PositionOnlyCartPole``,
``NoisyPositionOnlyCartPole``, ``PositionOnlyPendulum``,
``NoisyPositionOnlyPendulum``):

* CartPole: observation ``[x, θ]``; reward ``1/L`` per step (``-1`` for a step
  taken from an already terminal state); terminates as CartPole-v1, truncated
  after ``L`` steps. Easy/Medium/Hard: ``L`` = 200/400/600.
* Pendulum: observation ``[cos θ, sin θ]``; the gym reward ``r ∈ [-16.27, 0]``
  is mapped to ``(r/8.1368 + 1)/L`` so a return lies in ``[-1, 1]``; truncated
  after ``L`` steps. Easy/Medium/Hard: ``L`` = 200/150/100.
* Noisy variants add ``N(0, σ²)`` noise to each observation entry (at reset
  too) and clip to the observation bounds; σ = 0.1/0.2/0.3 for
  Easy/Medium/Hard, ``L`` = 200 for every level.

Registered as ``StatelessCartPole{Easy,Medium,Hard}`` (and POPGym's
``PositionOnlyCartPole…``), ``NoisyStatelessCartPole…``
(``NoisyPositionOnlyCartPole…``), ``StatelessPendulum…``
(``PositionOnlyPendulum…``) and ``NoisyStatelessPendulum…``
(``NoisyPositionOnlyPendulum…``). The randomly projected meta-RL versions of
the position-only tasks (Lu et al., 2023) are registered here too:
``MetaStatelessCartPole``, ``MetaStatelessPendulum``,
``MetaNoisyStatelessCartPole`` and ``MetaNoisyStatelessPendulum`` (σ = 0.1).

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.

  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Environment, pytree_dataclass
from tasks._registry import register
from tasks.control import (
    CartPole,
    ObservationProjectionMeta,
    Pendulum,
    RandomProjectionMeta,
)

__all__ = [
    "NoisyStatelessCartPole",
    "NoisyStatelessPendulum",
    "StatelessCartPole",
    "StatelessControlParams",
    "StatelessPendulum",
]

# Pendulum-v1's reward lies in [-(π² + 0.1·8² + 0.001·2²), 0] (POPGym's bound).
_PENDULUM_HALF_RANGE = 16.2736044 / 2


@pytree_dataclass
class StatelessControlParams:
  """The inner control task's params and the observation noise scale."""

  control: Any  # CartPoleParams or PendulumParams (episode length inside)
  noise_sigma: Any = 0.0


class _PositionOnly(Environment):
  """Shared logic: hide the velocities, rescale the reward, add noise."""

  _keep: tuple[int, ...]

  def __init__(self, inner: Environment, noise_sigma: float):
    if float(noise_sigma) < 0:
      raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}.")
    self._inner = inner
    self._noise_sigma = float(noise_sigma)

  @property
  def default_params(self) -> StatelessControlParams:
    """The inner task's default params and this env's noise scale."""
    return StatelessControlParams(
        self._inner.default_params, self._noise_sigma
    )

  def _observe(self, key, inner_obs, params) -> jax.Array:
    obs = inner_obs[jnp.array(self._keep)]
    noise = params.noise_sigma * jax.random.normal(key, obs.shape)
    space = self.observation_space(params)
    noisy = jnp.clip(obs + noise, space.low, space.high)
    # Without noise POPGym does not clip; keep the raw observation then.
    return jnp.where(params.noise_sigma > 0, noisy, obs).astype(jnp.float32)

  def reset(self, key, params):
    """Resets the inner task; returns the (noisy) position observation."""
    k_inner, k_noise = jax.random.split(key)
    inner_obs, state = self._inner.reset(k_inner, params.control)
    return self._observe(k_noise, inner_obs, params), state

  def step(self, key, state, action, params):
    """Steps the inner task; rescales its reward as POPGym does."""
    k_inner, k_noise = jax.random.split(key)
    inner_obs, state, reward, term, trunc, info = self._inner.step(
        k_inner, state, action, params.control
    )
    obs = self._observe(k_noise, inner_obs, params)
    return obs, state, self._reward(reward, params), term, trunc, info

  def _reward(self, reward, params) -> jax.Array:
    raise NotImplementedError

  def action_space(self, params):
    """The inner task's action space."""
    return self._inner.action_space(params.control)


class StatelessCartPole(_PositionOnly):
  """CartPole observed through ``[x, θ]`` only (POPGym PositionOnlyCartPole).

  Args:
    max_steps_in_episode: episode length ``L`` (reward ``1/L`` per step).
    noise_sigma: standard deviation of the observation noise.

  References:
    Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
    Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  _keep = (0, 2)

  def __init__(self, *, max_steps_in_episode: int = 200, noise_sigma=0.0):
    inner = CartPole(max_steps_in_episode=max_steps_in_episode)
    super().__init__(inner, noise_sigma)

  def _reward(self, reward, params):
    scale = 1.0 / params.control.max_steps_in_episode
    return jnp.where(reward == 0, -1.0, scale).astype(jnp.float32)

  def observation_space(self, params):
    """``Box`` with POPGym's bounds ``±[4.8, 24°]``."""
    c = params.control
    high = jnp.stack([2 * c.x_threshold, 2 * c.theta_threshold_radians])
    high = high.astype(jnp.float32)
    return Box(-high, high, (2,), jnp.float32)


class StatelessPendulum(_PositionOnly):
  """Pendulum observed through ``[cos θ, sin θ]`` (POPGym PositionOnlyPendulum).

  Args:
    max_steps_in_episode: episode length ``L``.
    noise_sigma: standard deviation of the observation noise.

  References:
    Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
    Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  _keep = (0, 1)

  def __init__(self, *, max_steps_in_episode: int = 200, noise_sigma=0.0):
    inner = Pendulum(max_steps_in_episode=max_steps_in_episode)
    super().__init__(inner, noise_sigma)

  def _reward(self, reward, params):
    scaled = (reward + _PENDULUM_HALF_RANGE) / _PENDULUM_HALF_RANGE
    return (scaled / params.control.max_steps_in_episode).astype(jnp.float32)

  def observation_space(self, params):
    """``Box(-1, 1, (2,))``."""
    del params
    return Box(-1.0, 1.0, (2,), jnp.float32)


class NoisyStatelessCartPole(StatelessCartPole):
  """Position-only CartPole with observation noise (POPGym's noisy variant).

  Args:
    max_steps_in_episode: episode length ``L``.
    noise_sigma: standard deviation of the observation noise.

  References:
    Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
    Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  def __init__(self, *, max_steps_in_episode: int = 200, noise_sigma=0.1):
    super().__init__(
        max_steps_in_episode=max_steps_in_episode, noise_sigma=noise_sigma
    )


class NoisyStatelessPendulum(StatelessPendulum):
  """Position-only Pendulum with observation noise (POPGym's noisy variant).

  Args:
    max_steps_in_episode: episode length ``L``.
    noise_sigma: standard deviation of the observation noise.

  References:
    Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
    Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  """

  def __init__(self, *, max_steps_in_episode: int = 200, noise_sigma=0.1):
    super().__init__(
        max_steps_in_episode=max_steps_in_episode, noise_sigma=noise_sigma
    )


_LEVELS = ("Easy", "Medium", "Hard")
_VARIANTS = {
    # ours, POPGym's, constructor, per-level settings
    ("StatelessCartPole", "PositionOnlyCartPole", StatelessCartPole): [
        {"max_steps_in_episode": n} for n in (200, 400, 600)
    ],
    ("NoisyStatelessCartPole", "NoisyPositionOnlyCartPole",
     NoisyStatelessCartPole): [{"noise_sigma": s} for s in (0.1, 0.2, 0.3)],
    ("StatelessPendulum", "PositionOnlyPendulum", StatelessPendulum): [
        {"max_steps_in_episode": n} for n in (200, 150, 100)
    ],
    ("NoisyStatelessPendulum", "NoisyPositionOnlyPendulum",
     NoisyStatelessPendulum): [{"noise_sigma": s} for s in (0.1, 0.2, 0.3)],
}


def _make(cls, settings, **kw):
  return cls(**{**settings, **kw})


for (_ours, _theirs, _cls), _settings in _VARIANTS.items():
  for _level, _setting in zip(_LEVELS, _settings, strict=True):
    _factory = functools.partial(_make, _cls, _setting)
    register(_ours + _level, _factory)
    register(_theirs + _level, _factory)


def _make_meta(cls, noise_sigma, **kw):
  return RandomProjectionMeta(cls(noise_sigma=noise_sigma), **kw)


register("MetaStatelessCartPole",
         functools.partial(_make_meta, StatelessCartPole, 0.0))
register("MetaStatelessPendulum",
         functools.partial(_make_meta, StatelessPendulum, 0.0))
register("MetaNoisyStatelessCartPole",
         functools.partial(_make_meta, StatelessCartPole, 0.1))
register("MetaNoisyStatelessPendulum",
         functools.partial(_make_meta, StatelessPendulum, 0.1))


def _make_popjaxrl_meta(*, noise_sigma=0.0, **kw):
  return ObservationProjectionMeta(StatelessCartPole(noise_sigma=noise_sigma),
                                   **kw)


# popjaxrl's NoisyStatelessMetaCartPole (noise 0): observation-only projection.
register("MetaStatelessCartPolePopjaxrl", _make_popjaxrl_meta)
# The same with the trial-done entry always 0 (an ablation: can the agent
# still count trials?).
register("MetaStatelessCartPolePopjaxrlNoTrialFlag",
         functools.partial(_make_popjaxrl_meta, trial_done_flag=False))
# The same with 8 to 16 trials per meta-episode, drawn at reset (an
# ablation: can the agent still time a switch by the episode's end?).
register("MetaStatelessCartPolePopjaxrlRandomTrials",
         functools.partial(_make_popjaxrl_meta, min_trials=8))
# The same with 32 trials per meta-episode (an ablation: is the length of
# the in-context rise set by the number of trials trained on?).
register("MetaStatelessCartPolePopjaxrl32Trials",
         functools.partial(_make_popjaxrl_meta, num_trials=32))
# The same with POPGym's observation noise (sigma 0.1 / 0.2 / 0.3 on [x, θ],
# before the projection; an ablation: less evidence per trial).
for _level, _sigma in zip(_LEVELS, (0.1, 0.2, 0.3), strict=True):
  register("MetaNoisyStatelessCartPolePopjaxrl" + _level,
           functools.partial(_make_popjaxrl_meta, noise_sigma=_sigma))
