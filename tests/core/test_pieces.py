"""Unit tests of the functional pieces: bijections, optimiser wrapper,
unroll, matching functions, context tracker."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bootstrap_meta as bm
from tests.core import _problems as P


@pytest.mark.parametrize("spec,value", [
    (bm.positive(3e-4), 3e-4),
    (bm.positive(2.5, parameterization="softplus"), 2.5),
    (bm.unit_interval(0.9), 0.9),
    (bm.interval(0.95, low=0.9, high=1.0), 0.95),
    (bm.unconstrained(-1.5), -1.5),
])
def test_bijection_round_trip_from_user_value(spec, value):
  with jax.enable_x64(True):
    raw = bm.init_meta_params({"h": spec})
    assert raw["h"].dtype == jnp.float64
    assert abs(float(bm.constrain(raw, {"h": spec})["h"]) - value) < 1e-12


def test_bijection_raw_values_and_ranges():
  assert float(bm.init_meta_params({"h": bm.positive(1.0)})["h"]) == 0.0
  assert float(bm.init_meta_params({"h": bm.unit_interval(0.5)})["h"]) == 0.0
  gamma = bm.interval_bijection(low=0.9, high=1.0)
  out = gamma.forward(jnp.array([-50.0, 0.0, 50.0]))
  np.testing.assert_allclose(out, [0.9, 0.95, 1.0], atol=1e-6)
  soft = bm.softplus_bijection()
  np.testing.assert_allclose(soft.forward(soft.inverse(jnp.array(30.0))),
                             30.0, rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: bm.positive(0.0), lambda: bm.positive(-1.0),
    lambda: bm.unit_interval(1.0), lambda: bm.interval(0.5, low=0.9, high=1),
    lambda: bm.interval(0.95, low=1.0, high=0.9),
    lambda: bm.positive(1.0, parameterization="cube"),
    lambda: bm.unconstrained(float("nan")),
])
def test_bijection_bad_values_raise(make):
  with pytest.raises(ValueError):
    make()


def test_hyper_optimizer_checks_names_and_sets_eps_root():
  opt = bm.hyper_optimizer(optax.adam, learned=["learning_rate"])
  assert opt.fixed["eps_root"] == 1e-8
  with pytest.raises(ValueError, match="learning_rat.*adam"):
    bm.hyper_optimizer(optax.adam, learned=["learning_rat"])
  with pytest.raises(ValueError, match="b1"):
    bm.hyper_optimizer(optax.sgd, learned=["b1"])
  with pytest.raises(ValueError, match="both learned and fixed"):
    bm.hyper_optimizer(optax.sgd, learned=["learning_rate"],
                       fixed={"learning_rate": 0.1})
  rms = bm.hyper_optimizer(optax.rmsprop, learned=["learning_rate"])
  assert "eps_root" not in rms.fixed  # Safe already: eps inside the sqrt.


def _second_order_grad(opt):
  """Meta-gradient through one step taken from an exactly-zero gradient."""
  params = {"x": jnp.zeros(3)}
  loss = lambda p, h, b: jnp.sum(p["x"] ** 2)  # noqa: E731  ∇ = 0 at 0.
  specs = {"learning_rate": bm.positive(0.1)}
  w = bm.init_meta_params(specs)
  carry = bm.LearnerState(params, opt.make(bm.constrain(w, specs)).init(
      params))

  def step_fn(c, w, b):
    return bm.inner_step(c, bm.constrain(w, specs), b, optimizer=opt,
                         loss_fn=loss)

  def outer(w):
    c = bm.unroll(step_fn, carry, w, None, length=2)
    return jnp.sum((c.params["x"] - 1.0) ** 2)

  return jax.grad(outer)(w)["learning_rate"]


def test_meta_gradient_finite_from_zero_gradient_with_adam():
  safe = _second_order_grad(bm.hyper_optimizer(optax.adam,
                                               learned=["learning_rate"]))
  assert bool(jnp.isfinite(safe))
  # The regression this guards against: optax's default eps_root = 0.
  unsafe = _second_order_grad(bm.hyper_optimizer(
      optax.adam, learned=["learning_rate"], eps_root=None))
  assert not bool(jnp.isfinite(unsafe))


def test_unroll_remat_matches_plain_values_and_gradients():
  with jax.enable_x64(True):
    optimizer, specs = P.adam_setup()
    params, batches = P.tiny_mlp_problem(5, steps=9)  # 3 segments of 3.
    w = bm.init_meta_params(specs)
    carry = bm.LearnerState(params, optimizer.make(
        bm.constrain(w, specs)).init(params))
    step_fn = P.make_step_fn(optimizer, specs)

    def loss(w, remat):
      c = bm.unroll(step_fn, carry, w, batches, remat=remat)
      return P.mse(c.params, jax.tree.map(lambda b: b[0], batches))

    plain = jax.jit(jax.value_and_grad(lambda w: loss(w, False)))(w)
    remat = jax.jit(jax.value_and_grad(lambda w: loss(w, True)))(w)
    assert abs(float(plain[0] - remat[0])) < 1e-12
    assert P.rel_err(remat[1], plain[1]) < 1e-10


def test_unroll_with_zero_steps_returns_the_carry():
  carry = bm.LearnerState({"x": jnp.ones(2)}, ())
  out = bm.unroll(lambda c, w, b: None, carry, None, None, length=0)
  assert out is carry


def test_squared_euclidean_and_policy_kl_values():
  target = {"a": jnp.array([1.0, 2.0]), "b": jnp.array(3.0)}
  params = {"a": jnp.array([0.0, 0.0]), "b": jnp.array(1.0)}
  assert float(bm.squared_euclidean()(target, params, None, None)) == 4.5
  # KL(p ‖ q) for p = softmax([0, log 3]) = [.25, .75], q uniform.
  logits = lambda p, b: p  # noqa: E731
  kl = bm.policy_kl(logits)(jnp.array([0.0, jnp.log(3.0)]),
                            jnp.array([0.0, 0.0]), None, None)
  expected = 0.25 * np.log(0.25 / 0.5) + 0.75 * np.log(0.75 / 0.5)
  assert abs(float(kl) - expected) < 1e-6
  # Gradient flows only to the current (second) argument.
  g_t = jax.grad(lambda t: bm.policy_kl(logits)(t, jnp.zeros(2), None, None))(
      jnp.array([0.0, 1.0]))
  assert float(jnp.abs(g_t).sum()) == 0.0
  both = bm.policy_kl_plus_value(lambda p, b: (p[:2], p[2]), value_weight=2.0)
  val = both(jnp.array([0.0, jnp.log(3.0), 1.0]), jnp.array([0.0, 0.0, 0.5]),
             None, None)
  assert abs(float(val) - (expected + 2.0 * 0.25)) < 1e-6


def test_epsilon_greedy_k0_meta_gradient_sign():
  """Descent lowers ε where greedy actions agree and raises it elsewhere."""
  q_fn = lambda p, b: p  # noqa: E731  Params are the q-values themselves.
  eps_fn = lambda w: jax.nn.sigmoid(w)  # noqa: E731
  matching = bm.epsilon_greedy_kl(q_fn, eps_fn)
  current = jnp.array([[1.0, 0.0, 0.0]])
  agree_target = jnp.array([[2.0, 0.0, 0.0]])
  disagree_target = jnp.array([[0.0, 2.0, 0.0]])
  w = jnp.array(0.0)  # ε = 0.5.
  g_agree = jax.grad(lambda w: matching(agree_target, current, w, None))(w)
  g_dis = jax.grad(lambda w: matching(disagree_target, current, w, None))(w)
  assert float(g_agree) > 0 and float(g_dis) < 0
  # Hand values at ε = 1/2, |A| = 3: −log(1 − ε + ε/3) and −log(ε/3).
  eps, d_eps = 0.5, 0.25  # dε/dw = σ'(0).
  assert abs(float(g_agree) - d_eps * (2 / 3) / (1 - eps + eps / 3)) < 1e-6
  assert abs(float(g_dis) - d_eps * (-1 / eps)) < 1e-6
  # Through bmg_loss with K = 0: the only gradient is the direct one.
  carry = bm.LearnerState(current, ())
  loss, _ = bm.bmg_loss(w, carry, None, None, None,
                        step_fn=lambda c, w, b: c,
                        outer_fn=lambda p, b: -jnp.sum(p * disagree_target),
                        matching_fn=matching, step_size=1.0)
  assert bool(jnp.isfinite(loss))


def test_context_tracker_normalises_squashes_and_stops_gradient():
  state = bm.context_init(history=3, num_stats=2)
  stats = [jnp.array([1.0, 10.0]), jnp.array([3.0, 10.0]),
           jnp.array([5.0, 40.0])]
  for s in stats:
    state = bm.context_update(state, s)
  np.testing.assert_allclose(state.mean, [3.0, 20.0], rtol=1e-6)
  arr = np.stack([np.asarray(s) for s in stats])
  std = arr.std(axis=0)
  expected_newest = np.tanh((arr[-1] - arr.mean(0)) / std)
  np.testing.assert_allclose(state.history[0], expected_newest, rtol=1e-5)
  assert int(state.count) == 3
  assert float(jnp.max(jnp.abs(state.history))) <= 1.0

  # No gradient reaches the statistics or the features.
  def through(x):
    s = bm.context_update(bm.context_init(history=2, num_stats=1), x)
    return jnp.sum(bm.context_features(s) * 3.0)

  assert float(jax.grad(through)(jnp.array([2.0]))[0]) == 0.0


def test_context_mlp_starts_at_init_output_and_learns_through_omega():
  omega = bm.mlp_init(jax.random.key(0), in_dim=4, hidden=(8, 8),
                      init_output=-2.0)
  c = jnp.array([0.1, -0.5, 0.9, 0.0])
  assert float(bm.mlp_apply(omega, c)[0]) == -2.0
  g_omega = jax.grad(lambda o: bm.mlp_apply(o, c)[0])(omega)
  assert float(jnp.abs(g_omega[-1][0]).sum()) > 0  # Output layer learns.
  g_c = jax.grad(lambda c: bm.mlp_apply(omega, c)[0])(c)
  assert float(jnp.abs(g_c).sum()) == 0.0  # Context: no gradient.
