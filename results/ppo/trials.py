"""Return by trial of meta-CartPole runs: the in-context table and figure.

Reads ``trial_returns.json`` (written by ``launch.run_meta_cartpole``: the
mean return of each trial, per seed, over evaluation episodes of H and of
2H trials, H the number of trials the task trains on, 16 unless the run's
task says otherwise) from run directories, pools the seeds of the
directories given under one label, and prints one markdown row per label:
the mean return per trial of trials 1-4, H-3..H (the last four trained)
and 2H-3..2H (the last four of the 2H-trial evaluation, past the training
horizon), the paired differences of the second group minus the first and
the third minus the second, the slope per trial over trials H+1..2H, and
whether the intervals of the first two groups are disjoint; each as mean
± 95% Student-t half-width over seeds (a label with one seed has no
interval, and the table says so). With ``--per_seed`` it also prints
each seed's row: its three group means, its two paired differences and
its H-trial episode return (the sum over the H-trial evaluation). Draws
the mean ± 95% interval per trial for each label::

  python results/ppo/trials.py --out=results/ppo/meta_cartpole.png \\
      S5=/work/runs/ppo2/mcp-s5,/work/runs/ppo2/mcp-s5-seed1 \\
      GRU=/work/runs/ppo2/mcp-gru

References:
  Lu et al., `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023 (Fig. 3: return by
  trial, 16 training trials, 32 at evaluation).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from launch.results import t_interval  # noqa: E402

HORIZON = 16  # trials per training episode of the tasks that do not say


def groups(horizon: int = HORIZON) -> tuple[tuple[int, int], ...]:
  """The three trial groups ``(lo, hi)`` (1-based) of the table.

  The first four trials, the last four of the training ``horizon`` and the
  last four of an evaluation twice as long.
  """
  return (1, 4), (horizon - 3, horizon), (2 * horizon - 3, 2 * horizon)


def horizon_of(paths: list[str]) -> int:
  """Trials per training episode of the runs' task (from ``config.json``).

  A directory without ``config.json`` counts as :data:`HORIZON`.

  Raises:
    ValueError: the directories' tasks train on different numbers.
  """
  found = set()
  for path in paths:
    config = os.path.join(path, "config.json")
    if not os.path.exists(config):
      found.add(HORIZON)
      continue
    with open(config) as f:
      task = json.load(f)["agent"]["task"]
    import tasks  # here: jax is imported only when a task must be built

    found.add(int(tasks.make(task)[1].num_trials))
  if len(found) != 1:
    raise ValueError(f"runs of one label train on different numbers of "
                     f"trials: {sorted(found)} ({paths}).")
  return found.pop()


def load(paths: list[str], num_trials: int = 2 * HORIZON) -> np.ndarray:
  """Per-seed mean return of each trial, ``[seeds, num_trials]``, pooled.

  ``num_trials`` picks the evaluation (e.g. 32, the default, or 16).
  """
  rows = []
  for path in paths:
    with open(os.path.join(path, "trial_returns.json")) as f:
      rows.extend(json.load(f)[str(num_trials)]["per_seed"])
  return np.asarray(rows, np.float64)


def seed_numbers(paths: list[str]) -> list[int]:
  """The seed of each pooled row, from each run's ``config.json``.

  A directory without one counts its seeds from 0.
  """
  numbers = []
  for path in paths:
    with open(os.path.join(path, "trial_returns.json")) as f:
      count = len(next(iter(json.load(f).values()))["per_seed"])
    first = 0
    config = os.path.join(path, "config.json")
    if os.path.exists(config):
      with open(config) as f:
        first = json.load(f)["run"]["seed"]
    numbers.extend(range(first, first + count))
  return numbers


def group(per_seed: np.ndarray, lo: int, hi: int) -> np.ndarray:
  """Each seed's mean return per trial over trials ``lo..hi`` (1-based)."""
  return per_seed[:, lo - 1:hi].mean(axis=1)


def _fmt(values, digits: int = 3) -> str:
  mean, half, n = t_interval(values)
  if n < 2:
    return f"{mean:.{digits}f} (no interval: {n} seed)"
  return f"{mean:.{digits}f} ± {half:.{digits}f}"


def row(label: str, per_seed: np.ndarray, horizon: int = HORIZON) -> str:
  """One markdown row of the table (see the module docstring)."""
  early, late, past = (group(per_seed, lo, hi) for lo, hi in groups(horizon))
  past_trials = np.arange(horizon + 1, 2 * horizon + 1)
  slopes = [np.polyfit(past_trials, p[horizon:2 * horizon], 1)[0]
            for p in per_seed]
  disjoint = "n/a"  # one seed: no interval over seeds to compare
  if len(per_seed) >= 2:
    (m_early, h_early, _), (m_late, h_late, _) = (
      t_interval(early), t_interval(late))
    disjoint = "yes" if m_late - h_late > m_early + h_early else "no"
  cells = [
    label, str(len(per_seed)), str(horizon), _fmt(early), _fmt(late),
    _fmt(past),
    _fmt(late - early), _fmt(past - late), _fmt(slopes, digits=4),
    disjoint,
  ]
  return "| " + " | ".join(cells) + " |"


def seed_rows(label: str, per_seed: np.ndarray, episode: np.ndarray,
              seeds: list[int], horizon: int = HORIZON) -> list[str]:
  """One markdown row per seed: group means, paired differences, episode.

  ``episode`` is each seed's ``horizon``-trial episode return,
  ``[seeds]``; ``seeds`` their seed numbers.
  """
  early, late, past = (group(per_seed, lo, hi) for lo, hi in groups(horizon))
  return [
    f"| {label} | {seeds[i]} | {early[i]:.3f} | {late[i]:.3f} | {past[i]:.3f} "
    f"| {late[i] - early[i]:+.3f} | {past[i] - late[i]:+.3f} "
    f"| {episode[i]:.2f} |"
    for i in range(len(per_seed))
  ]


SEED_HEADER = (
  "| run | seed | trials 1-4 | H-3..H | 2H-3..2H | H-3..H minus 1-4 "
  "| 2H-3..2H minus H-3..H | H-trial episode |\n"
  "| --- | --- | --- | --- | --- | --- | --- | --- |"
)

HEADER = (
  "| run | seeds | H (trials trained) | trials 1-4 | H-3..H | 2H-3..2H "
  "| H-3..H minus 1-4 (paired) | 2H-3..2H minus H-3..H (paired) "
  "| slope per trial, H+1..2H | H-3..H and 1-4 intervals disjoint |\n"
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def plot(curves: dict[str, np.ndarray], out: str,
         horizons: dict[str, int] | None = None) -> None:
  """Mean ± 95% interval of the return of each trial, one line per label.

  A grey line marks each distinct training horizon (default 16), each in
  its own line style.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6, 3.5))
  horizons = horizons or {}
  for label, per_seed in curves.items():
    trials = np.arange(1, per_seed.shape[1] + 1)
    stats = [t_interval(column) for column in per_seed.T]
    mean = np.array([s[0] for s in stats])
    half = np.array([s[1] for s in stats])
    n = len(per_seed)
    ax.plot(trials, mean, label=f"{label} ({n} seed{'s' * (n != 1)})")
    ax.fill_between(trials, mean - half, mean + half, alpha=0.2)
  for h, style in zip(
      sorted({horizons.get(label, HORIZON) for label in curves}),
      itertools.cycle((":", "--", "-."))):
    ax.axvline(h + 0.5, color="grey", linestyle=style,
               label=f"training horizon ({h} trials)")
  ax.set_xlabel("trial")
  ax.set_ylabel("mean return per trial")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out, dpi=120)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR[,RUN_DIR...]")
  parser.add_argument("--out", help="figure path (PNG); none if omitted")
  parser.add_argument("--per_seed", action="store_true",
                      help="also print one row per seed")
  args = parser.parse_args()
  curves, episodes, seeds, horizons = {}, {}, {}, {}
  for spec in args.runs:
    label, sep, paths = spec.rpartition("=")
    if not sep or not paths:
      parser.error(f"expected LABEL=RUN_DIR[,RUN_DIR...], got {spec!r}")
    dirs = paths.split(",")
    horizons[label] = h = horizon_of(dirs)
    curves[label] = load(dirs, num_trials=2 * h)
    if args.per_seed:
      episodes[label] = load(dirs, num_trials=h).sum(axis=1)
      seeds[label] = seed_numbers(dirs)
  print(HEADER)
  for label, per_seed in curves.items():
    print(row(label, per_seed, horizons[label]))
  if args.per_seed:
    print()
    print(SEED_HEADER)
    for label, per_seed in curves.items():
      print("\n".join(seed_rows(label, per_seed, episodes[label],
                                 seeds[label], horizons[label])))
  if args.out:
    plot(curves, args.out, horizons)


if __name__ == "__main__":
  main()
