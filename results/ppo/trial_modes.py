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
balancing in the trials it does not end on purpose.

References:
  Lu et al., `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023 (Fig. 3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from agents.actor_critic.config import ActorCriticConfig  # noqa: E402
from agents.actor_critic.evaluation import returns_by_trial  # noqa: E402
from agents.actor_critic.training import make_agent  # noqa: E402
from launch import run_meta_cartpole  # noqa: E402
from launch.loop import RunSettings  # noqa: E402


def evaluate(run_dir: str, *, trials: int, episodes: int,
             seed: int = 123) -> np.ndarray:
  """Return of every trial, ``[seeds, episodes, trials]``."""
  with open(os.path.join(run_dir, "config.json")) as f:
    saved = json.load(f)
  agent_config = ActorCriticConfig(**{
      k: tuple(v) if isinstance(v, list) else v
      for k, v in saved["agent"].items()})
  config = run_meta_cartpole.MetaCartPoleConfig(
      agent=agent_config, settings=RunSettings(
          seed=saved["run"]["seed"], num_seeds=saved["run"]["num_seeds"]))
  agent = make_agent(agent_config)
  params = run_meta_cartpole._restore_params(config, run_dir)  # noqa: SLF001
  keys = jax.random.split(jax.random.key(seed), config.settings.num_seeds)
  run = jax.jit(jax.vmap(lambda p, k: returns_by_trial(
      agent, p, k, num_episodes=episodes, num_trials=trials)))
  return np.asarray(jax.device_get(run(params, keys)).returns)


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
  args = parser.parse_args(argv)
  if args.trials < 1 or args.episodes < 1 or not args.short > 0:
    parser.error("--trials and --episodes must be >= 1 and --short > 0.")
  for run_dir in args.run_dirs:
    returns = evaluate(run_dir, trials=args.trials, episodes=args.episodes)
    print(f"\n{run_dir} ({returns.shape[0]} seeds × {returns.shape[1]} "
          "episodes)\n")
    print("| trials | mean return per trial | short-trial fraction "
          "(per seed) | mean return of long trials (per seed) |")
    print("| --- | --- | --- | --- |")
    print("\n".join(group_rows(returns, short=args.short)))


if __name__ == "__main__":
  main()
