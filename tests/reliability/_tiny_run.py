"""A tiny actor-critic run (MG on RepeatPreviousEasy) for the kill tests.

Run as a process that the tests kill::

  python -m tests.reliability._tiny_run RUN_DIR [--resume] [--hang_at N]
      [--pause_after_log N]

``--hang_at N`` makes the checkpoint of iteration ``N`` hang just before
orbax commits it (its files are written into orbax's temporary directory;
the atomic rename has not happened); ``--pause_after_log N`` pauses right
after the metric rows of iteration ``N`` are written. Either way the
process writes ``RUN_DIR.hang`` and sleeps, so that a test can kill it at
that point.
"""

from __future__ import annotations

import argparse
import pathlib
import time

NUM_UPDATES = 12
LOG_EVERY = 2
CHECKPOINT_EVERY = 4


def run(run_dir: str, *, resume: bool = False, width: int = 16,
        progress: bool = False):
  """Trains the tiny agent into ``run_dir`` (see module docstring)."""
  from agents.actor_critic.config import ActorCriticConfig
  from launch.actor_critic import run_experiment
  from launch.loop import RunSettings

  agent = ActorCriticConfig(
      task="RepeatPreviousEasy", core="mlp", width=width, num_envs=4,
      unroll_length=8, num_updates=NUM_UPDATES, method="mg", K=1,
      learned=("entropy_weight", "learning_rate"))
  settings = RunSettings(run_dir=run_dir, seed=3, num_seeds=2,
                         log_every=LOG_EVERY,
                         checkpoint_every=CHECKPOINT_EVERY, resume=resume,
                         progress=progress)
  return run_experiment(experiment="reliability", agent=agent,
                        settings=settings, extra={"variant": "tiny-mg"})


def _hang_at(step: int, marker: pathlib.Path) -> None:
  """Makes orbax's commit (the atomic rename) of ``step`` hang."""
  from orbax.checkpoint._src.path import atomicity

  finalize = atomicity.AtomicRenameTemporaryPath.finalize

  async def hanging(self):
    if self.get_final().name == str(step):
      marker.write_text(str(self.get()))
      time.sleep(3600)
    return await finalize(self)

  atomicity.AtomicRenameTemporaryPath.finalize = hanging


def _pause_after_log(iteration: int, marker: pathlib.Path) -> None:
  """Makes the run sleep after logging the rows of ``iteration``."""
  from launch.rundir import RunDir

  log = RunDir.log

  def pausing(self, rows, *, step):
    log(self, rows, step=step)
    if rows[0]["iteration"] == iteration:
      marker.write_text(str(iteration))
      time.sleep(3600)

  RunDir.log = pausing


def main() -> None:
  """Command-line entry point."""
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("run_dir")
  parser.add_argument("--resume", action="store_true")
  parser.add_argument("--hang_at", type=int, default=0)
  parser.add_argument("--pause_after_log", type=int, default=0)
  args = parser.parse_args()
  marker = pathlib.Path(args.run_dir + ".hang")
  if args.hang_at:
    _hang_at(args.hang_at, marker)
  if args.pause_after_log:
    _pause_after_log(args.pause_after_log, marker)
  run(args.run_dir, resume=args.resume)


if __name__ == "__main__":
  main()
