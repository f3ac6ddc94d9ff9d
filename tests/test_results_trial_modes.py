"""``results/ppo/trial_modes.py``: short-trial fractions, long-trial means."""

import numpy as np

from tests.results_scripts import load


def _module():
  return load("ppo/trial_modes.py")


def test_group_rows_by_hand():
  # 2 seeds × 2 episodes × 4 trials (one group). Seed 0: trials of 0.05
  # (short) and 0.3; seed 1: all long, 0.2 and 0.4.
  returns = np.array([[[0.05, 0.05, 0.3, 0.3], [0.05, 0.3, 0.3, 0.3]],
                      [[0.2, 0.2, 0.4, 0.4], [0.2, 0.2, 0.4, 0.4]]])
  (row,) = _module().group_rows(returns, short=0.075)
  # Mean 4.05 / 16 = 0.253; short 3/8 and 0/8 (mean 0.19); long 0.3
  # (five trials of 0.3) and 0.3 (0.2 and 0.4 alike).
  assert row == ("| 1–4 | 0.253 | 0.19 (0.38, 0.00) | "
                 "0.300 (0.30, 0.30) |")
