"""The tables of ``RESULTS.md``, written and read back.

:mod:`launch.results` writes one section per experiment. A seeded
experiment's table has one :class:`Row` per variant (:func:`seed_table`);
the convex experiment's table has one row per setting. With
``--keep_missing`` the previous ``RESULTS.md`` is read back:
:func:`parse_seed_table` and :func:`parse_convex_table` recover the
recorded numbers, so kept sections get a comparison figure and kept rows
can sit in a regenerated table (marked :data:`KEPT_MARK`), and
:func:`embed_figure` puts a figure link after a kept section's table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["FIGURE_NOTE", "KEPT_MARK", "KEPT_ROWS_NOTE", "SEED_COLUMNS",
           "Row", "embed_figure", "fmt_interval", "natural", "parse_interval",
           "parse_convex_table", "parse_return_key", "parse_seed_table",
           "ranked", "sections", "seed_table"]

#: Appended to the variant cell of a row kept from the previous RESULTS.md.
KEPT_MARK = " (kept)"
#: The line under a table holding kept rows.
KEPT_ROWS_NOTE = (
    "Rows marked (kept) are kept from the previous RESULTS.md: none of "
    "their run directories is under the runs root this time, so their "
    "numbers are as recorded there.")
#: The line under the figure of a kept section.
FIGURE_NOTE = ("*The figure is drawn from the numbers in the table above, "
               "kept from the previous RESULTS.md.*")
#: The columns of a seeded table after ``variant`` (and ``task``).
SEED_COLUMNS = ("seeds", "final", "lifetime", "MMER", "env steps / seed",
                "wall s", "learned hp (last)", "learner", "machine")
#: Columns left out of a table when no row has a value in them.
OPTIONAL_COLUMNS = frozenset({"MMER"})
_FIGURE_LINK = re.compile(r"^!\[[^\]]*\]\([^)]*comparison\.png\)$")


class Row(NamedTuple):
  """One row of a seeded table, from run directories or kept from a
  previous RESULTS.md.

  Attributes:
    variant: the row label, without :data:`KEPT_MARK`.
    task: the task column (``""`` when the table has none).
    lifetime: ``(mean, half_width, n)`` of the lifetime return, as from
      :func:`launch.results.t_interval`.
    cells: the text of the :data:`SEED_COLUMNS`, in that order.
    kept: whether the row comes from the previous RESULTS.md.
  """

  variant: str
  task: str
  lifetime: tuple[float, float, int]
  cells: tuple[str, ...]
  kept: bool = False


def fmt_interval(interval: tuple[float, float, int]) -> str:
  """``"mean ± half"`` to 3 decimals; the mean alone with one seed,
  ``"n/a"`` with none."""
  mean, half, n = interval
  if n == 0:
    return "n/a"
  if not math.isfinite(half):
    return f"{mean:.3f}"
  return f"{mean:.3f} ± {half:.3f}"


def parse_interval(cell: str, n: int) -> tuple[float, float, int]:
  """Inverse of :func:`fmt_interval` for a cell of ``n`` seeds:
  ``("0.264 ± 0.150", 3) -> (0.264, 0.15, 3)``; NaN where absent."""
  parts = cell.split("±")
  try:
    mean = float(parts[0].replace("−", "-"))
  except ValueError:
    return math.nan, math.nan, 0
  half = float(parts[1]) if len(parts) > 1 else math.nan
  return mean, half, n


def natural(text: str) -> tuple:
  """Sort key with digit runs as numbers ("L5" before "L20")."""
  return tuple(int(part) if part.isdigit() else part
               for part in re.split(r"(\d+)", text))


def seed_table(rows: Sequence[Row], return_key: str) -> list[str]:
  """The lines of a seeded table.

  Rows are grouped by task (returns of different tasks do not compare),
  each group ranked by lifetime return; a task column when there are
  several tasks. Kept rows are marked and explained under the table.
  """
  several = len({r.task for r in rows}) > 1
  shown = [i for i, c in enumerate(SEED_COLUMNS)
           if c not in OPTIONAL_COLUMNS or any(r.cells[i] != "-" for r in rows)]
  lines = [
      f"Return metric: `{return_key}`; final = mean of the last 10% of log "
      "rows, lifetime = mean of all rows, per seed"
      + ("; MMER = maximum over training of the per-iteration mean return "
         "(Lu et al., 2023)" if len(shown) == len(SEED_COLUMNS) else "")
      + "; mean ± 95% CI (Student t) over seeds.", "",
      "| variant | " + ("task | " if several else "")
      + " | ".join(SEED_COLUMNS[i] for i in shown) + " |",
      "|---|" + ("---|" if several else "") + "---|" * len(shown)]
  for row in ranked(rows):
    task = f"{row.task} | " if several else ""
    mark = KEPT_MARK if row.kept else ""
    cells = " | ".join(row.cells[i] for i in shown)
    lines.append(f"| {row.variant}{mark} | {task}{cells} |")
  if any(r.kept for r in rows):
    lines += ["", KEPT_ROWS_NOTE]
  return lines


def ranked(rows: Sequence[Row]) -> list[Row]:
  """Rows in table order: tasks in natural order, then by lifetime return
  (highest first, missing last)."""
  return sorted(rows, key=lambda r: (
      natural(r.task), -(r.lifetime[0] if math.isfinite(r.lifetime[0])
                         else -math.inf)))


def sections(text: str) -> dict[str, str]:
  """The ``## <experiment>`` sections of a RESULTS.md, by experiment."""
  parts = re.split(r"^## ", text, flags=re.M)[1:]
  return {p.split("\n", 1)[0].strip(): "## " + p.rstrip() + "\n"
          for p in parts}


def _cells(line: str) -> list[str]:
  """The stripped cells of a markdown table line (``[]`` if not one)."""
  if not line.startswith("|"):
    return []
  return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_span(lines: Sequence[str],
                columns: set[str]) -> tuple[int, int] | None:
  """``(header, end)`` line indices of the first table whose header has
  ``columns``, looked for before any ``### `` subsection (the notes)."""
  for i, line in enumerate(lines):
    if line.startswith("### "):
      return None
    if columns <= set(_cells(line)):
      end = i + 1
      while end < len(lines) and lines[end].startswith("|"):
        end += 1
      return i, end
  return None


def _table(section: str, columns: set[str]) -> list[dict[str, str]]:
  """The body rows of the section's table with ``columns``, as
  ``{header: cell}``."""
  lines = section.splitlines()
  span = _table_span(lines, columns)
  if span is None:
    return []
  header = _cells(lines[span[0]])
  return [dict(zip(header, _cells(line), strict=False))
          for line in lines[span[0] + 2:span[1]]]


def parse_seed_table(section: str) -> list[Row]:
  """The rows of a section's seeded table, each ``kept=True``, with
  :data:`KEPT_MARK` removed from the variant; ``[]`` without one."""
  rows = []
  for cell in _table(section, {"variant", "seeds", "lifetime"}):
    seeds = cell.get("seeds", "")
    n = int(seeds) if seeds.isdigit() else 0
    rows.append(Row(
        variant=cell["variant"].removesuffix(KEPT_MARK),
        task=cell.get("task", ""),
        lifetime=parse_interval(cell.get("lifetime", ""), n),
        cells=tuple(cell.get(c, "-") for c in SEED_COLUMNS), kept=True))
  return rows


def parse_return_key(section: str) -> str | None:
  """The metric named on the section's ``Return metric: `key` `` line."""
  match = re.search(r"^Return metric: `([^`]+)`", section, flags=re.M)
  return match.group(1) if match else None


def parse_convex_table(section: str) -> list[dict[str, Any]]:
  """The rows of a section's convex table as ``summary["table"]`` entries
  (``problem, beta_scale, mu, hint, plain, optimistic, speedup, passed``;
  a dash, not reached, is ``None``); ``[]`` without one."""
  count = lambda x: None if x in ("—", "-") else int(x)  # noqa: E731
  rows = []
  for cell in _table(section, {"problem", "speedup"}):
    hint = cell["hint"]
    rows.append({
        "problem": cell["problem"], "beta_scale": float(cell["β·β_f"]),
        "mu": float(cell["μ"]),
        "hint": float(hint) if re.fullmatch(r"[\d.]+", hint) else hint,
        "plain": count(cell["plain"]), "optimistic": count(cell["optimistic"]),
        "speedup": float(cell["speedup"]), "passed": cell["pass"] == "yes"})
  return rows


def embed_figure(section: str, figure_line: str, note: str) -> str:
  """``section`` with ``figure_line`` and ``note`` just after its table.

  Any comparison-figure link and ``note`` already there are removed first
  (each with the blank line before it), so embedding twice changes
  nothing. A section without a table is returned unchanged.
  """
  lines = section.rstrip("\n").split("\n")
  kept: list[str] = []
  for line in lines:
    if _FIGURE_LINK.match(line) or line == note:
      if kept and not kept[-1].strip():
        kept.pop()
      continue
    kept.append(line)
  span = (_table_span(kept, {"variant", "seeds", "lifetime"})
          or _table_span(kept, {"problem", "speedup"}))
  if span is None:
    return section
  end = span[1]
  block = ["", figure_line, "", note]
  if end < len(kept) and kept[end].strip():
    block.append("")
  return "\n".join(kept[:end] + block + kept[end:]) + "\n"
