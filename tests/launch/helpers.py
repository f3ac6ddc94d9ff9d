"""Helpers shared by the launcher tests: run settings, metric rows and the
exact-resume check."""

import json
import shutil

from launch.loop import RunSettings

__all__ = ["AGENT_FLAGS", "check_resume", "rows_of", "settings", "strip"]

#: Every agent flag, so that tests do not depend on which launcher (they
#: share flag names) was imported last.
AGENT_FLAGS = dict(core="mlp", method="none", learned=[], K=1, L=2,
                   steps=1000, num_envs=2, unroll_length=8, width=8,
                   num_layers=1, learning_rate=1e-3, discount=0.5,
                   lambda_=0.95, entropy_weight=1e-3, dt_min=0.01,
                   dt_max=1.0, variant="", loss="a2c", ppo_epochs=4,
                   num_minibatches=1, ppo_clip=0.2, clip_value=True,
                   normalize_advantages=True, anneal_lr=False,
                   adam_eps=1e-8, value_weight=0.5, max_grad_norm=1.0,
                   gae_lambda=None, encoder_sizes=[], head_sizes=[],
                   activation="leaky_relu", hidden_gain=2.0 ** 0.5,
                   head_gain=0.0, ssm_size=0, core_input_projection=True,
                   clip_eigs=False, max_timescale=0.0, no_reset=False,
                   meta_learning_rate=1e-3,
                   outer_entropy_weight=0.0, outer_discount=0.99,
                   outer_lambda=0.95)


def settings(path, *, resume=False, num_seeds=2):
  """Logs every iteration, checkpoints every 2."""
  return RunSettings(run_dir=str(path), num_seeds=num_seeds, log_every=1,
                     checkpoint_every=2, resume=resume, progress=False)


def rows_of(path):
  """The metric rows of a run directory."""
  return [json.loads(x) for x in (path / "metrics.jsonl").read_text()
          .splitlines()]


def strip(rows):
  """Rows without the wall-clock column."""
  return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def check_resume(full, cut, run, config_at, *, checkpoint, sub=""):
  """Copies the finished run ``full`` to ``cut``, deletes the checkpoint
  ``checkpoint`` (a path under ``cut``, as if the run was killed after
  logging but before checkpointing), resumes it and checks that the rows of
  ``<cut>/<sub>`` equal the uninterrupted run's."""
  shutil.copytree(full, cut)
  shutil.rmtree(cut / checkpoint)
  (cut / "summary.json").unlink()
  run(config=config_at(cut, resume=True))
  assert strip(rows_of(cut / sub)) == strip(rows_of(full / sub))
