"""Run directories and the outer loop: config checks, checkpoint round
trips (typed keys included), metric truncation and exact resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from launch import loop, plots
from launch.rundir import RunDir


def _spec(num_iterations=10):
  """A cheap random-walk 'training' whose state carries a typed key."""

  def init(keys):
    return {"key": keys, "x": jnp.zeros(keys.shape), "i": jnp.zeros(keys.shape)}

  def one(state):
    key, sub = jax.vmap(jax.random.split, out_axes=1)(state["key"])
    x = state["x"] + jax.vmap(jax.random.normal)(sub)
    i = state["i"] + 1
    return {"key": key, "x": x, "i": i}, {"x": x, "i": i, "hp/a": jnp.tanh(x)}

  def chunk(state, n):
    state, metrics = jax.lax.scan(lambda s, _: one(s), state, None, length=n)
    return state, jax.tree.map(lambda m: m.T, metrics)

  return loop.LoopSpec(init=init, chunk=chunk, num_iterations=num_iterations,
                       env_steps_per_iteration=7)


def _settings(path, **kw):
  return loop.RunSettings(run_dir=str(path), num_seeds=3, log_every=2,
                          checkpoint_every=4, progress=False, **kw)


def _run(path, spec, **kw):
  run = RunDir(str(path), config={"a": 1}, resume=kw.get("resume", False))
  try:
    state, _ = loop.run_loop(spec, run=run, settings=_settings(path, **kw))
  finally:
    run.close()
  return state, run


def _strip(rows):
  return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_run_writes_config_metrics_checkpoints(tmp_path):
  state, run = _run(tmp_path / "r", _spec())
  rows = [json.loads(x) for x in
          (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
  assert len(rows) == 3 * 5  # 3 seeds x 5 log steps.
  assert rows[-1]["iteration"] == 10 and rows[-1]["env_steps"] == 70
  # Rows hold chunk means: iterations 9 and 10 in the last chunk.
  assert [r["i"] for r in rows[-3:]] == [9.5] * 3
  assert np.asarray(state["i"]).tolist() == [10.0] * 3
  assert len({r["x"] for r in rows[-3:]}) == 3  # Seeds differ.
  header = (tmp_path / "r" / "metrics.csv").read_text().splitlines()[0]
  assert header.split(",")[:4] == ["iteration", "env_steps", "seed", "wall_s"]
  assert json.loads((tmp_path / "r" / "config.json").read_text()) == {"a": 1}
  assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()
                ) == ["10", "8"]  # max_to_keep = 2 of 4, 8, 10.
  assert list((tmp_path / "r" / "tb").iterdir())
  assert len(plots.plot_run(str(tmp_path / "r"), return_key="x",
                            switch_every=20)) == 2


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
  full, run = _run(tmp_path / "full", _spec())
  reference = _strip(run.rows)
  # A run stopped after 6 iterations: checkpoint at 4, rows up to 6.
  _run(tmp_path / "cut", _spec(num_iterations=6))
  cut = RunDir(str(tmp_path / "cut"), config={"a": 1}, resume=True)
  assert cut.latest() == 6
  cut.close()
  resumed, run = _run(tmp_path / "cut", _spec(), resume=True)
  assert _strip(run.rows) == reference
  np.testing.assert_array_equal(np.asarray(resumed["x"]),
                                np.asarray(full["x"]))
  np.testing.assert_array_equal(jax.random.key_data(resumed["key"]),
                                jax.random.key_data(full["key"]))


def test_truncate_drops_rows_after_the_checkpoint(tmp_path):
  _run(tmp_path / "r", _spec())
  run = RunDir(str(tmp_path / "r"), config={"a": 1}, resume=True)
  run.truncate(4)
  assert {r["iteration"] for r in run.rows} == {2, 4}
  lines = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
  assert len(lines) == 1 + 2 * 3
  run.close()


def test_existing_run_without_resume_raises(tmp_path):
  _run(tmp_path / "r", _spec(num_iterations=2))
  with pytest.raises(ValueError, match="already holds a run"):
    RunDir(str(tmp_path / "r"), config={"a": 1})


def test_resume_with_another_config_names_the_change(tmp_path):
  _run(tmp_path / "r", _spec(num_iterations=2))
  with pytest.raises(ValueError, match=r"a: 1 -> 2"):
    RunDir(str(tmp_path / "r"), config={"a": 2}, resume=True)


def test_resume_without_a_run_raises(tmp_path):
  with pytest.raises(ValueError, match="Nothing to resume"):
    RunDir(str(tmp_path / "none"), config={"a": 1}, resume=True)


def test_restore_rejects_a_state_of_another_shape(tmp_path):
  _run(tmp_path / "r", _spec(num_iterations=2))
  run = RunDir(str(tmp_path / "r"), config={"a": 1}, resume=True)
  with pytest.raises(ValueError, match="shape"):
    run.restore({"key": jax.random.split(jax.random.key(0), 3),
                 "x": jnp.zeros(4)})
  run.close()


def test_restore_of_another_structure_names_it_and_leading_restores(
    tmp_path):
  state, _ = _run(tmp_path / "r", _spec(num_iterations=2))
  run = RunDir(str(tmp_path / "r"), config={"a": 1}, resume=True)
  bigger = {**state, "y": jnp.zeros(3)}  # A field added since the run.
  with pytest.raises(ValueError, match="state structure differs"):
    run.restore(bigger)
  # Its first leaf ("i", in key order) restores alone, with its values.
  step, lead = run.restore({"i": jnp.zeros(3)}, leading=True)
  assert step == 2
  np.testing.assert_array_equal(lead["i"], state["i"])
  run.close()
  # A relabelled run: the checkpoint's config differs in section "b" only.
  (tmp_path / "r" / "config.json").write_text(json.dumps({"a": 1, "b": 2}))
  run = RunDir(str(tmp_path / "r"), config={"a": 1, "b": 2}, resume=True)
  with pytest.raises(ValueError, match="b: None -> 2"):
    run.restore({"i": jnp.zeros(3)}, leading=True)
  assert run.restore({"i": jnp.zeros(3)}, leading=True, ignore=("b",))[0] == 2
  run.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"num_seeds": 0}, "num_seeds"),
    ({"log_every": 0}, "log_every"),
    ({"checkpoint_every": -1}, "checkpoint_every"),
    ({"resume": True}, "run_dir"),
])
def test_bad_settings_raise(kwargs, match):
  with pytest.raises(ValueError, match=match):
    loop.RunSettings(**kwargs)


def test_reduce_chunk_weights_episode_returns_by_episodes():
  out = loop.reduce_chunk({"episode_return": np.array([[1.0, 4.0]]),
                           "episodes": np.array([[1.0, 3.0]]),
                           "loss": np.array([[1.0, 3.0]])})
  assert out["episode_return"][0] == pytest.approx(13.0 / 4.0)
  assert out["episodes"][0] == 4.0 and out["loss"][0] == 2.0
  empty = loop.reduce_chunk({"episode_return": np.zeros((1, 2)),
                             "episodes": np.zeros((1, 2))})
  assert np.isnan(empty["episode_return"][0])
