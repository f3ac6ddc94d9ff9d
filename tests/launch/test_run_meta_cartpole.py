"""Meta-CartPole launcher (V4) and the by-trial evaluation: returns by trial
by hand (CartPole pays 1 per step), a tiny run writes its run directory and
evaluation, resume is exact, and bad flags fail before any compute.

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import flagsaver

import tasks
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.evaluation import (
  _meta_env,
  returns_by_trial,
  step_episodes,
)
from agents.actor_critic.training import init_state, make_agent
from launch import run_meta_cartpole
from tasks.control import RandomProjectionMeta
from tasks.wrappers import PrevActionObs
from tests.launch.helpers import (
  AGENT_FLAGS,
  check_resume,
  rows_of,
  settings,
)

_AGENT = ActorCriticConfig(task="MetaCartPole", core="mlp", width=8,
                           num_envs=2, unroll_length=8, num_updates=4)


@pytest.fixture(scope="module")
def agent_and_params():
  agent = make_agent(_AGENT)
  return agent, init_state(jax.random.key(0), agent).learner.params


def test_returns_by_trial_before_the_first_trial_can_end(agent_and_params):
  # From |x|, |θ| <= 0.05 the pole cannot fall (|θ| > 12°) nor the cart
  # leave (|x| > 2.4) in 3 steps: each episode earns 1 + 1 + 1 in trial 0.
  agent, params = agent_and_params
  out = returns_by_trial(agent, params, jax.random.key(1), num_episodes=5,
                         num_trials=2, max_steps=3)
  np.testing.assert_array_equal(out.returns, [[3.0, 0.0]] * 5)
  np.testing.assert_array_equal(out.lengths, [3] * 5)
  assert not np.any(out.completed)


def test_returns_by_trial_whole_episodes(agent_and_params):
  agent, params = agent_and_params
  out = jax.jit(lambda k: returns_by_trial(
      agent, params, k, num_episodes=6, num_trials=3))(jax.random.key(2))
  returns = np.asarray(out.returns)
  assert np.all(out.completed) and returns.shape == (6, 3)
  # Reward 1 per step: a trial's return is its length, an integer in
  # [1, 200] (CartPole's time limit in MetaCartPole), and the trials add
  # up to the episode's length.
  np.testing.assert_array_equal(returns, np.round(returns))
  assert returns.min() >= 1 and returns.max() <= 200
  np.testing.assert_array_equal(returns.sum(axis=1), out.lengths)


def test_step_episodes_credits_each_step_to_the_trial_it_belongs_to(
    agent_and_params):
  # Always pushing left ends a CartPole trial within ~10 steps. Each step
  # pays 1 into the column of the trial it was taken in, the trial-ending
  # step included; the trial index moves on after that step; a finished
  # episode earns nothing more.
  agent, _ = agent_and_params
  env = PrevActionObs(_meta_env(agent))
  params = dataclasses.replace(agent.env_params, num_trials=2, min_trials=0)
  _, state = jax.vmap(env.reset, in_axes=(0, None))(
      jax.random.split(jax.random.key(3), 3), params)
  step = jax.jit(lambda s, a, k, alive: step_episodes(env, params, s, a, k,
                                                      alive, 2))
  alive, trial = np.ones(3, bool), np.zeros(3, np.int32)
  lengths, totals = np.zeros((3, 2)), np.zeros((3, 2))
  for t in range(60):
    _, state, gain, now, then = step(state, jnp.zeros(3, jnp.int32),
                                     jax.random.key(t), jnp.asarray(alive))
    expected = np.zeros((3, 2))
    expected[alive, trial[alive]] = 1.0
    np.testing.assert_array_equal(gain, expected)
    lengths[alive, trial[alive]] += 1
    totals += np.asarray(gain)
    alive, trial = np.asarray(now), np.asarray(then)
  assert not alive.any() and np.all(lengths >= 1) and lengths.max() < 30
  np.testing.assert_array_equal(totals, lengths)


def test_returns_by_trial_needs_a_meta_task():
  agent = make_agent(ActorCriticConfig(task="RepeatPreviousEasy",
                                       core="mlp", width=8, num_envs=2))
  with pytest.raises(ValueError, match="meta task.*MetaCartPole"):
    returns_by_trial(agent, None, jax.random.key(0), num_episodes=1)


def _config(path, resume=False):
  return run_meta_cartpole.MetaCartPoleConfig(
      agent=_AGENT, settings=settings(path, resume=resume),
      eval_trials=(3,), eval_episodes=4)


def test_run_writes_run_dir_evaluation_and_resume_is_exact(tmp_path):
  full = tmp_path / "full"
  summary = run_meta_cartpole.run(config=_config(full))
  config = json.loads((full / "config.json").read_text())
  assert config["experiment"] == "meta_cartpole"
  assert config["extra"]["variant"] == "MetaCartPole-mlp"
  rows = rows_of(full)
  assert len(rows) == 2 * 4 and rows[-1]["env_steps"] == 64
  # One reward per step of CartPole while the meta-episode runs.
  assert all(r["reward_mean"] == 1.0 for r in rows)
  for name in ("metrics.csv", "returns.png", "summary.json",
               "trial_returns.json", "trial_returns.png"):
    assert (full / name).exists(), name
  by_trial = json.loads((full / "trial_returns.json").read_text())
  assert by_trial == summary["trial_returns"]
  assert sorted(by_trial) == ["3"]  # 3 trials, not the task's 16.
  for n in (3,):
    per_seed = np.asarray(by_trial[str(n)]["per_seed"])
    assert per_seed.shape == (2, n)
    # Means of 4 integer trial lengths in [1, 200].
    np.testing.assert_array_equal(per_seed * 4, np.round(per_seed * 4))
    assert per_seed.min() >= 1 and per_seed.max() <= 200
    np.testing.assert_allclose(by_trial[str(n)]["mean"], per_seed.mean(0))
    assert by_trial[str(n)]["completed"] == 1.0
  # Per episode, from the run directory alone: its mean is per_seed.
  per_episode = run_meta_cartpole.episode_returns(str(full), num_trials=3,
                                                  num_episodes=4)
  assert per_episode.shape == (2, 4, 3)
  np.testing.assert_allclose(per_episode.mean(axis=1),
                             by_trial["3"]["per_seed"], rtol=1e-6)
  # Fresh start states, same keys: trial 1 is the same episode, the later
  # trials start elsewhere (16 integer lengths, not all equal by chance).
  fresh = run_meta_cartpole.episode_returns(str(full), num_trials=3,
                                            num_episodes=4, fresh_starts=True)
  np.testing.assert_array_equal(fresh[:, :, 0], per_episode[:, :, 0])
  assert not np.array_equal(fresh[:, :, 1:], per_episode[:, :, 1:])
  check_resume(full, tmp_path / "cut", run_meta_cartpole.run, _config,
               checkpoint="checkpoints/4")
  assert json.loads((tmp_path / "cut" / "trial_returns.json").read_text()
                    ) == by_trial


@pytest.mark.parametrize("flag_values, match", [
    (dict(task="CartPole"), r"Unknown meta task 'CartPole'.*MetaCartPole"),
    (dict(task="MetaCartPolePopjaxrl"),
     r"Unknown meta task 'MetaCartPolePopjaxrl'.*PopjaxrlRandomTrials'\)"),
    (dict(core="transformer"), r"core 'transformer'.*'s5'"),
    (dict(eval_trials=["a"]), "eval_trials must be integers"),
    (dict(eval_trials=["0"]), "must be >= 1"),
    (dict(eval_episodes=0), "must be >= 1"),
])
def test_bad_flags_fail_before_compute(flag_values, match):
  values = {**AGENT_FLAGS, "task": "MetaStatelessCartPole",
            "eval_trials": ["16", "32"], "eval_episodes": 8, **flag_values}
  with flagsaver.flagsaver(**values):
    with pytest.raises(ValueError, match=match):
      run_meta_cartpole.build_config()


def test_meta_tasks_are_every_registered_meta_cartpole():
  # Read from the registry: each one evaluates by trial (a
  # RandomProjectionMeta) over CartPole; the meta-Pendulums are left out.
  names = run_meta_cartpole.META_TASKS
  assert {"MetaStatelessCartPolePopjaxrl32Trials",
          "MetaNoisyStatelessCartPolePopjaxrlHard"} <= set(names)
  assert not {"MetaPendulum", "CartPole"} & set(names)
  for name in names:
    env, _ = tasks.make(name)
    assert isinstance(env, RandomProjectionMeta), name
    assert "CartPole" in env.inner.name, name


def test_flags_build_the_config():
  values = {**AGENT_FLAGS, "task": "MetaNoisyStatelessCartPole",
            "core": "s5", "eval_trials": ["16", "32"], "eval_episodes": 8}
  with flagsaver.flagsaver(**values):
    config = run_meta_cartpole.build_config()
  assert (config.variant, config.eval_trials, config.eval_episodes) == (
      "MetaNoisyStatelessCartPole-s5", (16, 32), 8)
  assert config.agent.task == "MetaNoisyStatelessCartPole"


def test_flags_select_popjaxrls_variant():
  values = {**AGENT_FLAGS, "task": "MetaStatelessCartPolePopjaxrl",
            "eval_trials": ["16", "32"], "eval_episodes": 8}
  with flagsaver.flagsaver(**values):
    config = run_meta_cartpole.build_config()
  assert config.agent.task == "MetaStatelessCartPolePopjaxrl"
  agent = make_agent(config.agent)
  assert type(agent.env.unwrapped).__name__ == "ObservationProjectionMeta"
  # popjaxrl's 7 numbers, then PrevActionObs's one-hot action and flag.
  assert agent.env.observation_space(agent.env_params).shape == (10,)


def test_ppo_flags_build_the_config():
  values = {**AGENT_FLAGS, "task": "MetaStatelessCartPole", "loss": "ppo",
            "num_envs": 8, "ppo_epochs": 2, "num_minibatches": 4,
            "no_reset": True, "eval_trials": ["16"], "eval_episodes": 8}
  with flagsaver.flagsaver(**values):
    agent = run_meta_cartpole.build_config().agent
  assert (agent.loss, agent.ppo_epochs, agent.num_minibatches) == (
      "ppo", 2, 4)
  assert agent.no_reset
  with flagsaver.flagsaver(**{**values, "num_minibatches": 3}):
    with pytest.raises(ValueError, match="multiple of"):
      run_meta_cartpole.build_config()


def test_returns_by_trial_fixes_the_count_of_a_random_trials_task():
  # The training task draws 8-16 trials per episode; the evaluation must
  # run exactly num_trials, each of them at least one step of 1/200.
  config = dataclasses.replace(
      _AGENT, task="MetaStatelessCartPolePopjaxrlRandomTrials")
  agent = make_agent(config)
  params = init_state(jax.random.key(0), agent).learner.params
  out = jax.jit(lambda k: returns_by_trial(
      agent, params, k, num_episodes=4, num_trials=20))(jax.random.key(2))
  returns = np.asarray(out.returns)
  assert np.all(out.completed) and returns.shape == (4, 20)
  assert returns.min() >= 1 / 200 - 1e-7
  np.testing.assert_allclose(returns.sum(axis=1) * 200, out.lengths,
                             rtol=1e-5)
