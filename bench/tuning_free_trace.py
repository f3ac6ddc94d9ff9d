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
   ``--exact``: the trace keeps the learner's Jacobian (forward mode through
   Adam's parameters and moments, decay μ; :func:`signal_exact`).
2. ``--trace ARM``: ``log10`` of the learned learning rate every 50 steps per
   seed, for arms of ``bench/tuning_free.py``.

Writes ``bench/results/tuning_free_trace_{signal,ARM}.jsonl``.
"""

from __future__ import annotations

import argparse
import functools
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


EXACT_DECAYS = (0.9, 0.99)


def _adam_step(problem, x, m, v, log_lr, t, batch):
  """One Adam step (β = 0.9, 0.999; eps 1e-8, eps_root 1e-8) with a
  traced ``log_lr``, differentiable in every argument; ``t`` from 1."""
  b1, b2, eps, eps_root = 0.9, 0.999, 1e-8, 1e-8
  g = jax.grad(problem.loss)(x, batch)
  m = jax.tree.map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
  v = jax.tree.map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
  u = jax.tree.map(
      lambda a, b: -jnp.exp(log_lr) * (a / (1 - b1 ** t)) / (
          jnp.sqrt(b / (1 - b2 ** t) + eps_root) + eps), m, v)
  return optax.apply_updates(x, u), m, v


def _setup(problem, key, steps):
  """``(params, keys, zeros, adam_step)`` of a trace run: the learner's
  start, ``steps + 1`` batch keys, zero tangents and Adam's step."""
  k_init, k_data = jax.random.split(key)
  params = problem.init(k_init)
  keys = jax.random.split(k_data, steps + 1)
  zeros = jax.tree.map(jnp.zeros_like, params)
  return params, keys, zeros, functools.partial(_adam_step, problem)


def signal_exact(problem, lr, key, steps):
  """As :func:`signal`, with the learner's Jacobian kept in the trace.

  Forward mode through Adam (parameters and moments):
  ``z_{t+1} = μ ∂(x, m, v)_{t+1}/∂(x, m, v)_t · z_t + ∂(x, m, v)_{t+1}/∂log η``,
  one Hessian-vector product a step (Williams and Zipser's real-time
  recurrent learning, truncated by the decay μ). ``h_t = ∇f_{t+1}·z_t``.
  """
  params, keys, zeros, adam_step = _setup(problem, key, steps)

  def step(carry, inputs):
    x, m, v, zs = carry
    t, k, k_next = inputs
    batch = tf._batch(problem, k)
    log_lr = jnp.log(lr)
    new_zs = []
    for mu, (zx, zm, zv) in zip(EXACT_DECAYS, zs, strict=True):
      scale = lambda tree, mu=mu: jax.tree.map(lambda a: mu * a, tree)  # noqa: E731
      out, tan = jax.jvp(
          lambda x, m, v, w: adam_step(x, m, v, w, t, batch),
          (x, m, v, log_lr), (scale(zx), scale(zm), scale(zv),
                              jnp.ones_like(log_lr)))
      new_zs.append(tan)
    x, m, v = out
    loss, g_next = jax.value_and_grad(problem.loss)(
        x, tf._batch(problem, k_next))
    h = jnp.stack([_vdot(g_next, z[0]) for z in new_zs])
    return (x, m, v, tuple(new_zs)), (h, loss)

  z0 = tuple((zeros, zeros, zeros) for _ in EXACT_DECAYS)
  ts = jnp.arange(1, steps + 1, dtype=jnp.float32)
  (x, _, _, _), (h, loss) = jax.lax.scan(
      step, (params, zeros, zeros, z0), (ts, keys[:-1], keys[1:]))
  return h, loss, problem.loss(x, problem.val)


def rtrl_controller(problem, key, steps, *, lr=1e-2, decay=0.99,
                    meta_lr=1e-2):
  """A prototype (bench only): Adam whose log η follows the exact trace.

  The meta-gradient is ``h_t`` of :func:`signal_exact` at the current η
  (the trace carried across η's changes), applied by
  ``adam(meta_lr, eps=1e-4)``; β₁ = 0.9 fixed. Returns the final
  validation loss and ``log10 η`` every step. A non-finite ``h`` (the
  trace can overflow on the RNNs) skips the meta-step and zeroes the trace.
  """
  meta = optax.adam(meta_lr, eps=1e-4)
  params, keys, zeros, adam_step = _setup(problem, key, steps)

  def step(carry, inputs):
    x, m, v, z, w, meta_state = carry
    t, k, k_next = inputs
    batch = tf._batch(problem, k)
    z = jax.tree.map(lambda a: decay * a, z)
    (x, m, v), z = jax.jvp(
        lambda x, m, v, w: adam_step(x, m, v, w, t, batch),
        (x, m, v, w), (*z, jnp.ones_like(w)))
    g_next = jax.grad(problem.loss)(x, tf._batch(problem, k_next))
    h = _vdot(g_next, z[0])
    ok = jnp.isfinite(h)  # Else skip the meta-step and restart the trace.
    dw, new_meta_state = meta.update(h, meta_state)
    w = jnp.where(ok, w + dw, w)
    meta_state = jax.tree.map(lambda a, b: jnp.where(ok, a, b),
                              new_meta_state, meta_state)
    z = jax.tree.map(lambda a: jnp.where(ok, a, 0.0), z)
    return (x, m, v, z, w, meta_state), w / jnp.log(10.0)

  w = jnp.log(jnp.asarray(lr, jnp.float32))
  ts = jnp.arange(1, steps + 1, dtype=jnp.float32)
  (x, *_), log10_lr = jax.lax.scan(
      step, (params, zeros, zeros, (zeros, zeros, zeros), w, meta.init(w)),
      (ts, keys[:-1], keys[1:]))
  return problem.loss(x, problem.val), log10_lr


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
  parser.add_argument("--rtrl", action="store_true",
                      help="run the exact-trace controller prototype")
  parser.add_argument("--exact", action="store_true",
                      help="with --signal: keep the learner's Jacobian")
  args = parser.parse_args(argv)
  chosen = [p for p in problems.all_problems()
            if not args.problems or p.name in args.problems.split(",")]
  keys = jax.random.split(jax.random.key(0), tf.SEEDS)
  out = []
  for problem in chosen:
    if args.signal:
      for lr in tf.GRID:
        fn = signal_exact if args.exact else signal
        h, loss, val = jax.jit(jax.vmap(
            lambda k, lr=lr, p=problem, fn=fn: fn(p, lr, k, args.steps)))(keys)
        h, loss = np.asarray(h), np.asarray(loss)
        decays = EXACT_DECAYS if args.exact else DECAYS
        for (d, mu), start in itertools.product(
            enumerate(decays), range(0, args.steps, 100)):
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
    if args.rtrl:
      val, log_lr = jax.jit(jax.vmap(lambda k, p=problem: rtrl_controller(
          p, k, args.steps)))(keys)
      log_lr = np.asarray(log_lr)
      out.append(dict(problem=problem.name, arm="rtrl_prototype",
                      log10_lr=log_lr[:, ::50].round(3).tolist(),
                      final=log_lr[:, -1].round(3).tolist(),
                      val=np.asarray(val).tolist()))
      print(f"{problem.name:18s} rtrl: val {np.asarray(val).round(4)} "
            f"mean {np.mean(val):.4f}")
      for row in log_lr:
        print("   ", " ".join(f"{v:+.2f}" for v in row[::50]),
              f"-> {row[-1]:+.2f}", flush=True)
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
  suffix = (("signal_exact" if args.exact else "signal") if args.signal
            else "rtrl" if args.rtrl else args.trace.replace(",", "+"))
  path = tf._RESULTS / f"tuning_free_trace_{suffix}.jsonl"
  with open(path, "w") as f:
    for row in out:
      f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
