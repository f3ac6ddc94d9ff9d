"""Memory-chain launcher (V3(c)): per-length tasks and rollout lengths, a
tiny two-length sweep writes its run directories and summary, resume is
exact, and bad flags fail before any compute.

References:
  Osband et al, `Behaviour Suite for Reinforcement Learning
  <https://arxiv.org/abs/1908.03568>`_, 2020.
"""

import dataclasses
import json

import numpy as np
import pytest
from absl.testing import flagsaver

import tasks
from agents.actor_critic.config import ActorCriticConfig
from launch import run_memory_chain
from tests.launch.helpers import (
    AGENT_FLAGS,
    check_resume,
    rows_of,
    settings,
    strip,
)


def test_task_name_registers_the_memory_length():
  name = run_memory_chain.task_name(7)
  assert name == "MemoryChain-L7" and name in tasks.registered()
  assert run_memory_chain.task_name(7) == name  # Registered once.
  env, params = tasks.make(name)
  assert params.memory_length == 7
  with pytest.raises(ValueError, match=">= 1"):
    run_memory_chain.task_name(0)


def test_auto_unroll_holds_two_episodes():
  # Episodes last L + 1 steps.
  assert [run_memory_chain.auto_unroll(n) for n in (5, 7, 10, 20, 50)] == [
      16, 16, 32, 48, 112]


def _config(path, resume=False):
  lengths = (2, 3)
  agents = tuple(ActorCriticConfig(
      task=run_memory_chain.task_name(n), core="mlp", width=8, num_envs=2,
      unroll_length=8, num_updates=4) for n in lengths)
  return run_memory_chain.MemoryChainConfig(
      agents=agents, memory_lengths=lengths,
      settings=settings(path, resume=resume))


def test_sweep_writes_run_dirs_and_resume_is_exact(tmp_path):
  full = tmp_path / "full"
  summary = run_memory_chain.run(config=_config(full))
  assert summary["memory_lengths"] == [2, 3]
  for n in (2, 3):
    sub = full / f"L{n}"
    config = json.loads((sub / "config.json").read_text())
    assert config["extra"] == {"variant": f"mlp-L{n}", "memory_length": n}
    rows = rows_of(sub)
    assert len(rows) == 2 * 4 and rows[-1]["env_steps"] == 64
    # One ±1 reward per (L + 1)-step episode: every finished episode's
    # return is ±1, so a chunk mean of them is in [-1, 1] with
    # (episodes x mean) an integer of the episodes' parity.
    for r in rows:
      total = r["episode_return"] * r["episodes"]
      assert abs(total - round(total)) < 1e-4
      assert round(total) % 2 == r["episodes"] % 2
      # Each of 2 envs takes 8 steps per iteration; episodes of L + 1.
      assert 2 * (8 // (n + 1)) <= r["episodes"] <= 2 * -(-8 // (n + 1))
    assert summary["final"][[2, 3].index(n)] == [r["episode_return"]
                                                 for r in rows[-2:]]
  assert (full / "memory_lengths.png").exists()
  assert json.loads((full / "summary.json").read_text())["final"] == (
      summary["final"])
  # Interrupt the second length's run; the first is complete.
  check_resume(full, tmp_path / "cut", run_memory_chain.run, _config,
               checkpoint="L3/checkpoints/4", sub="L3")
  assert strip(rows_of(tmp_path / "cut" / "L2")) == strip(rows_of(full / "L2"))


@pytest.mark.parametrize("flag_values, match", [
    (dict(memory_lengths=["5", "x"]), "must be integers"),
    (dict(memory_lengths=["0"]), ">= 1"),
    (dict(unroll_length=-1), "unroll_length must be >= 0"),
    (dict(core="transformer"), r"core 'transformer'.*'s5'"),
    (dict(steps=0), "steps must be >= 1"),
])
def test_bad_flags_fail_before_compute(flag_values, match):
  values = {**AGENT_FLAGS, "memory_lengths": ["5", "10"], **flag_values}
  with flagsaver.flagsaver(**values):
    with pytest.raises(ValueError, match=match):
      run_memory_chain.build_config()


def test_flags_build_one_agent_per_length():
  values = {**AGENT_FLAGS, "memory_lengths": ["5", "50"], "unroll_length": 0,
            "steps": 10_000, "num_envs": 4, "core": "lstm"}
  with flagsaver.flagsaver(**values):
    config = run_memory_chain.build_config()
  assert config.variant == "lstm"
  tasks_ = [a.task for a in config.agents]
  assert tasks_ == ["MemoryChain-L5", "MemoryChain-L50"]
  assert [a.unroll_length for a in config.agents] == [16, 112]
  assert [a.num_updates for a in config.agents] == [
      10_000 // (4 * 16), 10_000 // (4 * 112)]
  with pytest.raises(ValueError, match="Duplicate"):
    dataclasses.replace(config, memory_lengths=(5, 5))
  assert np.all([a.core == "lstm" for a in config.agents])
