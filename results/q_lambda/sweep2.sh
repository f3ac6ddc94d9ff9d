#!/bin/bash
# Screening sweep (1M steps x 2 seeds, Two-Colors): fixed ε grid (ε below 0.1
# never picks up an item), then BMG none / reward over L and meta lr.
cd /work/wtq
PY=/work/main/.venv/bin/python
S=/work/runs/q_lambda/sweep1
while kill -0 5810 2>/dev/null; do sleep 2; done
cell() {  # name, flags...
  d=$S/$1; shift
  [ -f $d/summary.json ] && return
  PYTHONPATH=/work/wtq nice -n 5 $PY -m launch.run_q_lambda "$@" --steps=1000000 --num_seeds=2 --progress=false --run_dir=$d 2>&1 | grep lifetime
}
for eps in 0.3 0.5 0.7; do cell fixed-eps$eps-lr1e-3 --method=fixed --context=none --epsilon=$eps --learning_rate=1e-3; done
for eps in 0.3 0.5; do cell fixed-eps$eps-lr3e-4 --method=fixed --context=none --epsilon=$eps --learning_rate=3e-4; done
for L in 16 32; do
  for m in 1e-2 1e-3; do cell bmg-none-L$L-m$m --method=bmg --context=none --L=$L --meta_learning_rate=$m --learning_rate=1e-3; done
  for m in 1e-3 1e-4; do cell bmg-reward-L$L-m$m --method=bmg --context=reward --L=$L --meta_learning_rate=$m --learning_rate=1e-3; done
done
