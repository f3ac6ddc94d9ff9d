"""Runs the meta-learned actor-critic agent into a run directory.

Shared by the actor-critic launchers (Two-Colors, POPGym, bandit,
meta-CartPole): seeds are one vmapped program, training advances in jitted
chunks of ``log_every`` iterations (:mod:`launch.loop`), and the run
directory (:mod:`launch.rundir`) gets the config, metrics, TensorBoard
events, orbax checkpoints, plots and a ``summary.json`` of final and
lifetime returns per seed.

References:
  Flennerhag et al, `Bootstrapped Meta-Learning
  <https://arxiv.org/abs/2109.04504>`_, 2022.
  Luketina et al, `Meta-Gradients in Non-Stationary Environments
  <https://proceedings.mlr.press/v199/luketina22a.html>`_, 2022.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from agents.actor_critic.config import ActorCriticConfig
from agents.actor_critic.sharding import place_leaf
from agents.actor_critic.training import init_state, iteration, make_agent
from launch import plots
from launch.loop import LoopSpec, RunSettings, reduce_chunk, run_loop
from launch.rundir import RunDir, config_to_json, default_run_dir

__all__ = ["Reporting", "env_placement", "machine", "make_loop_spec", "mmer",
           "placement", "print_outputs", "reduce_with_max", "run_experiment",
           "seed_placement", "summarize"]

#: The files an actor-critic run directory ends with (``hyperparams.png``
#: only when something is meta-learned).
RUN_FILES = ("returns.png", "hyperparams.png", "metrics.csv", "summary.json")

_FINAL_FRACTION = 0.1  # "Final" return: the last 10% of log rows.


@dataclasses.dataclass(frozen=True, kw_only=True)
class Reporting:
  """What a launcher reports.

  Attributes:
    return_key: the metric that is "the return" (``episode_return``, or
      ``reward_mean`` for a single non-episodic stream).
    return_label: axis label of the return plot.
    switch_every: environment steps between task switches (plots).
  """

  return_key: str = "episode_return"
  return_label: str = "episodic return"
  switch_every: int | None = None


def make_loop_spec(config: ActorCriticConfig, *,
                   reporting: Reporting = Reporting(),
                   place: Callable | None = None) -> LoopSpec:
  """The vmapped-seed init and chunk functions of an agent config.

  Args:
    config: the agent.
    reporting: which metric the progress bar shows.
    place: optional ``place(state) -> state`` (device placement) applied to
      fresh and restored states.
  """
  agent = make_agent(config)

  def init(keys):
    return jax.vmap(lambda k: init_state(k, agent))(keys)

  step = jax.vmap(lambda s: iteration(agent, s))

  def chunk(state, n):
    state, metrics = jax.lax.scan(lambda s, _: step(s), state, None,
                                  length=n)
    return state, jax.tree.map(lambda m: m.T, metrics)  # [n, S] -> [S, n]

  per_iteration = config.env_steps // config.num_updates
  return LoopSpec(init=init, chunk=chunk, num_iterations=config.num_updates,
                  env_steps_per_iteration=per_iteration,
                  progress_key=reporting.return_key, place=place,
                  reduce=reduce_with_max)


def reduce_with_max(metrics: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """:func:`launch.loop.reduce_chunk` plus ``episode_return_max``: the
  largest per-iteration mean episode return of the chunk (iterations in
  which an episode ended; NaN if none did).

  Args:
    metrics: leaves ``[S, n]``.

  Returns:
    ``{name: [S]}``.

  References:
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023 (MMER).
  """
  out = reduce_chunk(metrics)
  if "episode_return" in metrics and "episodes" in metrics:
    returns = np.asarray(metrics["episode_return"], np.float64)
    ended = np.asarray(metrics["episodes"]) > 0
    best = np.max(np.where(ended, returns, -np.inf), axis=1)
    out["episode_return_max"] = np.where(np.isfinite(best), best, np.nan)
  return out


def mmer(rows: Sequence[Mapping[str, Any]]) -> list[float]:
  """Per seed, the MMER: the maximum over training of the per-iteration
  mean episode return (the max of the rows' ``episode_return_max``; NaN if
  no episode ended or the rows lack the column).

  References:
    Lu et al, `Structured State Space Models for In-Context Reinforcement
    Learning <https://arxiv.org/abs/2303.03982>`_, 2023.
  """
  seeds = sorted({r["seed"] for r in rows})
  out = []
  for s in seeds:
    values = [r.get("episode_return_max", np.nan) for r in rows
              if r["seed"] == s]
    values = np.asarray(values, np.float64)
    out.append(float(np.nanmax(values)) if np.any(~np.isnan(values))
               else float("nan"))
  return out


def seed_placement(num_seeds: int) -> Callable:
  """``place(state)`` sharding the leading (seed) axis over all devices.

  Seeds are independent, so each device trains its share with no
  communication; the jitted chunk keeps the input sharding. On several
  processes the devices are all processes' devices, and every process
  passes the same state (see :func:`agents.actor_critic.sharding.place_leaf`).

  Raises:
    ValueError: ``num_seeds`` is not a multiple of the device count.
  """
  devices = jax.devices()
  if num_seeds % len(devices):
    raise ValueError(
        f"--data_parallel shards seeds over {len(devices)} devices: "
        f"--num_seeds={num_seeds} must be a multiple of {len(devices)}.")
  mesh = jax.sharding.Mesh(np.asarray(devices), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(
      "data"))
  return lambda state: jax.tree.map(lambda x: place_leaf(x, sharding), state)


def env_placement() -> Callable:
  """``place(state)`` for one seed: the environments split over devices.

  Uses :func:`agents.actor_critic.sharding.state_shardings` on the
  seed-less state (actor batch leaves on the ``"data"`` axis, the rest
  replicated) with the leading seed axis of size 1 unsharded; XLA reduces
  the batch means (gradients, meta-gradients) across devices.
  """
  from agents.actor_critic import sharding

  mesh = sharding.make_mesh()

  def place(state):
    single = jax.eval_shape(lambda s: jax.tree.map(lambda x: x[0], s), state)
    specs = sharding.state_shardings(single, mesh)
    specs = jax.tree.map(lambda s: jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec(None, *s.spec)), specs)
    return jax.tree.map(place_leaf, state, specs)

  return place


def placement(settings: RunSettings, agent: ActorCriticConfig):
  """The ``--data_parallel`` placement: seeds over devices when they
  divide, else (one seed) the environments; ``None`` without the flag.

  Raises:
    ValueError: neither the seeds nor the environments divide over the
      devices (checked before any compute), or several processes without
      ``--data_parallel`` (each would train the whole run again).
  """
  if not settings.data_parallel:
    if jax.process_count() > 1:
      raise ValueError(
          f"{jax.process_count()} processes (--num_processes) share one run "
          "only with --data_parallel; without it every process would train "
          "all seeds again. Add --data_parallel, or run one process.")
    return None
  devices = len(jax.devices())
  if settings.num_seeds % devices == 0:
    return seed_placement(settings.num_seeds)
  if settings.num_seeds == 1 and agent.num_envs % devices == 0:
    return env_placement()
  raise ValueError(
      f"--data_parallel over {devices} devices needs --num_seeds a multiple "
      f"of {devices}, or one seed and num_envs a multiple of {devices}; got "
      f"num_seeds={settings.num_seeds}, num_envs={agent.num_envs}.")


def machine() -> dict[str, Any]:
  """The machine a run was measured on (for RESULTS.md)."""
  return {"platform": platform.platform(), "cpus": os.cpu_count(),
          "devices": [str(d) for d in jax.devices()],
          "jax": jax.__version__}


def summarize(rows: Sequence[Mapping[str, Any]], *, key: str,
              fraction: float = _FINAL_FRACTION) -> dict[str, list[float]]:
  """Per-seed final (last ``fraction`` of log rows) and lifetime means."""
  steps, values = plots.series(rows, key)
  tail = max(1, int(round(values.shape[1] * fraction)))
  return {"final": _nanmean_rows(values[:, -tail:]),
          "lifetime": _nanmean_rows(values)}


def _nanmean_rows(values: np.ndarray) -> list[float]:
  """Row means ignoring NaN (no episode ended); NaN for an all-NaN row."""
  counts = np.sum(~np.isnan(values), axis=1)
  sums = np.nansum(values, axis=1)
  return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).tolist()


def run_experiment(*, experiment: str, agent: ActorCriticConfig,
                   settings: RunSettings, reporting: Reporting = Reporting(),
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """Trains ``agent`` into a run directory and returns its summary.

  Args:
    experiment: the launcher's name (``runs/<experiment>/...``).
    agent: the agent config (validated already).
    settings: seeds, logging, checkpointing, resume.
    reporting: the return metric and the task-switch period for plots.
    extra: more JSON-ready config saved with the run (e.g. the variant).

  Returns:
    The summary: ``run_dir``, per-seed ``final`` and ``lifetime`` returns
    and ``mmer`` (:func:`mmer`), ``env_steps`` (per seed), ``wall_s``,
    ``machine``, last ``hp/*`` values.
  """
  place = placement(settings, agent)
  run_dir = settings.run_dir or default_run_dir(experiment)
  config = {"experiment": experiment, "agent": config_to_json(agent),
            "run": settings.identity(), "extra": dict(extra or {})}
  run = RunDir(run_dir, config=config, resume=settings.resume)
  redraw = lambda r: plots.plot_run(  # noqa: E731
      str(r.path), return_key=reporting.return_key,
      return_label=reporting.return_label,
      switch_every=reporting.switch_every)
  spec = dataclasses.replace(
      make_loop_spec(agent, reporting=reporting, place=place),
      on_checkpoint=redraw)
  try:
    _, wall = run_loop(spec, run=run, settings=settings)
    rows = run.rows
    summary = {"run_dir": run_dir, "experiment": experiment,
               "return_key": reporting.return_key,
               **summarize(rows, key=reporting.return_key),
               "mmer": mmer(rows),
               "num_seeds": settings.num_seeds, "env_steps": agent.env_steps,
               "wall_s": wall, "machine": machine(),
               **{k: float(np.mean([r[k] for r in rows if r["iteration"]
                                    == rows[-1]["iteration"]]))
                  for k in rows[-1] if k.startswith("hp/")}}
    run.write_json("summary.json", summary)
  finally:
    run.close()
  return summary


def print_outputs(summary: Mapping[str, Any], *, headline: str,
                  files: Sequence[str] = RUN_FILES) -> None:
  """Prints ``headline`` and the paths of the run directory's outputs.

  Only process 0 prints (it is the one that writes them, see
  :attr:`launch.rundir.RunDir.primary`), so a multi-host run reports once.

  Args:
    summary: the summary of :func:`run_experiment` (its ``run_dir``).
    headline: the result line printed first.
    files: file names inside the run directory to list; those that do not
      exist (``hyperparams.png`` of a run that learns nothing) are left
      out.
  """
  if jax.process_index() != 0:
    return
  run_dir = summary["run_dir"]
  print(headline)
  print(f"run directory: {run_dir} (metrics also as metrics.jsonl and "
        "TensorBoard events in tb/)")
  for name in files:
    path = os.path.join(run_dir, name)
    if os.path.exists(path):
      print(f"  {path}")
