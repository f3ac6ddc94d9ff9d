"""Plots and logs of a smoke run: the figures have a title (experiment,
variant, seeds) and a legend naming the mean, the min-max band and the task
switches; TensorBoard has each seed's scalars besides the mean; the printed
outputs list only files that exist."""

import math
import struct

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from launch import actor_critic, plots, run_two_colors
from launch.loop import RunSettings
from tests.launch.helpers import rows_of

_SWAP = 24


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  """MG without context, 2 seeds, 96 steps (8 an iteration), colours
  swapping every 24 steps; logs every 2 iterations."""
  path = tmp_path_factory.mktemp("plots") / "run"
  settings = RunSettings(run_dir=str(path), num_seeds=2, log_every=2,
                         checkpoint_every=0, progress=False)
  config = run_two_colors.make_config(
      method="mg", context="none", steps=96, swap_period=_SWAP,
      unroll_length=4, width=8, meta_learning_rate=1e-2, settings=settings,
      optimizer="sgd", learning_rate=0.1, max_grad_norm=0.0)
  run_two_colors.run(config=config)
  return path


def _legend(ax):
  return [t.get_text() for t in ax.get_legend().get_texts()]


def test_figures_have_titles_and_legends(run_dir):
  figs = plots.figures(str(run_dir), return_key="reward_mean",
                       return_label="reward per step", switch_every=_SWAP)
  assert sorted(figs) == ["hyperparams.png", "returns.png"]
  for name in figs:  # The run wrote them too (at its last checkpoint).
    assert (run_dir / name).read_bytes().startswith(b"\x89PNG")
  (ax,) = figs["returns.png"].axes
  assert ax.get_title() == "two_colors: mg-none (TwoColors-swap24), 2 seeds"
  assert _legend(ax) == ["reward_mean: mean of 2 seeds",
                         "min–max over seeds",
                         "task switch (every 24 steps)"]
  # One dashed line per swap (24, 48, 72, 96); the band spans the seeds.
  dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
  assert sorted(line.get_xdata()[0] for line in dashed) == [24, 48, 72, 96]
  steps, values = plots.series(rows_of(run_dir), "reward_mean")
  np.testing.assert_allclose(ax.get_lines()[0].get_ydata(),
                             values.mean(0), rtol=1e-12)
  band = ax.collections[0].get_paths()[0].vertices
  assert band[:, 1].min() == pytest.approx(values.min())
  assert band[:, 1].max() == pytest.approx(values.max())
  (hp_ax,) = figs["hyperparams.png"].axes
  assert hp_ax.get_title() == ("two_colors: mg-none (TwoColors-swap24), "
                               "2 seeds: learned values")
  assert _legend(hp_ax) == ["entropy_weight: mean of 2 seeds",
                            "min–max over seeds",
                            "task switch (every 24 steps)"]


def _scalars(tb_dir):
  """``{tag: {step: value}}`` of the TFRecord event files in ``tb_dir``."""
  out = {}
  for path in sorted(tb_dir.glob("events.out.tfevents.*")):
    data = path.read_bytes()
    at = 0
    while at < len(data):
      (length,) = struct.unpack("<Q", data[at:at + 8])
      event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
      at += 16 + length
      for value in event.summary.value:
        out.setdefault(value.tag, {})[event.step] = value.simple_value
  return out


def test_tensorboard_has_each_seed_and_the_mean(run_dir):
  scalars = _scalars(run_dir / "tb")
  rows = rows_of(run_dir)
  for key in ("reward_mean", "hp/entropy_weight"):
    assert {f"{key}/seed_0", f"{key}/seed_1", key} <= set(scalars)
    for step in sorted({r["env_steps"] for r in rows}):
      seeds = [r[key] for r in rows if r["env_steps"] == step]
      # TensorBoard stores float32.
      for s, value in enumerate(seeds):
        assert math.isclose(scalars[f"{key}/seed_{s}"][step], value,
                            rel_tol=1e-6, abs_tol=1e-7)
      assert math.isclose(scalars[key][step], np.mean(seeds), rel_tol=1e-6,
                          abs_tol=1e-7)
  assert not any(t.startswith(("seed", "iteration", "env_steps", "wall_s"))
                 for t in scalars)


def test_print_outputs_lists_existing_files_only(tmp_path, capsys):
  (tmp_path / "returns.png").write_bytes(b"")
  (tmp_path / "summary.json").write_text("{}")
  actor_critic.print_outputs({"run_dir": str(tmp_path)}, headline="done")
  out = capsys.readouterr().out
  assert "returns.png" in out and "summary.json" in out
  assert "hyperparams.png" not in out and "metrics.csv" not in out


def test_run_title_leaves_out_missing_parts():
  assert plots.run_title({"experiment": "convex"}, 1) == "convex, 1 seed"
  assert plots.run_title({"experiment": "bandit",
                          "extra": {"variant": "bmg-rich"}}, 3) == (
                              "bandit: bmg-rich, 3 seeds")
