"""The documentation site builds with no warning, renders, and its code runs.

* The site builds with Sphinx, warnings as errors (the command CI and the
  README give), into a temporary directory.
* Headless Chromium (Debian's ``chromium``) opens the built index, the API
  page and the BMG page: a screenshot of each is taken and must show a
  rendered page, and the dumped DOM must hold the page's main heading, on
  the API page the signature of :func:`bootstrap_meta.meta_learned`, and on
  the BMG page equations typeset by the bundled MathJax. The same check
  with a wrong heading must fail.
* The task table is generated: it lists every registered environment.
* Every ``python`` block of the recipes and method pages runs as written,
  and the getting-started example is the README's.

Without Sphinx or Chromium the build and browser tests skip, except in CI
(``CI`` set), where a missing tool is a failure.
"""

import html.parser
import os
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import pytest

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_DOCS = _ROOT / "docs"
_RUNNABLE_PAGES = [_DOCS / "recipes.md", *sorted((_DOCS / "methods").glob(
    "*.md"))]
_BUILD_TIMEOUT_S = 600
_BROWSER_TIMEOUT_S = 120


def _require(ok: bool, what: str) -> None:
  """Skips without ``what``, or fails in CI, where it must be installed."""
  if ok:
    return
  if os.environ.get("CI"):
    pytest.fail(f"{what} is missing in CI (.ci/run installs it).")
  pytest.skip(f"{what} is not installed.")


def _python_blocks(source: pathlib.Path | str) -> list[str]:
  """The ``python`` fenced blocks of a Markdown file (or text)."""
  text = source.read_text() if isinstance(source, pathlib.Path) else source
  return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


# ---------------------------------------------------------------- rendering


class _Page(html.parser.HTMLParser):
  """Collects the text of ``<h1>`` elements and of ``<dt id=...>`` entries."""

  def __init__(self):
    super().__init__()
    self.h1: list[str] = []
    self.signatures: dict[str, str] = {}
    self._open: list[tuple[str, str | None]] = []  # (tag, dt id)

  def handle_starttag(self, tag, attrs):
    if tag in ("h1", "dt"):
      self._open.append((tag, dict(attrs).get("id")))
      if tag == "h1":
        self.h1.append("")
      elif self._open[-1][1]:
        self.signatures[self._open[-1][1]] = ""

  def handle_endtag(self, tag):
    if self._open and self._open[-1][0] == tag:
      self._open.pop()

  def handle_data(self, data):
    for tag, ident in self._open:
      if tag == "h1":
        self.h1[-1] += data
      elif ident:
        self.signatures[ident] += data


def check_rendered(dom: str, *, heading: str,
                   signature: tuple[str, ...] = (), min_equations: int = 0
                   ) -> None:
  """Asserts the page's main heading and, optionally, a signature and math.

  Args:
    dom: the page's DOM as Chromium dumped it.
    heading: the expected text of the first ``<h1>`` (the permalink sign
      is ignored).
    signature: ``(object id, text, …)``: the ``<dt>`` of that id must
      contain every text.
    min_equations: at least this many formulas typeset by MathJax.
  """
  page = _Page()
  page.feed(dom)
  assert page.h1, "no <h1> in the page"
  main = re.sub(r"[#¶\s]+$", "", page.h1[0].strip())
  assert main == heading, f"main heading {main!r}, expected {heading!r}"
  if signature:
    ident, *texts = signature
    assert ident in page.signatures, f"no API entry {ident!r}"
    text = re.sub(r"\s+", "", page.signatures[ident])
    for part in texts:
      assert re.sub(r"\s+", "", part) in text, (part, text)
  equations = dom.count("<mjx-container")
  assert equations >= min_equations, f"{equations} typeset formulas"


def _chromium(args: list[str], profile: pathlib.Path) -> str:
  command = [shutil.which("chromium"), "--headless", "--no-sandbox",
             "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}",
             "--window-size=1280,1000", *args]
  proc = subprocess.run(command, capture_output=True, text=True,
                        timeout=_BROWSER_TIMEOUT_S, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout


def _assert_screenshot_shows_a_page(path: pathlib.Path) -> None:
  """A PNG of a real page: big enough, not blank, with dark text on it."""
  import numpy as np
  from matplotlib import image

  assert path.is_file(), f"no screenshot {path}"
  assert path.stat().st_size > 20_000, path.stat().st_size
  pixels = image.imread(path)[..., :3]
  assert pixels.shape[:2] == (1000, 1280), pixels.shape
  gray = pixels.mean(-1)
  assert gray.std() > 0.05, "the screenshot is nearly uniform"
  assert (gray < 0.3).mean() > 0.005, "no dark (text) pixels"
  assert len(np.unique(np.round(pixels * 255).reshape(-1, 3), axis=0)) > 50


def test_check_rendered_can_fail():
  dom = ('<html><body><h1>API reference<a class="headerlink">#</a></h1>'
         '<dl><dt id="bootstrap_meta.meta_learned">bootstrap_meta.'
         'meta_learned(optimizer, *, meta_optimizer)</dt></dl></body></html>')
  check_rendered(dom, heading="API reference", signature=(
      "bootstrap_meta.meta_learned", "meta_learned(optimizer"))
  with pytest.raises(AssertionError, match="main heading"):
    check_rendered(dom, heading="Getting started")
  with pytest.raises(AssertionError, match="no API entry"):
    check_rendered(dom, heading="API reference",
                   signature=("bootstrap_meta.find_meta_state",))
  with pytest.raises(AssertionError):
    check_rendered(dom, heading="API reference", signature=(
        "bootstrap_meta.meta_learned", "meta_learned(params"))
  with pytest.raises(AssertionError, match="typeset formulas"):
    check_rendered(dom, heading="API reference", min_equations=1)


def test_docs_build_without_warnings_and_render_in_chromium(tmp_path):
  _require(all(map(_has_module, ("sphinx", "myst_parser", "furo",
                                   "sphinx-mathjax-offline"))),
           "the docs extra (pip install -e "
           "'.[docs]')")
  out = tmp_path / "html"
  proc = subprocess.run(
      [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
       "html", "-d", str(tmp_path / "doctrees"), str(_DOCS), str(out)],
      cwd=_ROOT, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S,
      check=False)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]

  # The generated table lists every registered environment. The registry
  # is read in a fresh process, as the build does: tests in this process
  # may have registered environments of their own.
  names = _run_python("import tasks; print(*tasks.registered())").split()
  assert len(names) > 60, names
  table = (out / "tasks.html").read_text()
  assert f"Registered environments ({len(names)}" in table
  missing = [n for n in names if f"<span class=\"pre\">{n}</span>" not in
             table]
  assert not missing, missing

  _require(shutil.which("chromium") is not None,
           "Chromium (apt-get install chromium)")
  pages = {"index": dict(heading="bootstrap_meta"),
           "api": dict(heading="API reference", signature=(
               "bootstrap_meta.meta_learned", "meta_learned(optimizer",
               "meta_optimizer", "GradientTransformationExtraArgs")),
           "methods/bmg": dict(heading="BMG: bootstrapped meta-gradients",
                               min_equations=10)}
  for name, expected in pages.items():
    url = (out / f"{name}.html").as_uri()
    stem = name.replace("/", "-")
    shot = tmp_path / f"{stem}.png"
    _chromium([f"--screenshot={shot}", url], tmp_path / f"profile-{stem}")
    _assert_screenshot_shows_a_page(shot)
    dom = _chromium(["--virtual-time-budget=10000", "--dump-dom", url],
                    tmp_path / f"profile-{stem}-dom")
    check_rendered(dom, **expected)
    with pytest.raises(AssertionError, match="main heading"):
      check_rendered(dom, heading="Not the " + expected["heading"])


def test_api_coverage_check_names_undocumented_exports(caplog, monkeypatch):
  _require(_has_module("sphinx"), "the docs extra (pip install -e '.[docs]')")
  monkeypatch.syspath_prepend(str(_DOCS / "_ext"))
  import bm_docs

  import bootstrap_meta

  class Env:  # What the check reads of Sphinx's build environment.
    domaindata = {"py": {"objects": {
        f"bootstrap_meta.{n}": None for n in bootstrap_meta.__all__
        if n != "find_meta_state"}}}

  with caplog.at_level("WARNING"):
    bm_docs._check_api_coverage(None, Env())
  messages = [r.getMessage() for r in caplog.records]
  assert len(messages) == 1 and "bootstrap_meta.find_meta_state" in (
      messages[0]), messages


def _run_python(code: str) -> str:
  proc = subprocess.run([sys.executable, "-c", code], cwd=_ROOT,
                        capture_output=True, text=True, check=False,
                        timeout=_BUILD_TIMEOUT_S)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout


def _has_module(name: str) -> bool:
  try:
    __import__(name)
  except ImportError:
    return False
  return True


# ---------------------------------------------------------------- code


@pytest.fixture
def restore_x64():
  before = jax.config.jax_enable_x64
  yield
  jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize(
    "page,index",
    [(p, i) for p in _RUNNABLE_PAGES for i in range(len(_python_blocks(p)))],
    ids=lambda v: v.stem if isinstance(v, pathlib.Path) else str(v))
def test_code_blocks_run(page, index, restore_x64):
  block = _python_blocks(page)[index]
  if "from flax import nnx" in block:
    pytest.importorskip("flax.nnx")
  exec(compile(block, f"{page.name}[{index}]", "exec"), {"__name__": "doc"})


def test_readme_and_ci_give_the_docs_build_command():
  command = "python -m sphinx -W --keep-going -b html docs docs/_build/html"
  readme = (_ROOT / "README.md").read_text()
  section = readme[readme.index("## Documentation\n"):]
  section = section[:section.index("\n## ")]
  assert f"```bash\n{command}\n```" in section
  assert "(docs/index.md)" in section
  ci = (_ROOT / ".ci" / "run").read_text()
  assert command.replace("-b html", "-q -b html") in ci
  assert '".[test,dev,docs]"' in ci


def test_getting_started_example_is_the_readmes_and_runs():
  readme = (_ROOT / "README.md").read_text()
  section = readme[readme.index("## The drop-in transform\n"):]
  example = _python_blocks(section)[0]
  page = _python_blocks(_DOCS / "getting_started.md")[0]
  assert page == example, "docs/getting_started.md differs from the README"

  import jax.numpy as jnp

  def loss(params, batch):
    return jnp.mean((batch @ params["w"] - 1.0) ** 2)

  params = {"w": jnp.zeros(3)}
  namespace = {"params": params, "loss": loss}
  exec(compile(page, "getting_started.md", "exec"), namespace)
  batch = jnp.ones((4, 3))
  new_params, state = namespace["train_step"](
      params, namespace["state"], batch, 2 * batch)
  assert sorted(state.hyperparams) == ["b1", "learning_rate", "weight_decay"]
  assert float(loss(new_params, batch)) < float(loss(params, batch))

