"""Why does the learned learning rate miss the best grid value? (issue 13).

Two measurements on the problems of ``bench/tuning_free_problems.py``
(3 seeds, 600 steps, batch 64, the benchmark's data order):

1. ``--signal``: Adam at each fixed learning rate of the grid, and along its
   trajectory the one-step meta-gradient of the recommended configuration,
   ``h_t = ∂f_{t+1}(x_t + u_t(η)) / ∂log η = ∇f_{t+1}(x_{t+1})·u_t`` (Adam's
   update is linear in η; ``f_{t+1}`` is the loss on the next training
   minibatch, the README's ``value_fn``). Negative ``h`` raises η. Per
   window of 100 steps: its mean over steps and seeds, its standard
   deviation, the share < 0, and Adam-style normalised drift
   ``mean / rms`` (what a meta-Adam step moves per unit meta lr).
2. ``--trace ARM``: ``log10`` of the learned learning rate every 50 steps per
   seed, for arms of ``bench/tuning_free.py``.

Writes ``bench/results/tuning_free_trace_{signal,ARM}.jsonl``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import tuning_free as tf  # noqa: E402
import tuning_free_problems as problems  # noqa: E402

import bootstrap_meta as bm  # noqa: E402

DECAYS = (0.0, 0.9, 0.99)


def _vdot(a, b):
  return sum(jnp.vdot(x, y) for x, y in zip(
      jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def signal(problem, lr, key, steps):
  """Per-step ``h_t`` (one per trace decay), train loss, final val loss.

  With decay ``μ`` the step's sensitivity is the trace
  ``z_t = μ z_{t−1} + u_t`` (``∂x_{t+1}/∂log η`` with the learner's
  Jacobian taken as the identity, Xu et al. 2018) and ``h_t = ∇f_{t+1}·z_t``;
  ``μ = 0`` is the one-step meta-gradient.
  """
  tx = optax.adam(lr, eps_root=1e-8)
  k_init, k_data = jax.random.split(key)
  params = problem.init(k_init)
  keys = jax.random.split(k_data, steps + 1)
  grad0 = jax.grad(problem.loss)(params, tf._batch(problem, keys[0]))

  def step(carry, k_next):
    params, state, grads, zs = carry
    u, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, u)
    loss, g_next = jax.value_and_grad(problem.loss)(
        params, tf._batch(problem, k_next))
    zs = tuple(jax.tree.map(lambda z, v, mu=mu: mu * z + v, z, u)
               for mu, z in zip(DECAYS, zs, strict=True))
    h = jnp.stack([_vdot(g_next, z) for z in zs])
    return (params, state, g_next, zs), (h, loss)

  zeros = tuple(jax.tree.map(jnp.zeros_like, params) for _ in DECAYS)
  (params, _, _, _), (h, loss) = jax.lax.scan(
      step, (params, tx.init(params), grad0, zeros), keys[1:])
  return h, loss, problem.loss(params, problem.val)


def trace(problem, name, key, steps):
  """``log10`` learning rate after every step of arm ``name``."""
  tx = optax.with_extra_args_support(tf.ARMS[name]())
  k_init, k_data = jax.random.split(key)
  params = problem.init(k_init)
  keys = jax.random.split(k_data, steps)
  next_keys = jnp.concatenate([keys[1:], jax.random.split(
      jax.random.fold_in(k_data, steps), 1)])
  heldout = name in tf.HELDOUT

  def step(carry, ks):
    params, state = carry
    batch = tf._batch(problem, ks[0])
    outer = tf._batch(problem, ks[1]) if heldout else batch
    grads = jax.grad(problem.loss)(params, batch)
    updates, state = tx.update(grads, state, params,
                               value_fn=lambda p: problem.loss(p, outer))
    lr = jax.tree.leaves(bm.find_meta_state(state).hyperparams[
        "learning_rate"])
    lr = jnp.exp(jnp.mean(jnp.stack([jnp.mean(jnp.log(v)) for v in lr])))
    return (optax.apply_updates(params, updates), state), jnp.log10(lr)

  (params, _), log_lr = jax.lax.scan(step, (params, tx.init(params)),
                                     (keys, next_keys))
  return log_lr, problem.loss(params, problem.val)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=600)
  parser.add_argument("--problems", default="")
  parser.add_argument("--signal", action="store_true")
  parser.add_argument("--trace", default="")
  args = parser.parse_args(argv)
  chosen = [p for p in problems.all_problems()
            if not args.problems or p.name in args.problems.split(",")]
  keys = jax.random.split(jax.random.key(0), tf.SEEDS)
  out = []
  for problem in chosen:
    if args.signal:
      for lr in tf.GRID:
        h, loss, val = jax.jit(jax.vmap(
            lambda k, lr=lr, p=problem: signal(p, lr, k, args.steps)))(keys)
        h, loss = np.asarray(h), np.asarray(loss)
        for (d, mu), start in itertools.product(
            enumerate(DECAYS), range(0, args.steps, 100)):
          w = h[:, start:start + 100, d]
          row = dict(problem=problem.name, lr=lr, decay=mu, window=start,
                     mean=float(w.mean()), std=float(w.std()),
                     neg=float((w < 0).mean()),
                     drift=float(w.mean() / np.sqrt((w ** 2).mean())),
                     train_loss=float(loss[:, start:start + 100].mean()),
                     val=np.asarray(val).tolist())
          out.append(row)
          print(f"{problem.name:18s} lr {lr:<6g} mu {mu:<4g} t{start:>3d} "
                f"mean {row['mean']:+.2e} std {row['std']:.2e} "
                f"neg {row['neg']:.2f} drift {row['drift']:+.3f} "
                f"train {row['train_loss']:.4f} val "
                f"{np.mean(row['val']):.4f}", flush=True)
    for name in filter(None, args.trace.split(",")):
      log_lr, val = jax.jit(jax.vmap(
          lambda k, name=name, p=problem: trace(p, name, k, args.steps)))(keys)
      log_lr = np.asarray(log_lr)
      row = dict(problem=problem.name, arm=name,
                 log10_lr=log_lr[:, ::50].round(3).tolist(),
                 final=log_lr[:, -1].round(3).tolist(),
                 val=np.asarray(val).tolist())
      out.append(row)
      print(f"{problem.name:18s} {name}: val {np.mean(row['val']):.4f}")
      for s in range(tf.SEEDS):
        print("   ", " ".join(f"{v:+.2f}" for v in log_lr[s, ::50]),
              f"-> {log_lr[s, -1]:+.2f}", flush=True)
  suffix = "signal" if args.signal else args.trace.replace(",", "+")
  path = tf._RESULTS / f"tuning_free_trace_{suffix}.jsonl"
  with open(path, "w") as f:
    for row in out:
      f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
