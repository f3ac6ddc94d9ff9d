"""MG and BMG meta-gradients against central finite differences (float64)."""

import jax
import jax.flatten_util  # noqa: F401
import optax
import pytest

import bootstrap_meta as bm
from tests.core import _problems as P


def _start(optimizer, specs, params, w):
  # Start from a non-trivial optimiser state: take two plain steps first.
  state = bm.LearnerState(
      params, optimizer.make(bm.constrain(w, specs)).init(params))
  step_fn = P.make_step_fn(optimizer, specs)
  _, batches = P.tiny_mlp_problem(1, steps=2)
  return jax.jit(lambda s, w: bm.unroll(step_fn, s, w, batches))(state, w)


@pytest.mark.parametrize("setup", [P.sgd_setup, P.adam_setup],
                         ids=["sgd", "adam"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_mg_meta_gradient_matches_finite_differences(setup, k):
  with jax.enable_x64(True):
    optimizer, specs = setup()
    params, batches = P.tiny_mlp_problem(0, steps=k + 1)
    w = bm.init_meta_params(specs)
    carry = _start(optimizer, specs, params, w)
    inner = jax.tree.map(lambda b: b[:k], batches)
    outer = jax.tree.map(lambda b: b[k], batches)
    step_fn = P.make_step_fn(optimizer, specs)

    def loss(w):
      return bm.mg_loss(w, carry, inner, outer, step_fn=step_fn,
                        outer_fn=P.mse)[0]

    grad = jax.jit(jax.grad(loss))(w)
    fd = P.central_fd(jax.jit(loss), w)
    assert P.rel_err(grad, fd) < 1e-5
    assert all(abs(float(v)) > 1e-8 for v in jax.tree_util.tree_leaves(fd))


@pytest.mark.parametrize(
    "setup,k,remat",
    [(P.sgd_setup, 1, False), (P.sgd_setup, 2, False), (P.sgd_setup, 3, False),
     (P.adam_setup, 1, False), (P.adam_setup, 2, False),
     (P.adam_setup, 3, False), (P.adam_setup, 3, True)],
    ids=["sgd-1", "sgd-2", "sgd-3", "adam-1", "adam-2", "adam-3",
         "adam-3-remat"])
def test_bmg_meta_gradient_matches_finite_differences(setup, k, remat):
  """FD of w ↦ μ(x̃₀, x⁽ᴷ⁾(w)) with the target held at its value at w₀."""
  with jax.enable_x64(True):
    optimizer, specs = setup()
    big_l = 3
    params, batches = P.tiny_mlp_problem(0, steps=k + big_l)
    w = bm.init_meta_params(specs)
    carry = _start(optimizer, specs, params, w)
    inner = jax.tree.map(lambda b: b[:k], batches)
    tb = jax.tree.map(lambda b: b[k:k + big_l - 1], batches)
    last = jax.tree.map(lambda b: b[k + big_l - 1], batches)
    step_fn = P.make_step_fn(optimizer, specs)
    matching = bm.squared_euclidean()

    def loss(w):
      return bm.bmg_loss(w, carry, inner, tb, last, step_fn=step_fn,
                         outer_fn=P.mse, matching_fn=matching,
                         step_size=0.5, remat=remat)[0]

    grad = jax.jit(jax.grad(loss))(w)
    _, aux = jax.jit(lambda w: bm.bmg_loss(
        w, carry, inner, tb, last, step_fn=step_fn, outer_fn=P.mse,
        matching_fn=matching, step_size=0.5))(w)
    target = aux.target.params

    def fixed_target_loss(w):
      carry_k = bm.unroll(step_fn, carry, w, inner)
      return matching(target, carry_k.params, w, None)

    fd = P.central_fd(jax.jit(fixed_target_loss), w)
    assert P.rel_err(grad, fd) < 1e-5


@pytest.mark.parametrize("k", [1, 3])
def test_bmg_l1_euclidean_sgd_target_is_alpha_times_mg(k):
  with jax.enable_x64(True):
    optimizer, specs = P.adam_setup()
    params, batches = P.tiny_mlp_problem(2, steps=k + 1)
    w = bm.init_meta_params(specs)
    carry = _start(optimizer, specs, params, w)
    inner = jax.tree.map(lambda b: b[:k], batches)
    outer = jax.tree.map(lambda b: b[k], batches)
    step_fn = P.make_step_fn(optimizer, specs)
    alpha = 0.37
    mg = jax.jit(jax.grad(lambda w: bm.mg_loss(
        w, carry, inner, outer, step_fn=step_fn, outer_fn=P.mse)[0]))(w)
    bmg = jax.jit(jax.grad(lambda w: bm.bmg_loss(
        w, carry, inner, None, outer, step_fn=step_fn, outer_fn=P.mse,
        matching_fn=bm.squared_euclidean(), step_size=alpha)[0]))(w)
    scaled = jax.tree.map(lambda g: alpha * g, mg)
    assert P.rel_err(bmg, scaled) < 1e-8


def test_perturbing_w_inside_the_target_leaves_meta_gradient_unchanged():
  """The target's w enters only as sg(w): swap it for another value."""
  with jax.enable_x64(True):
    optimizer, specs = P.sgd_setup()
    params, batches = P.tiny_mlp_problem(3, steps=4)
    w = bm.init_meta_params(specs)
    carry = bm.LearnerState(params, optimizer.make(
        bm.constrain(w, specs)).init(params))
    inner = jax.tree.map(lambda b: b[:1], batches)
    tb = jax.tree.map(lambda b: b[1:3], batches)
    last = jax.tree.map(lambda b: b[3], batches)
    step_fn = P.make_step_fn(optimizer, specs)
    matching = bm.squared_euclidean()

    def meta_grad(target_sees_traced_w: bool):
      def loss(w):
        carry_k = bm.unroll(step_fn, carry, w, inner)
        # The target gets the traced w itself, or a constant copy of it.
        w_target = w if target_sees_traced_w else jax.lax.stop_gradient(w)
        target = bm.bootstrap_target(carry_k, w_target, tb, last,
                                     step_fn=step_fn, outer_fn=P.mse,
                                     step_size=0.5)
        return matching(target.params, carry_k.params, w, None)
      return jax.jit(jax.grad(loss))(w)

    # 1. Handing the target the traced w (through which gradient would leak
    #    if bootstrap_target did not cut it) gives the same meta-gradient as
    #    handing it a constant copy: no gradient flows through the target.
    g_traced = meta_grad(True)
    g_const = meta_grad(False)
    assert P.rel_err(g_traced, g_const) < 1e-12
    assert float(jax.flatten_util.ravel_pytree(g_const)[0] @
                 jax.flatten_util.ravel_pytree(g_const)[0]) > 1e-12

    # 2. The target's direct dependence on w is cut: differentiating the
    #    target itself w.r.t. w gives exactly zero.
    def target_sum(w):
      carry_k = bm.unroll(step_fn, carry, w, inner)
      t = bm.bootstrap_target(carry_k, w, tb, last, step_fn=step_fn,
                              outer_fn=P.mse, step_size=0.5)
      return sum(x.sum() for x in jax.tree_util.tree_leaves(t.params))
    g_target = jax.jit(jax.grad(target_sum))(w)
    assert all(float(abs(v)) == 0.0
               for v in jax.tree_util.tree_leaves(g_target))


def test_drop_in_sgd_meta_gradient_matches_hand_derivation():
  """K=1, SGD, learned log-lr: ∂f(x − lr g)/∂log lr = −lr g·∇f(x₁)."""
  with jax.enable_x64(True):
    params, batches = P.tiny_mlp_problem(4, steps=1)
    batch = jax.tree.map(lambda b: b[0], batches)
    lr = 0.2
    tx = bm.meta_learned(optax.sgd,
                         learned={"learning_rate": bm.positive(lr)},
                         method=bm.MG(K=1), meta_optimizer=optax.sgd(1.0))
    state = tx.init(params)
    value_fn = lambda p: P.mse(p, batch)  # noqa: E731
    grads = jax.grad(value_fn)(params)
    _, new_state = tx.update(grads, state, params, value_fn=value_fn)
    x1 = jax.tree.map(lambda p, g: p - lr * g, params, grads)
    g1 = jax.grad(value_fn)(x1)
    dot = sum(jax.tree_util.tree_leaves(
        jax.tree.map(lambda a, b: (a * b).sum(), grads, g1)))
    expected = -lr * dot
    step = (state.meta_params["learning_rate"]
            - new_state.meta_params["learning_rate"])
    assert abs(float(step) - float(expected)) < 1e-12
    assert abs(float(expected)) > 1e-6
