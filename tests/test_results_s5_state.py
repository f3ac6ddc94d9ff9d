"""``results/ppo/s5_state.py``: mode rates, state statistics, the clamp."""

import numpy as np
import pytest

from agents.actor_critic.config import ActorCriticConfig
from launch import run_meta_cartpole
from tests.launch.helpers import settings
from tests.results_scripts import load


def _module():
  return load("ppo/s5_state.py")


def test_mode_rates_by_hand():
  layer = {"lambda_re": np.array([[-0.5, 0.2, -1e-5]]),
           "log_step": np.log(np.array([[0.1, 0.5, 1.0]]))}
  params = {"net/block_1/ssm": layer, "net/block_0/ssm": {
      "lambda_re": np.array([[-2.0]]), "log_step": np.array([[0.0]])},
      "net/encoder": {"w": np.ones(2)}}
  s5_state = _module()
  first, second = s5_state.mode_rates(params)
  np.testing.assert_allclose(first, [[-2.0]])
  np.testing.assert_allclose(second, [[-0.05, 0.1, -1e-5]])
  clipped = s5_state.mode_rates(params, clip_eigs=True)[1]
  np.testing.assert_allclose(clipped, [[-0.05, -0.5e-4, -1e-4]])
  # Every mode forgets within 10 steps: rate <= -0.1.
  capped = s5_state.mode_rates(params, max_timescale=10.0)[1]
  np.testing.assert_allclose(capped, [[-0.1, -0.1, -0.1]])


@pytest.fixture(scope="module")
def s5_run(tmp_path_factory):
  path = tmp_path_factory.mktemp("s5_state") / "run"
  agent = ActorCriticConfig(task="MetaCartPole", core="s5", width=8,
                            num_layers=1, num_envs=2, unroll_length=8,
                            num_updates=2)
  run_meta_cartpole.run(config=run_meta_cartpole.MetaCartPoleConfig(
      agent=agent, settings=settings(path), eval_trials=(3,),
      eval_episodes=2))
  return str(path)


def test_rollouts_equal_the_evaluation_and_a_late_clamp_changes_nothing(
    s5_run):
  s5_state = _module()
  out = s5_state.rollouts(s5_run, num_trials=32, num_episodes=3,
                          clamp_from=32)
  expected = run_meta_cartpole.episode_returns(s5_run, num_trials=32,
                                               num_episodes=3)
  np.testing.assert_array_equal(out["returns"], expected)
  np.testing.assert_array_equal(out["clamped"], out["returns"])
  (mean_sq,) = out["mean_sq"]  # One S5 layer: [S, n, P].
  assert mean_sq.shape == (2, 32, 4) and np.all(mean_sq > 0)
  (rates,) = out["rates"]
  assert rates.shape == (2, 4) and np.all(np.isfinite(rates))
  row = s5_state.summary_row("tiny", out)
  assert row.startswith("| tiny | ") and row.count("|") == 7


def test_an_early_clamp_changes_the_episodes(s5_run):
  s5_state = _module()
  out = s5_state.rollouts(s5_run, num_trials=32, num_episodes=3,
                          clamp_from=1)
  # Clamped to trial 1's largest magnitudes, the state of the untrained
  # S5 (which still grows) acts differently in some later trial.
  assert np.any(out["clamped"][:, :, 1:] != out["returns"][:, :, 1:])
  np.testing.assert_array_equal(out["clamped"][:, :, 0],
                                out["returns"][:, :, 0])
