"""RESULTS.md generator on synthetic run directories; the 95% Student-t
intervals are computed by hand (t_{0.975, 2} = 4.302653, from the t table).
"""

import json
import math

import numpy as np
import pytest

from launch import results

_T2 = 4.302652729749464  # t_{0.975} with 2 degrees of freedom.


def _run_dir(path, *, experiment, variant, summary, seed=0,
             env_steps=768000, task=None):
  path.mkdir(parents=True)
  config = {"experiment": experiment, "run": {"seed": seed},
            "extra": {"variant": variant}}
  if task is not None:
    config["agent"] = {"task": task}
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
