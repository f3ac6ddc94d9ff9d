"""Every launcher explains itself: ``--help`` lists the shared flags it
honours, and a bad flag value fails while absl parses the command line,
before any compute, with one ``FATAL Flags parsing error`` line naming the
flag and the value (no traceback)."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

from launch import common_flags

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_HINT = "Pass --helpshort or --helpfull to see help on flags."
_SEEDED = ("run_two_colors", "run_bandit", "run_popgym", "run_memory_chain",
           "run_meta_cartpole")


def _launch(launcher: str, *args: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=str(_ROOT))
  return subprocess.run([sys.executable, "-m", f"launch.{launcher}", *args],
                        cwd=_ROOT, env=env, capture_output=True, text=True,
                        timeout=300)


# (launcher, arguments, what the one error line must contain)
_BAD = [
    ("run_two_colors", ["--method=mg", "--entropy_weight=-1"],
     ["entropy_weight=-1.0", "used only with --method=fixed",
      "--initial_entropy_weight"]),
    ("run_bandit", ["--method=sgd"],
     ["--method=sgd", "('fixed', 'mg', 'bmg')"]),
    ("run_popgym", ["--core=transformer"],
     ["--core=transformer", "('gru', 'lstm', 'mlp', 's5')"]),
    ("run_memory_chain", ["--memory_lengths=5,0"],
     ["--memory_lengths=['5', '0']", "integers >= 1"]),
    ("run_meta_cartpole", ["--task=CartPole"],
     ["--task=CartPole", "'MetaStatelessCartPole'"]),
    ("run_q_lambda", ["--method=fixed", "--context=none", "--epsilon=1.5"],
     ["epsilon=1.5", "[0, 1]"]),
    ("run_convex", ["--mus=0.9,1.2"], ["--mus=['0.9', '1.2']", "[0, 1)"]),
    ("run_demo", ["--steps=0"], ["--steps=0", ">= 1"]),
]


@pytest.mark.parametrize("launcher, args, expected", _BAD,
                         ids=[b[0] for b in _BAD])
def test_bad_value_fails_in_one_line_before_compute(tmp_path, launcher, args,
                                                    expected):
  run_dir = tmp_path / "run"
  if launcher != "run_demo":  # The demo writes no run directory.
    args = [*args, f"--run_dir={run_dir}"]
  out = _launch(launcher, *args)
  assert out.returncode != 0
  assert "Traceback" not in out.stderr
  lines = [x for x in out.stderr.splitlines() if x.strip() and x != _HINT]
  assert len(lines) == 1, out.stderr
  assert lines[0].startswith("FATAL Flags parsing error: "), lines
  for text in expected:
    assert text in lines[0], (text, lines[0])
  assert not run_dir.exists()  # Nothing ran.
  assert out.stdout == ""


def _lists(help_text: str, name: str) -> bool:
  return re.search(rf"^\s+--(\[no\])?{name}:", help_text, re.M) is not None


# Run as programs: in one test process the launchers' shared flag names
# are redefined (allow_override), which drops them from absl's per-module
# help lists, so an in-process check would depend on the import order.
@pytest.mark.parametrize("launcher", [*_SEEDED, "run_q_lambda",
                                      "run_convex", "run_demo"])
def test_help_lists_the_shared_flags_the_launcher_reads(launcher):
  out = _launch(launcher, "--help")
  text = out.stdout + out.stderr
  assert "Try --helpfull" in text and "Traceback" not in text
  if launcher in _SEEDED:
    expected = list(common_flags.SHARED)
  elif launcher == "run_q_lambda":  # One device: no multi-host flags.
    expected = [n for n in common_flags.SHARED
                if n not in common_flags.MULTI_HOST]
  elif launcher == "run_convex":  # Fixed problems: no seeds, checkpoints.
    expected = ["run_dir"]
  else:  # run_demo writes no run directory; --seed, --log_every are its own.
    expected = ["seed", "log_every"]
  if launcher in ("run_memory_chain", "run_meta_cartpole"):
    # Agent flags defined through run_popgym.define_agent_flags.
    expected += ["core", "method", "learned", "steps", "width"]
  for name in expected:
    assert _lists(text, name), (launcher, name)
  if launcher in _SEEDED:
    assert _lists(text, "run_dir") and _lists(text, "num_seeds")
  for name in set(common_flags.SHARED) - set(expected):
    assert not _lists(text, name), (launcher, name)


def test_refused_flags_say_why(tmp_path):
  """A flag the launcher ignores is refused with the reason."""
  out = _launch("run_convex", "--num_seeds=3", f"--run_dir={tmp_path / 'x'}")
  (line,) = [x for x in out.stderr.splitlines() if x.strip() and x != _HINT]
  assert line.startswith("FATAL Flags parsing error: flag --num_seeds=3: ")
  assert "reads --run_dir only" in line
  assert out.returncode != 0 and not (tmp_path / "x").exists()
