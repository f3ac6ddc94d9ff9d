"""The launchers' outer loop: chunks of jitted iterations, logs, checkpoints.

A run is ``init(keys) -> state`` and ``chunk(state, n) -> (state, metrics)``
where ``metrics`` leaves are ``[seeds, n]``: ``n`` training iterations of
every seed (vmapped), compiled once per distinct ``n``. Between chunks the
loop writes one metric row per seed, shows progress (rate and ETA), and
checkpoints every ``checkpoint_every`` iterations. Because the checkpoint is
the whole state (keys included) and chunk boundaries do not change the
computation, a resumed run reproduces the uninterrupted run's metrics.

On several processes (``jax.distributed``) every process runs the loop:
the metrics of arrays sharded over other processes' devices are gathered
to every process, every process checkpoints (orbax coordinates the save),
and process 0 (the run directory's ``primary``) writes the files, shows
the progress bar and runs ``on_checkpoint``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from launch.rundir import RunDir

__all__ = ["LoopSpec", "RunSettings", "reduce_chunk", "run_loop"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
  """How a launcher runs (not what it trains).

  Attributes:
    run_dir: output directory ("" gives ``runs/<experiment>/<timestamp>``).
    seed: base seed; seed ``i`` of ``num_seeds`` uses ``split(key(seed))[i]``.
    num_seeds: seeds trained together as one vmapped program.
    log_every: iterations between metric rows.
    checkpoint_every: iterations between checkpoints (rounded up to a
      multiple of ``log_every``; 0 checkpoints only at the end).
    resume: continue the run in ``run_dir`` from its newest checkpoint.
    progress: show a progress bar.
    data_parallel: shard the seeds (or, with one seed, the environments)
      over all devices with ``jax.sharding``.
  """

  run_dir: str = ""
  seed: int = 0
  num_seeds: int = 1
  log_every: int = 10
  checkpoint_every: int = 100
  resume: bool = False
  progress: bool = True
  data_parallel: bool = False

  def __post_init__(self):
    if self.num_seeds < 1:
      raise ValueError(f"num_seeds must be >= 1, got {self.num_seeds}.")
    if self.log_every < 1:
      raise ValueError(f"log_every must be >= 1, got {self.log_every}.")
    if self.checkpoint_every < 0:
      raise ValueError("checkpoint_every must be >= 0, got "
                       f"{self.checkpoint_every}.")
    if self.resume and not self.run_dir:
      raise ValueError("--resume needs the --run_dir of the run to resume.")

  def identity(self) -> dict[str, Any]:
    """The fields that define the run's results (saved in config.json)."""
    return {"seed": self.seed, "num_seeds": self.num_seeds,
            "log_every": self.log_every}


@dataclasses.dataclass(frozen=True)
class LoopSpec:
  """What the loop trains.

  Attributes:
    init: ``init(seed_keys [S]) -> state`` (jitted by the loop).
    chunk: ``chunk(state, n) -> (state, metrics)``, metrics ``[S, n]``
      (jitted by the loop with ``n`` static).
    num_iterations: iterations of the whole run.
    env_steps_per_iteration: environment steps of one iteration, one seed.
    reduce: ``reduce(metrics) -> {name: [S]}`` for one row per seed
      (:func:`reduce_chunk` by default).
    progress_key: metric shown next to the progress bar.
    on_checkpoint: called with the run directory after each checkpoint
      (e.g. to redraw plots), on the run directory's primary process only.
    place: ``place(state) -> state`` puts a fresh or restored state on the
      devices (e.g. sharded over a mesh); identity by default.
  """

  init: Callable
  chunk: Callable
  num_iterations: int
  env_steps_per_iteration: int
  reduce: Callable | None = None
  progress_key: str | None = None
  on_checkpoint: Callable[[RunDir], None] | None = None
  place: Callable | None = None


def reduce_chunk(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """Per-seed means over a chunk; ``episode_return`` weighted by episodes.

  Args:
    metrics: leaves ``[S, n]``.

  Returns:
    ``{name: [S]}``; ``episodes`` is summed.
  """
  m = {k: np.asarray(v, np.float64) for k, v in metrics.items()}
  out = {k: v.mean(axis=1) for k, v in m.items()}
  if "episodes" in m:
    out["episodes"] = m["episodes"].sum(axis=1)
    if "episode_return" in m:
      total = (m["episode_return"] * m["episodes"]).sum(axis=1)
      count = out["episodes"]
      out["episode_return"] = np.where(count > 0, total / np.maximum(
          count, 1.0), np.nan)
  return out


def _fetch(metrics):
  """Host copies; arrays spanning other processes are gathered first."""
  def fetch(leaf):
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
      from jax.experimental import multihost_utils

      return multihost_utils.process_allgather(leaf, tiled=True)
    return jax.device_get(leaf)

  return jax.tree.map(fetch, metrics)


def _progress(settings: RunSettings, total: int, initial: int, show: bool):
  if not (settings.progress and show):
    return None
  from tqdm import tqdm

  return tqdm(total=total, initial=initial, unit="it", file=sys.stderr,
              dynamic_ncols=True, smoothing=0.1)


def _next_stop(done: int, spec: LoopSpec, settings: RunSettings) -> int:
  return min(done + settings.log_every, spec.num_iterations)


def _rows(metrics, done, spec, settings, wall) -> list[dict[str, Any]]:
  reduce = spec.reduce or reduce_chunk
  per_seed = reduce(metrics)
  return [{"iteration": done, "env_steps": done * spec.env_steps_per_iteration,
           "seed": s, "wall_s": wall,
           **{k: float(v[s]) for k, v in per_seed.items()}}
          for s in range(settings.num_seeds)]


def _start(run: RunDir, spec: LoopSpec, keys, settings: RunSettings):
  place = spec.place or (lambda s: s)
  state = place(jax.jit(spec.init)(keys))
  if not settings.resume or run.latest() is None:
    return 0, state, 0.0
  done, state = run.restore(state)
  run.truncate(done)
  rows = run.rows
  return done, place(state), (rows[-1]["wall_s"] if rows else 0.0)


def run_loop(spec: LoopSpec, *, run: RunDir,
             settings: RunSettings) -> tuple[Any, float]:
  """Trains to ``spec.num_iterations``, logging and checkpointing.

  Returns:
    ``(final_state, wall_seconds)`` (wall time includes resumed segments).
  """
  keys = jax.random.split(jax.random.key(settings.seed), settings.num_seeds)
  done, state, wall0 = _start(run, spec, keys, settings)
  chunk = jax.jit(spec.chunk, static_argnums=1)
  bar = _progress(settings, spec.num_iterations, done, run.primary)
  start, last_ckpt = time.time(), done
  run.tensorboard(purge_step=done * spec.env_steps_per_iteration)
  while done < spec.num_iterations:
    stop = _next_stop(done, spec, settings)
    state, metrics = chunk(state, stop - done)
    metrics = _fetch(metrics)
    done, wall = stop, wall0 + time.time() - start
    rows = _rows(metrics, done, spec, settings, wall)
    run.log(rows, step=done * spec.env_steps_per_iteration)
    if bar is not None:
      bar.update(rows[0]["iteration"] - bar.n)
      if spec.progress_key:
        bar.set_postfix({spec.progress_key: np.nanmean(
            [r[spec.progress_key] for r in rows])})
    every = settings.checkpoint_every
    if done == spec.num_iterations or (every and done - last_ckpt >= every):
      run.save(done, state)
      last_ckpt = done
      if spec.on_checkpoint is not None and run.primary:
        spec.on_checkpoint(run)
  if bar is not None:
    bar.close()
  return state, wall0 + time.time() - start
