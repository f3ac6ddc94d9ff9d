#!/bin/bash
# Confirmation at 2M steps x 5 seeds (base seed 10), Two-Colors, one cell at a time.
# Usage: confirm2m.sh [cell ...]  (default: all, in priority order)
cd /work/wtq
PY=/work/main/.venv/bin/python
S=/work/runs/q_lambda/confirm2m
C="--steps=2000000 --num_seeds=5 --seed=10 --progress=false"
declare -A A
A[fixed-eps0.3-lr3e-4]="--method=fixed --context=none --epsilon=0.3 --learning_rate=3e-4"
A[fixed-eps0.5-lr1e-3]="--method=fixed --context=none --epsilon=0.5 --learning_rate=1e-3"
A[fixed-eps0.3-lr1e-3]="--method=fixed --context=none --epsilon=0.3 --learning_rate=1e-3"
A[bmg-reward-L16-m1e-3-lr1e-3]="--method=bmg --context=reward --L=16 --meta_learning_rate=1e-3 --learning_rate=1e-3"
A[bmg-reward-L16-m1e-3-lr3e-4]="--method=bmg --context=reward --L=16 --meta_learning_rate=1e-3 --learning_rate=3e-4"
A[bmg-reward-L32-m1e-4-lr1e-3]="--method=bmg --context=reward --L=32 --meta_learning_rate=1e-4 --learning_rate=1e-3"
A[bmg-none-L16-m1e-3-lr1e-3]="--method=bmg --context=none --L=16 --meta_learning_rate=1e-3 --learning_rate=1e-3"
ORDER="fixed-eps0.3-lr3e-4 fixed-eps0.5-lr1e-3 fixed-eps0.3-lr1e-3 bmg-reward-L16-m1e-3-lr1e-3 bmg-reward-L16-m1e-3-lr3e-4 bmg-reward-L32-m1e-4-lr1e-3 bmg-none-L16-m1e-3-lr1e-3"
for c in ${@:-$ORDER}; do
  d=$S/$c
  [ -f $d/summary.json ] && continue
  PYTHONPATH=/work/wtq nice -n 5 $PY -m launch.run_q_lambda ${A[$c]} $C --run_dir=$d 2>&1 | grep -E "lifetime|Error|error" | sed "s|^|$c: |"
done
