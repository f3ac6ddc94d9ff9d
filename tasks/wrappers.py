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

import functools
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

  Cost. Unbatched, the reset is computed on every step and selected with
  ``jnp.where`` (as in gymnax). Under ``jax.vmap`` over environments a custom
  batching rule avoids most of that work: a step where no environment ended
  computes no reset; a step where ``count`` environments ended, with
  ``count <= k = ceil(partial_reset_fraction * batch)``, resets only ``k``
  (gathered, reset, scattered back); busier steps use the smallest of
  ``2k, 4k, ...`` (below the batch) that holds them, so the reset work stays
  within twice what is needed (e.g. Minesweeper, where a sixth of the batch
  ends at every step); only steps where more ended than the largest of
  those sizes (about half the batch) reset the whole batch. Every
  environment still gets
  ``env.reset(its own reset key, its params)``, so results equal the
  unbatched ones exactly. (Under a second, outer ``vmap`` the rule's branches
  become selects and cost about one full reset, as in gymnax.) For an
  environment declaring ``episodic = False`` the reset is skipped.
  The reset path is not differentiable (``custom_vmap`` has no JVP rule);
  environment transitions carry no gradient here anyway.

  Args:
    env: the environment to wrap.
    partial_reset_fraction: fraction of a vmapped batch that is reset by
      gathering only the finished environments (in ``(0, 1]``).

  Raises:
    ValueError: if ``partial_reset_fraction`` is outside ``(0, 1]``.

  References:
    Lange, `gymnax <https://github.com/RobertTLange/gymnax>`_, 2022.
  """

  def __init__(self, env: Environment, *,
               partial_reset_fraction: float = 0.125):
    super().__init__(env)
    if not 0.0 < partial_reset_fraction <= 1.0:
      raise ValueError("partial_reset_fraction must be in (0, 1], got "
                       f"{partial_reset_fraction}.")
    self.partial_reset_fraction = partial_reset_fraction
    self._reset_where = self._make_reset_where()

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
    if jax.dtypes.issubdtype(key_reset.dtype, jax.dtypes.prng_key):
      impl, key_data = (jax.random.key_impl(key_reset),
                        jax.random.key_data(key_reset))
    else:  # a legacy raw uint32 key
      impl, key_data = None, key_reset
    obs, state = self._reset_where(
        done, key_data, obs, state, params, impl)
    return obs, state, reward, terminated, truncated, info

  def _make_reset_where(self):
    """``(done, key_data, obs, state, params) -> (obs, state)``."""
    reset = self.env.reset

    def unbatched(done, key_data, obs, state, params, impl):
      key = _wrap_key(key_data, impl)
      obs_reset, state_reset = reset(key, params)
      return _select(done, (obs_reset, state_reset), (obs, state))

    def rule(axis_size, in_batched, done, key_data, obs, state, params, impl):
      args = _broadcast_batch(
          axis_size, tuple(in_batched[:4]), (done, key_data, obs, state))
      out = _batched_reset_where(
          reset, axis_size, self.partial_reset_fraction, *args, params,
          jax.tree.map(lambda b: 0 if b else None, in_batched[4]), impl)
      return out, jax.tree.map(lambda _: True, out)

    def reset_where(done, key_data, obs, state, params, impl):
      fn = jax.custom_batching.custom_vmap(
          lambda *a: unbatched(*a, impl))
      fn.def_vmap(lambda n, b, *a: rule(n, b, *a, impl))
      return fn(done, key_data, obs, state, params)

    return reset_where


def _wrap_key(key_data: jax.Array, impl: Any) -> jax.Array:
  """A typed key from its data, or the raw key itself when ``impl`` is None."""
  if impl is None:
    return key_data
  return jax.random.wrap_key_data(key_data, impl=impl)


def _broadcast_batch(axis_size, batched, args):
  """Gives every leaf of ``args`` a leading batch axis of ``axis_size``."""

  def bcast(is_batched, x):
    if is_batched:
      return x
    return jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))

  return jax.tree.map(bcast, batched, args)


def _batched_reset_where(reset, n, fraction, done, key_data, obs, state,
                         params, params_axes, impl):
  """Batched ``where(done, reset(key), (obs, state))``, resetting lazily.

  Args:
    reset: the environment's ``reset(key, params)``.
    n: batch size.
    fraction: smallest batch fraction handled by the gather/scatter path.
    done: ``(n,)`` bool.
    key_data: ``(n, ...)`` raw reset keys.
    obs: batched observations.
    state: batched states.
    params: parameters, batched where ``params_axes`` is 0.
    params_axes: pytree of 0 / None (batched or not) matching ``params``.
    impl: PRNG implementation of the keys (None for raw uint32 keys).

  Returns:
    ``(obs, state)`` with the finished environments reset.
  """
  sizes = _partial_sizes(n, fraction)
  batched_reset = jax.vmap(
      lambda kd, p: reset(_wrap_key(kd, impl), p),
      in_axes=(0, params_axes))
  current = (obs, state)

  def no_reset():
    return current

  def partial_reset(k):
    idx = jnp.nonzero(done, size=k, fill_value=n)[0]  # n marks "unused"
    safe = jnp.minimum(idx, n - 1)
    sub_params = jax.tree.map(
        lambda a, x: x if a is None else x[safe], params_axes, params,
        is_leaf=lambda a: a is None)
    fresh = batched_reset(key_data[safe], sub_params)
    return jax.tree.map(
        lambda cur, new: cur.at[idx].set(new, mode="drop"), current, fresh)

  def full_reset():
    fresh = batched_reset(key_data, params)
    return jax.tree.map(
        lambda new, cur: jnp.where(
            jnp.reshape(done, (n,) + (1,) * (cur.ndim - 1)), new, cur),
        fresh, current)

  count = jnp.sum(done)
  branch = sum((count > k).astype(jnp.int32) for k in (0, *sizes))
  partials = tuple(functools.partial(partial_reset, k) for k in sizes)
  return jax.lax.switch(branch, (no_reset, *partials, full_reset))


def _partial_sizes(n: int, fraction: float) -> list[int]:
  """Sub-batch sizes of the partial resets: ``k, 2k, 4k, ...`` below ``n``."""
  sizes = [max(1, math.ceil(fraction * n))]
  while 2 * sizes[-1] < n:
    sizes.append(2 * sizes[-1])
  return [k for k in sizes if k < n]


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
