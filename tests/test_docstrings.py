"""Every public symbol has a docstring (stands in for optax's coverage check).

Walks every module of the project's packages and checks each public function
and class defined there (and each public method of those classes).
"""

import importlib
import inspect
import pkgutil

import pytest

PACKAGES = ["bootstrap_meta", "tasks", "agents", "launch"]


def _modules():
  for name in PACKAGES:
    pkg = importlib.import_module(name)
    yield pkg
    for info in pkgutil.walk_packages(pkg.__path__, prefix=name + "."):
      yield importlib.import_module(info.name)


def _public_symbols():
  for module in _modules():
    for name, obj in vars(module).items():
      if name.startswith("_") or getattr(obj, "__module__", None) != (
          module.__name__):
        continue
      if inspect.isfunction(obj) or inspect.isclass(obj):
        yield f"{module.__name__}.{name}", obj
        if inspect.isclass(obj):
          for attr, member in vars(obj).items():
            if not attr.startswith("_") and inspect.isfunction(member):
              yield f"{module.__name__}.{name}.{attr}", member


def test_modules_have_docstrings():
  missing = [m.__name__ for m in _modules() if not (m.__doc__ or "").strip()]
  assert not missing, f"Modules without a docstring: {missing}"


def test_public_symbols_have_docstrings():
  missing = [name for name, obj in _public_symbols()
             if not (inspect.getdoc(obj) or "").strip()]
  assert not missing, f"Public symbols without a docstring: {missing}"


@pytest.mark.parametrize("name", ["bootstrap_meta"])
def test_all_exports_exist_and_are_documented(name):
  pkg = importlib.import_module(name)
  for symbol in pkg.__all__:
    obj = getattr(pkg, symbol)
    assert (inspect.getdoc(obj) or "").strip(), symbol
