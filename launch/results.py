r"""Regenerates ``RESULTS.md`` from run directories.

Scans a tree of run directories (each with ``config.json`` and
``summary.json``, as written by the launchers), groups them by experiment
(``config["experiment"]``) and variant (``config["extra"]["variant"]``),
and writes per experiment: the expected direction from the papers
(validation cases V1-V5 of our reference notes), a table of final and
lifetime returns (mean ± 95% Student-t confidence interval over seeds, seed
count, the MMER for in-context tasks (:data:`MMER_EXPERIMENTS`),
environment steps, wall time, machine), one comparison figure of all
variants (``results/<experiment>/comparison.png``: lifetime return bars
with 95% confidence intervals, one panel per task; :func:`comparison_figure`),
the runs' plots (copied small into ``results/<experiment>/`` and linked)
and, verbatim, the owners' notes ``results/notes/<experiment>.md`` when
present. The convex experiment (V2) has no seeds: its table of iteration
counts is rendered instead, and its figure shows the speedup of each
setting.

Pooling rule (:func:`group_runs`): one table row pools the seeds of the run
directories of one variant label whose configurations are equal, that is
whose ``config.json`` agree in every field except the seed bookkeeping
(``run.seed``, ``run.num_seeds``, ``run.log_every``) and whose summaries
have the same ``env_steps``; a field present in one and missing in the
other counts as a difference. Run directories of one label with distinct
configurations are never pooled: each configuration gets its own row,
labelled ``"<variant> @ <steps>"`` when only the length differs
(``run.steps``, ``agent.num_updates``, ``env_steps``) and
``"<variant> (<run dir> + ...)"`` (the names of its run directories)
otherwise.

With ``--keep_missing`` the previous ``RESULTS.md`` is read back
(:mod:`launch.results_markdown`). The section of an experiment with no run
directory under ``--runs`` is kept verbatim, marked as kept, and its
comparison figure is drawn from the numbers of its table
(:func:`section_figure`) and linked after it. In a regenerated section, the
previous rows of variant labels that have no run directory now (the label
before any ``@ <steps>`` or ``(<run dir>)`` suffix) are kept in the table,
marked ``(kept)``, with their plots, and drawn in grey in the figure.
Regenerating twice gives the same file.

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

from launch import results_figures as figures
from launch import results_markdown as md

__all__ = ["EXPECTED", "MMER_EXPERIMENTS", "Run", "comparison_figure",
           "group_runs", "learner", "load_runs", "main", "render",
           "section_figure", "t_interval", "variant_stats", "write_results"]

#: Experiments whose tables report the MMER (in-context tasks, as Lu et al.
#: 2023 report them).
MMER_EXPERIMENTS = frozenset({"popgym", "meta_cartpole", "memory_chain"})

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
#: Fields that may differ between pooled run directories (seeding only).
_BOOKKEEPING = ("run.seed", "run.num_seeds", "run.log_every")
#: Fields that follow from the run's length.
_LENGTH = frozenset({"env_steps", "run.steps", "agent.num_updates"})


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
  """``{experiment: {row label: [runs]}}``, names sorted.

  Seeds are pooled only across run directories of equal configuration
  (``config.json`` equal but for the seed bookkeeping, same
  ``env_steps``): when one variant label has several configurations, each
  gets its own row, labelled ``"<variant> @ <steps>"`` when only the length
  differs and ``"<variant> (<run dir> + ...)"`` otherwise.
  """
  by_label: dict[str, dict[str, list[Run]]] = {}
  for run in runs:
    by_label.setdefault(run.experiment, {}).setdefault(
        run.variant, []).append(run)
  groups = {}
  for experiment, variants in sorted(by_label.items()):
    rows = {}
    for variant, members in variants.items():
      rows.update(_split(variant, members))
    groups[experiment] = dict(sorted(rows.items(), key=lambda kv: kv[0]))
  return groups


def _settings(run: Run) -> dict[str, str]:
  """The run's configuration as flat ``{"section.key": json}`` items plus
  the summary's ``env_steps``, without the seed bookkeeping."""
  flat = {"env_steps": json.dumps(run.summary.get("env_steps"))}
  for name, value in run.config.items():
    items = value.items() if isinstance(value, dict) else [("", value)]
    for key, v in items:
      flat[f"{name}.{key}" if key else name] = json.dumps(v, sort_keys=True)
  for key in _BOOKKEEPING:
    flat.pop(key, None)
  return flat


def _split(variant: str, members: Sequence[Run]) -> dict[str, list[Run]]:
  """The run directories of one variant label, one entry per distinct
  configuration, labelled as :func:`group_runs` says."""
  configs: dict[str, list[Run]] = {}
  for run in members:
    key = json.dumps(_settings(run), sort_keys=True)
    configs.setdefault(key, []).append(run)
  if len(configs) == 1:
    return {variant: list(members)}
  settings = [_settings(rs[0]) for rs in configs.values()]
  differing = {k for k in set().union(*settings)
               if len({s.get(k) for s in settings}) > 1}
  labels = [f"{variant} @ {_steps_label(rs[0].summary.get('env_steps'))}"
            for rs in configs.values()]
  if not differing <= _LENGTH or len(set(labels)) < len(labels):
    labels = [f"{variant} ({' + '.join(r.path.name for r in rs)})"
              for rs in configs.values()]
  labels = [label if labels.count(label) == 1 else f"{label} #{i + 1}"
            for i, label in enumerate(labels)]
  return dict(zip(labels, configs.values(), strict=True))


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
  mmer = [v for r in runs for v in r.summary.get("mmer") or []]
  machines = sorted({_machine(r.summary.get("machine") or {}) for r in runs})
  return {
      "final": t_interval(final), "lifetime": t_interval(lifetime),
      "mmer": t_interval(mmer),
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


def _canonical(experiment: str) -> str:
  key = experiment.lower().replace("-", "_")
  return _ALIASES.get(key, key)


def _expected(experiment: str) -> str:
  return EXPECTED.get(_canonical(experiment),
                      "(no expectation recorded for this experiment)")


def _copy_plots(experiment: str, variant: str, runs: Sequence[Run],
                results_dir: pathlib.Path, out_dir: pathlib.Path) -> list[str]:
  """Copies the first run's plots; returns links relative to ``out_dir``."""
  links = []
  for name in _PLOTS:
    source = runs[0].path / name
    if not source.exists():
      continue
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-",
                  variant.replace(" @ ", "-at-")).strip("-")
    target = results_dir / experiment / f"{slug}-{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    links.append(os.path.relpath(target, out_dir))
  return links


def _run_row(variant: str, runs: Sequence[Run], *, mmer: bool) -> md.Row:
  """The table row of one variant's pooled run directories (the MMER cell
  filled only if ``mmer``)."""
  s = variant_stats(runs)
  hp = ", ".join(f"{k[3:]}={x:.3g}" for k, x in s["hp"].items()) or "-"
  steps = ", ".join(f"{x:,}" if isinstance(x, int) else str(x)
                    for x in s["env_steps"])
  cells = (str(s["lifetime"][2]), md.fmt_interval(s["final"]),
           md.fmt_interval(s["lifetime"]),
           md.fmt_interval(s["mmer"]) if mmer and s["mmer"][2] else "-",
           steps, f"{s['wall_s']:.0f}", hp,
           learner(runs[0].config), s["machine"])
  task = " / ".join(sorted({r.task for r in runs}))
  return md.Row(variant, task, s["lifetime"], cells)


def learner(config: Mapping[str, Any]) -> str:
  """The learner of an agent run in a few words (inner rule, step size,
  gradient clip, networks, core, loss), e.g. ``"sgd 0.1, clip 1, separate
  2×256"``; ``"-"`` for a run without an ``agent`` config. Runs of one
  variant row share it (rows pool only equal configurations)."""
  agent = config.get("agent")
  if not isinstance(agent, Mapping) or "optimizer" not in agent:
    return "-"
  num = lambda v: f"{v:g}" if isinstance(v, (int, float)) else str(v)  # noqa: E731
  parts = [f"{agent['optimizer']} {num(agent.get('learning_rate', '?'))}"]
  if agent.get("max_grad_norm"):
    parts.append(f"clip {num(agent['max_grad_norm'])}")
  nets = "separate" if agent.get("separate_networks") else "shared"
  parts.append(f"{nets} {agent.get('num_layers', '?')}×"
               f"{agent.get('width', '?')}")
  if agent.get("core", "mlp") != "mlp":
    parts.append(agent["core"])
  if agent.get("loss", "a2c") != "a2c":
    parts.append(agent["loss"])
  return ", ".join(parts)


def _return_key(variants: Mapping[str, list[Run]]) -> str:
  """The return metric of the first run (``"return"`` when missing)."""
  first = next(iter(variants.values()))[0]
  return first.summary.get("return_key", "return")


def _is_convex(runs: Sequence[Run]) -> bool:
  """Whether the runs hold an iteration-count table (no seeds)."""
  return bool(runs) and all("table" in r.summary for r in runs)


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


def comparison_figure(experiment: str, variants: Mapping[str, list[Run]], *,
                      kept: Sequence[md.Row] = ()):
  """One figure comparing every variant of an experiment.

  Horizontal bars: the lifetime return, mean over the pooled seeds;
  whiskers: its 95% Student-t confidence interval (:func:`t_interval`; none
  with one seed). One panel per task (returns of different tasks do not
  compare), variants ranked as in the table. Rows ``kept`` from a previous
  RESULTS.md are drawn with them, in grey. The convex experiment (no
  seeds) shows instead the speedup (plain ÷ optimistic iterations) of each
  setting against its pass lines.

  Returns:
    A ``matplotlib.figure.Figure`` (not registered with pyplot), or
    ``None`` when no variant has a finite value.
  """
  runs = [r for rs in variants.values() for r in rs]
  if _is_convex(runs):
    table = [r for run in runs for r in run.summary["table"]]
    return figures.convex_figure(experiment, table)
  rows = [_run_row(v, rs, mmer=False) for v, rs in variants.items()]
  rows += list(kept)
  key = _return_key(variants) if variants else "return"
  return figures.rows_figure(experiment, rows, key)


def section_figure(experiment: str, section: str):
  """The comparison figure of a RESULTS.md section, drawn from the numbers
  of its table (:func:`comparison_figure`'s figure for a section kept
  without run directories).

  Returns:
    A ``matplotlib.figure.Figure``, or ``None`` when the section has no
    table with a finite value.
  """
  convex = md.parse_convex_table(section)
  if convex:
    return figures.convex_figure(experiment, convex)
  rows = md.parse_seed_table(section)
  key = md.parse_return_key(section) or "return"
  return figures.rows_figure(experiment, rows, key)


def _save_figure(fig, experiment: str, results_dir: pathlib.Path,
                 out_dir: pathlib.Path) -> str | None:
  """Saves ``fig`` as ``results/<experiment>/comparison.png``; returns its
  markdown image line, links relative to ``out_dir`` (``None`` without a
  figure)."""
  if fig is None:
    return None
  target = results_dir / experiment / "comparison.png"
  target.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(target, dpi=90, bbox_inches="tight")
  link = os.path.relpath(target, out_dir)
  return f"![{experiment}: all variants compared]({link})"


def _kept_rows(experiment: str, previous: str,
               variants: Mapping[str, list[Run]]) -> tuple[list[md.Row],
                                                           list[str]]:
  """The rows of the ``previous`` section whose variant label has no run
  directory among ``variants`` (labels compared without their
  ``@ <steps>`` / ``(<run dir>)`` suffix), and their plot lines."""
  runs = [r for rs in variants.values() for r in rs]
  if not previous or _is_convex(runs):
    return [], []
  base = lambda label: re.split(r" @ | \(", label)[0]  # noqa: E731
  present = {base(v) for v in variants}
  rows = [r for r in md.parse_seed_table(previous)
          if base(r.variant) not in present]
  # A table without a task column held one task; when the runs now hold
  # one too, the kept rows rank with theirs instead of as another task.
  tasks = {r.task for r in runs}
  if len(tasks) == 1 and all(not r.task for r in rows):
    rows = [r._replace(task=next(iter(tasks))) for r in rows]
  plots = [line for line in previous.splitlines() for r in rows
           if line.startswith(f"![{experiment} {r.variant}](")]
  return rows, plots


def _run_section(experiment: str, variants: Mapping[str, list[Run]], *,
                 previous: str, results_dir: pathlib.Path,
                 out_dir: pathlib.Path) -> list[str]:
  """The lines of one experiment's section, regenerated from its runs (and
  the ``previous`` section's kept rows)."""
  lines = [f"## {experiment}", "", f"**Expected.** {_expected(experiment)}",
           ""]
  runs = [r for rs in variants.values() for r in rs]
  kept, kept_plots = _kept_rows(experiment, previous, variants)
  if _is_convex(runs):
    lines += _convex_table(runs)
  else:
    mmer = _canonical(experiment) in MMER_EXPERIMENTS
    rows = [_run_row(v, rs, mmer=mmer) for v, rs in variants.items()] + kept
    lines += md.seed_table(rows, _return_key(variants))
  lines.append("")
  figure = _save_figure(comparison_figure(experiment, variants, kept=kept),
                        experiment, results_dir, out_dir)
  if figure is not None:
    lines += [figure, ""]
  for variant, vruns in variants.items():
    for link in _copy_plots(experiment, variant, vruns, results_dir,
                            out_dir):
      lines.append(f"![{experiment} {variant}]({link})")
  lines += kept_plots
  notes = results_dir / "notes" / f"{experiment}.md"
  if notes.exists():
    lines += ["", "### Notes", "", notes.read_text().rstrip()]
  return lines + [""]


def _kept_section(experiment: str, section: str, *,
                  results_dir: pathlib.Path, out_dir: pathlib.Path) -> str:
  """A previous section kept verbatim, marked as kept, with its comparison
  figure drawn from its table (:func:`section_figure`)."""
  marker = ("*Kept from the previous RESULTS.md: no run directory of "
            "this experiment under the runs root this time.*")
  if marker not in section:
    head, _, rest = section.partition("\n")
    section = f"{head}\n\n{marker}\n{rest}"
  figure = _save_figure(section_figure(experiment, section), experiment,
                        results_dir, out_dir)
  if figure is None:
    return section
  return md.embed_figure(section, figure, md.FIGURE_NOTE)


def render(groups: Mapping[str, Mapping[str, list[Run]]], *,
           out_dir: str | os.PathLike, results_dir: str | os.PathLike,
           command: str = "python -m launch.results",
           previous: Mapping[str, str] | None = None) -> str:
  """The markdown of RESULTS.md (copies plots and writes each experiment's
  comparison figure as side effects).

  Args:
    groups: :func:`group_runs` output.
    out_dir: directory of the markdown file (links are relative to it).
    results_dir: where plots are copied and notes are read
      (``<results_dir>/notes/<experiment>.md``).
    command: the command line recorded in the header.
    previous: sections of the previous RESULTS.md by experiment
      (``--keep_missing``): those of experiments not in ``groups`` are
      kept, after the others, with a figure drawn from their table; the
      rows of variants without runs are kept in the regenerated tables.
  """
  out_dir, results_dir = pathlib.Path(out_dir), pathlib.Path(results_dir)
  previous = previous or {}
  lines = ["# Results", "",
           f"Generated by `{command}` from run directories; do not edit by "
           "hand. Owners' notes go in `results/notes/<experiment>.md`.", ""]
  for experiment, variants in groups.items():
    lines += _run_section(experiment, variants,
                          previous=previous.get(experiment, ""),
                          results_dir=results_dir, out_dir=out_dir)
  text = "\n".join(lines).rstrip() + "\n"
  for experiment, section in previous.items():
    if experiment not in groups:
      text += "\n" + _kept_section(experiment, section,
                                   results_dir=results_dir, out_dir=out_dir)
  return text


def write_results(runs_root: str | os.PathLike, out: str | os.PathLike, *,
                  results_dir: str | os.PathLike | None = None,
                  keep_missing: bool = False) -> str:
  """Scans ``runs_root`` and writes ``out``; returns the markdown.

  Args:
    runs_root: the tree of run directories.
    out: the markdown file to write.
    results_dir: plots and notes directory (``results/`` beside ``out``).
    keep_missing: keep from the existing ``out`` the sections of
      experiments with no run directory under ``runs_root`` (run
      directories of an earlier machine), each marked as such and given a
      comparison figure drawn from its table, and the table rows of
      variants with no run directory (see :func:`render`).
  """
  out = pathlib.Path(out)
  out_dir = out.parent if str(out.parent) else pathlib.Path(".")
  results_dir = pathlib.Path(results_dir or out_dir / "results")
  runs = load_runs(runs_root)
  if not runs:
    raise ValueError(f"No run directories (config.json + summary.json) "
                     f"under {runs_root}.")
  previous = (md.sections(out.read_text())
              if keep_missing and out.exists() else {})
  keep = " --keep_missing" if keep_missing else ""
  text = render(group_runs(runs), out_dir=out_dir, results_dir=results_dir,
                command=f"python -m launch.results --runs {runs_root} "
                f"--out {out.name}{keep}", previous=previous)
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
