r"""Runs a grid of launcher runs, one run directory per cell, and tables them.

Each ``--grid`` is one grid: space-separated ``flag=v1,v2,...`` terms whose
product gives its cells; the cells of all grids are run (the same budget
flags, ``--common``, for every cell, so methods are compared at equal
budgets). A cell runs as ``python -m launch.<launcher> <common> <cell flags>
--run_dir=<root>/<cell>``, and a cell whose ``summary.json`` exists is
skipped, so an interrupted sweep continues where it stopped. The table
(``<root>/sweep.md`` and ``sweep.json``) gives each cell's lifetime return
(mean ± 95% CI over seeds), its final return and wall time, best first
within each grid.

Example: the Two-Colors screening of issue 12 (1M steps × 2 seeds)::

  python -m launch.sweep --launcher=run_two_colors --root=runs/sweep \
      --common="--steps=1000000 --num_seeds=2" \
      --grid="method=fixed context=none entropy_weight=0,0.05,0.1,0.2,0.4" \
      --grid="method=mg,bmg context=reward meta_learning_rate=1e-4,1e-3"

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022 (equal
  sweep sizes for every method; the best configuration reported).
"""

from __future__ import annotations

import concurrent.futures
import csv
import functools
import itertools
import json
import math
import os
import pathlib
import re
import shlex
import subprocess
import sys
from collections.abc import Sequence

from absl import app, flags

__all__ = ["cell_name", "parse_grid", "run_sweep", "summarize_cell",
           "swap_schedule", "write_table"]

LAUNCHER = flags.DEFINE_string(
    "launcher", "run_two_colors", "Launcher module in launch/.")
ROOT = flags.DEFINE_string("root", "", "Directory of the sweep's runs.")
COMMON = flags.DEFINE_string(
    "common", "", "Flags given to every cell (budget, seeds).")
GRID = flags.DEFINE_multi_string(
    "grid", [], "One grid: 'flag=v1,v2 flag2=v3' (repeatable).")
LABEL = flags.DEFINE_string(
    "label", "", "Prefix of every cell's --variant (keeps sweeps of the "
    "same cells with other common flags apart in RESULTS.md).")
PARALLEL = flags.DEFINE_integer(
    "parallel", 1, "Cells run at the same time.")
DRY_RUN = flags.DEFINE_bool(
    "dry_run", False, "Print the cells' commands and exit.")

_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447,
        7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def parse_grid(grid: str) -> list[dict[str, str]]:
  """The cells of one grid: ``"a=1,2 b=x"`` → ``[{a: 1, b: x}, {a: 2, ...}]``.

  Raises:
    ValueError: a term is not ``flag=values`` or a value list is empty.
  """
  axes = []
  for term in grid.split():
    name, sep, values = term.partition("=")
    if not sep or not name or not values:
      raise ValueError(f"Grid term {term!r} is not 'flag=v1,v2'.")
    axes.append([(name.lstrip("-"), v) for v in values.split(",") if v])
  return [dict(cell) for cell in itertools.product(*axes)]


def cell_name(cell: dict[str, str]) -> str:
  """The run directory name of a cell: ``a-1_b-x``."""
  return "_".join(f"{k}-{v}" for k, v in cell.items()).replace("/", "")


@functools.cache
def _takes_variant(launcher: str) -> bool:
  """Whether ``launch/<launcher>.py`` defines a ``--variant`` flag.

  Read from the source, not imported: importing a launcher would redefine
  the flags it shares with others (``--method``, ...) in this process.
  """
  source = pathlib.Path(__file__).with_name(f"{launcher}.py")
  if not source.exists():
    raise ValueError(f"No launcher launch/{launcher}.py.")
  pattern = r'DEFINE_string\(\s*"variant"'
  return re.search(pattern, source.read_text()) is not None


def _command(launcher: str, common: str, cell: dict[str, str],
             run_dir: pathlib.Path, label: str = "") -> list[str]:
  flags_ = [f"--{k}={v}" for k, v in cell.items()]
  if _takes_variant(launcher):  # Else the launcher labels the run itself.
    flags_.append(f"--variant={label}{cell_name(cell)}")
  return [sys.executable, "-m", f"launch.{launcher}", *shlex.split(common),
          *flags_, f"--run_dir={run_dir}", "--noprogress"]


def swap_schedule(run_dir: pathlib.Path, *, fraction: float = 0.1
                  ) -> tuple[float, float] | None:
  """Mean learned hyperparameter in the first and the last ``fraction`` of
  every task period after the first (``hp/*`` column of ``metrics.csv``,
  period ``extra.swap_period`` of ``config.json``), pooled over seeds;
  ``None`` without both. The paper's schedule (Luketina et al., Fig. 1):
  high right after a swap, low before the next."""
  path, config_path = run_dir / "metrics.csv", run_dir / "config.json"
  if not path.exists() or not config_path.exists():
    return None
  period = json.loads(config_path.read_text()).get("extra", {}).get(
      "swap_period")
  if not period:
    return None
  with open(path) as f:
    rows = list(csv.DictReader(f))
  keys = [k for k in (rows[0] if rows else {}) if k.startswith("hp/")]
  if not keys:
    return None
  after, before = [], []
  for row in rows:
    steps = float(row["env_steps"])
    phase = (steps % period) / period
    if steps < period or not row[keys[0]]:
      continue
    value = float(row[keys[0]])
    if phase < fraction:
      after.append(value)
    elif phase >= 1 - fraction:
      before.append(value)
  if not after or not before:
    return None
  return sum(after) / len(after), sum(before) / len(before)


def summarize_cell(run_dir: pathlib.Path) -> dict | None:
  """Lifetime / final return (mean, 95% CI half-width) and wall time of a
  finished run directory; ``None`` if it has no ``summary.json``."""
  path = run_dir / "summary.json"
  if not path.exists():
    return None
  summary = json.loads(path.read_text())

  def stats(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
      return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, _T95.get(n - 1, 1.96) * sd / math.sqrt(n)

  life, life_ci = stats(summary["lifetime"])
  final, final_ci = stats(summary["final"])
  schedule = swap_schedule(run_dir)
  return {"lifetime": life, "lifetime_ci": life_ci, "final": final,
          "final_ci": final_ci, "seeds": len(summary["lifetime"]),
          "env_steps": summary.get("env_steps"),
          "wall_s": summary.get("wall_s"),
          "hp_after_swap": schedule[0] if schedule else None,
          "hp_before_swap": schedule[1] if schedule else None}


def write_table(root: pathlib.Path, grids: Sequence[list[dict]]) -> str:
  """Writes ``sweep.md`` and ``sweep.json`` under ``root``; returns the
  markdown (one table per grid, best lifetime return first)."""
  lines, records = [], []
  for index, cells in enumerate(grids):
    rows = []
    for cell in cells:
      result = summarize_cell(root / cell_name(cell))
      if result is not None:
        rows.append((cell, result))
        records.append({"grid": index, "cell": cell, **result})
    rows.sort(key=lambda r: -r[1]["lifetime"])
    lines += [f"\n### Grid {index + 1}\n",
              "| cell | lifetime (95% CI) | final (95% CI) | hp after / "
              "before swap | seeds | steps | wall s |",
              "|---|---|---|---|---|---|---|"]
    for cell, r in rows:
      sched = ("-" if r["hp_after_swap"] is None else
               f"{r['hp_after_swap']:.3f} / {r['hp_before_swap']:.3f}")
      lines.append(
          f"| {cell_name(cell)} | {r['lifetime']:.4f} ± "
          f"{r['lifetime_ci']:.4f} | {r['final']:.4f} ± {r['final_ci']:.4f}"
          f" | {sched} | {r['seeds']} | {r['env_steps']} | "
          f"{r['wall_s']:.0f} |")
  text = "\n".join(lines) + "\n"
  (root / "sweep.md").write_text(text)
  (root / "sweep.json").write_text(json.dumps(records, indent=1))
  return text


def run_sweep(*, launcher: str, root: pathlib.Path, common: str,
              grids: Sequence[str], parallel: int = 1,
              dry_run: bool = False, label: str = "") -> str:
  """Runs every unfinished cell of ``grids`` and returns the table."""
  parsed = [parse_grid(g) for g in grids]
  cells = [c for g in parsed for c in g]
  todo = [c for c in cells if summarize_cell(root / cell_name(c)) is None]
  commands = [_command(launcher, common, c, root / cell_name(c), label)
              for c in todo]
  if dry_run:
    return "\n".join(shlex.join(c) for c in commands)
  root.mkdir(parents=True, exist_ok=True)

  def run(command):
    log = pathlib.Path(command[-2].split("=", 1)[1] + ".log")
    with open(log, "w") as out:
      return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                            env=os.environ.copy(), check=False).returncode

  with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    codes = list(pool.map(run, commands))
  failed = [cell_name(c) for c, code in zip(todo, codes, strict=True)
            if code]
  table = write_table(root, parsed)
  if failed:
    table += f"\nFailed cells (see <cell>.log): {failed}\n"
  return table


def main(argv):
  """Runs the flags' sweep and prints its table."""
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if not ROOT.value or not GRID.value:
    raise app.UsageError("--root and at least one --grid are required.")
  if PARALLEL.value < 1:
    raise app.UsageError(f"--parallel must be >= 1, got {PARALLEL.value}.")
  for grid in GRID.value:
    try:
      parse_grid(grid)
    except ValueError as e:
      raise app.UsageError(str(e)) from e
  print(run_sweep(launcher=LAUNCHER.value, root=pathlib.Path(ROOT.value),
                  common=COMMON.value, grids=GRID.value,
                  parallel=PARALLEL.value, dry_run=DRY_RUN.value,
                  label=LABEL.value))


if __name__ == "__main__":
  app.run(main)
