"""The drop-in transform's silent failures of issue 13, each pinned.

bfloat16 learners, ``inject_hyperparams`` factories, learnable schedule
peaks, zero meta-gradients, preprocessing chains, contextual weights, and
the average-velocity BMG target (no ratchet; identities kept).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import bootstrap_meta as bm

_A = jnp.asarray(np.diag(np.logspace(-1, 0, 4)), jnp.float32)


def _f(x):
  return 0.5 * jnp.sum(x * (_A @ x.astype(jnp.float32)))


def _run(tx, x, steps, value_fn=_f):
  def body(carry, _):
    x, state = carry
    g = jax.grad(value_fn)(x)
    u, state = tx.update(g, state, x, value_fn=value_fn)
    return (optax.apply_updates(x, u), state), None

  return jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps)[0])(
      (x, tx.init(x)))


def _adam_lr(method=None, **kw):
  return bm.meta_learned(
      optax.adam, learned={"learning_rate": bm.positive(1e-3)},
      method=method or bm.MG(), meta_optimizer=optax.adam(1e-2), **kw)


def test_bfloat16_learner_keeps_float32_meta_params_and_they_move():
  x = jnp.ones(4, jnp.bfloat16)
  x, state = _run(_adam_lr(), x, 20)
  assert x.dtype == jnp.bfloat16
  assert state.meta_params["learning_rate"].dtype == jnp.float32
  moved = abs(float(state.meta_params["learning_rate"]) - np.log(1e-3))
  assert moved > 0.05  # 20 meta-steps of ~1e-2; bf16 spacing at 6.9 is 0.03


def test_inject_hyperparams_factory_is_learned_through():
  tx = bm.meta_learned(optax.inject_hyperparams(optax.adam),
                       learned={"learning_rate": bm.positive(1e-2)},
                       method=bm.MG(), meta_optimizer=optax.adam(1e-1))
  x = jnp.ones(4)
  x1, state = _run(tx, x, 30)
  lr = float(state.hyperparams["learning_rate"])
  assert lr != pytest.approx(1e-2, rel=1e-3)
  # The learner really used the meta-learned values: loss went down.
  assert _f(x1) < 0.5 * _f(x)


def test_schedule_peak_that_branches_on_its_value_raises_clearly():
  with pytest.raises(ValueError, match="peak_value == 0.0"):
    bm.meta_learned(
        lambda peak: optax.adam(
            optax.warmup_cosine_decay_schedule(0.0, peak, 50, 600)),
        learned={"peak": bm.positive(1e-3)}, method=bm.MG(),
        meta_optimizer=optax.adam(1e-2))


def test_scaled_schedule_peak_is_learned():
  sched = optax.warmup_cosine_decay_schedule(0.0, 1.0, 5, 100)
  tx = bm.meta_learned(
      lambda scale: optax.adam(lambda t: scale * sched(t)),
      learned={"scale": bm.positive(1e-2)}, method=bm.MG(),
      meta_optimizer=optax.adam(1e-1))
  _, state = _run(tx, jnp.ones(4), 20)
  assert float(state.hyperparams["scale"]) != pytest.approx(1e-2, rel=1e-3)
  assert int(state.num_zero_meta_grads["scale"]) < 20


def test_zero_meta_gradient_is_counted_and_norm_reported():
  tx = bm.meta_learned(
      optax.lion, learned={"learning_rate": bm.positive(1e-3),
                           "b1": bm.unit_interval(0.9)},
      method=bm.MG(), meta_optimizer=optax.adam(1e-2))
  _, state = _run(tx, jnp.ones(4), 10)
  assert int(state.num_zero_meta_grads["b1"]) == 10  # sign() kills it.
  assert int(state.num_zero_meta_grads["learning_rate"]) == 0
  assert float(state.meta_grad_norm) > 0


def test_preprocess_applies_to_learner_look_ahead_and_target_steps():
  clip = optax.clip_by_global_norm(1e-3)
  big = lambda x: 1e3 * _f(x)  # noqa: E731
  x = jnp.ones(4)
  tx = bm.meta_learned(optax.sgd, learned={"learning_rate": bm.positive(1.0)},
                       method=bm.BMG(K=2, L=2, step_size=1.0),
                       meta_optimizer=optax.sgd(0.0), preprocess=clip)
  u, state = tx.update(jax.grad(big)(x), tx.init(x), x, value_fn=big)
  assert float(optax.tree.norm(u)) == pytest.approx(1e-3, rel=1e-5)

  # The meta-loss equals the hand-built one with clipped gradients in all
  # of the K = 2 look-ahead steps, the L − 1 target step and the final one.
  def clipped_step(p):
    g = jax.grad(big)(p)
    return p - g * jnp.minimum(1.0, 1e-3 / optax.global_norm(g))

  x0 = x
  x2 = clipped_step(clipped_step(x))
  x3 = clipped_step(x2)
  target = clipped_step(x3)
  target = x0 + 2 * (target - x0) / 3  # average-velocity target, K=2, L=2
  want = 0.5 * jnp.sum((target - x2) ** 2)
  assert float(state.meta_loss) == pytest.approx(float(want), rel=1e-4)


def test_contextual_initial_weights_are_used():
  ref = bm.mlp_init(jax.random.key(1), in_dim=2, hidden=(3,),
                    init_output=np.log(2e-3))
  tx = _adam_lr(context=bm.Contextual(history=2, hidden=(3,),
                                      initial_weights={"learning_rate": ref}))
  state = tx.init(jnp.ones(4))
  np.testing.assert_allclose(state.meta_params["learning_rate"][-1][1],
                             np.log(2e-3), rtol=1e-6)
  with pytest.raises(ValueError, match="initial_weights"):
    _adam_lr(context=bm.Contextual(
        history=2, hidden=(4,), initial_weights={"learning_rate": ref})
    ).init(jnp.ones(4))


def _sgd_bmg(average_velocity, L):
  return bm.meta_learned(optax.sgd, learned={"learning_rate": bm.positive(0.1)},
                         method=bm.BMG(K=1, L=L, step_size=0.1,
                                       average_velocity=average_velocity),
                         meta_optimizer=optax.sgd(1.0))


def test_average_velocity_target_has_no_self_referential_term():
  """Linear loss: constant gradient, so a straight path.

  The endpoint target rewards a larger step through its L − 1 bootstrapped
  steps; the average-velocity target's meta-gradient is the outer step's
  alone (α/L times MG's).
  """
  lin = lambda x: jnp.sum(x)  # noqa: E731
  x = jnp.zeros(3)
  grads = {}
  for avg in (False, True):
    tx = _sgd_bmg(avg, L=3)
    state = tx.init(x)
    _, new = tx.update(jax.grad(lin)(x), state, x, value_fn=lin)
    grads[avg] = float(new.meta_params["learning_rate"]
                       - state.meta_params["learning_rate"])
  # x₁ = −η g with g = 1 (d = 3), η = α = 0.1; ∂x₁/∂log η = −η g. The
  # meta-SGD(1) step is (T − x₁)ᵀ(−η g)... negated: endpoint T − x₁ =
  # −(2η + α) g gives +d η (2η + α); average velocity T − x₁ = −(α/3) g
  # gives +d η α / 3.
  assert grads[False] == pytest.approx(3 * 0.1 * (2 * 0.1 + 0.1), rel=1e-5)
  assert grads[True] == pytest.approx(3 * 0.1 * 0.1 / 3, rel=1e-5)


def test_readme_recommended_configuration_on_a_nonquadratic_problem():
  """The README's drop-in, verbatim, trains a tanh MLP without a cap.

  Its outer objective is a held-out minibatch (never trained on) and it
  learns the learning rate, β₁ and the weight decay.
  """
  import pathlib
  import re
  readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md")
  section = readme.read_text().split("## The drop-in transform\n")[1]
  code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
  rng = np.random.default_rng(0)
  xs = jnp.asarray(rng.normal(size=(512, 4)), jnp.float32)
  ys = jnp.sin(2 * xs @ jnp.asarray(rng.normal(size=4), jnp.float32))
  params = {"w1": jnp.asarray(rng.normal(size=(4, 32)) / 2, jnp.float32),
            "w2": jnp.asarray(rng.normal(size=(32,)) / 6, jnp.float32)}

  def loss(p, batch):
    x, y = batch
    return jnp.mean((jnp.tanh(x @ p["w1"]) @ p["w2"] - y) ** 2)

  scope = {"params": params, "loss": loss}
  exec(code, scope)  # noqa: S102
  train_step, state = scope["train_step"], scope["state"]
  start = float(loss(params, (xs, ys)))
  def batch(i):  # minibatches 1-7 train, minibatch 0 is held out
    sl = slice((i % 7 + 1) * 64, (i % 7 + 2) * 64)
    return xs[sl], ys[sl]

  heldout = (xs[:64], ys[:64])
  for i in range(400):
    params, state = train_step(params, state, batch(i), heldout)
  end = float(loss(params, (xs, ys)))
  lr = float(state.hyperparams["learning_rate"])
  decay = float(state.hyperparams["weight_decay"])
  assert np.isfinite(end) and end < 0.5 * start, (start, end)
  assert 1e-4 < lr < 5e-2, lr
  assert 0.0 < decay < 1.0 and decay != pytest.approx(3e-2, rel=1e-3), decay
  assert int(state.num_skipped) == 0
