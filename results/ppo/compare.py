"""Table and figure of the PPO vs one-step runs in results/ppo/README.md.

Reads run directories of ``launch.run_popgym`` (``metrics.jsonl``,
``summary.json``), prints one markdown row per run (env steps to the first
log row with mean episode return >= 0.9 per seed, final, lifetime (mean of
all log rows) and MMER as mean ±
95% CI over seeds, wall time) and draws the mean return of each run against
environment steps::

  python results/ppo/compare.py --out=results/ppo/easy.png \\
      /work/runs/ppo/easy-a2c-s5 /work/runs/ppo/easy-ppo-s5
"""

from __future__ import annotations

import argparse
import json
import math
import os

import numpy as np
from scipy import stats

SOLVED = 0.9


def _ci(values) -> str:
  x = np.asarray(values, np.float64)
  if np.isnan(x).any():
    return f"{int(np.sum(~np.isnan(x)))}/{len(x)} seeds"
  if len(x) < 2:
    return f"{x.mean():.3g}"
  half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
  return f"{x.mean():.3g} ± {half:.2g}"


def _rows(path: str) -> list[dict]:
  with open(os.path.join(path, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _curves(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
  seeds = sorted({r["seed"] for r in rows})
  steps = np.asarray(sorted({r["env_steps"] for r in rows}), np.float64)
  values = np.full((len(seeds), len(steps)), np.nan)
  for r in rows:
    values[seeds.index(r["seed"]),
           np.searchsorted(steps, r["env_steps"])] = r["episode_return"]
  return steps, values


def summarize(path: str) -> str:
  """One markdown table row for the run directory ``path``."""
  rows = _rows(path)
  with open(os.path.join(path, "summary.json")) as f:
    summary = json.load(f)
  steps, values = _curves(rows)
  solved = [steps[np.argmax(v >= SOLVED)] if np.any(v >= SOLVED) else np.nan
            for v in values]
  return (f"| {os.path.basename(path.rstrip('/'))} | "
          f"{summary['env_steps']:,} | {_ci(solved)} | "
          f"{_ci(summary['final'])} | {_ci(summary['lifetime'])} | "
          f"{_ci(summary['mmer'])} | "
          f"{summary['wall_s']:.0f} |")


def plot(paths: list[str], out: str) -> None:
  """Mean (± min/max over seeds) return of each run against env steps."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6, 3.5))
  for path in paths:
    steps, values = _curves(_rows(path))
    label = os.path.basename(path.rstrip("/"))
    ax.plot(steps, np.nanmean(values, 0), label=label)
    ax.fill_between(steps, np.nanmin(values, 0), np.nanmax(values, 0),
                    alpha=0.2)
  ax.axhline(SOLVED, color="grey", lw=0.5, ls="--")
  ax.set_xlabel("environment steps per seed")
  ax.set_ylabel("mean episode return")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out, dpi=100)
  plt.close(fig)


def main() -> None:
  """Prints the table; draws the figure with ``--out``."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("runs", nargs="+")
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  print("| run | env steps / seed | steps to ≥ 0.9 | final | lifetime | MMER "
        "| wall s |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  for path in args.runs:
    print(summarize(path))
  if args.out:
    plot(args.runs, args.out)


if __name__ == "__main__":
  main()
