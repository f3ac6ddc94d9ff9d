"""The online meta-step (every rollout trains once) and the papers' options.

* The online meta-loss, which collects its rollouts while it steps, equals
  the offline one (checked against finite differences in
  ``test_learning.py``) on the rollouts it collected: value and gradient.
* Meta-learning agents take as many learner updates per environment step
  as the fixed agent, and the pending rollout was collected with the
  learner's current parameters.
* Options: SGD inner rule, the inner-rule BMG target step, KL summed over
  time, context pre-training, separate policy and value networks.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bootstrap_meta as bm
from agents.actor_critic import hyperparams, learning, losses, online, training
from agents.actor_critic.config import ActorCriticConfig


def _config(method, **kw):
  base = dict(task="TwoColors", core="gru", width=8, num_envs=2,
              unroll_length=4, num_updates=3, learned=("entropy_weight",),
              method=method, K=2, L=3 if method == "bmg" else 1,
              entropy_weight=0.3, learning_rate=0.05,
              meta_learning_rate=1e-2)
  base.update(kw)
  return ActorCriticConfig(**base)


def _leaves_close(a, b, rtol=1e-5, atol=1e-7):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol,
                               atol=atol)


@pytest.mark.parametrize("method,kw", [
    ("mg", {}),
    pytest.param("bmg", {}, marks=pytest.mark.slow),
    pytest.param("bmg", dict(target_step="rmsprop", target_step_size=0.01,
                             kl_reduction="sum", kl_value_weight=0.5),
                 marks=pytest.mark.slow),
    ("bmg", dict(context=True, context_stats="reward", context_history=2,
                 context_hidden=4, optimizer="sgd", max_grad_norm=0.0,
                 target_mode="average")),
    ("bmg", dict(optimizer="sgd", max_grad_norm=1.0, target_mode="outer",
                 outer_entropy_weight=0.05)),
])
def test_online_meta_loss_equals_offline_on_its_rollouts(method, kw):
  config = _config(method, **kw)
  agent = training.make_agent(config)
  state = jax.jit(lambda k: training.init_state(k, agent))(
      jax.random.key(1))
  carry = online.OnlineCarry(state.learner, state.actor, state.pending,
                             jnp.zeros([4]))
  grad = jax.jit(jax.value_and_grad(agent.meta_loss, has_aux=True))
  (loss, aux), grads = grad(state.meta.params, carry,
                            state.meta.target_opt_state)
  n = config.K if method == "mg" else config.K + config.L - 1
  assert jax.tree.leaves(aux.trajs)[0].shape[0] == n
  offline = learning.make_meta_loss(config, agent.networks)
  (loss2, (_, after)), grads2 = jax.jit(jax.value_and_grad(
      offline, has_aux=True))(state.meta.params, state.learner, aux.trajs,
                              aux.next.traj, state.meta.target_opt_state)
  np.testing.assert_allclose(loss, loss2, rtol=1e-5)
  _leaves_close(grads, grads2, atol=1e-9)
  _leaves_close(aux.next.learner.params, after.params)
  assert float(optax.tree.norm(grads)) > 0.0


def _adam_count(learner):
  is_adam = lambda s: isinstance(s, optax.ScaleByAdamState)  # noqa: E731
  counts = [s.count for s in jax.tree.leaves(learner.opt_state,
                                             is_leaf=is_adam) if is_adam(s)]
  return int(counts[0])


def test_updates_per_env_step_equal_fixed_and_pending_rollout_is_fresh():
  # An MLP core (fast to compile); the plumbing does not depend on it.
  ratios, states = {}, {}
  for method in ("none", "mg", "bmg"):
    config = _config("mg" if method == "none" else method, core="mlp")
    if method == "none":
      config = dataclasses.replace(config, method="none", learned=())
    states[method], _ = jax.jit(training.make_train(config))(
        jax.random.key(2))
    ratios[method] = _adam_count(states[method].learner) / config.env_steps
  assert ratios == {m: 1 / (4 * 2) for m in ratios}
  # The pending rollout was collected with the learner's current params.
  config = _config("bmg", core="mlp")
  agent = training.make_agent(config)
  state = states["bmg"]
  out, values = losses.replay(agent.networks.unroll, state.learner.params,
                              state.pending)
  np.testing.assert_allclose(out[:-1], state.pending.logits, atol=1e-5)
  np.testing.assert_allclose(values, state.pending.values, atol=1e-5)


def test_sgd_inner_rule_and_inner_target_step():
  config = _config("bmg", optimizer="sgd", max_grad_norm=0.0)
  tx = learning.inner_optimizer(0.05, kind="sgd")
  grads = {"a": jnp.array([1.0, -2.0])}
  u, _ = tx.update(grads, tx.init(grads))
  np.testing.assert_allclose(u["a"], [-0.05, 0.1])
  # The default BMG target step is the inner rule applied with the
  # learner's state: x̃ = x − 0.05 ∇f(x) for SGD.
  outer = lambda p, _: jnp.sum(p["a"] ** 2)  # noqa: E731
  carry = learning.LearnerState({"a": jnp.array([1.0, 3.0])},
                                tx.init(grads), None)
  target = learning.bmg_target(config, carry, {}, None, outer_fn=outer)
  np.testing.assert_allclose(target.params["a"], [0.9, 2.7], rtol=1e-6)
  # Clipped Adam: the first step has size lr per coordinate.
  adam = dataclasses.replace(config, optimizer="adam", max_grad_norm=1.0)
  tx = learning.inner_optimizer(0.05, kind="adam", max_norm=1.0)
  carry = carry._replace(opt_state=tx.init(carry.params))
  target = learning.bmg_target(adam, carry, {}, None, outer_fn=outer)
  np.testing.assert_allclose(target.params["a"], [0.95, 2.95], rtol=1e-5)


@pytest.mark.parametrize("bad", [None, jnp.nan, jnp.inf, -jnp.inf])
def test_all_finite_checks_every_inexact_leaf_of_every_dtype(bad):
  # One raveled vector per dtype; integer, bool and key leaves are ignored
  # (also when huge or garbage), Python floats are checked.
  tree = {"w": jnp.ones((3, 4)), "h": jnp.ones((2,), jnp.float16),
          "n": jnp.array([2 ** 30], jnp.int32), "b": jnp.array([True]),
          "k": jax.random.key(0), "lr": 0.1, "none": None}
  assert bool(learning.all_finite(tree))
  assert bool(learning.all_finite({"n": tree["n"], "none": None}))
  if bad is not None:
    for name, index in (("w", (2, 3)), ("h", (0,))):
      broken = dict(tree, **{name: tree[name].at[index].set(bad)})
      assert not bool(learning.all_finite(broken)), name
      assert not bool(jax.jit(learning.all_finite)(broken)), name
    assert not bool(learning.all_finite(dict(tree, lr=float(bad))))


def test_kl_sum_is_steps_times_mean():
  mean_cfg = _config("bmg", kl_value_weight=0.3)
  sum_cfg = dataclasses.replace(mean_cfg, kl_reduction="sum")
  agent = training.make_agent(mean_cfg)
  state = jax.jit(lambda k: training.init_state(k, agent))(jax.random.key(0))
  p = state.learner.params
  q = jax.tree.map(lambda x: x + 0.1, p)
  m = learning.make_matching_fn(mean_cfg, agent.networks)(
      q, p, None, state.pending)
  s = learning.make_matching_fn(sum_cfg, agent.networks)(
      q, p, None, state.pending)
  assert float(m) > 0
  np.testing.assert_allclose(s, 4 * m, rtol=1e-6)


def test_context_pretraining_fits_the_start_value():
  raw = float(jnp.log(0.5 / 0.5))  # sigmoid⁻¹(0.5) = 0.
  params = hyperparams.pretrain_mlp(jax.random.key(0), in_dim=10,
                                    hidden=(16, 16), init_output=raw + 0.4)
  contexts = jax.random.uniform(jax.random.key(1), (512, 10), minval=-1,
                                maxval=1)
  out = jax.vmap(lambda c: bm.mlp_apply(params, c))(contexts)
  np.testing.assert_allclose(out, 0.4, atol=0.05)
  assert float(jnp.abs(params[-1][0]).max()) > 1e-3  # Output layer random.
  config = _config("mg", context=True, context_pretrain=True,
                   context_stats="reward", context_history=3,
                   context_hidden=8, entropy_weight=0.5)
  w = hyperparams.init_meta_params(jax.random.key(0), config)
  out = bm.mlp_apply(w["entropy_weight"], jnp.full((3,), 0.7))
  np.testing.assert_allclose(jax.nn.sigmoid(out), 0.5, atol=0.02)


def test_separate_networks_do_not_share_parameters():
  config = _config("none", learned=(), core="mlp", separate_networks=True,
                   width=8)
  agent = training.make_agent(config)
  state = jax.jit(lambda k: training.init_state(k, agent))(jax.random.key(0))
  params = state.learner.params
  kinds = {("policy" in k, "value" in k) for k in params}
  assert kinds == {(True, False), (False, True)}, list(params)
  _, traj = training.heal_rollout(agent, params, state.actor)

  def value_sum(p):
    return jnp.sum(losses.replay(agent.networks.unroll, p, traj)[1])

  grads = jax.grad(value_sum)(params)
  for name, leaves in grads.items():
    norm = float(optax.tree.norm(leaves))
    assert (norm == 0.0) == ("policy" in name), name
  with pytest.raises(ValueError, match="separate_networks needs core='mlp'"):
    ActorCriticConfig(core="gru", separate_networks=True)


def test_average_target_is_the_mean_step_and_l1_is_unchanged():
  outer = lambda p, _: jnp.sum(p["a"] ** 2)  # noqa: E731
  tx = learning.inner_optimizer(0.1, kind="sgd")
  x0 = {"a": jnp.array([2.0, -1.0])}
  carry = learning.LearnerState({"a": jnp.array([1.0, 3.0])},
                                tx.init(x0), None)
  for K, L, scale in ((1, 1, 1.0), (1, 3, 1 / 3), (2, 3, 0.5)):
    config = _config("bmg", optimizer="sgd", max_grad_norm=0.0, K=K, L=L,
                     target_mode="average")
    boot = learning.bmg_target(dataclasses.replace(
        config, target_mode="bootstrap"), carry, {}, None, outer_fn=outer)
    avg = learning.bmg_target(config, carry, {}, None, outer_fn=outer,
                              start=x0)
    np.testing.assert_allclose(boot.params["a"], [0.9, 2.7], rtol=1e-6)
    np.testing.assert_allclose(
        avg.params["a"], x0["a"] + scale * (boot.params["a"] - x0["a"]),
        rtol=1e-6)


def _offline_bmg(config, seed=3):
  """The offline BMG meta-loss and its gradient on fresh rollouts."""
  agent = training.make_agent(config)
  state = jax.jit(lambda k: training.init_state(k, agent))(
      jax.random.key(seed))
  carry = online.OnlineCarry(state.learner, state.actor, state.pending,
                             jnp.zeros([4]))
  (_, aux), _ = jax.jit(jax.value_and_grad(agent.meta_loss, has_aux=True))(
      state.meta.params, carry, state.meta.target_opt_state)
  offline = learning.make_meta_loss(config, agent.networks)
  return jax.jit(jax.value_and_grad(offline, has_aux=True))(
      state.meta.params, state.learner, aux.trajs, aux.next.traj,
      state.meta.target_opt_state)


def test_outer_target_is_the_bootstrap_target_when_outer_values_equal_w():
  # Outer entropy, γ and λ equal to the learner's: the reference steps are
  # the learner's own, so the target (and the meta-gradient) is BMG's.
  same = dict(core="mlp", optimizer="sgd", max_grad_norm=1.0,
              entropy_weight=0.3,
              outer_entropy_weight=0.3, outer_discount=0.99,
              discount=0.99, outer_lambda=0.9, lambda_=0.9)
  (loss, (_, after)), grads = _offline_bmg(_config("bmg", **same))
  (loss2, _), grads2 = _offline_bmg(_config("bmg", target_mode="outer",
                                            **same))
  np.testing.assert_allclose(loss, loss2, rtol=1e-5)
  _leaves_close(grads, grads2, atol=1e-9)
  # A different outer entropy weight moves the target, not the learner.
  (loss3, (_, after3)), grads3 = _offline_bmg(_config(
      "bmg", target_mode="outer", **dict(same, outer_entropy_weight=0.0)))
  assert abs(float(loss3) - float(loss)) > 1e-6 * abs(float(loss))
  _leaves_close(after3.params, after.params)
  assert float(optax.tree.norm(grads3)) > 0.0


def test_outer_reference_step_is_the_outer_rule_by_hand():
  # SGD without clipping: Δx_ref = −lr ∇(a2c loss with the outer weight).
  config = _config("bmg", optimizer="sgd", max_grad_norm=0.0,
                   target_mode="outer", outer_entropy_weight=0.05,
                   outer_discount=0.9, outer_lambda=0.5)
  agent = training.make_agent(config)
  state = jax.jit(lambda k: training.init_state(k, agent))(
      jax.random.key(4))
  d = learning.make_reference_fn(config, agent.networks)(state.learner,
                                                          state.pending)
  loss = losses.make_a2c_loss(agent.networks.unroll)
  hp = {"entropy_weight": 0.05, "discount": 0.9, "lambda_": 0.5,
        "learning_rate": config.learning_rate,
        "value_weight": config.value_weight}
  g = jax.grad(lambda p: loss(p, hp, state.pending)[0])(state.learner.params)
  _leaves_close(d, jax.tree.map(lambda x: -config.learning_rate * x, g),
                rtol=1e-4, atol=1e-7)
