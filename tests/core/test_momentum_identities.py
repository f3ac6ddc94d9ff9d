"""Momentum = MG and Nesterov = optimistic MG, through the drop-in transform.

With ``φ(x, w) = w`` (the meta-parameter is the update vector) and a meta-SGD
with decay μ, the learner's trajectory is heavy-ball momentum,
``optax.sgd(lr, momentum=μ)``; with the optimistic meta-update of hint weight
μ it is Nesterov's method (``optax.sgd(lr, momentum=μ, nesterov=True)``).
See algorithms.md §2.2 and V0-1, V0-7.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import bootstrap_meta as bm


def _quadratic(dim: int = 6):
  rng = np.random.default_rng(0)
  q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
  a = jnp.asarray(q @ np.diag(np.logspace(-2, 0, dim)) @ q.T)
  x0 = jnp.asarray(rng.normal(size=(dim,)))
  return (lambda x: 0.5 * x @ a @ x), x0


def update_is_w(update):
  """The update rule ``φ(x, w) = w``: the hyperparameter is the update."""
  def init(params):
    del params
    return optax.EmptyState()

  def apply(grads, state, params=None):
    del grads, params
    return update, state

  return optax.GradientTransformation(init, apply)


def _decayed_meta_sgd(lr, mu):
  # w ← μ w − lr g  ==  w + (−lr)(g + (1 − μ)/lr · w)
  return optax.chain(optax.add_decayed_weights((1.0 - mu) / lr),
                     optax.scale(-lr))


def _run(tx, x0, f, w0, steps, prepare=lambda s: s):
  state = prepare(tx.init(x0))

  def body(carry, _):
    x, state = carry
    u, state = tx.update(jax.grad(f)(x), state, x, value_fn=f)
    x = x + u
    return (x, state), x

  return jax.lax.scan(body, (x0, state), None, length=steps)[1]


def test_meta_learned_update_vector_reproduces_heavy_ball_momentum():
  with jax.enable_x64(True):
    f, x0 = _quadratic()
    lr, mu, steps = 0.9, 0.9, 50
    w0 = -lr * jax.grad(f)(x0)
    tx = bm.meta_learned(update_is_w, learned={"update": bm.unconstrained(w0)},
                         method=bm.MG(K=1),
                         meta_optimizer=_decayed_meta_sgd(lr, mu))
    ours = _run(tx, x0, f, w0, steps)
    ref_tx = optax.sgd(lr, momentum=mu)

    def ref_body(carry, _):
      x, s = carry
      u, s = ref_tx.update(jax.grad(f)(x), s, x)
      x = x + u
      return (x, s), x

    ref = jax.lax.scan(ref_body, (x0, ref_tx.init(x0)), None, length=steps)[1]
    assert float(jnp.max(jnp.abs(ours - ref))) < 1e-8
    assert float(jnp.max(jnp.abs(ref[-1] - ref[0]))) > 1e-2  # It moved.


def test_optimistic_meta_update_reproduces_nesterov():
  with jax.enable_x64(True):
    f, x0 = _quadratic()
    lr, mu, steps = 0.9, 0.9, 50
    grad = jax.grad(f)
    ref_tx = optax.sgd(lr, momentum=mu, nesterov=True)

    def ref_body(carry, _):
      p, s = carry
      u, s = ref_tx.update(grad(p), s, p)
      p = p + u
      return (p, s), p

    ref = jax.lax.scan(ref_body, (x0, ref_tx.init(x0)), None,
                       length=steps + 1)[1]  # p_1 … p_{steps+1}
    w0 = ref[0] - x0  # x_1 = p_1.
    tx = bm.meta_learned(
        update_is_w, learned={"update": bm.unconstrained(w0)},
        method=bm.Optimistic(bm.MG(K=1), hint_weight=mu),
        meta_optimizer=_decayed_meta_sgd(lr, mu))

    def prepare(state):
      # Matched start: the previous hint is ∇f(p_0) (not optax's g_{-1}=g_0).
      opt_state, decay_state = state.meta_opt_state
      opt_state = bm.OptimisticState({"update": grad(x0)},
                                     jnp.ones([], jnp.int32))
      return state._replace(meta_opt_state=(opt_state, decay_state))

    ours = _run(tx, x0, f, w0, steps, prepare)
    assert float(jnp.max(jnp.abs(ours - ref[:steps]))) < 1e-8

    # Without the optimistic correction the trajectory is different.
    plain = bm.meta_learned(update_is_w,
                            learned={"update": bm.unconstrained(w0)},
                            method=bm.MG(K=1),
                            meta_optimizer=_decayed_meta_sgd(lr, mu))
    other = _run(plain, x0, f, w0, steps)
    assert float(jnp.max(jnp.abs(other - ref[:steps]))) > 1e-3


def test_optimistic_update_arithmetic():
  tx = bm.optimistic_meta_update(hint_weight=0.5)
  g0, g1 = jnp.array([1.0, 2.0]), jnp.array([3.0, -1.0])
  s = tx.init(g0)
  u0, s = tx.update(g0, s)
  u1, s = tx.update(g1, s)
  np.testing.assert_allclose(u0, g0, rtol=0, atol=0)  # First step: plain.
  np.testing.assert_allclose(u1, 1.5 * g1 - 0.5 * g0, rtol=1e-7)
  # An explicit hint takes precedence: u = g + β (h − h_prev).
  u2, _ = tx.update(g0, s, hint=jnp.array([0.0, 0.0]))
  np.testing.assert_allclose(u2, g0 + 0.5 * (0.0 - g1), rtol=1e-7)


def test_optimistic_hint_weight_can_be_traced_and_vmapped():
  g0, g1 = jnp.array([1.0, 2.0]), jnp.array([3.0, -1.0])

  def second_update(beta):
    tx = bm.optimistic_meta_update(hint_weight=beta)
    s = tx.init(g0)
    _, s = tx.update(g0, s)
    return tx.update(g1, s)[0]

  betas = jnp.array([0.0, 0.5, 0.9])
  out = jax.jit(jax.vmap(second_update))(betas)
  expected = (1 + betas[:, None]) * g1[None] - betas[:, None] * g0[None]
  np.testing.assert_allclose(out, expected, rtol=1e-6)
