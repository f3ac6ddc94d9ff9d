"""The POPGym launcher: flag validation, a tiny smoke run, and (slow) the
reported RepeatPreviousEasy result: S5 learns it, a memoryless MLP does not.

References:
  Morad et al, `POPGym <https://arxiv.org/abs/2303.01859>`_, 2023.
"""

import dataclasses

import numpy as np
import pytest

from agents.actor_critic.config import ActorCriticConfig
from launch import run_popgym


def test_bad_task_raises_before_compute():
  with pytest.raises(ValueError, match="Unknown task"):
    run_popgym.RunConfig(agent=ActorCriticConfig(task="NoSuchTask"))


def test_num_updates_for_budget():
  cfg = ActorCriticConfig(num_envs=4, unroll_length=8, method="bmg", K=1,
                          L=2, learned=("discount",))
  assert run_popgym.num_updates_for(1000, cfg) == 1000 // (3 * 32)
  assert run_popgym.num_updates_for(1, cfg) == 1


def test_final_return_weights_episodes():
  metrics = {"episode_return": np.array([9.0] * 9 + [0.5]),
             "episodes": np.array([1.0] * 9 + [4.0])}
  assert run_popgym.final_return(metrics) == pytest.approx(0.5)


def test_smoke_run():
  agent = ActorCriticConfig(core="mlp", width=8, num_envs=2,
                            unroll_length=64, num_updates=2)
  result = run_popgym.run(config=run_popgym.RunConfig(agent=agent, seed=0))
  # Two 64-step rollouts over 2 envs finish 2-4 of the 51-step episodes;
  # a near-random policy scores about -0.5 per episode.
  assert -1.0 <= result["final_return"] <= 1.0
  assert result["env_steps"] == 256


def _learning_config(core):
  return dataclasses.replace(
      run_popgym.LEARNING_SIZE, core=core)


@pytest.mark.slow
def test_s5_learns_repeat_previous_easy_and_mlp_does_not():
  s5 = run_popgym.run(config=run_popgym.RunConfig(
      agent=_learning_config("s5"), seed=0))
  mlp = run_popgym.run(config=run_popgym.RunConfig(
      agent=_learning_config("mlp"), seed=0))
  assert s5["final_return"] > 0.9, s5
  assert mlp["final_return"] < 0.0, mlp
