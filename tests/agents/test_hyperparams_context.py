"""Context kinds of the actor-critic's meta-parameters (Luketina et al.
2022, Tables 1 and 5): ``"reward"`` reads the tanh-normalised history of
rollout-mean rewards only, ``"rich"`` all six statistics. Checked against
a numpy derivation of the running normalisation and the MLP.

References:
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bootstrap_meta as bm
from agents.actor_critic import hyperparams
from agents.actor_critic.acting import Trajectory
from agents.actor_critic.config import CONTEXT_STATS, ActorCriticConfig

_H, _T, _B = 3, 5, 2


def _config(kind, **kw):
  return ActorCriticConfig(
      task="TwoColors", core="mlp", method="bmg", learned=("entropy_weight",),
      entropy_weight=0.5, context=True, context_stats=kind,
      context_history=_H, context_hidden=8, **kw)


def _trajectories(n, seed=0):
  """``n`` rollouts with random rewards, values and dones."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    out.append(Trajectory(
        initial_state=(), obs=None, resets=None, actions=None,
        rewards=jnp.asarray(rng.normal(size=(_T, _B)), jnp.float32),
        dones=jnp.asarray(rng.random((_T, _B)) < 0.2),
        logits=None,
        values=jnp.asarray(rng.normal(size=(_T + 1, _B)), jnp.float32),
        episode_returns=None))
  return out


def _tracked_features(trajs):
  """The tracker's full ``[H * 6]`` features after all ``trajs``."""
  state = bm.context_init(history=_H, num_stats=hyperparams.NUM_STATS)
  for traj in trajs:
    state = bm.context_update(
        state, hyperparams.trajectory_stats(traj, discount=0.99))
  return bm.context_features(state)


def _reward_history_by_hand(trajs, eps=1e-8):
  """tanh((r̄_i - mean_i) / std_i) newest first, zeros before the start;
  mean and (population) std over the rollout means seen so far."""
  means = [float(np.mean(np.asarray(t.rewards, np.float64))) for t in trajs]
  squashed = []
  for i in range(len(means)):
    seen = np.asarray(means[:i + 1])
    z = (seen[-1] - seen.mean()) / np.sqrt(seen.var() + eps)
    squashed.append(np.tanh(z))
  newest_first = squashed[::-1] + [0.0] * _H
  return np.asarray(newest_first[:_H])


@pytest.mark.parametrize("num_updates", [2, 5])
def test_reward_context_is_the_normalised_reward_history(num_updates):
  trajs = _trajectories(num_updates)
  features = _tracked_features(trajs)
  got = hyperparams.select_context(_config("reward"), features)
  assert got.shape == (_H,)
  np.testing.assert_allclose(np.asarray(got), _reward_history_by_hand(trajs),
                             atol=1e-5)
  assert hyperparams.context_dim(_config("reward")) == _H


def test_rich_context_keeps_all_six_statistics():
  features = _tracked_features(_trajectories(4))
  got = hyperparams.select_context(_config("rich"), features)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(features))
  assert hyperparams.context_dim(_config("rich")) == 6 * _H
  # Column 0 of the rich history is the reward context.
  np.testing.assert_array_equal(
      np.asarray(got).reshape(_H, 6)[:, 0],
      np.asarray(hyperparams.select_context(_config("reward"), features)))


def _mlp_by_hand(params, c):
  h = np.asarray(c, np.float64)
  for w, b in params[:-1]:
    h = np.maximum(h @ np.asarray(w, np.float64) + np.asarray(b), 0.0)
  w, b = params[-1]
  return h @ np.asarray(w, np.float64) + np.asarray(b)


@pytest.mark.parametrize("kind", CONTEXT_STATS)
def test_entropy_weight_is_sigmoid_of_the_mlp_on_the_kind(kind):
  config = _config(kind)
  omega = hyperparams.init_meta_params(jax.random.key(1), config)
  assert omega["entropy_weight"][0][0].shape == (
      hyperparams.context_dim(config), 8)
  # Move the output layer off its exact-0.5 start so inputs matter.
  w, b = omega["entropy_weight"][-1]
  omega["entropy_weight"][-1] = (w + 0.3, b)
  features = _tracked_features(_trajectories(4))
  hp_fn = hyperparams.make_hyperparams_fn(config)
  got = float(jax.jit(hp_fn)(omega, features)["entropy_weight"])
  c = np.asarray(features) if kind == "rich" else np.asarray(
      features).reshape(_H, 6)[:, 0]
  raw = _mlp_by_hand(omega["entropy_weight"], c)[0]
  np.testing.assert_allclose(got, 1.0 / (1.0 + np.exp(-raw)), atol=1e-5)
  # Changing the value and TD-error statistics moves only the rich weight.
  other = np.asarray(features).reshape(_H, 6).copy()
  other[:, 1:] = -other[:, 1:] + 0.5
  moved = float(hp_fn(omega, jnp.asarray(other.reshape(-1)))[
      "entropy_weight"])
  if kind == "reward":
    assert moved == got
  else:
    assert abs(moved - got) > 1e-4


def test_fresh_context_mlp_starts_at_the_initial_value():
  config = _config("reward")
  omega = hyperparams.init_meta_params(jax.random.key(0), config)
  hp = hyperparams.make_hyperparams_fn(config)(
      omega, jnp.asarray(np.random.default_rng(0).uniform(
          -1, 1, _H * 6), jnp.float32))
  np.testing.assert_allclose(float(hp["entropy_weight"]), 0.5, atol=1e-6)


def test_default_kind_is_rich_and_bad_kind_raises():
  assert ActorCriticConfig().context_stats == "rich"
  with pytest.raises(ValueError, match=r"context_stats 'states'.*reward"):
    _config("states")
