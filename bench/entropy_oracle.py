r"""Headroom of an entropy-weight schedule on Two-Colors or the switching
bandit: an oracle that knows when the colours swap (the best arm changes).

A context can only make the entropy weight a function of recent rewards;
the best it can do is approximate a schedule in time since the last swap.
This script trains the fixed-weight actor-critic with such schedules given
by an oracle, ``w(t) = high`` for the first ``duration`` steps after each
swap and ``low`` afterwards (``duration = 0``: the fixed weight ``low``),
and prints each schedule's lifetime reward per step (mean ± 95% CI over
seeds) next to the best fixed weight of the same grid. If no oracle
schedule beats the best fixed weight, no meta-learned context can: the
learner itself leaves an entropy schedule no headroom.

All schedules × seeds run as one ``vmap`` of one jitted ``lax.scan``; the
learner is the agent's (``agents.actor_critic``), with the run's learner
options as flags.

Command (the papers' learner with clipping, 1M steps, 2 seeds)::

  python bench/entropy_oracle.py --steps=1000000 --seeds=2 \
      --max_grad_norm=1 --high=0.2,0.4 --low=0.05,0.1 \
      --duration=0,20000,40000

The switching bandit (V5; the bandit launcher's learner, Adam 1e-2,
shared 2 × 32 MLP; the Two-Colors learner flags do not apply; periods and
durations are steps of each bandit stream)::

  python bench/entropy_oracle.py --task=bandit --steps=768000 --seeds=3 \
      --high=0.5,0.8 --low=0.1,0.2,0.3 --duration=0,100,200,400

Each printed line is a JSON object: ``high``, ``low``, ``duration``,
``lifetime`` (mean over seeds), ``ci`` (95%), ``per_seed``, and the
phase profile ``by_tenth`` (reward per step in each tenth of a period
after the first, mean over periods and seeds).

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022 (Fig. 1:
  the learned entropy weight rises after each swap).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

# `python bench/<script>.py` works from any directory: `agents`, `tasks` and
# `launch` are not installed, so the repository root goes on the path.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from agents.actor_critic import training  # noqa: E402
from launch import run_bandit, run_two_colors  # noqa: E402

TASK = flags.DEFINE_enum(
    "task", "two_colors", ["two_colors", "bandit"], "Environment.")
STEPS = flags.DEFINE_integer("steps", 1_000_000, "Env steps per run.")
SEEDS = flags.DEFINE_integer("seeds", 2, "Seeds per schedule.")
HIGH = flags.DEFINE_list("high", ["0.2", "0.4"], "Weights after a swap.")
LOW = flags.DEFINE_list("low", ["0.05", "0.1"], "Weights late in a period.")
DURATION = flags.DEFINE_list(
    "duration", ["0", "20000", "40000"], "Steps of `high` after a swap "
    "(0: the fixed weight `low`).")
# The learner: unset flags take the task's (Two-Colors: the papers' SGD
# 0.1, clip 1, separate 2 x 256 MLPs; bandit: its launcher's Adam 1e-2).
OPTIMIZER = flags.DEFINE_string("optimizer", None, "Inner rule.")
LR = flags.DEFINE_float("learning_rate", None, "Inner step size.")
MAX_NORM = flags.DEFINE_float("max_grad_norm", None, "Gradient clipping.")
WIDTH = flags.DEFINE_integer("width", None, "MLP width.")
SEPARATE = flags.DEFINE_bool("separate_networks", None, "Separate MLPs.")

#: Swap period and the clock it counts: Two-Colors in environment steps of
#: all streams, the bandit in steps of each stream (its arms switch every
#: 2,000 steps of a stream).
_PERIOD = {"two_colors": 100_000, "bandit": run_bandit.SWITCH_PERIOD}


def clock_per_iteration(config) -> int:
  """How far one learner iteration advances the task's swap clock."""
  if TASK.value == "bandit":
    return config.unroll_length
  return config.unroll_length * config.num_envs


def first_rollout(agent) -> int:
  """Index of the scan's first rollout on the task's clock: 1 where
  ``init_state`` already collected one (a meta-learning agent's pending
  rollout, which the oracle does not train on)."""
  state = jax.eval_shape(lambda k: training.init_state(k, agent),
                         jax.random.key(0))
  return 0 if state.pending is None else 1


def make_program(agent, num_iterations: int, first: int):
  """``run(key, high, low, duration) -> rewards per iteration``; the
  scan's rollout ``i`` is rollout ``i + first`` on the task's clock."""
  period = _PERIOD[TASK.value]
  per_iteration = clock_per_iteration(agent.config)

  def one(key, high, low, duration):
    state = training.init_state(key, agent)

    def body(carry, i):
      learner, actor = carry
      start = (i + first) * per_iteration  # On the task's clock.
      t = start % period
      # Before the first swap the oracle has nothing to react to.
      after_swap = (start >= period) & (t < duration)
      w = jnp.where(after_swap, high, low)
      meta = {"entropy_weight": jnp.log(w) - jnp.log1p(-w)}
      actor, traj = training.heal_rollout(agent, learner.params, actor)
      learner = agent.step(learner, meta, traj)
      return (learner, actor), jnp.mean(traj.rewards)

    _, rewards = jax.lax.scan(body, (state.learner, state.actor),
                              jnp.arange(num_iterations))
    return rewards

  return jax.jit(jax.vmap(one))


def profile(rewards: np.ndarray, per_iteration: int,
            first: int) -> list[float]:
  """Mean reward in each tenth of a period, periods after the first."""
  period = _PERIOD[TASK.value]
  steps = (np.arange(rewards.shape[-1]) + first) * per_iteration
  keep = steps >= period
  tenth = ((steps % period) * 10 // period)[keep]
  r = rewards[..., keep]
  return [float(r[..., tenth == k].mean()) for k in range(10)]


def learner_overrides() -> dict:
  """The learner flags that were set."""
  given = {"optimizer": OPTIMIZER.value, "learning_rate": LR.value,
           "max_grad_norm": MAX_NORM.value, "width": WIDTH.value,
           "separate_networks": SEPARATE.value}
  return {k: v for k, v in given.items() if v is not None}


def make_agent_config():
  """The task's learner, with the learner flags that were set."""
  if TASK.value == "bandit":
    config = run_bandit.make_agent_config(
        method="mg", context="none", steps=STEPS.value)
    return dataclasses.replace(config, **learner_overrides())
  return run_two_colors.make_config(
      method="mg", context="none", steps=STEPS.value,
      **(run_two_colors.RESULTS_LEARNER | learner_overrides())).agent


def main(argv):
  del argv
  config = make_agent_config()
  agent = training.make_agent(config)
  steps_per_iteration = config.unroll_length * config.num_envs
  per_iteration = clock_per_iteration(config)
  num_iterations = math.ceil(STEPS.value / steps_per_iteration)
  cells = [(float(h), float(lo), int(d)) for h, lo, d in itertools.product(
      HIGH.value, LOW.value, DURATION.value)]
  # duration 0 ignores `high`: keep one fixed cell per `low`.
  seen, unique = set(), []
  for h, lo, d in cells:
    key = (None if d == 0 else h, lo, d)
    if key not in seen:
      seen.add(key)
      unique.append((h, lo, d))
  n = len(unique) * SEEDS.value
  high = jnp.repeat(jnp.array([c[0] for c in unique]), SEEDS.value)
  low = jnp.repeat(jnp.array([c[1] for c in unique]), SEEDS.value)
  dur = jnp.repeat(jnp.array([c[2] for c in unique]), SEEDS.value)
  keys = jax.random.split(jax.random.key(0), SEEDS.value)
  keys = jnp.tile(keys, (len(unique),))
  first = first_rollout(agent)
  program = make_program(agent, num_iterations, first)
  start = time.time()
  rewards = np.asarray(program(keys, high, low, dur)).reshape(
      len(unique), SEEDS.value, num_iterations)
  wall = time.time() - start
  for (h, lo, d), r in zip(unique, rewards, strict=True):
    per_seed = r.mean(-1)
    ci = (1.96 * per_seed.std(ddof=1) / math.sqrt(len(per_seed))
          if len(per_seed) > 1 else float("nan"))
    print(json.dumps({
        "high": h if d else None, "low": lo, "duration": d,
        "lifetime": float(per_seed.mean()), "ci": float(ci),
        "per_seed": [round(float(x), 4) for x in per_seed],
        "by_tenth": [round(x, 3) for x in profile(r, per_iteration, first)],
        "task": TASK.value, "learner": learner_overrides(),
        "steps": num_iterations * steps_per_iteration, "runs": n,
        "wall_s": round(wall, 1)}), flush=True)


if __name__ == "__main__":
  app.run(main)
