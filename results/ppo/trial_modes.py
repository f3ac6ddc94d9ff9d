"""Why the return by trial changes: short (exploratory) trials vs the rest.

Restores the final checkpoint of ``launch.run_meta_cartpole`` run
directories, evaluates ``--episodes`` whole episodes of ``--trials`` trials
per seed, and prints, per group of four trials, the mean return per trial,
the fraction of *short* trials (return below ``--short`` = 15 steps of
1/200: the agent ends the trial on purpose, as it does while exploring)
and the mean return of the other, *long* trials (how well it balances once
it exploits). Each entry is the mean over seeds with the per-seed values::

  python results/ppo/trial_modes.py \\
      /work/runs/ppo4/mcp-popjaxrl-noflag-s5-2x128-12m

A fall past the training horizon that comes with more short trials is the
policy going back to exploring; one with long trials earning less is worse
balancing in the trials it does not end on purpose. With
``--fresh_starts`` every trial after the first starts from a fresh reset
instead of the episode's start state: if the return still rises across
trials, the agent is not replaying a memorised trajectory.

References:
  Lu et al., `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023 (Fig. 3).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from launch.run_meta_cartpole import episode_returns  # noqa: E402


def group_rows(returns: np.ndarray, *, short: float) -> list[str]:
  """Markdown rows, one per four trials: mean, short fraction, long mean."""
  rows = []
  for start in range(0, returns.shape[2], 4):
    r = returns[:, :, start:start + 4]
    is_short = r < short
    frac = is_short.mean(axis=(1, 2))
    long_mean = np.array([r[s][~is_short[s]].mean() if (~is_short[s]).any()
                          else np.nan for s in range(r.shape[0])])
    per_seed = lambda x: ", ".join(f"{v:.2f}" for v in x)  # noqa: E731
    rows.append(
        f"| {start + 1}–{start + r.shape[2]} | {r.mean():.3f} | "
        f"{frac.mean():.2f} ({per_seed(frac)}) | "
        f"{np.nanmean(long_mean):.3f} ({per_seed(long_mean)}) |")
  return rows


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("run_dirs", nargs="+")
  parser.add_argument("--trials", type=int, default=32)
  parser.add_argument("--episodes", type=int, default=64)
  parser.add_argument("--short", type=float, default=15 / 200)
  parser.add_argument("--seed", type=int, default=123,
                      help="evaluation key (123: the notes' tables)")
  parser.add_argument("--fresh_starts", action="store_true",
                      help="start every trial after the first from a fresh "
                      "reset, not the episode's start state")
  args = parser.parse_args(argv)
  if args.trials < 1 or args.episodes < 1 or not args.short > 0:
    parser.error("--trials and --episodes must be >= 1 and --short > 0.")
  for run_dir in args.run_dirs:
    returns = episode_returns(run_dir, num_trials=args.trials,
                              num_episodes=args.episodes,
                              key=jax.random.key(args.seed),
                              fresh_starts=args.fresh_starts)
    starts = ", fresh start states" if args.fresh_starts else ""
    print(f"\n{run_dir} ({returns.shape[0]} seeds × {returns.shape[1]} "
          f"episodes{starts})\n")
    print("| trials | mean return per trial | short-trial fraction "
          "(per seed) | mean return of long trials (per seed) |")
    print("| --- | --- | --- | --- |")
    print("\n".join(group_rows(returns, short=args.short)))


if __name__ == "__main__":
  main()
