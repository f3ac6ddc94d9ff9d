"""``--data_parallel`` in the launchers: seeds sharded over 4 forced host
devices give the metrics of the same seeds on one device."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from launch.actor_critic import seed_placement

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_SCRIPT = """
import sys
from agents.actor_critic.config import ActorCriticConfig
from launch.actor_critic import run_experiment
from launch.loop import RunSettings
import jax
seeds = int(sys.argv[3])
agent = ActorCriticConfig(core="mlp", width=8, num_envs=4, unroll_length=8,
                          num_updates=4)
run_experiment(experiment="dp", agent=agent, settings=RunSettings(
    run_dir=sys.argv[1], num_seeds=seeds, log_every=2, checkpoint_every=0,
    progress=False, data_parallel=sys.argv[2] == "1"))
print("devices", jax.device_count())
"""


def _run(run_dir, devices: int, seeds: int):
  env = dict(os.environ, PYTHONPATH=str(_ROOT),
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  out = subprocess.run(
      [sys.executable, "-c", _SCRIPT, str(run_dir), str(int(devices > 1)),
       str(seeds)],
      env=env, capture_output=True, text=True, timeout=300, check=True)
  assert f"devices {devices}" in out.stdout
  rows = [json.loads(x) for x in
          (run_dir / "metrics.jsonl").read_text().splitlines()]
  return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


@pytest.mark.parametrize("seeds", [4, 1], ids=["seeds", "envs"])
def test_four_devices_match_one(tmp_path, seeds):
  """4 seeds: one per device; 1 seed: its 4 environments split."""
  one = _run(tmp_path / "one", 1, seeds)
  four = _run(tmp_path / "four", 4, seeds)
  assert len(one) == len(four) == 2 * seeds
  for a, b in zip(one, four, strict=True):
    assert a.keys() == b.keys()
    for key in a:
      if a[key] is None:  # NaN: no episode ended in the chunk.
        assert b[key] is None, key
      else:
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), key


def test_seeds_must_divide_over_devices(monkeypatch):
  import jax

  monkeypatch.setattr(jax, "devices", lambda: ["d0", "d1", "d2"])
  with pytest.raises(ValueError, match="multiple of 3"):
    seed_placement(4)
