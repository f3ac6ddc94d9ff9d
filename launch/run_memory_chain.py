r"""bsuite memory chain at growing memory lengths: S5 vs LSTM (V3(c)).

The agent must name a context bit shown at the first step after ``L``
steps (:class:`tasks.memory_chain.MemoryChain`, reward ±1 at the end). The
launcher trains one actor-critic run per memory length, each into
``<run_dir>/L<n>`` (a full run directory, see :mod:`launch.actor_critic`),
and writes ``<run_dir>/summary.json`` (final return per seed and length)
and ``<run_dir>/memory_lengths.png``. The S5 paper (Lu et al., 2023, §4.5)
reports S5 above LSTM at long memory, and about 2× faster.

Command (S5, then the LSTM baseline, three seeds each)::

  python -m launch.run_memory_chain --core=s5 --memory_lengths=5,10,20,50 \
      --num_seeds=3 --steps=300000 --run_dir=/work/runs/memory_chain/s5
  python -m launch.run_memory_chain --core=lstm --memory_lengths=5,10,20,50 \
      --num_seeds=3 --steps=300000 --run_dir=/work/runs/memory_chain/lstm

Measured at 60k steps per seed and length (seeds 0-2 vmapped, 2 CPUs at
load average 25-43; final return, mean ± 95% CI): L=5: S5 0.999 ± 0.003,
LSTM 0.998 ± 0.006; L=10: S5 0.01 ± 0.20, LSTM 0.88 ± 0.20; L=20 and
L=50: both at chance.

With more steps (``--steps=300000``; then ``--memory_lengths=20,50
--steps=1500000`` and ``--memory_lengths=50 --steps=5000000``; S5 and LSTM
side by side, load 3-7): at 300k both solve L=5 and L=10 (final ≥ 0.995;
the LSTM gets there sooner: lifetime 0.83 vs 0.69 at L=10), the LSTM solves
L=20 in 2 of 3 seeds (the third at 0.58) and S5 in none; at 1.5M both solve
L=20 (lifetime LSTM 0.88, S5 0.69) and neither L=50; at 5M, L=50, **S5
solves 5 of 6 seeds** (final 0.0, 1.0, 1.0, 0.99, 1.0, 0.77 for seeds 0-5;
seeds 0-2 and 3-5 are two runs, ``--seed=0`` and ``--seed=3``) and **the
LSTM none** (all six within 0.02 of 0). So the paper's S5 > LSTM shows at
the longest memory only; at L ≤ 20 the LSTM learns faster. Wall clock (side
by side): S5 434 s and 580 s, LSTM 385 s and 525 s for the two L=50 5M
runs, so S5 was not faster here. The popjaxrl timescales ``--dt_min=0.001
--dt_max=0.1`` did no better at 300k (L=10 lifetime 0.57 vs 0.69; L=20,
L=50 at chance).

The rollout length defaults to the smallest multiple of 16 that holds two
episodes (``2 (L + 1)``), so that the gradient from the rewarded answer
reaches the cue inside one truncated-BPTT window (bsuite's A2C uses 32,
which cannot connect them once ``L >= 32``); ``--unroll_length`` fixes it.

References:
  Osband et al, `Behaviour Suite for Reinforcement Learning
  <https://arxiv.org/abs/1908.03568>`_, 2020.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
from absl import app, flags

import tasks
from agents.actor_critic.config import ActorCriticConfig
from launch import common_flags, flag_checks, run_popgym
from launch.actor_critic import Reporting, run_experiment
from launch.loop import RunSettings
from launch.rundir import default_run_dir
from tasks.memory_chain import MemoryChain

__all__ = ["MemoryChainConfig", "auto_unroll", "build_config",
           "register_validators", "run", "task_name"]

EXPERIMENT = "memory_chain"
_KW = dict(allow_override=True)

_FLAGS = run_popgym.define_agent_flags(
    steps=100_000, num_envs=16, unroll_length=0, discount=0.99,
    learning_rate=1e-3, entropy_weight=1e-2)
MEMORY_LENGTHS = flags.DEFINE_list(
    "memory_lengths", ["5", "10", "20", "50"],
    "Memory lengths L to sweep (one run each).", **_KW)
# --help lists the agent flags (defined by run_popgym.define_agent_flags)
# and the shared flags.
for _holder in _FLAGS.values():
  flags.declare_key_flag(_holder)
del _holder
flags.adopt_module_key_flags(common_flags)


def task_name(memory_length: int) -> str:
  """Registers (once) and returns ``"MemoryChain-L<n>"``.

  Raises:
    ValueError: if ``memory_length < 1``.
  """
  if int(memory_length) < 1:
    raise ValueError(f"memory lengths must be >= 1, got {memory_length}.")
  name = f"MemoryChain-L{int(memory_length)}"
  if name not in tasks.registered():
    n = int(memory_length)
    tasks.register(name, lambda **kw: MemoryChain(memory_length=n, **kw))
  return name


def auto_unroll(memory_length: int) -> int:
  """Smallest multiple of 16 that is at least ``2 (L + 1)``."""
  return 16 * -(-2 * (memory_length + 1) // 16)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemoryChainConfig:
  """A sweep over memory lengths.

  Attributes:
    agents: one agent config per memory length (task ``MemoryChain-L<n>``).
    memory_lengths: the lengths, in the order of ``agents``.
    settings: how each run runs; ``run_dir`` is the parent directory.
    variant: label; each length's run is ``<variant>-L<n>``.
  """

  agents: tuple[ActorCriticConfig, ...]
  memory_lengths: tuple[int, ...]
  settings: RunSettings = RunSettings()
  variant: str = ""

  def __post_init__(self):
    if not self.memory_lengths:
      raise ValueError("memory_lengths is empty; give at least one L >= 1.")
    if len(self.agents) != len(self.memory_lengths):
      raise ValueError(f"{len(self.agents)} agents for "
                       f"{len(self.memory_lengths)} memory lengths.")
    if len(set(self.memory_lengths)) != len(self.memory_lengths):
      raise ValueError(f"Duplicate memory lengths {self.memory_lengths}.")
    for agent, n in zip(self.agents, self.memory_lengths, strict=True):
      if agent.task != task_name(n):
        raise ValueError(f"Agent task {agent.task!r} for L={n}; expected "
                         f"{task_name(n)!r}.")
    if not self.variant:
      object.__setattr__(self, "variant", self.agents[0].core)


def _lengths(values) -> tuple[int, ...]:
  try:
    lengths = tuple(int(v) for v in values)
  except ValueError as e:
    raise ValueError(f"--memory_lengths must be integers, got {values}.") \
        from e
  for n in lengths:
    task_name(n)  # Validates n >= 1 and registers the task.
  return lengths


def build_config() -> MemoryChainConfig:
  """Reads the flags into a validated config (no compute)."""
  common_flags.apply_defaults(_OWN_DEFAULTS)
  lengths = _lengths(MEMORY_LENGTHS.value)
  unroll = _FLAGS["unroll_length"].value
  if unroll < 0:
    raise ValueError(f"--unroll_length must be >= 0 (0: auto), got {unroll}.")
  agents = tuple(
      run_popgym.agent_config(_FLAGS, task=task_name(n),
                              unroll_length=unroll or auto_unroll(n))
      for n in lengths)
  return MemoryChainConfig(agents=agents, memory_lengths=lengths,
                           settings=common_flags.run_settings(),
                           variant=_FLAGS["variant"].value)


def _sub_settings(settings: RunSettings, path: str) -> RunSettings:
  resume = settings.resume and os.path.exists(
      os.path.join(path, "config.json"))
  return dataclasses.replace(settings, run_dir=path, resume=resume)


def run(*, config: MemoryChainConfig) -> dict[str, Any]:
  """Trains one run per memory length; returns the sweep's summary.

  Returns:
    ``run_dir``, ``memory_lengths``, ``final`` / ``lifetime`` (per length,
    per seed), ``wall_s`` per length and each run's ``runs`` summary.
  """
  parent = config.settings.run_dir or default_run_dir(EXPERIMENT)
  runs = {}
  for agent, n in zip(config.agents, config.memory_lengths, strict=True):
    task_name(n)
    path = os.path.join(parent, f"L{n}")
    runs[n] = run_experiment(
        experiment=EXPERIMENT, agent=agent,
        settings=_sub_settings(config.settings, path), reporting=Reporting(),
        extra={"variant": f"{config.variant}-L{n}", "memory_length": n})
  summary = {"run_dir": parent, "variant": config.variant,
             "memory_lengths": list(config.memory_lengths),
             "final": [runs[n]["final"] for n in config.memory_lengths],
             "lifetime": [runs[n]["lifetime"] for n in config.memory_lengths],
             "wall_s": [runs[n]["wall_s"] for n in config.memory_lengths],
             "runs": {str(n): s for n, s in runs.items()}}
  _write(parent, summary)
  return summary


def _write(parent: str, summary: dict[str, Any]) -> None:
  import json

  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  with open(os.path.join(parent, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2, sort_keys=True)
  final = np.asarray(summary["final"], np.float64)  # [lengths, seeds]
  fig, ax = plt.subplots(figsize=(5.5, 3.8))
  lengths = summary["memory_lengths"]
  mean = final.mean(1)
  # Bars: min-max over seeds (no bar with one seed).
  err = np.stack([mean - final.min(1), final.max(1) - mean])
  seeds = final.shape[1]
  ax.errorbar(lengths, mean, yerr=err if seeds > 1 else None, marker="o",
              capsize=3, label=f"{summary['variant']}: mean of {seeds} "
              f"seed{'s' if seeds != 1 else ''}"
              + (", bars min–max over seeds" if seeds > 1 else ""))
  ax.set_xscale("log")
  ax.set(title=f"{EXPERIMENT}: {summary['variant']}, {seeds} seed"
         f"{'s' if seeds != 1 else ''}", xlabel="memory length L",
         ylabel="final episodic return", ylim=(-1.05, 1.05))
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(parent, "memory_lengths.png"), dpi=100)
  plt.close(fig)


def main(argv):
  """Builds the config from the flags, runs, prints where outputs are."""
  del argv
  common_flags.quiet_logging()
  common_flags.initialize_distributed()
  summary = run(config=build_config())
  for n, final in zip(summary["memory_lengths"], summary["final"],
                      strict=True):
    print(f"L={n}: final return per seed {np.round(final, 3).tolist()}")
  parent = summary["run_dir"]
  print(f"run dirs: {parent}/L<n> (config, metrics.csv, returns.png, tb/)")
  print(f"plot:     {os.path.join(parent, 'memory_lengths.png')}")
  print(f"summary:  {os.path.join(parent, 'summary.json')}")


# This launcher's flag defaults (see common_flags.snapshot_defaults).
_OWN_DEFAULTS = common_flags.snapshot_defaults(globals())


def register_validators() -> None:
  """Flag checks run by absl when it parses the command line (before any
  compute; see :mod:`launch.flag_checks`)."""
  common_flags.register_shared_validators(
      ignored=("task",), why="run_memory_chain trains the task "
      "MemoryChain-L<n> of each --memory_lengths.")
  run_popgym.register_agent_validators(min_unroll_length=0,
                                       task_flag=False)
  flag_checks.numbers_in("memory_lengths", lambda n: n >= 1,
                         "integers >= 1", kind=int, distinct=True)


if __name__ == "__main__":
  register_validators()
  app.run(main)
