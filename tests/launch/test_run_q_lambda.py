"""Q(λ) launcher: a tiny BMG-with-reward-context run writes its run
directory (metrics, plots, summary with the ε-around-swaps table) and
resumes exactly; a fixed-ε run on the Switching MDPs; bad flags fail before
any compute."""

import json
import math

import numpy as np
import pytest
from absl.testing import flagsaver

import tasks
from launch import run_q_lambda
from launch.loop import RunSettings
from tests.launch.helpers import check_resume, rows_of


def _config(path, *, resume=False, **kw):
  # L = 2 rollouts of 4 steps, 1 stream: 8 env steps an iteration,
  # 8 iterations; colours swap every 16 steps.
  settings = RunSettings(run_dir=str(path), num_seeds=2, log_every=1,
                         checkpoint_every=4, resume=resume, progress=False)
  base = dict(method="bmg", context="reward", steps=64, swap_period=16,
              unroll_length=4, width=8, L=2, context_history=3,
              context_hidden=8, meta_learning_rate=1e-2, settings=settings)
  return run_q_lambda.make_config(**{**base, **kw})


def test_run_writes_run_dir_and_resume_is_exact(tmp_path):
  full = tmp_path / "full"
  summary = run_q_lambda.run(config=_config(full))
  config = json.loads((full / "config.json").read_text())
  assert config["experiment"] == "q_lambda"
  assert config["extra"]["variant"] == "bmg-reward"
  assert config["agent"]["task"] == "TwoColors-swap16"
  rows = rows_of(full)
  assert len(rows) == 2 * 8
  assert rows[-1]["env_steps"] == 64
  assert all(-1.0 <= r["reward_mean"] <= 1.0 for r in rows)
  assert all(r["learner_updates"] == 2 for r in rows)
  eps = [r["hp/epsilon"] for r in rows]
  assert all(0.0 < e < 1.0 for e in eps)
  assert max(abs(e - 0.5) for e in eps) > 1e-4
  for name in ("metrics.csv", "returns.png", "hyperparams.png",
               "summary.json"):
    assert (full / name).exists(), name
  for seed in range(2):
    mine = [r["reward_mean"] for r in rows if r["seed"] == seed]
    np.testing.assert_allclose(summary["lifetime"][seed], np.mean(mine),
                               rtol=1e-12)
  # Swaps at 16, 32, 48; full periods after a swap: (16, 32], (32, 48],
  # (48, 64]. Rows end every 8 steps, so with fraction 0.5 rows 24/40/56
  # are "after" a swap and 32/48/64 "before" the next.
  around = run_q_lambda.epsilon_around_swaps(rows, period=16, fraction=0.5)
  for seed in range(2):
    by_step = {r["env_steps"]: r["hp/epsilon"] for r in rows
               if r["seed"] == seed}
    np.testing.assert_allclose(around["after"][seed],
                               (by_step[24] + by_step[40] + by_step[56]) / 3)
    np.testing.assert_allclose(around["before"][seed],
                               (by_step[32] + by_step[48] + by_step[64]) / 3)
  assert len(summary["epsilon_after_swap"]) == 2
  check_resume(full, tmp_path / "cut", run_q_lambda.run,
               lambda p, resume: _config(p, resume=resume),
               checkpoint="checkpoints/8")


@pytest.mark.slow
def test_fixed_epsilon_on_switching_mdps(tmp_path):
  config = _config(tmp_path, task="SwitchingMDP", method="fixed",
                   context="none", epsilon=0.2, num_mdps=2)
  summary = run_q_lambda.run(config=config)
  assert config.agent.task == "SwitchingMDP-n2-swap16"
  assert summary["variant"] == "fixed"
  assert summary["hp/epsilon"] == pytest.approx(0.2)
  assert "epsilon_after_swap" not in summary
  assert all(r["learner_updates"] == 1 for r in rows_of(tmp_path))


_VALID = dict(task="TwoColors", method="bmg", context="reward", steps=1000,
              swap_period=100_000, num_mdps=4, L=16, epsilon=0.5,
              learning_rate=3e-4, meta_learning_rate=1e-3)


@pytest.mark.parametrize("flag_values, match", [
    (dict(task="Pong"),
     r"task 'Pong'.*\('TwoColors', 'SwitchingMDP', 'SwitchingBandit'\)"),
    (dict(method="mg"), r"method 'mg'.*\('fixed', 'bmg'\)"),
    (dict(context="states"), r"\('none', 'reward', 'rich'\)"),
    (dict(method="fixed"), "no context"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(swap_period=0), "swap_period must be >= 1"),
    (dict(discount=1.5), r"discount and lambda_ must be in \[0, 1\], got 1.5"),
    (dict(L=0), "L must be an integer >= 1"),
    (dict(epsilon=1.0), r"starts in \(0, 1\)"),
    (dict(num_mdps=0, task="SwitchingMDP"), "num_mdps must be >= 1"),
])
def test_bad_flags_fail_before_compute(flag_values, match):
  with flagsaver.flagsaver(**{**_VALID, **flag_values}):
    with pytest.raises(ValueError, match=match):
      run_q_lambda.build_config()


def test_flags_build_the_default_variant():
  with flagsaver.flagsaver(**_VALID, num_envs=1, unroll_length=16,
                           width=256, num_seeds=1):
    config = run_q_lambda.build_config()
  agent = config.agent
  assert config.variant == "bmg-reward"
  assert (agent.task, agent.width, agent.L, agent.context) == (
      "TwoColors", 256, 16, "reward")
  assert agent.num_updates == math.ceil(1000 / (16 * 16))
  assert config.settings.log_every == max(1, round(5_000 / 256))
  assert run_q_lambda.task_name("SwitchingMDP") == "SwitchingMDP"
  assert run_q_lambda.task_name("TwoColors", period=9) == "TwoColors-swap9"
  _, params = tasks.make("TwoColors-swap9")
  assert int(params.swap_period) == 9


def test_switching_bandit_defaults_to_v5_period_and_takes_a_discount():
  with flagsaver.flagsaver(**{**_VALID, "swap_period": None,
                              "task": "SwitchingBandit", "discount": 0.0}):
    config = run_q_lambda.build_config()
  assert config.swap_period == 2_000  # V5's, not the grid worlds' 100k.
  assert (config.agent.task, config.agent.discount) == ("SwitchingBandit",
                                                        0.0)
  with flagsaver.flagsaver(**{**_VALID, "swap_period": None}):
    assert run_q_lambda.build_config().swap_period == 100_000
  assert run_q_lambda.task_name("SwitchingBandit", period=50) == (
      "SwitchingBandit-swap50")
  env, params = tasks.make("SwitchingBandit-swap50")
  assert int(params.switch_period) == 50
  assert env.current_means(50, params)[0] == pytest.approx(0.1)  # Rotated.


@pytest.mark.slow
def test_fixed_epsilon_on_the_switching_bandit(tmp_path):
  config = _config(tmp_path, task="SwitchingBandit", method="fixed",
                   context="none", epsilon=0.2, discount=0.0)
  summary = run_q_lambda.run(config=config)
  assert config.agent.task == "SwitchingBandit-swap16"
  assert summary["hp/epsilon"] == pytest.approx(0.2)
  assert all(0.0 <= r["reward_mean"] <= 1.0 for r in rows_of(tmp_path))
