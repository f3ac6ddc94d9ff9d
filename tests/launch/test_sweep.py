"""launch.sweep: grid parsing, commands, per-cell summaries with hand-made
CIs and the after/before-swap schedule, on synthetic run directories."""

import json
import math
import pathlib

import pytest

from launch import sweep

_T1 = 12.706  # t_{0.975} with 1 degree of freedom.


def test_parse_grid_and_cell_names():
  cells = sweep.parse_grid("method=mg,bmg meta_learning_rate=1e-3")
  assert cells == [{"method": "mg", "meta_learning_rate": "1e-3"},
                   {"method": "bmg", "meta_learning_rate": "1e-3"}]
  assert sweep.cell_name(cells[1]) == "method-bmg_meta_learning_rate-1e-3"
  with pytest.raises(ValueError, match="not 'flag=v1,v2'"):
    sweep.parse_grid("method")


def test_dry_run_lists_unfinished_cells(tmp_path):
  done = tmp_path / "method-fixed"
  done.mkdir()
  (done / "summary.json").write_text(json.dumps(
      {"lifetime": [1.0], "final": [1.0]}))
  text = sweep.run_sweep(launcher="run_two_colors", root=tmp_path,
                         common="--steps=100 --num_seeds=2",
                         grids=["method=fixed,mg"], dry_run=True)
  lines = text.splitlines()
  assert len(lines) == 1  # The finished cell is skipped.
  assert "launch.run_two_colors --steps=100 --num_seeds=2 --method=mg" in (
      lines[0])
  assert f"--run_dir={tmp_path / 'method-mg'}" in lines[0]
  assert "--variant=method-mg" in lines[0]
  # A launcher without a --variant flag labels its runs itself.
  text = sweep.run_sweep(launcher="run_convex", root=tmp_path, common="",
                         grids=["method=mg"], dry_run=True)
  assert "--variant" not in text and "launch.run_convex" in text


def _cell(root: pathlib.Path, name, lifetime, hp_rows):
  d = root / name
  d.mkdir(parents=True)
  (d / "summary.json").write_text(json.dumps(
      {"lifetime": lifetime, "final": lifetime, "env_steps": 400,
       "wall_s": 3.0}))
  (d / "config.json").write_text(json.dumps(
      {"extra": {"swap_period": 100}}))
  lines = ["env_steps,seed,hp/entropy_weight"] + [
      f"{s},{seed},{v}" for s, seed, v in hp_rows]
  (d / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_summary_ci_and_swap_schedule(tmp_path):
  # Period 100: rows at 105 and 205 are "after", 195 and 295 "before";
  # rows in the first period (< 100) and mid-period are ignored.
  rows = [(5, 0, 9.0), (105, 0, 0.8), (150, 0, 9.0), (195, 0, 0.2),
          (205, 1, 0.6), (295, 1, 0.4)]
  _cell(tmp_path, "method-mg", [0.2, 0.4], rows)
  _cell(tmp_path, "method-fixed", [0.2, 0.2], [])
  r = sweep.summarize_cell(tmp_path / "method-mg")
  assert r["lifetime"] == pytest.approx(0.3)
  # s = sqrt(0.02), half = t · s / sqrt(2).
  assert r["lifetime_ci"] == pytest.approx(_T1 * math.sqrt(0.02 / 2),
                                           rel=1e-4)
  assert r["hp_after_swap"] == pytest.approx(0.7)
  assert r["hp_before_swap"] == pytest.approx(0.3)
  assert sweep.summarize_cell(tmp_path / "method-fixed")[
      "hp_after_swap"] is None
  table = sweep.write_table(tmp_path, [sweep.parse_grid("method=fixed,mg")])
  assert table.index("method-mg") < table.index("method-fixed")
  assert "0.700 / 0.300" in table
  assert json.loads((tmp_path / "sweep.json").read_text())[0]["cell"]
