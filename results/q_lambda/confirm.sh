#!/bin/bash
# Seeds 3-4 (base seed 1) for the best fixed cell and the best BMG-reward cell.
cd /work/wtq
PY=/work/main/.venv/bin/python
while kill -0 6013 2>/dev/null; do sleep 2; done
S=/work/runs/q_lambda/confirm
PYTHONPATH=/work/wtq nice -n 5 $PY -m launch.run_q_lambda --method=bmg --context=reward --L=16 --meta_learning_rate=1e-3 --learning_rate=1e-3 --seed=1 --steps=1000000 --num_seeds=2 --progress=false --run_dir=$S/bmg-reward-L16-m1e-3-seed1 2>&1 | grep lifetime
PYTHONPATH=/work/wtq nice -n 5 $PY -m launch.run_q_lambda --method=fixed --context=none --epsilon=0.3 --learning_rate=3e-4 --seed=1 --steps=1000000 --num_seeds=2 --progress=false --run_dir=$S/fixed-eps0.3-lr3e-4-seed1 2>&1 | grep lifetime
