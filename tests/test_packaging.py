"""The built distribution is the library alone, and it installs and imports.

``python -m build`` (sdist, then the wheel built from the sdist) runs on a
copy of the checkout. The wheel must hold one top-level import name,
``bootstrap_meta`` (with ``py.typed`` and the licence), and require only
jax, jaxlib, optax and numpy outside the extras; the sdist must hold no
research-stack or test directory. The wheel is then installed with
``--no-deps`` into a fresh virtual environment that borrows jax, optax and
numpy from the running interpreter through a ``.pth`` file (nothing is
downloaded but the build backend), and imported from outside the checkout:
``bootstrap_meta`` comes from that environment and works, while ``agents``,
``tasks`` and ``launch`` are not importable.

Needs ``build`` (the ``dev`` extra): skipped without it, except in CI.
"""

import email.parser
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_CORE_REQUIREMENTS = {"jax", "jaxlib", "numpy", "optax"}
_RESEARCH_STACK = ("agents", "tasks", "launch")
_IGNORED = shutil.ignore_patterns(
    ".git", ".venv", ".ci-venv", "_build", "runs", "results", "build", "dist",
    "*.egg-info", "__pycache__", ".hypothesis", ".ruff_cache",
    ".pytest_cache", ".ipynb_checkpoints")

_IMPORT_CHECK = """
import importlib.metadata, importlib.util, json, sys
import jax, jax.numpy as jnp, optax
import bootstrap_meta as bm

tx = bm.meta_learned(optax.sgd, learned={"learning_rate": bm.positive(0.1)},
                     meta_optimizer=optax.adam(1e-2))
loss = lambda p: jnp.sum(p ** 2)
params = jnp.ones(3)
state = tx.init(params)
updates, state = tx.update(jax.grad(loss)(params), state, params,
                           value_fn=loss)
dist = importlib.metadata.distribution("bootstrap_meta")
print(json.dumps({
    "file": bm.__file__,
    "prefix": sys.prefix,
    "version": bm.__version__,
    "learning_rate": float(state.hyperparams["learning_rate"]),
    "top_level": dist.read_text("top_level.txt").split(),
    "importable": [n for n in %r if importlib.util.find_spec(n)],
}))
"""


def _require_build() -> None:
  try:
    import build  # noqa: F401
  except ImportError:
    if os.environ.get("CI"):
      pytest.fail("`build` is missing in CI (the dev extra installs it).")
    pytest.skip("`build` is not installed (pip install -e '.[dev]').")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
  proc = subprocess.run(command, capture_output=True, text=True,
                        timeout=600, check=False, **kwargs)
  assert proc.returncode == 0, (command, proc.stdout[-3000:],
                                proc.stderr[-3000:])
  return proc


def _requirement_name(spec: str) -> str:
  return re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> pathlib.Path:
  """``python -m build`` of a copy of the checkout: sdist, then the wheel."""
  _require_build()
  tmp = tmp_path_factory.mktemp("packaging")
  src = tmp / "src"
  shutil.copytree(_ROOT, src, ignore=_IGNORED)
  out = tmp / "dist"
  _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)])
  return out


def test_wheel_holds_only_bootstrap_meta(dist):
  (wheel,) = dist.glob("*.whl")
  with zipfile.ZipFile(wheel) as zf:
    names = zf.namelist()
    info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
    record = zf.read(f"{info}/RECORD").decode()
    top_level = zf.read(f"{info}/top_level.txt").decode().split()
    metadata = email.parser.Parser().parsestr(
        zf.read(f"{info}/METADATA").decode())
  assert {n.split("/")[0] for n in names} == {"bootstrap_meta", info}
  recorded = {line.split(",")[0].split("/")[0]
              for line in record.splitlines() if line}
  assert recorded == {"bootstrap_meta", info}
  assert top_level == ["bootstrap_meta"]
  assert "bootstrap_meta/py.typed" in names
  assert f"{info}/licenses/LICENSE" in names

  requires = metadata.get_all("Requires-Dist")
  core = {_requirement_name(r) for r in requires if "extra ==" not in r}
  assert core == _CORE_REQUIREMENTS, core
  assert metadata["License-Expression"] == "Apache-2.0"
  assert "Typing :: Typed" in metadata.get_all("Classifier")
  urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
  assert {"Homepage", "Source", "Documentation"} <= set(urls), urls


def test_sdist_holds_the_library_not_the_research_stack(dist):
  (sdist,) = dist.glob("*.tar.gz")
  with tarfile.open(sdist) as tf:
    names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
  assert {"LICENSE", "README.md", "pyproject.toml", "CHANGELOG.md",
          "bootstrap_meta/__init__.py", "bootstrap_meta/py.typed"} <= names
  tops = {n.split("/")[0] for n in names}
  assert not tops & {*_RESEARCH_STACK, "tests", "docs", "notebooks"}, tops


def test_wheel_installs_and_imports_outside_the_checkout(dist, tmp_path):
  (wheel,) = dist.glob("*.whl")
  env = tmp_path / "venv"
  # No PYTHONPATH and a directory outside the checkout: neither pip nor the
  # import may see the checkout's own `bootstrap_meta`.
  clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  outside = tmp_path / "elsewhere"
  outside.mkdir()
  _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
  python = env / "bin" / "python"
  purelib = pathlib.Path(_run([str(python), "-c", (
      "import sysconfig; print(sysconfig.get_paths()['purelib'])")],
                              cwd=outside, env=clean_env).stdout.strip())
  _run([sys.executable, "-m", "pip", "--python", str(python), "install",
        "--no-deps", "--no-index", "--no-compile", "--ignore-installed",
        "--quiet", str(wheel)], cwd=outside, env=clean_env)
  # jax, optax and numpy (and what they import) from this interpreter.
  borrowed = {sysconfig.get_paths()["purelib"],
              sysconfig.get_paths()["platlib"]}
  (purelib / "_borrowed_deps.pth").write_text(
      "".join(f"{path}\n" for path in sorted(borrowed)))
  proc = _run([str(python), "-c", _IMPORT_CHECK % (_RESEARCH_STACK,)],
              cwd=outside, env=clean_env)
  report = json.loads(proc.stdout.strip().splitlines()[-1])
  assert pathlib.Path(report["file"]).is_relative_to(purelib), report
  assert report["top_level"] == ["bootstrap_meta"]
  assert report["importable"] == [], report
  assert report["learning_rate"] > 0
