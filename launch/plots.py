"""PNG plots of a run directory: return curve and meta-parameter traces.

Both plots read ``metrics.jsonl`` (one row per log step and seed) and
``config.json`` (for the title: experiment, variant, task, seeds) and show,
against environment steps, the seed mean as a line and, with several seeds,
the band between the smallest and the largest seed's value at each log step
(min–max over seeds, not a confidence interval). The meta-parameter plot
draws one panel per ``hp/<name>`` metric. Task switches (every
``switch_every`` environment steps) are dashed grey lines. The legend names
all three.

:func:`figures` returns the matplotlib figures (so tests can inspect their
artists); :func:`plot_run` writes them as ``returns.png`` and
``hyperparams.png``.
"""

from __future__ import annotations

import json
import pathlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["BAND_LABEL", "figures", "plot_run", "run_title", "series"]

#: What the shaded band is, as the legend says it.
BAND_LABEL = "min–max over seeds"


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


def run_title(config: Mapping[str, Any], num_seeds: int) -> str:
  """``"<experiment>: <variant> (<task>), <n> seeds"`` of a run's config.

  Missing parts are left out (a config without a variant shows the
  experiment and the seeds only).
  """
  experiment = str(config.get("experiment") or "run")
  variant = (config.get("extra") or {}).get("variant")
  task = (config.get("agent") or {}).get("task")
  seeds = f"{num_seeds} seed" + ("s" if num_seeds != 1 else "")
  what = " ".join(x for x in (variant and str(variant),
                              task and f"({task})") if x)
  return f"{experiment}: {what}, {seeds}" if what else (
      f"{experiment}, {seeds}")


def _band(ax, steps, values, label: str) -> None:
  # Log steps where no seed ended an episode are all-NaN: left as gaps.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    mean = np.nanmean(values, axis=0)
    low, high = np.nanmin(values, 0), np.nanmax(values, 0)
  num_seeds = values.shape[0]
  ax.plot(steps, mean, color="C0", label=(
      f"{label}: mean of {num_seeds} seeds" if num_seeds > 1 else label))
  if num_seeds > 1:
    ax.fill_between(steps, low, high, color="C0", alpha=0.25,
                    label=BAND_LABEL)


def _switches(ax, steps, switch_every: int | None) -> None:
  if not switch_every or not len(steps):
    return
  label = f"task switch (every {switch_every:,} steps)"
  for x in np.arange(switch_every, steps[-1] + 1, switch_every):
    ax.axvline(x, color="grey", linestyle="--", linewidth=0.6, label=label)
    label = "_nolegend_"


def _read(path: pathlib.Path) -> tuple[list[dict], dict[str, Any]]:
  rows = [json.loads(x) for x in
          (path / "metrics.jsonl").read_text().splitlines() if x.strip()]
  config_path = path / "config.json"
  config = json.loads(config_path.read_text()) if config_path.exists() else {}
  return rows, config


def figures(run_dir: str, *, return_key: str = "episode_return",
            return_label: str = "episodic return",
            switch_every: int | None = None) -> dict[str, Any]:
  """The run directory's figures, by file name (nothing is written).

  Args:
    run_dir: a run directory with ``metrics.jsonl`` (and ``config.json``).
    return_key: the metric drawn as the return curve.
    return_label: its axis label.
    switch_every: environment steps between task switches, drawn as lines.

  Returns:
    ``{"returns.png": Figure}`` and, if any ``hp/*`` metric is logged,
    ``"hyperparams.png"``; empty when no row is logged yet. They are
    ``matplotlib.figure.Figure`` s, not registered with pyplot.
  """
  from matplotlib.figure import Figure

  rows, config = _read(pathlib.Path(run_dir))
  if not rows:
    return {}
  title = run_title(config, len({r["seed"] for r in rows}))
  out = {}
  fig = Figure(figsize=(6.5, 3.8))
  ax = fig.subplots()
  steps, values = series(rows, return_key)
  _band(ax, steps, values, return_key)
  _switches(ax, steps, switch_every)
  ax.set(title=title, xlabel="environment steps", ylabel=return_label)
  ax.legend(fontsize=7, loc="best")
  fig.tight_layout()
  out["returns.png"] = fig
  names = sorted({k for r in rows for k in r if k.startswith("hp/")})
  if names:
    fig = Figure(figsize=(6.5, 1.2 + 2.2 * len(names)))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
      _band(ax, *series(rows, name), name[3:])
      _switches(ax, steps, switch_every)
      ax.set_ylabel(name[3:])
      ax.legend(fontsize=7, loc="best")
    axes[0].set_title(f"{title}: learned values")
    axes[-1].set_xlabel("environment steps")
    fig.tight_layout()
    out["hyperparams.png"] = fig
  return out


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
  path = pathlib.Path(run_dir)
  written = []
  for name, fig in figures(run_dir, return_key=return_key,
                           return_label=return_label,
                           switch_every=switch_every).items():
    fig.savefig(path / name, dpi=100)
    written.append(str(path / name))
  return written
