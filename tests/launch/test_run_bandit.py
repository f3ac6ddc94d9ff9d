"""V5 bandit launcher: a tiny run writes its run directory, an interrupted
run resumes to exactly the uninterrupted metrics, and bad flags fail before
any compute."""

import json
import shutil

import pytest
from absl.testing import flagsaver

from launch import run_bandit
from launch.loop import RunSettings
from tests.launch.helpers import rows_of, strip


def _config(path, *, method="fixed", context="none", resume=False,
            steps=512):
  # 2 envs x 4 steps = 8 env steps per rollout: 64 iterations (fixed).
  agent = run_bandit.make_agent_config(
      method=method, context=context, steps=steps, num_envs=2,
      unroll_length=4, width=8, context_history=3)
  settings = RunSettings(run_dir=str(path), num_seeds=2, log_every=8,
                         checkpoint_every=32, resume=resume, progress=False)
  return run_bandit.BanditConfig(
      agent=agent, settings=settings,
      variant=run_bandit.variant_label(method=method, context=context,
                                       entropy_weight=0.1))


def test_run_writes_run_dir_and_resume_is_exact(tmp_path):
  full = tmp_path / "full"
  summary = run_bandit.run(config=_config(full))
  config = json.loads((full / "config.json").read_text())
  assert config["experiment"] == "bandit"
  assert config["extra"] == {"variant": "fixed-ent0.1",
                             "switch_period": 2000}
  assert config["agent"]["task"] == "SwitchingBandit"
  rows = rows_of(full)
  assert len(rows) == 2 * 8  # 2 seeds x 64 / 8 log steps.
  assert rows[-1]["env_steps"] == 512
  assert all(0.0 <= r["reward_mean"] <= 1.0 for r in rows)
  assert (full / "metrics.csv").exists() and (full / "returns.png").exists()
  assert sorted(p.name for p in (full / "checkpoints").iterdir()) == [
      "32", "64"]
  assert summary["env_steps"] == 512 and len(summary["final"]) == 2
  # The final return is the mean of the last 10% of rows (1 of 8) per seed.
  assert summary["final"] == [rows[-2]["reward_mean"],
                              rows[-1]["reward_mean"]]
  # An interrupted run: checkpoint 32 on disk, rows logged up to 64 (say
  # the process died before its last checkpoint). Resume must truncate
  # and reproduce the uninterrupted metrics exactly.
  cut = tmp_path / "cut"
  shutil.copytree(full, cut)
  shutil.rmtree(cut / "checkpoints" / "64")
  (cut / "summary.json").unlink()
  run_bandit.run(config=_config(cut, resume=True))
  assert strip(rows_of(cut)) == strip(rows)


@pytest.mark.parametrize("flag_values, match", [
    (dict(method="sgd"), r"valid: \('fixed', 'mg', 'bmg'\)"),
    (dict(context="states"), r"valid: \('none', 'reward', 'rich'\)"),
    (dict(method="fixed", context="rich"), r"context \(got --context=rich"),
    (dict(steps=0), "--steps must be >= 1"),
    (dict(method="bmg", context="none", K=0), "K must be >= 1"),
    (dict(optimizer="rmsprop"), r"valid choices: \('adam', 'sgd'\)"),
])
def test_bad_flags_fail_before_compute(flag_values, match):
  with flagsaver.flagsaver(**flag_values):
    with pytest.raises(ValueError, match=match):
      run_bandit.build_config()


# Launchers imported into one process share flag names (allow_override), so
# the last-imported launcher's defaults apply: set every flag read here.
_BANDIT_DEFAULTS = dict(width=32, learning_rate=1e-2, entropy_weight=0.1,
                        meta_learning_rate=1e-3, K=1, L=2,
                        context_history=20, outer_entropy_weight=0.0,
                        context_pretrain=False, target_mode="bootstrap",
                        optimizer="adam", max_grad_norm=1.0)


def test_flags_build_the_variant():
  with flagsaver.flagsaver(method="mg", context="none", steps=9600,
                           num_envs=4, unroll_length=8, **_BANDIT_DEFAULTS):
    config = run_bandit.build_config()
  assert config.variant == "mg-none"
  agent = config.agent
  assert (agent.method, agent.learned, agent.context) == (
      "mg", ("entropy_weight",), False)
  assert (agent.core, agent.discount) == ("mlp", 0.0)
  assert agent.num_updates == 9600 // (1 * 8 * 4)  # K new rollouts.
  assert run_bandit.reporting(config).switch_every == 2000 * 4
  with flagsaver.flagsaver(method="bmg", context="reward", steps=9600,
                           num_envs=4, unroll_length=8, **_BANDIT_DEFAULTS):
    agent = run_bandit.build_config().agent
  assert (agent.context, agent.context_stats, agent.L) == (True, "reward", 2)
  assert (agent.context_pretrain, agent.target_mode) == (False, "bootstrap")


def test_inner_rule_flags_reach_the_agent():
  with flagsaver.flagsaver(method="fixed", context="none", steps=9600,
                           **_BANDIT_DEFAULTS):
    agent = run_bandit.build_config().agent
  assert (agent.optimizer, agent.learning_rate, agent.max_grad_norm) == (
      "adam", 1e-2, 1.0)
  flags = dict(_BANDIT_DEFAULTS, optimizer="sgd", learning_rate=0.5,
               max_grad_norm=0.0)
  with flagsaver.flagsaver(method="mg", context="reward", steps=9600,
                           **flags):
    agent = run_bandit.build_config().agent
  assert (agent.optimizer, agent.learning_rate, agent.max_grad_norm) == (
      "sgd", 0.5, 0.0)


def test_pretrained_context_and_average_target_reach_the_agent():
  flags = dict(_BANDIT_DEFAULTS, context_pretrain=True,
               target_mode="average", entropy_weight=0.3)
  with flagsaver.flagsaver(method="bmg", context="reward", steps=9600,
                           num_envs=4, unroll_length=8, **flags):
    config = run_bandit.build_config()
  agent = config.agent
  assert (agent.context_pretrain, agent.target_mode) == (True, "average")
  assert agent.entropy_weight == 0.3
  assert config.variant == "bmg-reward-init0.3"
  assert agent.kl_reduction == "mean"
  with flagsaver.flagsaver(method="bmg", context="reward", steps=9600,
                           num_envs=4, unroll_length=8, kl_reduction="sum",
                           **flags):
    assert run_bandit.build_config().agent.kl_reduction == "sum"


@pytest.mark.slow
def test_bmg_with_context_runs(tmp_path):
  summary = run_bandit.run(config=_config(tmp_path / "b", method="bmg",
                                          context="rich", steps=768))
  assert "hp/entropy_weight" in summary
  assert 0.0 < summary["hp/entropy_weight"] < 1.0
