"""Loads the scripts of ``results/`` (not a package) as modules for tests."""

import importlib.util
import pathlib
import types

_ROOT = pathlib.Path(__file__).resolve().parents[1] / "results"


def load(relative: str) -> types.ModuleType:
  """The module of ``results/<relative>`` (e.g. ``"ppo/trials.py"``)."""
  path = _ROOT / relative
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
