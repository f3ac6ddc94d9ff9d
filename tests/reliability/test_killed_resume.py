"""Exact resume after a real SIGKILL, atomic checkpoints, config checks.

A tiny MG actor-critic run (:mod:`tests.reliability._tiny_run`, through
``launch.actor_critic.run_experiment``: the launchers' runner) is started as
a separate process and killed with SIGKILL (1) after it has logged metric
rows past its first checkpoint and (2) in the middle of writing its second
checkpoint (files written, atomic rename pending). Resuming it (again a
process, with ``--resume``) must reproduce every metric row of an
uninterrupted run (all columns but ``wall_s`` exactly; the meta-loss and
meta-gradient norm to 1e-6, see ``_REDUCTIONS``), and (2) must resume
from the previous complete checkpoint. The processes share a JAX
compilation cache, so only the first one compiles. Resuming with a changed
config fails with a message naming the change.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from launch.rundir import RunDir
from tests.reliability import _tiny_run

_REPO = pathlib.Path(__file__).resolve().parents[2]
_TIMEOUT_S = 3600  # Only guards against hangs: the CI machine is shared.

#: What each test of this module checks, for RELIABILITY.md.
RESUME_CHECKS = [
    "SIGKILL after rows were logged past the first checkpoint; resume "
    "truncates them and recomputes: rows equal the uninterrupted run's",
    "SIGKILL during a checkpoint write (after the files, before orbax's "
    "atomic rename); resume uses the previous complete checkpoint: rows "
    "equal the uninterrupted run's",
    "resume with a changed config raises ValueError naming the change, "
    "before any compute",
]


# Scalar reductions that XLA:CPU may sum in another order in another
# process (seen: 1 float32 ulp between two uninterrupted runs started with
# different environment variables); every other column must be equal.
_REDUCTIONS = ("meta_loss", "meta_grad_norm")


def _assert_same_rows(rows: list[dict], reference: list[dict]) -> None:
  assert len(rows) == len(reference)
  for row, ref in zip(rows, reference, strict=True):
    assert sorted(row) == sorted(ref)
    assert {k: v for k, v in row.items() if k not in _REDUCTIONS} == {
        k: v for k, v in ref.items() if k not in _REDUCTIONS}
    for k in _REDUCTIONS:
      assert row[k] == pytest.approx(ref[k], rel=1e-6, abs=0.0)


def _rows(run_dir: pathlib.Path) -> list[dict]:
  lines = (run_dir / "metrics.jsonl").read_text().splitlines()
  return [{k: v for k, v in json.loads(x).items() if k != "wall_s"}
          for x in lines if x.strip()]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> pathlib.Path:
  """A JAX compilation cache shared by this module's processes (the runs
  compile the same programs; only the first one pays)."""
  return tmp_path_factory.mktemp("jax_cache")


def _start(run_dir: pathlib.Path, cache: pathlib.Path,
           *flags: str) -> subprocess.Popen:
  env = {**os.environ, "PYTHONPATH": str(_REPO), "JAX_PLATFORMS": "cpu",
         "JAX_COMPILATION_CACHE_DIR": str(cache),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
         "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
  with open(str(run_dir) + ".log", "w") as log:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._tiny_run", str(run_dir),
         *flags], cwd=_REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def _complete(run_dir: pathlib.Path, cache: pathlib.Path,
              *flags: str) -> None:
  """Runs the tiny run to its end in a fresh process."""
  proc = _start(run_dir, cache, *flags)
  if proc.wait(timeout=_TIMEOUT_S) != 0:
    log = pathlib.Path(str(run_dir) + ".log").read_text()
    pytest.fail(f"The run failed ({proc.returncode}):\n{log[-3000:]}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache) -> pathlib.Path:
  """An uninterrupted run."""
  run_dir = tmp_path_factory.mktemp("reference") / "run"
  _complete(run_dir, cache)
  return run_dir


def _kill_when(marker: pathlib.Path, proc: subprocess.Popen) -> None:
  """Waits for ``marker`` to appear, then SIGKILLs ``proc``."""
  deadline = time.time() + _TIMEOUT_S
  while not marker.exists():
    if proc.poll() is not None:
      log = pathlib.Path(str(marker)[:-len(".hang")] + ".log").read_text()
      pytest.fail(f"The run exited ({proc.returncode}) early:\n{log[-3000:]}")
    if time.time() > deadline:
      proc.kill()
      pytest.fail("The run did not reach the kill point in time.")
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  assert proc.wait(timeout=60) == -signal.SIGKILL


def test_sigkill_after_checkpoint_then_resume_is_exact(tmp_path, reference,
                                                       cache):
  run_dir = tmp_path / "run"
  proc = _start(run_dir, cache, "--pause_after_log", "6")
  _kill_when(pathlib.Path(str(run_dir) + ".hang"), proc)
  killed_rows = _rows(run_dir)
  assert killed_rows[-1]["iteration"] == 6  # Logged past checkpoint 4.
  assert not (run_dir / "summary.json").exists()
  assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()
                if p.name.isdigit()) == ["4"]
  _complete(run_dir, cache, "--resume")
  _assert_same_rows(_rows(run_dir), _rows(reference))
  assert len(_rows(run_dir)) == 2 * _tiny_run.NUM_UPDATES // 2  # 2 seeds.


def test_sigkill_during_checkpoint_write_resumes_from_previous(tmp_path,
                                                               reference,
                                                               cache):
  run_dir = tmp_path / "run"
  proc = _start(run_dir, cache, "--hang_at", "8")
  marker = pathlib.Path(str(run_dir) + ".hang")
  _kill_when(marker, proc)
  torn = pathlib.Path(marker.read_text())
  assert torn.is_dir() and any(torn.iterdir())  # A half-committed write.
  assert not (run_dir / "checkpoints" / "8").exists()
  config = json.loads((run_dir / "config.json").read_text())
  run = RunDir(str(run_dir), config=config, resume=True)
  try:
    assert run.latest() == 4  # The torn step 8 is not a checkpoint.
  finally:
    run.close()
  _complete(run_dir, cache, "--resume")
  _assert_same_rows(_rows(run_dir), _rows(reference))
  assert (run_dir / "checkpoints" / "12").is_dir()


def test_resume_with_another_config_fails_clearly(reference):
  before = (reference / "metrics.jsonl").read_text()
  with pytest.raises(ValueError, match=r"different config.*width: 16 -> 32"):
    _tiny_run.run(str(reference), resume=True, width=32)
  assert (reference / "metrics.jsonl").read_text() == before
