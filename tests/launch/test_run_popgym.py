"""POPGym launcher (V3): a tiny run writes its run directory, an interrupted
run resumes to exactly the uninterrupted metrics, bad flags fail before any
compute, and (slow) the reported RepeatPreviousEasy result: S5 learns it, a
memoryless MLP does not.

References:
  Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

import dataclasses
import json

import numpy as np
import pytest
from absl.testing import flagsaver

from agents.actor_critic.config import ActorCriticConfig
from launch import run_popgym
from launch.loop import RunSettings
from tests.launch.helpers import AGENT_FLAGS, check_resume, rows_of, settings


def _config(path, resume=False):
  # RepeatPreviousEasy: 4 iterations of 16 steps x 2 envs (128 env steps).
  agent = ActorCriticConfig(task="RepeatPreviousEasy", core="mlp", width=8,
                            num_envs=2, unroll_length=16, num_updates=4)
  return run_popgym.PopgymConfig(agent=agent,
                                 settings=settings(path, resume=resume))


def test_run_writes_run_dir_and_resume_is_exact(tmp_path):
  full = tmp_path / "full"
  summary = run_popgym.run(config=_config(full))
  config = json.loads((full / "config.json").read_text())
  assert config["experiment"] == "popgym"
  assert config["extra"]["variant"] == "RepeatPreviousEasy-mlp"
  rows = rows_of(full)
  assert len(rows) == 2 * 4 and rows[-1]["env_steps"] == 128
  # RepeatPreviousEasy (52 cards, k = 4): 48 scored steps of ±1/48, so a
  # step's reward is in [-1/48, 1/48] and 48 x an episode's return is an
  # even integer. Each env's only finished episode ends at step 52, inside
  # the 4th iteration (steps 49-64).
  assert all(abs(r["reward_mean"]) <= 1 / 48 + 1e-7 for r in rows)
  assert [r["episodes"] for r in rows] == [0.0] * 6 + [2.0] * 2
  for r in rows[-2:]:
    scaled = 2 * r["episode_return"] * 48  # The mean of two episodes.
    assert abs(scaled - round(scaled)) < 1e-4 and round(scaled) % 2 == 0
    assert -1.0 <= r["episode_return"] <= 1.0
  assert summary["final"] == [r["episode_return"] for r in rows[-2:]]
  for name in ("metrics.csv", "returns.png", "summary.json"):
    assert (full / name).exists(), name
  assert sorted(p.name for p in (full / "checkpoints").iterdir()) == [
      "2", "4"]
  assert summary["env_steps"] == 128 and summary["num_seeds"] == 2
  check_resume(full, tmp_path / "cut", run_popgym.run, _config,
               checkpoint="checkpoints/4")


@pytest.mark.parametrize("flag_values, match", [
    (dict(task="NoSuchTask"), r"Unknown task 'NoSuchTask'.*RepeatPrevious"),
    (dict(core="transformer"), r"core 'transformer'.*'s5'"),
    (dict(method="sgd"), r"method 'sgd'.*'bmg'"),
    (dict(method="none", learned=["entropy_weight"]), "learns nothing"),
    (dict(method="mg", learned=["temperature"]), r"'temperature'.*lambda_"),
    (dict(task="StatelessPendulumEasy", method="bmg",
          learned=["entropy_weight"]), r"Discrete actions.*'mg'"),
    (dict(steps=0), "steps must be >= 1"),
    (dict(loss="ppo", num_envs=6, num_minibatches=4), "multiple of"),
    (dict(loss="ppo", method="bmg", learned=["entropy_weight"]),
     "BMG through PPO"),
    (dict(loss="ppo", method="mg", learned=["discount"]),
     r"learns \('entropy_weight', 'lambda_'\) only"),
    (dict(loss="ppo", method="mg", learned=["entropy_weight"], K=4,
          ppo_epochs=2, num_minibatches=2, num_envs=4), "K <= "),
    (dict(loss="vtrace"), r"loss 'vtrace'.*'ppo'"),
    (dict(max_timescale=-1.0), "max_timescale must be >= 0"),
])
def test_bad_flags_fail_before_compute(flag_values, match):
  values = {**AGENT_FLAGS, "task": "RepeatPreviousEasy", **flag_values}
  with flagsaver.flagsaver(**values):
    with pytest.raises(ValueError, match=match):
      run_popgym.build_config()


def test_flags_build_the_config():
  values = {**AGENT_FLAGS, "task": "RepeatPreviousMedium", "core": "gru",
            "steps": 10_000, "num_envs": 4, "unroll_length": 16,
            "num_seeds": 3}
  with flagsaver.flagsaver(**values):
    config = run_popgym.build_config()
  assert config.variant == "RepeatPreviousMedium-gru"
  assert (config.agent.task, config.agent.core) == ("RepeatPreviousMedium",
                                                    "gru")
  assert config.agent.num_updates == 10_000 // (4 * 16)
  assert config.settings.num_seeds == 3


def test_ppo_flags_build_the_config():
  values = {**AGENT_FLAGS, "task": "RepeatPreviousEasy", "loss": "ppo",
            "ppo_epochs": 3, "num_minibatches": 2, "num_envs": 4,
            "ppo_clip": 0.3, "gae_lambda": 1.0, "clip_value": False,
            "normalize_advantages": False, "anneal_lr": True,
            "adam_eps": 1e-5, "value_weight": 1.0, "max_grad_norm": 0.5}
  with flagsaver.flagsaver(**values):
    config = run_popgym.build_config()
  agent = config.agent
  assert config.variant == f"RepeatPreviousEasy-{agent.core}-ppo"
  with flagsaver.flagsaver(**{**values, "no_reset": True}):
    assert run_popgym.build_config().variant == (
        f"RepeatPreviousEasy-{agent.core}-ppo-noreset")
  assert (agent.loss, agent.ppo_epochs, agent.num_minibatches) == (
      "ppo", 3, 2)
  assert (agent.ppo_clip, agent.lambda_, agent.adam_eps) == (0.3, 1.0, 1e-5)
  assert not agent.clip_value and not agent.normalize_advantages
  assert agent.anneal_lr
  assert (agent.value_weight, agent.max_grad_norm) == (1.0, 0.5)


def test_mg_ppo_flags_build_the_config():
  values = {**AGENT_FLAGS, "task": "RepeatPreviousEasy", "loss": "ppo",
            "method": "mg", "learned": ["entropy_weight"], "K": 2,
            "ppo_epochs": 2, "num_minibatches": 2, "num_envs": 4,
            "unroll_length": 16, "steps": 6400, "meta_learning_rate": 3e-3,
            "outer_entropy_weight": 0.001, "outer_discount": 0.5,
            "outer_lambda": 0.9}
  with flagsaver.flagsaver(**values):
    agent = run_popgym.build_config().agent
  assert (agent.loss, agent.method, agent.learned, agent.K) == (
      "ppo", "mg", ("entropy_weight",), 2)
  assert (agent.meta_learning_rate, agent.outer_entropy_weight,
          agent.outer_discount, agent.outer_lambda) == (3e-3, 0.001, 0.5,
                                                        0.9)
  assert agent.num_updates == 6400 // (4 * 16)  # One rollout per iteration.


def test_mg_ppo_flag_rule_names_the_setting():
  rule = run_popgym._ppo_meta_flag_error
  base = dict(loss="ppo", method="mg", learned=["entropy_weight"], K=1,
              ppo_epochs=2, num_minibatches=2)
  assert rule(base) is None
  assert rule({**base, "loss": "a2c", "method": "bmg"}) is None
  assert "BMG through PPO" in rule({**base, "method": "bmg"})
  assert "K <= " in rule({**base, "K": 4})
  assert rule({**base, "K": 3}) is None
  assert "lambda_" in rule({**base, "learned": ["value_weight"]})


def test_network_flags_build_the_config():
  values = {**AGENT_FLAGS, "task": "RepeatPreviousEasy", "core": "s5",
            "width": 16, "encoder_sizes": ["8", "16"],
            "head_sizes": ["8", "8"], "activation": "tanh",
            "hidden_gain": 1.0, "head_gain": 2.0, "ssm_size": 8,
            "core_input_projection": False, "no_reset": True,
            "clip_eigs": True, "max_timescale": 64.0}
  with flagsaver.flagsaver(**values):
    agent = run_popgym.build_config().agent
  assert agent.clip_eigs and agent.max_timescale == 64.0
  assert (agent.encoder_sizes, agent.head_sizes) == ((8, 16), (8, 8))
  assert (agent.activation, agent.hidden_gain, agent.head_gain) == (
      "tanh", 1.0, 2.0)
  assert agent.ssm_size == 8 and not agent.core_input_projection
  assert agent.no_reset
  with flagsaver.flagsaver(**{**values, "encoder_sizes": ["8", "x"]}):
    with pytest.raises(ValueError, match="must be integers"):
      run_popgym.build_config()


def test_ppo_run_writes_mmer_and_resumes_exactly(tmp_path):
  def config_at(path, resume=False):
    agent = ActorCriticConfig(task="RepeatPreviousEasy", core="mlp", width=8,
                              num_envs=2, unroll_length=16, num_updates=4,
                              loss="ppo", ppo_epochs=2, num_minibatches=2)
    return run_popgym.PopgymConfig(agent=agent,
                                   settings=settings(path, resume=resume))

  full = tmp_path / "full"
  summary = run_popgym.run(config=config_at(full))
  rows = rows_of(full)
  assert all("ppo/clip_fraction" in r for r in rows)
  # The only episodes end in the 4th iteration: MMER is its mean return.
  assert summary["mmer"] == [r["episode_return_max"] for r in rows[-2:]]
  assert summary["mmer"] == [r["episode_return"] for r in rows[-2:]]
  check_resume(full, tmp_path / "cut", run_popgym.run, config_at,
               checkpoint="checkpoints/4")


def test_num_updates_for_budget():
  cfg = ActorCriticConfig(num_envs=4, unroll_length=8, method="bmg", K=1,
                          L=2, learned=("discount",), discount=0.95)
  assert run_popgym.num_updates_for(1000, cfg) == 1000 // (2 * 32)
  assert run_popgym.num_updates_for(1, cfg) == 1


@pytest.mark.slow
def test_s5_learns_repeat_previous_easy_and_mlp_does_not(tmp_path):
  final = {}
  for core in ("s5", "mlp"):
    agent = dataclasses.replace(run_popgym.PPO_LEARNING_SIZE, core=core)
    config = run_popgym.PopgymConfig(agent=agent, settings=RunSettings(
        run_dir=str(tmp_path / core), log_every=7, progress=False))
    final[core] = run_popgym.run(config=config)["final"][0]
  assert final["s5"] > 0.9, final
  assert final["mlp"] < 0.0, final
  assert np.isfinite(list(final.values())).all()
