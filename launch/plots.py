"""PNG plots of a run directory: return curve and meta-parameter traces.

Both plots read ``metrics.jsonl`` (one row per log step and seed) and show
the seed mean with the min-max band over seeds against environment steps.
The meta-parameter plot draws one panel per ``hp/<name>`` metric, with the
task switches (every ``switch_every`` environment steps) as dashed lines.
"""

from __future__ import annotations

import json
import pathlib
import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["plot_run", "series"]


def series(rows: Sequence[dict], key: str):
  """``(env_steps [N], values [S, N])`` of one metric over log steps."""
  seeds = sorted({r["seed"] for r in rows})
  steps = sorted({r["env_steps"] for r in rows})
  index = {s: i for i, s in enumerate(steps)}
  values = np.full((len(seeds), len(steps)), np.nan)
  for r in rows:
    v = r.get(key)
    if v is not None:
      values[seeds.index(r["seed"]), index[r["env_steps"]]] = v
  return np.asarray(steps, np.float64), values


def _band(ax, steps, values, label):
  # Log steps where no seed ended an episode are all-NaN: left as gaps.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    mean = np.nanmean(values, axis=0)
    low, high = np.nanmin(values, 0), np.nanmax(values, 0)
  ax.plot(steps, mean, label=label)
  if values.shape[0] > 1:
    ax.fill_between(steps, low, high, alpha=0.25)


def _switches(ax, steps, switch_every):
  if not switch_every or not len(steps):
    return
  for x in np.arange(switch_every, steps[-1] + 1, switch_every):
    ax.axvline(x, color="grey", linestyle="--", linewidth=0.6)


def plot_run(run_dir: str, *, return_key: str = "episode_return",
             return_label: str = "episodic return",
             switch_every: int | None = None) -> list[str]:
  """Writes ``returns.png`` and (if any are logged) ``hyperparams.png``.

  Args:
    run_dir: a run directory with ``metrics.jsonl``.
    return_key: the metric drawn as the return curve.
    return_label: its axis label.
    switch_every: environment steps between task switches, drawn as lines.

  Returns:
    Paths of the files written.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  path = pathlib.Path(run_dir)
  rows = [json.loads(x) for x in
          (path / "metrics.jsonl").read_text().splitlines() if x.strip()]
  if not rows:
    return []
  written = []
  fig, ax = plt.subplots(figsize=(6, 3.5))
  steps, values = series(rows, return_key)
  _band(ax, steps, values, return_key)
  _switches(ax, steps, switch_every)
  ax.set_xlabel("environment steps")
  ax.set_ylabel(return_label)
  fig.tight_layout()
  fig.savefig(path / "returns.png", dpi=100)
  plt.close(fig)
  written.append(str(path / "returns.png"))
  names = sorted({k for r in rows for k in r if k.startswith("hp/")})
  if names:
    fig, axes = plt.subplots(len(names), 1, figsize=(6, 2.2 * len(names)),
                             sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
      _band(ax, *series(rows, name), name)
      _switches(ax, steps, switch_every)
      ax.set_ylabel(name[3:])
    axes[-1, 0].set_xlabel("environment steps")
    fig.tight_layout()
    fig.savefig(path / "hyperparams.png", dpi=100)
    plt.close(fig)
    written.append(str(path / "hyperparams.png"))
  return written
