"""The comparison figures of ``RESULTS.md`` (see :mod:`launch.results`).

Both draw from table rows, so a figure can come from run directories or
from the numbers of a table kept from a previous ``RESULTS.md``:
:func:`rows_figure` for seeded experiments, :func:`convex_figure` for the
convex experiment's iteration counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from launch import results_markdown as md

__all__ = ["convex_figure", "rows_figure"]


def _wrap(label: str, width: int = 42) -> str:
  """Breaks a long variant label after ``_`` / ``-`` / space to lines of
  about ``width`` characters."""
  lines, line = [], ""
  for part in re.split(r"(?<=[_\- ])", label):
    if line and len(line) + len(part) > width:
      lines.append(line)
      line = ""
    line += part
  return "\n".join([*lines, line])


MAX_BARS = 30  # Bars per panel; more are unreadable (the table has all).


def rows_figure(experiment: str, rows: Sequence[md.Row], key: str, *,
                max_bars: int = MAX_BARS):
  """Lifetime-return bars of seeded table rows, one panel per task.

  Bars are the rows' lifetime means, whiskers their 95% intervals (none
  with one seed), ranked as in the table
  (:func:`launch.results_markdown.ranked`). A panel draws its best
  ``max_bars`` rows and says so in its title when it has more.
  Kept rows are grey, and labelled as kept, when drawn beside rows from
  run directories.

  Returns:
    A ``matplotlib.figure.Figure`` (not registered with pyplot), or
    ``None`` when no row has a finite lifetime mean.
  """
  from matplotlib.figure import Figure

  if not any(math.isfinite(r.lifetime[0]) for r in rows):
    return None
  panels: dict[str, list[md.Row]] = {}
  for row in md.ranked(rows):
    panels.setdefault(row.task, []).append(row)
  totals = {task: len(names) for task, names in panels.items()}
  panels = {task: names[:max_bars] for task, names in panels.items()}
  rows = [r for names in panels.values() for r in names]
  mixed = len({r.kept for r in rows}) > 1  # Grey only beside run rows.
  labels = {r.variant: _wrap(f"{r.variant} ("
                             f"{'kept, ' if mixed and r.kept else ''}"
                             f"n={r.lifetime[2]})") for r in rows}
  heights = [sum(labels[r.variant].count("\n") + 1 for r in names) + 1.5
             for names in panels.values()]
  fig = Figure(figsize=(8.5, 1.0 + 0.3 * sum(heights)), layout="constrained")
  axes = fig.subplots(len(panels), 1, squeeze=False,
                      gridspec_kw={"height_ratios": heights})[:, 0]
  for ax, (task, names) in zip(axes, panels.items(), strict=True):
    _bars(ax, names, labels, mixed)
    shown = (f" (best {len(names)} of {totals[task]} variants; the table "
             "has all)" if totals[task] > len(names) else "")
    ax.set_title((task or experiment) + shown, fontsize=9)
    ax.set_xlabel(f"lifetime {key}")
  fig.suptitle(f"{experiment}: lifetime {key} by variant (mean over seeds, "
               "95% CI)", fontsize=10)
  return fig


def _bars(ax, rows: Sequence[md.Row], labels: Mapping[str, str],
          mixed: bool) -> None:
  """One panel: a bar per row (grey if kept and ``mixed``) and whiskers."""
  y = np.arange(len(rows))
  mean = np.array([r.lifetime[0] for r in rows])
  half = np.array([r.lifetime[1] for r in rows])
  grey = np.array([mixed and r.kept for r in rows])
  for mask, color, label in (
      (~grey, "C0", "mean over seeds"),
      (grey, "C7", "mean over seeds, kept from the previous RESULTS.md")):
    if mask.any():
      ax.barh(y[mask], np.nan_to_num(mean[mask]), color=color, alpha=0.8,
              label=label)
  finite = np.isfinite(half)  # One seed: no interval.
  if finite.any():
    ax.errorbar(mean[finite], y[finite], xerr=half[finite], fmt="none",
                ecolor="black", capsize=3, label="95% CI (Student t)")
  ax.set_yticks(y, [labels[r.variant] for r in rows], fontsize=7)
  ax.invert_yaxis()
  ax.axvline(0.0, color="grey", linewidth=0.6)
  ax.legend(fontsize=7, loc="best")


def convex_figure(experiment: str, rows: Sequence[Mapping[str, Any]]):
  """Speedup bars (plain ÷ optimistic iterations) of the convex table's
  rows (``summary["table"]`` entries) against the pass lines.

  Returns:
    A ``matplotlib.figure.Figure``, or ``None`` without rows.
  """
  from matplotlib.figure import Figure

  if not rows:
    return None
  labels = [f"{r['problem']} β={r['beta_scale']:g} μ={r['mu']:g} "
            f"h={r['hint']}" for r in rows]
  speedup = np.array([r["speedup"] for r in rows], np.float64)
  passed = np.array([bool(r["passed"]) for r in rows])
  fig = Figure(figsize=(7.0, 1.5 + 0.3 * len(rows)))
  ax = fig.subplots()
  y = np.arange(len(rows))
  for ok, color, label in ((True, "C0", "passes"), (False, "C3", "fails")):
    mask = passed == ok
    if mask.any():
      ax.barh(y[mask], speedup[mask], color=color, alpha=0.8, label=label)
  ax.axvline(1 / 1.05, color="grey", linestyle=":",
             label="5% slower (the floor)")
  ax.axvline(1.3, color="grey", linestyle="--",
             label="1.3× (required for μ ≥ 0.97)")
  ax.set_yticks(y, labels, fontsize=7)
  ax.invert_yaxis()
  ax.set_xlabel("speedup: plain ÷ optimistic iterations to threshold")
  ax.set_title(f"{experiment}: optimistic vs plain meta-gradients",
               fontsize=10)
  ax.legend(fontsize=7, loc="best")
  fig.tight_layout()
  return fig
