"""Loads the scripts of ``results/`` and ``bench/`` (not packages) for tests."""

import importlib.util
import pathlib
import types

_REPO = pathlib.Path(__file__).resolve().parents[1]


def load(relative: str, folder: str = "results") -> types.ModuleType:
  """The module of ``<folder>/<relative>`` (e.g. ``"ppo/trials.py"``)."""
  path = _REPO / folder / relative
  spec = importlib.util.spec_from_file_location(path.stem, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
