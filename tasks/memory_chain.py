"""bsuite's memory chain ("memory length"): recall a cue after ``L`` steps.

A context of ``num_bits`` random bits is shown at the start of the episode;
after ``memory_length`` steps the agent sees which bit is queried and must
name its value. Only that final action is rewarded (``+1`` right, ``-1``
wrong). The S5 paper uses it (as gymnax's ``MemoryChain-bsuite``) to compare
memory architectures over growing ``L``.

Semantics match bsuite and gymnax's ``MemoryChain-bsuite`` exactly,
including their timing: the observation returned by a step is computed from
the state *before* the time counter advances, so the context is visible in
the reset observation and again in the first step's observation, and the
query appears in the observation returned by step ``L`` (the one the agent
acts on for the rewarded step ``L + 1``). Observation ``[1 - t/L, query,
context (±1)…]`` with the query shown only at ``t = L - 1`` and the context
only at ``t = 0``. The episode terminates after ``L + 1`` steps.

Registered as ``"MemoryChain"``.

References:
  Osband et al, `Behaviour Suite for Reinforcement Learning
  <https://arxiv.org/abs/1908.03568>`_, 2020.

  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from tasks._base import Box, Discrete, Environment, pytree_dataclass
from tasks._registry import register

__all__ = ["MemoryChain", "MemoryChainParams", "MemoryChainState"]


@pytree_dataclass
class MemoryChainParams:
  """Memory length ``L`` and the (never binding by default) time limit."""

  memory_length: Any = 5
  max_steps_in_episode: Any = 1000


@pytree_dataclass
class MemoryChainState:
  """The hidden context, the queried bit and the time step."""

  context: jax.Array  # [num_bits] int32 in {0, 1}
  query: jax.Array  # () int32 in [0, num_bits)
  time: jax.Array  # () int32


class MemoryChain(Environment[MemoryChainState, MemoryChainParams]):
  """bsuite memory chain with a ``num_bits``-bit context.

  Args:
    num_bits: number of context bits (fixes the observation size
      ``num_bits + 2``).
    memory_length: default ``L``, the number of steps between cue and query.

  References:
    Osband et al, `Behaviour Suite for Reinforcement Learning
    <https://arxiv.org/abs/1908.03568>`_, 2020.
  """

  def __init__(self, *, num_bits: int = 1, memory_length: int = 5):
    if int(num_bits) < 1:
      raise ValueError(f"num_bits must be a positive integer, got {num_bits}.")
    if int(memory_length) < 1:
      raise ValueError(
          f"memory_length must be a positive integer, got {memory_length}."
      )
    self.num_bits = int(num_bits)
    self._memory_length = int(memory_length)

  @property
  def default_params(self) -> MemoryChainParams:
    """``L`` from the constructor and bsuite's 1000-step limit."""
    return MemoryChainParams(memory_length=self._memory_length)

  def reset(self, key, params):
    """Samples the context bits and the query; returns ``(obs, state)``."""
    k_context, k_query = jax.random.split(key)
    context = jax.random.bernoulli(k_context, 0.5, (self.num_bits,))
    query = jax.random.randint(k_query, (), 0, self.num_bits)
    state = MemoryChainState(
        context=context.astype(jnp.int32),
        query=query.astype(jnp.int32),
        time=jnp.int32(0),
    )
    return self.observe(state, params), state

  def observe(self, state: MemoryChainState, params) -> jax.Array:
    """``[1 - t/L, query (at t = L-1), 2·context - 1 (at t = 0)]``."""
    time_left = 1.0 - state.time / params.memory_length
    query = jnp.where(state.time == params.memory_length - 1, state.query, 0)
    context = jnp.where(state.time == 0, 2 * state.context - 1, 0)
    obs = jnp.concatenate([jnp.stack([time_left, query]), context])
    return obs.astype(jnp.float32)

  def step(self, key, state, action, params):
    """Rewards ``±1`` for naming the queried bit once ``t ≥ L``."""
    del key
    obs = self.observe(state, params)  # bsuite: observed before t advances
    answering = state.time >= params.memory_length
    correct = action == state.context[state.query]
    reward = jnp.where(answering, jnp.where(correct, 1.0, -1.0), 0.0)
    new = MemoryChainState(state.context, state.query, state.time + 1)
    terminated = new.time - 1 == params.memory_length
    truncated = new.time >= params.max_steps_in_episode
    return obs, new, reward.astype(jnp.float32), terminated, truncated, {}

  def observation_space(self, params):
    """``Box(-1, max(1, num_bits - 1), (num_bits + 2,))``."""
    del params
    high = max(1.0, float(self.num_bits - 1))
    return Box(-1.0, high, (self.num_bits + 2,), jnp.float32)

  def action_space(self, params):
    """``Discrete(2)``: the guessed value of the queried bit."""
    del params
    return Discrete(2)


register("MemoryChain", lambda **kw: MemoryChain(**kw))
