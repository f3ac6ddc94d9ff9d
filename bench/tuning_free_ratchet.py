"""The BMG ratchet, measured: the log-lr meta-gradient split in two parts.

For squared-Euclidean matching the meta-gradient is ``−Jᵀ(T − x⁽¹⁾)`` with
``J = ∂x⁽¹⁾/∂w``. The endpoint target's displacement
``x̃ − x⁽¹⁾ = (x_L − x⁽¹⁾) + (x̃ − x_L)`` splits into the part from the
``L − 1`` bootstrapped steps and the part from the final outer step, so each
part's contribution is ``−Jᵀ(part)``, exactly. The average-velocity target
``x⁽⁰⁾ + (x̃ − x⁽⁰⁾)/L`` gives ``((x_L − x⁽¹⁾) − u₀)/L`` and ``(x̃ − x_L)/L``.
Along the README configuration's own trajectory (endpoint target, which
ratchets) and the average-velocity one, on a regression and a
classification problem, it logs the raw log-lr gradient of each part.
A negative meta-gradient raises the learning rate.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tuning_free_problems as problems
from tuning_free import BATCH, _batch

import bootstrap_meta as bm

_SPECS = {"learning_rate": bm.positive(1e-3), "b1": bm.unit_interval(0.9)}
_ALPHA, _L = 1e-3, 2


def _split(params, grads, state, value_fn):
  """Raw-log-lr meta-gradient parts at one step (README config, L = 2)."""
  opt = bm.hyper_optimizer(optax.adam, learned=["learning_rate", "b1"])
  s0 = state.inner_opt_state

  def x1_of(w):
    u, _ = opt.make(bm.constrain(w, _SPECS)).update(grads, s0, params)
    return optax.apply_updates(params, u)

  x1, vjp = jax.vjp(x1_of, state.meta_params)
  hp = bm.constrain(state.meta_params, _SPECS)
  _, s1 = opt.make(hp).update(grads, s0, params)
  carry = bm.inner_step(bm.LearnerState(x1, s1), hp, None, optimizer=opt,
                        loss_fn=lambda p, h, b: value_fn(p))
  x_l = carry.params
  x_t = jax.tree.map(lambda p, g: p - _ALPHA * g, x_l,
                     jax.grad(value_fn)(x_l))
  sub = lambda a, b: jax.tree.map(jnp.subtract, a, b)  # noqa: E731
  scale = lambda t, c: jax.tree.map(lambda v: c * v, t)  # noqa: E731

  def part(d):
    return -vjp(d)[0]["learning_rate"]

  boot, outer, u0 = sub(x_l, x1), sub(x_t, x_l), sub(x1, params)
  return jnp.stack([part(boot), part(outer),
                    part(scale(sub(boot, u0), 1 / _L)),
                    part(scale(outer, 1 / _L))])


def trajectory(problem, average_velocity: bool, steps: int, seed: int = 0):
  """Per-step parts and learning rate along the drop-in's trajectory."""
  tx = bm.meta_learned(
      optax.adam, learned=_SPECS,
      method=bm.BMG(K=1, L=_L, step_size=_ALPHA,
                    average_velocity=average_velocity),
      meta_optimizer=optax.adam(1e-2, eps=1e-4))
  k_init, k_data = jax.random.split(jax.random.key(seed))
  params = problem.init(k_init)

  def step(carry, k):
    params, state = carry
    batch = _batch(problem, k)
    value_fn = lambda p: problem.loss(p, batch)  # noqa: E731
    grads = jax.grad(value_fn)(params)
    parts = _split(params, grads, state, value_fn)
    u, state = tx.update(grads, state, params, value_fn=value_fn)
    return (optax.apply_updates(params, u), state), (
        parts, state.hyperparams["learning_rate"])

  (params, _), (parts, lrs) = jax.jit(lambda c, ks: jax.lax.scan(
      step, c, ks))((params, tx.init(params)), jax.random.split(k_data,
                                                               steps))
  return np.asarray(parts), np.asarray(lrs), float(problem.loss(
      params, problem.val))


def _stats(parts, lrs, val, name, mode):
  windows = {"first_100": slice(0, 100), "all": slice(None)}
  row = dict(problem=name, target=mode, final_lr=float(lrs[-1]),
             max_lr=float(np.nanmax(lrs)), final_val_loss=val, batch=BATCH)
  labels = ("endpoint_boot", "endpoint_outer", "avgvel_boot", "avgvel_outer")
  for wname, sl in windows.items():
    for i, label in enumerate(labels):
      x = parts[sl, i]
      row[f"{label}_{wname}_median"] = float(np.median(x))
      row[f"{label}_{wname}_frac_neg"] = float(np.mean(x < 0))
  return row


def main(steps: int, out) -> None:
  """Runs both targets on a regression and a classification problem."""
  rows = []
  for problem in (problems.mlp_regression(), problems.spirals()):
    for avg in (False, True):
      parts, lrs, val = trajectory(problem, avg, steps)
      mode = "average_velocity" if avg else "endpoint"
      rows.append(_stats(parts, lrs, val, problem.name, mode))
      print(json.dumps(rows[-1]), flush=True)
  out.parent.mkdir(exist_ok=True)
  with open(f"{out}.jsonl", "w") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")
