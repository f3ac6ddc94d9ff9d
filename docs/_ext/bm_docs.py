"""Sphinx extension of the bootstrap_meta docs: generated pages and a check.

Both directives emit reStructuredText: in a MyST page, put them inside an
``{eval-rst}`` block.

* ``.. task-registry::`` renders a table of every environment registered in
  :mod:`tasks` (name, class, observation and action spaces, whether it is
  episodic), built at documentation build time from ``tasks.registered()``
  and ``tasks.make(name)``, so the table cannot drift from the registry.
* ``.. launcher-docs::`` renders the module docstring of every
  ``launch/run_*.py`` as a section. The docstrings are read with ``ast``,
  not imported, so building the docs defines no absl flags.
* Signature annotations that autodoc could not resolve (a NamedTuple's
  ``__new__`` keeps the strings of ``from __future__ import annotations``)
  are qualified with the documented object's module, so a name defined in
  two packages (``Trajectory``, ``LearnerState``) links to the right one.
* An API coverage check: every name in ``bootstrap_meta.__all__`` must be
  documented by some page, else the build warns (an error under ``-W``).
"""

from __future__ import annotations

import ast
import inspect
import math
import pathlib
import re
import sys

import numpy as np
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_LOGGER = logging.getLogger(__name__)


def _bounds(values) -> str:
  """A space bound as text: a number if uniform, else ``per-dimension``."""
  arr = np.asarray(values, dtype=np.float64)
  if arr.size and np.all(arr == arr.flat[0]):
    v = float(arr.flat[0])
    if math.isinf(v) or abs(v) > 1e30:
      return "∞" if v > 0 else "−∞"
    return f"{v:g}"
  return "per-dimension"


def format_space(space) -> str:
  """A one-line description of a :class:`tasks.Discrete` or ``Box`` space."""
  if type(space).__name__ == "Discrete":
    return f"Discrete({space.n})"
  shape = tuple(int(d) for d in space.shape)
  low, high = _bounds(space.low), _bounds(space.high)
  if low == high == "per-dimension":
    bounds = "per-dimension bounds"
  else:
    bounds = f"[{low}, {high}]"
  return f"Box({shape}, {bounds})"


def registry_rows() -> list[tuple[str, str, str, str, str, str]]:
  """One row per registered environment, sorted by name.

  Returns:
    ``(name, class path, observation space, action space, episodic,
    summary)`` tuples, the summary being the first line of the class's
    docstring.
  """
  import tasks  # The checkout's research stack (docs/conf.py sets the path).

  rows = []
  for name in tasks.registered():
    env, params = tasks.make(name)
    cls = type(env)
    doc = (cls.__doc__ or "").strip().splitlines()
    episodic = getattr(env, "episodic", True)
    rows.append((name, f"{cls.__module__}.{cls.__qualname__}",
                 format_space(env.observation_space(params)),
                 format_space(env.action_space(params)),
                 "yes" if episodic else "no (one stream)",
                 doc[0] if doc else ""))
  return rows


class TaskRegistry(SphinxDirective):
  """``.. task-registry::``: the generated table of registered tasks."""

  has_content = False

  def run(self) -> list[nodes.Node]:
    rows = registry_rows()
    lines = [".. list-table:: Registered environments "
             f"({len(rows)}, generated from ``tasks.registered()``)",
             "   :header-rows: 1",
             "   :class: task-registry",
             "",
             "   * - name",
             "     - class",
             "     - observation space",
             "     - action space",
             "     - episodic",
             "     - summary"]
    for name, cls, obs, act, episodic, summary in rows:
      lines += [f"   * - ``{name}``",
                f"     - :class:`~{cls}`",
                f"     - ``{obs}``",
                f"     - ``{act}``",
                f"     - {episodic}",
                f"     - {summary or '–'}"]
    node = nodes.container()
    self.state.nested_parse(StringList(lines, source="tasks.registered()"),
                            self.content_offset, node)
    return node.children


def launcher_docstrings() -> list[tuple[str, str]]:
  """``(module, docstring)`` of every ``launch/run_*.py``, by name."""
  out = []
  for path in sorted((_ROOT / "launch").glob("run_*.py")):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    out.append((f"launch.{path.stem}", doc))
  return out


class LauncherDocs(SphinxDirective):
  """``.. launcher-docs::``: one section per launcher module docstring."""

  has_content = False

  def run(self) -> list[nodes.Node]:
    lines: list[str] = []
    for module, doc in launcher_docstrings():
      self.env.note_dependency(str(_ROOT / "launch" / (
          module.split(".")[1] + ".py")))
      title = f"``python -m {module}``"
      lines += [title, "-" * len(title), "", *doc.splitlines(), ""]
    node = nodes.section()
    node.document = self.state.document
    nested_parse_with_titles(
        self.state, StringList(lines, source="launch/run_*.py"), node)
    return node.children


_NAME = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")


def _qualify(text: str | None, namespace: dict) -> str | None:
  """Replaces each bare name of a class in ``namespace`` by its full path."""
  if not text:
    return text

  def full(match: re.Match) -> str:
    obj = namespace.get(match.group(1))
    if inspect.isclass(obj) and not obj.__module__.startswith("builtins"):
      return f"{obj.__module__}.{obj.__qualname__}"
    return match.group(0)

  return _NAME.sub(full, text)


def _qualify_signature(app, what, name, obj, options, signature,
                       return_annotation):
  """``autodoc-process-signature``: qualify the names of annotations."""
  del app, what, name, options
  module = sys.modules.get(getattr(obj, "__module__", None) or "")
  if module is None or not signature:
    return None
  namespace = vars(module)
  # Only the annotations (after ':' or '->'), never parameter names.
  parts = re.split(r"(:[^,=)]*|->.*)", signature)
  signature = "".join(_qualify(p, namespace) if p.startswith((":", "->"))
                      else p for p in parts)
  return signature, _qualify(return_annotation, namespace)


def _check_api_coverage(app, env) -> None:
  """Warns for each name of ``bootstrap_meta.__all__`` no page documents."""
  import bootstrap_meta

  documented = set(env.domaindata["py"]["objects"])
  missing = [name for name in bootstrap_meta.__all__
             if f"bootstrap_meta.{name}" not in documented]
  for name in missing:
    _LOGGER.warning("bootstrap_meta.%s is public (in __all__) but no page "
                    "documents it", name, type="bm_docs", subtype="coverage")


def setup(app):
  app.add_directive("task-registry", TaskRegistry)
  app.add_directive("launcher-docs", LauncherDocs)
  app.connect("autodoc-process-signature", _qualify_signature)
  app.connect("env-check-consistency", _check_api_coverage)
  return {"version": "1", "parallel_read_safe": True,
          "parallel_write_safe": True}
