"""Executes every notebook in ``notebooks/`` at its small (CI) size.

Each notebook must run top to bottom without error with
``BOOTSTRAP_META_SMALL=1``, within a per-cell time limit, in a fresh kernel
(the way ``pytest --nbmake`` runs them). Notebooks too slow for CI would go on
the explicit ``_EXCLUDED`` list with a reason; it is empty.
"""

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_NOTEBOOKS = sorted((_ROOT / "notebooks").glob("*.ipynb"))
_EXCLUDED: dict[str, str] = {}  # name -> reason it is too slow for CI.
_CELL_TIMEOUT_S = 300


def test_notebooks_are_stored_without_outputs():
  assert _NOTEBOOKS, "no notebooks found"
  for path in _NOTEBOOKS:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "colab-badge" in first.source
    for cell in nb.cells:
      if cell.cell_type == "code":
        assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize(
    "path", [p for p in _NOTEBOOKS if p.name not in _EXCLUDED],
    ids=lambda p: p.name)
def test_notebook_executes(path, monkeypatch):
  monkeypatch.setenv("BOOTSTRAP_META_SMALL", "1")
  monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
      [str(_ROOT), os.environ.get("PYTHONPATH", "")]))
  monkeypatch.setenv("MPLBACKEND", "Agg")
  nb = nbformat.read(path, as_version=4)
  client = nbclient.NotebookClient(
      nb, timeout=_CELL_TIMEOUT_S, kernel_name="python3",
      resources={"metadata": {"path": str(path.parent)}})
  client.execute()
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"]
  assert not errors, errors
