"""Run directories: config, metrics, TensorBoard, checkpoints, resume.

Every launcher writes one directory per run::

  <run_dir>/config.json      the resolved experiment config
  <run_dir>/metrics.jsonl    one row per (log step, seed)
  <run_dir>/metrics.csv      the same rows as CSV
  <run_dir>/tb/              TensorBoard event files (seed means, seeds)
  <run_dir>/checkpoints/<i>/ orbax-checkpoint steps (state + config)
  <run_dir>/summary.json     final / lifetime returns per seed, wall time
  <run_dir>/*.png            plots

Checkpoints are written by orbax-checkpoint, which writes into a temporary
directory and renames it when complete, so a process killed mid-write leaves
the previous checkpoint intact. Resuming restores the newest checkpoint,
drops the metric rows logged after it (they are recomputed identically,
because the whole training state, keys included, is checkpointed) and
refuses a config that differs from the saved one.

On several processes (``jax.distributed``), every process builds the same
``RunDir`` on a directory all of them see (a shared filesystem): all of
them check the config, keep the metric rows in memory and take part in
orbax's checkpoint saves and restores (orbax writes each process's array
shards and coordinates the commit), but only process 0 writes
``config.json``, the metrics, TensorBoard events and ``summary.json``.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

__all__ = ["RunDir", "config_to_json", "default_run_dir"]


def config_to_json(config: Any) -> Any:
  """A JSON-ready copy of a (nested) frozen dataclass config."""
  import dataclasses

  if dataclasses.is_dataclass(config):
    return {f.name: config_to_json(getattr(config, f.name))
            for f in dataclasses.fields(config)}
  if isinstance(config, (tuple, list)):
    return [config_to_json(c) for c in config]
  if isinstance(config, Mapping):
    return {str(k): config_to_json(v) for k, v in config.items()}
  return config


def default_run_dir(experiment: str) -> str:
  """``runs/<experiment>/<UTC timestamp>`` under the working directory.

  On several processes the timestamp is process 0's, so that all of them
  name the same directory.
  """
  stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    data = np.frombuffer(stamp.encode("ascii"), np.uint8)
    stamp = bytes(multihost_utils.broadcast_one_to_all(data)).decode("ascii")
  return os.path.join("runs", experiment, stamp)


def _sync(name: str) -> None:
  """A barrier of all processes (nothing on one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def _diff(saved: Any, new: Any, prefix: str = "") -> list[str]:
  if isinstance(saved, dict) and isinstance(new, dict):
    out = []
    for key in sorted(set(saved) | set(new)):
      out += _diff(saved.get(key), new.get(key), f"{prefix}{key}.")
    return out
  return [] if saved == new else [f"{prefix[:-1]}: {saved!r} -> {new!r}"]


def _is_key(leaf) -> bool:
  return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(
      leaf.dtype, jax.dtypes.prng_key)


def _saveable_leaf(leaf):
  """A host copy; a global array spanning other processes stays as is
  (orbax writes each process's shards)."""
  leaf = jax.random.key_data(leaf) if _is_key(leaf) else leaf
  if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
    return leaf
  return np.asarray(leaf)


def _to_saveable(state) -> dict[str, Any]:
  leaves = jax.tree.leaves(state)
  return {f"{i:05d}": _saveable_leaf(x) for i, x in enumerate(leaves)}


def _restore_target(leaf):
  """What orbax restores ``leaf`` as: a host array, or a global array
  with the template's sharding."""
  if isinstance(leaf, jax.Array):
    return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
  return leaf


def _from_saved(saved: Mapping[str, np.ndarray], template):
  leaves, treedef = jax.tree.flatten(template)
  if len(saved) != len(leaves):
    raise ValueError(f"Checkpoint has {len(saved)} arrays, the state has "
                     f"{len(leaves)}: the config does not match the run.")
  out = []
  for i, ref in enumerate(leaves):
    value = saved[f"{i:05d}"]
    if _is_key(ref):
      value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(ref))
    elif np.shape(value) != np.shape(ref):
      raise ValueError(f"Checkpoint array {i} has shape {np.shape(value)}, "
                       f"the state expects {np.shape(ref)}.")
    out.append(value)
  return jax.tree.unflatten(treedef, out)


class RunDir:
  """One run's directory: config, metric rows, TensorBoard and checkpoints.

  Args:
    path: the directory (created if missing).
    config: the run's JSON-ready config (see :func:`config_to_json`).
    resume: continue the run in ``path``. Without it, ``path`` must not hold
      a run already (so nothing is overwritten by accident).
    max_to_keep: checkpoints kept.
    primary: whether this process writes the files (config, metrics,
      TensorBoard, JSON); default: it is process 0. Checkpoints are saved
      by every process whatever ``primary`` is.
  """

  def __init__(self, path: str, *, config: Mapping[str, Any],
               resume: bool = False, max_to_keep: int = 2,
               primary: bool | None = None):
    self.path = pathlib.Path(path)
    self.config = dict(config)
    self.primary = jax.process_index() == 0 if primary is None else primary
    self._check_config(resume)
    self._rows: list[dict[str, Any]] = self._read_rows() if resume else []
    # Every process has checked and read the directory before any writes.
    _sync("RunDir.__init__")
    if self.primary and not resume:
      self.path.mkdir(parents=True, exist_ok=True)
      (self.path / "config.json").write_text(
          json.dumps(self.config, indent=2, sort_keys=True))
    self._manager = None
    self._max_to_keep = max_to_keep
    self._writer = None

  def _check_config(self, resume: bool) -> None:
    config_path = self.path / "config.json"
    if config_path.exists() and not resume:
      raise ValueError(f"{self.path} already holds a run; pass --resume to "
                       "continue it, or choose another --run_dir.")
    if resume and not config_path.exists():
      raise ValueError(f"Nothing to resume: {config_path} does not exist.")
    if resume:
      saved = json.loads(config_path.read_text())
      diff = _diff(saved, self.config)
      if diff:
        raise ValueError("Cannot resume with a different config; changed: "
                         + "; ".join(diff))

  # --- checkpoints -------------------------------------------------------
  @property
  def manager(self):
    """The orbax ``CheckpointManager`` (created on first use)."""
    if self._manager is None:
      import orbax.checkpoint as ocp

      options = ocp.CheckpointManagerOptions(
          max_to_keep=self._max_to_keep, create=True,
          enable_async_checkpointing=False)
      self._manager = ocp.CheckpointManager(
          (self.path / "checkpoints").absolute(), options=options,
          item_names=("state", "config"))
    return self._manager

  def save(self, iteration: int, state) -> None:
    """Checkpoints ``state`` (any pytree; typed keys allowed) atomically.

    On several processes every process must call it (orbax coordinates).
    """
    import orbax.checkpoint as ocp

    args = ocp.args.Composite(
        state=ocp.args.StandardSave(_to_saveable(state)),
        config=ocp.args.JsonSave(self.config))
    self.manager.save(iteration, args=args, force=True)
    self.manager.wait_until_finished()

  def latest(self) -> int | None:
    """Iteration of the newest complete checkpoint, or ``None``."""
    return self.manager.latest_step()

  def restore(self, template, *, leading: bool = False,
              ignore: tuple[str, ...] = ()) -> tuple[int, Any]:
    """``(iteration, state)`` of the newest checkpoint, shaped as template.

    Leaves of ``template`` that are ``jax.Array`` s spanning other
    processes' devices are restored as global arrays with the same
    sharding (every process must call it); other leaves as host arrays.

    Args:
      template: the state's structure, shapes and dtypes.
      leading: restore only the checkpoint's first ``len(leaves(template))``
        arrays, e.g. the network parameters that lead a training state, so
        that a run can still be evaluated after a code change altered the
        rest of its state (an environment's state fields).
      ignore: top-level config sections that may differ from the
        checkpoint's (e.g. ``("extra",)``: labels and evaluation settings,
        when only evaluating).

    Raises:
      ValueError: no checkpoint, or one saved with another config, or
        whose arrays (the leading ones, with ``leading``) do not match the
        template's number and shapes.
    """
    import orbax.checkpoint as ocp

    step = self.latest()
    if step is None:
      raise ValueError(f"No checkpoint in {self.path / 'checkpoints'}.")
    target = jax.tree.map(_restore_target, _to_saveable(template))
    try:
      if leading:
        restored = dict(self.manager.restore(step, args=ocp.args.Composite(
            config=ocp.args.JsonRestore())))
        restored["state"] = ocp.PyTreeCheckpointer().restore(
            (self.path / "checkpoints" / str(step) / "state").absolute(),
            args=ocp.args.PyTreeRestore(target, partial_restore=True))
      else:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target),
            config=ocp.args.JsonRestore()))
    except ValueError as e:
      raise ValueError(
          f"Checkpoint {step} does not hold a state of {len(target)} arrays "
          "of these shapes: the config or the code's state structure "
          "differs from the run's (restore(..., leading=True) restores "
          "the leading arrays only, e.g. the parameters).") from e
    diff = [d for d in _diff(dict(restored["config"]), self.config)
            if d.split(":")[0].split(".")[0] not in ignore]
    if diff:
      raise ValueError("Checkpoint was written with another config; "
                       "changed: " + "; ".join(diff))
    return int(step), _from_saved(restored["state"], template)

  # --- metrics -----------------------------------------------------------
  @property
  def rows(self) -> list[dict[str, Any]]:
    """Metric rows logged so far (after a resume: those up to the resumed
    checkpoint)."""
    return list(self._rows)

  def _read_rows(self) -> list[dict[str, Any]]:
    path = self.path / "metrics.jsonl"
    if not path.exists():
      return []
    return [json.loads(line) for line in path.read_text().splitlines()
            if line.strip()]

  def truncate(self, iteration: int) -> None:
    """Drops rows logged after ``iteration`` and rewrites the files."""
    self._rows = [r for r in self._rows if r["iteration"] <= iteration]
    if self.primary:
      self._rewrite()

  def _rewrite(self) -> None:
    tmp = self.path / "metrics.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in self._rows))
    os.replace(tmp, self.path / "metrics.jsonl")
    self._write_csv()

  def _write_csv(self) -> None:
    columns: list[str] = []
    for row in self._rows:
      columns += [c for c in row if c not in columns]
    tmp = self.path / "metrics.csv.tmp"
    with open(tmp, "w", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=columns)
      writer.writeheader()
      writer.writerows(self._rows)
    os.replace(tmp, self.path / "metrics.csv")

  def log(self, rows: Sequence[Mapping[str, Any]], *, step: int) -> None:
    """Appends rows (one per seed) to the metric files and to TensorBoard
    (kept in memory only, on a process that is not ``primary``).

    TensorBoard gets, for each metric, the seed mean as ``<metric>`` and,
    with several rows, each seed's value as ``<metric>/seed_<i>`` (the
    same TensorBoard group as the mean). Values that are missing in a row
    (no episode ended) are left out.
    """
    rows = [{k: _plain(v) for k, v in r.items()} for r in rows]
    self._rows += rows
    if not self.primary:
      return
    with open(self.path / "metrics.jsonl", "a") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
    self._write_csv()
    writer = self.tensorboard(step)
    for key in rows[0]:
      if key in _NOT_SCALARS:
        continue
      values = {r.get("seed", i): r[key] for i, r in enumerate(rows)
                if isinstance(r.get(key), float)}
      if values:
        writer.add_scalar(key, float(np.mean(list(values.values()))), step)
      if len(rows) > 1:
        for seed, value in values.items():
          writer.add_scalar(f"{key}/seed_{seed}", value, step)
    writer.flush()

  def tensorboard(self, purge_step: int | None = None):
    """The TensorBoard writer (``tb/``); a resumed run purges later steps.

    ``None`` on a process that is not ``primary``.
    """
    if not self.primary:
      return None
    if self._writer is None:
      from tensorboardX import SummaryWriter

      self._writer = SummaryWriter(logdir=str(self.path / "tb"),
                                   purge_step=purge_step)
    return self._writer

  def write_json(self, name: str, payload: Mapping[str, Any]) -> None:
    """Writes ``<run_dir>/<name>`` atomically (``primary`` only)."""
    if not self.primary:
      return
    tmp = self.path / (name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, self.path / name)

  def close(self) -> None:
    """Flushes and closes the writer and the checkpoint manager."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None
    if self._manager is not None:
      self._manager.close()
      self._manager = None


#: Row columns that are not metrics (not written to TensorBoard).
_NOT_SCALARS = ("iteration", "env_steps", "seed", "wall_s")


def _plain(value):
  if isinstance(value, (np.generic, np.ndarray)):
    value = value.item() if np.ndim(value) == 0 else value.tolist()
  if isinstance(value, float) and not np.isfinite(value):
    return None if np.isnan(value) else float(np.sign(value) * 1e308)
  return value
