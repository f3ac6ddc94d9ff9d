"""Two-Colors launcher (V1): a tiny BMG-with-reward-context run writes its
run directory, an interrupted run resumes to exactly the uninterrupted
metrics, and bad flags fail before any compute."""

import json
import math
import shutil

import numpy as np
import pytest
from absl.testing import flagsaver

import tasks
from launch import run_two_colors
from launch.loop import RunSettings
from tests.launch.helpers import rows_of, strip


def _config(path, *, method="bmg", context="reward", resume=False):
  # K + L - 1 = 2 new rollouts of 4 steps, 1 stream: 8 env steps an
  # iteration (every rollout trains once), 12 iterations; colours swap
  # every 24 steps.
  settings = RunSettings(run_dir=str(path), num_seeds=2, log_every=2,
                         checkpoint_every=4, resume=resume, progress=False)
  return run_two_colors.make_config(
      method=method, context=context, steps=96, swap_period=24,
      unroll_length=4, width=8, L=2, context_history=2, context_hidden=8,
      meta_learning_rate=1e-2, settings=settings, optimizer="sgd",
      learning_rate=0.1, max_grad_norm=0.0)


def test_run_writes_run_dir_and_resume_is_exact(tmp_path):
  full = tmp_path / "full"
  summary = run_two_colors.run(config=_config(full))
  config = json.loads((full / "config.json").read_text())
  assert config["experiment"] == "two_colors"
  assert config["extra"]["variant"] == "bmg-reward"
  assert config["agent"]["task"] == "TwoColors-swap24"
  assert config["agent"]["context_stats"] == "reward"
  rows = rows_of(full)
  assert len(rows) == 2 * 6  # 2 seeds x 12 iterations / 2 per log row.
  assert rows[-1]["env_steps"] == 96
  # Per-step rewards are +1, -1 or the -0.04 step cost.
  assert all(-1.0 <= r["reward_mean"] <= 1.0 for r in rows)
  weights = [r["hp/entropy_weight"] for r in rows]
  assert all(0.0 < w < 1.0 for w in weights)
  # It is meta-learned: it moves by more than a few float32 ulps of 0.1
  # (7.5e-9) in 12 iterations (measured: ~1e-6).
  assert max(abs(w - 0.1) for w in weights) > 1e-7
  for name in ("metrics.csv", "returns.png", "hyperparams.png",
               "summary.json"):
    assert (full / name).exists(), name
  assert sorted(int(p.name) for p in (full / "checkpoints").iterdir()) == [
      8, 12]  # The last two are kept.
  # Lifetime = mean of all rows of the seed; final = the last 10% (1 row).
  for seed in range(2):
    mine = [r["reward_mean"] for r in rows if r["seed"] == seed]
    np.testing.assert_allclose(summary["lifetime"][seed], np.mean(mine),
                               rtol=1e-12)
    assert summary["final"][seed] == mine[-1]
  # Interrupted after logging iteration 12 but before its checkpoint:
  # resume restores 8, truncates, and recomputes the same rows.
  cut = tmp_path / "cut"
  shutil.copytree(full, cut)
  shutil.rmtree(cut / "checkpoints" / "12")
  (cut / "summary.json").unlink()
  run_two_colors.run(config=_config(cut, resume=True))
  assert strip(rows_of(cut)) == strip(rows)


@pytest.mark.parametrize("flag_values, match", [
    (dict(method="sgd"), r"method 'sgd'.*\('fixed', 'mg', 'bmg'\)"),
    (dict(context="states"), r"\('none', 'reward', 'rich'\)"),
    (dict(core="transformer"), r"core 'transformer'.*'mlp'"),
    (dict(method="fixed", context="reward"), "no context"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(swap_period=0), "swap_period must be >= 1"),
    (dict(method="bmg", context="rich", L=0), "L must be >= 1"),
])
def test_bad_flags_fail_before_compute(flag_values, match):
  values = dict(method="bmg", context="reward", core="mlp", steps=1000,
                swap_period=100_000, L=8)
  with flagsaver.flagsaver(**{**values, **flag_values}):
    with pytest.raises(ValueError, match=match):
      run_two_colors.build_config()


def test_flags_build_the_default_variant():
  with flagsaver.flagsaver(method="bmg", context="reward", core="mlp",
                           steps=300_000, swap_period=100_000, num_envs=1,
                           unroll_length=16, K=1, L=8, num_seeds=1):
    config = run_two_colors.build_config()
  agent = config.agent
  assert config.variant == "bmg-reward"
  assert (agent.task, agent.core, agent.width) == ("TwoColors", "mlp", 256)
  # The papers' learner by default: SGD 0.1, no clipping, separate MLPs.
  assert (agent.optimizer, agent.learning_rate, agent.max_grad_norm,
          agent.separate_networks) == ("sgd", 0.1, 0.0, True)
  assert (agent.method, agent.learned, agent.context,
          agent.context_stats) == ("bmg", ("entropy_weight",), True,
                                   "reward")
  assert (agent.K, agent.L, agent.meta_learning_rate) == (1, 8, 3e-4)
  assert (agent.target_step, agent.target_mode) == ("inner", "bootstrap")
  assert (agent.entropy_weight, agent.outer_entropy_weight) == (0.1, 0.0)
  # 16-step bootstrapped returns and the critic weight 0.5 by default.
  assert (agent.lambda_, agent.outer_lambda, agent.value_weight) == (
      1.0, 1.0, 0.5)
  # K + L - 1 new rollouts of 16 steps, one stream (each trains once).
  per_iteration = (1 + 8 - 1) * 16
  assert agent.num_updates == math.ceil(300_000 / per_iteration)
  # Logs about every 5k steps, checkpoints about every 200k.
  assert config.settings.log_every == round(5_000 / per_iteration)
  assert config.settings.checkpoint_every == round(200_000 / per_iteration)


def test_return_flags_reach_the_learner_and_the_outer_loss():
  # The public re-implementations' one-step TD target and critic weight.
  with flagsaver.flagsaver(method="mg", context="none", steps=1000,
                           lambda_=0.0, value_weight=1.0):
    agent = run_two_colors.build_config().agent
  assert (agent.lambda_, agent.outer_lambda, agent.value_weight) == (
      0.0, 0.0, 1.0)


def test_variants_map_to_agent_configs():
  fixed = run_two_colors.make_config(method="fixed", context="none")
  assert (fixed.agent.method, fixed.agent.learned, fixed.variant) == (
      "none", (), "fixed")
  assert fixed.agent.entropy_weight == 0.1
  assert fixed.agent.num_updates == math.ceil(300_000 / 16)
  mg = run_two_colors.make_config(method="mg", context="none")
  assert (mg.agent.context, mg.agent.outer_entropy_weight) == (False, 0.1)
  assert mg.agent.num_updates == math.ceil(300_000 / 16)  # K rollouts.
  assert mg.agent.separate_networks  # The papers' learner on the MLP.
  rich = run_two_colors.make_config(method="mg", context="rich", core="s5")
  assert (rich.agent.context_stats, rich.agent.core) == ("rich", "s5")
  assert not rich.agent.separate_networks  # Other cores share a torso.
  assert run_two_colors.task_name(7) == "TwoColors-swap7"
  env, params = tasks.make("TwoColors-swap7")
  assert int(params.swap_period) == 7
