"""Data-parallel training of the actor-critic agent with ``jax.sharding``.

The ``B = num_envs`` environments (and their core states) are split over a
one-axis device mesh (axis ``"data"``); network parameters, optimiser
states, meta-parameters and the context are replicated. The training
iteration is the unchanged single-device function, compiled by ``jax.jit``
with these input and output shardings: XLA's SPMD partitioner (GSPMD) runs
each device's share of the rollouts and inserts the all-reduces that turn
the per-device partial sums of the batch means (losses, gradients and
meta-gradients) into global ones. No ``pmap``, no hand-written ``psum``.
Single-device runs are the special case of a one-device mesh.

On several hosts, call :func:`maybe_initialize_distributed` first on every
process (same arguments except ``process_id``); :func:`make_mesh` then spans
the devices of all processes and every process runs the same program.

References:
  Xu et al, `GSPMD: General and Scalable Parallelization for ML Computation
  Graphs <https://arxiv.org/abs/2105.04663>`_, 2021.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as onp
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from agents.actor_critic.acting import ActorState
from agents.actor_critic.training import (
  Agent,
  TrainState,
  init_state,
  iteration,
)
from agents.actor_critic.types import Metrics, PRNGKey

__all__ = [
    "DATA_AXIS", "init_sharded_state", "make_mesh", "make_sharded_iteration",
    "make_sharded_train", "maybe_initialize_distributed", "place_leaf",
    "shard_state", "state_shardings",
]

#: Name of the mesh axis that the environment batch is split over.
DATA_AXIS = "data"
# ActorState fields without the environment axis (all others are [B, ...]).
_UNBATCHED_ACTOR_FIELDS = ("key",)


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A one-axis mesh named :data:`DATA_AXIS` over ``devices``.

  The axis type is ``Auto``: shardings are propagated by XLA from the
  shardings of the jitted function's inputs and outputs.

  Args:
    devices: devices to use; default ``jax.devices()`` (all devices of all
      processes after :func:`maybe_initialize_distributed`).

  Returns:
    A ``jax.sharding.Mesh`` of shape ``(len(devices),)``.
  """
  devices = list(jax.devices() if devices is None else devices)
  if not devices:
    raise ValueError("make_mesh needs at least one device; got none.")
  return Mesh(onp.array(devices), (DATA_AXIS,), axis_types=(AxisType.Auto,))


def _batched_spec(leaf: Any, num_envs: int) -> P:
  """``P("data")`` for a ``[B, ...]`` actor leaf, checking its shape."""
  shape = getattr(leaf, "shape", ())
  if not shape or shape[0] != num_envs:
    raise ValueError(
        f"Every batched actor leaf must have leading axis B={num_envs}; got "
        f"shape {tuple(shape)}.")
  return P(DATA_AXIS)


def state_shardings(state: TrainState, mesh: Mesh) -> TrainState:
  """The ``NamedSharding`` of every leaf of a training state.

  The actor's environment states, observations, reset flags, core states
  and running returns (every actor field but the key; leading axis ``B``)
  are split over :data:`DATA_AXIS`; the actor's key, the learner
  (parameters, optimiser state, context) and the meta state are
  replicated.

  Args:
    state: a :class:`~agents.actor_critic.training.TrainState`, concrete or
      abstract (e.g. from ``jax.eval_shape``).
    mesh: a mesh from :func:`make_mesh`.

  Returns:
    A ``TrainState``-shaped pytree of ``NamedSharding``.

  Raises:
    ValueError: if ``B`` is not a multiple of the mesh size.
  """
  num_envs, num_devices = state.actor.reset.shape[0], mesh.size
  if num_envs % num_devices:
    raise ValueError(
        f"num_envs={num_envs} must be a multiple of the number of devices "
        f"({num_devices}) to split the environments over the mesh; valid "
        f"num_envs: multiples of {num_devices}.")
  replicated = NamedSharding(mesh, P())
  split = lambda leaf: NamedSharding(  # noqa: E731
      mesh, _batched_spec(leaf, num_envs))
  actor_shardings = ActorState(**{
      name: replicated if name in _UNBATCHED_ACTOR_FIELDS
      else jax.tree.map(split, field)
      for name, field in state.actor._asdict().items()})
  return TrainState(
      learner=jax.tree.map(lambda _: replicated, state.learner),
      meta=jax.tree.map(lambda _: replicated, state.meta),
      actor=actor_shardings,
      pending=jax.tree.map(lambda _: replicated, state.pending))


def _abstract_state(agent: Agent) -> TrainState:
  return jax.eval_shape(lambda k: init_state(k, agent), jax.random.key(0))


def place_leaf(leaf, sharding: jax.sharding.Sharding) -> jax.Array:
  """``jax.device_put(leaf, sharding)``, also onto other processes' devices.

  A leaf already laid out as ``sharding`` (e.g. restored by orbax) is kept;
  a global array is resharded; a process-local value (equal on every
  process, as a fresh ``init`` of the same key is) goes through its host
  copy, since JAX places host values, not committed device arrays, on
  devices of other processes (and checks that they are equal).

  Args:
    leaf: an array (``jax.Array``, NumPy, or a typed PRNG key array).
    sharding: where to put it.

  Returns:
    ``leaf`` laid out as ``sharding``.
  """
  if isinstance(leaf, jax.Array):
    if leaf.sharding.is_equivalent_to(sharding, leaf.ndim):
      return leaf
    if sharding.is_fully_addressable or not leaf.is_fully_addressable:
      return jax.device_put(leaf, sharding)
  elif sharding.is_fully_addressable:
    return jax.device_put(leaf, sharding)
  if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
    data = place_leaf(jax.random.key_data(leaf), sharding)
    return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
  return jax.device_put(onp.asarray(leaf), sharding)


def shard_state(state: TrainState, mesh: Mesh) -> TrainState:
  """Places ``state`` on ``mesh`` as :func:`state_shardings` prescribes.

  On several processes every process must pass the same values, e.g.
  ``init_state`` of the same key or the same restored checkpoint; JAX
  checks this. :func:`init_sharded_state` avoids the host round trip.

  Args:
    state: a concrete training state.
    mesh: a mesh from :func:`make_mesh`.

  Returns:
    The same values as ``jax.Array`` s sharded over the mesh.
  """
  return jax.tree.map(place_leaf, state, state_shardings(state, mesh))


def init_sharded_state(key: PRNGKey, agent: Agent, mesh: Mesh) -> TrainState:
  """:func:`~agents.actor_critic.training.init_state`, created sharded.

  Args:
    key: the run's key (the same on every process).
    agent: from :func:`~agents.actor_critic.training.make_agent`.
    mesh: a mesh from :func:`make_mesh`.

  Returns:
    The initial state, laid out as :func:`shard_state` does.
  """
  shardings = state_shardings(_abstract_state(agent), mesh)
  init = jax.jit(lambda k: init_state(k, agent), out_shardings=shardings)
  return init(key)


def make_sharded_iteration(agent: Agent, mesh: Mesh) -> Callable:
  """A jitted, data-parallel :func:`~agents.actor_critic.training.iteration`.

  Args:
    agent: from :func:`~agents.actor_critic.training.make_agent`.
    mesh: a mesh from :func:`make_mesh`; ``agent.config.num_envs`` must be
      a multiple of its size.

  Returns:
    ``iterate(state) -> (state, metrics)`` taking and returning a state laid
    out as :func:`shard_state` does (metrics replicated). The values equal
    those of the single-device iteration up to float reassociation of the
    batch reductions.
  """
  shardings = state_shardings(_abstract_state(agent), mesh)
  replicated = NamedSharding(mesh, P())
  return jax.jit(lambda state: iteration(agent, state),
                 in_shardings=(shardings,),
                 out_shardings=(shardings, replicated))


def make_sharded_train(agent: Agent, mesh: Mesh) -> Callable:
  """The data-parallel analogue of :func:`training.make_train`'s ``train``.

  Args:
    agent: from :func:`~agents.actor_critic.training.make_agent`.
    mesh: a mesh from :func:`make_mesh`.

  Returns:
    ``train(key) -> (final_state, metrics [num_updates])``, not jitted: jit
    it, or ``jax.jit(jax.vmap(train))`` for seeds (each seed's batch is
    split over the mesh). The state is constrained to
    :func:`state_shardings` at the start and after every iteration.
  """
  shardings = state_shardings(_abstract_state(agent), mesh)
  constrain = lambda s: jax.lax.with_sharding_constraint(  # noqa: E731
      s, shardings)

  def body(state: TrainState, _) -> tuple[TrainState, Metrics]:
    state, metrics = iteration(agent, state)
    return constrain(state), metrics

  def train(key: PRNGKey) -> tuple[TrainState, Metrics]:
    state = constrain(init_state(key, agent))
    return jax.lax.scan(body, state, None, length=agent.config.num_updates)

  return train


def maybe_initialize_distributed(*, coordinator_address: str | None,
                                 num_processes: int | None,
                                 process_id: int | None) -> bool:
  """Calls ``jax.distributed.initialize`` when a coordinator is given.

  Without a coordinator (``None`` or ``""``) nothing happens: the
  single-host path, where ``num_processes`` may only be ``None`` or 1 and
  ``process_id`` ``None`` or 0 (flag defaults). Call it before any other
  JAX call, on every process.

  Args:
    coordinator_address: ``"host:port"`` of process 0, reachable by all.
    num_processes: number of processes (hosts), ``>= 1``.
    process_id: this process's index in ``[0, num_processes)``.

  Returns:
    Whether ``jax.distributed.initialize`` was called.

  Raises:
    ValueError: if the arguments are incomplete or out of range.
  """
  if not coordinator_address:
    if num_processes not in (None, 1) or process_id not in (None, 0):
      raise ValueError(
          f"num_processes={num_processes}, process_id={process_id} need a "
          "coordinator_address ('host:port' of process 0).")
    return False
  if num_processes is None or process_id is None:
    raise ValueError("A multi-host run needs num_processes and process_id "
                     f"with coordinator_address={coordinator_address!r}.")
  if ":" not in coordinator_address:
    raise ValueError("coordinator_address must be 'host:port', got "
                     f"{coordinator_address!r}.")
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise ValueError(
        f"Need num_processes >= 1 and 0 <= process_id < num_processes; got "
        f"num_processes={num_processes}, process_id={process_id}.")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes,
                             process_id=process_id)
  return True
