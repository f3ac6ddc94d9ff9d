"""Small shared problems for the core tests (float64 where exact)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import bootstrap_meta as bm


def tiny_mlp_problem(key_seed: int = 0, *, steps: int = 4, batch: int = 8):
  """A 2-layer tanh MLP regression: params, stacked batches, losses."""
  rng = np.random.default_rng(key_seed)
  params = {
      "w1": jnp.asarray(rng.normal(size=(3, 4)) * 0.5),
      "b1": jnp.asarray(rng.normal(size=(4,)) * 0.1),
      "w2": jnp.asarray(rng.normal(size=(4, 1)) * 0.5),
  }
  xs = jnp.asarray(rng.normal(size=(steps, batch, 3)))
  ys = jnp.asarray(np.sin(rng.normal(size=(steps, batch, 1))))
  return params, (xs, ys)


def mse(params, batch):
  """Mean squared error of the MLP on ``(x, y)``."""
  x, y = batch
  h = jnp.tanh(x @ params["w1"] + params["b1"][None])
  return jnp.mean((h @ params["w2"] - y) ** 2)


def inner_loss(params, hp, batch):
  """MSE plus a meta-learned L2 penalty (a loss-side meta-parameter)."""
  l2 = sum(jnp.sum(p**2) for p in jax.tree_util.tree_leaves(params))
  return mse(params, batch) + hp["l2"] * l2


def make_step_fn(optimizer: bm.HyperOptimizer, specs):
  """``step_fn(carry, w, batch)`` mapping raw ``w`` through the specs."""

  def step_fn(carry, w, batch):
    return bm.inner_step(carry, bm.constrain(w, specs), batch,
                         optimizer=optimizer, loss_fn=inner_loss)

  return step_fn


def sgd_setup():
  """SGD with learned learning rate and a learned L2 weight."""
  specs = {"learning_rate": bm.positive(0.3), "l2": bm.positive(0.01)}
  return bm.hyper_optimizer(optax.sgd, learned=["learning_rate"]), specs


def adam_setup():
  """Adam with learned learning rate, b1, and a learned L2 weight."""
  specs = {"learning_rate": bm.positive(0.05), "b1": bm.unit_interval(0.8),
           "l2": bm.positive(0.01)}
  return bm.hyper_optimizer(optax.adam, learned=["learning_rate", "b1"]), specs


def central_fd(fn, w, eps: float = 1e-6):
  """Central finite differences of scalar ``fn`` at the dict ``w`` (vmapped)."""
  flat, unravel = jax.flatten_util.ravel_pytree(w)
  basis = eps * jnp.eye(flat.shape[0], dtype=flat.dtype)
  values = jax.jit(jax.vmap(lambda d: fn(unravel(flat + d))))
  return unravel((values(basis) - values(-basis)) / (2 * eps))


def rel_err(a, b) -> float:
  """``‖a − b‖ / ‖b‖`` over whole pytrees."""
  fa, _ = jax.flatten_util.ravel_pytree(a)
  fb, _ = jax.flatten_util.ravel_pytree(b)
  return float(jnp.linalg.norm(fa - fb) / jnp.linalg.norm(fb))
