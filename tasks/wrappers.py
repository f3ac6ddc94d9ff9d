"""Environment wrappers: automatic reset and previous-action observations.

Both wrappers are :class:`tasks.Environment` objects with the same API as the
environment they wrap, so they compose (``PrevActionObs(AutoReset(env))`` and
``AutoReset(PrevActionObs(env))`` give the same observations).

* :class:`AutoReset` follows gymnax 1.0: when a step ends the episode
  (``terminated or truncated``) the returned observation and state are those of
  a fresh ``reset``, and the last observation of the finished episode is kept
  in ``info["final_observation"]``.
* :class:`PrevActionObs` appends the previous action (one-hot for discrete
  actions, the raw action for a box) and a "first step of an episode" flag to
  the observation, as the S5 paper's agents see it (popjaxrl's
  ``AliasPrevActionV2``).

References:
  Lange, `gymnax: A JAX-based Reinforcement Learning Environment Library
  <https://github.com/RobertTLange/gymnax>`_, 2022.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment

__all__ = ["AutoReset", "PrevActionObs", "FINAL_OBS_KEY"]

#: ``info`` key under which :class:`AutoReset` stores the episode's last obs.
FINAL_OBS_KEY = "final_observation"


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
  """Leaf-wise ``where(pred, on_true, on_false)`` for a scalar ``pred``."""
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


class _Wrapper(Environment):
  """Forwards everything to the wrapped environment."""

  def __init__(self, env: Environment):
    if not isinstance(env, Environment):
      raise ValueError(
          f"Expected a tasks.Environment to wrap, got {type(env).__name__}."
      )
    self.env = env

  @property
  def episodic(self) -> bool:
    """Whether the wrapped environment can end episodes (default True)."""
    return getattr(self.env, "episodic", True)

  @property
  def unwrapped(self) -> Environment:
    """The innermost environment."""
    return getattr(self.env, "unwrapped", self.env)

  @property
  def name(self) -> str:
    """The wrapped environment's name."""
    return self.env.name

  @property
  def default_params(self) -> Any:
    """The wrapped environment's default parameters."""
    return self.env.default_params

  def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
    """Resets the wrapped environment."""
    return self.env.reset(key, params)

  def step(self, key, state, action, params):
    """Steps the wrapped environment."""
    return self.env.step(key, state, action, params)

  def observation_space(self, params: Any) -> Discrete | Box:
    """The wrapped environment's observation space."""
    return self.env.observation_space(params)

  def action_space(self, params: Any) -> Discrete | Box:
    """The wrapped environment's action space."""
    return self.env.action_space(params)


class AutoReset(_Wrapper):
  """Resets the episode inside ``step`` when it terminates or is truncated.

  ``step(key, state, action, params)`` splits ``key`` into a step key and a
  reset key, steps the wrapped environment, and where ``terminated or
  truncated`` replaces the observation and state by those of
  ``env.reset(reset_key, params)``. ``reward``, ``terminated`` and
  ``truncated`` are those of the finished step. ``info`` is the wrapped
  environment's info plus ``info["final_observation"]``: the observation the
  step actually reached (equal to the returned observation when the episode
  goes on). Use it to bootstrap a truncated episode's value.

  The reset is computed on every step and selected with ``jnp.where`` (no
  ``lax.cond``, which ``vmap`` would turn into the same select). For an
  environment declaring ``episodic = False`` (a single-stream task that never
  ends) the reset is skipped altogether.

  Args:
    env: the environment to wrap.

  References:
    Lange, `gymnax <https://github.com/RobertTLange/gymnax>`_, 2022.
  """

  def step(self, key, state, action, params):
    """Steps, and resets where the episode ended.

    Returns:
      ``(obs, state, reward, terminated, truncated, info)`` with
      ``info["final_observation"]`` as described in the class docstring.
    """
    key_step, key_reset = jax.random.split(key)
    obs, state, reward, terminated, truncated, info = self.env.step(
        key_step, state, action, params
    )
    info = {**info, FINAL_OBS_KEY: obs}
    if not self.episodic:
      return obs, state, reward, terminated, truncated, info
    done = jnp.logical_or(terminated, truncated)
    obs_reset, state_reset = self.env.reset(key_reset, params)
    obs = _select(done, obs_reset, obs)
    state = _select(done, state_reset, state)
    return obs, state, reward, terminated, truncated, info


class PrevActionObs(_Wrapper):
  """Appends the previous action and an episode-start flag to observations.

  The new observation is ``concat([obs, prev_action, [first]])`` where

  * ``prev_action`` is ``one_hot(action, n)`` for ``Discrete(n)`` actions and
    the flattened action for ``Box`` actions; it is zeros on the first
    observation of an episode;
  * ``first`` is 1.0 on the first observation of an episode, else 0.0.

  After ``reset`` the flag is 1. After ``step`` it is 0, unless the wrapped
  environment resets automatically (its ``info`` has ``"final_observation"``,
  i.e. it is an :class:`AutoReset`) and the step ended the episode: then the
  returned observation starts a new episode, so the flag is 1 and the action
  part zeros, and ``info["final_observation"]`` is augmented with the action
  taken and flag 0. This fixes a quirk of popjaxrl's wrapper, which marks only
  the very first observation of a run.

  Args:
    env: the environment to wrap; its observations must be a flat ``Box``.

  Raises:
    ValueError: if the observation space is not a 1-D ``Box`` or the action
      space is neither ``Discrete`` nor ``Box``.

  References:
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
  """

  def __init__(self, env: Environment):
    super().__init__(env)
    params = env.default_params
    obs_space = env.observation_space(params)
    if not isinstance(obs_space, Box) or len(obs_space.shape) != 1:
      raise ValueError(
          "PrevActionObs needs a 1-D Box observation space; got "
          f"{obs_space!r}. Valid choices: Box with shape (d,)."
      )
    if not isinstance(env.action_space(params), Discrete | Box):
      raise ValueError("PrevActionObs supports Discrete or Box actions only.")

  def _action_features(self, action: jax.Array, params: Any) -> jax.Array:
    space = self.env.action_space(params)
    if isinstance(space, Discrete):
      return jax.nn.one_hot(action, space.n, dtype=jnp.float32)
    return jnp.reshape(action, (-1,)).astype(jnp.float32)

  def _augment(self, obs, action_features, first):
    flag = jnp.reshape(first, (1,)).astype(obs.dtype)
    return jnp.concatenate([obs, action_features.astype(obs.dtype), flag])

  def reset(self, key, params):
    """Resets; the action part is zeros and the flag is 1."""
    obs, state = self.env.reset(key, params)
    zeros = jnp.zeros(self._action_size(params), jnp.float32)
    return self._augment(obs, zeros, jnp.ones(())), state

  def step(self, key, state, action, params):
    """Steps and appends ``action`` (zeros at an auto-reset) and the flag."""
    obs, state, reward, terminated, truncated, info = self.env.step(
        key, state, action, params
    )
    features = self._action_features(action, params)
    if FINAL_OBS_KEY in info:
      first = jnp.logical_or(terminated, truncated)
      info = {**info, FINAL_OBS_KEY: self._augment(
          info[FINAL_OBS_KEY], features, jnp.zeros(()))}
    else:
      first = jnp.zeros((), jnp.bool_)
    features = jnp.where(first, jnp.zeros_like(features), features)
    obs = self._augment(obs, features, first)
    return obs, state, reward, terminated, truncated, info

  def _action_size(self, params: Any) -> int:
    space = self.env.action_space(params)
    if isinstance(space, Discrete):
      return space.n
    return math.prod(space.shape)

  def observation_space(self, params: Any) -> Box:
    """The wrapped space extended by the action part and the flag."""
    space = self.env.observation_space(params)
    act = self.env.action_space(params)
    n = self._action_size(params)
    if isinstance(act, Discrete):
      act_low, act_high = jnp.zeros(n), jnp.ones(n)
    else:
      act_low = jnp.broadcast_to(jnp.asarray(act.low, jnp.float32), (n,))
      act_high = jnp.broadcast_to(jnp.asarray(act.high, jnp.float32), (n,))
    d = space.shape[0]
    low = jnp.concatenate([jnp.broadcast_to(
        jnp.asarray(space.low, jnp.float32), (d,)), act_low, jnp.zeros(1)])
    high = jnp.concatenate([jnp.broadcast_to(
        jnp.asarray(space.high, jnp.float32), (d,)), act_high, jnp.ones(1)])
    return Box(low, high, (d + n + 1,), space.dtype)
