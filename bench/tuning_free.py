"""Does the drop-in transform spare a learning-rate sweep? (issue 13).

Runs every arm on the small supervised problems of
``bench/tuning_free_problems.py`` (3 seeds, vmapped; a fixed step budget;
minibatches of 64) and reports, per problem, the final validation loss ÷ the
best of Adam's grid {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2}, divergences (a
non-finite final loss or one above the initial loss, in any seed) and wall
time per step ÷ Adam's (timed side by side, compile excluded)::

  PYTHONPATH=. python bench/tuning_free.py            # the benchmark
  PYTHONPATH=. python bench/tuning_free.py --seed 1  # -> tuning_free_seed1
  PYTHONPATH=. python bench/tuning_free.py --pool \
      bench/results/tuning_free.jsonl,bench/results/tuning_free_seed1.jsonl
  PYTHONPATH=. python bench/tuning_free.py --ratchet  # the ratchet split

The benchmark runs ``MAIN_ARMS``; the recommended arm is ``recommended``
(AdamW with learned learning rate, β₁ and weight decay; ``value_fn`` on a
held-out 10% of the training set, which its learner never trains on: the
arms in ``SPLIT``). ``--seed`` re-runs on other seeds and ``--pool`` joins
runs on different seeds into one table (``tuning_free_pooled`` unless
``--out`` names it).
``--arms``/``--problems`` select a subset, ``--reuse-grid FILE`` takes the
grid's rows from an earlier run on the same seeds and ``--merge FILE``
carries the arms not run from it (development trials, listed in
``bench/results/tuning_free_trials.md``; arms in ``HELDOUT`` take
``value_fn`` on the next training minibatch).
``bench/tuning_free_trace.py`` measures the learned rate's signal and path.

Writes ``bench/results/{out}.{jsonl,md}`` (``--out``, default
``tuning_free``; ``tuning_free_ratchet`` for ``--ratchet``).

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Scalable Gradient-Based Tuning of Continuous
  Regularization Hyperparameters <https://arxiv.org/abs/1511.06727>`_, 2016
  (one-step hypergradients of regularisers on held-out data).
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


def learned_adam(method: bm.MG | bm.BMG | bm.Optimistic, meta_lr=1e-2,
                lr=1e-2, eps=1e-4, learn_b1=True, meta_optimizer=None,
                preprocess=None, weight_decay=None):
  """Adam with learned learning rate (and β₁) by ``method``.

  ``weight_decay``: also learn AdamW's decoupled weight decay from this
  initial value (the recommended configuration, development trials 18+).
  """
  learned = {"learning_rate": bm.positive(lr)}
  if learn_b1:
    learned["b1"] = bm.unit_interval(0.9)
  factory = optax.adam
  if weight_decay is not None:
    learned["weight_decay"] = bm.positive(weight_decay)
    factory = optax.adamw
  return bm.meta_learned(
      factory, learned=learned, method=method, preprocess=preprocess,
      meta_optimizer=meta_optimizer or optax.adam(meta_lr, eps=eps))


def signum(learning_rate, decay=0.99):
  """Sign of the debiased EMA of meta-gradients (signSGD with momentum)."""
  return optax.chain(optax.ema(decay, debias=True), optax.scale_by_sign(),
                     optax.scale(-learning_rate))


def _opt(hint_weight=0.9):
  return bm.Optimistic(bm.MG(K=1), hint_weight=hint_weight)


ARMS = {
    "adam_1e-3": lambda: optax.adam(1e-3),
    # THE recommended configuration (the README's drop-in): AdamW with
    # learned lr (from 2e-2), β₁ and weight decay (from 3e-2), value_fn on a
    # held-out split of the training set (SPLIT below), meta-Adam 2e-2.
    "recommended": lambda: learned_adam(_opt(), lr=2e-2, weight_decay=3e-2,
                                        meta_lr=2e-2),
    # The first configurations: learned lr (from 1e-2) and β₁.
    "mg": lambda: learned_adam(bm.MG(K=1)),
    "bmg": lambda: learned_adam(bm.BMG(K=1, L=2, step_size=0.1)),
    "optimistic": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9)),
    # The former recommended configuration: as "optimistic", with value_fn
    # on the next training minibatch (HELDOUT below).
    "optimistic_heldout": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9)),
    # The README's former BMG drop-in (endpoint target, lr from 1e-3).
    "bmg_endpoint_old_readme": lambda: learned_adam(
        bm.BMG(K=1, L=2, step_size=1e-3, average_velocity=False), lr=1e-3),
    # Development trials (bench/results/tuning_free_trials.md).
    "opt_e8_m1e-2": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), lr=1e-3, eps=1e-8),
    "opt_e8_m3e-2": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), lr=1e-3, eps=1e-8,
        meta_lr=3e-2),
    "mg_e8_m1e-2": lambda: learned_adam(bm.MG(K=1), lr=1e-3, eps=1e-8),
    "mg_e8_m3e-2": lambda: learned_adam(bm.MG(K=1), lr=1e-3, eps=1e-8,
                                        meta_lr=3e-2),
    "opt_ho": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9)),
    "opt_ho_e8": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), lr=1e-3, eps=1e-8),
    "opt_ho_e8_lr1e-2": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), eps=1e-8),
    "opt_ho_e8_nob1": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), lr=1e-3, eps=1e-8,
        learn_b1=False),
    "opt_ho_m3e-2": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), meta_lr=3e-2),
    "opt_ho_lr3e-2": lambda: learned_adam(
        bm.Optimistic(bm.MG(K=1), hint_weight=0.9), lr=3e-2),
    # Follow-up trials (tuning_free_trial8+): next-minibatch value_fn.
    "ho_mg": lambda: learned_adam(bm.MG(K=1)),
    "ho_hint0.5": lambda: learned_adam(_opt(0.5)),
    "ho_signum_1e-2": lambda: learned_adam(_opt(), meta_optimizer=signum(1e-2)),
    "ho_signum_3e-3": lambda: learned_adam(_opt(), meta_optimizer=signum(3e-3)),
    "ho_adam_b99_m3e-2": lambda: learned_adam(
        _opt(), meta_optimizer=optax.adam(3e-2, b1=0.99, eps=1e-4)),
    # Learning only the learning rate (β₁ fixed at Adam's 0.9).
    "ho_nob1": lambda: learned_adam(_opt(), learn_b1=False),
    "ho_nob1_m3e-2": lambda: learned_adam(_opt(), learn_b1=False,
                                          meta_lr=3e-2),
    "ho_nob1_signum_3e-3": lambda: learned_adam(
        _opt(), learn_b1=False, meta_optimizer=signum(3e-3)),
    "ho_nob1_adam_b99_m3e-2": lambda: learned_adam(
        _opt(), learn_b1=False,
        meta_optimizer=optax.adam(3e-2, b1=0.99, eps=1e-4)),
    # Starting at the top of the grid, lr 3e-2 (next-minibatch value_fn).
    "ho_mg_lr3e-2": lambda: learned_adam(bm.MG(K=1), lr=3e-2),
    "ho_lr3e-2_m2e-2": lambda: learned_adam(_opt(), lr=3e-2, meta_lr=2e-2),
    "ho_lr3e-2_b99_m3e-2": lambda: learned_adam(
        _opt(), lr=3e-2, meta_optimizer=optax.adam(3e-2, b1=0.99, eps=1e-4)),
    "ho_lr3e-2_m3e-2": lambda: learned_adam(_opt(), lr=3e-2, meta_lr=3e-2),
    "ho_mg_lr3e-2_m2e-2": lambda: learned_adam(bm.MG(K=1), lr=3e-2,
                                               meta_lr=2e-2),
    "ho_nob1_lr3e-2_m2e-2": lambda: learned_adam(_opt(), lr=3e-2, meta_lr=2e-2,
                                                 learn_b1=False),
    # Starting at 2e-2.
    "ho_lr2e-2": lambda: learned_adam(_opt(), lr=2e-2),
    "ho_lr2e-2_m2e-2": lambda: learned_adam(_opt(), lr=2e-2, meta_lr=2e-2),
    "ho_mg_lr2e-2_m2e-2": lambda: learned_adam(bm.MG(K=1), lr=2e-2,
                                               meta_lr=2e-2),
    # Starting at the grid's geometric middle, sqrt(1e-4 × 3e-2) ≈ 1.7e-3.
    "ho_lr1.7e-3": lambda: learned_adam(_opt(), lr=1.7e-3),
    "ho_lr1.7e-3_m3e-2": lambda: learned_adam(_opt(), lr=1.7e-3, meta_lr=3e-2),
    # From 3e-2 with gradient clipping (global norm 1) in every step.
    "ho_lr3e-2_clip": lambda: learned_adam(
        _opt(), lr=3e-2, preprocess=optax.clip_by_global_norm(1.0)),
    "ho_mg_lr3e-2_m2e-2_clip": lambda: learned_adam(
        bm.MG(K=1), lr=3e-2, meta_lr=2e-2,
        preprocess=optax.clip_by_global_norm(1.0)),
    # A two-step look-ahead (the second step on value_fn's batch).
    "ho_k2": lambda: learned_adam(bm.Optimistic(bm.MG(K=2), hint_weight=0.9)),
    # value_fn on a held-out split of the training set (SPLIT below).
    "split_opt": lambda: learned_adam(_opt()),
    "split_nob1": lambda: learned_adam(_opt(), learn_b1=False),
    "split_adam_b99_m3e-2": lambda: learned_adam(
        _opt(), meta_optimizer=optax.adam(3e-2, b1=0.99, eps=1e-4)),
    # Learned decoupled weight decay (AdamW) from 1e-2, lr from 2e-2.
    "split_lr2e-2": lambda: learned_adam(_opt(), lr=2e-2),
    "split_wd_lr2e-2": lambda: learned_adam(_opt(), lr=2e-2,
                                            weight_decay=1e-2),
    "ho_wd_lr2e-2": lambda: learned_adam(_opt(), lr=2e-2, weight_decay=1e-2),
    "split_wd3e-2_lr2e-2": lambda: learned_adam(_opt(), lr=2e-2,
                                                weight_decay=3e-2),
    "split_wd3e-2": lambda: learned_adam(_opt(), weight_decay=3e-2),
    "split_wd1e-1_lr2e-2": lambda: learned_adam(_opt(), lr=2e-2,
                                                weight_decay=1e-1),
    "prodigy": lambda: optax.contrib.prodigy(),
    "dadapt_adamw": lambda: optax.contrib.dadapt_adamw(),
    "dog": lambda: optax.contrib.dog(),
    "mechanize": lambda: optax.contrib.mechanize(optax.adam(1.0)),
    "schedule_free_adamw": lambda: optax.contrib.schedule_free_adamw(),
}


# The recommended arm under its name in development trials 22-24.
ARMS["split_wd3e-2_lr2e-2_m2e-2"] = ARMS["recommended"]


# Arms whose ``value_fn`` is the loss on the *next* training minibatch (the
# one the following step's gradient uses), not on the gradient's own batch.
HELDOUT = {"optimistic_heldout", "opt_ho", "opt_ho_e8", "opt_ho_e8_lr1e-2",
           "opt_ho_e8_nob1", "opt_ho_m3e-2", "opt_ho_lr3e-2"}
HELDOUT |= {name for name in ARMS if name.startswith("ho_")}


# Arms whose ``value_fn`` is the loss on a minibatch of a held-out split of
# the training set (its first ``SPLIT_FRACTION``, never trained on; the
# gradient's minibatches come from the rest).
SPLIT = {name for name in ARMS if name.startswith("split")} | {"recommended"}

# The benchmark's arms (the README's table); the others are development
# trials (bench/results/tuning_free_trials.md), run with ``--arms``.
MAIN_ARMS = ("adam_1e-3", "recommended", "optimistic_heldout", "optimistic",
             "mg", "bmg", "bmg_endpoint_old_readme", "prodigy",
             "dadapt_adamw", "mechanize", "dog", "schedule_free_adamw")
SPLIT_FRACTION = 0.1


def _batch(problem, key, low=0.0, high=1.0):
  """A minibatch from the training set's ``[low, high)`` fraction."""
  n = problem.train[0].shape[0]
  idx = jax.random.randint(key, (BATCH,), int(low * n), int(high * n))
  return jax.tree.map(lambda a: a[idx], problem.train)


def train(problem, tx, key, steps: int, name: str = ""):
  """Final validation loss and the final learned hyperparameters.

  Step ``t`` takes its gradient on minibatch ``t``; ``value_fn`` is the loss
  on minibatch ``t`` too, or on minibatch ``t + 1`` for arms in ``HELDOUT``
  (the same data in the same order either way), or, for arms in ``SPLIT``,
  on a minibatch of the held-out split (the gradient's minibatches then come
  from the rest). The hyperparameters are ``{"lr", "b1", "wd"}``, NaN where
  not learned.
  """
  tx = optax.with_extra_args_support(tx)
  k_init, k_data = jax.random.split(key)
  params = problem.init(k_init)
  keys = jax.random.split(k_data, steps)  # Step t's gradient batch.
  next_keys = jnp.concatenate([keys[1:], jax.random.split(
      jax.random.fold_in(k_data, steps), 1)])
  heldout, split = name in HELDOUT, name in SPLIT

  def step(carry, ks):
    params, state = carry
    if split:
      batch = _batch(problem, ks[0], low=SPLIT_FRACTION)
      outer = _batch(problem, ks[1], high=SPLIT_FRACTION)
    else:
      batch = _batch(problem, ks[0])
      outer = _batch(problem, ks[1]) if heldout else batch
    value_fn = lambda p: problem.loss(p, outer)  # noqa: E731
    value, grads = jax.value_and_grad(lambda p: problem.loss(p, batch))(
        params)
    updates, state = tx.update(grads, state, params, value=value,
                               value_fn=value_fn)
    return (optax.apply_updates(params, updates), state), None

  init = (params, tx.init(params))
  (params, state), _ = jax.lax.scan(step, init, (keys, next_keys))
  if name == "schedule_free_adamw":
    params = optax.contrib.schedule_free_eval_params(state, params)
  learned = {"lr": jnp.nan, "b1": jnp.nan, "wd": jnp.nan}
  if isinstance(state, bm.MetaLearnedState):
    hyper = state.hyperparams
    learned = {"lr": hyper["learning_rate"],
               "b1": hyper.get("b1", jnp.nan),
               "wd": hyper.get("weight_decay", jnp.nan)}
  return problem.loss(params, problem.val), learned


def _timed(fn, *args):
  compiled = jax.jit(fn).lower(*args).compile()
  start = time.perf_counter()
  out = jax.block_until_ready(compiled(*args))
  return out, time.perf_counter() - start


def run_problem(problem, arms, steps: int, grid_rows=None,
                seed: int = 0) -> list[dict]:
  """Every arm on one problem; rows of per-seed losses and times.

  ``grid_rows``: the grid's rows from an earlier run with the same steps
  and seed (``--reuse-grid``), to save recomputing them in development
  trials. ``seed``: the PRNG key the ``SEEDS`` runs' keys are split from
  (0 for the benchmark; another value re-checks a choice on fresh seeds).
  """
  keys = jax.random.split(jax.random.key(seed), SEEDS)
  init_loss = jax.vmap(lambda k: problem.loss(
      problem.init(jax.random.split(k)[0]), problem.val))(keys)
  if grid_rows:
    rows = [dict(r) for r in grid_rows]
  else:
    grid = jax.vmap(lambda lr: jax.vmap(lambda k: train(
        problem, optax.adam(lr), k, steps)[0])(keys))
    (grid_loss), _ = _timed(grid, jnp.asarray(GRID))
    rows = [dict(problem=problem.name, arm=f"adam_{lr:g}",
                 loss=np.asarray(loss).tolist(), lr=lr)
            for lr, loss in zip(GRID, np.asarray(grid_loss), strict=True)]
  for name in arms:
    run = jax.vmap(lambda k, name=name: train(problem, ARMS[name](), k,
                                              steps, name))
    (loss, learned), seconds = _timed(run, keys)
    rows.append(dict(problem=problem.name, arm=name,
                     loss=np.asarray(loss).tolist(),
                     **{k: np.asarray(v).tolist() for k, v in learned.items()
                        if not np.all(np.isnan(v))},
                     seconds=seconds))
  for row in rows:
    row["init_loss"] = np.asarray(init_loss).tolist()
    row["seed"] = seed
  return rows


def _merge(rows: list[dict], path: str) -> list[dict]:
  """``rows`` plus the timed rows of arms they lack, from an earlier run.

  A carried row's ``seconds`` is rescaled so its time ÷ Adam 1e-3 is the
  one measured in its own run; the row is marked ``carried``.
  """
  with open(path) as f:
    old = [json.loads(line) for line in f]
  have = {(r["problem"], r["arm"]) for r in rows if "seconds" in r}
  out = list(rows)
  for prob in dict.fromkeys(r["problem"] for r in rows):
    base_new = next(r["seconds"] for r in rows if r["problem"] == prob
                    and r["arm"] == "adam_1e-3" and "seconds" in r)
    base_old = next(r["seconds"] for r in old if r["problem"] == prob
                    and r["arm"] == "adam_1e-3" and "seconds" in r)
    for r in old:
      if (r["problem"] == prob and "seconds" in r
          and (prob, r["arm"]) not in have):
        out.append(dict(r, seconds=r["seconds"] * base_new / base_old,
                        carried=path))
  return out


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
          final_lr=r.get("lr")))
  best_row = [dict(problem=p, arm="adam_best_of_grid", ratio=1.0,
                   diverged_seeds=0, time_ratio=None, final_lr=None)
              for p in dict.fromkeys(r["problem"] for r in rows)]
  return best_row + out


def pool(paths: list[str]) -> list[dict]:
  """Rows of runs on different seeds (``--seed``) joined into one per arm.

  Per (problem, arm), the per-seed losses and initial losses of every file
  are concatenated (a row missing from any file is dropped, so every pooled
  row has the same seeds) and ``seconds`` is the sum; grid rows stay apart
  from timed rows of the same name. The summary of the result is the
  benchmark on ``SEEDS × len(paths)`` seeds.
  """
  runs = []
  for path in paths:
    with open(path) as f:
      runs.append([json.loads(line) for line in f])
  seeds = [{r.get("seed", 0) for r in run} for run in runs]
  if len(set().union(*seeds)) != sum(map(len, seeds)):
    raise ValueError(f"--pool files share seeds: {seeds}")
  key = lambda r: (r["problem"], r["arm"], "seconds" in r)  # noqa: E731
  out = []
  for first in runs[0]:
    same = [next((r for r in run if key(r) == key(first)), None)
            for run in runs]
    if any(r is None for r in same):
      continue
    row = dict(first, seed=[r.get("seed", 0) for r in same])
    for name in ("loss", "init_loss", "lr", "b1", "wd"):
      if isinstance(first.get(name), list):
        row[name] = sum((r[name] for r in same), [])
    if "seconds" in first:
      row["seconds"] = sum(r["seconds"] for r in same)
    out.append(row)
  return out


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
  parser.add_argument("--arms", default=",".join(MAIN_ARMS))
  parser.add_argument("--ratchet", action="store_true")
  parser.add_argument("--seed", type=int, default=0,
                      help="key of the seeds (0: the benchmark's)")
  parser.add_argument("--pool", default="",
                      help="comma-separated results .jsonl of runs on "
                      "different --seed: print and write their pooled table")
  parser.add_argument("--out", default="",
                      help="results name (default tuning_free, "
                      "tuning_free_seed{N} with --seed N, tuning_free_pooled "
                      "with --pool)")
  parser.add_argument("--reuse-grid", default="",
                      help="a results .jsonl whose grid rows to reuse")
  parser.add_argument("--merge", default="",
                      help="a results .jsonl whose other arms to carry over "
                      "(their times rescaled by this run's Adam 1e-3)")
  args = parser.parse_args(argv)
  if args.ratchet:
    import tuning_free_ratchet
    tuning_free_ratchet.main(
        args.steps, _RESULTS / f"{args.out or 'tuning_free'}_ratchet")
    return
  if args.pool:
    rows = pool(args.pool.split(","))
    _write(rows, args.out or "tuning_free_pooled", args.steps,
           len(args.pool.split(",")))
    return
  chosen = [p for p in problems.all_problems()
            if not args.problems or p.name in args.problems.split(",")]
  old = []
  if args.reuse_grid:
    with open(args.reuse_grid) as f:
      old = [json.loads(line) for line in f]
  rows = []
  for problem in chosen:
    start = time.perf_counter()
    grid_rows = [r for r in old if r["problem"] == problem.name
                 and "seconds" not in r and r.get("seed", 0) == args.seed]
    rows += run_problem(problem, args.arms.split(","), args.steps,
                        grid_rows, seed=args.seed)
    print(f"{problem.name}: {time.perf_counter() - start:.0f}s", flush=True)
  if args.merge:
    rows = _merge(rows, args.merge)
  default = "tuning_free" + (f"_seed{args.seed}" if args.seed else "")
  _write(rows, args.out or default, args.steps, 1)


def _write(rows: list[dict], out: str, steps: int, keys: int) -> None:
  """Writes ``bench/results/{out}.{jsonl,md}`` and prints the table."""
  _RESULTS.mkdir(exist_ok=True)
  with open(_RESULTS / f"{out}.jsonl", "w") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")
  table = markdown(summarise(rows))
  (_RESULTS / f"{out}.md").write_text(
      f"# Tuning-free benchmark ({steps} steps, {SEEDS * keys} seeds, batch "
      f"{BATCH})\n\nFinal validation loss ÷ Adam best-of-grid; diverged = "
      "problems with a seed ending non-finite or above its initial loss.\n\n"
      + table)
  print(table)


if __name__ == "__main__":
  main()
