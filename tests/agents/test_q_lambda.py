"""Q(λ) agent: the Q(λ) loss against a hand computation, the sign of the
ε meta-gradient, no gradient through the target, equality with
``bootstrap_meta.bmg_loss`` (K = 0), one learner update per rollout, and a
tiny training run in which ε moves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bootstrap_meta as bm
from agents.q_lambda import QLambdaConfig, acting, learning, make_train
from agents.q_lambda.acting import Trajectory
from agents.q_lambda.training import init_state, make_agent

_GAMMA, _LAMBDA = 0.9, 0.5


def _table_q(params, obs):
  """q(s, ·) = one_hot(s) @ table: a tabular Q-function."""
  return obs @ params


def _traj(states, actions, rewards, num_states=4, contexts=None, eps=None):
  """A one-stream trajectory of one-hot states ``[T + 1]``."""
  obs = jax.nn.one_hot(jnp.asarray(states), num_states)[:, None]
  t = len(actions)
  return Trajectory(
      obs=obs, actions=jnp.asarray(actions, jnp.int32)[:, None],
      rewards=jnp.asarray(rewards, jnp.float32)[:, None],
      dones=jnp.zeros((t, 1), bool),
      epsilons=jnp.full((t, 1), 0.5) if eps is None else eps,
      contexts=contexts)


def test_q_lambda_loss_matches_hand_computation():
  table = jnp.asarray([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0], [-2.0, 4.0]])
  states, actions, rewards = [0, 1, 2, 3], [1, 0, 1], [1.0, -1.0, 0.5]
  batch = _traj(states, actions, rewards)
  q = np.asarray(table)
  # Peng's Q(λ): G_t = r_t + γ [(1 − λ) max q(s_{t+1}) + λ G_{t+1}],
  # truncated with G_2 = r_2 + γ max q(s_3).
  g2 = 0.5 + _GAMMA * 4.0
  g1 = -1.0 + _GAMMA * ((1 - _LAMBDA) * 3.0 + _LAMBDA * g2)
  g0 = 1.0 + _GAMMA * ((1 - _LAMBDA) * 0.5 + _LAMBDA * g1)
  td = np.asarray([g0 - q[0, 1], g1 - q[1, 0], g2 - q[2, 1]])
  expected = 0.5 * np.mean(td ** 2)
  loss_fn = lambda p: learning.q_lambda_loss(  # noqa: E731
      p, batch, q_apply=_table_q, discount=_GAMMA, lambda_=_LAMBDA)
  np.testing.assert_allclose(loss_fn(table), expected, rtol=1e-6)
  # The targets carry no gradient: only q(s_t, a_t) moves, by −td / T.
  grad = np.zeros_like(q)
  for s, a, d in zip(states[:3], actions, td, strict=True):
    grad[s, a] -= d / 3
  np.testing.assert_allclose(jax.grad(loss_fn)(table), grad, rtol=1e-6,
                             atol=1e-7)


def _meta_grad(agree: bool, epsilon=0.3):
  config = QLambdaConfig(method="bmg", epsilon=epsilon)
  meta = learning.init_meta_params(jax.random.key(0), config)
  anchor = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
  target = anchor if agree else anchor[:, ::-1]
  batch = _traj([0, 1, 2, 3], [0, 0, 0], [0.0, 0.0, 0.0])
  return jax.value_and_grad(learning.meta_loss)(
      meta, target, anchor, batch, q_apply=_table_q,
      eps=learning.epsilon_fn(config))


def test_meta_gradient_lowers_epsilon_on_agreement_and_raises_on_not():
  eps, num_actions = 0.3, 2
  loss, grad = _meta_grad(agree=True, epsilon=eps)
  np.testing.assert_allclose(loss, -np.log(1 - eps + eps / num_actions),
                             rtol=1e-6)
  # d/dlogit of −log(1 − ε/2) = (ε/2)(1 − ε) / (1 − ε/2) > 0: descent
  # lowers ε.
  np.testing.assert_allclose(grad["logit_epsilon"],
                             (eps / 2) * (1 - eps) / (1 - eps / 2), rtol=1e-5)
  loss, grad = _meta_grad(agree=False, epsilon=eps)
  np.testing.assert_allclose(loss, -np.log(eps / num_actions), rtol=1e-6)
  # d/dlogit of −log(ε/2) = −(1 − ε) < 0: descent raises ε.
  np.testing.assert_allclose(grad["logit_epsilon"], -(1 - eps), rtol=1e-5)


def test_meta_loss_has_no_gradient_to_target_or_anchor():
  config = QLambdaConfig(method="bmg", epsilon=0.3)
  meta = learning.init_meta_params(jax.random.key(0), config)
  anchor = jax.random.normal(jax.random.key(1), (4, 2))
  target = jax.random.normal(jax.random.key(2), (4, 2))
  batch = _traj([0, 1, 2, 3], [0, 1, 0], [0.0, 1.0, 0.0])
  grads = jax.grad(learning.meta_loss, argnums=(1, 2))(
      meta, target, anchor, batch, q_apply=_table_q,
      eps=learning.epsilon_fn(config))
  for g in grads:
    np.testing.assert_array_equal(g, 0.0)


def test_context_meta_gradient_sign_through_the_mlp_bias():
  config = QLambdaConfig(method="bmg", context="reward", context_history=3,
                         context_hidden=4, epsilon=0.5)
  meta = learning.init_meta_params(jax.random.key(0), config)
  contexts = jax.random.uniform(jax.random.key(1), (3, 1, 3), minval=-1.0)
  eps = learning.epsilon_fn(config)
  np.testing.assert_allclose(eps(meta, contexts), 0.5, rtol=1e-6)
  anchor = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
  batch = _traj([0, 1, 2, 3], [0, 0, 0], [0.0, 0.0, 0.0], contexts=contexts)
  for target, sign in ((anchor, 1.0), (anchor[:, ::-1], -1.0)):
    grad = jax.grad(learning.meta_loss)(meta, target, anchor, batch,
                                        q_apply=_table_q, eps=eps)
    assert sign * float(grad["mlp"][-1][1][0]) > 0


def _tiny(method="bmg", context="none", **kw):
  base = dict(task="TwoColors", width=8, unroll_length=4, L=3,
              num_updates=3, learning_rate=1e-3, context_history=5,
              context_hidden=8, meta_learning_rate=1e-2)
  base.update(kw)
  if method == "bmg":
    return QLambdaConfig(method="bmg", context=context, epsilon=0.5, **base)
  return QLambdaConfig(method="fixed", epsilon=0.1, **base)


def test_agent_meta_step_equals_bmg_loss_with_replayed_steps():
  config = _tiny()
  agent = make_agent(config)
  loss_fn, step = learning.make_step_fn(config, agent.network.apply)
  eps = learning.epsilon_fn(config)

  @jax.jit
  def both(key):
    state = init_state(key, agent)
    learner, actor, trajs = state.learner, state.actor, []
    for _ in range(config.L - 1):
      actor, traj = agent.rollout(learner.params, state.meta.params, actor)
      learner, trajs = step(learner, None, traj), trajs + [traj]
    actor, last = agent.rollout(learner.params, state.meta.params, actor)
    meta, new_learner, _ = learning.meta_step(
        state.meta, learner, state.learner.params, last, config=config,
        q_apply=agent.network.apply, meta_optimizer=agent.meta_optimizer)
    mine = jax.grad(learning.meta_loss)(
        state.meta.params, new_learner.params, state.learner.params, last,
        q_apply=agent.network.apply, eps=eps)
    # The library's K = 0 BMG loss, replaying the L − 1 updates from x⁽⁰⁾.
    matching = bm.epsilon_greedy_kl(
        lambda p, b: agent.network.apply(p, b.obs[:-1]),
        lambda w: eps(w, None, last.actions.shape))
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *trajs)
    (_, aux), grad = jax.value_and_grad(bm.bmg_loss, has_aux=True)(
        state.meta.params, state.learner, None, stacked, last, step_fn=step,
        outer_fn=loss_fn, matching_fn=matching,
        target_optimizer=learning.inner_optimizer(config).make({}),
        target_opt_state=learner.opt_state)
    return new_learner.params, aux.target.params, mine, grad, meta

  learner_params, target_params, mine, grad, meta = both(jax.random.key(0))
  for a, b in zip(jax.tree.leaves(target_params),
                  jax.tree.leaves(learner_params), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(mine["logit_epsilon"], grad["logit_epsilon"],
                             rtol=1e-6)
  assert float(grad["logit_epsilon"]) != 0.0
  assert float(meta.params["logit_epsilon"]) != 0.0


@pytest.mark.parametrize("context", [
    "none", "reward", pytest.param("rich", marks=pytest.mark.slow)])
def test_tiny_train_runs_and_epsilon_moves(context):
  config = _tiny(context=context)
  state, metrics = jax.jit(make_train(config))(jax.random.key(0))
  eps = np.asarray(metrics["hp/epsilon"])
  assert eps.shape == (config.num_updates,)
  assert np.all((eps > 0) & (eps < 1))
  assert np.max(np.abs(eps - 0.5)) > 1e-4
  assert np.all(np.isfinite(metrics["meta/loss"]))
  assert np.all(np.abs(metrics["reward_mean"]) <= 1.0)
  del state


def test_every_rollout_trains_the_learner_once():
  fixed, meta = _tiny("fixed", num_updates=9), _tiny("bmg", num_updates=3)
  assert fixed.env_steps == meta.env_steps == 36
  for config, per_iteration in ((fixed, 1), (meta, config_l := meta.L)):
    state, metrics = jax.jit(make_train(config))(jax.random.key(1))
    assert int(state.learner.updates) == config.env_steps // (
        config.unroll_length * config.num_envs)
    np.testing.assert_array_equal(metrics["learner_updates"], per_iteration)
  assert config_l == 3


def test_epsilon_greedy_acting():
  q = jnp.asarray([[0.0, 1.0, 0.0, 0.0]] * 2000)
  key = jax.random.key(0)
  greedy = acting.epsilon_greedy(key, q, jnp.zeros(2000))
  np.testing.assert_array_equal(greedy, 1)
  random = acting.epsilon_greedy(key, q, jnp.ones(2000))
  counts = np.bincount(np.asarray(random), minlength=4) / 2000
  np.testing.assert_allclose(counts, 0.25, atol=0.04)


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="sgd"), r"method 'sgd'.*\('fixed', 'bmg'\)"),
    (dict(method="bmg", context="states"), r"\('none', 'reward', 'rich'\)"),
    (dict(method="fixed", context="reward"), "no context"),
    (dict(method="bmg", epsilon=0.0), r"starts in \(0, 1\)"),
    (dict(L=0), "L must be an integer >= 1"),
    (dict(learning_rate=0.0), "learning_rate must be > 0"),
])
def test_config_errors_are_one_line(kwargs, match):
  with pytest.raises(ValueError, match=match) as info:
    QLambdaConfig(**kwargs)
  assert "\n" not in str(info.value)
