r"""Regenerates ``RESULTS.md`` from run directories.

Scans a tree of run directories (each with ``config.json`` and
``summary.json``, as written by the launchers), groups them by experiment
(``config["experiment"]``) and variant (``config["extra"]["variant"]``),
pools the seeds of all run directories of a variant, and writes per
experiment: the expected direction from the papers (validation cases V1-V5
of our reference notes), a table of final and lifetime returns (mean ± 95%
Student-t confidence interval over seeds, seed count, environment steps,
wall time, machine), one comparison figure of all variants
(``results/<experiment>/comparison.png``: lifetime return bars with 95%
confidence intervals, one panel per task; :func:`comparison_figure`), the
runs' plots (copied small into ``results/<experiment>/`` and linked) and,
verbatim, the owners' notes ``results/notes/<experiment>.md`` when present.
The convex experiment (V2) has no seeds: its table of iteration counts is
rendered instead, and its figure shows the speedup of each setting.

Command::

  python -m launch.results --runs /work/runs --out RESULTS.md

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Flennerhag et al, `Optimistic Meta-Gradients
  <https://arxiv.org/abs/2301.03236>`_, 2023.
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import re
import shutil
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

__all__ = ["EXPECTED", "Run", "comparison_figure", "group_runs",
           "load_runs", "main", "render", "t_interval", "variant_stats",
           "write_results"]

#: Expected direction per experiment, from the papers (algorithms.md §7).
EXPECTED: dict[str, str] = {
    "two_colors": (
        "V1 (Luketina et al. Table 1; Flennerhag et al.): BMG-reward-context "
        "> MG-reward-context > no context ≈ fixed entropy in lifetime "
        "return; the entropy weight spikes after each swap only with "
        "context."),
    "q_lambda": (
        "V1 Q-learning variant (Luketina et al. Table 1, 10M steps): Q(λ) "
        "with ε meta-learned by update-free BMG (K = 0) 1.78 (no context) / "
        "1.93 (reward context) vs fixed ε 0.58 in lifetime return; ε rises "
        "after each swap only with context."),
    "popgym": (
        "V3 (Lu et al.): on RepeatPreviousMedium the S5 core is clearly "
        "above GRU/LSTM; the memoryless MLP cannot solve RepeatPrevious."),
    "memory_chain": (
        "V3 (c) (Lu et al.): on the bsuite memory chain S5 >= LSTM at "
        "longer memory lengths, and faster."),
    "meta_cartpole": (
        "V4 (Lu et al. Fig. 3): return rises across trials within an "
        "episode."),
    "bandit": (
        "V5 (Luketina et al. findings 1-2): lifetime return with context > "
        "no context ≈ fixed entropy; exploration rises after each switch "
        "only with context."),
    "convex": (
        "V2 (Flennerhag et al. 2023): the optimistic meta-update is never "
        "more than 5% slower than plain and >= 1.3x faster for μ >= 0.97 "
        "(numpy prototypes: 625 vs 420 and 1884 vs 1010 iterations on the "
        "quadratic at μ = 0.97, 0.99)."),
}
_ALIASES = {"twocolors": "two_colors", "two_colours": "two_colors",
            "memorychain": "memory_chain", "meta_rl": "meta_cartpole",
            "metarl": "meta_cartpole", "cartpole": "meta_cartpole"}
_PLOTS = ("returns.png", "hyperparams.png", "curves.png",
          "trial_returns.png")


class Run(NamedTuple):
  """One run directory: its path, ``config.json`` and ``summary.json``."""

  path: pathlib.Path
  config: dict[str, Any]
  summary: dict[str, Any]

  @property
  def experiment(self) -> str:
    """``config["experiment"]`` (or the summary's, or the parent dir)."""
    return str(self.config.get("experiment")
               or self.summary.get("experiment") or self.path.parent.name)

  @property
  def variant(self) -> str:
    """``config["extra"]["variant"]``, ``"default"`` when missing."""
    return str((self.config.get("extra") or {}).get("variant") or "default")

  @property
  def task(self) -> str:
    """``config["agent"]["task"]``, ``""`` when missing."""
    return str((self.config.get("agent") or {}).get("task") or "")


def load_runs(root: str | os.PathLike) -> list[Run]:
  """Every directory under ``root`` holding both JSON files, sorted.

  Symbolic links are followed, so ``root`` may be a curated tree of links
  to run directories kept elsewhere.
  """
  runs = []
  found = [pathlib.Path(d) / "config.json"
           for d, _, files in os.walk(root, followlinks=True)
           if "config.json" in files]
  for config_path in sorted(found):
    summary_path = config_path.parent / "summary.json"
    if summary_path.exists():
      runs.append(Run(config_path.parent, json.loads(config_path.read_text()),
                      json.loads(summary_path.read_text())))
  return runs


def group_runs(runs: Sequence[Run]) -> dict[str, dict[str, list[Run]]]:
  """``{experiment: {variant: [runs]}}``, names sorted.

  Seeds are pooled only across runs of the same length: when one variant
  label has runs of different ``env_steps``, each length gets its own row,
  labelled ``"<variant> @ <steps>"``.
  """
  groups: dict[str, dict[str, list[Run]]] = {}
  for run in runs:
    groups.setdefault(run.experiment, {}).setdefault(run.variant, []).append(
        run)
  for variants in groups.values():
    for variant, members in list(variants.items()):
      lengths = {r.summary.get("env_steps") for r in members}
      if len(lengths) > 1:
        del variants[variant]
        for r in members:
          label = f"{variant} @ {_steps_label(r.summary.get('env_steps'))}"
          variants.setdefault(label, []).append(r)
  return {e: dict(sorted(v.items())) for e, v in sorted(groups.items())}


def _steps_label(steps: Any) -> str:
  """``2000000 -> "2M"``, ``200016 -> "200k"``; anything else as text."""
  if not isinstance(steps, int | float):
    return str(steps)
  if steps >= 1e6:
    return f"{steps / 1e6:.3g}M"
  return f"{steps / 1e3:.3g}k"


def t_interval(values: Sequence[float]) -> tuple[float, float, int]:
  """Mean and 95% Student-t half-width over seeds.

  ``half = t_{0.975, n-1} · s / √n`` with the sample standard deviation
  ``s`` (``ddof = 1``). Missing values (``None``/NaN) are dropped.

  Returns:
    ``(mean, half_width, n)``; the half-width is NaN for ``n < 2``.
  """
  x = np.asarray([v for v in values if v is not None], np.float64)
  x = x[np.isfinite(x)]
  n = int(x.size)
  if n == 0:
    return math.nan, math.nan, 0
  if n == 1:
    return float(x[0]), math.nan, 1
  half = stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
  return float(x.mean()), float(half), n


def variant_stats(runs: Sequence[Run]) -> dict[str, Any]:
  """Pooled seeds of one variant: final/lifetime intervals and the rest."""
  final = [v for r in runs for v in r.summary.get("final", [])]
  lifetime = [v for r in runs for v in r.summary.get("lifetime", [])]
  machines = sorted({_machine(r.summary.get("machine") or {}) for r in runs})
  return {
      "final": t_interval(final), "lifetime": t_interval(lifetime),
      "env_steps": sorted({r.summary.get("env_steps") for r in runs},
                          key=str),
      "wall_s": sum(float(r.summary.get("wall_s") or 0.0) for r in runs),
      "machine": "; ".join(machines),
      "base_seeds": sorted({(r.config.get("run") or {}).get("seed")
                            for r in runs}, key=str),
      "return_key": runs[0].summary.get("return_key", "return"),
      "hp": {k: float(np.mean([r.summary[k] for r in runs if k in r.summary]))
             for k in sorted({k for r in runs for k in r.summary
                              if k.startswith("hp/")})},
  }


def _machine(m: Mapping[str, Any]) -> str:
  if not m:
    return "?"
  platform = str(m.get("platform", "?")).split("-with")[0]
  return f"{m.get('cpus', '?')} CPUs, {platform}"


def _fmt(interval: tuple[float, float, int]) -> str:
  mean, half, n = interval
  if n == 0:
    return "n/a"
  if not math.isfinite(half):
    return f"{mean:.3f}"
  return f"{mean:.3f} ± {half:.3f}"


def _expected(experiment: str) -> str:
  key = experiment.lower().replace("-", "_")
  key = _ALIASES.get(key, key)
  return EXPECTED.get(key, "(no expectation recorded for this experiment)")


def _copy_plots(experiment: str, variant: str, runs: Sequence[Run],
                results_dir: pathlib.Path, out_dir: pathlib.Path) -> list[str]:
  """Copies the first run's plots; returns links relative to ``out_dir``."""
  links = []
  for name in _PLOTS:
    source = runs[0].path / name
    if not source.exists():
      continue
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", variant.replace(" @ ", "-at-"))
    target = results_dir / experiment / f"{slug}-{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    links.append(os.path.relpath(target, out_dir))
  return links


def _natural(text: str) -> tuple:
  """Sort key with digit runs as numbers ("L5" before "L20")."""
  return tuple(int(part) if part.isdigit() else part
               for part in re.split(r"(\d+)", text))


def _seed_table(variants: Mapping[str, list[Run]]) -> list[str]:
  """Rows grouped by task (returns of different tasks do not compare),
  each group ranked by lifetime return; a task column when there are
  several tasks."""
  rows = {v: variant_stats(runs) for v, runs in variants.items()}
  tasks = {v: " / ".join(sorted({r.task for r in runs}))
           for v, runs in variants.items()}
  several = len(set(tasks.values())) > 1
  key = next(iter(rows.values()))["return_key"]
  lines = [
      f"Return metric: `{key}`; final = mean of the last 10% of log rows, "
      "lifetime = mean of all rows, per seed; mean ± 95% CI (Student t) "
      "over seeds.", "",
      "| variant | " + ("task | " if several else "") + "seeds | final | "
      "lifetime | env steps / seed | wall s | learned hp (last) | machine |",
      "|---|" + ("---|" if several else "") + "---|---|---|---|---|---|---|"]
  order = sorted(rows, key=lambda v: (
      _natural(tasks[v]), -np.nan_to_num(rows[v]["lifetime"][0],
                                         nan=-np.inf)))
  for v in order:
    s = rows[v]
    hp = ", ".join(f"{k[3:]}={x:.3g}" for k, x in s["hp"].items()) or "-"
    steps = ", ".join(f"{x:,}" if isinstance(x, int) else str(x)
                      for x in s["env_steps"])
    task = f"{tasks[v]} | " if several else ""
    lines.append(
        f"| {v} | {task}{s['lifetime'][2]} | {_fmt(s['final'])} | "
        f"{_fmt(s['lifetime'])} | {steps} | {s['wall_s']:.0f} | {hp} | "
        f"{s['machine']} |")
  return lines


def _convex_table(runs: Sequence[Run]) -> list[str]:
  lines = ["Iterations to the threshold (— : not reached in the budget).", "",
           "| problem | β·β_f | μ | hint | plain | optimistic | speedup "
           "| pass |", "|---|---|---|---|---|---|---|---|"]
  for run in runs:
    for r in run.summary["table"]:
      dash = lambda x: "—" if x is None else str(x)  # noqa: E731
      lines.append(
          f"| {r['problem']} | {r['beta_scale']:g} | {r['mu']:g} | "
          f"{r['hint']} | {dash(r['plain'])} | {dash(r['optimistic'])} | "
          f"{r['speedup']:.2f} | {'yes' if r['passed'] else 'NO'} |")
    lines += ["", f"{run.summary.get('passed')}/{run.summary.get('total')} "
              f"settings pass; wall {float(run.summary.get('wall_s', 0)):.0f}"
              f" s; {_machine(run.summary.get('machine') or {})}."]
  return lines


def _wrap(label: str, width: int = 42) -> str:
  """Breaks a long variant label after ``_`` / ``-`` to lines of about
  ``width`` characters (labels have no spaces)."""
  lines, line = [], ""
  for part in re.split(r"(?<=[_\- ])", label):
    if line and len(line) + len(part) > width:
      lines.append(line)
      line = ""
    line += part
  return "\n".join([*lines, line])


def _panels(variants: Mapping[str, list[Run]]) -> dict[str, list[str]]:
  """Variants by task (natural order), each ranked by lifetime return, as
  in the table."""
  by_task: dict[str, list[str]] = {}
  for v, runs in variants.items():
    task = " / ".join(sorted({r.task for r in runs}))
    by_task.setdefault(task, []).append(v)
  return dict(sorted(by_task.items(), key=lambda kv: _natural(kv[0])))


def comparison_figure(experiment: str, variants: Mapping[str, list[Run]]):
  """One figure comparing every variant of an experiment.

  Horizontal bars: the lifetime return, mean over the pooled seeds;
  whiskers: its 95% Student-t confidence interval (:func:`t_interval`; none
  with one seed). One panel per task (returns of different tasks do not
  compare), variants ranked as in the table. The convex experiment (no
  seeds) shows instead the speedup (plain ÷ optimistic iterations) of each
  setting against its pass lines.

  Returns:
    A ``matplotlib.figure.Figure`` (not registered with pyplot), or
    ``None`` when no variant has a finite value.
  """
  runs = [r for rs in variants.values() for r in rs]
  if runs and all("table" in r.summary for r in runs):
    return _convex_figure(experiment, runs)
  from matplotlib.figure import Figure

  summaries = {v: variant_stats(rs) for v, rs in variants.items()}
  if not any(math.isfinite(s["lifetime"][0]) for s in summaries.values()):
    return None
  panels = _panels(variants)
  for names in panels.values():
    names.sort(key=lambda v: -np.nan_to_num(summaries[v]["lifetime"][0],
                                            nan=-np.inf))
  labels = {v: _wrap(f"{v} (n={summaries[v]['lifetime'][2]})")
            for v in variants}
  heights = [sum(labels[v].count("\n") + 1 for v in names) + 1.5
             for names in panels.values()]
  fig = Figure(figsize=(8.5, 1.0 + 0.3 * sum(heights)), layout="constrained")
  axes = fig.subplots(len(panels), 1, squeeze=False,
                      gridspec_kw={"height_ratios": heights})[:, 0]
  key = next(iter(summaries.values()))["return_key"]
  for ax, (task, names) in zip(axes, panels.items(), strict=True):
    y = np.arange(len(names))
    mean = np.array([summaries[v]["lifetime"][0] for v in names])
    half = np.array([summaries[v]["lifetime"][1] for v in names])
    ax.barh(y, np.nan_to_num(mean), color="C0", alpha=0.8,
            label="mean over seeds")
    finite = np.isfinite(half)  # One seed: no interval.
    if finite.any():
      ax.errorbar(mean[finite], y[finite], xerr=half[finite], fmt="none",
                  ecolor="black", capsize=3, label="95% CI (Student t)")
    ax.set_yticks(y, [labels[v] for v in names], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0.0, color="grey", linewidth=0.6)
    ax.set_title(task or experiment, fontsize=9)
    ax.set_xlabel(f"lifetime {key}")
    ax.legend(fontsize=7, loc="best")
  fig.suptitle(f"{experiment}: lifetime {key} by variant (mean over seeds, "
               "95% CI)", fontsize=10)
  return fig


def _convex_figure(experiment: str, runs: Sequence[Run]):
  from matplotlib.figure import Figure

  rows = [r for run in runs for r in run.summary["table"]]
  if not rows:
    return None
  labels = [f"{r['problem']} β={r['beta_scale']:g} μ={r['mu']:g} "
            f"h={r['hint']}" for r in rows]
  speedup = np.array([r["speedup"] for r in rows], np.float64)
  passed = [bool(r["passed"]) for r in rows]
  fig = Figure(figsize=(7.0, 1.5 + 0.3 * len(rows)))
  ax = fig.subplots()
  y = np.arange(len(rows))
  for ok, color, label in ((True, "C0", "passes"), (False, "C3", "fails")):
    mask = np.array(passed) == ok
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


def _write_comparison(experiment: str, variants: Mapping[str, list[Run]],
                      results_dir: pathlib.Path,
                      out_dir: pathlib.Path) -> str | None:
  """Saves :func:`comparison_figure`; returns its link relative to
  ``out_dir`` (``None`` without a figure)."""
  fig = comparison_figure(experiment, variants)
  if fig is None:
    return None
  target = results_dir / experiment / "comparison.png"
  target.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(target, dpi=90, bbox_inches="tight")
  return os.path.relpath(target, out_dir)


def render(groups: Mapping[str, Mapping[str, list[Run]]], *,
           out_dir: str | os.PathLike, results_dir: str | os.PathLike,
           command: str = "python -m launch.results") -> str:
  """The markdown of RESULTS.md (copies plots and writes each experiment's
  comparison figure as side effects).

  Args:
    groups: :func:`group_runs` output.
    out_dir: directory of the markdown file (links are relative to it).
    results_dir: where plots are copied and notes are read
      (``<results_dir>/notes/<experiment>.md``).
    command: the command line recorded in the header.
  """
  out_dir, results_dir = pathlib.Path(out_dir), pathlib.Path(results_dir)
  lines = ["# Results", "",
           f"Generated by `{command}` from run directories; do not edit by "
           "hand. Owners' notes go in `results/notes/<experiment>.md`.", ""]
  for experiment, variants in groups.items():
    lines += [f"## {experiment}", "", f"**Expected.** {_expected(experiment)}",
              ""]
    runs = [r for rs in variants.values() for r in rs]
    if all("table" in r.summary for r in runs):
      lines += _convex_table(runs)
    else:
      lines += _seed_table(variants)
    lines.append("")
    link = _write_comparison(experiment, variants, results_dir, out_dir)
    if link is not None:
      lines += [f"![{experiment}: all variants compared]({link})", ""]
    for variant, vruns in variants.items():
      for link in _copy_plots(experiment, variant, vruns, results_dir,
                              out_dir):
        lines.append(f"![{experiment} {variant}]({link})")
    notes = results_dir / "notes" / f"{experiment}.md"
    if notes.exists():
      lines += ["", "### Notes", "", notes.read_text().rstrip()]
    lines.append("")
  return "\n".join(lines).rstrip() + "\n"


def _sections(text: str) -> dict[str, str]:
  """The ``## <experiment>`` sections of a RESULTS.md, by experiment."""
  parts = re.split(r"^## ", text, flags=re.M)[1:]
  return {p.split("\n", 1)[0].strip(): "## " + p.rstrip() + "\n"
          for p in parts}


def write_results(runs_root: str | os.PathLike, out: str | os.PathLike, *,
                  results_dir: str | os.PathLike | None = None,
                  keep_missing: bool = False) -> str:
  """Scans ``runs_root`` and writes ``out``; returns the markdown.

  Args:
    runs_root: the tree of run directories.
    out: the markdown file to write.
    results_dir: plots and notes directory (``results/`` beside ``out``).
    keep_missing: keep, verbatim, the sections of ``out`` for experiments
      with no run directory under ``runs_root`` (run directories of an
      earlier machine), each marked as such.
  """
  out = pathlib.Path(out)
  out_dir = out.parent if str(out.parent) else pathlib.Path(".")
  results_dir = pathlib.Path(results_dir or out_dir / "results")
  runs = load_runs(runs_root)
  if not runs:
    raise ValueError(f"No run directories (config.json + summary.json) "
                     f"under {runs_root}.")
  groups = group_runs(runs)
  keep = " --keep_missing" if keep_missing else ""
  text = render(groups, out_dir=out_dir, results_dir=results_dir,
                command=f"python -m launch.results --runs {runs_root} "
                f"--out {out.name}{keep}")
  if keep_missing and out.exists():
    kept = {name: section for name, section in
            _sections(out.read_text()).items() if name not in groups}
    for section in kept.values():
      marker = ("*Kept from the previous RESULTS.md: no run directory of "
                "this experiment under the runs root this time.*")
      if marker not in section:
        head, _, rest = section.partition("\n")
        section = f"{head}\n\n{marker}\n{rest}"
      text += "\n" + section
  out.write_text(text)
  return text


def main(argv: Sequence[str] | None = None) -> None:
  """``python -m launch.results --runs DIR --out RESULTS.md``."""
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--runs", required=True, help="Run directories root.")
  parser.add_argument("--out", default="RESULTS.md", help="Markdown file.")
  parser.add_argument("--results_dir", default=None,
                      help="Plots/notes directory (default: results/ "
                      "beside --out).")
  parser.add_argument("--keep_missing", action="store_true",
                      help="Keep the sections of experiments with no run "
                      "directory under --runs.")
  args = parser.parse_args(argv)
  write_results(args.runs, args.out, results_dir=args.results_dir,
                keep_missing=args.keep_missing)
  print(f"wrote {args.out}")


if __name__ == "__main__":
  main()
