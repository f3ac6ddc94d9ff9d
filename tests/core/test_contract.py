"""The contract every public transformation of bootstrap_meta passes.

jit, lax.scan, optax.chain, vmap over seeds, no retracing, finite
meta-gradients from a zero-gradient start, convergence on an ill-conditioned
quadratic; plus the failure modes: invalid static arguments raise at the
factory call, a non-finite meta-gradient is skipped and counted.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bootstrap_meta as bm

_DIM = 8
_A = jnp.asarray(np.diag(np.logspace(-2, 0, _DIM)))  # condition number 100


def _f(x):
  return 0.5 * x @ _A @ x


def _x0(seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(_DIM,)),
                     jnp.float32)


def _adam(method, **kw):
  return bm.meta_learned(
      optax.adam, learned={"learning_rate": bm.positive(0.02),
                           "b1": bm.unit_interval(0.8)},
      method=method, meta_optimizer=optax.adam(0.01), **kw)


TRANSFORMS = {
    "mg": lambda: _adam(bm.MG(K=1)),
    "mg-k3-remat": lambda: _adam(bm.MG(K=3, remat=True)),
    "bmg": lambda: _adam(bm.BMG(K=1, L=1, step_size=0.5)),
    "bmg-rmsprop-target": lambda: _adam(bm.BMG(
        K=2, L=3, target_optimizer=optax.rmsprop(0.05))),
    "optimistic": lambda: _adam(bm.Optimistic(bm.MG(K=1), hint_weight=0.5)),
    "optimistic-bmg": lambda: _adam(bm.Optimistic(bm.BMG(K=1, L=2))),
    "contextual": lambda: _adam(bm.BMG(K=1, L=2),
                                context=bm.Contextual(history=4,
                                                      hidden=(8,))),
    "sgd-lr": lambda: bm.meta_learned(
        optax.sgd, learned={"learning_rate": bm.positive(0.5)},
        method=bm.MG(K=2), meta_optimizer=optax.adam(0.01)),
}


def _step(tx):
  def step(x, state):
    u, state = tx.update(jax.grad(_f)(x), state, x, value_fn=_f)
    return optax.apply_updates(x, u), state
  return step


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_jit_scan_no_retrace_and_convergence(name):
  tx = TRANSFORMS[name]()
  traces = []

  def step(x, state):
    traces.append(None)
    return _step(tx)(x, state)

  jstep = jax.jit(step)
  x, state = _x0(), tx.init(_x0())
  for _ in range(3):
    x, state = jstep(x, state)
  assert len(traces) == 1  # No retracing across steps.

  def body(carry, _):
    return _step(tx)(*carry), None

  (x, state), _ = jax.jit(lambda c: jax.lax.scan(body, c, None, length=400))(
      (x, state))
  assert float(_f(x)) < 1e-2 * float(_f(_x0()))
  meta = bm.find_meta_state(state)
  assert int(meta.count) == 403 and int(meta.num_skipped) == 0
  for v in meta.hyperparams.values():
    assert bool(jnp.all(jnp.isfinite(v)))


@pytest.mark.parametrize("name", ["mg", "bmg", "optimistic", "contextual"])
def test_inside_optax_chain_and_find_state(name):
  tx = optax.chain(optax.clip_by_global_norm(10.0), TRANSFORMS[name]())
  x = _x0()
  state = tx.init(x)
  x1, state = jax.jit(_step(tx))(x, state)
  meta = bm.find_meta_state(state)
  assert int(meta.count) == 1
  assert float(_f(x1)) < float(_f(x))


@pytest.mark.parametrize("name", ["mg", "bmg-rmsprop-target", "contextual"])
def test_vmap_over_seeds_equals_separate_runs(name):
  tx = TRANSFORMS[name]()
  xs = jnp.stack([_x0(s) for s in range(3)])
  states = jax.vmap(tx.init)(xs)
  vx, vstate = jax.jit(jax.vmap(_step(tx)))(xs, states)
  for i in range(3):
    x, s = _step(tx)(xs[i], tx.init(xs[i]))
    np.testing.assert_allclose(vx[i], x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vstate.hyperparams["learning_rate"][i],
                               s.hyperparams["learning_rate"], rtol=1e-5)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_finite_meta_gradient_from_zero_gradient_start(name):
  tx = TRANSFORMS[name]()
  x = jnp.zeros(_DIM)  # The optimum: every gradient is exactly zero.
  state = tx.init(x)
  x1, state = jax.jit(_step(tx))(x, state)
  meta = bm.find_meta_state(state)
  assert int(meta.num_skipped) == 0
  assert bool(jnp.all(jnp.isfinite(x1)))
  leaves = jax.tree_util.tree_leaves(meta.meta_params)
  assert all(bool(jnp.all(jnp.isfinite(v))) for v in leaves)


def test_non_finite_meta_gradient_is_skipped_and_counted():
  tx = _adam(bm.MG(K=1))
  x = jnp.full((_DIM,), 0.01)
  state = tx.init(x)
  # The outer loss is NaN at the look-ahead point: the meta-step is skipped.
  bad = lambda p: jnp.sum(jnp.log(p - 0.05))  # noqa: E731
  u, new = jax.jit(lambda g, s, p: tx.update(g, s, p, value_fn=bad))(
      jax.grad(_f)(x), state, x)
  assert int(new.num_skipped) == 1
  assert bool(jnp.all(jnp.isfinite(u)))
  for a, b in zip(jax.tree_util.tree_leaves(new.meta_params),
                  jax.tree_util.tree_leaves(state.meta_params), strict=True):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(jax.tree_util.tree_leaves(new.meta_opt_state),
                  jax.tree_util.tree_leaves(state.meta_opt_state),
                  strict=True):
    np.testing.assert_array_equal(a, b)


def test_switched_off_meta_learning_is_bit_identical_to_optax():
  # An identity bijection, so that the value is exactly 0.1 (log/exp would
  # round it in float32); nothing else may change a bit of the trajectory.
  tx = bm.meta_learned(optax.adam,
                       learned={"learning_rate": bm.unconstrained(0.1)},
                       meta_optimizer=optax.set_to_zero(), eps_root=None)
  ref = optax.adam(0.1)
  x, y = _x0(), _x0()
  s, r = tx.init(x), ref.init(y)
  for _ in range(20):
    u, s = tx.update(jax.grad(_f)(x), s, x, value_fn=_f)
    x = optax.apply_updates(x, u)
    v, r = ref.update(jax.grad(_f)(y), r, y)
    y = optax.apply_updates(y, v)
  np.testing.assert_array_equal(x, y)


def test_loss_side_meta_parameters():
  tx = bm.meta_learned(
      optax.sgd, learned={"learning_rate": bm.positive(0.5)},
      learned_loss={"l2": bm.positive(0.1)}, method=bm.MG(K=2),
      meta_optimizer=optax.sgd(0.1))
  x = _x0()
  state = tx.init(x)
  loss_fn = lambda p, h: _f(p) + h["l2"] * jnp.sum(p**2)  # noqa: E731
  _, new = tx.update(jax.grad(_f)(x), state, x, value_fn=_f, loss_fn=loss_fn)
  # The L2 term pulls toward 0 like the outer loss: the meta-gradient is
  # nonzero and finite, and the constrained value is reported.
  assert float(new.hyperparams["l2"]) == pytest.approx(0.1, rel=1e-5)
  assert float(new.meta_params["l2"]) != float(state.meta_params["l2"])
  with pytest.raises(ValueError, match="loss_fn"):
    tx.update(jax.grad(_f)(x), state, x, value_fn=_f)


@pytest.mark.parametrize("make,match", [
    (lambda: bm.MG(K=0), "MG.K"),
    (lambda: bm.MG(K=-1), "MG.K"),
    (lambda: bm.BMG(K=-1), "BMG.K"),
    (lambda: bm.BMG(L=0), "BMG.L"),
    (lambda: bm.BMG(K=0), "K = 0"),
    (lambda: bm.BMG(step_size=0.0), "step_size"),
    (lambda: bm.Optimistic(hint_weight=-1.0), "hint_weight"),
    (lambda: bm.Contextual(history=0), "history"),
    (lambda: bm.meta_learned(optax.adam, learned={"lr": bm.positive(1.0)},
                             meta_optimizer=optax.sgd(1.0)), "lr.*adam"),
    (lambda: bm.meta_learned(optax.sgd, learned={"b2": bm.positive(1.0)},
                             meta_optimizer=optax.sgd(1.0)), "b2"),
    (lambda: bm.meta_learned(optax.sgd, learned={},
                             meta_optimizer=optax.sgd(1.0)), "Nothing"),
    (lambda: bm.meta_learned(optax.sgd, learned={"learning_rate": 0.1},
                             meta_optimizer=optax.sgd(1.0)), "MetaParam"),
    (lambda: bm.meta_learned(optax.sgd,
                             learned={"learning_rate": bm.positive([.1, .2])},
                             meta_optimizer=optax.sgd(1.0),
                             context=bm.Contextual()), "scalar"),
    (lambda: bm.meta_learned(optax.sgd,
                             learned={"learning_rate": bm.positive(0.1)},
                             method="bmg", meta_optimizer=optax.sgd(1.0)),
     "method"),
])
def test_invalid_static_arguments_raise_at_construction(make, match):
  with pytest.raises(ValueError, match=match):
    make()


def test_missing_value_fn_raises_before_compute():
  tx = _adam(bm.MG())
  with pytest.raises(ValueError, match="value_fn"):
    tx.update(jnp.zeros(_DIM), tx.init(jnp.zeros(_DIM)), jnp.zeros(_DIM))


def test_drop_in_bmg_l1_equals_alpha_times_mg():
  """The drop-in's meta-step: BMG(L=1, α) with meta-SGD(1) = MG, meta-SGD(α)."""
  with jax.enable_x64(True):
    alpha = 0.3
    learned = {"learning_rate": bm.positive(0.05), "b1": bm.unit_interval(0.7)}
    bmg = bm.meta_learned(optax.adam, learned=learned,
                          method=bm.BMG(K=2, L=1, step_size=alpha),
                          meta_optimizer=optax.sgd(1.0))
    mg = bm.meta_learned(optax.adam, learned=learned, method=bm.MG(K=2),
                         meta_optimizer=optax.sgd(alpha))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(_DIM,)))
    g = jax.grad(_f)(x)
    _, sb = bmg.update(g, bmg.init(x), x, value_fn=_f)
    _, sm = mg.update(g, mg.init(x), x, value_fn=_f)
    for name in learned:
      step = float(sm.meta_params[name] - mg.init(x).meta_params[name])
      assert abs(step) > 1e-6
      assert abs(float(sb.meta_params[name] - sm.meta_params[name])) < 1e-10


def test_non_finite_gradient_never_reaches_the_learner():
  tx = _adam(bm.BMG(K=1, L=2))
  x = _x0()
  state = tx.init(x)
  nan_grads = jnp.full((_DIM,), jnp.nan)
  u, new = jax.jit(lambda g, s, p: tx.update(g, s, p, value_fn=_f))(
      nan_grads, state, x)
  np.testing.assert_array_equal(u, jnp.zeros(_DIM))
  assert int(new.num_bad_updates) == 1
  for a, b in zip(jax.tree_util.tree_leaves(new.inner_opt_state),
                  jax.tree_util.tree_leaves(state.inner_opt_state),
                  strict=True):
    np.testing.assert_array_equal(a, b)
  # The next, finite step proceeds normally.
  u2, new2 = tx.update(jax.grad(_f)(x), new, x, value_fn=_f)
  assert float(_f(x + u2)) < float(_f(x))
  assert int(new2.num_bad_updates) == 1


def test_state_dtypes_stable_under_x64_with_float32_params():
  """A float32 learner under x64: the scan carry keeps its dtypes."""
  with jax.enable_x64(True):
    tx = _adam(bm.BMG(K=1, L=2))
    x = _x0().astype(jnp.float32)
    f32 = lambda p: _f(p).astype(jnp.float32)  # noqa: E731

    def body(carry, _):
      x, s = carry
      u, s = tx.update(jax.grad(f32)(x), s, x, value_fn=f32)
      return (optax.apply_updates(x, u), s), None

    (x1, s1), _ = jax.lax.scan(body, (x, tx.init(x)), None, length=3)
    assert x1.dtype == jnp.float32 and int(s1.count) == 3
