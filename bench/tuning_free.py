"""Does the drop-in transform spare a learning-rate sweep? (issue 13).

Runs every arm on the small supervised problems of
``bench/tuning_free_problems.py`` (3 seeds, vmapped; a fixed step budget;
minibatches of 64) and reports, per problem, the final validation loss ÷ the
best of Adam's grid {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2}, divergences (a
non-finite final loss or one above the initial loss, in any seed) and wall
time per step ÷ Adam's (timed side by side, compile excluded)::

  PYTHONPATH=. python bench/tuning_free.py            # the benchmark
  PYTHONPATH=. python bench/tuning_free.py --ratchet  # the ratchet split

Writes ``bench/results/tuning_free.{jsonl,md}`` (or ``tuning_free_ratchet``).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import bootstrap_meta as bm

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import tuning_free_problems as problems  # noqa: E402

_RESULTS = pathlib.Path(__file__).parent / "results"
GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
SEEDS = 3
BATCH = 64


def recommended(method: bm.MG | bm.BMG | bm.Optimistic, meta_lr=1e-2,
                lr=1e-2):
  """The README's drop-in: Adam with learned learning rate and β₁."""
  return bm.meta_learned(
      optax.adam,
      learned={"learning_rate": bm.positive(lr),
               "b1": bm.unit_interval(0.9)},
      method=method, meta_optimizer=optax.adam(meta_lr, eps=1e-4))


ARMS = {
    "adam_1e-3": lambda: optax.adam(1e-3),
    # The recommended configurations: learned lr (from 1e-2) and β₁.
    "mg": lambda: recommended(bm.MG(K=1)),
    "bmg": lambda: recommended(bm.BMG(K=1, L=2, step_size=0.1)),
    "optimistic": lambda: recommended(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9)),
    # The README's former BMG drop-in (endpoint target, lr from 1e-3).
    "bmg_endpoint_old_readme": lambda: recommended(
        bm.BMG(K=1, L=2, step_size=1e-3, average_velocity=False), lr=1e-3),
    "prodigy": lambda: optax.contrib.prodigy(),
    "dadapt_adamw": lambda: optax.contrib.dadapt_adamw(),
    "dog": lambda: optax.contrib.dog(),
    "mechanize": lambda: optax.contrib.mechanize(optax.adam(1.0)),
    "schedule_free_adamw": lambda: optax.contrib.schedule_free_adamw(),
}


def _batch(problem, key):
  n = problem.train[0].shape[0]
  idx = jax.random.randint(key, (BATCH,), 0, n)
  return jax.tree.map(lambda a: a[idx], problem.train)


def train(problem, tx, key, steps: int, name: str = ""):
  """Final validation loss (and the last learning rate, if meta-learned)."""
  tx = optax.with_extra_args_support(tx)
  k_init, k_data = jax.random.split(key)
  params = problem.init(k_init)

  def step(carry, k):
    params, state = carry
    batch = _batch(problem, k)
    value_fn = lambda p: problem.loss(p, batch)  # noqa: E731
    value, grads = jax.value_and_grad(value_fn)(params)
    updates, state = tx.update(grads, state, params, value=value,
                               value_fn=value_fn)
    return (optax.apply_updates(params, updates), state), None

  init = (params, tx.init(params))
  (params, state), _ = jax.lax.scan(step, init, jax.random.split(k_data,
                                                                  steps))
  if name == "schedule_free_adamw":
    params = optax.contrib.schedule_free_eval_params(state, params)
  lr = jnp.nan
  if isinstance(state, bm.MetaLearnedState):
    lr = state.hyperparams["learning_rate"]
  return problem.loss(params, problem.val), lr


def _timed(fn, *args):
  compiled = jax.jit(fn).lower(*args).compile()
  start = time.perf_counter()
  out = jax.block_until_ready(compiled(*args))
  return out, time.perf_counter() - start


def run_problem(problem, arms, steps: int) -> list[dict]:
  """Every arm on one problem; rows of per-seed losses and times."""
  keys = jax.random.split(jax.random.key(0), SEEDS)
  init_loss = jax.vmap(lambda k: problem.loss(
      problem.init(jax.random.split(k)[0]), problem.val))(keys)
  grid = jax.vmap(lambda lr: jax.vmap(lambda k: train(
      problem, optax.adam(lr), k, steps)[0])(keys))
  (grid_loss), _ = _timed(grid, jnp.asarray(GRID))
  rows = [dict(problem=problem.name, arm=f"adam_{lr:g}",
               loss=np.asarray(loss).tolist(), lr=lr)
          for lr, loss in zip(GRID, np.asarray(grid_loss), strict=True)]
  for name in arms:
    run = jax.vmap(lambda k, name=name: train(problem, ARMS[name](), k,
                                              steps, name))
    (loss, lr), seconds = _timed(run, keys)
    rows.append(dict(problem=problem.name, arm=name,
                     loss=np.asarray(loss).tolist(),
                     lr=np.asarray(lr).tolist(), seconds=seconds))
  for row in rows:
    row["init_loss"] = np.asarray(init_loss).tolist()
  return rows


def summarise(rows: list[dict]) -> list[dict]:
  """Ratio to best-of-grid, divergences and time ratio per (problem, arm)."""
  out = []
  for prob in dict.fromkeys(r["problem"] for r in rows):
    rs = [r for r in rows if r["problem"] == prob]
    grid = [np.mean(r["loss"]) for r in rs if r["arm"].startswith("adam_")
            and "seconds" not in r]
    grid = [g if np.isfinite(g) else np.inf for g in grid]
    best = min(grid)
    base_time = next(r["seconds"] for r in rs if r["arm"] == "adam_1e-3"
                     and "seconds" in r)
    for r in rs:
      loss, init = np.asarray(r["loss"]), np.asarray(r["init_loss"])
      diverged = int(np.sum(~np.isfinite(loss) | (loss > init)))
      out.append(dict(
          problem=prob, arm=r["arm"] + ("" if "seconds" in r else "_grid"),
          ratio=float(np.mean(loss) / best), diverged_seeds=diverged,
          time_ratio=(r["seconds"] / base_time if "seconds" in r else None),
          final_lr=r["lr"]))
  best_row = [dict(problem=p, arm="adam_best_of_grid", ratio=1.0,
                   diverged_seeds=0, time_ratio=None, final_lr=None)
              for p in dict.fromkeys(r["problem"] for r in rows)]
  return best_row + out


def markdown(summary: list[dict]) -> str:
  """Table: one row per arm, one column per problem, plus the median."""
  probs = list(dict.fromkeys(s["problem"] for s in summary))
  arms = list(dict.fromkeys(s["arm"] for s in summary))
  cell = {(s["arm"], s["problem"]): s for s in summary}
  head = ("| arm | " + " | ".join(probs) + " | median | within 10% | "
          "diverged | time ÷ Adam |")
  lines = [head, "|" + " --- |" * (len(probs) + 5)]
  for arm in arms:
    ss = [cell[(arm, p)] for p in probs]
    ratios = np.asarray([s["ratio"] for s in ss])
    times = [s["time_ratio"] for s in ss if s["time_ratio"] is not None]
    lines.append(
        f"| {arm} | " + " | ".join(f"{r:.3g}" for r in ratios)
        + f" | {np.median(ratios):.3g} | {int(np.sum(ratios <= 1.1))}"
        f"/{len(ratios)} | {sum(s['diverged_seeds'] > 0 for s in ss)} | "
        + (f"{np.median(times):.2f}" if times else "–") + " |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=600)
  parser.add_argument("--problems", default="")
  parser.add_argument("--arms", default=",".join(ARMS))
  parser.add_argument("--ratchet", action="store_true")
  parser.add_argument("--out", default="tuning_free")
  args = parser.parse_args(argv)
  if args.ratchet:
    import tuning_free_ratchet
    tuning_free_ratchet.main(args.steps, _RESULTS / f"{args.out}_ratchet")
    return
  chosen = [p for p in problems.all_problems()
            if not args.problems or p.name in args.problems.split(",")]
  rows = []
  for problem in chosen:
    start = time.perf_counter()
    rows += run_problem(problem, args.arms.split(","), args.steps)
    print(f"{problem.name}: {time.perf_counter() - start:.0f}s", flush=True)
  summary = summarise(rows)
  _RESULTS.mkdir(exist_ok=True)
  with open(_RESULTS / f"{args.out}.jsonl", "w") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")
  table = markdown(summary)
  (_RESULTS / f"{args.out}.md").write_text(
      f"# Tuning-free benchmark ({args.steps} steps, {SEEDS} seeds, batch "
      f"{BATCH})\n\nFinal validation loss ÷ Adam best-of-grid; diverged = "
      "problems with a seed ending non-finite or above its initial loss.\n\n"
      + table)
  print(table)


if __name__ == "__main__":
  main()
