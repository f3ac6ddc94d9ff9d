"""Data-parallel training (agents.actor_critic.sharding) on 4 host devices.

``XLA_FLAGS=--xla_force_host_platform_device_count=4`` must be set before
JAX initialises, so the multi-device checks run in a subprocess: this
module run as ``python -m tests.agents.test_sharding`` from the repository
root. The child trains a few iterations with the environments split over 4
devices and with the plain single-device ``jax.jit(iteration)`` from the
same key and global batch, and prints the largest differences as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_DEVICES = 4
_ITERATIONS = 3
# float32: the 4-device run sums per-device partial batch means, then
# all-reduces them, a different association of the same float32 sums; 3
# iterations of Adam keep that within a few ulps of parameters of size ~1
# (measured: at most 6e-8).
_ATOL = 1e-5
# The comparisons are only informative if training moved the values.
_MIN_CHANGE = 1e-3
# (core, method): plain A2C with the S5 core; BMG (K=1, L=1) learning the
# entropy weight and the learning rate with the MLP core. (The entropy
# weight alone barely moves in 3 iterations: its meta-gradient flows through
# Adam's first, nearly sign-like, steps.)
_CASES = (("s5", "none"), ("mlp", "bmg"))


def _config(core: str, method: str, num_envs: int = 8):
  from agents.actor_critic.config import ActorCriticConfig
  learned = {"learned": ("entropy_weight", "learning_rate"), "K": 1,
             "L": 1, "meta_learning_rate": 0.1}
  return ActorCriticConfig(
      task="RepeatPreviousEasy", core=core, width=16, num_layers=1,
      num_envs=num_envs, unroll_length=8, num_updates=_ITERATIONS,
      method=method, **(learned if method == "bmg" else {}))


def _max_abs_diff(a, b) -> float:
  import jax
  import numpy as onp
  diffs = jax.tree.map(
      lambda x, y: float(onp.max(onp.abs(onp.asarray(x, onp.float64)
                                         - onp.asarray(y, onp.float64)))),
      a, b)
  return max(jax.tree.leaves(diffs), default=0.0)


def _layout(state, mesh) -> dict:
  """Shard shapes of the observations and of one parameter leaf."""
  import jax
  obs = state.actor.obs
  param = jax.tree.leaves(state.learner.params)[0]
  return {
      "obs_shards": sorted({tuple(s.data.shape)
                            for s in obs.addressable_shards}),
      "obs_devices": len({s.device for s in obs.addressable_shards}),
      "param_replicated": param.sharding.is_fully_replicated,
      "mesh_size": mesh.size,
  }


def _compare(core: str, method: str) -> dict:
  import jax

  from agents.actor_critic import sharding, training
  agent = training.make_agent(_config(core, method))
  start = jax.jit(lambda k: training.init_state(k, agent))(jax.random.key(3))
  single = jax.jit(lambda s: training.iteration(agent, s))
  mesh = sharding.make_mesh()
  sharded = sharding.make_sharded_iteration(agent, mesh)
  one, many = start, sharding.shard_state(start, mesh)
  for _ in range(_ITERATIONS):
    one, metrics_one = single(one)
    many, metrics_many = sharded(many)
  pick = lambda s: (s.learner.params, s.meta.params)  # noqa: E731
  return {
      "learner_meta_diff": _max_abs_diff(pick(one), pick(many)),
      "metrics_diff": _max_abs_diff(metrics_one, metrics_many),
      "opt_state_diff": _max_abs_diff(one.learner.opt_state,
                                      many.learner.opt_state),
      "params_change": _max_abs_diff(start.learner.params, one.learner.params),
      "meta_change": _max_abs_diff(start.meta.params, one.meta.params),
      **_layout(many, mesh),
  }


def _indivisible_error() -> str:
  from agents.actor_critic import sharding, training
  agent = training.make_agent(_config("mlp", "none", num_envs=6))
  try:
    sharding.make_sharded_iteration(agent, sharding.make_mesh())
  except ValueError as e:
    return str(e)
  return ""


def _process_child(coordinator: str, process_id: int) -> None:
  """One of 2 processes with 2 devices each: a 4-device global mesh."""
  import jax
  import numpy as onp

  from agents.actor_critic import sharding, training
  assert sharding.maybe_initialize_distributed(
      coordinator_address=coordinator, num_processes=2, process_id=process_id)
  agent = training.make_agent(_config("mlp", "none"))
  key, mesh = jax.random.key(3), sharding.make_mesh()
  iterate = sharding.make_sharded_iteration(agent, mesh)
  one = start = jax.jit(lambda k: training.init_state(k, agent))(key)
  # Both ways onto the global mesh: from this process's copy, or built there.
  placed = sharding.shard_state(training.init_state(key, agent), mesh)
  built = sharding.init_sharded_state(key, agent, mesh)
  single = jax.jit(lambda s: training.iteration(agent, s))
  for _ in range(_ITERATIONS):
    one, _ = single(one)
    placed, _ = iterate(placed)
    built, _ = iterate(built)
  local = lambda s: jax.tree.map(  # noqa: E731
      lambda a: onp.asarray(a.addressable_shards[0].data), s.learner.params)
  print(json.dumps({
      "processes": jax.process_count(), "devices": jax.device_count(),
      "local_obs_shards": len(placed.actor.obs.addressable_shards),
      "placed_diff": _max_abs_diff(one.learner.params, local(placed)),
      "built_diff": _max_abs_diff(one.learner.params, local(built)),
      "params_change": _max_abs_diff(start.learner.params, one.learner.params),
  }))


def _child() -> None:
  import jax
  jax.config.update("jax_numpy_rank_promotion", "raise")
  out = {"devices": jax.device_count(),
         "indivisible_error": _indivisible_error()}
  for core, method in _CASES:
    out[f"{core}/{method}"] = _compare(core, method)
  print(json.dumps(out))


@pytest.fixture(scope="module")
def child_result() -> dict:
  env = {**os.environ,
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={_DEVICES}",
         "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run(
      [sys.executable, "-m", "tests.agents.test_sharding"], cwd=_ROOT,
      env=env, capture_output=True, text=True, timeout=3600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_child_sees_four_devices(child_result):
  assert child_result["devices"] == _DEVICES


@pytest.mark.parametrize("case", [f"{c}/{m}" for c, m in _CASES])
def test_four_devices_match_one(child_result, case):
  r = child_result[case]
  # Environments split 8 -> 4 x 2 over distinct devices, params replicated.
  assert r["mesh_size"] == _DEVICES
  assert r["obs_devices"] == _DEVICES
  assert [s[0] for s in r["obs_shards"]] == [2]
  assert r["param_replicated"]
  assert r["params_change"] > _MIN_CHANGE
  assert r["learner_meta_diff"] < _ATOL, r
  assert r["opt_state_diff"] < _ATOL, r
  assert r["metrics_diff"] < _ATOL, r


def test_bmg_meta_params_move_identically(child_result):
  r = child_result["mlp/bmg"]
  assert r["meta_change"] > _MIN_CHANGE
  assert r["learner_meta_diff"] < _ATOL


def test_indivisible_batch_raises(child_result):
  msg = child_result["indivisible_error"]
  assert "num_envs=6" in msg and "multiple of" in msg and "(4)" in msg


@pytest.mark.parametrize("kwargs", [
    {"coordinator_address": None, "num_processes": None, "process_id": None},
    {"coordinator_address": "", "num_processes": 1, "process_id": 0},
])
def test_single_host_path_is_unchanged(kwargs):
  from agents.actor_critic import sharding
  assert not sharding.maybe_initialize_distributed(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"coordinator_address": "localhost:1234", "num_processes": 2,
      "process_id": None}, "needs num_processes and process_id"),
    ({"coordinator_address": "", "num_processes": 2,
      "process_id": 1}, "need a coordinator_address"),
    ({"coordinator_address": "localhost", "num_processes": 2,
      "process_id": 0}, "host:port"),
    ({"coordinator_address": "localhost:1234", "num_processes": 2,
      "process_id": 2}, "process_id < num_processes"),
    ({"coordinator_address": "localhost:1234", "num_processes": 0,
      "process_id": 0}, "num_processes >= 1"),
])
def test_distributed_bad_arguments_raise(kwargs, match):
  from agents.actor_critic import sharding
  with pytest.raises(ValueError, match=match):
    sharding.maybe_initialize_distributed(**kwargs)


def test_batched_leaf_with_wrong_leading_axis_raises():
  import jax
  import jax.numpy as jnp

  from agents.actor_critic import sharding, training
  agent = training.make_agent(_config("mlp", "none"))
  state = jax.eval_shape(lambda k: training.init_state(k, agent),
                         jax.random.key(0))
  bad = state._replace(actor=state.actor._replace(
      running_return=jax.ShapeDtypeStruct((3,), jnp.float32)))
  with pytest.raises(ValueError, match="leading axis B=8"):
    sharding.state_shardings(bad, sharding.make_mesh())


def test_place_leaf_on_one_process():
  import jax
  import numpy as np

  from agents.actor_critic.sharding import place_leaf
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  host = np.arange(6.0, dtype=np.float32).reshape(2, 3)
  placed = place_leaf(host, sharding)
  assert isinstance(placed, jax.Array) and placed.sharding == sharding
  np.testing.assert_array_equal(placed, host)
  # Already laid out as asked: the very same array comes back.
  assert place_leaf(placed, sharding) is placed
  key = jax.random.split(jax.random.key(3), 2)
  placed_key = place_leaf(key, sharding)
  assert jax.dtypes.issubdtype(placed_key.dtype, jax.dtypes.prng_key)
  np.testing.assert_array_equal(jax.random.key_data(placed_key),
                                jax.random.key_data(key))


@pytest.mark.slow
def test_two_processes_match_one_device():
  import socket
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    port = sock.getsockname()[1]
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
         "JAX_PLATFORMS": "cpu"}
  procs = [subprocess.Popen(
      [sys.executable, "-m", "tests.agents.test_sharding",
       f"localhost:{port}", str(i)], cwd=_ROOT, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(2)]
  for proc in procs:
    out, err = proc.communicate(timeout=3600)
    assert proc.returncode == 0, err[-3000:]
    r = json.loads(out.strip().splitlines()[-1])
    assert (r["processes"], r["devices"], r["local_obs_shards"]) == (2, 4, 2)
    assert r["params_change"] > _MIN_CHANGE
    assert r["placed_diff"] < _ATOL and r["built_diff"] < _ATOL, r


if __name__ == "__main__":
  if len(sys.argv) == 3:
    _process_child(sys.argv[1], int(sys.argv[2]))
  else:
    _child()
