"""Prints the sweep table (markdown) from run directories' summary.json.

Usage: ``PYTHONPATH=. python results/q_lambda/table.py <sweep_dir>``.
"""

import json
import pathlib
import sys

import numpy as np

from launch.results import t_interval

_HEAD = ("| cell | lifetime reward/step (mean ± 95% CI) | seeds | steps | "
         "wall s | steps/s | ε final | ε after swap | ε before next swap | "
         "meta grad>0 (ε↓) frac |")


def _mean(values):
  return f"{np.nanmean(values):.3f}" if values else "–"


def main(root: pathlib.Path) -> None:
  print(_HEAD)
  print("|---" * 10 + "|")
  for d in sorted(root.iterdir()):
    f = d / "summary.json"
    if not f.exists():
      continue
    s = json.loads(f.read_text())
    m, h, n = t_interval(s["lifetime"])
    rows = [json.loads(x)
            for x in (d / "metrics.jsonl").read_text().splitlines()]
    g = [r["meta/grad"] for r in rows if "meta/grad" in r]
    frac = f"{np.mean(np.asarray(g) > 0):.2f}" if g else "–"
    cells = [d.name, f"{m:+.4f} ± {h:.4f}", n, s["env_steps"],
             f"{s['wall_s']:.0f}", f"{s['steps_per_s']:.0f}",
             f"{s['hp/epsilon']:.3f}", _mean(s.get("epsilon_after_swap")),
             _mean(s.get("epsilon_before_swap")), frac]
    print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
  main(pathlib.Path(sys.argv[1]))
