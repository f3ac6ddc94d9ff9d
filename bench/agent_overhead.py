r"""Benchmark: wall time per environment step of meta-learning agents ÷ fixed.

On Two-Colors (one stream, rollouts of 16, MLP 2 × 64, clipped Adam), the
whole iteration is timed, acting included: the fixed-hyperparameter agent
(one rollout and one update per iteration) against MG (``K = 1``) and BMG
(``K = 1``, ``L = 8``) with a reward context, whose iterations collect
``K`` or ``K + L − 1`` rollouts and train on each exactly once. Each
program runs ``--iterations`` iterations in one jitted ``lax.scan`` over
``--seeds`` vmapped seeds; programs are timed interleaved, ``--repeats``
times each, compile excluded, ``block_until_ready``.

Each line printed is one JSON object: ``method``, ``us_per_env_step``
(median), ``ratio`` (median time per environment step ÷ the fixed agent's),
``ratio_min`` (fastest ÷ fastest, the least noisy on a shared machine),
``ratio_cpu`` (process CPU time), ``updates_per_env_step`` (learner
updates per environment step, from the Adam step count: equal for every
method; ``null`` with ``--learner=paper``, whose SGD keeps no count),
``learner``, ``compile_s``, ``load_1m`` (the machine's 1-minute load
average at the end of the timing). Targets (issue 12): ratio ≤ 1.5 for MG
``K = 1`` and BMG ``K = 1, L = 8``.

``--learner=paper`` times the learner of the Two-Colors results instead
(SGD 0.1, clip 1, separate 2 × 256 MLPs). Measured 2026-12-06 on
main, load 1.3–1.7, three runs: MG 1.54, 1.57, 1.55 (CPU 1.46–1.49),
BMG 1.17–1.20; the default 2 × 64 Adam learner at load 3: MG 1.83, BMG
0.75 (``bench/results/agent_overhead.jsonl``, session ``s11``).

Command::

  python bench/agent_overhead.py --iterations=64 --repeats=7
  python bench/agent_overhead.py --iterations=64 --repeats=7 --learner=paper

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import statistics
import sys
import time

import jax
import optax
from absl import app, flags

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from agents.actor_critic import training  # noqa: E402
from agents.actor_critic.config import ActorCriticConfig  # noqa: E402
from launch import run_two_colors  # noqa: E402

ITERATIONS = flags.DEFINE_integer(
    "iterations", 64, "Fixed-agent iterations per timed call (meta agents "
    "run as many environment steps).")
REPEATS = flags.DEFINE_integer("repeats", 7, "Timed calls per program.")
SEEDS = flags.DEFINE_integer("seeds", 2, "Vmapped seeds.")
LEARNER = flags.DEFINE_enum(
    "learner", "adam", ["adam", "paper"], "adam: the 2 x 64 shared MLP with "
    "clipped Adam of CONFIGS; paper: the Two-Colors launcher's learner (SGD "
    "0.1, global-norm clip 1, separate 2 x 256 policy and value MLPs).")

_BASE = dict(task="TwoColors", core="mlp", width=64, num_envs=1,
             unroll_length=16, discount=0.99, lambda_=1.0, outer_lambda=1.0,
             entropy_weight=0.1)
_META = dict(learned=("entropy_weight",), context=True,
             context_stats="reward", context_history=10, context_hidden=64)
CONFIGS = {
    "fixed": ActorCriticConfig(**_BASE),
    "mg_K1": ActorCriticConfig(**_BASE, **_META, method="mg", K=1,
                               outer_entropy_weight=0.1),
    "bmg_K1_L8": ActorCriticConfig(**_BASE, **_META, method="bmg", K=1, L=8),
}


def _program(config: ActorCriticConfig, env_steps: int, seeds: int):
  """A jitted ``f(state) -> state`` running ``env_steps`` per seed."""
  per = config.env_steps // config.num_updates
  n = max(1, env_steps // per)
  agent = training.make_agent(dataclasses.replace(config, num_updates=n))
  step = jax.vmap(lambda s: training.iteration(agent, s)[0])
  run = jax.jit(lambda s: jax.lax.scan(lambda c, _: (step(c), None), s,
                                       None, length=n)[0])
  keys = jax.random.split(jax.random.key(0), seeds)
  state = jax.jit(jax.vmap(lambda k: training.init_state(k, agent)))(keys)
  t0 = time.perf_counter()
  compiled = run.lower(state).compile()
  return compiled, state, n * per, time.perf_counter() - t0


def _updates(state) -> int | None:
  """Learner updates of seed 0 (Adam's step count; ``None`` without Adam)."""
  counts = [s.count for s in jax.tree.leaves(
      state.learner.opt_state,
      is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
            if isinstance(s, optax.ScaleByAdamState)]
  return int(counts[0][0]) if counts else None


def main(argv):
  """Prints one JSON line per method (see the module docstring)."""
  del argv
  steps = ITERATIONS.value * 16
  configs = CONFIGS if LEARNER.value == "adam" else {
      name: dataclasses.replace(c, **run_two_colors.RESULTS_LEARNER)
      for name, c in CONFIGS.items()}
  programs = {name: _program(c, steps, SEEDS.value)
              for name, c in configs.items()}
  wall = {n: [] for n in programs}
  cpu = {n: [] for n in programs}
  finals = {}
  for _ in range(REPEATS.value):
    for name, (compiled, state, _, _) in programs.items():
      w0, c0 = time.perf_counter(), time.process_time()
      finals[name] = jax.block_until_ready(compiled(state))
      wall[name].append(time.perf_counter() - w0)
      cpu[name].append(time.process_time() - c0)
  per_step = {n: [t / programs[n][2] for t in wall[n]] for n in programs}
  cpu_step = {n: [t / programs[n][2] for t in cpu[n]] for n in programs}
  base, base_cpu = per_step["fixed"], cpu_step["fixed"]
  updates = {n: _updates(finals[n]) for n in programs}
  for name, (_, _, env_steps, compile_s) in programs.items():
    print(json.dumps({
        "method": name,
        "us_per_env_step": 1e6 * statistics.median(per_step[name]),
        "ratio": statistics.median(per_step[name]) / statistics.median(base),
        "ratio_min": min(per_step[name]) / min(base),
        "ratio_cpu": (statistics.median(cpu_step[name])
                      / statistics.median(base_cpu)),
        "updates_per_env_step": (None if updates[name] is None
                                 else updates[name] / env_steps),
        "learner": LEARNER.value,
        "env_steps": env_steps, "compile_s": compile_s,
        "load_1m": os.getloadavg()[0]}))
  print("target: ratio <= 1.5 for mg_K1 and bmg_K1_L8", file=sys.stderr)


if __name__ == "__main__":
  app.run(main)
