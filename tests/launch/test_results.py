"""RESULTS.md generator on synthetic run directories; the 95% Student-t
intervals are computed by hand (t_{0.975, 2} = 4.302653, from the t table).
"""

import json
import math

import numpy as np
import pytest

from launch import results
from launch import results_figures as figures
from launch import results_markdown as md

_T2 = 4.302652729749464  # t_{0.975} with 2 degrees of freedom.


def _run_dir(path, *, experiment, variant, summary, seed=0,
             env_steps=768000, task=None, agent=None):
  path.mkdir(parents=True)
  config = {"experiment": experiment, "run": {"seed": seed},
            "extra": {"variant": variant}}
  if task is not None or agent is not None:
    config["agent"] = {**({"task": task} if task else {}), **(agent or {})}
  (path / "config.json").write_text(json.dumps(config))
  (path / "summary.json").write_text(json.dumps(
      {"experiment": experiment, "return_key": "reward_mean",
       "env_steps": env_steps, "wall_s": 10.0,
       "machine": {"cpus": 2, "platform": "Linux-test"}, **summary}))
  (path / "returns.png").write_bytes(b"png:" + variant.encode())


def test_t_interval_by_hand():
  mean, half, n = results.t_interval([1.0, 2.0, 3.0])
  # s = 1, so half = t · 1 / √3.
  assert (mean, n) == (2.0, 3)
  assert half == pytest.approx(_T2 / math.sqrt(3), rel=1e-9)
  mean, half, n = results.t_interval([0.4, None, 0.5, 0.9, float("nan")])
  assert (mean, n) == (pytest.approx(0.6), 3)
  # s² = (0.04 + 0.01 + 0.09) / 2 = 0.07.
  assert half == pytest.approx(_T2 * math.sqrt(0.07 / 3), rel=1e-9)
  assert math.isnan(results.t_interval([0.3])[1])
  assert results.t_interval([])[2] == 0


def test_results_md_pools_seeds_copies_plots_and_notes(tmp_path):
  runs = tmp_path / "runs"
  # One variant split over two run dirs (seeds pooled), one in a single dir.
  _run_dir(runs / "bandit" / "bmg-rich-s0-1", experiment="bandit",
           variant="bmg-rich", summary={"final": [0.5, 0.6],
                                        "lifetime": [0.7, 0.8],
                                        "hp/entropy_weight": 0.2})
  _run_dir(runs / "bandit" / "bmg-rich-s2", experiment="bandit",
           variant="bmg-rich", seed=2,
           summary={"final": [0.7], "lifetime": [0.9],
                    "hp/entropy_weight": 0.4})
  _run_dir(runs / "bandit" / "fixed", experiment="bandit", variant="fixed",
           summary={"final": [0.4, 0.5, 0.9], "lifetime": [0.1, 0.2, 0.3]})
  _run_dir(runs / "convex" / "x", experiment="convex",
           variant="optimistic-vs-plain",
           summary={"table": [dict(problem="quadratic", beta_scale=1.0,
                                   mu=0.97, hint=1.0, plain=625,
                                   optimistic=420, speedup=625 / 420,
                                   passed=True),
                              dict(problem="quadratic", beta_scale=1.0,
                                   mu=0.99, hint="mu", plain=None,
                                   optimistic=1010, speedup=3000 / 1010,
                                   passed=True)],
                    "passed": 2, "total": 2})
  (runs / "bandit" / "incomplete").mkdir()  # No JSON files: skipped.
  notes = tmp_path / "repo" / "results" / "notes"
  notes.mkdir(parents=True)
  (notes / "bandit.md").write_text("We tried *three* meta learning rates.\n")
  out = tmp_path / "repo" / "RESULTS.md"
  text = results.write_results(runs, out)
  assert out.read_text() == text
  # bmg-rich pooled: final [0.5, 0.6, 0.7] (s = 0.1), lifetime [.7, .8, .9].
  half = _T2 * 0.1 / math.sqrt(3)
  row = f"| bmg-rich | 3 | 0.600 ± {half:.3f} | 0.800 ± {half:.3f} |"
  assert row in text
  assert "entropy_weight=0.3" in text  # Mean of the two run dirs' hp.
  half_fixed = _T2 * math.sqrt(0.07 / 3)
  assert f"| fixed | 3 | 0.600 ± {half_fixed:.3f} | 0.200 ± {half:.3f} |" \
      in text
  assert text.index("| bmg-rich |") < text.index("| fixed |")  # By lifetime.
  assert "768,000" in text and "2 CPUs, Linux-test" in text
  assert "context > no context" in text  # V5's expected direction.
  assert "We tried *three* meta learning rates." in text
  # Plots copied into results/<experiment>/ and linked relative to out.
  copied = tmp_path / "repo" / "results" / "bandit" / "fixed-returns.png"
  assert copied.read_bytes() == b"png:fixed"
  assert "(results/bandit/fixed-returns.png)" in text
  # Convex: the iteration-count table, a miss shown as a dash.
  assert "| quadratic | 1 | 0.97 | 1.0 | 625 | 420 | 1.49 | yes |" in text
  assert "| quadratic | 1 | 0.99 | mu | — | 1010 | 2.97 | yes |" in text
  assert text.index("## bandit") < text.index("## convex")
  # One comparison figure per experiment, written and embedded after its
  # table, before the runs' plots.
  for experiment in ("bandit", "convex"):
    figure = tmp_path / "repo" / "results" / experiment / "comparison.png"
    assert figure.read_bytes().startswith(b"\x89PNG"), experiment
    link = f"(results/{experiment}/comparison.png)"
    assert text.count(link) == 1
  assert (text.index("| fixed |") < text.index("bandit/comparison.png")
          < text.index("bandit/fixed-returns.png"))


def test_comparison_figure_bars_are_means_and_whiskers_95_ci(tmp_path):
  runs = tmp_path / "runs"
  _run_dir(runs / "bandit" / "a", experiment="bandit", variant="low",
           summary={"final": [0.0] * 3, "lifetime": [0.1, 0.2, 0.3]})
  _run_dir(runs / "bandit" / "b", experiment="bandit", variant="high",
           summary={"final": [0.0] * 3, "lifetime": [0.7, 0.8, 0.9]})
  _run_dir(runs / "bandit" / "c", experiment="bandit", variant="one-seed",
           summary={"final": [0.0], "lifetime": [0.5]})
  variants = results.group_runs(results.load_runs(runs))["bandit"]
  fig = results.comparison_figure("bandit", variants)
  (ax,) = fig.axes
  assert "bandit" in fig.get_suptitle() and "95% CI" in fig.get_suptitle()
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert labels == ["mean over seeds", "95% CI (Student t)"]
  # Bars ranked by lifetime return, top to bottom, each its seeds' mean.
  ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(),
                                           ax.get_yticks(), strict=True)}
  assert sorted(ticks, key=ticks.get) == [
      "high (n=3)", "one-seed (n=1)", "low (n=3)"]
  widths = sorted(p.get_width() for p in ax.patches)
  np.testing.assert_allclose(widths, [0.2, 0.5, 0.8], rtol=1e-12)
  # Whiskers: mean ± t · s / √n (s = 0.1); none for the single seed.
  (whiskers,) = [c for c in ax.collections if len(c.get_segments())]
  spans = sorted((seg[0][0], seg[1][0]) for seg in whiskers.get_segments())
  half = _T2 * 0.1 / math.sqrt(3)
  np.testing.assert_allclose(spans, [(0.2 - half, 0.2 + half),
                                     (0.8 - half, 0.8 + half)], rtol=1e-9)


def test_comparison_figure_draws_the_best_rows_of_a_long_table():
  rows = [md.Row(variant=f"v{i}", task="", lifetime=(i / 100, 0.01, 3),
                 cells=(), kept=False) for i in range(40)]
  fig = figures.rows_figure("two_colors", rows, "return",
                                    max_bars=30)
  (ax,) = fig.axes
  assert "best 30 of 40 variants" in ax.get_title()
  widths = sorted(p.get_width() for p in ax.patches)
  np.testing.assert_allclose(widths, [i / 100 for i in range(10, 40)])
  short = figures.rows_figure("two_colors", rows[:5], "return",
                                      max_bars=30)
  assert "best" not in short.axes[0].get_title()


def test_no_runs_raises(tmp_path):
  with pytest.raises(ValueError, match="No run directories"):
    results.write_results(tmp_path, tmp_path / "RESULTS.md")


def test_runs_of_different_lengths_are_not_pooled(tmp_path):
  runs = tmp_path / "runs"
  _run_dir(runs / "two_colors" / "short", experiment="two_colors",
           variant="bmg-reward", env_steps=200016,
           summary={"final": [0.1, 0.3], "lifetime": [0.0, 0.2]})
  _run_dir(runs / "two_colors" / "long", experiment="two_colors",
           variant="bmg-reward", env_steps=2000000,
           summary={"final": [0.5, 0.7], "lifetime": [0.4, 0.6]})
  groups = results.group_runs(results.load_runs(runs))
  assert sorted(groups["two_colors"]) == ["bmg-reward @ 200k",
                                          "bmg-reward @ 2M"]
  text = results.write_results(runs, tmp_path / "repo" / "RESULTS.md")
  # Two seeds each: s = 0.1414, half = t_{0.975,1} · s / √2 = 12.706 · 0.1.
  assert "| bmg-reward @ 2M | 2 | 0.600 ± 1.271 | 0.500 ± 1.271 |" in text
  assert "| bmg-reward @ 200k | 2 | 0.200 ± 1.271 | 0.100 ± 1.271 |" in text
  assert (tmp_path / "repo" / "results" / "two_colors" /
          "bmg-reward-at-2M-returns.png").exists()


def test_rows_grouped_by_task_then_ranked(tmp_path):
  runs = tmp_path / "runs"
  for name, task, lifetime in (("l5-low", "MemoryChain-L5", 0.5),
                               ("l20-high", "MemoryChain-L20", 0.9),
                               ("l5-high", "MemoryChain-L5", 0.7),
                               ("l20-low", "MemoryChain-L20", 0.1)):
    _run_dir(runs / "memory_chain" / name, experiment="memory_chain",
             variant=name, task=task,
             summary={"final": [1.0], "lifetime": [lifetime]})
  text = results.write_results(runs, tmp_path / "repo" / "RESULTS.md")
  table = [line for line in text.splitlines() if line.startswith("| l")]
  # Natural order of tasks (L5 before L20), then by lifetime return.
  assert [line.split(" | ")[:2] for line in table] == [
      ["| l5-high", "MemoryChain-L5"], ["| l5-low", "MemoryChain-L5"],
      ["| l20-high", "MemoryChain-L20"], ["| l20-low", "MemoryChain-L20"]]
  assert "| variant | task | seeds | final |" in text
  # One task: no task column (the other tests' tables).
  one = tmp_path / "one"
  _run_dir(one / "bandit" / "a", experiment="bandit", variant="a",
           task="SwitchingBandit", summary={"final": [1.0], "lifetime": [0.5]})
  text = results.write_results(one, tmp_path / "repo2" / "RESULTS.md")
  assert "| variant | seeds | final |" in text


def test_keep_missing_keeps_other_experiments_sections(tmp_path):
  runs = tmp_path / "runs"
  _run_dir(runs / "bandit" / "fixed", experiment="bandit", variant="fixed",
           summary={"final": [0.4, 0.5], "lifetime": [0.1, 0.2]})
  out = tmp_path / "RESULTS.md"
  out.write_text("# Results\n\n## popgym\n\nold popgym table\n\n"
                 "## bandit\n\nold bandit table\n")
  text = results.write_results(runs, out, keep_missing=True)
  assert "old bandit table" not in text  # Regenerated from its runs.
  assert "| fixed | 2 |" in text
  assert "old popgym table" in text and "Kept from the previous" in text
  assert text.count("## popgym") == 1
  # Without the flag only the runs' experiments remain.
  assert "popgym" not in results.write_results(runs, out)


# A section as written by an earlier run of the generator (two tasks; one
# row already marked kept, one with a single seed, one without numbers).
_SEEDED = """## memory_chain

**Expected.** V3 (c).

Return metric: `episode_return`; final = mean of the last 10% of log rows, \
lifetime = mean of all rows, per seed; mean ± 95% CI (Student t) over seeds.

| variant | task | seeds | final | lifetime | env steps / seed | wall s | \
learned hp (last) | machine |
|---|---|---|---|---|---|---|---|---|
| lstm-L5 @ 300k | MemoryChain-L5 | 3 | 0.999 ± 0.002 | 0.945 ± 0.007 | \
299,776 | 73 | - | 2 CPUs, Linux |
| s5-L5 (kept) | MemoryChain-L5 | 1 | 1.000 | 0.890 | 299,776 | 98 | - | \
2 CPUs, Linux |
| s5-L20 | MemoryChain-L20 | 3 | -0.000 ± 0.034 | -0.009 ± 0.015 | \
299,520 | 64 | - | 2 CPUs, Linux |
| lstm-L20 | MemoryChain-L20 | 0 | n/a | n/a | 299,520 | 0 | - | ? |

![memory_chain lstm-L5 @ 300k](results/memory_chain/lstm-L5-at-300k-returns.png)

### Notes

| variant | lifetime | seeds |
|---|---|---|
| not-the-table | 9.0 | 1 |
"""

_CONVEX = """## convex

Iterations to the threshold (— : not reached in the budget).

| problem | β·β_f | μ | hint | plain | optimistic | speedup | pass |
|---|---|---|---|---|---|---|---|
| quadratic | 0.5 | 0.97 | 1.0 | 630 | 441 | 1.43 | yes |
| logistic | 1 | 0.99 | mu | — | 568 | 2.15 | NO |

22/24 settings pass; wall 752 s.
"""


def _bars(fig):
  """``{tick label: (width, color)}`` of every bar of a figure."""
  bars = {}
  for ax in fig.axes:
    ticks = {round(y): t.get_text() for t, y in zip(
        ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    for patch in ax.patches:
      y = round(patch.get_y() + patch.get_height() / 2)
      bars[ticks[y].replace("\n", "")] = (patch.get_width(),
                                          patch.get_facecolor())
  return bars


def test_parse_kept_seeded_table():
  rows = md.parse_seed_table(_SEEDED)
  assert [r.variant for r in rows] == ["lstm-L5 @ 300k", "s5-L5", "s5-L20",
                                       "lstm-L20"]  # The notes' table not.
  assert all(r.kept for r in rows)
  assert rows[0].task == "MemoryChain-L5"
  assert rows[0].lifetime == (0.945, 0.007, 3)
  assert rows[0].cells == ("3", "0.999 ± 0.002", "0.945 ± 0.007", "-",
                           "299,776", "73", "-", "-", "2 CPUs, Linux")
  assert rows[1].lifetime[0::2] == (0.890, 1) and math.isnan(
      rows[1].lifetime[1])  # One seed: no interval.
  assert rows[2].lifetime == (-0.009, 0.015, 3)
  assert math.isnan(rows[3].lifetime[0]) and rows[3].lifetime[2] == 0
  assert md.parse_return_key(_SEEDED) == "episode_return"
  # Written back, a row reads the same (kept marker added once).
  line = md.seed_table(rows[:2], "episode_return")[5]
  assert line == ("| s5-L5 (kept) | 1 | 1.000 | 0.890 | 299,776 | 98 | - | "
                  "- | 2 CPUs, Linux |")


def test_learner_column_names_the_inner_rule_and_networks(tmp_path):
  sgd = dict(optimizer="sgd", learning_rate=0.1, max_grad_norm=1.0,
             separate_networks=True, num_layers=2, width=256, core="mlp",
             loss="a2c")
  assert results.learner({"agent": sgd}) == "sgd 0.1, clip 1, separate 2×256"
  adam = dict(sgd, optimizer="adam", learning_rate=5e-4, max_grad_norm=0.0,
              separate_networks=False, width=128, core="s5", loss="ppo")
  assert results.learner({"agent": adam}) == (
      "adam 0.0005, shared 2×128, s5, ppo")
  assert results.learner({"run": {}}) == "-"  # Not an agent run.
  runs = tmp_path / "runs"
  for name, agent in (("sgd", sgd), ("adam", adam)):
    _run_dir(runs / "two_colors" / name, experiment="two_colors",
             variant=name, agent=agent,
             summary={"final": [0.1, 0.2], "lifetime": [0.1, 0.2]})
  out = tmp_path / "RESULTS.md"
  results.write_results(runs, out)
  text = out.read_text()
  assert "| learner | machine |" in text
  assert "| sgd 0.1, clip 1, separate 2×256 |" in text
  assert "| adam 0.0005, shared 2×128, s5, ppo |" in text


def test_parse_convex_table():
  assert md.parse_convex_table(_CONVEX) == [
      {"problem": "quadratic", "beta_scale": 0.5, "mu": 0.97, "hint": 1.0,
       "plain": 630, "optimistic": 441, "speedup": 1.43, "passed": True},
      {"problem": "logistic", "beta_scale": 1.0, "mu": 0.99, "hint": "mu",
       "plain": None, "optimistic": 568, "speedup": 2.15, "passed": False}]
  assert md.parse_convex_table(_SEEDED) == []
  assert md.parse_seed_table(_CONVEX) == []


def test_kept_sections_get_a_figure_from_their_table(tmp_path):
  runs = tmp_path / "runs"
  _run_dir(runs / "bandit" / "fixed", experiment="bandit", variant="fixed",
           summary={"final": [0.4, 0.5], "lifetime": [0.1, 0.2]})
  out = tmp_path / "repo" / "RESULTS.md"
  out.parent.mkdir()
  out.write_text("# Results\n\n" + _SEEDED + "\n" + _CONVEX)
  text = results.write_results(runs, out, keep_missing=True)
  for experiment in ("memory_chain", "convex"):
    figure = tmp_path / "repo" / "results" / experiment / "comparison.png"
    assert figure.read_bytes().startswith(b"\x89PNG"), experiment
    assert text.count(f"(results/{experiment}/comparison.png)") == 1
  assert text.count(md.FIGURE_NOTE) == 2
  # Just after the table, before the plots and the notes.
  kept = text[text.index("## memory_chain"):]
  assert (kept.index("| lstm-L20 |") < kept.index("comparison.png")
          < kept.index(md.FIGURE_NOTE) < kept.index("lstm-L5-at-300k")
          < kept.index("### Notes"))
  convex = text[text.index("## convex"):]
  assert convex.index("| logistic |") < convex.index("comparison.png") < (
      convex.index("22/24 settings pass"))
  # Bars: the table's lifetimes, one panel per task (n from seeds).
  fig = results.section_figure("memory_chain", _SEEDED)
  assert [ax.get_title() for ax in fig.axes] == ["MemoryChain-L5",
                                                 "MemoryChain-L20"]
  bars = _bars(fig)
  assert {k: v[0] for k, v in bars.items()} == pytest.approx({
      "lstm-L5 @ 300k (n=3)": 0.945, "s5-L5 (n=1)": 0.890,
      "s5-L20 (n=3)": -0.009, "lstm-L20 (n=0)": 0.0})
  whiskers = [seg for ax in fig.axes for c in ax.collections
              for seg in c.get_segments()]
  np.testing.assert_allclose(
      sorted((a[0], b[0]) for a, b in whiskers),
      [(-0.024, 0.006), (0.938, 0.952)], atol=1e-12)
  # Convex: the speedup column, failures in red.
  bars = _bars(results.section_figure("convex", _CONVEX))
  assert bars["quadratic β=0.5 μ=0.97 h=1.0"][0] == pytest.approx(1.43)
  assert bars["logistic β=1 μ=0.99 h=mu"][0] == pytest.approx(2.15)


def test_kept_rows_without_a_task_column_rank_with_the_runs(tmp_path):
  runs = tmp_path / "runs"
  _run_dir(runs / "bandit" / "new", experiment="bandit", variant="new",
           task="SwitchingBandit",
           summary={"final": [0.8, 0.8], "lifetime": [0.8, 0.9]})
  out = tmp_path / "RESULTS.md"
  out.write_text(
      "# Results\n\n## bandit\n\nReturn metric: `reward_mean`.\n\n"
      "| variant | seeds | final | lifetime | env steps / seed | wall s | "
      "learned hp (last) | machine |\n|---|---|---|---|---|---|---|---|\n"
      "| old-high | 3 | 0.9 | 0.95 ± 0.01 | 768,000 | 1 | - | old |\n"
      "| old-low | 3 | 0.5 | 0.50 ± 0.01 | 768,000 | 1 | - | old |\n")
  text = results.write_results(runs, out, keep_missing=True)
  # One task: no task column, and the new row (0.85) ranks between.
  assert "| task |" not in text
  assert (text.index("| old-high (kept) |") < text.index("| new |")
          < text.index("| old-low (kept) |"))


def test_kept_rows_merged_with_new_runs(tmp_path):
  runs = tmp_path / "runs"
  _run_dir(runs / "popgym" / "easy-ppo-s5", experiment="popgym",
           variant="RepeatPreviousEasy-s5", task="RepeatPreviousEasy",
           summary={"final": [1.0, 1.0], "lifetime": [0.8, 1.0]})
  out = tmp_path / "RESULTS.md"
  out.write_text(
      "# Results\n\n## popgym\n\nReturn metric: `reward_mean`.\n\n"
      "| variant | task | seeds | final | lifetime | env steps / seed | "
      "wall s | learned hp (last) | machine |\n|---|---|---|---|---|---|---|"
      "---|---|\n"
      "| easy-gru-u104 | RepeatPreviousEasy | 3 | 0.998 ± 0.002 | "
      "0.264 ± 0.150 | 998,400 | 172 | - | 2 CPUs, old |\n"
      "| RepeatPreviousEasy-s5 @ 1M | RepeatPreviousEasy | 3 | 0.1 | 0.1 | "
      "1,000,000 | 1 | - | 2 CPUs, old |\n\n"
      "![popgym easy-gru-u104](results/popgym/easy-gru-u104-returns.png)\n"
      "![popgym RepeatPreviousEasy-s5 @ 1M](results/popgym/x.png)\n")
  text = results.write_results(runs, out, keep_missing=True)
  # The A2C row is kept, verbatim and marked; the old row of the variant
  # that has runs now is replaced by them.
  assert ("| easy-gru-u104 (kept) | 3 | 0.998 ± 0.002 | 0.264 ± 0.150 | "
          "998,400 | 172 | - | - | 2 CPUs, old |") in text  # No learner.
  assert "RepeatPreviousEasy-s5 @ 1M" not in text
  assert text.index("| RepeatPreviousEasy-s5 |") < text.index(
      "| easy-gru-u104 (kept) |")  # Ranked by lifetime: 0.9 above 0.264.
  assert md.KEPT_ROWS_NOTE in text
  assert "![popgym easy-gru-u104](results/popgym/easy-gru-u104-returns.png)" \
      in text
  assert "Kept from the previous" not in text  # Not a kept section.
  variants = results.group_runs(results.load_runs(runs))["popgym"]
  kept = md.parse_seed_table(text)
  assert [r.variant for r in kept] == ["RepeatPreviousEasy-s5",
                                       "easy-gru-u104"]
  bars = _bars(results.comparison_figure("popgym", variants, kept=[
      r for r in kept if r.variant == "easy-gru-u104"]))
  assert bars["RepeatPreviousEasy-s5 (n=2)"][0] == pytest.approx(0.9)
  width, color = bars["easy-gru-u104 (kept, n=3)"]
  assert width == pytest.approx(0.264)
  assert color[:3] == pytest.approx((0.498, 0.498, 0.498), abs=1e-3)  # C7.


def test_distinct_configurations_are_never_pooled(tmp_path):
  runs = tmp_path / "runs"
  common = dict(experiment="popgym", variant="RepeatPreviousEasy-s5",
                task="RepeatPreviousEasy", env_steps=399360)
  _run_dir(runs / "popgym" / "easy-a2c-s5", **common,
           agent={"loss": "a2c", "width": 64},
           summary={"final": [0.0], "lifetime": [0.1]})
  _run_dir(runs / "popgym" / "easy-ppo-s5", **common,
           agent={"loss": "ppo", "width": 64},
           summary={"final": [0.0], "lifetime": [0.5]})
  # Same configuration, other seed: pooled with easy-ppo-s5.
  _run_dir(runs / "popgym" / "easy-ppo-s5-seed3", **common, seed=3,
           agent={"loss": "ppo", "width": 64},
           summary={"final": [0.0], "lifetime": [0.7]})
  # A field the others do not have counts as a difference.
  _run_dir(runs / "popgym" / "easy-ppo-s5-noreset", **common,
           agent={"loss": "ppo", "width": 64, "no_reset": True},
           summary={"final": [0.0], "lifetime": [0.9]})
  variants = results.group_runs(results.load_runs(runs))["popgym"]
  label = "RepeatPreviousEasy-s5 ({})".format
  assert {v: [r.path.name for r in rs] for v, rs in variants.items()} == {
      label("easy-a2c-s5"): ["easy-a2c-s5"],
      label("easy-ppo-s5 + easy-ppo-s5-seed3"): ["easy-ppo-s5",
                                                 "easy-ppo-s5-seed3"],
      label("easy-ppo-s5-noreset"): ["easy-ppo-s5-noreset"]}
  text = results.write_results(runs, tmp_path / "repo" / "RESULTS.md")
  # Two seeds: mean 0.6, half = t_{0.975,1} · 0.1414 / √2 = 12.706 · 0.1.
  assert f"| {label('easy-ppo-s5 + easy-ppo-s5-seed3')} | 2 | 0.000 ± 0.000 " \
      "| 0.600 ± 1.271 |" in text
  assert f"| {label('easy-a2c-s5')} | 1 | 0.000 | 0.100 |" in text
  assert (tmp_path / "repo" / "results" / "popgym" /
          "RepeatPreviousEasy-s5-easy-ppo-s5-noreset-returns.png").exists()


def test_regenerating_twice_is_idempotent(tmp_path):
  runs, old = tmp_path / "runs", tmp_path / "old"
  _run_dir(runs / "bandit" / "fixed", experiment="bandit", variant="fixed",
           summary={"final": [0.4, 0.5], "lifetime": [0.1, 0.2]})
  _run_dir(runs / "popgym" / "easy-ppo-s5", experiment="popgym",
           variant="ppo", summary={"final": [1.0], "lifetime": [0.9]})
  # An earlier machine's runs: the generator wrote their sections (with a
  # figure) into the file that is now kept.
  _run_dir(old / "popgym" / "a2c", experiment="popgym", variant="a2c",
           summary={"final": [0.5, 0.6], "lifetime": [0.3, 0.4]})
  _run_dir(old / "two_colors" / "mg", experiment="two_colors", variant="mg",
           summary={"final": [0.1, 0.2], "lifetime": [0.1, 0.3]})
  out = tmp_path / "repo" / "RESULTS.md"
  results.write_results(old, out)
  first = results.write_results(runs, out, keep_missing=True)
  assert results.write_results(runs, out, keep_missing=True) == first
  assert out.read_text() == first
  for experiment in ("bandit", "popgym", "two_colors"):
    assert first.count(f"(results/{experiment}/comparison.png)") == 1
  assert first.count(md.FIGURE_NOTE) == 1  # two_colors only.
  assert first.count("| a2c (kept) |") == 1 and "(kept) (kept)" not in first
  assert first.count(md.KEPT_ROWS_NOTE) == 1
  assert first.count("Kept from the previous") == 1


def test_mmer_column_only_for_in_context_experiments(tmp_path):
  runs = tmp_path / "runs"
  for experiment in ("popgym", "two_colors"):
    _run_dir(runs / experiment / "a", experiment=experiment, variant="a",
             summary={"final": [0.1, 0.2, 0.3], "lifetime": [0.1, 0.2, 0.3],
                      "mmer": [0.9, 1.0, 0.8]})
  _run_dir(runs / "popgym" / "old", experiment="popgym", variant="old",
           summary={"final": [0.5, 0.5], "lifetime": [0.5, 0.5]})
  text = results.write_results(runs, tmp_path / "RESULTS.md")
  popgym, two_colors = text.split("## two_colors")
  # mmer [0.9, 1.0, 0.8]: mean 0.9, s = 0.1.
  half = _T2 * 0.1 / math.sqrt(3)
  assert f"| 0.200 ± {half:.3f} | 0.900 ± {half:.3f} | 768,000 |" in popgym
  assert "| lifetime | MMER | env steps / seed |" in popgym
  assert "| old | 2 | 0.500 ± 0.000 | 0.500 ± 0.000 | - | 768,000 |" in popgym
  assert "MMER" not in two_colors
  # Kept rows from a table without the column parse with a dash.
  (kept,) = md.parse_seed_table(
      "| variant | seeds | final | lifetime |\n|---|---|---|---|\n"
      "| x | 2 | 0.1 | 0.2 |")
  assert kept.cells[md.SEED_COLUMNS.index("MMER")] == "-"
