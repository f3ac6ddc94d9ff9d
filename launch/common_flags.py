"""Flags shared by every launcher, and the launchers' flag validation.

Each launcher imports this module and calls :func:`run_settings` inside its
``build_config()``; the flags are read there, never at import time. The
multi-host flags call ``jax.distributed.initialize`` only when given.

**Help.** absl's ``--help`` lists the flags keyed to the main module only, so
each launcher adopts the shared flags it honours
(``flags.adopt_module_key_flags(common_flags)``, or
``flags.declare_key_flag`` one by one) right after its own definitions.

**Validation.** Each launcher's ``register_validators()`` (called by its
``__main__`` block before ``app.run(main)``) registers
:func:`register_shared_validators` and its own checks, built with
:mod:`launch.flag_checks`, so that a bad value fails while absl parses the
command line, before any compute, as one ``FATAL Flags parsing error`` line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from absl import flags, logging

from launch import flag_checks
from launch.loop import RunSettings

__all__ = ["MULTI_HOST", "SHARED", "default_intervals",
           "initialize_distributed", "quiet_logging",
           "register_shared_validators", "run_settings"]

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


#: Every shared flag, in --help order.
SHARED: tuple[str, ...] = (
    "run_dir", "seed", "num_seeds", "log_every", "checkpoint_every",
    "resume", "progress", "data_parallel", "coordinator_address",
    "num_processes", "process_id")
#: The shared flags that place a run on several devices or processes.
MULTI_HOST: tuple[str, ...] = ("data_parallel", "coordinator_address",
                               "num_processes", "process_id")


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


def register_shared_validators(*, ignored: Sequence[str] = (),
                               why: str = "") -> None:
  """The shared flags' validators.

  Args:
    ignored: flags the launcher does not read (e.g. the multi-host flags of
      a launcher without sharding), refused when given.
    why: the reason, shown with a refused flag.
  """
  flag_checks.at_least(1, "num_seeds", "log_every", "num_processes")
  flag_checks.at_least(0, "checkpoint_every", "process_id")
  flag_checks.rule(["resume", "run_dir"], lambda v: (
      "--resume needs the --run_dir of the run to resume."
      if v["resume"] and not v["run_dir"] else None))
  flag_checks.rule(["process_id", "num_processes"], lambda v: (
      f"--process_id must be < --num_processes ({v['num_processes']})."
      if v["process_id"] >= v["num_processes"] else None))
  for name in ignored:
    flag_checks.refuse(name, why)
