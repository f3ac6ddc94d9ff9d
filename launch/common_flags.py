"""Flags shared by every launcher: run directory, seeds, logging, resume.

Each launcher imports this module and calls :func:`run_settings` inside its
``build_config()``; the flags are read there, never at import time. The
multi-host flags call ``jax.distributed.initialize`` only when given.
"""

from __future__ import annotations

import dataclasses

from absl import flags, logging

from launch.loop import RunSettings

__all__ = ["default_intervals", "initialize_distributed", "quiet_logging",
           "run_settings"]

# Launchers are imported side by side by the tests: allow_override lets two
# of them define the same flag name without absl's DuplicateFlagError.
_KW = dict(allow_override=True)

RUN_DIR = flags.DEFINE_string(
    "run_dir", "", "Run directory (default runs/<experiment>/<timestamp>).",
    **_KW)
SEED = flags.DEFINE_integer("seed", 0, "Base random seed.", **_KW)
NUM_SEEDS = flags.DEFINE_integer(
    "num_seeds", 1, "Seeds trained together (one vmapped program).", **_KW)
LOG_EVERY = flags.DEFINE_integer(
    "log_every", 10, "Iterations between metric rows.", **_KW)
CHECKPOINT_EVERY = flags.DEFINE_integer(
    "checkpoint_every", 200, "Iterations between checkpoints (0: at the "
    "end only).", **_KW)
RESUME = flags.DEFINE_bool(
    "resume", False, "Continue the run in --run_dir from its last "
    "checkpoint.", **_KW)
PROGRESS = flags.DEFINE_bool("progress", True, "Show a progress bar.", **_KW)
DATA_PARALLEL = flags.DEFINE_bool(
    "data_parallel", False, "Shard seeds (or environments) over all "
    "devices with jax.sharding.", **_KW)
COORDINATOR = flags.DEFINE_string(
    "coordinator_address", "", "Multi-host: host:port of process 0 "
    "(enables jax.distributed).", **_KW)
NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", 1, "Multi-host: number of processes.", **_KW)
PROCESS_ID = flags.DEFINE_integer(
    "process_id", 0, "Multi-host: this process's index.", **_KW)


def run_settings() -> RunSettings:
  """Reads the shared flags into a validated :class:`RunSettings`."""
  return RunSettings(
      run_dir=RUN_DIR.value, seed=SEED.value, num_seeds=NUM_SEEDS.value,
      log_every=LOG_EVERY.value, checkpoint_every=CHECKPOINT_EVERY.value,
      resume=RESUME.value, progress=PROGRESS.value,
      data_parallel=DATA_PARALLEL.value)


def default_intervals(settings: RunSettings, *, env_steps_per_iteration: int,
                      log_env_steps: int,
                      checkpoint_env_steps: int) -> RunSettings:
  """``--log_every`` / ``--checkpoint_every`` in iterations, unless given
  on the command line: about every ``log_env_steps`` /
  ``checkpoint_env_steps`` environment steps (iterations differ in size
  between methods)."""
  changes = {}
  if not flags.FLAGS["log_every"].present:
    changes["log_every"] = max(
        1, round(log_env_steps / env_steps_per_iteration))
  if not flags.FLAGS["checkpoint_every"].present:
    changes["checkpoint_every"] = max(
        1, round(checkpoint_env_steps / env_steps_per_iteration))
  return dataclasses.replace(settings, **changes)


def quiet_logging() -> None:
  """Logs warnings and errors only, unless ``--verbosity`` was given.

  Orbax logs a dozen INFO lines per checkpoint and JAX one per missing
  backend; a launcher's output should be its progress bar and results.
  """
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)


def initialize_distributed() -> bool:
  """Calls ``jax.distributed.initialize`` if ``--coordinator_address`` is
  set (see :func:`agents.actor_critic.sharding.maybe_initialize_distributed`
  for the checks); returns whether it did."""
  from agents.actor_critic.sharding import maybe_initialize_distributed

  return maybe_initialize_distributed(
      coordinator_address=COORDINATOR.value,
      num_processes=NUM_PROCESSES.value, process_id=PROCESS_ID.value)


def snapshot_defaults(namespace: dict) -> dict[str, object]:
  """The defaults of the flags a launcher module has just defined.

  Launchers share flag names (``--method``, ``--steps``, ...) with
  ``allow_override``, so when several are imported into one process (tests,
  notebooks) the last definition's default would apply to all. A launcher
  takes this snapshot right after its flag definitions and passes it to
  :func:`apply_defaults` in ``build_config()``.

  Args:
    namespace: the launcher module's ``globals()``; its ``FlagHolder`` s
      and dicts of them are recorded.
  """
  holders = []
  for value in list(namespace.values()):
    if isinstance(value, flags.FlagHolder):
      holders.append(value)
    elif isinstance(value, dict):
      holders += [v for v in value.values() if isinstance(v, flags.FlagHolder)]
  return {h.name: h.default for h in holders}


def apply_defaults(defaults: dict[str, object]) -> None:
  """Restores a launcher's own defaults (see :func:`snapshot_defaults`);
  flags given on the command line or set explicitly keep their values."""
  for name, default in defaults.items():
    flags.FLAGS.set_default(name, default)
