"""``results/ppo/trials.py``: pooled seeds, trial groups and their intervals."""

import json

import numpy as np
import pytest

from tests.results_scripts import load


@pytest.fixture(scope="module")
def trials():
  return load("ppo/trials.py")


def _write(run_dir, per_seed, per_seed_16=None):
  run_dir.mkdir()
  payload = {"32": {"per_seed": per_seed, "mean": [], "completed": []}}
  if per_seed_16 is not None:
    payload["16"] = {"per_seed": per_seed_16, "mean": [], "completed": []}
  (run_dir / "trial_returns.json").write_text(json.dumps(payload))


def test_seeds_of_several_directories_are_pooled(trials, tmp_path):
  _write(tmp_path / "a", [[0.0] * 32, [1.0] * 32])
  _write(tmp_path / "b", [[2.0] * 32])
  pooled = trials.load([str(tmp_path / "a"), str(tmp_path / "b")])
  assert pooled.shape == (3, 32)
  np.testing.assert_array_equal(pooled[:, 0], [0.0, 1.0, 2.0])


def test_row_by_hand(trials):
  # Seed s earns 0.1 * s + 0.01 * trial up to trial 16, then stays flat.
  trial = np.minimum(np.arange(1, 33), 16)
  per_seed = np.stack([0.1 * s + 0.01 * trial for s in range(3)])
  np.testing.assert_allclose(
    trials.group(per_seed, 1, 4), [0.025, 0.125, 0.225])
  cells = [c.strip() for c in trials.row("x", per_seed).split("|")[1:-1]]
  # 1-4: mean 0.125, sd 0.1, half = t(0.975, 2) * 0.1 / sqrt(3) = 0.248.
  assert cells[:4] == ["x", "3", "16", "0.125 ± 0.248"]
  assert cells[6] == "0.120 ± 0.000"  # 13-16 minus 1-4: 14.5 - 2.5 trials
  assert cells[7] == "0.015 ± 0.000"  # 29-32 (= 16) minus 13-16 (14.5)
  assert cells[8] == "0.0000 ± 0.0000"  # flat past the horizon
  assert cells[9] == "no"  # the seeds' spread hides the rise
  tight = np.stack([0.001 * s + 0.01 * trial for s in range(3)])
  assert trials.row("y", tight).endswith("| yes |")


def test_seed_rows_by_hand(trials, tmp_path):
  # One seed: 0.1 per trial in 1-4, 0.3 from trial 5 on; another flat 0.2.
  rising = [0.1] * 4 + [0.3] * 28
  flat = [0.2] * 32
  _write(tmp_path / "a", [rising, flat], [rising[:16], flat[:16]])
  per_seed = trials.load([str(tmp_path / "a")])
  episode = trials.load([str(tmp_path / "a")], num_trials=16).sum(axis=1)
  np.testing.assert_allclose(episode, [4 * 0.1 + 12 * 0.3, 16 * 0.2])
  (tmp_path / "a" / "config.json").write_text(
    json.dumps({"run": {"seed": 10, "num_seeds": 2}}))
  _write(tmp_path / "b", [flat])
  seeds = trials.seed_numbers([str(tmp_path / "a"), str(tmp_path / "b")])
  assert seeds == [10, 11, 0]  # b has no config.json: counted from 0
  rows = trials.seed_rows("x", per_seed, episode, seeds)
  assert rows == [
    "| x | 10 | 0.100 | 0.300 | 0.300 | +0.200 | +0.000 | 4.00 |",
    "| x | 11 | 0.200 | 0.200 | 0.200 | +0.000 | +0.000 | 3.20 |",
  ]


def test_row_of_a_32_trial_horizon_by_hand(trials):
  # Rises 0.01 per trial to trial 24, then falls 0.004 per trial to 64.
  t = np.arange(1, 65)
  curve = np.where(t <= 24, 0.01 * t, 0.24 - 0.004 * (t - 24))
  per_seed = np.stack([curve + 0.002 * s for s in range(3)])
  assert trials.groups(32) == ((1, 4), (29, 32), (61, 64))
  cells = [c.strip() for c in trials.row("x", per_seed, 32).split("|")[1:-1]]
  assert cells[2] == "32"
  # 29-32: 0.24 - 0.004 * 6.5 + 0.002 (mean offset); half-width
  # t(0.975, 2) * 0.002 / sqrt(3) = 0.005.
  assert cells[4] == "0.216 ± 0.005"
  assert cells[6] == "0.189 ± 0.000"  # 29-32 minus 1-4 (0.025)
  assert cells[7] == "-0.128 ± 0.000"  # 61-64 minus 29-32: 32 trials down
  assert cells[8] == "-0.0040 ± 0.0000"  # slope over trials 33-64


def test_horizon_of_reads_the_runs_task(trials, tmp_path):
  for name, task in (("a", "MetaStatelessCartPolePopjaxrl32Trials"),
                     ("b", "MetaStatelessCartPolePopjaxrl")):
    (tmp_path / name).mkdir()
    (tmp_path / name / "config.json").write_text(
      json.dumps({"agent": {"task": task}}))
  (tmp_path / "c").mkdir()  # no config.json: the default 16
  assert trials.horizon_of([str(tmp_path / "a")]) == 32
  assert trials.horizon_of([str(tmp_path / "b"), str(tmp_path / "c")]) == 16
  with pytest.raises(ValueError, match=r"different numbers.*\[16, 32\]"):
    trials.horizon_of([str(tmp_path / "a"), str(tmp_path / "b")])


def test_row_of_one_seed_says_it_has_no_interval(trials):
  # One seed earning 0.01 per trial index: 1-4 averages 0.025, 13-16 0.145.
  per_seed = 0.01 * np.arange(1, 33)[None, :]
  cells = [c.strip() for c in trials.row("x", per_seed).split("|")[1:-1]]
  assert cells[1] == "1"
  assert cells[3] == "0.025 (no interval: 1 seed)"
  assert cells[6] == "0.120 (no interval: 1 seed)"  # 13-16 minus 1-4
  assert cells[8] == "0.0100 (no interval: 1 seed)"  # slope past 16
  assert cells[9] == "n/a"  # disjointness needs two intervals
