"""Every ``bench/`` script starts as its docstring says: ``python bench/X.py``.

``agents``, ``tasks`` and ``launch`` are not installed (the wheel holds only
``bootstrap_meta``), so a script run by path must put the repository root on
``sys.path`` itself. Each script is started from a directory outside the
checkout, with ``PYTHONPATH`` unset, and asked for ``--help``: its imports
must resolve (absl's ``--help`` exits 1, argparse's 0; the policy-saturation
script reads ``--help`` as a run directory and fails after its imports).
"""

import os
import pathlib
import subprocess
import sys

import pytest

_BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"
_SCRIPTS = sorted(
  path.name for path in _BENCH.glob("*.py")
  if "__main__" in path.read_text()
)


def test_there_are_scripts_to_check():
  assert "core_throughput.py" in _SCRIPTS and len(_SCRIPTS) >= 8


@pytest.mark.parametrize("script", _SCRIPTS)
def test_script_imports_when_run_by_path(script, tmp_path):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["JAX_PLATFORMS"] = "cpu"
  result = subprocess.run(
    [sys.executable, str(_BENCH / script), "--help"],
    cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
  )
  assert "ModuleNotFoundError" not in result.stderr, result.stderr[-2000:]
  assert "ImportError" not in result.stderr, result.stderr[-2000:]
  if script != "policy_saturation.py":
    assert result.returncode in (0, 1), result.stderr[-2000:]
    assert "--" in result.stdout + result.stderr  # the flags were listed
