"""Training throughput of the agent's learner update per core (S5 vs GRU).

Builds the actor-critic agent with
:func:`agents.actor_critic.training.make_agent` on a POPGym task, collects one
fixed :class:`~agents.actor_critic.acting.Trajectory` of length T over B
environments with the initial policy, and times the agent's FULL learner step
``agent.step`` (replay of the recurrent policy from the stored initial state,
A2C or PPO loss, backward pass, global-norm clipping and the Adam update),
jitted, on that trajectory. All cores have the same width H (encoder, core
and heads), as in the S5 vs GRU comparison of Lu et al. (2023). Prints one
JSON object per (core, T):

* ``train_steps_per_s``: environment steps (T x B) per second of one learner
  update, median over repeats, compile excluded;
* ``best_steps_per_s``: the same from the fastest repeat;
* ``ratio_vs_gru``: ``train_steps_per_s`` over the GRU's at the same T;
* ``cpu_s_per_update``: process CPU seconds (all threads) of one update,
  median;
* ``cpu_ratio_vs_gru``: the GRU's CPU seconds per update over this core's
  (throughput per CPU-second; robust when other processes share the cores);
* ``compile_s``: tracing, lowering and XLA compilation of the update
  (wall seconds), and ``compile_cpu_s`` the process CPU seconds of the same
  (mostly one thread; robust to other processes' load);
* ``params``: number of network parameters;
* ``load_avg_1m``: the machine's 1-minute load average after the core's run.

Usage::

  python bench/core_throughput.py                     # the default table
  python bench/core_throughput.py --cores s5,gru --lengths 1024 --repeats 5
  python bench/core_throughput.py --loss ppo --width 256 --batch 64

Measured (2-core CPU shared with other jobs, width 128, B = 16, A2C,
2026-11-22, load average 34 to 44; CPU seconds are the steadier figure):
at T = 1024 the S5 update (1 layer) ran 1.85x the GRU's steps per second
(1.93x per CPU-second); compiling it took 10.6 CPU-s (40 s wall under that
load; 8.8 s wall at load 5). What bounds the ratio, timed piece by piece
(CPU ms, fwd+bwd, T x B = 16384 rows): the parts shared with the GRU agent
(encoder, heads, loss, Adam; an identity core) cost ~200 per update; one
128 x 128 dense map costs ~27 on [T, B, H] inputs and ~17 on 2-D rows (the
S5 core has five: input projection, B, C, two GLU maps); the resettable
``lax.scan`` ~20 (``unroll`` 4: ~68, 16: ~173; the associative scan ~180
and minutes to compile; a chunked scan, 32-step chunks: ~140); gelu ~10.
The GRU core costs ~390, the S5 core ~160, so with ~200 shared the ratio
tops out near 2 unless the shared encoder / heads get cheaper.

References:
  Lu et al., `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import statistics
import time

import jax

from agents.actor_critic import learning, networks, training
from agents.actor_critic.config import ActorCriticConfig

# Bench variants: name -> (config core, config num_layers, extra core kwargs
# beyond what make_agent passes; None when make_agent's network is used).
_VARIANTS = {
  "gru": ("gru", 1, None),
  "lstm": ("lstm", 1, None),
  "mlp": ("mlp", 1, None),
  "s5": ("s5", 1, None),
  "s5_2layer": ("s5", 2, None),
  "s5_lite": ("s5", 1, {"activation": "half_glu1", "state_size_ratio": 0.5}),
  "s5_associative": ("s5", 1, {"scan": "associative"}),
}


def build_agent(name: str, config: ActorCriticConfig) -> training.Agent:
  """The agent of ``make_agent``, with a variant's extra S5 options."""
  core, num_layers, extra = _VARIANTS[name]
  agent = training.make_agent(
    dataclasses.replace(config, core=core, num_layers=num_layers)
  )
  if extra is None:
    return agent
  cfg = agent.config
  kwargs = dict(extra)
  ratio = kwargs.pop("state_size_ratio", None)
  if ratio is not None:
    kwargs["state_size"] = int(cfg.width * ratio)
  kwargs.update(num_layers=num_layers, dt_min=cfg.dt_min, dt_max=cfg.dt_max)
  space = agent.env.action_space(agent.env_params)
  nets = networks.make_networks(
    core=core, width=cfg.width, num_actions=space.n, core_kwargs=kwargs
  )
  return agent._replace(
    networks=nets,
    rollout=functools.partial(agent.rollout, step_fn=nets.step),
    step=learning.make_step_fn(cfg, nets),
  )


def fixed_trajectory(agent: training.Agent, key: jax.Array):
  """The initial learner state, meta-parameters and one rollout."""
  state = training.init_state(key, agent)
  _, traj = jax.jit(agent.rollout)(state.learner.params, state.actor)
  return state.learner, state.meta.params, jax.block_until_ready(traj)


def measure(agent: training.Agent, *, repeats: int, key: jax.Array):
  """Compile (wall, CPU) seconds and per-repeat wall and CPU seconds."""
  learner, meta_params, traj = fixed_trajectory(agent, key)
  start, cpu_start = time.perf_counter(), time.process_time()
  update = jax.jit(agent.step).lower(learner, meta_params, traj).compile()
  compile_s = (time.perf_counter() - start, time.process_time() - cpu_start)
  jax.block_until_ready(update(learner, meta_params, traj))  # warm-up
  times, cpu_times = [], []
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(update(learner, meta_params, traj))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  n_params = sum(x.size for x in jax.tree.leaves(learner.params))
  return compile_s, times, cpu_times, n_params


def _record(name, length, batch, compile_s, times, cpu_times, n_params, gru):
  """One JSON-able row; ``gru`` is the GRU's ``(rate, cpu)`` at this T."""
  rate = length * batch / statistics.median(times)
  cpu = statistics.median(cpu_times)
  gru_rate, gru_cpu = gru if gru is not None else (rate, cpu)
  return {
    "core": name,
    "T": length,
    "train_steps_per_s": round(rate, 1),
    "best_steps_per_s": round(length * batch / min(times), 1),
    "ratio_vs_gru": round(rate / gru_rate, 3),
    "cpu_s_per_update": round(cpu, 4),
    "cpu_ratio_vs_gru": round(gru_cpu / cpu, 3),
    "compile_s": round(compile_s[0], 2),
    "compile_cpu_s": round(compile_s[1], 2),
    "params": int(n_params),
    "load_avg_1m": round(os.getloadavg()[0], 2),
  }


def main() -> None:
  """Runs the table and prints one JSON object per (core, T)."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cores", default="gru,lstm,mlp,s5,s5_lite,s5_2layer")
  parser.add_argument("--lengths", default="64,256,1024")
  parser.add_argument("--task", default="RepeatPreviousEasy")
  parser.add_argument("--loss", default="a2c", choices=("a2c", "ppo"))
  parser.add_argument("--width", type=int, default=128)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=7)
  args = parser.parse_args()
  names = args.cores.split(",")
  unknown = sorted(set(names) - set(_VARIANTS))
  if unknown:
    raise ValueError(f"Unknown cores {unknown}; valid: {sorted(_VARIANTS)}.")
  names = ["gru"] + [n for n in names if n != "gru"]  # GRU first: the ratio.
  print(json.dumps({"uptime": os.popen("uptime").read().strip(), **vars(args)}))
  for length in [int(t) for t in args.lengths.split(",")]:
    config = ActorCriticConfig(
      task=args.task,
      width=args.width,
      num_envs=args.batch,
      unroll_length=length,
      loss=args.loss,
    )
    gru = None
    for name in names:
      compile_s, times, cpu_times, n_params = measure(
        build_agent(name, config), repeats=args.repeats, key=jax.random.key(0)
      )
      row = _record(
        name, length, args.batch, compile_s, times, cpu_times, n_params, gru
      )
      if name == "gru":
        gru = (length * args.batch / statistics.median(times),
               statistics.median(cpu_times))
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
