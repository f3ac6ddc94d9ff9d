"""Haiku actor-critic network: encoder, resettable core, policy and value heads.

The encoder is a two-layer leaky-ReLU MLP, the core any resettable core of
:mod:`agents.cores` (S5 by default), the policy head a categorical (or, for
continuous actions, diagonal Gaussian with a state-independent log standard
deviation) distribution and the value head a scalar, as the S5 agents of
Lu et al. (2023). Everything is transformed into pure functions.

The sizes, activation and orthogonal gains are options (:data:`ACTIVATIONS`;
the paper: encoder 128 → 256, heads 128 → 128 with gain 2, see
:func:`make_networks`), and ``reset=False`` feeds the core no episode
boundaries (popjaxrl's ``NO_RESET`` ablation).

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as onp

from agents import cores
from agents.actor_critic.types import Array, CoreState, Params

__all__ = ["ACTIVATIONS", "ActorCriticNet", "Networks", "SeparateMLPNet",
           "make_networks", "orthogonal"]

_LOGITS_SCALE = 0.01  # Gain of the policy output layer (Lu et al., 2023).

#: Hidden activations of the encoder and heads, by name.
ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "leaky_relu": jax.nn.leaky_relu, "relu": jax.nn.relu, "tanh": jnp.tanh,
    "gelu": jax.nn.gelu}


def orthogonal(scale: float = 1.0) -> hk.initializers.Initializer:
  """Orthogonal initialiser (Saxe et al., 2014), rank-promotion safe.

  Haiku's own broadcasts a vector against a matrix, which tests run with
  ``jax_numpy_rank_promotion='raise'`` reject.
  """

  def init(shape, dtype):
    rows, cols = shape[0], int(onp.prod(shape[1:]))
    a = jax.random.normal(hk.next_rng_key(), (max(rows, cols), min(rows, cols)),
                          jnp.float32)
    q, r = jnp.linalg.qr(a)
    q = q * jnp.sign(jnp.diagonal(r))[None, :]
    q = q.T if rows < cols else q
    return (scale * q).reshape(shape).astype(dtype)

  return init


def _with_log_std(mean: Array, num_actions: int) -> Array:
  """``[..., 2A]``: the Gaussian mean and a state-independent, learned
  log standard deviation (initialised at 0)."""
  log_std = hk.get_parameter("log_std", (num_actions,), mean.dtype,
                             jnp.zeros)
  return jnp.concatenate([mean, jnp.broadcast_to(log_std, mean.shape)], -1)


class ActorCriticNet(hk.Module):
  """Encoder -> core -> (policy head, value head).

  The policy output is ``[..., A]`` logits for discrete actions, or
  ``[..., 2A]`` (mean, log-std) for a diagonal Gaussian.
  """

  def __init__(self, *, core: str, width: int, num_actions: int,
               continuous: bool = False, core_kwargs: dict | None = None,
               encoder_sizes: tuple[int, ...] | None = None,
               head_sizes: tuple[int, ...] | None = None,
               activation: str = "leaky_relu",
               hidden_gain: float = float(onp.sqrt(2.0)),
               head_gain: float | None = None, reset: bool = True,
               name: str | None = None):
    """Builds the network.

    Args:
      core: a name in :data:`agents.cores.CORE_NAMES`.
      width: core width (and, by default, encoder and head width).
      num_actions: A, number of actions (or action dimensions).
      continuous: diagonal Gaussian policy instead of categorical.
      core_kwargs: extra keyword arguments of the core.
      encoder_sizes: encoder layer sizes (default ``(width, width)``; Lu
        et al.: ``(128, 256)``).
      head_sizes: hidden sizes of each head (default ``(width,)``; Lu et
        al.: ``(128, 128)``).
      activation: a name in :data:`ACTIVATIONS`, after every hidden layer.
      hidden_gain: orthogonal gain of the encoder (and heads) layers.
      head_gain: orthogonal gain of the heads' hidden layers (default
        ``hidden_gain``; Lu et al.: 2).
      reset: wipe the core at episode starts; ``False`` is popjaxrl's
        ``NO_RESET`` ablation (the core never sees a boundary).
      name: haiku module name.
    """
    super().__init__(name=name)
    if activation not in ACTIVATIONS:
      raise ValueError(f"Unknown activation {activation!r}; valid: "
                       f"{tuple(ACTIVATIONS)}.")
    self._num_actions = num_actions
    self._continuous = continuous
    self._act = ACTIVATIONS[activation]
    self._reset = reset
    orth = orthogonal(hidden_gain)
    head = orthogonal(hidden_gain if head_gain is None else head_gain)
    sizes = (width, width) if encoder_sizes is None else encoder_sizes
    self._encoder = [hk.Linear(n, w_init=orth, name=f"enc_{i}")
                     for i, n in enumerate(sizes)]
    self.core = cores.make_core(core, width=width, **(core_kwargs or {}))
    heads = (width,) if head_sizes is None else head_sizes
    self._policy = [hk.Linear(n, w_init=head, name=f"pi_{i}")
                    for i, n in enumerate(heads)] + [
        hk.Linear(num_actions, name="pi_out",
                  w_init=orthogonal(_LOGITS_SCALE))]
    self._value = [hk.Linear(n, w_init=head, name=f"v_{i}")
                   for i, n in enumerate(heads)] + [
        hk.Linear(1, name="v_out", w_init=orthogonal(1.0))]

  def _mlp(self, layers, x: Array, *, final: bool) -> Array:
    """``layers`` on rows ``x``, activating all but (unless ``final``) the
    last."""
    for i, layer in enumerate(layers):
      x = layer(x)
      if final or i < len(layers) - 1:
        x = self._act(x)
    return x

  def _encode(self, obs: Array) -> Array:
    # Dense maps run on [N, D] rows: the same numbers as on [T, B, D], but a
    # 2-D dot's weight gradient is faster on CPU (bench/core_throughput.py).
    x = self._mlp(self._encoder, obs.reshape(-1, obs.shape[-1]), final=True)
    return x.reshape(obs.shape[:-1] + x.shape[-1:])

  def _heads(self, h: Array) -> tuple[Array, Array]:
    rows = h.reshape(-1, h.shape[-1])
    pi = self._mlp(self._policy, rows, final=False)
    v = self._mlp(self._value, rows, final=False)
    pi = pi.reshape(h.shape[:-1] + pi.shape[-1:])
    v = v.reshape(h.shape[:-1])
    if self._continuous:
      pi = _with_log_std(pi, self._num_actions)
    return pi, v

  def initial_state(self, batch_size: int) -> CoreState:
    """The core's initial state for ``batch_size`` streams."""
    return self.core.initial_state(batch_size)

  def unroll(self, obs: Array, resets: Array, state: CoreState):
    """Sequence mode: ``obs [T, B, D]``, ``resets [T, B]``.

    Returns:
      ``(policy_out [T, B, ·], values [T, B], final_state)``.
    """
    if not self._reset:
      resets = jnp.zeros_like(resets)
    h, state = self.core.unroll(self._encode(obs), resets, state)
    return (*self._heads(h), state)

  def step(self, obs: Array, reset: Array, state: CoreState):
    """One acting step: ``obs [B, D]``, ``reset [B]``.

    Returns:
      ``(policy_out [B, ·], values [B], state)``.
    """
    if not self._reset:
      reset = jnp.zeros_like(reset)
    h, state = self.core.step(self._encode(obs), reset, state)
    return (*self._heads(h), state)


class SeparateMLPNet(hk.Module):
  """Separate policy and value MLPs (two ReLU hidden layers each), no core.

  The actor-critic networks of Luketina et al. (2022, Table 3: 2 × 256
  each) and Flennerhag et al. (2022) on Two-Colors. Same interface as
  :class:`ActorCriticNet` with the empty state of the ``mlp`` core.
  """

  def __init__(self, *, width: int, num_actions: int,
               continuous: bool = False, name: str | None = None):
    """Builds the network.

    Args:
      width: hidden width of both MLPs.
      num_actions: A.
      continuous: diagonal Gaussian policy instead of categorical.
      name: haiku module name.
    """
    super().__init__(name=name)
    self._num_actions = num_actions
    self._continuous = continuous
    self._policy = hk.nets.MLP([width, width, num_actions], name="policy")
    self._value = hk.nets.MLP([width, width, 1], name="value")

  def _apply(self, obs: Array) -> tuple[Array, Array]:
    rows = obs.reshape(-1, obs.shape[-1])
    pi = self._policy(rows).reshape(obs.shape[:-1] + (self._num_actions,))
    v = self._value(rows).reshape(obs.shape[:-1])
    if self._continuous:
      pi = _with_log_std(pi, self._num_actions)
    return pi, v

  def initial_state(self, batch_size: int) -> CoreState:
    """The empty state (no memory)."""
    del batch_size
    return cores.MLPState()

  def unroll(self, obs: Array, resets: Array, state: CoreState):
    """Sequence mode: ``(policy_out [T, B, ·], values [T, B], state)``."""
    del resets
    return (*self._apply(obs), state)

  def step(self, obs: Array, reset: Array, state: CoreState):
    """One step: ``(policy_out [B, ·], values [B], state)``."""
    del reset
    return (*self._apply(obs), state)


class Networks(NamedTuple):
  """Pure functions of the agent network.

  Attributes:
    init: ``init(key, obs [T, B, D], resets [T, B]) -> params``.
    unroll: ``unroll(params, obs [T, B, D], resets [T, B], state)
      -> (policy_out, values, final_state)``.
    step: ``step(params, obs [B, D], reset [B], state)
      -> (policy_out, values, state)``.
    initial_state: ``initial_state(batch_size) -> state`` (no parameters).
  """

  init: Callable[..., Params]
  unroll: Callable[..., tuple[Array, Array, Any]]
  step: Callable[..., tuple[Array, Array, Any]]
  initial_state: Callable[[int], CoreState]


def make_networks(*, core: str, width: int, num_actions: int,
                  continuous: bool = False,
                  core_kwargs: dict | None = None,
                  separate: bool = False,
                  net_kwargs: dict | None = None) -> Networks:
  """Transforms :class:`ActorCriticNet` into pure functions.

  Args:
    core: a name in :data:`agents.cores.CORE_NAMES`.
    width: network width.
    num_actions: A.
    continuous: diagonal Gaussian policy.
    core_kwargs: extra keyword arguments of the core.
    separate: :class:`SeparateMLPNet` (``core`` must be ``"mlp"``).
    net_kwargs: further keyword arguments of :class:`ActorCriticNet`
      (``encoder_sizes``, ``head_sizes``, ``activation``, ``hidden_gain``,
      ``head_gain``, ``reset``); not with ``separate``.

  Returns:
    :class:`Networks`.
  """
  if separate and core != "mlp":
    raise ValueError(f"separate networks need core='mlp', got {core!r}.")
  if separate and net_kwargs:
    raise ValueError("net_kwargs apply to the shared network only, not to "
                     f"separate=True; got {sorted(net_kwargs)}.")
  if core not in cores.CORE_NAMES:
    raise ValueError(f"Unknown core {core!r}; valid: {cores.CORE_NAMES}.")

  def forward():
    if separate:
      net = SeparateMLPNet(width=width, num_actions=num_actions,
                           continuous=continuous)
    else:
      net = ActorCriticNet(core=core, width=width, num_actions=num_actions,
                           continuous=continuous, core_kwargs=core_kwargs,
                           **(net_kwargs or {}))

    def init(obs, resets):
      return net.unroll(obs, resets, net.initial_state(obs.shape[1]))

    return init, (net.unroll, net.step, net.initial_state)

  fns = hk.without_apply_rng(hk.multi_transform(forward))
  unroll, step, initial_state = fns.apply
  return Networks(
      init=fns.init,
      unroll=unroll,
      step=step,
      initial_state=lambda batch_size: initial_state({}, batch_size),
  )
