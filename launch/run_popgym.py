r"""Actor-critic (A2C, optionally MG/BMG-meta-learned) on a POPGym task.

Trains the agent of :mod:`agents.actor_critic` with a resettable S5 (or GRU,
LSTM, MLP) core on a JAX POPGym memory task and prints the mean episodic
return over the last 10% of training. The whole run is one jitted function
of a key. A memoryless MLP core cannot solve RepeatPrevious; the S5 core can.

Command (settings of the reported run; a few minutes on a 2-core CPU)::

  python -m launch.run_popgym --task=RepeatPreviousEasy --core=s5 \
      --method=none --steps=600000 --seed=0

Measured (2-core CPU shared with other jobs, jit included): S5 reaches
0.999 mean episodic return over the last 10% of 600k steps (seeds 0 and 1,
128-146 s); the memoryless MLP stays at -0.50 (89 s). The popjaxrl S5
timescales ``dt in [0.001, 0.1]`` did not learn at all in 300k steps here;
``[0.01, 1.0]`` (the defaults of these flags) did. Learning sets in
between 292 learner updates (-0.50 at 300k steps) and 585 (0.999).
At 600k steps, ``--method=bmg`` (K=1, L=2: 390 updates) reached -0.30 and
``--method=mg`` (K=1: 292 updates) -0.50, learning entropy weight and λ;
both meta-parameters hardly moved (a fresh Adam inner step is nearly
sign-like, so loss weights get tiny meta-gradients). BMG learning the
learning rate and entropy weight for 900k steps (584 updates) reached
0.999 (223 s); the learning rate went from 3e-3 to 3.03e-3.

Meta-learn the entropy weight and λ by BMG instead::

  python -m launch.run_popgym --method=bmg --learned=entropy_weight,lambda_

References:
  Morad et al, `POPGym: Benchmarking Partially Observable Reinforcement
  Learning <https://arxiv.org/abs/2303.01859>`_, 2023.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np
from absl import app, flags

import tasks
from agents.actor_critic.config import (
    LEARNABLE,
    METHODS,
    ActorCriticConfig,
)
from agents.actor_critic.training import make_train
from agents.cores import CORE_NAMES

TASK = flags.DEFINE_string("task", "RepeatPreviousEasy", "Registered task.")
CORE = flags.DEFINE_enum("core", "s5", CORE_NAMES, "Recurrent core.")
METHOD = flags.DEFINE_enum("method", "none", METHODS, "Meta-gradient method.")
STEPS = flags.DEFINE_integer("steps", 1_000_000, "Environment steps.")
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
LEARNED = flags.DEFINE_list(
    "learned", [], f"Meta-learned hyperparameters, from {LEARNABLE}.")
K_STEPS = flags.DEFINE_integer("K", 1, "MG/BMG: differentiable inner steps.")
L_STEPS = flags.DEFINE_integer("L", 2, "BMG: target length (ignored by MG).")
NUM_ENVS = flags.DEFINE_integer("num_envs", 32, "Parallel environments.")
UNROLL = flags.DEFINE_integer("unroll_length", 32, "Rollout length T.")
WIDTH = flags.DEFINE_integer("width", 64, "Network width.")
LEARNING_RATE = flags.DEFINE_float("learning_rate", 3e-3, "Adam step size.")
DISCOUNT = flags.DEFINE_float("discount", 0.5, "Discount γ (initial).")
DT_MAX = flags.DEFINE_float("dt_max", 1.0, "S5 largest initial timescale.")
DT_MIN = flags.DEFINE_float("dt_min", 0.01, "S5 smallest initial timescale.")
ENTROPY_WEIGHT = flags.DEFINE_float(
    "entropy_weight", 1e-3, "Entropy weight (initial).")

_EVAL_FRACTION = 0.1  # Return reported over the last 10% of iterations.

#: The size of the reported RepeatPreviousEasy run (the slow test uses it).
LEARNING_SIZE = ActorCriticConfig(
    task="RepeatPreviousEasy", core="s5", width=64, num_envs=32,
    unroll_length=32, num_updates=585, learning_rate=3e-3, discount=0.5,
    entropy_weight=1e-3, dt_min=0.01, dt_max=1.0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
  """A run: the agent's configuration and the seed."""

  agent: ActorCriticConfig
  seed: int = 0

  def __post_init__(self):
    if self.agent.task not in tasks.registered():
      raise ValueError(f"Unknown task {self.agent.task!r}; valid: "
                       f"{tasks.registered()}.")


def num_updates_for(steps: int, config: ActorCriticConfig) -> int:
  """Iterations that spend about ``steps`` environment steps (at least 1)."""
  per = (config.rollouts_per_iteration * config.unroll_length
         * config.num_envs)
  return max(1, steps // per)


def build_config() -> RunConfig:
  """Reads the flags into a validated :class:`RunConfig` (no compute)."""
  if STEPS.value < 1:
    raise ValueError(f"--steps must be >= 1, got {STEPS.value}.")
  agent = ActorCriticConfig(
      task=TASK.value, core=CORE.value, method=METHOD.value,
      learned=tuple(LEARNED.value), K=K_STEPS.value,
      L=L_STEPS.value if METHOD.value == "bmg" else 1, num_envs=NUM_ENVS.value,
      unroll_length=UNROLL.value, width=WIDTH.value,
      learning_rate=LEARNING_RATE.value, discount=DISCOUNT.value,
      entropy_weight=ENTROPY_WEIGHT.value, dt_min=DT_MIN.value,
      dt_max=DT_MAX.value)
  agent = dataclasses.replace(
      agent, num_updates=num_updates_for(STEPS.value, agent))
  return RunConfig(agent=agent, seed=SEED.value)


def final_return(metrics) -> float:
  """Mean episodic return over the last 10% of iterations."""
  returns = np.asarray(metrics["episode_return"])
  counts = np.asarray(metrics["episodes"])
  tail = max(1, int(round(len(returns) * _EVAL_FRACTION)))
  total = np.sum(returns[-tail:] * counts[-tail:])
  return float(total / max(np.sum(counts[-tail:]), 1.0))


def run(*, config: RunConfig) -> dict[str, float]:
  """Trains once; returns the final return, env steps and wall time."""
  start = time.time()
  train = jax.jit(make_train(config.agent))
  _, metrics = jax.block_until_ready(train(jax.random.key(config.seed)))
  result = {
      "final_return": final_return(metrics),
      "env_steps": float(config.agent.env_steps),
      "wall_seconds": time.time() - start,
  }
  for name in config.agent.learned:
    result[f"hp/{name}"] = float(np.asarray(metrics[f"hp/{name}"])[-1])
  return result


def main(argv):
  """Builds the config from the flags, runs, prints the results."""
  del argv
  config = build_config()
  print(config)
  for key, value in run(config=config).items():
    print(f"{key}: {value:.4g}")


if __name__ == "__main__":
  app.run(main)
