"""``bench/tuning_free.py``: pooling runs on fresh seeds, learned decay."""

import json

import jax
import numpy as np
import pytest

from tests.results_scripts import load


@pytest.fixture(scope="module")
def bench():
  return load("tuning_free.py", folder="bench")


def _rows(seed, grid, arm, seconds):
  base = dict(problem="p", init_loss=[9.0, 9.0], seed=seed)
  return [dict(base, arm="adam_0.01", loss=grid[0], lr=0.01),
          dict(base, arm="adam_0.03", loss=grid[1], lr=0.03),
          dict(base, arm="adam_1e-3", loss=grid[0], seconds=1.0),
          dict(base, arm="mine", loss=arm, lr=[0.02, 0.02],
               seconds=seconds)]


def _write(path, rows):
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return str(path)


def test_pool_concatenates_seeds_and_rates_against_the_pooled_grid(
    bench, tmp_path):
  # Seed 0 alone: best grid mean 1.0 (0.01), "mine" 1.0 -> ratio 1.0.
  # Pooled: grid means (1 + 3) / 2 = 2.0 and (2 + 2) / 2 = 2.0 -> best 2.0;
  # "mine" (1 + 5) / 2 = 3.0 -> ratio 1.5; time (2 + 4) / (1 + 1) = 3.0.
  a = _write(tmp_path / "a.jsonl",
             _rows(0, ([1.0, 1.0], [2.0, 2.0]), [1.0, 1.0], 2.0))
  b = _write(tmp_path / "b.jsonl",
             _rows(1, ([3.0, 3.0], [2.0, 2.0]), [5.0, 5.0], 4.0))
  rows = bench.pool([a, b])
  mine = next(r for r in rows if r["arm"] == "mine")
  assert mine["loss"] == [1.0, 1.0, 5.0, 5.0] and mine["seed"] == [0, 1]
  assert mine["lr"] == [0.02] * 4
  summary = {s["arm"]: s for s in bench.summarise(rows)}
  assert summary["mine"]["ratio"] == pytest.approx(1.5)
  assert summary["mine"]["time_ratio"] == pytest.approx(3.0)
  assert summary["adam_0.03_grid"]["ratio"] == pytest.approx(1.0)


def test_pool_refuses_files_of_the_same_seed(bench, tmp_path):
  rows = _rows(0, ([1.0, 1.0], [2.0, 2.0]), [1.0, 1.0], 2.0)
  a = _write(tmp_path / "a.jsonl", rows)
  b = _write(tmp_path / "b.jsonl", rows)
  with pytest.raises(ValueError, match="share seeds"):
    bench.pool([a, b])


def test_learned_weight_decay_arm_reports_its_decay(bench):
  """A ``split_wd*`` arm learns AdamW's decay on the held-out split."""
  problem = next(p for p in bench.problems.all_problems()
                 if p.name == "illcond_linear")
  name = "split_wd3e-2_lr2e-2"
  with jax.numpy_rank_promotion("allow"):  # the bench's models broadcast
    loss, learned = bench.train(problem, bench.ARMS[name](),
                                jax.random.key(0), 5, name)
    plain = bench.train(problem, bench.ARMS["ho_lr2e-2"](),
                        jax.random.key(0), 2, "ho_lr2e-2")[1]
  assert np.isfinite(float(loss))
  # Five meta-steps of meta-Adam 1e-2 move log(decay) by at most ~0.05.
  assert float(learned["wd"]) != pytest.approx(3e-2, rel=1e-6)
  assert abs(np.log(float(learned["wd"]) / 3e-2)) < 0.06
  assert np.isnan(float(plain["wd"])) and np.isfinite(float(plain["lr"]))
