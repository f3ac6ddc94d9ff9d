"""Property-based tests (hypothesis) of the drop-in transform.

Over random pytrees (1-3 leaves of rank 0-2), random starting values,
hyperparameters and methods (MG, BMG, optimistic; Xu et al. 2018,
Flennerhag et al. 2022, 2023): every output is finite, the state keeps its
structure, shapes and dtypes, the hyperparameters stay in their bounds,
switched-off meta-learning is bit-identical to optax, a gradient pytree
that does not match the parameters is refused, and in the functional layer
BMG with L = 1 has exactly α times the MG meta-gradient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bootstrap_meta as bm

#: Examples per property (derandomized, so CI runs the same ones).
MAX_EXAMPLES = 10
_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None,
                     derandomize=True,
                     suppress_health_check=[HealthCheck.too_slow])

_shapes = st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=2)
                   .map(tuple), min_size=1, max_size=3)


@st.composite
def _pytrees(draw):
  """A dict pytree of float32 leaves and a positive curvature per leaf."""
  shapes = draw(_shapes)
  seed = draw(st.integers(0, 2**31 - 1))
  rng = np.random.default_rng(seed)
  params = {f"w{i}": jnp.asarray(rng.normal(size=s) * 2, jnp.float32)
            for i, s in enumerate(shapes)}
  scales = {k: jnp.asarray(rng.uniform(0.1, 10.0, size=np.shape(v)),
                           jnp.float32) for k, v in params.items()}
  return params, scales


def _method(draw_index: int, k: int, big_l: int):
  return [bm.MG(K=k), bm.BMG(K=k, L=big_l, step_size=0.3),
          bm.Optimistic(bm.MG(K=k), hint_weight=0.5)][draw_index]


def _quadratic(scales):
  def f(params):
    return sum(0.5 * jnp.sum(scales[k] * params[k] ** 2) for k in params)
  return f


def _signature(tree):
  return jax.tree.structure(tree), [(np.shape(x), jnp.result_type(x))
                                    for x in jax.tree.leaves(tree)]


@_SETTINGS
@given(tree=_pytrees(), method=st.integers(0, 2), k=st.integers(1, 2),
       big_l=st.integers(1, 2), lr=st.floats(1e-3, 0.3),
       b1=st.floats(0.05, 0.95))
def test_finite_stable_state_and_bounds(tree, method, k, big_l, lr, b1):
  params, scales = tree
  f = _quadratic(scales)
  tx = bm.meta_learned(
      optax.adam, learned={"learning_rate": bm.positive(lr),
                           "b1": bm.unit_interval(b1)},
      method=_method(method, k, big_l), meta_optimizer=optax.adam(0.05))
  state = tx.init(params)
  signature = _signature(state)

  @jax.jit
  def step(params, state):
    u, state = tx.update(jax.grad(f)(params), state, params, value_fn=f)
    return optax.apply_updates(params, u), state

  for _ in range(3):
    params, state = step(params, state)
    assert _signature(state) == signature
    for leaf in jax.tree.leaves((params, state)):
      assert np.all(np.isfinite(np.asarray(leaf, np.float64)))
    assert float(state.hyperparams["learning_rate"]) > 0
    assert 0 < float(state.hyperparams["b1"]) < 1
  assert int(state.num_skipped) == 0 and int(state.num_bad_updates) == 0


@_SETTINGS
@given(tree=_pytrees(), lr=st.floats(1e-3, 0.3))
def test_learning_off_is_bit_identical_to_optax(tree, lr):
  params, scales = tree
  f = _quadratic(scales)
  lr = float(np.float32(lr))  # Exactly representable: identity bijection.
  tx = bm.meta_learned(optax.adam,
                       learned={"learning_rate": bm.unconstrained(lr)},
                       meta_optimizer=optax.set_to_zero(), eps_root=None)
  ref = optax.adam(lr)
  x, y = params, params
  s, r = tx.init(x), ref.init(y)
  for _ in range(4):
    u, s = tx.update(jax.grad(f)(x), s, x, value_fn=f)
    x = optax.apply_updates(x, u)
    v, r = ref.update(jax.grad(f)(y), r, y)
    y = optax.apply_updates(y, v)
  for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
    np.testing.assert_array_equal(a, b)


@_SETTINGS
@given(tree=_pytrees(), drop=st.booleans())
def test_mismatched_gradient_pytree_is_refused(tree, drop):
  params, scales = tree
  f = _quadratic(scales)
  tx = bm.meta_learned(optax.sgd,
                       learned={"learning_rate": bm.positive(0.1)},
                       meta_optimizer=optax.sgd(0.1))
  state = tx.init(params)
  grads = jax.grad(f)(params)
  first = sorted(grads)[0]
  if drop or len(grads) == 1:  # A missing leaf (or an extra one).
    grads = {**grads, "extra": jnp.ones(2)} if len(grads) == 1 else {
        k: v for k, v in grads.items() if k != first}
  else:  # A leaf of another shape.
    grads = {**grads, first: jnp.ones(np.shape(grads[first]) + (2,))}
  try:
    tx.update(grads, state, params, value_fn=f)
  except ValueError as e:
    assert "params" in str(e)
  else:
    raise AssertionError("a mismatched gradient pytree was accepted")


@_SETTINGS
@given(tree=_pytrees(), k=st.integers(1, 3), alpha=st.floats(0.05, 1.0),
       lr=st.floats(1e-3, 0.3))
def test_bmg_with_l1_is_alpha_times_mg(tree, k, alpha, lr):
  """Functional layer: BMG (L = 1, squared Euclidean, SGD target step α)
  has exactly α times the MG meta-gradient (Flennerhag et al. 2022)."""
  with jax.enable_x64(True):
    params, scales = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64),
                                  tree)
    f = _quadratic(scales)
    outer = lambda p, batch: f(p)  # noqa: E731
    specs = {"learning_rate": bm.positive(lr)}
    opt = bm.hyper_optimizer(optax.sgd, learned=("learning_rate",))
    w = bm.init_meta_params(specs, dtype=jnp.float64)

    def step_fn(carry, w, batch):
      return bm.inner_step(carry, bm.constrain(w, specs), batch,
                           optimizer=opt, loss_fn=lambda p, h, b: f(p))

    carry = bm.LearnerState(params, opt.make(bm.constrain(w, specs)).init(
        params))
    mg = jax.grad(lambda w: bm.mg_loss(
        w, carry, None, None, step_fn=step_fn, outer_fn=outer,
        length=k)[0])(w)
    bmg = jax.grad(lambda w: bm.bmg_loss(
        w, carry, None, None, None, step_fn=step_fn, outer_fn=outer,
        matching_fn=bm.squared_euclidean(), step_size=alpha, length=k,
        target_length=0)[0])(w)
    np.testing.assert_allclose(bmg["learning_rate"],
                               alpha * mg["learning_rate"], rtol=1e-9,
                               atol=1e-300)
