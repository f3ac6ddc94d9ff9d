"""Acting, learner-update and PPO throughput of the agent per core.

Builds the actor-critic agent with
:func:`agents.actor_critic.training.make_agent` on a POPGym task (T steps, B
environments, every core of the same width H: encoder, core and heads, as
in the S5 vs GRU comparison of Lu et al., 2023) and times, jitted and with
compilation excluded, one call of each *part*:

* ``acting``: one rollout, :func:`agents.actor_critic.acting.rollout`
  (policy step, action sampling and the environment step, T x B);
* ``policy``: the same rollout's policy steps and sampling without the
  environment (:func:`policy_loop`), i.e. the step-mode core in its
  ``lax.scan``;
* ``update``: the FULL A2C learner step ``agent.step`` on one fixed
  trajectory (replay of the recurrent policy from the stored initial
  state, loss, backward pass, global-norm clipping and the Adam update);
* ``ppo``: one PPO iteration end to end,
  :func:`agents.actor_critic.training.iteration` with ``loss="ppo"`` (a
  rollout, then ``ppo_epochs`` x ``num_minibatches`` minibatch steps).

Prints one JSON object per (T, part, core):

* ``steps_per_s``: environment steps (T x B) per wall second of the part,
  median over repeats; ``best_steps_per_s`` from the fastest repeat;
* ``ratio_vs_gru``: ``steps_per_s`` over the GRU's (same T and part);
* ``cpu_us_per_step``: process CPU microseconds (all threads) per
  environment step, median;
* ``cpu_ratio_vs_gru``: the GRU's CPU seconds over this core's (throughput
  per CPU-second; the robust figure when other processes share the cores);
* ``compile_s`` / ``compile_cpu_s``: tracing, lowering and XLA compilation
  of the part, wall and process CPU seconds;
* ``params``: number of leaves' elements of the part's first argument (the
  network parameters for ``acting``, ``policy``; the learner or train state
  otherwise);
* ``load_avg_1m``: the machine's 1-minute load average after the row.

Usage::

  python bench/core_throughput.py                     # the default table
  python bench/core_throughput.py --cores s5,gru --parts update --lengths 1024
  python bench/core_throughput.py --cores gru,lstm,s5,s5_4layer \\
      --parts acting,policy,ppo --width 256 --lengths 128

Measured, acting (2026-12-06, 2-core CPU shared with other training runs,
load average 15 to 25 (``uptime``), width 256, B = 16, T = 128, this
script with ``--parts acting,policy``; CPU microseconds per environment
step, the robust figure under that load; wall numbers were noise):
acting with the environment step: GRU 20.8, LSTM 26.4, S5 1 layer 17.3
(1.20x the GRU's steps per CPU-second), S5 4 layers 40.9 (0.51x); the policy
alone (no environment): GRU 16.3, LSTM 18.4, S5 1 layer 13.5 (1.20x), S5 4
layers 42.0 (0.39x). A scan of the core's step mode only (no encoder or
heads): GRU 11.6, LSTM 15.7-16.7, S5 1 layer 7.6, S5 4 layers 36.6. Why S5
with 4 layers stays ~2x the GRU: per step an S5 layer runs four H x H dense
maps (``B_bar``, ``C``, the two GLU maps; the diagonal recurrence is
negligible), plus the input projection, i.e. 17 for 4 layers against the
GRU's 6 (``hk.GRU``: 3 gates x input and hidden maps); with the shared
encoder and heads (3) that is 20 against 9, and the measured ratio (2.0 to
2.2) matches that count. The discretisation is not the cause: XLA hoists it
out of the rollout's ``lax.scan`` (the compiled loop body holds no ``exp``
but the GLU's sigmoid; constant parameters, i.e. discretised at compile
time, were only 2-7% cheaper), and the step now reads precomputed real
weights (:func:`agents.s5.step_weights`) anyway. ``acting``'s
``compile_s`` is ~0: its rollout was compiled to collect the fixed
trajectory.

Measured, one PPO iteration end to end (2026-12-06, load average 5 to 6:
this script and two training runs on the 2 cores; ``--parts ppo
--lengths 256 --batch 16 --ppo_epochs 4 --num_minibatches 4 --repeats 5``,
i.e. the rollout and 16 minibatch steps of the PPO settings of
``results/ppo/README.md``; rows in ``bench/results/core_throughput_ppo.jsonl``).
Width 128: GRU 3,313 steps/s (150 CPU-us per step), S5 2 layers 5,001
(1.51x the GRU's; 1.62x per CPU-second), S5 1 layer 13,143 (3.97x; 2.84x).
Width 256, the paper's sizes: GRU 1,176 steps/s (647 CPU-us), S5 4 layers
1,643 (1.40x; 1.45x per CPU-second). So although the 4-layer S5 acts at
about half the GRU's speed, a whole PPO iteration is faster with it: the
16 minibatch replays dominate, and the S5's replay runs its dense maps
over all T x B rows at once while the GRU's run inside the sequential scan.
By the acting rows above (same width and B, T = 128), acting is ~3% of the
GRU's PPO iteration (20.8 of 647 CPU-us per step) and 9% of the S5's (40.9
of 448).

Measured, learner update (width 128, B = 16, A2C, 2026-11-22, load average
34 to 44; CPU seconds are the steadier figure):
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
import pathlib
import statistics
import sys
import time
from collections.abc import Callable

import jax

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from agents.actor_critic import acting, learning, networks, ppo, training  # noqa: E402
from agents.actor_critic.config import ActorCriticConfig  # noqa: E402

#: Timed parts, see :func:`part_fn`.
PARTS = ("acting", "policy", "update", "ppo")

# Bench variants: name -> (config core, config num_layers, extra core kwargs
# beyond what make_agent passes; None when make_agent's network is used).
_VARIANTS = {
  "gru": ("gru", 1, None),
  "lstm": ("lstm", 1, None),
  "mlp": ("mlp", 1, None),
  "s5": ("s5", 1, None),
  "s5_2layer": ("s5", 2, None),
  "s5_4layer": ("s5", 4, None),
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
  ppo_update = step = None
  if cfg.loss == "ppo":
    ppo_update = ppo.make_ppo_update(cfg, nets)
  else:
    step = learning.make_step_fn(cfg, nets)
  return agent._replace(
    networks=nets,
    rollout=functools.partial(agent.rollout, step_fn=nets.step),
    step=step,
    ppo_update=ppo_update,
  )


def fixed_trajectory(agent: training.Agent, key: jax.Array):
  """The initial train state and one rollout with its parameters."""
  state = training.init_state(key, agent)
  _, traj = jax.jit(agent.rollout)(state.learner.params, state.actor)
  return state, jax.block_until_ready(traj)


def timed(fn, *args, repeats: int):
  """Compile ``(wall, CPU)`` seconds and per-repeat wall and CPU seconds.

  ``fn`` is jitted, lowered and compiled (timed), run once to warm up and
  then ``repeats`` times; CPU seconds are the process's, all threads.
  """
  start, cpu_start = time.perf_counter(), time.process_time()
  compiled = jax.jit(fn).lower(*args).compile()
  compile_s = (time.perf_counter() - start, time.process_time() - cpu_start)
  jax.block_until_ready(compiled(*args))  # warm-up
  times, cpu_times = [], []
  for _ in range(repeats):
    start, cpu_start = time.perf_counter(), time.process_time()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu_start)
  return compile_s, times, cpu_times


def policy_loop(agent: training.Agent) -> Callable:
  """Acting without the environment: the policy steps of a rollout.

  ``loop(params, traj, key)`` scans ``networks.step`` and action sampling
  over the stored observations and resets of ``traj`` (T steps, B envs)
  from its initial core state; what a rollout costs besides ``env.step``.
  """
  step = agent.networks.step

  def loop(params, traj, key):
    def body(state, inputs):
      obs, reset, k = inputs
      out, value, state = step(params, obs, reset, state)
      return state, (acting.sample(k, out), value)

    length = traj.actions.shape[0]
    keys = jax.random.split(key, length)
    inputs = (traj.obs[:length], traj.resets[:length], keys)
    return jax.lax.scan(body, traj.initial_state, inputs)

  return loop


def part_fn(part: str, agent: training.Agent, key: jax.Array):
  """``(fn, args)`` of one timed part: ``acting`` (a rollout, env step
  included), ``policy`` (:func:`policy_loop`), ``update`` (the learner's
  A2C step on a fixed rollout) or ``ppo`` (one PPO iteration end to end:
  a rollout, then epochs × minibatches)."""
  state, traj = fixed_trajectory(agent, key)
  params = state.learner.params
  if part == "acting":
    return agent.rollout, (params, state.actor)
  if part == "policy":
    return policy_loop(agent), (params, traj, key)
  if part == "update":
    return agent.step, (state.learner, state.meta.params, traj)
  if part == "ppo":
    return functools.partial(training.iteration, agent), (state,)
  raise ValueError(f"Unknown part {part!r}; valid: {PARTS}.")


def _record(name, part, length, batch, measured, n_params, gru):
  """One JSON-able row; ``gru`` is the GRU's ``(rate, cpu)`` of the part."""
  compile_s, times, cpu_times = measured
  rate = length * batch / statistics.median(times)
  cpu = statistics.median(cpu_times)
  gru_rate, gru_cpu = gru if gru is not None else (rate, cpu)
  return {
    "core": name,
    "part": part,
    "T": length,
    "steps_per_s": round(rate, 1),
    "best_steps_per_s": round(length * batch / min(times), 1),
    "ratio_vs_gru": round(rate / gru_rate, 3),
    "cpu_us_per_step": round(1e6 * cpu / (length * batch), 3),
    "cpu_ratio_vs_gru": round(gru_cpu / cpu, 3),
    "compile_s": round(compile_s[0], 2),
    "compile_cpu_s": round(compile_s[1], 2),
    "params": int(n_params),
    "load_avg_1m": round(os.getloadavg()[0], 2),
  }


def _config(args, length: int, part: str) -> ActorCriticConfig:
  """The bench's agent config; ``loss="ppo"`` for the ``ppo`` part."""
  return ActorCriticConfig(
    task=args.task,
    width=args.width,
    num_envs=args.batch,
    unroll_length=length,
    loss="ppo" if part == "ppo" else "a2c",
    ppo_epochs=args.ppo_epochs,
    num_minibatches=args.num_minibatches,
  )


def _parse() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--cores", default="gru,lstm,mlp,s5,s5_lite,s5_2layer")
  parser.add_argument("--parts", default=",".join(PARTS))
  parser.add_argument("--lengths", default="64,256,1024")
  parser.add_argument("--task", default="RepeatPreviousEasy")
  parser.add_argument("--width", type=int, default=128)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--ppo_epochs", type=int, default=4)
  parser.add_argument("--num_minibatches", type=int, default=2)
  parser.add_argument("--repeats", type=int, default=7)
  return parser.parse_args()


def main() -> None:
  """Runs the table and prints one JSON object per (T, part, core)."""
  args = _parse()
  names, parts = args.cores.split(","), args.parts.split(",")
  unknown = sorted(set(names) - set(_VARIANTS)) + sorted(set(parts) -
                                                          set(PARTS))
  if unknown:
    raise ValueError(f"Unknown {unknown}; cores: {sorted(_VARIANTS)}, "
                     f"parts: {PARTS}.")
  names = ["gru"] + [n for n in names if n != "gru"]  # GRU first: the ratio.
  print(json.dumps({"uptime": os.popen("uptime").read().strip(), **vars(args)}))
  for length in [int(t) for t in args.lengths.split(",")]:
    for part in parts:
      gru = None
      for name in names:
        agent = build_agent(name, _config(args, length, part))
        fn, fn_args = part_fn(part, agent, jax.random.key(0))
        measured = timed(fn, *fn_args, repeats=args.repeats)
        n_params = sum(x.size for x in jax.tree.leaves(fn_args[0]))
        row = _record(name, part, length, args.batch, measured, n_params, gru)
        if name == "gru":
          gru = (length * args.batch / statistics.median(measured[1]),
                 statistics.median(measured[2]))
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
