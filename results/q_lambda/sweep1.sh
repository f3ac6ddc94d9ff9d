#!/bin/bash
# Screening sweep 1: fixed ε × inner lr, 1M steps x 2 seeds, Two-Colors.
cd /work/wtq
PY=/work/main/.venv/bin/python
S=/work/runs/q_lambda/sweep1
for lr in 1e-3 3e-4; do for eps in 0.01 0.03 0.1 0.3; do
  d=$S/fixed-eps$eps-lr$lr
  [ -f $d/summary.json ] && continue
  PYTHONPATH=/work/wtq nice -n 5 $PY -m launch.run_q_lambda --method=fixed --context=none --epsilon=$eps --learning_rate=$lr --steps=1000000 --num_seeds=2 --progress=false --run_dir=$d 2>&1 | grep lifetime
done; done
d=$S/fixed-eps0.1-lr1e-4
PYTHONPATH=/work/wtq nice -n 5 $PY -m launch.run_q_lambda --method=fixed --context=none --epsilon=0.1 --learning_rate=1e-4 --steps=1000000 --num_seeds=2 --progress=false --run_dir=$d 2>&1 | grep lifetime
