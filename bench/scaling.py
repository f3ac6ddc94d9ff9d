"""Throughput of data-parallel training over devices and vmapped seeds.

Runs :func:`agents.actor_critic.sharding.make_sharded_train` (the
environments of each seed split over a ``"data"`` mesh, parameters and
meta-parameters replicated) under ``jax.jit(jax.vmap(train))`` over seeds,
for 1, 2 and 4 forced host devices. ``XLA_FLAGS`` must be set before JAX
starts, so each device count runs in its own subprocess (this script with
``--child``). Prints one JSON object per (devices, seeds):

* ``devices``: forced host devices
  (``--xla_force_host_platform_device_count``), all in the mesh;
* ``seeds``: independent runs vmapped in one program;
* ``env_steps_per_s``: environment steps of all seeds per second of wall
  time, best of ``--repeats`` runs, compile excluded;
* ``ratio_vs_one``: ``env_steps_per_s`` over that of the first row
  (devices=1, seeds=1 with the default lists);
* ``cpu_s_per_run``: process CPU seconds of the best run (all threads);
* ``compile_s``: lowering + XLA compilation.

Forced host devices are not extra hardware: on a 2-core CPU they share the
same cores (and the process's thread pool), so the device axis measures the
overhead of the SPMD program, not a speed-up; seeds measure batching.

Known hang: on the 2-core project machine, 2 forced devices with 8 or 16
vmapped seeds compile and then never finish (every thread of the process
waits on a futex, no CPU used, no XLA message); 1 and 4 seeds run. The
default ``--seeds`` is therefore ``1,4``; each device count runs under a
``--timeout`` so a hang is reported instead of blocking the table. The
launchers do not hit this: ``--data_parallel`` either shards seeds (no
collectives) or shards one seed's environments.

Usage::

  python bench/scaling.py                              # the default table
  python bench/scaling.py --devices 1,4 --seeds 1,16 --method bmg

References:
  Xu et al, `GSPMD: General and Scalable Parallelization for ML Computation
  Graphs <https://arxiv.org/abs/2105.04663>`_, 2021.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--devices", default="1,2,4")
  parser.add_argument("--seeds", default="1,4")
  parser.add_argument("--core", default="s5")
  parser.add_argument("--method", default="none",
                      help="none, or mg/bmg learning the entropy weight")
  parser.add_argument("--num_envs", type=int, default=16)
  parser.add_argument("--unroll_length", type=int, default=32)
  parser.add_argument("--updates", type=int, default=8)
  parser.add_argument("--width", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--timeout", type=float, default=600.0,
                      help="seconds allowed per device count")
  parser.add_argument("--child", type=int, default=0,
                      help="internal: run one device count in this process")
  return parser.parse_args()


def _ints(text: str) -> list[int]:
  values = [int(v) for v in text.split(",") if v]
  if not values or min(values) < 1:
    raise ValueError(f"Expected positive comma-separated ints, got {text!r}.")
  return values


def _config(args: argparse.Namespace):
  from agents.actor_critic.config import ActorCriticConfig
  meta = {}
  if args.method != "none":
    meta = {"learned": ("entropy_weight",), "K": 1, "L": 2}
  return ActorCriticConfig(
      task="RepeatPreviousEasy", core=args.core, width=args.width,
      num_envs=args.num_envs, unroll_length=args.unroll_length,
      num_updates=args.updates, method=args.method, **meta)


def _time_one(args: argparse.Namespace, agent, mesh, seeds: int) -> dict:
  """Compiles and times the vmapped sharded train for ``seeds`` seeds."""
  import jax

  from agents.actor_critic import sharding
  train = jax.jit(jax.vmap(sharding.make_sharded_train(agent, mesh)))
  keys = jax.random.split(jax.random.key(0), seeds)
  t0 = time.perf_counter()
  compiled = train.lower(keys).compile()
  compile_s = time.perf_counter() - t0
  best, cpu = float("inf"), 0.0
  for _ in range(args.repeats):
    w0, c0 = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(keys))
    wall = time.perf_counter() - w0
    if wall < best:
      best, cpu = wall, time.process_time() - c0
  steps = seeds * agent.config.env_steps
  return {"seeds": seeds, "env_steps_per_s": round(steps / best, 1),
          "cpu_s_per_run": round(cpu, 3), "compile_s": round(compile_s, 2)}


def _child(args: argparse.Namespace) -> None:
  """One device count: prints a JSON line per seed count."""
  import jax

  from agents.actor_critic import sharding, training
  if jax.device_count() != args.child:
    raise ValueError(f"Asked for {args.child} devices, JAX sees "
                     f"{jax.device_count()}; set XLA_FLAGS before JAX starts.")
  agent = training.make_agent(_config(args))
  mesh = sharding.make_mesh()
  for seeds in _ints(args.seeds):
    print(json.dumps({"devices": args.child,
                      **_time_one(args, agent, mesh, seeds)}), flush=True)


def _run_devices(devices: int, timeout: float) -> list[dict]:
  """Re-runs this script with ``--child devices`` and its forced devices.

  Raises:
    RuntimeError: the child failed or took longer than ``timeout`` seconds.
  """
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
  argv = [a for a in sys.argv[1:] if not a.startswith("--child")]
  try:
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *argv,
         f"--child={devices}"], cwd=_ROOT, env=env, capture_output=True,
        text=True, check=False, timeout=timeout)
  except subprocess.TimeoutExpired as e:
    raise RuntimeError(f"devices={devices} did not finish in {timeout} s "
                       "(see the docstring's known hang).") from e
  if proc.returncode:
    raise RuntimeError(f"devices={devices} failed:\n{proc.stderr[-3000:]}")
  return [json.loads(line) for line in proc.stdout.splitlines()
          if line.startswith("{")]


def main() -> None:
  """Prints the (devices, seeds) table as JSON lines."""
  args = _parse()
  if args.child:
    _child(args)
    return
  _ints(args.seeds)
  base = None
  for devices in _ints(args.devices):
    for row in _run_devices(devices, args.timeout):
      if base is None:
        base = row["env_steps_per_s"]  # The first row: the fewest devices
      row["ratio_vs_one"] = round(row["env_steps_per_s"] / base, 3)
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
  main()
