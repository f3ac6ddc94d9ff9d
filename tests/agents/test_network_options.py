"""The S5 paper's network options: sizes, gains, no input projection, state
size, activation, and the no-reset ablation; defaults unchanged.

References:
  Lu et al, `Structured State Space Models for In-Context Reinforcement
  Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.actor_critic import training
from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.networks import make_networks


def _params(**kwargs):
  cfg = ActorCriticConfig(task="RepeatPreviousEasy", num_envs=2,
                          num_layers=1, **kwargs)
  agent = training.make_agent(cfg)
  init = jax.jit(lambda key: training.init_state(key, agent))
  return init(jax.random.key(0)).learner.params


def test_default_network_layout_is_unchanged():
  params = _params(core="s5", width=8)
  names = sorted(params)
  assert names == ["actor_critic_net/~/enc_0", "actor_critic_net/~/enc_1",
                   "actor_critic_net/~/pi_0", "actor_critic_net/~/pi_out",
                   "actor_critic_net/~/s5_core/~/block_0/~/gate",
                   "actor_critic_net/~/s5_core/~/block_0/~/s5_ssm",
                   "actor_critic_net/~/s5_core/~/block_0/~/value",
                   "actor_critic_net/~/s5_core/~/encoder",
                   "actor_critic_net/~/v_0", "actor_critic_net/~/v_out"]
  w = params["actor_critic_net/~/pi_0"]["w"]  # [8, 8], gain √2.
  np.testing.assert_allclose(w.T @ w, 2.0 * np.eye(8), atol=1e-5)


def test_paper_layout_sizes_gains_and_no_input_projection():
  params = _params(core="s5", width=16, encoder_sizes=(8, 16),
                   head_sizes=(8, 8), head_gain=2.0,
                   core_input_projection=False, ssm_size=12)
  p = lambda n: params[f"actor_critic_net/~/{n}"]  # noqa: E731
  assert p("enc_0")["w"].shape[1] == 8
  assert p("enc_1")["w"].shape == (8, 16)
  assert p("pi_0")["w"].shape == (16, 8) and p("pi_1")["w"].shape == (8, 8)
  assert p("v_1")["w"].shape == (8, 8)
  assert "actor_critic_net/~/s5_core/~/encoder" not in params
  ssm = p("s5_core/~/block_0/~/s5_ssm")
  assert ssm["lambda_re"].shape == (6,)  # P = N / 2.
  w = p("pi_1")["w"]  # Square, gain 2: WᵀW = 4 I.
  np.testing.assert_allclose(w.T @ w, 4.0 * np.eye(8), atol=1e-5)
  w = p("enc_1")["w"]  # [8, 16], gain √2: W Wᵀ = 2 I.
  np.testing.assert_allclose(w @ w.T, 2.0 * np.eye(8), atol=1e-5)


@pytest.mark.parametrize("core", ["s5", "gru"])
def test_no_reset_keeps_the_state_across_an_episode_start(core):
  kwargs = dict(core=core, width=8, num_actions=3,
                core_kwargs={"num_layers": 1} if core == "s5" else None)
  nets = make_networks(**kwargs)
  no_reset = make_networks(**kwargs, net_kwargs={"reset": False})
  obs = jax.random.normal(jax.random.key(1), (5, 2, 4))
  resets = jnp.zeros((5, 2), bool)
  params = nets.init(jax.random.key(0), obs, resets)
  _, _, state = nets.unroll(params, obs, resets, nets.initial_state(2))
  x, reset = obs[0], jnp.ones((2,), bool)
  fresh = nets.step(params, x, reset, nets.initial_state(2))
  wiped = nets.step(params, x, reset, state)
  kept = no_reset.step(params, x, reset, state)
  carried = nets.step(params, x, jnp.zeros((2,), bool), state)
  for i in (0, 1):  # Logits and values.
    np.testing.assert_allclose(wiped[i], fresh[i], atol=1e-6)
    np.testing.assert_allclose(kept[i], carried[i], atol=1e-6)
  gap = max(float(jnp.abs(a - b).max()) for a, b in zip(
      jax.tree.leaves(kept[2]), jax.tree.leaves(fresh[2]), strict=True))
  assert gap > 1e-3  # The kept state is not the fresh one.
  # Sequence mode ignores the resets too.
  seq_resets = resets.at[2].set(True)
  a = no_reset.unroll(params, obs, seq_resets, state)[1]
  b = nets.unroll(params, obs, resets, state)[1]
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_activation_option_changes_the_outputs():
  obs = jnp.ones((1, 1, 4))
  resets = jnp.zeros((1, 1), bool)
  outs = {}
  for act in ("leaky_relu", "tanh"):
    nets = make_networks(core="mlp", width=8, num_actions=2,
                         net_kwargs={"activation": act})
    params = nets.init(jax.random.key(0), obs, resets)
    outs[act] = nets.unroll(params, obs, resets, nets.initial_state(1))[1]
  assert float(jnp.abs(outs["tanh"] - outs["leaky_relu"]).max()) > 1e-6


@pytest.mark.parametrize("kwargs, match", [
    (dict(activation="swish"), "activation 'swish'"),
    (dict(encoder_sizes=(8, 0)), "encoder_sizes must be"),
    (dict(core="s5", ssm_size=7), "even"),
    (dict(core="gru", ssm_size=8), "S5 options"),
    (dict(core="gru", core_input_projection=False), "S5 options"),
    (dict(core="s5", width=16, encoder_sizes=(8, 8),
          core_input_projection=False), "last encoder size"),
    (dict(core="mlp", separate_networks=True, no_reset=True),
     "shared network only"),
    (dict(hidden_gain=0.0), "hidden_gain must be"),
])
def test_config_rejects_bad_network_options(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ActorCriticConfig(**kwargs)
