"""Launchers on several processes (``jax.distributed`` over gloo on CPU).

``python -m launch.run_bandit --data_parallel`` started as 2 processes with
2 forced host devices each (a 4-device global mesh) writes one run
directory whose metric rows equal those of a 1-process, 1-device run of the
same config (seeds mode: 4 seeds, one per device; envs mode: 1 seed, its 4
environments split over the devices of both processes, the batch means
all-reduced across processes). Resuming the 2-process run after deleting
its last checkpoint continues to the same rows. The run directory code
paths that do not need several processes (a non-primary ``RunDir`` writes
nothing) are checked in this process.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pytest

from launch.rundir import RunDir

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_PROCESSES = 2
_LOCAL_DEVICES = 2
# BMG (K=1, L=1) meta-learning the entropy weight (meta-Adam 0.1: its
# meta-gradients are ~1e-9, below Adam's eps, so 1e-3 moves it by only
# ~3e-6 in 6 iterations): K + L - 1 = 1 new rollout of 8 steps of
# 4 environments per iteration, so --steps=192 is 6 iterations.
_ITERATIONS = 6
_FLAGS = ("--method=bmg", "--context=none", "--L=1", "--steps=192",
          "--meta_learning_rate=0.1",
          "--num_envs=4", "--unroll_length=8", "--width=8", "--log_every=1",
          "--checkpoint_every=2", "--noprogress")
_MODES = {"seeds": 4, "envs": 1}
_TIMEOUT = 900


def _free_port() -> int:
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    return sock.getsockname()[1]


def _launch(run_dir, *, seeds: int, processes: int, extra=()) -> list[str]:
  """Runs the bandit launcher as ``processes`` processes; their stdouts.

  No persistent compilation cache: a process that loads its programs from
  one while another compiles reaches the first cross-process collective
  more than gloo's 30 s rendezvous timeout earlier (seen: "Gloo context
  initialization failed: DEADLINE_EXCEEDED").
  """
  devices = _LOCAL_DEVICES if processes > 1 else 1
  env = dict(os.environ, PYTHONPATH=str(_ROOT), JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  command = [sys.executable, "-m", "launch.run_bandit", *_FLAGS,
             f"--num_seeds={seeds}", f"--run_dir={run_dir}", *extra]
  if processes > 1:
    port = _free_port()
    commands = [command + [
        "--data_parallel", f"--coordinator_address=localhost:{port}",
        f"--num_processes={processes}", f"--process_id={i}"]
        for i in range(processes)]
  else:
    commands = [command]
  procs = [subprocess.Popen(c, cwd=_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
           for c in commands]
  outs = []
  for proc in procs:
    out, err = proc.communicate(timeout=_TIMEOUT)
    assert proc.returncode == 0, err[-3000:]
    outs.append(out)
  return outs


def _rows(run_dir) -> list[dict]:
  rows = [json.loads(x) for x in
          (run_dir / "metrics.jsonl").read_text().splitlines()]
  return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def _assert_rows_close(one, multi):
  """test_data_parallel's scheme: rel 1e-5, abs 1e-7, NaN (None) alike."""
  assert len(one) == len(multi)
  for a, b in zip(one, multi, strict=True):
    assert a.keys() == b.keys()
    for key in a:
      if a[key] is None:
        assert b[key] is None, key
      else:
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), key


@pytest.fixture(scope="module", params=list(_MODES))
def runs(request, tmp_path_factory) -> dict:
  """For one mode: the 1-process run, the 2-process run, and the
  2-process run resumed after deleting its last checkpoint."""
  mode = request.param
  seeds, base = _MODES[mode], tmp_path_factory.mktemp(mode)
  _launch(base / "one", seeds=seeds, processes=1)
  logs = _launch(base / "multi", seeds=seeds, processes=_PROCESSES)
  cut = base / "cut"
  shutil.copytree(base / "multi", cut)
  steps = sorted(int(p.name) for p in (cut / "checkpoints").iterdir()
                 if p.name.isdigit())
  shutil.rmtree(cut / "checkpoints" / str(steps[-1]))
  (cut / "summary.json").unlink()
  _launch(cut, seeds=seeds, processes=_PROCESSES, extra=("--resume",))
  return {"base": base, "seeds": seeds, "logs": logs, "deleted": steps[-1]}


@pytest.mark.slow
def test_two_processes_match_one_device(runs):
  r = runs
  one, multi = _rows(r["base"] / "one"), _rows(r["base"] / "multi")
  # One row per (iteration, seed): process 1 appended nothing.
  assert len(multi) == _ITERATIONS * r["seeds"]
  assert [row["iteration"] for row in multi[::r["seeds"]]] == list(
      range(1, _ITERATIONS + 1))
  _assert_rows_close(one, multi)
  # The comparison is informative: the meta-learned entropy weight moved
  # from its initial 0.1 by far more than the tolerance (rel 1e-5 of 0.1).
  assert abs(multi[-1]["hp/entropy_weight"] - 0.1) > 1e-5


@pytest.mark.slow
def test_one_run_directory_written_once(runs):
  multi = runs["base"] / "multi"
  assert json.loads((multi / "config.json").read_text())["run"][
      "num_seeds"] == runs["seeds"]
  events = [p for p in (multi / "tb").iterdir()
            if p.name.startswith("events.out.tfevents")]
  assert len(events) == 1, events  # Process 1 started no writer.
  for name in ("metrics.csv", "summary.json", "returns.png",
               "hyperparams.png"):
    assert (multi / name).is_file(), name
  summary = json.loads((multi / "summary.json").read_text())
  assert len(summary["final"]) == runs["seeds"]
  assert len(summary["machine"]["devices"]) == _PROCESSES * _LOCAL_DEVICES
  # Both processes ran to the end (exit 0, see _launch); only process 0
  # printed where the outputs are.
  assert str(multi) in runs["logs"][0]
  assert str(multi) not in runs["logs"][1]


@pytest.mark.slow
def test_resume_after_deleting_last_checkpoint(runs):
  base = runs["base"]
  assert runs["deleted"] == _ITERATIONS
  assert _rows(base / "cut") == _rows(base / "multi")
  assert (base / "cut" / "checkpoints" / str(_ITERATIONS)).is_dir()
  assert (base / "cut" / "summary.json").is_file()


def test_non_primary_run_dir_writes_nothing(tmp_path):
  """A process other than 0 keeps rows in memory and writes no file."""
  path = tmp_path / "r"
  run = RunDir(str(path), config={"a": 1}, primary=False)
  run.log([{"iteration": 1, "x": 0.5}], step=1)
  run.write_json("summary.json", {"b": 2})
  assert run.tensorboard() is None
  run.truncate(0)
  run.close()
  assert not path.exists()
  assert run.rows == []


def test_non_primary_run_dir_checks_and_reads(tmp_path):
  """Non-primary processes refuse what process 0 refuses and see its rows."""
  path = tmp_path / "r"
  first = RunDir(str(path), config={"a": 1}, primary=True)
  first.log([{"iteration": 1, "x": 0.5}, {"iteration": 2, "x": 1.5}],
            step=1)
  first.close()
  with pytest.raises(ValueError, match="already holds a run"):
    RunDir(str(path), config={"a": 1}, primary=False)
  with pytest.raises(ValueError, match="a: 1 -> 2"):
    RunDir(str(path), config={"a": 2}, resume=True, primary=False)
  other = RunDir(str(path), config={"a": 1}, resume=True, primary=False)
  other.truncate(1)
  other.close()
  assert other.rows == [{"iteration": 1, "x": 0.5}]
  # The file is process 0's to rewrite: still both rows.
  assert len((path / "metrics.jsonl").read_text().splitlines()) == 2


def test_several_processes_need_data_parallel(monkeypatch):
  import jax

  from agents.actor_critic.config import ActorCriticConfig
  from launch.actor_critic import placement
  from launch.loop import RunSettings

  agent = ActorCriticConfig(core="mlp", width=8, num_envs=4, num_updates=1)
  assert placement(RunSettings(), agent) is None
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  with pytest.raises(ValueError, match="only with --data_parallel"):
    placement(RunSettings(), agent)


def test_only_process_zero_prints_outputs(monkeypatch, capsys, tmp_path):
  import jax

  from launch.actor_critic import print_outputs
  (tmp_path / "a.png").write_bytes(b"")  # Only existing files are listed.
  summary = {"run_dir": str(tmp_path)}
  print_outputs(summary, headline="final 1.0", files=("a.png",))
  printed = capsys.readouterr().out.splitlines()
  assert printed[0] == "final 1.0"
  assert printed[-1] == "  " + os.path.join(tmp_path, "a.png")
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  print_outputs(summary, headline="final 1.0", files=("a.png",))
  assert capsys.readouterr().out == ""
